import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  CAM_METHODS,
  OptionError,
  TargetError,
  activationsAndGradients,
  ablationCam,
  combineChannels,
  createCam,
  gradCam,
  gradCamPlusPlus,
  normalizeMaps,
  postprocessMaps,
  principalProjection,
  resizeMaps,
  scoreCam,
} from '../../src/index.js';
import { maxAbs, maxAbsDiff } from '../helpers/close.js';
import { expectModelUnchanged, expectThrowsClean, snapshotModel } from '../helpers/integrity.js';
import { dagModel, sequentialModel } from '../helpers/models.js';

const rawOpts = { relu: false, normalize: false, resize: false } as const;

describe('building blocks', () => {
  it('activationsAndGradients + combineChannels + postprocessMaps reproduce gradCam', () => {
    const t = dagModel();
    const x = t.input as tf.Tensor4D;
    const ag = activationsAndGradients(t.model, x, { layer: 'cat', target: [1, 2] });
    expect(ag.layer).toBe('cat');
    expect(ag.activations.shape).toEqual(ag.gradients.shape);
    expect(Array.from(ag.classIndex.dataSync())).toEqual([1, 2]);
    const raw = combineChannels(ag.activations, tf.mean(ag.gradients, [1, 2]) as tf.Tensor2D);
    const ours = gradCam(t.model, x, { layer: 'cat', target: [1, 2], ...rawOpts });
    expect(maxAbsDiff(raw, ours.heatmap.arraySync() as number[][][]) / maxAbs(ours.heatmap.arraySync() as number[][][])).toBeLessThan(1e-6);
    const fin = postprocessMaps(raw, { relu: true, normalize: true, size: [16, 16] });
    const ref = gradCam(t.model, x, { layer: 'cat', target: [1, 2] });
    expect(maxAbsDiff(fin, ref.heatmap.arraySync() as number[][][])).toBeLessThan(1e-5);
    tf.dispose([ag, raw, ours, fin, ref, x] as unknown as tf.Tensor[]);
    t.model.dispose();
  });

  it('createCam turns one weighting function into a full method', () => {
    const t = sequentialModel();
    const x = t.input as tf.Tensor4D;
    const absGradCam = createCam({
      name: 'absGradCam',
      weights: ({ gradients }) => tf.mean(tf.abs(gradients), [1, 2]) as tf.Tensor2D,
    });
    const r = absGradCam(t.model, x, { target: 3, ...rawOpts });
    const ag = activationsAndGradients(t.model, x, { target: 3 });
    const expected = combineChannels(ag.activations, tf.mean(tf.abs(ag.gradients), [1, 2]) as tf.Tensor2D);
    expect(maxAbsDiff(r.heatmap, expected.arraySync() as number[][][])).toBeLessThan(1e-6);
    expect(() => createCam({ name: 'bad' })).toThrow(/'method' must define exactly one of weights, elementwise or map, but got 0 of them/);
    tf.dispose([r, ag, expected] as unknown as tf.Tensor[]);
    t.model.dispose();
    x.dispose();
  });

  it('exposes every built-in method in CAM_METHODS with one signature', () => {
    const t = sequentialModel();
    const x = t.input as tf.Tensor4D;
    const before = snapshotModel(t.model, x);
    for (const [name, cam] of Object.entries(CAM_METHODS)) {
      const start = tf.memory().numTensors;
      const r = cam(t.model, x, { target: 1 });
      expect(r.heatmap.shape, name).toEqual([2, 16, 16]);
      const v = Array.from(r.heatmap.dataSync());
      expect(
        v.every((e) => Number.isFinite(e) && e >= 0 && e <= 1),
        name,
      ).toBe(true);
      tf.dispose(r);
      expect(tf.memory().numTensors, `${name} leaked`).toBe(start);
    }
    expectModelUnchanged(t.model, x, before);
    t.model.dispose();
    x.dispose();
  });
});

