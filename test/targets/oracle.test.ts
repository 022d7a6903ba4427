/**
 * The target builders against pytorch-grad-cam's targets (test/fixtures/cam-oracle-extra/targets):
 * ClassifierOutputSoftmaxTarget, ClassifierOutputReST, BinaryClassifierOutputTarget,
 * SimilarityToConceptTarget (tutorial), SemanticSegmentationTarget and FasterRCNNBoxScoreTarget,
 * with the methods the fixtures ran them through (ShapleyCAM with ReST, SegEigenCAM with segmentation). Raw maps within 1e-5 relative (or 10x the
 * reference's float32/float64 sensitivity), final maps within 1e-4.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CamFunction } from '../../src/index.js';
import {
  binaryClassifierTarget,
  boxScoreTarget,
  classProbabilityTarget,
  classReSTTarget,
  gradCam,
  gradCamPlusPlus,
  hiResCam,
  segEigenCam,
  semanticSegmentationTarget,
  shapleyCam,
  similarityToConceptTarget,
} from '../../src/index.js';
import type { TargetFn } from '../../src/index.js';
import {
  expectFinalClose,
  expectRawClose,
  extra,
  imageAt,
  loadAnyOracleModel,
  maxDiff,
  oracleImages,
  printMeasured,
} from '../helpers/extra-fixtures.js';
import { oracleInputs } from '../helpers/fixtures.js';

type Nested = number | Nested[];
interface MethodRef {
  raw: number[][];
  final?: number[][];
  weights?: number[];
  f64_max_abs_diff: { raw: number; final: number };
}

const METHODS: Record<string, CamFunction> = {
  GradCAM: gradCam,
  HiResCAM: hiResCam,
  GradCAMPlusPlus: gradCamPlusPlus,
  SegEigenCAM: segEigenCam,
};
const models = new Map<string, tfl.LayersModel>();
const inputs = new Map<string, tf.Tensor4D>();
let images: tf.Tensor4D;

beforeAll(async () => {
  for (const m of ['a_sequential', 'b_residual', 'c_separable', 'd_binary', 'e_embedding', 'f_segmentation']) {
    models.set(m, await loadAnyOracleModel(m));
    inputs.set(m, ['b_residual', 'c_separable'].includes(m) ? tf.tensor4d(oracleInputs(m).data) : oracleImages());
  }
  images = inputs.get('a_sequential') as tf.Tensor4D;
});
afterAll(() => {
  printMeasured('targets vs pytorch-grad-cam');
  for (const m of models.values()) m.dispose();
  for (const x of inputs.values()) x.dispose();
});

/** Runs `method` with `target` on image `index` and checks raw (and final when given) against `ref`. */
function check(
  label: string,
  name: string,
  index: number,
  cam: CamFunction,
  target: TargetFn,
  logits: boolean,
  ref: MethodRef,
  score?: number,
): void {
  const model = models.get(name) as tfl.LayersModel;
  const x = imageAt(inputs.get(name) as tf.Tensor4D, index);
  const raw = cam(model, x, { layer: 'last_conv', target, logits, relu: false, normalize: false, resize: false });
  expectRawClose(`${label} raw`, raw.heatmap, [ref.raw] as Nested, ref.f64_max_abs_diff.raw);
  if (score !== undefined) expect(Math.abs((raw.score.dataSync()[0] as number) - score)).toBeLessThan(1e-5 * Math.max(1, Math.abs(score)));
  if (ref.final !== undefined) {
    const f = cam(model, x, { layer: 'last_conv', target, logits });
    expectFinalClose(`${label} final`, f.heatmap, [ref.final] as Nested);
    tf.dispose(f);
  }
  tf.dispose([x, raw]);
}

describe('classifier targets (a_sequential, b_residual, c_separable)', () => {
  const files = ['a_sequential_in0_c3', 'b_residual_in0_c4', 'c_separable_in0_c2'];
  it.each(files)('ClassifierOutputSoftmaxTarget and ClassifierOutputReST: %s', (file) => {
    const f = extra<{ model: string; class_index: number; targets: Record<string, Record<string, MethodRef> & { score: number }> }>(
      `targets/${file}.json`,
    );
    const model = f.model;
    const soft = f.targets['ClassifierOutputSoftmaxTarget'] as Record<string, MethodRef> & { score: number };
    for (const m of ['GradCAM', 'HiResCAM'])
      check(
        `softmax ${m}`,
        model,
        0,
        METHODS[m] as CamFunction,
        classProbabilityTarget(f.class_index),
        true,
        soft[m] as MethodRef,
        soft.score,
      );
    const rest = f.targets['ClassifierOutputReST'] as Record<string, MethodRef> & { score: number };
    check('ReST GradCAM', model, 0, gradCam, classReSTTarget(f.class_index), true, rest['GradCAM'] as MethodRef, rest.score);
    check('ReST ShapleyCAM', model, 0, shapleyCam, classReSTTarget(f.class_index), true, rest['ShapleyCAM'] as MethodRef, rest.score);
  });
});

describe('BinaryClassifierOutputTarget (d_binary, sigmoid head)', () => {
  const files = ['d_binary_in0_probs', 'd_binary_in1_probs', 'd_binary_in0_logits', 'd_binary_in1_logits'];
  it.each(files)('%s: categories 1 and 0 with GradCAM, HiResCAM, GradCAMPlusPlus', (file) => {
    const f = extra<{ input_id: string; variant: string; categories: Record<string, Record<string, MethodRef> & { score: number }> }>(
      `targets/${file}.json`,
    );
    const model = 'd_binary';
    const index = f.input_id === 'in0' ? 0 : 1;
    for (const cat of [1, 0] as const) {
      const ref = f.categories[String(cat)] as Record<string, MethodRef> & { score: number };
      for (const m of ['GradCAM', 'HiResCAM', 'GradCAMPlusPlus']) {
        check(
          `binary ${m}`,
          model,
          index,
          METHODS[m] as CamFunction,
          binaryClassifierTarget(cat),
          f.variant === 'logits',
          ref[m] as MethodRef,
          ref.score,
        );
      }
    }
  });
});

