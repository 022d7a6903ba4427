/**
 * pytorch-grad-cam's metrics against its own outputs (test/fixtures/cam-oracle-extra/metrics):
 * NoisyLinearImputer (noise 0), ROAD MoRF/LeRF per percentile with thresholds and imputed-pixel
 * counts, the averages and ROADCombined, Otsu's 'auto', CamMultImageConfidenceChange / Drop /
 * Increase, Complexity, Coherency and ARCC (imputer noise 0), sobel_cam; and the seeded imputer
 * noise against the spread of the library's default-noise ROADCombined.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import {
  InputError,
  OptionError,
  arcc,
  camMultImageConfidenceChange,
  coherency,
  complexity,
  noisyLinearImpute,
  road,
  sobelCam,
} from '../../src/index.js';
import { keptPixels, percentileLinear } from '../../src/metrics/road.js';
import { extra, loadAnyOracleModel, maxDiff, printMeasured, record } from '../helpers/extra-fixtures.js';
import { oracleInputs } from '../helpers/fixtures.js';
import { expectNoLeak, expectThrowsClean } from '../helpers/integrity.js';

type Nested = number | Nested[];
afterAll(() => printMeasured('metrics vs pytorch-grad-cam'));

/** CHW nested array -> HWC nested array. */
function hwc(chw: number[][][]): number[][][] {
  const c = chw.length;
  const h = (chw[0] as number[][]).length;
  const w = (chw[0]![0] as number[]).length;
  return Array.from({ length: h }, (_, y) =>
    Array.from({ length: w }, (_, x) => Array.from({ length: c }, (_, k) => chw[k]![y]![x] as number)),
  );
}

describe('noisyLinearImpute', () => {
  const f = extra<{ img: number[][][]; cases: Array<{ name: string; mask: number[][]; output: number[][][] }> }>(
    'metrics/noisy_linear_imputer.json',
  );
  it.each(f.cases.map((c) => [c.name, c] as const))('%s (noise 0)', (_n, c) => {
    const image = tf.tensor3d(hwc(f.img));
    const keep = tf.tensor2d(c.mask);
    const out = noisyLinearImpute(image, keep, { noise: 0 });
    expect(record('imputer (noise 0)', maxDiff(out, hwc(c.output)))).toBeLessThan(2e-7);
    tf.dispose([image, keep, out]);
  });

  it('adds seeded Gaussian noise of the given spread to imputed pixels only', () => {
    const image = tf.tensor3d(hwc(f.img));
    const keep = tf.tensor2d((f.cases[0] as { mask: number[][] }).mask);
    const exact = noisyLinearImpute(image, keep, { noise: 0 });
    const noisy = noisyLinearImpute(image, keep, { noise: 0.5, seed: 3 });
    const again = noisyLinearImpute(image, keep, { noise: 0.5, seed: 3 });
    const d = Array.from(tf.sub(noisy, exact).dataSync());
    const kept = Array.from(tf.tile(tf.expandDims(keep, -1), [1, 1, 3]).dataSync());
    const moved = d.filter((_, i) => kept[i] === 0);
    expect(d.filter((_, i) => kept[i] !== 0).every((v) => v === 0)).toBe(true);
    const sd = Math.sqrt(moved.reduce((s, v) => s + v * v, 0) / moved.length);
    expect(sd).toBeGreaterThan(0.3);
    expect(sd).toBeLessThan(0.7);
    expect(maxDiff(noisy, again.arraySync() as Nested)).toBe(0);
    tf.dispose([image, keep, exact, noisy, again]);
  });

  it('refuses a mask of another size, leaking nothing', () => {
    const image = tf.zeros([4, 5, 3]) as tf.Tensor3D;
    const keep = tf.ones([5, 4]) as tf.Tensor2D;
    const fits = tf.ones([4, 5]) as tf.Tensor2D;
    expectThrowsClean(() => noisyLinearImpute(image, keep), InputError, /'keep'/);
    expectThrowsClean(() => noisyLinearImpute(image, fits, { noise: -1 }), OptionError, /noise/);
    tf.dispose([image, keep, fits]);
  });
});

