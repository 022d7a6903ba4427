/**
 * Behaviour of the methods added with issue 14 beyond the pytorch-grad-cam fixtures: the other
 * KPCA kernels against an independent float64 kernel PCA, ShapleyCAM on a piecewise-linear head,
 * SegEigenCAM's sign rule, RefineCAM's 'paper' normalisation, RandomCAM's seed, and for every one
 * of them: no leak, the model unchanged, typed errors that leak nothing.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OptionError,
  TargetError,
  UnsupportedError,
  activationsAndGradients,
  fem,
  finerCam,
  fullGrad,
  gradCam,
  gradCamPlusPlus,
  kpcaCam,
  layerCam,
  principalProjection,
  randomCam,
  refineCam,
  segEigenCam,
  shapleyCam,
} from '../../src/index.js';
import { imageAt, loadAnyOracleModel, maxDiff } from '../helpers/extra-fixtures.js';
import { oracleInputs } from '../helpers/fixtures.js';
import { expectModelUnchanged, expectNoLeak, expectThrowsClean, snapshotModel } from '../helpers/integrity.js';

type Nested = number | Nested[];
let model: tfl.LayersModel;
let inputs: tf.Tensor4D;
let x: tf.Tensor4D;

beforeAll(async () => {
  model = await loadAnyOracleModel('a_sequential');
  inputs = tf.tensor4d(oracleInputs('a_sequential').data);
  x = imageAt(inputs, 0);
});
afterAll(() => {
  model.dispose();
  tf.dispose([inputs, x]);
});

/** Symmetric eigen-decomposition (cyclic Jacobi, float64): the eigenpair of the largest eigenvalue. */
function jacobiTop(a: number[][]): { value: number; vector: number[] } {
  const n = a.length;
  const m = a.map((r) => [...r]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += (m[p]![q] as number) ** 2;
    if (off < 1e-24) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p]![q] as number;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = ((m[q]![q] as number) - (m[p]![p] as number)) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = m[k]![p] as number;
          const akq = m[k]![q] as number;
          m[k]![p] = c * akp - s * akq;
          m[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = m[p]![k] as number;
          const aqk = m[q]![k] as number;
          m[p]![k] = c * apk - s * aqk;
          m[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k]![p] as number;
          const vkq = v[k]![q] as number;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  let best = 0;
  for (let i = 1; i < n; i++) if ((m[i]![i] as number) > (m[best]![best] as number)) best = i;
  return { value: m[best]![best] as number, vector: v.map((r) => r[best] as number) };
}

/** scikit-learn's KernelPCA(n_components=1).fit_transform on pixels x channels, in float64. */
function kernelPcaReference(act: number[][][], kernel: string): number[] {
  const rows = act.flat();
  const n = rows.length;
  const c = (rows[0] as number[]).length;
  const mean = Array.from({ length: c }, (_, k) => rows.reduce((s, r) => s + (r[k] as number), 0) / n);
  const xs = rows.map((r) => r.map((v, k) => v - (mean[k] as number)));
  const gamma = 1 / c;
  const dot = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + v * (b[i] as number), 0);
  const kf = (a: number[], b: number[]): number => {
    if (kernel === 'rbf') return Math.exp(-gamma * a.reduce((s, v, i) => s + (v - (b[i] as number)) ** 2, 0));
    if (kernel === 'poly') return (gamma * dot(a, b) + 1) ** 3;
    if (kernel === 'linear') return dot(a, b);
    if (kernel === 'cosine') return dot(a, b) / (Math.sqrt(dot(a, a)) * Math.sqrt(dot(b, b)) || 1);
    return Math.tanh(gamma * dot(a, b) + 1);
  };
  const k = xs.map((a) => xs.map((b) => kf(a, b)));
  const col = k[0]!.map((_, j) => k.reduce((s, r) => s + (r[j] as number), 0) / n);
  const row = k.map((r) => r.reduce((s, v) => s + v, 0) / n);
  const all = row.reduce((s, v) => s + v, 0) / n;
  const kc = k.map((r, i) => r.map((v, j) => v - (col[j] as number) - (row[i] as number) + all));
  const { value, vector } = jacobiTop(kc);
  let big = 0;
  for (let i = 1; i < n; i++) if (Math.abs(vector[i] as number) > Math.abs(vector[big] as number)) big = i;
  const sign = (vector[big] as number) < 0 ? -1 : 1;
  return vector.map((v) => v * sign * Math.sqrt(Math.max(value, 0)));
}

