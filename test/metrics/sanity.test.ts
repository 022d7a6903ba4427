import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { InputError, LayerError, ModelError, OptionError } from '../../src/errors.js';
import { gradCam } from '../../src/index.js';
import { sanityCheck, spearman, ssim } from '../../src/metrics/index.js';
import type { ExplanationLike } from '../../src/metrics/index.js';
import { expectModelUnchanged, expectThrowsClean, snapshotModel } from '../helpers/integrity.js';
import { dagModel, seedWeights, sequentialModel } from '../helpers/models.js';

const arr = (t: tf.Tensor): number[] => {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
};

describe('spearman', () => {
  it('matches a hand-computed case with ties (average ranks, as scipy.stats.spearmanr)', () => {
    // a = 1, 2, 2, 3 -> ranks 0, 1.5, 1.5, 3; b = 4, 1, 3, 2 -> ranks 3, 0, 2, 1.
    // Centred: (-1.5, 0, 0, 1.5) and (1.5, -1.5, 0.5, -0.5): cov -3, sums of squares 4.5 and 5.
    const a = tf.tensor2d([
      [1, 2],
      [2, 3],
    ]);
    const b = tf.tensor2d([
      [4, 1],
      [3, 2],
    ]);
    const before = tf.memory().numTensors;
    const [rho] = arr(spearman(a, b));
    expect(tf.memory().numTensors).toBe(before);
    expect(rho).toBeCloseTo(-3 / Math.sqrt(22.5), 6);
    tf.dispose([a, b]);
  });

  it('is 1 for any increasing transform, -1 for a reversal, 0 for a constant map, per example', () => {
    const a = tf.tensor3d([[[0.1, 0.5, 0.2]], [[3, 1, 2]], [[1, 2, 3]]]);
    const b = tf.tensor3d([[[1, 9, 4]], [[-3, -1, -2]], [[5, 5, 5]]]);
    const r = spearman(a, b);
    expect(r.shape).toEqual([3]);
    const [r0, r1, r2] = arr(r);
    expect(r0).toBeCloseTo(1, 6);
    expect(r1).toBeCloseTo(-1, 6);
    expect(r2).toBe(0);
    tf.dispose([a, b]);
  });

  it('rejects maps of different shapes', () => {
    const a = tf.ones([2, 3]);
    const b = tf.ones([3, 2]);
    expectThrowsClean(
      () => spearman(a, b),
      InputError,
      /^spearman: 'b' must have the shape of 'a', \[2, 3\], but got a float32 tensor of shape \[3, 2\]\./,
    );
    tf.dispose([a, b]);
  });
});

describe('ssim', () => {
  it('is 1 for identical maps', () => {
    const a = tf.randomUniform([2, 12, 12], 0, 1, 'float32', 3);
    const [s0, s1] = arr(ssim(a, a));
    expect(s0).toBeCloseTo(1, 5);
    expect(s1).toBeCloseTo(1, 5);
    a.dispose();
  });

  it('reduces to (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1) for constant maps', () => {
    const a = tf.fill([16, 16], 0.2);
    const b = tf.fill([16, 16], 0.6);
    const c1 = 1e-4;
    expect(arr(ssim(a, b))[0]).toBeCloseTo((2 * 0.12 + c1) / (0.04 + 0.36 + c1), 5);
    tf.dispose([a, b]);
  });

  it('with a 1x1 window averages the per-pixel luminance term', () => {
    const a = tf.tensor2d([[1, 0]]);
    const b = tf.tensor2d([[1, 1]]);
    const c1 = 1e-4;
    expect(arr(ssim(a, b, { windowSize: 1 }))[0]).toBeCloseTo((1 + c1 / (1 + c1)) / 2, 6);
    tf.dispose([a, b]);
  });

  it('rejects an even window', () => {
    const a = tf.ones([4, 4]);
    expectThrowsClean(
      () => ssim(a, a, { windowSize: 4 }),
      OptionError,
      /^ssim: 'options\.windowSize' must be an odd integer in \[1, 65535\], but got 4\./,
    );
    a.dispose();
  });
});

/** A "method" whose map is |kernel of c1| (108 values as a 9x12 map): it depends only on layer c1. */
function c1Map(model: tfl.LayersModel): ExplanationLike {
  return tf.tidy(() => ({ heatmap: tf.reshape(tf.abs(model.getLayer('c1').getWeights()[0] as tf.Tensor), [9, 12]) }));
}