describe('principalProjection', () => {
  /** Power iteration in float64 on X^T X, the reference first right singular vector. */
  function reference(a: number[][][]): number[][] {
    const rows = a.flat(); // [n][C]
    const c = (rows[0] as number[]).length;
    const mean = Array.from({ length: c }, (_, k) => rows.reduce((s, r) => s + (r[k] as number), 0) / rows.length);
    const x = rows.map((r) => r.map((v, k) => v - (mean[k] as number)));
    let v = Array.from({ length: c }, (_, k) => 1 + k * 0.01);
    for (let it = 0; it < 5000; it++) {
      const xv = x.map((r) => r.reduce((s, e, k) => s + e * (v[k] as number), 0));
      const next = Array.from({ length: c }, (_, k) => x.reduce((s, r, i) => s + (r[k] as number) * (xv[i] as number), 0));
      const norm = Math.hypot(...next);
      v = next.map((e) => e / norm);
    }
    const proj = x.map((r) => r.reduce((s, e, k) => s + e * (v[k] as number), 0));
    const plain = rows.map((r) => r.reduce((s, e) => s + e, 0));
    const pm = plain.reduce((s, e) => s + e, 0) / plain.length;
    const sign = proj.reduce((s, e, i) => s + e * ((plain[i] as number) - pm), 0) >= 0 ? 1 : -1;
    const w = (a[0] as number[][]).length;
    return Array.from({ length: a.length }, (_, i) => proj.slice(i * w, (i + 1) * w).map((e) => e * sign));
  }

  it.each([
    [4, 5, 7],
    [6, 6, 3],
    [3, 3, 16],
  ])('equals the float64 SVD projection with the documented sign (%ix%i, %i channels)', (h, w, c) => {
    const a = tf.randomNormal([1, h, w, c], 0, 1, 'float32', h * 100 + c) as tf.Tensor4D;
    const ours = principalProjection(a);
    const ref = reference((a.arraySync() as number[][][][])[0] as number[][][]);
    expect(maxAbsDiff(tf.squeeze(ours, [0]), ref) / maxAbs(ref)).toBeLessThan(1e-4);
    tf.dispose([a, ours]);
  });
});

describe('multi-layer fusion', () => {
  it('fuses per-layer maps by mean (pytorch-grad-cam) and by max', () => {
    const t = dagModel();
    const x = t.input as tf.Tensor4D;
    const layers = ['bn', 'cat', 'last_conv'];
    // pytorch-grad-cam's compute_cam_per_layer: ReLU, min-max, resize (no second min-max).
    const per = layers.map((layer) => {
      const raw = gradCam(t.model, x, { layer, target: 1, ...rawOpts }).heatmap;
      return resizeMaps(normalizeMaps(tf.relu(raw) as tf.Tensor3D), [16, 16]);
    });
    const mean = gradCam(t.model, x, { layer: layers, target: 1 });
    const max = gradCam(t.model, x, { layer: layers, target: 1, fuse: 'max' });
    expect(mean.layer).toBe('bn,cat,last_conv');
    const stacked = tf.stack(per);
    const expectedMean = normalizeMaps(tf.mean(stacked, 0) as tf.Tensor3D);
    const expectedMax = normalizeMaps(tf.max(stacked, 0) as tf.Tensor3D);
    expect(maxAbsDiff(mean.heatmap, expectedMean.arraySync() as number[][][])).toBeLessThan(1e-5);
    expect(maxAbsDiff(max.heatmap, expectedMax.arraySync() as number[][][])).toBeLessThan(1e-5);
    expect(maxAbsDiff(mean.heatmap, expectedMax.arraySync() as number[][][])).toBeGreaterThan(1e-3);
    expectThrowsClean(() => gradCam(t.model, x, { layer: [] }), OptionError, /'options\.layer' as an array must list at least one layer/);
    expectThrowsClean(
      () => gradCam(t.model, x, { layer: ['bn', 'last_conv'], resize: false }),
      OptionError,
      /'options\.resize' must resize when fusing layers of different resolutions, but got false for layers at 8x8, 6x6/,
    );
    expectThrowsClean(
      () => gradCam(t.model, x, { layer: layers, fuse: 'sum' as never }),
      OptionError,
      /'options\.fuse' must be 'mean' \(pytorch-grad-cam\) or 'max'/,
    );
    tf.dispose([...per, mean, max, stacked, expectedMean, expectedMax] as unknown as tf.Tensor[]);
    t.model.dispose();
    x.dispose();
  });
});