describe('kpcaCam', () => {
  it.each(['sigmoid', 'rbf', 'poly', 'linear', 'cosine'] as const)(
    'matches a float64 kernel PCA with the %s kernel (8x8 layer)',
    (kernel) => {
      // A small layer (the pooled conv1 output, 16x16x8, cropped to 8x8) keeps the float64 reference cheap.
      const act = tf.tidy(() => tf.slice(activationsAndGradients(model, x, { layer: 'pool1' }).activations, [0, 4, 4, 0], [1, 8, 8, -1]));
      const ref = kernelPcaReference((act.arraySync() as number[][][][])[0] as number[][][], kernel);
      // kpcaCam on those activations: a model that is just an identity on them.
      const ours = tf.tidy(() => tf.reshape(kpcaCamOn(act, kernel), [-1]));
      const scale = Math.max(...ref.map(Math.abs));
      expect(maxDiff(ours, ref) / scale).toBeLessThan(1e-4);
      tf.dispose([act, ours]);
    },
  );
});

/** kpcaCam's raw map of given activations: through a one-layer model whose output is them. */
function kpcaCamOn(act: tf.Tensor4D, kernel: 'sigmoid' | 'rbf' | 'poly' | 'linear' | 'cosine'): tf.Tensor {
  const inp = tfl.input({ shape: act.shape.slice(1) });
  const feat = tfl.layers.activation({ activation: 'linear', name: 'feat' }).apply(inp) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2 }).apply(tfl.layers.globalAveragePooling2d({}).apply(feat)) as tfl.SymbolicTensor;
  const m = tfl.model({ inputs: inp, outputs: out });
  const r = kpcaCam(m, act, { layer: 'feat', kernel, relu: false, normalize: false, resize: false });
  m.dispose();
  return r.heatmap;
}

describe('shapleyCam', () => {
  it('equals gradCam when the score is piecewise linear in the activations (logits of a GAP/dense head)', () => {
    const s = shapleyCam(model, x, { layer: 'last_conv', relu: false, normalize: false, resize: false });
    const g = gradCam(model, x, { layer: 'last_conv', relu: false, normalize: false, resize: false });
    expect(maxDiff(s.heatmap, g.heatmap.arraySync() as Nested)).toBeLessThan(1e-9);
    tf.dispose([s, g]);
  });

  it('differs from gradCam on probabilities (softmax curvature)', () => {
    const s = shapleyCam(model, x, { layer: 'last_conv', logits: false, relu: false, normalize: false, resize: false });
    const g = gradCam(model, x, { layer: 'last_conv', logits: false, relu: false, normalize: false, resize: false });
    expect(maxDiff(s.heatmap, g.heatmap.arraySync() as Nested)).toBeGreaterThan(1e-6);
    tf.dispose([s, g]);
  });

  it('refuses a step outside (0, 0.5]', () => {
    expectThrowsClean(() => shapleyCam(model, x, { step: 0 }), OptionError, /step/);
  });
});

