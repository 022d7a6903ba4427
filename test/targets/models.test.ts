/**
 * The target builders on realistic models: a small U-Net-like segmentation network trained here on
 * the shapes data (semanticSegmentationTarget must localise the object), the shipped shapes CNN as
 * an embedding model (similarityToConceptTarget), multi-label and regression targets, and a
 * grid detector with a decode function (boxScoreTarget against a host-side reference).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateShapes } from '../../scripts/shapes/dataset.js';
import { registerWasmTrainingKernels } from '../../scripts/shapes/wasm-training.js';
import { loadLayersModelFromFile } from '../../scripts/load-model.js';
import {
  ablationCam,
  boxScoreTarget,
  gradCam,
  hiResCam,
  multiLabelTarget,
  regressionTarget,
  scoreCam,
  segEigenCam,
  semanticSegmentationTarget,
  similarityToConceptTarget,
} from '../../src/index.js';
import type { CamFunction } from '../../src/index.js';
import { maxDiff } from '../helpers/extra-fixtures.js';
import { expectNoLeak } from '../helpers/integrity.js';

type Nested = number | Nested[];
const SIZE = 32;
const SHAPE = { size: SIZE, shapeSize: [10, 16] as [number, number] };

/** Energy of each map inside its mask over its total, and the mask's share of the image: `[B]` each. */
function energyInMask(maps: tf.Tensor3D, masks: tf.Tensor3D): { energy: number[]; chance: number[] } {
  return tf.tidy(() => ({
    energy: Array.from(tf.div(tf.sum(tf.mul(maps, masks), [1, 2]), tf.add(tf.sum(maps, [1, 2]), 1e-12)).dataSync()),
    chance: Array.from(tf.mean(masks, [1, 2]).dataSync()),
  }));
}