interface MetricsFile {
  model: string;
  input_index: number;
  variant: string;
  class_index: number;
  cam: number[][];
  cam_mult_image: Record<
    string,
    { CamMultImageConfidenceChange: number; DropInConfidence: number; IncreaseInConfidence: number; score_after_return_diff_false: number }
  >;
  road_noise0: {
    per_percentile: Array<{
      percentile: number;
      MoRF: number;
      MoRF_num_imputed: number;
      MoRF_threshold: number;
      LeRF: number;
      LeRF_num_imputed: number;
      LeRF_threshold: number;
    }>;
    ROADMostRelevantFirstAverage: number;
    ROADLeastRelevantFirstAverage: number;
    ROADCombined: number;
    ROADCombined_p20_40_60_80: number;
    percentile_auto_otsu: { MoRF: number; MoRF_num_imputed: number; LeRF: number; LeRF_num_imputed: number };
  };
  arcc_noise0: { Complexity: number; Coherency: number; ROADCombined_p20_40_60_80: number; road_scaled_clipped: number; ARCC: number };
  'road_default_noise_ROADCombined_seeds0-4': { values: number[]; std: number };
}

const METRIC_FILES = extra<string[]>('metrics/index.json').filter((f) => !f.includes('imputer') && !f.includes('sobel'));