describe('segEigenCam', () => {
  it("orients the projection so that its largest magnitude is positive (principalProjection 'extremum')", () => {
    const raw = segEigenCam(model, inputs, { relu: false, normalize: false, resize: false });
    const [maxV, minV] = tf.tidy(() => [
      tf.max(raw.heatmap, [1, 2]).arraySync() as number[],
      tf.min(raw.heatmap, [1, 2]).arraySync() as number[],
    ]);
    maxV.forEach((m, i) => expect(m).toBeGreaterThanOrEqual(Math.abs(minV[i] as number)));
    tf.dispose(raw);
  });

  it('keeps principalProjection unchanged without options', () => {
    const a = tf.randomNormal([2, 4, 5, 6], 0, 1, 'float32', 3) as tf.Tensor4D;
    const p1 = principalProjection(a);
    const p2 = principalProjection(a, { orientation: 'channel-sum' });
    expect(maxDiff(p1, p2.arraySync() as Nested)).toBe(0);
    tf.dispose([a, p1, p2]);
  });
});

describe('refineCam', () => {
  it("is the min-max of the product of the base method's per-layer maps", () => {
    const r = refineCam(model, inputs, { layer: ['conv1', 'last_conv'], target: 3 });
    const ref = tf.tidy(() => {
      const a = gradCamPlusPlus(model, inputs, { layer: 'conv1', target: 3 }).heatmap;
      const b = gradCamPlusPlus(model, inputs, { layer: 'last_conv', target: 3 }).heatmap;
      const p = tf.mul(a, b);
      const lo = tf.min(p, [1, 2], true);
      return tf.div(tf.sub(p, lo), tf.add(tf.max(tf.sub(p, lo), [1, 2], true), 1e-7));
    });
    expect(maxDiff(r.heatmap, ref.arraySync() as Nested)).toBeLessThan(1e-6);
    expect(r.layer).toBe('conv1,last_conv');
    tf.dispose([r, ref]);
  });

  it("normalization 'paper' divides each unnormalised map by its maximum before the product", () => {
    const o = { layer: ['conv1', 'last_conv'], baseMethod: layerCam, normalize: false } as const;
    const code = refineCam(model, x, o);
    const paper = refineCam(model, x, { ...o, normalization: 'paper' });
    const ref = tf.tidy(() => {
      const m = ['conv1', 'last_conv'].map((l) => {
        const h = tf.relu(layerCam(model, x, { layer: l, normalize: false }).heatmap);
        return tf.div(h, tf.add(tf.max(h), 1e-8));
      });
      return tf.mul(m[0] as tf.Tensor, m[1] as tf.Tensor);
    });
    expect(maxDiff(paper.heatmap, ref.arraySync() as Nested) / (tf.max(ref).dataSync()[0] as number)).toBeLessThan(1e-6);
    expect(maxDiff(code.heatmap, paper.heatmap.arraySync() as Nested)).toBeGreaterThan(1e-3);
    tf.dispose([code, paper, ref]);
  });

  it('refuses maps of different sizes and a bad normalization, leaking nothing', () => {
    expectThrowsClean(() => refineCam(model, x, { layer: ['conv1', 'last_conv'], resize: false }), OptionError, /one size/);
    expectThrowsClean(() => refineCam(model, x, { normalization: 'nope' as never }), OptionError, /normalization/);
    expectThrowsClean(() => refineCam(model, x, { baseMethod: 3 as never }), OptionError, /baseMethod/);
  });
});

describe('finerCam', () => {
  it('refuses a target function and too many comparison ranks, leaking nothing', () => {
    expectThrowsClean(() => finerCam(model, x, { target: (o: tf.Tensor) => tf.sum(o, 1) as tf.Tensor1D }), OptionError, /class index/);
    expectThrowsClean(() => finerCam(model, x, { comparisonRanks: [1, 2, 9] }), TargetError, /comparisonRanks/);
  });

  it('runs any base method (layerCam), explaining the given class per example', () => {
    const r = finerCam(model, inputs, { baseMethod: layerCam, target: [1, 2] });
    expect(Array.from(r.classIndex.dataSync())).toEqual([1, 2]);
    expect(r.heatmap.shape).toEqual([2, 32, 32]);
    tf.dispose(r);
  });
});