describe('semanticSegmentationTarget on a U-Net-like network trained on the shapes data', () => {
  let model: tfl.LayersModel;
  let images: tf.Tensor4D;
  let truth: tf.Tensor3D;
  let predicted: tf.Tensor3D;
  let trainLoss: number[] = [];

  beforeAll(async () => {
    // Training needs filter gradients, which wasm lacks: train on wasm with the training kernels of
    // scripts/shapes (this file's worker only; ~100x faster than cpu), then explain on the backend
    // under test.
    const backend = tf.getBackend();
    await tf.setBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
    registerWasmTrainingKernels();
    const n = 256;
    const data = generateShapes(n, 12345, SHAPE);
    const seeded = (seed: number): ReturnType<typeof tfl.initializers.glorotUniform> => tfl.initializers.glorotUniform({ seed });
    const input = tfl.input({ shape: [SIZE, SIZE, 3] });
    const c1 = tfl.layers
      .conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1', kernelInitializer: seeded(1) })
      .apply(input) as tfl.SymbolicTensor;
    const p1 = tfl.layers.maxPooling2d({ poolSize: 2, name: 'p1' }).apply(c1) as tfl.SymbolicTensor;
    const enc = tfl.layers
      .conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', name: 'enc', kernelInitializer: seeded(2) })
      .apply(p1) as tfl.SymbolicTensor;
    const up = tfl.layers.upSampling2d({ size: [2, 2], name: 'up' }).apply(enc) as tfl.SymbolicTensor;
    const skip = tfl.layers.concatenate({ name: 'skip' }).apply([c1, up]) as tfl.SymbolicTensor;
    const dec = tfl.layers
      .conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'dec', kernelInitializer: seeded(3) })
      .apply(skip) as tfl.SymbolicTensor;
    const out = tfl.layers
      .conv2d({ filters: 2, kernelSize: 1, activation: 'softmax', name: 'seg', kernelInitializer: seeded(4) })
      .apply(dec) as tfl.SymbolicTensor;
    model = tfl.model({ inputs: input, outputs: out, name: 'unet' });
    // Cross-entropy with the (rare) object pixels weighted 7x.
    const loss = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor =>
      tf.tidy(() => {
        const weight = tf.add(1, tf.mul(tf.slice(yTrue, [0, 0, 0, 1], [-1, -1, -1, 1]), 6));
        const ce = tf.neg(tf.sum(tf.mul(yTrue, tf.log(tf.clipByValue(yPred, 1e-6, 1))), -1, true));
        return tf.mean(tf.mul(ce, weight));
      });
    model.compile({ optimizer: tf.train.adam(0.01), loss });
    const x = tf.tensor4d(data.images, [n, SIZE, SIZE, 3]);
    const labels = tf.tensor3d(data.masks, [n, SIZE, SIZE], 'int32');
    const y = tf.oneHot(labels, 2);
    const history = await model.fit(x, y, { epochs: 8, batchSize: 32, shuffle: false, verbose: 0 });
    trainLoss = history.history['loss'] as number[];
    tf.dispose([x, labels, y]);
    await tf.setBackend(backend);
    const test = generateShapes(32, 999, SHAPE);
    images = tf.tensor4d(test.images, [32, SIZE, SIZE, 3]);
    truth = tf.tensor3d(Float32Array.from(test.masks), [32, SIZE, SIZE]);
    predicted = tf.tidy(() => tf.cast(tf.equal(tf.argMax(model.predict(images) as tf.Tensor4D, -1), 1), 'float32') as tf.Tensor3D);
  }, 120_000);
  afterAll(() => {
    tf.dispose([images, truth, predicted]);
    model.dispose();
  });

  it('trains to segment the objects (IoU with the true masks > 0.3)', () => {
    expect(trainLoss[trainLoss.length - 1]).toBeLessThan((trainLoss[0] as number) / 2);
    const iou = tf.tidy(() => tf.div(tf.sum(tf.mul(predicted, truth)), tf.sum(tf.maximum(predicted, truth))).dataSync()[0] as number);
    expect(iou).toBeGreaterThan(0.3);
  });

  it.each(['enc', 'dec'])("localises the object: Grad-CAM of the 'object' class in the predicted mask, at '%s'", (layer) => {
    const r = gradCam(model, images, { layer, target: semanticSegmentationTarget(1, predicted) });
    const { energy, chance } = energyInMask(r.heatmap, truth);
    const mean = (v: number[]): number => v.reduce((s, a) => s + a, 0) / v.length;
    console.info(
      `[segmentation ${layer} on ${tf.getBackend()}] energy in object ${mean(energy).toFixed(3)}, chance ${mean(chance).toFixed(3)}`,
    );
    // Chance is the object's share of the image (~7%): the map puts several times that on it.
    expect(mean(energy)).toBeGreaterThan(3 * mean(chance));
    expect(energy.filter((e, i) => e > (chance[i] as number)).length).toBeGreaterThanOrEqual(30);
    tf.dispose(r);
  });

  it('takes one mask for the whole batch or one per example, in both batch forms, with every method', () => {
    const few = tf.slice(images, [0], [4]) as tf.Tensor4D;
    const masks = tf.slice(predicted, [0], [4]) as tf.Tensor3D;
    const first = tf.tidy(() => tf.squeeze(tf.slice(images, [0], [1]), [0]) as tf.Tensor3D);
    const mask0 = tf.tidy(() => tf.squeeze(tf.slice(predicted, [0], [1]), [0]) as tf.Tensor2D);
    // scoreCam and ablationCam re-score copies of one example: the target gets that example's index.
    const methods: CamFunction[] = [gradCam, hiResCam, segEigenCam, scoreCam, ablationCam];
    for (const cam of methods) {
      const batch = cam(model, few, { layer: 'enc', target: semanticSegmentationTarget(1, masks) });
      const single = cam(model, first, { layer: 'enc', target: semanticSegmentationTarget(1, mask0) });
      const row = tf.slice(batch.heatmap, [0], [1]);
      expect(maxDiff(row, [single.heatmap.arraySync()] as Nested)).toBeLessThan(1e-5);
      tf.dispose([batch, single, row]);
    }
    expectNoLeak(() => gradCam(model, few, { layer: 'enc', target: semanticSegmentationTarget(1, masks), augSmooth: true }));
    tf.dispose([few, masks, first, mask0]);
  });
});