describe.each(METRIC_FILES)('metrics on %s', (file) => {
  const f = extra<MetricsFile>(file);
  const setup = async (): Promise<{ model: tfl.LayersModel; x: tf.Tensor4D; cam: tf.Tensor3D; free: () => void }> => {
    const model = await loadAnyOracleModel(f.model);
    const all = tf.tensor4d(oracleInputs(f.model).data);
    const x = tf.slice(all, [f.input_index], [1]) as tf.Tensor4D;
    const cam = tf.tensor3d([f.cam]);
    return {
      model,
      x,
      cam,
      free: () => {
        tf.dispose([all, x, cam]);
        model.dispose();
      },
    };
  };
  const softmaxTarget = { target: f.class_index, softmax: true, logits: true } as const;
  const logitTarget = { target: f.class_index, softmax: false, logits: true } as const;

  it('CamMultImageConfidenceChange, DropInConfidence, IncreaseInConfidence (softmax and logit targets)', async () => {
    const { model, x, cam, free } = await setup();
    for (const [name, opts] of [
      ['ClassifierOutputSoftmaxTarget', softmaxTarget],
      ['ClassifierOutputTarget', logitTarget],
    ] as const) {
      const ref = f.cam_mult_image[name] as MetricsFile['cam_mult_image'][string];
      const r = camMultImageConfidenceChange(model, x, cam, opts);
      expect(
        record('CamMultImageConfidenceChange', Math.abs((r.change.dataSync()[0] as number) - ref.CamMultImageConfidenceChange)),
      ).toBeLessThan(1e-6);
      expect(Math.abs((r.drop.dataSync()[0] as number) - ref.DropInConfidence)).toBeLessThan(1e-6);
      expect(r.increase.dataSync()[0]).toBe(ref.IncreaseInConfidence);
      expect(Math.abs((r.after.dataSync()[0] as number) - ref.score_after_return_diff_false)).toBeLessThan(1e-6);
      tf.dispose(r);
    }
    free();
  });

  it('ROAD (noise 0): thresholds, imputed pixels, MoRF/LeRF per percentile, averages, combined, Otsu', async () => {
    const { model, x, cam, free } = await setup();
    const rn = f.road_noise0;
    const map = Float32Array.from(f.cam.flat());
    const inverted = Float32Array.from(map, (v) => Math.fround(1 - v));
    for (const p of rn.per_percentile) {
      // numpy 1.24 returns the threshold in float64 (stored with 9 digits).
      expect(Math.abs(percentileLinear(Float32Array.from(map).sort(), p.percentile) / p.MoRF_threshold - 1)).toBeLessThan(5e-9);
      expect(Math.abs(percentileLinear(Float32Array.from(inverted).sort(), p.percentile) / p.LeRF_threshold - 1)).toBeLessThan(5e-9);
      expect(keptPixels(map, p.percentile).filter((k) => k === 0).length).toBe(p.MoRF_num_imputed);
      expect(keptPixels(inverted, p.percentile).filter((k) => k === 0).length).toBe(p.LeRF_num_imputed);
    }
    expect(keptPixels(map, 'auto').filter((k) => k === 0).length).toBe(rn.percentile_auto_otsu.MoRF_num_imputed);
    expect(keptPixels(inverted, 'auto').filter((k) => k === 0).length).toBe(rn.percentile_auto_otsu.LeRF_num_imputed);

    const r = road(model, x, cam, { ...softmaxTarget, noise: 0 });
    const morf = r.morf.dataSync();
    const lerf = r.lerf.dataSync();
    rn.per_percentile.forEach((p, i) => {
      expect(record('ROAD MoRF', Math.abs((morf[i] as number) - p.MoRF))).toBeLessThan(2e-6);
      expect(record('ROAD LeRF', Math.abs((lerf[i] as number) - p.LeRF))).toBeLessThan(2e-6);
    });
    expect(
      record('ROAD averages/combined', Math.abs((r.morfAverage.dataSync()[0] as number) - rn.ROADMostRelevantFirstAverage)),
    ).toBeLessThan(2e-6);
    expect(
      record('ROAD averages/combined', Math.abs((r.lerfAverage.dataSync()[0] as number) - rn.ROADLeastRelevantFirstAverage)),
    ).toBeLessThan(2e-6);
    expect(record('ROAD averages/combined', Math.abs((r.combined.dataSync()[0] as number) - rn.ROADCombined))).toBeLessThan(2e-6);
    const r2 = road(model, x, cam, { ...softmaxTarget, noise: 0, percentiles: [20, 40, 60, 80] });
    expect(record('ROAD averages/combined', Math.abs((r2.combined.dataSync()[0] as number) - rn.ROADCombined_p20_40_60_80))).toBeLessThan(
      2e-6,
    );
    const auto = road(model, x, cam, { ...softmaxTarget, noise: 0, percentiles: ['auto'] });
    expect(record("ROAD 'auto'", Math.abs((auto.morf.dataSync()[0] as number) - rn.percentile_auto_otsu.MoRF))).toBeLessThan(2e-6);
    expect(record("ROAD 'auto'", Math.abs((auto.lerf.dataSync()[0] as number) - rn.percentile_auto_otsu.LeRF))).toBeLessThan(2e-6);
    tf.dispose([r, r2, auto]);
    free();
  });

  it('Complexity, Coherency and ARCC (GradCAM base method, logit target, noise 0; harmonic mean)', async () => {
    const { model, x, cam, free } = await setup();
    const a = f.arcc_noise0;
    const r = arcc(model, x, cam, { ...logitTarget, noise: 0, methodOptions: { layer: 'last_conv' } });
    expect(record('Complexity', Math.abs((r.complexity.dataSync()[0] as number) - a.Complexity))).toBeLessThan(1e-6);
    expect(record('Coherency', Math.abs((r.coherency.dataSync()[0] as number) - a.Coherency))).toBeLessThan(2e-6);
    expect(record('ARCC ROAD', Math.abs((r.road.dataSync()[0] as number) - a.ROADCombined_p20_40_60_80))).toBeLessThan(2e-6);
    expect(Math.abs((r.roadScaled.dataSync()[0] as number) - a.road_scaled_clipped)).toBeLessThan(4e-6);
    expect(record('ARCC', Math.abs((r.arcc.dataSync()[0] as number) - a.ARCC))).toBeLessThan(4e-6);
    // The docstring's geometric mean, offered as an option.
    const g = arcc(model, x, cam, { ...logitTarget, noise: 0, methodOptions: { layer: 'last_conv' }, mean: 'geometric' });
    const geo = Math.cbrt(a.Coherency * (1 - a.Complexity) * a.road_scaled_clipped);
    expect(Math.abs((g.arcc.dataSync()[0] as number) - geo)).toBeLessThan(4e-6);
    // The parts as their own functions.
    const cx = complexity(cam);
    const co = coherency(model, x, cam, { methodOptions: { layer: 'last_conv' }, target: f.class_index });
    expect(Math.abs((cx.dataSync()[0] as number) - a.Complexity)).toBeLessThan(1e-6);
    expect(Math.abs((co.dataSync()[0] as number) - a.Coherency)).toBeLessThan(2e-6);
    tf.dispose([r, g, cx, co]);
    free();
  });

  it("ROADCombined with the default noise (0.01, seeds 0..4): the noise's mean effect agrees with the library's", async () => {
    const { model, x, cam, free } = await setup();
    const ref = f['road_default_noise_ROADCombined_seeds0-4'];
    const ours = [0, 1, 2, 3, 4].map((seed) => {
      const r = road(model, x, cam, { ...softmaxTarget, seed });
      const v = r.combined.dataSync()[0] as number;
      tf.dispose(r);
      return v;
    });
    const mean = (v: number[]): number => v.reduce((s, a) => s + a, 0) / v.length;
    const sd = (v: number[]): number => Math.sqrt(v.reduce((s, a) => s + (a - mean(v)) ** 2, 0) / (v.length - 1));
    // Means of 5 draws each: within 3 standard errors of both (the seed-to-seed spread itself is not
    // compared: ours matches the first-order estimate 0.01 |dS/dx| of i.i.d. noise, the library's
    // recorded spread is ~5x smaller).
    const diff = Math.abs(mean(ours) - mean(ref.values));
    record('ROAD noise: |mean - library mean|', diff);
    expect(diff).toBeLessThan((3 * (sd(ours) + ref.std)) / Math.sqrt(5) + 1e-6);
    // The noise moves the score by about as much as the library's does (vs noise 0).
    const shiftOurs = mean(ours) - f.road_noise0.ROADCombined;
    const shiftLib = mean(ref.values) - f.road_noise0.ROADCombined;
    expect(Math.abs(shiftOurs - shiftLib)).toBeLessThan((3 * (sd(ours) + ref.std)) / Math.sqrt(5) + 1e-6);
    free();
  });
});