describe('smoothing', () => {
  it('augSmooth averages the maps of the flipped / brightened images, flipped back', () => {
    const t = sequentialModel();
    const x = t.input as tf.Tensor4D;
    const smooth = gradCam(t.model, x, { augSmooth: true, target: [2, 4] });
    const maps: tf.Tensor[] = [];
    for (const flip of [false, true]) {
      for (const f of [0.9, 1, 1.1]) {
        const img = tf.mul(flip ? tf.reverse(x, 2) : x, f) as tf.Tensor4D;
        const m = gradCam(t.model, img, { target: [2, 4] }).heatmap;
        maps.push(flip ? tf.reverse(m, 2) : m);
      }
    }
    const expected = tf.mean(tf.stack(maps), 0);
    expect(maxAbsDiff(smooth.heatmap, expected.arraySync() as number[][][])).toBeLessThan(1e-5);
    expect(Array.from(smooth.classIndex.dataSync())).toEqual([2, 4]);
    const plain = gradCam(t.model, x, { target: [2, 4] });
    expect(maxAbsDiff(smooth.score, Array.from(plain.score.dataSync()))).toBeLessThan(1e-6);
    expectThrowsClean(
      () => gradCam(t.model, x, { augSmooth: 1 as never }),
      OptionError,
      /'options\.augSmooth' must be true or false, but got 1/,
    );
    tf.dispose([smooth, expected, plain, ...maps] as unknown as tf.Tensor[]);
    t.model.dispose();
    x.dispose();
  });

  it('eigenSmooth projects the weighted activations on their first principal component', () => {
    const t = dagModel();
    const x = t.input as tf.Tensor4D;
    const r = gradCam(t.model, x, { layer: 'cat', target: 0, eigenSmooth: true, ...rawOpts });
    const ag = activationsAndGradients(t.model, x, { layer: 'cat', target: 0 });
    const w = tf.mean(ag.gradients, [1, 2]);
    const [b, , , c] = ag.activations.shape;
    const expected = principalProjection(tf.mul(ag.activations, tf.reshape(w, [b, 1, 1, c])) as tf.Tensor4D);
    expect(maxAbsDiff(r.heatmap, expected.arraySync() as number[][][])).toBeLessThan(1e-5 * maxAbs(expected.arraySync() as number[][][]));
    tf.dispose([r, ag, w, expected] as unknown as tf.Tensor[]);
    t.model.dispose();
    x.dispose();
  });
});