describe('similarityToConceptTarget on the shapes CNN used as an embedding model', () => {
  it('localises the shape that makes an image similar to another image of its class', async () => {
    const classifier = await loadLayersModelFromFile('models/shapes/model.json');
    const embedder = tfl.model({ inputs: classifier.inputs, outputs: classifier.getLayer('gap').output as tfl.SymbolicTensor });
    const data = generateShapes(20, 4242);
    const size = data.size;
    const images = tf.tensor4d(data.images, [20, size, size, 3]);
    const masks = tf.tensor3d(Float32Array.from(data.masks), [20, size, size]);
    // Concept of image i: the embedding of another image of the same class.
    const concepts = tf.tidy(() => {
      const emb = embedder.predict(images) as tf.Tensor2D;
      const partner = Array.from(data.labels, (c, i) => Array.from(data.labels).findIndex((d, j) => j !== i && d === c));
      return tf.gather(
        emb,
        partner.map((j, i) => (j < 0 ? i : j)),
      );
    });
    const r = gradCam(embedder, images, { layer: 'relu4', target: similarityToConceptTarget(concepts) });
    const { energy, chance } = energyInMask(r.heatmap, masks);
    const mean = (v: number[]): number => v.reduce((s, a) => s + a, 0) / v.length;
    console.info(`[similarity on ${tf.getBackend()}] energy in shape ${mean(energy).toFixed(3)}, chance ${mean(chance).toFixed(3)}`);
    expect(mean(energy)).toBeGreaterThan(2 * mean(chance));
    // The score is the cosine similarity, in [-1, 1], and high for same-class pairs.
    expect(Math.min(...Array.from(r.score.dataSync()))).toBeGreaterThan(0.5);
    tf.dispose([r, images, masks, concepts]);
    classifier.dispose();
  });
});

describe('multiLabelTarget and regressionTarget', () => {
  it('multi-label Grad-CAM is linear in its classes: the raw map of {a, b} is the sum of theirs', async () => {
    const model = await loadLayersModelFromFile('models/shapes/model.json');
    const data = generateShapes(4, 77);
    const x = tf.tensor4d(data.images, [4, data.size, data.size, 3]);
    const raw = { relu: false, normalize: false, resize: false } as const;
    const both = gradCam(model, x, { ...raw, target: multiLabelTarget([1, 3]) });
    const a = gradCam(model, x, { ...raw, target: 1 });
    const b = gradCam(model, x, { ...raw, target: 3 });
    const sum = tf.add(a.heatmap, b.heatmap);
    const scale = tf.max(tf.abs(sum)).dataSync()[0] as number;
    expect(maxDiff(both.heatmap, sum.arraySync() as Nested) / scale).toBeLessThan(1e-5);
    // Per-example class lists and weights.
    const weighted = gradCam(model, x, { ...raw, target: multiLabelTarget([[1], [3], [1, 3], [0]], [[2], [1], [1, -1], [1]]) });
    const row = (t: tf.Tensor, i: number): tf.Tensor => tf.squeeze(tf.slice(t, [i], [1]), [0]);
    const ref = tf.tidy(() =>
      tf.stack([
        row(tf.mul(a.heatmap, 2), 0),
        row(b.heatmap, 1),
        row(tf.sub(a.heatmap, b.heatmap), 2),
        row(gradCam(model, tf.slice(x, [3], [1]), { ...raw, target: 0 }).heatmap, 0),
      ]),
    );
    expect(maxDiff(weighted.heatmap, ref.arraySync() as Nested) / scale).toBeLessThan(1e-5);
    tf.dispose([x, both, a, b, sum, weighted, ref]);
    model.dispose();
  });

  it('regression: the map of a scalar output (and of one unit of several)', () => {
    const input = tfl.input({ shape: [12, 12, 3] });
    const conv = tfl.layers
      .conv2d({
        filters: 6,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        name: 'conv',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }),
      })
      .apply(input) as tfl.SymbolicTensor;
    const gap = tfl.layers.globalAveragePooling2d({}).apply(conv) as tfl.SymbolicTensor;
    const value = tfl.layers
      .dense({ units: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: 6 }) })
      .apply(gap) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: value });
    const x = tf.randomUniform([3, 12, 12, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const raw = { relu: false, normalize: false, resize: false } as const;
    const r = gradCam(model, x, { ...raw, target: regressionTarget(1) });
    const c = gradCam(model, x, { ...raw, target: 1 });
    expect(maxDiff(r.heatmap, c.heatmap.arraySync() as Nested)).toBe(0);
    expect(Array.from(r.classIndex.dataSync())).toEqual([-1, -1, -1]);
    tf.dispose([x, r, c]);
    model.dispose();
  });
});