describe('sobelCam', () => {
  it("equals pytorch-grad-cam's sobel_cam bit for bit", () => {
    const f = extra<{ input_uint8_hwc: number[][][]; output: number[][] }>('metrics/sobel_cam_a_sequential_in0.json');
    const img = tf.tensor3d(f.input_uint8_hwc, undefined, 'int32');
    const ours = tf.tidy(() => tf.round(tf.mul(sobelCam(img), 255)));
    expect(maxDiff(ours, f.output)).toBe(0);
    // From the float image: the tutorial's uint8(img * 255).
    const all = tf.tensor4d(oracleInputs('a_sequential').data);
    const float = tf.slice(all, [0], [1]) as tf.Tensor4D;
    const fromFloat = tf.tidy(() => tf.round(tf.mul(sobelCam(float), 255)));
    expect(maxDiff(fromFloat, [f.output])).toBe(0);
    tf.dispose([img, ours, all, float, fromFloat]);
  });
});

describe('integrity', () => {
  it('the metrics leak nothing, also on errors', async () => {
    const model = await loadAnyOracleModel('a_sequential');
    const x = tf.tensor4d(oracleInputs('a_sequential').data);
    const cam = tf.randomUniform([2, 32, 32], 0, 1, 'float32', 1) as tf.Tensor3D;
    expectNoLeak(() => road(model, x, cam, { percentiles: [50] }));
    expectNoLeak(() => camMultImageConfidenceChange(model, x, cam));
    expectNoLeak(() => arcc(model, x, cam, { percentiles: [50], methodOptions: { layer: 'last_conv' } }));
    expectNoLeak(() => sobelCam(x));
    const small = tf.zeros([2, 8, 8]) as tf.Tensor3D;
    expectThrowsClean(() => road(model, x, small), InputError, /'heatmap'/);
    expectThrowsClean(() => road(model, x, cam, { percentiles: [120] }), OptionError, /percentiles/);
    expectThrowsClean(() => arcc(model, x, cam, { mean: 'arithmetic' as never }), OptionError, /mean/);
    tf.dispose([x, cam, small]);
    model.dispose();
  });
});