describe('randomCam', () => {
  it('is reproducible with a seed and different without one', () => {
    const a = randomCam(model, x, { seed: 5 });
    const b = randomCam(model, x, { seed: 5 });
    const c = randomCam(model, x, { seed: 6 });
    expect(maxDiff(a.heatmap, b.heatmap.arraySync() as Nested)).toBe(0);
    expect(maxDiff(a.heatmap, c.heatmap.arraySync() as Nested)).toBeGreaterThan(1e-3);
    tf.dispose([a, b, c]);
  });
});

describe('integrity', () => {
  const calls: Array<[string, () => unknown]> = [
    ['kpcaCam', () => kpcaCam(model, inputs)],
    ['fem', () => fem(model, inputs)],
    ['segEigenCam', () => segEigenCam(model, inputs)],
    ['shapleyCam', () => shapleyCam(model, inputs, { logits: false })],
    ['finerCam', () => finerCam(model, inputs)],
    ['refineCam', () => refineCam(model, inputs, { layer: ['conv1', 'last_conv'] })],
    ['randomCam', () => randomCam(model, inputs, { seed: 1 })],
    ['fullGrad', () => fullGrad(model, inputs)],
  ];
  it.each(calls)('%s leaks nothing and leaves the model unchanged', (_name, call) => {
    const before = snapshotModel(model, x);
    expectNoLeak(call);
    expectModelUnchanged(model, x, before);
  });

  it('refuse bad options with typed errors, leaking nothing', () => {
    expectThrowsClean(() => fem(model, x, { k: -1 }), OptionError, /'options.k'/);
    expectThrowsClean(() => kpcaCam(model, x, { kernel: 'laplacian' as never }), OptionError, /kernel/);
    expectThrowsClean(() => kpcaCam(model, x, { gamma: 0 }), OptionError, /gamma/);
    expectThrowsClean(() => randomCam(model, x, { seed: 1.5 }), OptionError, /seed/);
    expectThrowsClean(() => fullGrad(model, x, { layer: 'conv1' } as never), OptionError, /'options.layer' is not a known option/);
  });

  it('fullGrad: a single image gives the batch map of that image; resize: [h, w] and normalize: false apply', () => {
    const both = fullGrad(model, inputs, { target: 3 });
    const image = tf.squeeze(x, [0]) as tf.Tensor3D;
    const one = fullGrad(model, image, { target: 3 });
    expect(one.heatmap.shape).toEqual([32, 32]);
    const row = tf.slice(both.heatmap, [0], [1]);
    expect(maxDiff(row, [one.heatmap.arraySync()] as Nested)).toBeLessThan(1e-6);
    const small = fullGrad(model, image, { target: 3, resize: [8, 8], normalize: false });
    expect(small.heatmap.shape).toEqual([8, 8]);
    expect(tf.max(small.heatmap).dataSync()[0]).toBeGreaterThan(1);
    tf.dispose([both, one, row, small, image]);
  });

  it('fullGrad refuses a biased layer it cannot tap (channels-first separable convolution), leaking nothing', () => {
    const input = tfl.input({ shape: [8, 8, 3] });
    const t = tfl.layers.permute({ dims: [3, 1, 2] }).apply(input) as tfl.SymbolicTensor;
    const sep = tfl.layers
      .separableConv2d({ filters: 4, kernelSize: 3, dataFormat: 'channelsFirst', name: 'sep_cf' })
      .apply(t) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 2 }).apply(tfl.layers.flatten().apply(sep)) as tfl.SymbolicTensor;
    const m = tfl.model({ inputs: input, outputs: out });
    const img = tf.ones([1, 8, 8, 3]) as tf.Tensor4D;
    expectThrowsClean(() => fullGrad(m, img), UnsupportedError, /sep_cf/);
    tf.dispose(img);
    m.dispose();
  });
});