describe('boxScoreTarget on a grid detector (decode function)', () => {
  // A detector on a 4x4 grid of 8-pixel cells: per cell, box offsets, an objectness logit and 3 class
  // logits; `decode` turns them into boxes (x1, y1, x2, y2), sigmoid scores and arg-max labels.
  const cells = 4;
  const anchors = Array.from({ length: cells * cells }, (_, k) => {
    const y = Math.floor(k / cells) * 8;
    const x = (k % cells) * 8;
    return [x, y, x + 8, y + 8];
  });
  const decode = (out: tf.Tensor): { boxes: tf.Tensor; scores: tf.Tensor; labels: tf.Tensor } => {
    const rows = out.shape[0] as number;
    const flat = tf.reshape(out, [rows, cells * cells, 8]);
    // Anchors moved by at most 2 pixels per side: boxes stay valid.
    const boxes = tf.add(tf.tensor3d([anchors]), tf.mul(tf.tanh(tf.slice(flat, [0, 0, 0], [-1, -1, 4])), 2));
    const scores = tf.sigmoid(tf.squeeze(tf.slice(flat, [0, 0, 4], [-1, -1, 1]), [2]));
    const labels = tf.argMax(tf.slice(flat, [0, 0, 5], [-1, -1, 3]), 2);
    return { boxes, scores, labels };
  };
  const build = (): tfl.LayersModel => {
    const input = tfl.input({ shape: [32, 32, 3] });
    const f = tfl.layers
      .conv2d({
        filters: 8,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        name: 'feat',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 11 }),
      })
      .apply(input) as tfl.SymbolicTensor;
    const p = tfl.layers.maxPooling2d({ poolSize: 8 }).apply(f) as tfl.SymbolicTensor;
    const head = tfl.layers
      .conv2d({ filters: 8, kernelSize: 1, name: 'head', kernelInitializer: tfl.initializers.glorotUniform({ seed: 12 }) })
      .apply(p) as tfl.SymbolicTensor;
    return tfl.model({ inputs: input, outputs: head });
  };

  /** The library's formula on the host (float64), from the decoded detections. */
  function reference(
    boxes: number[][],
    scores: number[],
    labels: number[],
    refs: Array<{ box: number[]; label: number }>,
    thr: number,
  ): number {
    let total = 0;
    for (const r of refs) {
      const ious = boxes.map((b) => {
        const w = Math.max(0, Math.min(r.box[2] as number, b[2] as number) - Math.max(r.box[0] as number, b[0] as number));
        const h = Math.max(0, Math.min(r.box[3] as number, b[3] as number) - Math.max(r.box[1] as number, b[1] as number));
        const inter = w * h;
        const area = (q: number[]): number => ((q[2] as number) - (q[0] as number)) * ((q[3] as number) - (q[1] as number));
        return inter / (area(r.box) + area(b) - inter);
      });
      let j = 0;
      ious.forEach((v, i) => {
        if (v > (ious[j] as number)) j = i;
      });
      if ((ious[j] as number) > thr && labels[j] === r.label) total += (ious[j] as number) + (scores[j] as number);
    }
    return total;
  }

  it('scores the matching detections as pytorch-grad-cam does, and explains them', () => {
    const model = build();
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 21) as tf.Tensor4D;
    const det = tf.tidy(() => {
      const d = decode(model.predict(x) as tf.Tensor);
      return {
        boxes: d.boxes.arraySync() as number[][][],
        scores: d.scores.arraySync() as number[][],
        labels: d.labels.arraySync() as number[][],
      };
    });
    // References: the decoded box of cell 5 with its label (matches), and a far-away box (does not).
    const refs = [0, 1].map((b) => [
      { box: (det.boxes[b] as number[][])[5] as number[], label: (det.labels[b] as number[])[5] as number },
      { box: [100, 100, 120, 120], label: 0 },
    ]);
    const target = boxScoreTarget(
      refs.map((l) => l.map((r) => ({ box: r.box as [number, number, number, number], label: r.label }))),
      { iouThreshold: 0.5, decode },
    );
    const r = gradCam(model, x, { layer: 'feat', target });
    const scores = Array.from(r.score.dataSync());
    [0, 1].forEach((b) => {
      const want = reference(
        det.boxes[b] as number[][],
        det.scores[b] as number[],
        det.labels[b] as number[],
        refs[b] as Array<{ box: number[]; label: number }>,
        0.5,
      );
      expect(Math.abs((scores[b] as number) - want)).toBeLessThan(1e-5);
      expect(want).toBeGreaterThan(1);
    });
    expect(tf.max(r.heatmap).dataSync()[0]).toBeGreaterThan(0.5);
    // Nothing matches above IoU 1: score 0, an all-zero map.
    const none = gradCam(model, x, {
      layer: 'feat',
      target: boxScoreTarget([{ box: [0, 0, 8, 8], label: 0 }], { iouThreshold: 1, decode }),
    });
    expect(Array.from(none.score.dataSync())).toEqual([0, 0]);
    expect(tf.max(none.heatmap).dataSync()[0]).toBe(0);
    tf.dispose([x, r, none]);
    model.dispose();
  });
});
