import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradCam } from '../../src/index.js';
import { centerPrior, energyInBox, pointingGame, sanityCheck } from '../../src/metrics/index.js';
import { loadLayersModelFromFile } from '../../scripts/load-model.js';
import { SPLIT_SEEDS, generateShapes } from '../../scripts/shapes/dataset.js';
import { expectModelUnchanged, snapshotModel } from '../helpers/integrity.js';

// The committed shapes CNN (models/shapes, trained by `npm run train:shapes`) on held-out images:
// the claims docs/evaluation.md makes, checked on a small sample.
describe('the shapes CNN and Grad-CAM on held-out images', () => {
  let model: tfl.LayersModel;
  let images: tf.Tensor4D;
  let labels: number[];
  let boxes: Array<[number, number, number, number]>;

  beforeAll(async () => {
    model = await loadLayersModelFromFile(fileURLToPath(new URL('../../models/shapes/model.json', import.meta.url)));
    const data = generateShapes(24, SPLIT_SEEDS.eval);
    images = tf.tensor4d(data.images, [data.count, data.size, data.size, 3]);
    labels = Array.from(data.labels);
    boxes = data.boxes;
  });

  afterAll(() => {
    images.dispose();
    model.dispose();
  });

  it('classifies held-out images with at least 95% accuracy', () => {
    const predicted = tf.tidy(() => Array.from(tf.argMax(model.predict(images) as tf.Tensor, 1).dataSync()));
    const correct = predicted.filter((p, i) => p === labels[i]).length;
    expect(correct / labels.length).toBeGreaterThanOrEqual(0.95);
  });

  it('points at the object far more often than a centre prior, with most of its energy in the box', () => {
    const [cam, prior] = tf.tidy(() => {
      const { heatmap } = gradCam(model, images, { target: labels });
      const p = centerPrior(64, 64, { batch: labels.length });
      return [
        [tf.mean(pointingGame(heatmap, boxes)).dataSync()[0] as number, tf.mean(energyInBox(heatmap, boxes)).dataSync()[0] as number],
        [tf.mean(pointingGame(p, boxes)).dataSync()[0] as number, tf.mean(energyInBox(p, boxes)).dataSync()[0] as number],
      ];
    });
    expect(cam[0]).toBeGreaterThanOrEqual(0.85);
    expect(cam[0] as number).toBeGreaterThan((prior[0] as number) + 0.4);
    expect(cam[1] as number).toBeGreaterThan((prior[1] as number) + 0.1);
  });

  it("loses Grad-CAM's rank correlation once the network is randomised from the top, and restores the model", () => {
    const input = tf.slice(images, [0, 0, 0, 0], [2, -1, -1, -1]);
    const snap = snapshotModel(model, input);
    const report = sanityCheck(model, input, gradCam, {
      methodOptions: { target: labels.slice(0, 2) },
      layers: ['predictions', ['bn4', 'conv4'], ['bn3', 'conv3']],
    });
    const rho = report.steps.map((s) => s.spearman);
    // 1 before randomisation; Grad-CAM's channel weights come from the top layer, so the map
    // decorrelates as soon as the classifier is randomised (Adebayo et al. report the same).
    expect(rho).toHaveLength(3);
    rho.forEach((r) => expect(r).toBeLessThan(0.5));
    expectModelUnchanged(model, input, snap);
    input.dispose();
  });
});
