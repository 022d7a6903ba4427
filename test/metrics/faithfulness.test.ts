import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError, ModelError, OptionError, TargetError, UnsupportedError } from '../../src/errors.js';
import { averageDrop, confidenceChange, deletion, increaseInConfidence, insertion } from '../../src/metrics/index.js';
import { expectModelUnchanged, expectThrowsClean, snapshotModel } from '../helpers/integrity.js';
import { multiInputModel } from '../helpers/models.js';

/**
 * A linear model on 2x2 grayscale images: score_c = sum_p x_p W[p, c], no bias.
 * Class 0 weighs the pixels (row-major) 1, 2, 3, 4; class 1 weighs them 0, 0, 0, 1.
 */
function linearModel(activation: 'linear' | 'softmax' = 'linear'): tfl.LayersModel {
  const model = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [2, 2, 1], name: 'flat' }),
      tfl.layers.dense({ units: 2, useBias: false, activation, name: 'out' }),
    ],
  });
  const w = tf.tensor2d([
    [1, 0],
    [2, 0],
    [3, 0],
    [4, 1],
  ]);
  model.setWeights([w]);
  w.dispose();
  return model;
}

const img = (rows: number[][][]): tf.Tensor4D => tf.tensor4d(rows.map((r) => r.map((row) => row.map((v) => [v]))));

function read<T extends tf.TensorContainer>(fn: () => T): T {
  const before = tf.memory().numTensors;
  const out = fn();
  const n = tf.tensor_util.getTensorsInContainer(out).length;
  expect(tf.memory().numTensors).toBe(before + n);
  return out;
}

const arr = (t: tf.Tensor): number[] => Array.from(t.dataSync());