describe('sanityCheck', () => {
  it('randomises layers with weights from the output down and restores the model bit-exactly', () => {
    const { model, input } = sequentialModel();
    const snap = snapshotModel(model, input);
    const before = tf.memory().numTensors;
    const report = sanityCheck(model, input, gradCam, { methodOptions: { layer: 'last_conv' } });
    expect(tf.memory().numTensors).toBe(before);
    expectModelUnchanged(model, input, snap);
    expect(report.mode).toBe('cascading');
    expect(report.steps.map((s) => s.layers)).toEqual([['out'], ['last_conv'], ['c1']]);
    expect(report.steps.map((s) => s.randomized)).toEqual([['out'], ['out', 'last_conv'], ['out', 'last_conv', 'c1']]);
    for (const s of report.steps) {
      expect(s.spearmanPerExample).toHaveLength(2);
      expect(s.ssimPerExample).toHaveLength(2);
      s.spearmanPerExample.forEach((v) => expect(Math.abs(v)).toBeLessThanOrEqual(1));
      expect(s.spearman).toBeCloseTo(((s.spearmanPerExample[0] as number) + (s.spearmanPerExample[1] as number)) / 2, 10);
    }
    const last = report.steps[2];
    expect(last?.spearman).toBeLessThan(0.99);
    // Seeded: the same numbers again.
    const again = sanityCheck(model, input, gradCam, { methodOptions: { layer: 'last_conv' } });
    expect(again.steps.map((s) => s.spearmanPerExample)).toEqual(report.steps.map((s) => s.spearmanPerExample));
    const other = sanityCheck(model, input, gradCam, { methodOptions: { layer: 'last_conv' }, seed: 5 });
    expect(other.steps[2]?.spearmanPerExample).not.toEqual(report.steps[2]?.spearmanPerExample);
    expectModelUnchanged(model, input, snap);
    tf.dispose(input);
    model.dispose();
  });

  it('changes exactly the layers of each step (cascading and independent)', () => {
    const { model, input } = sequentialModel();
    const cascade = sanityCheck(model, input, c1Map);
    // The map depends on c1 only: identical until c1 is randomised.
    expect(cascade.steps.map((s) => s.spearman.toFixed(6))).toEqual(['1.000000', '1.000000', expect.any(String)]);
    expect(cascade.steps[0]?.ssim).toBeCloseTo(1, 6);
    expect(cascade.steps[2]?.spearman).toBeLessThan(0.5);
    const independent = sanityCheck(model, input, c1Map, { mode: 'independent', layers: ['c1', 'out'] });
    expect(independent.steps.map((s) => s.randomized)).toEqual([['c1'], ['out']]);
    // The same seed gives c1 the same random weights in both modes.
    expect(independent.steps[0]?.spearman).toBeCloseTo(cascade.steps[2]?.spearman as number, 6);
    expect(independent.steps[1]?.spearman).toBeCloseTo(1, 6);
    const grouped = sanityCheck(model, input, c1Map, { layers: [['out', 'last_conv'], 'c1'] });
    expect(grouped.steps.map((s) => s.layers)).toEqual([['out', 'last_conv'], ['c1']]);
    tf.dispose(input);
    model.dispose();
  });

  it("matches each weight tensor's mean and spread, keeping positive tensors (BatchNorm variances) positive", () => {
    const { model, input } = dagModel();
    const snap = snapshotModel(model, input);
    const seen: Array<{ min: number; changed: boolean }> = [];
    const variance = (): tf.Tensor => model.getLayer('bn').getWeights()[3] as tf.Tensor;
    const original = Array.from(variance().dataSync());
    const probe = (m: tfl.LayersModel, x: tf.Tensor): ExplanationLike => {
      const v = Array.from(variance().dataSync());
      seen.push({ min: Math.min(...v), changed: v.some((x, i) => x !== original[i]) });
      return gradCam(m, x as tf.Tensor4D, { layer: 'bn' });
    };
    const report = sanityCheck(model, input, probe, { layers: ['logits', 'bn'] });
    expect(report.steps).toHaveLength(2);
    expect(seen.map((s) => s.changed)).toEqual([false, false, true]);
    seen.forEach((s) => expect(s.min).toBeGreaterThan(0));
    expectModelUnchanged(model, input, snap);
    tf.dispose(input);
    model.dispose();
  });

  it('restores weights bit-exactly past weight constraints', () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({
          inputShape: [8, 8, 2],
          filters: 3,
          kernelSize: 3,
          activation: 'relu',
          kernelConstraint: 'unitNorm',
          name: 'c1',
        }),
        tfl.layers.globalAveragePooling2d({}),
        tfl.layers.dense({ units: 2, kernelConstraint: 'maxNorm', name: 'out' }),
      ],
    });
    seedWeights(model, 3);
    const input = tf.randomUniform([2, 8, 8, 2], 0, 1, 'float32', 4);
    const snap = snapshotModel(model, input);
    sanityCheck(model, input, gradCam);
    expectModelUnchanged(model, input, snap);
    tf.dispose(input);
    model.dispose();
  });

  it('explains the originally explained class at every step unless told otherwise', () => {
    const { model, input } = sequentialModel();
    const targets: unknown[] = [];
    const spy = (m: tfl.LayersModel, x: tf.Tensor, o?: { target?: unknown }): ExplanationLike => {
      targets.push(o?.target);
      return gradCam(m, x as tf.Tensor4D, o as never);
    };
    const first = tf.tidy(() => Array.from(gradCam(model, input as tf.Tensor4D).classIndex.dataSync()));
    sanityCheck(model, input, spy, { layers: ['out'] });
    expect(targets).toEqual([undefined, first]);
    targets.length = 0;
    sanityCheck(model, input, spy, { layers: ['out'], pinTarget: false });
    expect(targets).toEqual([undefined, undefined]);
    targets.length = 0;
    sanityCheck(model, input, spy, { layers: ['out'], methodOptions: { target: 1 } });
    expect(targets).toEqual([1, 1]);
    tf.dispose(input);
    model.dispose();
  });

  it('returns the maps with keepMaps, owned by the caller', () => {
    const { model, input } = sequentialModel();
    const before = tf.memory().numTensors;
    const report = sanityCheck(model, input, gradCam, { keepMaps: true, layers: ['out', 'c1'] });
    expect(tf.memory().numTensors).toBe(before + 3);
    expect(report.heatmap?.shape).toEqual([2, 16, 16]);
    expect(report.steps[1]?.heatmap?.shape).toEqual([2, 16, 16]);
    tf.dispose([report.heatmap as tf.Tensor, ...report.steps.map((s) => s.heatmap as tf.Tensor)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(input);
    model.dispose();
  });

  it('restores the model and leaks nothing when the method throws, at any call', () => {
    const { model, input } = sequentialModel();
    const snap = snapshotModel(model, input);
    for (const failAt of [1, 2, 3]) {
      for (const mode of ['cascading', 'independent'] as const) {
        let calls = 0;
        const flaky = (m: tfl.LayersModel, x: tf.Tensor): ExplanationLike => {
          calls += 1;
          if (calls === failAt) throw new RangeError(`boom at call ${failAt}`);
          return gradCam(m, x as tf.Tensor4D);
        };
        expectThrowsClean(
          () => sanityCheck(model, input, flaky, { mode, keepMaps: true }),
          RangeError,
          new RegExp(`^boom at call ${failAt}$`),
        );
        expectModelUnchanged(model, input, snap);
      }
    }
    tf.dispose(input);
    model.dispose();
  });

  it('rejects bad arguments with typed errors, restoring the model', () => {
    const { model, input } = sequentialModel();
    const snap = snapshotModel(model, input);
    expectThrowsClean(
      () => sanityCheck(model, input, gradCam, { layers: ['conv9'] }),
      LayerError,
      /^sanityCheck: 'options\.layers\[0\]' must name a layer of the model that has weights, but got 'conv9'\. Use one of: out, last_conv, c1\.$/,
    );
    expectThrowsClean(
      () => sanityCheck(model, input, gradCam, { layers: ['out', ['c1', 'pool']] }),
      LayerError,
      /^sanityCheck: 'options\.layers\[1\]\[1\]' must name a layer of the model that has weights, but got 'pool'\./,
    );
    expectThrowsClean(
      () => sanityCheck(model, input, gradCam, { layers: [] }),
      OptionError,
      /^sanityCheck: 'options\.layers' must be a non-empty array/,
    );
    expectThrowsClean(
      () => sanityCheck(model, input, gradCam, { mode: 'random' as never }),
      OptionError,
      /^sanityCheck: 'options\.mode' must be 'cascading' or 'independent', but got 'random'\./,
    );
    expectThrowsClean(
      () => sanityCheck(model, input, gradCam, { seed: -1 }),
      OptionError,
      /^sanityCheck: 'options\.seed' must be an integer in \[0, 2147483647\], but got -1\./,
    );
    expectThrowsClean(
      () => sanityCheck(model, input, 'gradCam' as never),
      OptionError,
      /^sanityCheck: 'method' must be an explanation function \(model, input, options\) => \{ heatmap \}, but got 'gradCam'\./,
    );
    expectThrowsClean(
      () => sanityCheck(model, input, (() => ({ map: 1 })) as never),
      InputError,
      /^sanityCheck: 'method' must return an object with a heatmap tensor, but got a plain object\./,
    );
    let calls = 0;
    const shifty = (m: tfl.LayersModel, x: tf.Tensor): ExplanationLike => {
      calls += 1;
      return gradCam(m, x as tf.Tensor4D, { resize: calls === 1 });
    };
    expectThrowsClean(
      () => sanityCheck(model, input, shifty),
      InputError,
      /^sanityCheck: 'method' must return maps of one shape at every step \(\[2, 16, 16\]\), but got a float32 tensor of shape \[2, 8, 8\]\./,
    );
    expectThrowsClean(() => sanityCheck({} as never, input, gradCam), ModelError, /^sanityCheck: 'model' must be a tf\.LayersModel/);
    expectModelUnchanged(model, input, snap);
    tf.dispose(input);
    model.dispose();
  });
});