describe('SimilarityToConceptTarget (e_embedding)', () => {
  const files = ['e_embedding_in0_embedding_of_in1', 'e_embedding_in1_embedding_of_in0', 'e_embedding_in0_fixed_vector'];
  it.each(files)('%s with GradCAM, HiResCAM, GradCAMPlusPlus', (file) => {
    const f = extra<{ input_id: string; concept: number[]; score: number } & Record<string, MethodRef>>(`targets/${file}.json`);
    const model = 'e_embedding';
    const index = f.input_id === 'in0' ? 0 : 1;
    for (const m of ['GradCAM', 'HiResCAM', 'GradCAMPlusPlus']) {
      check(
        `similarity ${m}`,
        model,
        index,
        METHODS[m] as CamFunction,
        similarityToConceptTarget(f.concept),
        false,
        f[m] as MethodRef,
        f.score,
      );
    }
  });
});

describe('SemanticSegmentationTarget (f_segmentation)', () => {
  const files = ['f_segmentation_in0_c0_argmax', 'f_segmentation_in0_c1_box', 'f_segmentation_in1_c1_argmax', 'f_segmentation_in1_c1_box'];
  it.each(files)('%s with GradCAM, HiResCAM and SegEigenCAM', (file) => {
    const f = extra<{ input_id: string; category: number; mask: number[][]; score: number } & Record<string, MethodRef>>(
      `targets/${file}.json`,
    );
    const model = 'f_segmentation';
    const index = f.input_id === 'in0' ? 0 : 1;
    for (const m of ['GradCAM', 'HiResCAM', 'SegEigenCAM']) {
      check(
        `segmentation ${m}`,
        model,
        index,
        METHODS[m] as CamFunction,
        semanticSegmentationTarget(f.category, f.mask),
        true,
        f[m] as MethodRef,
        f.score,
      );
    }
  });

  it('takes one mask per example (a [B, H, W] tensor) and matches the per-image calls', () => {
    const a = extra<{ category: number; mask: number[][] }>('targets/f_segmentation_in0_c1_box.json');
    const b = extra<{ category: number; mask: number[][] }>('targets/f_segmentation_in1_c1_argmax.json');
    const model = models.get('f_segmentation') as tfl.LayersModel;
    const masks = tf.tensor3d([a.mask, b.mask]);
    const before = tf.memory().numTensors;
    tf.dispose(gradCam(model, images, { target: semanticSegmentationTarget(1, masks) }));
    expect(tf.memory().numTensors).toBe(before);
    const both = gradCam(model, images, { target: semanticSegmentationTarget(1, masks) });
    for (const [i, mask] of [a.mask, b.mask].entries()) {
      const x = imageAt(images, i);
      const one = gradCam(model, x, { target: semanticSegmentationTarget(1, mask) });
      const row = tf.slice(both.heatmap, [i], [1]);
      expect(maxDiff(row, one.heatmap.arraySync() as Nested)).toBeLessThan(1e-6);
      tf.dispose([x, one, row]);
    }
    tf.dispose(both);
    masks.dispose();
  });
});

describe('FasterRCNNBoxScoreTarget', () => {
  const f = extra<{
    model_outputs: { boxes: number[][]; scores: number[]; labels: number[] };
    labels: number[];
    bounding_boxes: number[][];
    iou_threshold: number;
    output: number[];
    d_output_d_scores: number[];
    d_output_d_boxes: number[][];
    output_with_no_detections: number[];
  }>('targets/fasterrcnn_box_score_example.json');
  const references = f.labels.map((label, i) => ({ box: f.bounding_boxes[i] as unknown as [number, number, number, number], label }));
  const target = boxScoreTarget(references, { iouThreshold: f.iou_threshold });
  const detections = (boxes: tf.Tensor, scores: tf.Tensor): tf.Tensor =>
    tf.concat([tf.expandDims(boxes, 0), tf.reshape(scores, [1, -1, 1]), tf.reshape(tf.tensor1d(f.model_outputs.labels), [1, -1, 1])], 2);

  it('gives the library value and its gradients with respect to scores and boxes', () => {
    const boxes = tf.tensor2d(f.model_outputs.boxes);
    const scores = tf.tensor1d(f.model_outputs.scores);
    const score = (bx: tf.Tensor, sc: tf.Tensor): tf.Scalar => tf.sum(target(detections(bx, sc), tf.tensor1d([0], 'int32')));
    expect(Math.abs((score(boxes, scores).dataSync()[0] as number) - (f.output[0] as number))).toBeLessThan(1e-6);
    const [gb, gs] = tf.grads((bx: tf.Tensor, sc: tf.Tensor) => score(bx, sc))([boxes, scores]);
    expect(maxDiff(gs as tf.Tensor, f.d_output_d_scores)).toBeLessThan(1e-6);
    expect(maxDiff(gb as tf.Tensor, f.d_output_d_boxes)).toBeLessThan(1e-6);
    tf.dispose([boxes, scores, gb, gs]);
  });

  it('gives 0 without detections', () => {
    const none = tf.zeros([1, 0, 6]);
    expect(target(none, tf.tensor1d([0], 'int32')).dataSync()[0]).toBe(f.output_with_no_detections[0]);
    none.dispose();
  });
});