describe('deletion and insertion', () => {
  let model: tfl.LayersModel;
  let ones: tf.Tensor4D;
  let order: tf.Tensor3D;
  beforeAll(() => {
    model = linearModel();
    ones = img([
      [
        [1, 1],
        [1, 1],
      ],
    ]);
    // Saliency 4, 3, 2, 1 in row-major order: pixels are removed p0, p1, p2, p3.
    order = tf.tensor3d([
      [
        [4, 3],
        [2, 1],
      ],
    ]);
  });

  it('deletion of a linear model follows the hand-derived curve and AUC', () => {
    const r = read(() => deletion(model, ones, order, { steps: 4, softmax: false, target: 0 }));
    expect(arr(r.curve)).toEqual([10, 9, 7, 4, 0]);
    expect(arr(r.fractions)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    // 0.25 * ((10 + 9) + (9 + 7) + (7 + 4) + (4 + 0)) / 2
    expect(arr(r.auc)[0]).toBeCloseTo(6.25, 5);
    expect(arr(r.classIndex)).toEqual([0]);
    expect(r.curve.shape).toEqual([1, 5]);
    tf.dispose(r);
  });

  it('insertion from a zero baseline reveals the most salient pixels first', () => {
    const r = read(() => insertion(model, ones, order, { steps: 4, softmax: false, target: 0, baseline: 'zeros' }));
    expect(arr(r.curve)).toEqual([0, 1, 3, 6, 10]);
    expect(arr(r.auc)[0]).toBeCloseTo(3.75, 5);
    tf.dispose(r);
  });

  it('uses the trapezoid rule over the actual pixel fractions when N is not a multiple of the steps', () => {
    // 3 steps over 4 pixels change round(4/3) = 1, round(8/3) = 3, then 4 pixels.
    const r = read(() => deletion(model, ones, order, { steps: 3, softmax: false, target: 0 }));
    expect(arr(r.curve)).toEqual([10, 9, 4, 0]);
    expect(arr(r.fractions)).toEqual([0, 0.25, 0.75, 1]);
    expect(arr(r.auc)[0]).toBeCloseTo(0.25 * 9.5 + 0.5 * 6.5 + 0.25 * 2, 5);
    tf.dispose(r);
  });

  it('breaks ties in row-major order', () => {
    const flat = tf.zeros([1, 2, 2]);
    const r = read(() => deletion(model, ones, flat, { steps: 4, softmax: false, target: 0 }));
    expect(arr(r.curve)).toEqual([10, 9, 7, 4, 0]);
    tf.dispose([r, flat]);
  });

  it("replaces pixels with each image's channel mean, a constant, or a blur", () => {
    const x = img([
      [
        [1, 2],
        [3, 4],
      ],
    ]); // score 1 + 4 + 9 + 16 = 30, mean 2.5
    const mean = read(() => deletion(model, x, order, { steps: 4, softmax: false, target: 0, baseline: 'mean' }));
    expect(arr(mean.curve)).toEqual([30, 31.5, 32.5, 31, 25]); // e.g. step 3: 2.5 * (1 + 2 + 3) + 4 * 4
    const c = read(() => deletion(model, x, order, { steps: 4, softmax: false, target: 0, baseline: 7 }));
    expect(arr(c.curve)).toEqual([30, 36, 46, 58, 70]);
    // The blur of a constant image is the image (reflected borders, normalised kernel).
    const constant = tf.fill([1, 2, 2, 1], 0.5) as tf.Tensor4D;
    const blur = read(() => deletion(model, constant, order, { steps: 2, softmax: false, target: 0, baseline: 'blur', blurSigma: 1 }));
    arr(blur.curve).forEach((v) => expect(v).toBeCloseTo(5, 5));
    tf.dispose([x, mean, c, constant, blur]);
  });

  it('blurs with a normalised Gaussian (insertion step 0 is the blurred image)', () => {
    // One row of 3 pixels, sigma 1, radius 2 clipped to 2 (reflect): weights g(0), g(1), g(2) normalised.
    const m3 = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [1, 3, 1] }), tfl.layers.dense({ units: 1, useBias: false })] });
    const w = tf.tensor2d([[1], [0], [0]]);
    m3.setWeights([w]);
    const x = tf.tensor4d([[[[0], [0], [3]]]]);
    const map = tf.tensor3d([[[1, 2, 3]]]);
    const r = read(() => insertion(m3, x, map, { steps: 1, softmax: false, target: 0, blurSigma: 1 }));
    // Pixel 0 after blurring with reflected borders [x2, x1, x0, x1, x2] = [3, 0, 0, 0, 3]:
    const g = [Math.exp(-2), Math.exp(-0.5), 1, Math.exp(-0.5), Math.exp(-2)];
    const s = g.reduce((a, b) => a + b, 0);
    expect(arr(r.curve)[0]).toBeCloseTo((3 * g[0]! + 3 * g[4]!) / s, 5);
    expect(arr(r.curve)[1]).toBe(0);
    tf.dispose([w, x, map, r]);
    m3.dispose();
  });

  it('scores softmax probabilities by default for a logits model, and the output of a softmax model as it is', () => {
    const p0 = 1 / (1 + Math.exp(-9)); // logits 10 and 1
    const logits = read(() => deletion(model, ones, order, { steps: 1, target: 0 }));
    expect(arr(logits.curve)[0]).toBeCloseTo(p0, 6);
    expect(arr(logits.curve)[1]).toBeCloseTo(0.5, 6);
    const sm = linearModel('softmax');
    const probs = read(() => deletion(sm, ones, order, { steps: 1, target: 0 }));
    expect(arr(probs.curve)[0]).toBeCloseTo(p0, 6);
    const forced = read(() => deletion(sm, ones, order, { steps: 1, target: 0, softmax: true }));
    expect(arr(forced.curve)[0]).toBeCloseTo(Math.exp(p0) / (Math.exp(p0) + Math.exp(1 - p0)), 6);
    tf.dispose([logits, probs, forced]);
    sm.dispose();
  });

  it('runs batches in chunks of any size with the same result, per-example targets and arg-max default', () => {
    const x = img([
      [
        [1, 1],
        [1, 1],
      ],
      [
        [0, 0],
        [0, 2],
      ],
    ]);
    const maps = tf.tensor3d([
      [
        [4, 3],
        [2, 1],
      ],
      [
        [1, 2],
        [3, 4],
      ],
    ]);
    const a = read(() => deletion(model, x, maps, { steps: 4, softmax: false, batchSize: 3 }));
    const b = read(() => deletion(model, x, maps, { steps: 4, softmax: false, batchSize: 100 }));
    // Example 1: scores (8, 2); arg-max class 0; p3 removed first.
    expect(arr(a.curve)).toEqual([10, 9, 7, 4, 0, 8, 0, 0, 0, 0]);
    expect(arr(b.curve)).toEqual(arr(a.curve));
    expect(arr(a.classIndex)).toEqual([0, 0]);
    const t = read(() => deletion(model, x, maps, { steps: 4, softmax: false, target: [1, 1], batchSize: 2 }));
    expect(arr(t.curve)).toEqual([1, 1, 1, 1, 0, 2, 0, 0, 0, 0]);
    const cls = tf.tensor1d([1, 0], 'int32');
    const u = read(() => insertion(model, x, maps, { steps: 4, softmax: false, target: cls, baseline: 'zeros' }));
    expect(arr(u.curve)).toEqual([0, 0, 0, 0, 1, 0, 8, 8, 8, 8]);
    tf.dispose([x, maps, a, b, t, cls, u]);
  });

  it('returns [K+1] curves and scalar AUCs for one image, and never modifies the model', () => {
    const x = tf.ones([2, 2, 1]);
    const map = tf.tensor2d([
      [4, 3],
      [2, 1],
    ]);
    const snap = snapshotModel(model, ones);
    const r = read(() => deletion(model, x, map, { steps: 2, softmax: false }));
    expect(r.curve.shape).toEqual([3]);
    expect(r.auc.shape).toEqual([]);
    expect(r.classIndex.shape).toEqual([]);
    expect(arr(r.curve)).toEqual([10, 7, 0]);
    expectModelUnchanged(model, ones, snap);
    tf.dispose([x, map, r]);
  });

  it('rejects bad arguments with typed errors, leaking nothing', () => {
    const small = tf.ones([1, 1, 2]);
    expectThrowsClean(
      () => deletion(model, ones, small),
      InputError,
      /^deletion: 'heatmap' must have the input's batch and spatial size, \[1, 2, 2\], but got a float32 tensor of shape \[1, 1, 2\]\. Resize the map to the input/,
    );
    const unbatched = tf.ones([2, 2]);
    expectThrowsClean(
      () => insertion(model, ones, unbatched),
      InputError,
      /^insertion: 'heatmap' must have the input's batch and spatial size, \[1, 2, 2\]/,
    );
    expectThrowsClean(
      () => deletion(model, ones, order, { steps: 0 }),
      OptionError,
      /^deletion: 'options\.steps' must be an integer in \[1, 1048576\], but got 0\./,
    );
    expectThrowsClean(
      () => deletion(model, ones, order, { baseline: 'noise' as never }),
      OptionError,
      /^deletion: 'options\.baseline' must be 'zeros', 'mean', 'blur' or a finite number, but got 'noise'\. Omit it for the default \('zeros'\)\./,
    );
    expectThrowsClean(
      () => insertion(model, ones, order, { baseline: NaN }),
      OptionError,
      /^insertion: 'options\.baseline' .* Omit it for the default \('blur'\)\./,
    );
    expectThrowsClean(
      () => insertion(model, ones, order, { blurSigma: -1 }),
      OptionError,
      /^insertion: 'options\.blurSigma' must be a finite number > 0, but got -1\./,
    );
    expectThrowsClean(
      () => deletion(model, ones, order, { step: 3 } as never),
      OptionError,
      /^deletion: 'options\.step' is not a known option, but got 3\. Did you mean 'steps'\?/,
    );
    expectThrowsClean(
      () => deletion(model, ones, order, { softmax: 'yes' as never }),
      OptionError,
      /^deletion: 'options\.softmax' must be 'auto', true or false, but got 'yes'\./,
    );
    expectThrowsClean(
      () => deletion(model, ones, order, { target: 2 }),
      TargetError,
      /^deletion: 'target' must be a class index in \[0, 1\] \(the output has 2 classes\), but got 2\./,
    );
    const bad = tf.tensor1d([5], 'int32');
    expectThrowsClean(
      () => deletion(model, ones, order, { target: bad }),
      TargetError,
      /^deletion: 'target' must be a class index in \[0, 1\]/,
    );
    const wrongLength = tf.tensor1d([0, 1], 'int32');
    expectThrowsClean(
      () => deletion(model, ones, order, { target: wrongLength }),
      TargetError,
      /^deletion: 'target' as a tensor must be an int32 Tensor1D of 1 class indices, but got an int32 tensor of shape \[2\]\./,
    );
    expectThrowsClean(
      () => deletion(model, ones, order, { target: ((o: tf.Tensor) => o) as never }),
      TargetError,
      /^deletion: 'target' must be a class index, an array of class indices or an int32 tensor, but got a function\./,
    );
    expectThrowsClean(() => deletion({} as never, ones, order), ModelError, /^deletion: 'model' must be a tf\.LayersModel/);
    const nan = img([
      [
        [1, NaN],
        [1, 1],
      ],
    ]);
    expectThrowsClean(
      () => deletion(model, nan, order),
      InputError,
      /^deletion: 'input' must hold finite numbers, but got a tensor containing NaN or Infinity\./,
    );
    const multi = multiInputModel();
    const zeros = tf.zeros([2, 16, 16]);
    expectThrowsClean(
      () => deletion(multi.model, multi.input, zeros),
      UnsupportedError,
      /^deletion: 'model' must have one \(image\) input, but got a model with 2 inputs\./,
    );
    tf.dispose([small, unbatched, bad, wrongLength, nan, zeros, multi.inputs]);
    multi.model.dispose();
  });
});

