/**
 * The methods added after pytorch-grad-cam 1.5.5's first ten against its own outputs
 * (test/fixtures/cam-oracle-extra/methods, commit 084273b): KPCA_CAM, FEM, FinerCAM, ShapleyCAM,
 * SegEigenCAM, EigenGradCAM (up to sign), RefineCAM and FullGrad, for every model, input, variant and class
 * there. Raw maps within 1e-5 relative to their largest magnitude (or 10x the reference's
 * float32-vs-float64 sensitivity), final maps within 1e-4.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CamFunction } from '../../src/index.js';
import { eigenGradCam, fem, finerCam, fullGrad, kpcaCam, refineCam, segEigenCam, shapleyCam } from '../../src/index.js';
import { expectFinalClose, expectRawClose, extra, imageAt, loadAnyOracleModel, maxDiff, printMeasured } from '../helpers/extra-fixtures.js';
import { ORACLE_MODELS, oracleInputs } from '../helpers/fixtures.js';

type Nested = number | Nested[];
interface Ref {
  raw: number[][];
  final?: number[][];
  f64_max_abs_diff: { raw?: number; final: number };
}
interface ClassCase {
  model: string;
  input_index: number;
  variant: 'probs' | 'logits_of_softmax' | 'logits';
  class_index: number;
  detail: boolean;
  methods: {
    ShapleyCAM: Ref & { hvp_is_none: boolean };
    SegEigenCAM: Ref;
    EigenGradCAM: Ref & { f64_same_sign: boolean };
    RefineCAM: { target_layers: string[][]; final?: number[][]; f64_max_abs_diff: { final: number } };
    FullGrad: {
      layers: Array<{ module: string; type: string; channels: number; bias: number[] }>;
      raw: number[][];
      final?: number[][];
      input_term?: number[][];
      layer_terms?: number[][][];
      f64_max_abs_diff: { raw: number; final: number };
    };
  };
}
interface IndexEntry {
  file: string;
  model: string;
  input_id: string;
  method?: string;
  methods?: string[];
  class_index?: number;
}

const INDEX = extra<IndexEntry[]>('methods/index.json');
const RAW = { relu: false, normalize: false, resize: false } as const;

describe.each(ORACLE_MODELS)('new methods match pytorch-grad-cam on %s', (name) => {
  let model: tfl.LayersModel;
  let inputs: tf.Tensor4D;
  beforeAll(async () => {
    model = await loadAnyOracleModel(name);
    inputs = tf.tensor4d(oracleInputs(name).data);
  });
  afterAll(() => {
    model.dispose();
    inputs.dispose();
  });
  const entries = INDEX.filter((e) => e.model === name);

  it.each(entries.filter((e) => e.class_index !== undefined).map((e) => [e.file, e] as const))(
    'ShapleyCAM, SegEigenCAM, EigenGradCAM, RefineCAM: %s',
    (_f, e) => {
      const c = extra<ClassCase>(e.file);
      const x = imageAt(inputs, c.input_index);
      const common = { layer: 'last_conv', target: c.class_index, logits: c.variant !== 'probs' };
      for (const [label, cam, ref] of [
        ['ShapleyCAM', shapleyCam, c.methods.ShapleyCAM],
        ['SegEigenCAM', segEigenCam, c.methods.SegEigenCAM],
      ] as const) {
        const raw = cam(model, x, { ...common, ...RAW });
        expectRawClose(`${label} raw`, raw.heatmap, [ref.raw] as Nested, ref.f64_max_abs_diff.raw ?? 0);
        if (ref.final !== undefined) {
          const f = cam(model, x, common);
          expectFinalClose(`${label} final`, f.heatmap, [ref.final] as Nested);
          tf.dispose(f);
        }
        tf.dispose(raw);
      }
      // EigenGradCAM: the library's sign is LAPACK's (arbitrary): compare up to a global sign.
      const eg = eigenGradCam(model, x, { ...common, ...RAW });
      const dot = tf.tidy(() => tf.sum(tf.mul(eg.heatmap, tf.tensor3d([c.methods.EigenGradCAM.raw]))).dataSync()[0] as number);
      const aligned = dot < 0 ? tf.neg(eg.heatmap) : tf.clone(eg.heatmap);
      expectRawClose(
        'EigenGradCAM raw (up to sign)',
        aligned,
        [c.methods.EigenGradCAM.raw] as Nested,
        c.methods.EigenGradCAM.f64_max_abs_diff.raw ?? 0,
        1e-4,
      );
      tf.dispose([eg, aligned]);

      const rc = c.methods.RefineCAM;
      if (rc.final !== undefined) {
        const r = refineCam(model, x, { layer: rc.target_layers.map((l) => l[0] as string), target: c.class_index, logits: common.logits });
        expectFinalClose('RefineCAM final', r.heatmap, [rc.final] as Nested);
        expect(r.layer).toBe(rc.target_layers.map((l) => l[0]).join(','));
        tf.dispose(r);
      }
      x.dispose();
    },
  );

  it.each(entries.filter((e) => e.class_index !== undefined).map((e) => [e.file, e] as const))('FullGrad: %s', (_f, e) => {
    const c = extra<ClassCase>(e.file);
    const ref = c.methods.FullGrad;
    const x = imageAt(inputs, c.input_index);
    const common = { target: c.class_index, logits: c.variant !== 'probs' };
    const raw = fullGrad(model, x, { ...common, normalize: false });
    // The same layers as pytorch-grad-cam (its module 'layers.<name>.<part>' is our layer name).
    expect(raw.layer.split(',')).toEqual(ref.layers.map((l) => l.module.split('.')[1]));
    expectRawClose('FullGrad raw', raw.heatmap, [ref.raw] as Nested, ref.f64_max_abs_diff.raw);
    if (ref.final !== undefined) {
      const f = fullGrad(model, x, common);
      expectFinalClose('FullGrad final', f.heatmap, [ref.final] as Nested);
      tf.dispose(f);
    }
    tf.dispose([raw, x]);
  });

  it.each(entries.filter((e) => e.method === 'FinerCAM').map((e) => [e.file, e] as const))('FinerCAM: %s', (_f, e) => {
    const f = extra<{
      input_index: number;
      variant: string;
      cases: Array<{
        target_idx: number | null;
        main_category: number;
        target_score: number;
        raw: number[][];
        final?: number[][];
        f64_max_abs_diff: { raw: number };
      }>;
    }>(e.file);
    const x = imageAt(inputs, f.input_index);
    for (const c of f.cases) {
      const common = { layer: 'last_conv', logits: f.variant !== 'probs', ...(c.target_idx === null ? {} : { target: c.target_idx }) };
      const raw = finerCam(model, x, { ...common, ...RAW });
      expectRawClose('FinerCAM raw', raw.heatmap, [c.raw] as Nested, c.f64_max_abs_diff.raw);
      expect(raw.classIndex.dataSync()[0]).toBe(c.main_category);
      expect(Math.abs((raw.score.dataSync()[0] as number) - c.target_score)).toBeLessThan(1e-6 + 1e-5 * Math.abs(c.target_score));
      if (c.final !== undefined) {
        const fin = finerCam(model, x, common);
        expectFinalClose('FinerCAM final', fin.heatmap, [c.final] as Nested);
        tf.dispose(fin);
      }
      tf.dispose(raw);
    }
    x.dispose();
  });

  it.each(entries.filter((e) => e.methods !== undefined).map((e) => [e.file, e] as const))('KPCA_CAM and FEM: %s', (_f, e) => {
    const f = extra<{ input_index: number; methods: { KPCA_CAM: Ref & { f32_vs_f64_dense_eigh_max_abs_diff_raw: number }; FEM: Ref } }>(
      e.file,
    );
    const x = imageAt(inputs, f.input_index);
    for (const [label, cam, ref] of [
      ['KPCA_CAM', kpcaCam as CamFunction, f.methods.KPCA_CAM],
      ['FEM', fem as CamFunction, f.methods.FEM],
    ] as const) {
      const raw = cam(model, x, { layer: 'last_conv', ...RAW });
      expectRawClose(
        `${label} raw`,
        raw.heatmap,
        [ref.raw] as Nested,
        Math.max(
          ref.f64_max_abs_diff.raw ?? 0,
          (ref as { f32_vs_f64_dense_eigh_max_abs_diff_raw?: number }).f32_vs_f64_dense_eigh_max_abs_diff_raw ?? 0,
        ),
      );
      if (ref.final !== undefined) {
        const fin = cam(model, x, { layer: 'last_conv' });
        expectFinalClose(`${label} final`, fin.heatmap, [ref.final] as Nested);
        tf.dispose(fin);
      }
      tf.dispose(raw);
    }
    x.dispose();
  });
});

describe('batches', () => {
  it('gives each image of a batch the map it gets alone (all new methods)', async () => {
    const model = await loadAnyOracleModel('a_sequential');
    const inputs = tf.tensor4d(oracleInputs('a_sequential').data);
    type Run = (m: tfl.LayersModel, x: tf.Tensor4D, o: { logits: boolean }) => { heatmap: tf.Tensor };
    const runs: Array<[string, Run]> = [
      ['kpcaCam', (m, x, o) => kpcaCam(m, x, o)],
      ['fem', (m, x, o) => fem(m, x, o)],
      ['segEigenCam', (m, x, o) => segEigenCam(m, x, o)],
      ['shapleyCam', (m, x, o) => shapleyCam(m, x, o)],
      ['finerCam', (m, x, o) => finerCam(m, x, o)],
      ['refineCam', (m, x, o) => refineCam(m, x, { ...o, layer: ['conv1', 'last_conv'] })],
    ];
    for (const [label, cam] of runs) {
      const both = cam(model, inputs, { logits: false });
      for (let i = 0; i < 2; i++) {
        const one = cam(model, imageAt(inputs, i), { logits: false });
        const row = tf.slice(both.heatmap, [i], [1]);
        expect(maxDiff(row, one.heatmap.arraySync() as Nested), label).toBeLessThan(1e-5);
        tf.dispose([row, one as unknown as tf.TensorContainer]);
      }
      tf.dispose(both as unknown as tf.TensorContainer);
    }
    model.dispose();
    inputs.dispose();
  });
});

afterAll(() => printMeasured('new methods vs pytorch-grad-cam'));