describe('method options', () => {
  it('gradCam guidedGrads keeps gradients where activation and gradient are positive (tf-explain)', () => {
    const t = dagModel();
    const x = t.input as tf.Tensor4D;
    const r = gradCam(t.model, x, { layer: 'bn', target: 1, guidedGrads: true, ...rawOpts });
    const ag = activationsAndGradients(t.model, x, { layer: 'bn', target: 1 });
    const keep = tf.cast(tf.logicalAnd(tf.greater(ag.activations, 0), tf.greater(ag.gradients, 0)), 'float32');
    const expected = combineChannels(ag.activations, tf.mean(tf.mul(ag.gradients, keep), [1, 2]) as tf.Tensor2D);
    expect(maxAbsDiff(r.heatmap, expected.arraySync() as number[][][]) / maxAbs(expected.arraySync() as number[][][])).toBeLessThan(1e-5);
    expectThrowsClean(
      () => gradCam(t.model, x, { guidedGrads: 'yes' as never }),
      OptionError,
      /'options\.guidedGrads' must be true or false/,
    );
    tf.dispose([r, ag, keep, expected] as unknown as tf.Tensor[]);
    t.model.dispose();
    x.dispose();
  });

  it("gradCamPlusPlus variant 'paper' renormalises alphas per channel", () => {
    const t = dagModel();
    const x = t.input as tf.Tensor4D;
    const r = gradCamPlusPlus(t.model, x, { layer: 'cat', target: 2, variant: 'paper', ...rawOpts });
    const ag = activationsAndGradients(t.model, x, { layer: 'cat', target: 2 });
    // Hand computation in float64 for example 0.
    const A = (ag.activations.arraySync() as number[][][][])[0] as number[][][];
    const G = (ag.gradients.arraySync() as number[][][][])[0] as number[][][];
    const h = A.length;
    const w = (A[0] as number[][]).length;
    const c = ((A[0] as number[][])[0] as number[]).length;
    const weights = Array.from({ length: c }, (_, k) => {
      let sumA = 0;
      for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) sumA += A[i]![j]![k]!;
      const alpha: number[] = [];
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          const g = G[i]![j]![k]!;
          alpha.push(g === 0 ? 0 : (g * g) / (2 * g * g + sumA * g * g * g + 1e-6));
        }
      }
      const norm = alpha.reduce((s, e) => s + e, 0) || 1;
      let wk = 0;
      let idx = 0;
      for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) wk += Math.max(G[i]![j]![k]!, 0) * (alpha[idx++]! / norm);
      return wk;
    });
    const expected = A.map((row) => row.map((px) => px.reduce((s, a, k) => s + a * weights[k]!, 0)));
    const ours = (r.heatmap.arraySync() as number[][][])[0] as number[][];
    expect(maxAbsDiff(ours, expected) / maxAbs(expected)).toBeLessThan(1e-4);
    const plain = gradCamPlusPlus(t.model, x, { layer: 'cat', target: 2, ...rawOpts });
    expect(maxAbsDiff(plain.heatmap, r.heatmap.arraySync() as number[][][])).toBeGreaterThan(0);
    expectThrowsClean(
      () => gradCamPlusPlus(t.model, x, { variant: 'tf' as never }),
      OptionError,
      /'options\.variant' must be 'pytorch-grad-cam' or 'paper'/,
    );
    tf.dispose([r, ag, plain] as unknown as tf.Tensor[]);
    t.model.dispose();
    x.dispose();
  });

  it.each([
    ['scoreCam', scoreCam],
    ['ablationCam', ablationCam],
  ] as const)('%s gives the same map for any batchSize and reports progress', (_name, cam) => {
    const t = dagModel();
    const x = t.input as tf.Tensor4D;
    const calls: Array<[number, number]> = [];
    const a = cam(t.model, x, { layer: 'cat', target: 1, batchSize: 3, onProgress: (d, n) => calls.push([d, n]) });
    const b = cam(t.model, x, { layer: 'cat', target: 1, batchSize: 64 });
    expect(maxAbsDiff(a.heatmap, b.heatmap.arraySync() as number[][][])).toBeLessThan(1e-5);
    // 'cat' has 10 channels: ceil(10 / 3) = 4 passes per example, 2 examples.
    expect(calls).toEqual(Array.from({ length: 8 }, (_, i) => [i + 1, 8]));
    expectThrowsClean(() => cam(t.model, x, { batchSize: 0 }), OptionError, /'options\.batchSize' must be a positive integer, but got 0/);
    expectThrowsClean(() => cam(t.model, x, { onProgress: 5 as never }), OptionError, /'options\.onProgress' must be a function/);
    tf.dispose([a, b]);
    t.model.dispose();
    x.dispose();
  });

  it("scoreCam softmax 'classes' weights channels by the target's probability on each masked image", () => {
    const t = sequentialModel();
    const x = tf.slice(t.input, [0], [1]) as tf.Tensor4D;
    const r = scoreCam(t.model, x, { target: 2, softmax: 'classes', ...rawOpts });
    const ag = activationsAndGradients(t.model, x, { target: 2 });
    const a = ag.activations;
    const up = tf.image.resizeBilinear(a, [16, 16], true, false);
    const lo = tf.min(up, [1, 2], true);
    const hi = tf.max(up, [1, 2], true);
    const masks = tf.transpose(tf.div(tf.sub(up, lo), tf.add(tf.sub(hi, lo), 1e-8)), [3, 1, 2, 0]);
    const probs = t.model.predict(tf.mul(x, masks)) as tf.Tensor2D;
    const w = tf.reshape(tf.slice(probs, [0, 2], [-1, 1]), [1, -1]) as tf.Tensor2D;
    const expected = combineChannels(a, w);
    expect(maxAbsDiff(r.heatmap, expected.arraySync() as number[][][]) / maxAbs(expected.arraySync() as number[][][])).toBeLessThan(1e-5);
    expectThrowsClean(
      () => scoreCam(t.model, x, { softmax: 'classes', target: (o) => tf.sum(o, 1) as tf.Tensor1D }),
      OptionError,
      /'options\.softmax' 'classes' needs class-index targets/,
    );
    expectThrowsClean(
      () => scoreCam(t.model, x, { target: (o) => tf.sum(o) as unknown as tf.Tensor1D }),
      TargetError,
      /must return a Tensor1D of 1 scores/,
    );
    tf.dispose([x, r, ag, up, lo, hi, masks, probs, w, expected] as unknown as tf.Tensor[]);
    t.model.dispose();
    t.input.dispose();
  });
});

describe('resize helpers', () => {
  it('resizeMaps uses half-pixel centres (OpenCV INTER_LINEAR)', () => {
    // 1x2 -> 1x4 with half-pixel centres: [a, 0.75a+0.25b, 0.25a+0.75b, b].
    const m = resizeMaps(tf.tensor3d([[[0, 4]]]), [1, 4]);
    expect(Array.from(m.dataSync())).toEqual([0, 1, 3, 4]);
    m.dispose();
  });
});