describe('averageDrop, increaseInConfidence, confidenceChange', () => {
  let model: tfl.LayersModel;
  let ones: tf.Tensor4D;
  beforeAll(() => {
    model = linearModel();
    ones = img([
      [
        [1, 1],
        [1, 1],
      ],
      [
        [1, 1],
        [1, 1],
      ],
    ]);
  });

  it('computes max(0, Y - O) / Y and [O > Y] on image * map by hand', () => {
    // Example 0: map keeps p0 and half of p2: O = 1 + 1.5 = 2.5, Y = 10 -> drop 0.75.
    // Example 1 (class 1, weight on p3 only): map 1 on p3 -> O = Y = 1 -> drop 0, no increase.
    const maps = tf.tensor3d([
      [
        [1, 0],
        [0.5, 0],
      ],
      [
        [0, 0],
        [0, 1],
      ],
    ]);
    const r = read(() => confidenceChange(model, ones, maps, { softmax: false, target: [0, 1] }));
    expect(arr(r.original)).toEqual([10, 1]);
    expect(arr(r.masked)).toEqual([2.5, 1]);
    expect(arr(r.drop)).toEqual([0.75, 0]);
    expect(arr(r.increase)).toEqual([0, 0]);
    expect(arr(r.classIndex)).toEqual([0, 1]);
    const d = read(() => averageDrop(model, ones, maps, { softmax: false, target: [0, 1] }));
    expect(arr(d)).toEqual([0.75, 0]);
    tf.dispose([maps, r, d]);
  });

  it('flags an increase when the masked probability is higher', () => {
    // Probabilities: on the ones image p1 = sigmoid(1 - 10); masking p0..p2 leaves logits (4, 1): p1 = sigmoid(-3).
    const maps = tf.tensor3d([
      [
        [0, 0],
        [0, 1],
      ],
      [
        [1, 1],
        [1, 1],
      ],
    ]);
    const inc = read(() => increaseInConfidence(model, ones, maps, { target: 1 }));
    expect(arr(inc)).toEqual([1, 0]);
    const c = read(() => confidenceChange(model, ones, maps, { target: 1 }));
    const sig = (z: number): number => 1 / (1 + Math.exp(-z));
    expect(arr(c.original)[0]).toBeCloseTo(sig(-9), 7);
    expect(arr(c.masked)[0]).toBeCloseTo(sig(-3), 6);
    expect(arr(c.drop)).toEqual([0, 0]);
    tf.dispose([maps, inc, c]);
  });

  it("defaults to the arg-max class and its probability, and accepts a CAM's scalar classIndex for one image", () => {
    const one = tf.ones([2, 2, 1]);
    const map = tf.ones([2, 2]);
    const r = read(() => confidenceChange(model, one, map));
    expect(r.drop.shape).toEqual([]);
    expect(arr(r.classIndex)).toEqual([0]);
    expect(arr(r.original)[0]).toBeCloseTo(1 / (1 + Math.exp(-9)), 6);
    expect(arr(r.drop)).toEqual([0]);
    const cls = tf.scalar(1, 'int32');
    const d = read(() => averageDrop(model, one, tf.keep(map), { target: cls }));
    expect(d.shape).toEqual([]);
    tf.dispose([one, map, r, cls, d]);
  });

  it('rejects bad maps and options, leaking nothing', () => {
    const wrong = tf.ones([3, 2, 2]);
    expectThrowsClean(
      () => averageDrop(model, ones, wrong),
      InputError,
      /^averageDrop: 'heatmap' must have the input's batch and spatial size, \[2, 2, 2\], but got a float32 tensor of shape \[3, 2, 2\]\. Pass one map per input image\./,
    );
    expectThrowsClean(
      () => increaseInConfidence(model, ones, wrong, { batchSize: 0 }),
      OptionError,
      /^increaseInConfidence: 'options\.batchSize' must be an integer in \[1, 1048576\], but got 0\./,
    );
    expectThrowsClean(
      () => confidenceChange(model, ones, wrong, { outputIndex: 1 }),
      OptionError,
      /^confidenceChange: 'options\.outputIndex' must be an integer in \[0, 0\] \(the model has 1 output\), but got 1\./,
    );
    expectThrowsClean(
      () => confidenceChange(model, ones, wrong, { steps: 2 } as never),
      OptionError,
      /^confidenceChange: 'options\.steps' is not a known option/,
    );
    wrong.dispose();
  });
});
