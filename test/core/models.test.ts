import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { gradCam } from '../../src/index.js';
import { maxAbsDiff } from '../helpers/close.js';
import { loadOracleModel, oracleInputs } from '../helpers/fixtures.js';
import {
  dagModel,
  image,
  multiInputModel,
  multiOutputModel,
  nestedModel,
  sequentialModel,
  softmaxVariants,
  type TestModel,
} from '../helpers/models.js';
import { onCpu, referenceGradCam } from '../helpers/reference.js';

/** Compares gradCam with the hand-split reference on raw maps and on final maps. */
async function expectMatchesReference(t: TestModel, options: { layer?: unknown; input?: tf.Tensor | tf.Tensor[] } = {}): Promise<void> {
  const x = t.input;
  const layer = (options.layer ?? t.layer) as string;
  const res = gradCam(t.model, (options.input ?? x) as tf.Tensor4D, { layer, relu: false, normalize: false, resize: false });
  const cls = Array.from(res.classIndex.dataSync());
  const fin = gradCam(t.model, (options.input ?? x) as tf.Tensor4D, { layer, target: cls });
  // The reference uses stock tfjs gradients on the cpu backend.
  const ref = await onCpu(() =>
    tf.tidy(() => {
      const r = referenceGradCam(t.features, t.head, x, cls, { relu: false, normalize: false, size: null });
      const f = referenceGradCam(t.features, t.head, x, cls, { size: [x.shape[1] as number, x.shape[2] as number] });
      return { raw: r.raw.arraySync(), scores: Array.from(r.scores.dataSync()), map: f.map.arraySync() };
    }),
  );
  const scale = Math.max(...ref.raw.flat(2).map(Math.abs));
  expect(scale).toBeGreaterThan(0);
  expect(maxAbsDiff(res.heatmap, ref.raw) / scale).toBeLessThan(1e-5);
  expect(maxAbsDiff(res.score, ref.scores)).toBeLessThan(1e-5);
  expect(maxAbsDiff(fin.heatmap, ref.map)).toBeLessThan(1e-4);
  tf.dispose([res, fin]);
}

describe('gradCam on every model shape', () => {
  it('explains a Sequential model built in code', async () => {
    const t = sequentialModel();
    expect(t.model.getClassName()).toBe('Sequential');
    await expectMatchesReference(t);
    t.model.dispose();
  });

  it('explains a Sequential model loaded from JSON by tf.loadLayersModel', async () => {
    const model = await loadOracleModel('a_sequential');
    expect(model.getClassName()).toBe('Sequential');
    const x = tf.tensor4d(oracleInputs('a_sequential').data);
    const r = gradCam(model, x);
    expect(r.layer).toBe('last_conv');
    expect(r.heatmap.shape).toEqual([2, 32, 32]);
    tf.dispose([x, r]);
    model.dispose();
  });

  it('explains a functional DAG at a layer whose head has a skip connection, branches and a concat', async () => {
    const t = dagModel();
    await expectMatchesReference(t);
    t.model.dispose();
  });

  it('explains the DAG at every rank-4 layer (convs, BN, depthwise, separable, add, pooling, concat)', async () => {
    const t = dagModel();
    const L = t.layers;
    const get = (k: string): tfl.layers.Layer => L[k] as tfl.layers.Layer;
    const ap = (k: string, x: tf.Tensor | tf.Tensor[]): tf.Tensor => t.apply(get(k), x);
    const tail = (c: tf.Tensor): tf.Tensor => ['last', 'pool', 'flat', 'drop', 'out'].reduce((v, k) => ap(k, v), c);
    const branches = (r: tf.Tensor): tf.Tensor => ap('cat', [ap('b1', r), ap('ap', r)]);
    const trunk = (x: tf.Tensor): { bn: tf.Tensor; sep: tf.Tensor; r: tf.Tensor } => {
      const bn = ap('bn', ap('c1', x));
      const sep = ap('sep', ap('dw', bn));
      return { bn, sep, r: ap('relu', ap('add', [bn, sep])) };
    };
    // Skip tensors the head reads are constants computed from the same input.
    const skip = (): { bn: tf.Tensor; r: tf.Tensor } => trunk(t.input);
    const splits: Array<[string, (x: tf.Tensor) => tf.Tensor, (a: tf.Tensor) => tf.Tensor]> = [
      [
        'c1',
        (x) => ap('c1', x),
        (a) => {
          const bn = ap('bn', a);
          return tail(branches(ap('relu', ap('add', [bn, ap('sep', ap('dw', bn))]))));
        },
      ],
      ['dw', (x) => ap('dw', trunk(x).bn), (a) => tail(branches(ap('relu', ap('add', [skip().bn, ap('sep', a)]))))],
      ['sep', (x) => trunk(x).sep, (a) => tail(branches(ap('relu', ap('add', [skip().bn, a]))))],
      ['add', (x) => ap('add', [trunk(x).bn, trunk(x).sep]), (a) => tail(branches(ap('relu', a)))],
      ['ap', (x) => ap('ap', trunk(x).r), (a) => tail(ap('cat', [ap('b1', skip().r), a]))],
      ['cat', (x) => branches(trunk(x).r), (a) => tail(a)],
      ['last_conv', (x) => ap('last', branches(trunk(x).r)), (a) => ['pool', 'flat', 'drop', 'out'].reduce((v, k) => ap(k, v), a)],
    ];
    for (const [layer, features, head] of splits) {
      await expectMatchesReference({ ...t, features, head, layer }, { layer });
    }
    t.model.dispose();
  });

  it('runs Dropout in inference mode (deterministic, equal to the reference without dropout)', () => {
    const t = dagModel();
    const a = gradCam(t.model, t.input as tf.Tensor4D, { layer: 'cat' });
    const b = gradCam(t.model, t.input as tf.Tensor4D, { layer: 'cat' });
    expect(maxAbsDiff(a.heatmap, b.heatmap.arraySync() as number[][][])).toBe(0);
    tf.dispose([a, b]);
    t.model.dispose();
  });

  it('explains a layer inside a nested model, addressed by path and by Layer object', async () => {
    const t = nestedModel();
    await expectMatchesReference(t, { layer: 'base/last_conv' });
    await expectMatchesReference(t, { layer: t.base.getLayer('last_conv') });
    // A bare name unique across nested models resolves too.
    const r = gradCam(t.model, t.input as tf.Tensor4D, { layer: 'last_conv' });
    expect(r.layer).toBe('base/last_conv');
    tf.dispose(r);
    t.model.dispose();
  });

  it('chooses the last spatial layer inside a nested model by default and reports its path', () => {
    const t = nestedModel();
    const r = gradCam(t.model, t.input as tf.Tensor4D);
    expect(r.layer).toBe('base/last_conv');
    tf.dispose(r);
    t.model.dispose();
  });

  it('explains the output of a nested model addressed by the nested model itself', () => {
    const t = nestedModel();
    const a = gradCam(t.model, t.input as tf.Tensor4D, { layer: 'base' });
    const b = gradCam(t.model, t.input as tf.Tensor4D, { layer: 'base/last_conv' });
    expect(a.layer).toBe('base');
    expect(maxAbsDiff(a.heatmap, b.heatmap.arraySync() as number[][][])).toBe(0);
    tf.dispose([a, b]);
    t.model.dispose();
  });

  it('explains a Sequential nested inside a functional model', () => {
    const inner = tfl.sequential({
      name: 'features',
      layers: [
        tfl.layers.conv2d({ inputShape: [16, 16, 3], filters: 4, kernelSize: 3, activation: 'relu', name: 'fc1' }),
        tfl.layers.conv2d({ filters: 5, kernelSize: 3, activation: 'relu', name: 'fc2' }),
      ],
    });
    const inp = tfl.input({ shape: [16, 16, 3] });
    const gap = tfl.layers.globalAveragePooling2d({});
    const dense = tfl.layers.dense({ units: 3 });
    const model = tfl.model({ inputs: inp, outputs: dense.apply(gap.apply(inner.apply(inp))) as tfl.SymbolicTensor });
    const x = image(2, 16, 3, 4);
    const r = gradCam(model, x, { relu: false, normalize: false, resize: false });
    expect(r.layer).toBe('features/fc2');
    const ref = referenceGradCam(
      (v) => inner.layers.reduce<tf.Tensor>((t, l) => l.apply(t) as tf.Tensor, v),
      (a) => dense.apply(gap.apply(a)) as tf.Tensor,
      x,
      Array.from(r.classIndex.dataSync()),
      { relu: false, normalize: false, size: null },
    );
    const scale = Math.max(...Array.from(tf.abs(ref.raw).dataSync()));
    expect(maxAbsDiff(r.heatmap, ref.raw.arraySync()) / scale).toBeLessThan(1e-5);
    tf.dispose([r, ref, x]);
    model.dispose();
  });

  it('explains a multi-input model given an array of inputs', async () => {
    const t = multiInputModel();
    await expectMatchesReference(t, { input: t.inputs });
    const r = gradCam(t.model, t.inputs);
    expect(r.heatmap.shape).toEqual([2, 16, 16]);
    tf.dispose(r);
    t.model.dispose();
  });

  it('explains each output of a multi-output model with outputIndex', () => {
    const t = multiOutputModel();
    const maps = [0, 1].map((outputIndex) => {
      const r = gradCam(t.model, t.input as tf.Tensor4D, { layer: 'trunk', outputIndex, relu: false, normalize: false, resize: false });
      const ref = referenceGradCam(
        t.features,
        t.heads[outputIndex] as (a: tf.Tensor) => tf.Tensor,
        t.input,
        Array.from(r.classIndex.dataSync()),
        {
          relu: false,
          normalize: false,
          size: null,
        },
      );
      const scale = Math.max(...Array.from(tf.abs(ref.raw).dataSync()));
      expect(maxAbsDiff(r.heatmap, ref.raw.arraySync()) / scale).toBeLessThan(1e-5);
      const out = r.heatmap.arraySync();
      tf.dispose([r, ref]);
      return out;
    });
    // The two outputs depend on the trunk differently: their maps differ.
    expect(maxAbsDiff(tf.tensor(maps[0] as number[][][]), maps[1] as number[][][])).toBeGreaterThan(1e-3);
    t.model.dispose();
  });

  it.each(['denseSoftmax', 'activation', 'softmaxLayer'] as const)(
    'explains the pre-softmax logit by default and the probability with logits: false (%s)',
    (kind) => {
      const models = softmaxVariants();
      const model = models[kind];
      const x = image(2, 16, 3, 8);
      const logits = models.linear.predict(x) as tf.Tensor2D;
      const probs = model.predict(x) as tf.Tensor2D;
      const target = [1, 3];
      const rl = gradCam(model, x, { target });
      const rp = gradCam(model, x, { target, logits: false });
      const ref = gradCam(models.linear, x, { target });
      const pick = (t: tf.Tensor2D, row: number): number => (t.arraySync()[row] as number[])[target[row] as number] as number;
      expect(maxAbsDiff(rl.score, [pick(logits, 0), pick(logits, 1)])).toBeLessThan(1e-5);
      expect(maxAbsDiff(rp.score, [pick(probs, 0), pick(probs, 1)])).toBeLessThan(1e-6);
      // logits: true on the softmax model equals Grad-CAM of the linear twin.
      expect(maxAbsDiff(rl.heatmap, ref.heatmap.arraySync() as number[][][])).toBeLessThan(1e-5);
      // The probability's gradient differs from the logit's.
      expect(maxAbsDiff(rl.heatmap, rp.heatmap.arraySync() as number[][][])).toBeGreaterThan(1e-3);
      tf.dispose([x, logits, probs, rl, rp, ref]);
      Object.values(models).forEach((m) => m.dispose());
    },
  );

  it('returns a [H,W] map and scalars for a rank-3 input, [B,H,W] and [B] for rank 4', () => {
    const t = sequentialModel();
    const one = tf.squeeze(tf.slice(t.input, [1], [1]), [0]) as tf.Tensor3D;
    const single = gradCam(t.model, one);
    const batch = gradCam(t.model, t.input as tf.Tensor4D);
    expect(single.heatmap.shape).toEqual([16, 16]);
    expect(single.classIndex.shape).toEqual([]);
    expect(single.score.shape).toEqual([]);
    expect(single.classIndex.dtype).toBe('int32');
    expect(single.heatmap.dtype).toBe('float32');
    expect(batch.heatmap.shape).toEqual([2, 16, 16]);
    expect(batch.classIndex.shape).toEqual([2]);
    // Batch independence: the second example's map does not depend on its neighbour.
    const row = tf.squeeze(tf.slice(batch.heatmap, [1], [1]), [0]);
    expect(maxAbsDiff(single.heatmap, row.arraySync() as number[][])).toBeLessThan(1e-6);
    const hm = batch.heatmap.dataSync();
    expect(Math.min(...hm)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...hm)).toBeLessThanOrEqual(1);
    tf.dispose([one, single, batch, row]);
    t.model.dispose();
  });

  it('picks the arg-max class by default and honours per-example targets and target functions', () => {
    const t = sequentialModel();
    const probs = t.model.predict(t.input) as tf.Tensor2D;
    const argmax = Array.from(tf.argMax(probs, 1).dataSync());
    const r = gradCam(t.model, t.input as tf.Tensor4D);
    expect(Array.from(r.classIndex.dataSync())).toEqual(argmax);
    const per = gradCam(t.model, t.input as tf.Tensor4D, { target: [0, 4] });
    expect(Array.from(per.classIndex.dataSync())).toEqual([0, 4]);
    // A function target: the sum of classes 0 and 4 (one score per example).
    const fn = gradCam(t.model, t.input as tf.Tensor4D, {
      target: (out) => tf.sum(tf.mul(out, tf.tensor1d([1, 0, 0, 0, 1])), 1) as tf.Tensor1D,
      normalize: false,
      resize: false,
      relu: false,
    });
    const c0 = gradCam(t.model, t.input as tf.Tensor4D, { target: 0, normalize: false, resize: false, relu: false });
    const c4 = gradCam(t.model, t.input as tf.Tensor4D, { target: 4, normalize: false, resize: false, relu: false });
    // Grad-CAM is linear in the score: cam(s0 + s4) = cam(s0) + cam(s4).
    const sum = tf.add(c0.heatmap, c4.heatmap);
    const scale = Math.max(...Array.from(tf.abs(sum).dataSync()));
    expect(maxAbsDiff(fn.heatmap, sum.arraySync() as number[][][]) / scale).toBeLessThan(1e-5);
    expect(Array.from(fn.classIndex.dataSync())).toEqual([-1, -1]);
    tf.dispose([probs, r, per, fn, c0, c4, sum]);
    t.model.dispose();
  });

  it('casts int32 inputs to float32 instead of failing', () => {
    const t = sequentialModel();
    const xi = tf.cast(tf.mul(t.input, 255), 'int32');
    const xf = tf.cast(xi, 'float32');
    const a = gradCam(t.model, xi as tf.Tensor4D);
    const b = gradCam(t.model, xf as tf.Tensor4D);
    expect(maxAbsDiff(a.heatmap, b.heatmap.arraySync() as number[][][])).toBe(0);
    tf.dispose([xi, xf, a, b]);
    t.model.dispose();
  });

  it('resizes to a requested size, or keeps the layer resolution with resize: false', () => {
    const t = sequentialModel();
    const a = gradCam(t.model, t.input as tf.Tensor4D, { resize: [10, 12] });
    const b = gradCam(t.model, t.input as tf.Tensor4D, { resize: false });
    expect(a.heatmap.shape).toEqual([2, 10, 12]);
    expect(b.heatmap.shape).toEqual([2, 8, 8]);
    tf.dispose([a, b]);
    t.model.dispose();
  });

  it('keeps an all-zero map at zero (never NaN)', () => {
    const t = sequentialModel();
    // A constant (zero) input gives spatially constant activations: after min-max the map is 0.
    const x = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
    const r = gradCam(t.model, x, { layer: 'c1', target: 0 });
    const v = Array.from(r.heatmap.dataSync());
    expect(v.every((e) => Number.isFinite(e))).toBe(true);
    tf.dispose([x, r]);
    t.model.dispose();
  });
});

describe('gradCam on a single-output model', () => {
  it('explains a Dense(1, sigmoid) output (logit by default, probability with logits: false)', () => {
    const inp = tfl.input({ shape: [8, 8, 3] });
    const conv = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv' });
    const gap = tfl.layers.globalAveragePooling2d({});
    const dense = tfl.layers.dense({ units: 1, activation: 'sigmoid', name: 'out' });
    const model = tfl.model({ inputs: inp, outputs: dense.apply(gap.apply(conv.apply(inp))) as tfl.SymbolicTensor });
    const x = image(2, 8, 3, 41);
    const r = gradCam(model, x, { relu: false, normalize: false, resize: false });
    expect(Array.from(r.classIndex.dataSync())).toEqual([0, 0]);
    const dk = dense as unknown as { kernel: { read(): tf.Tensor }; bias: { read(): tf.Tensor } };
    const logit = tf.add(tf.matMul(gap.apply(conv.apply(x)) as tf.Tensor2D, dk.kernel.read() as tf.Tensor2D), dk.bias.read());
    expect(maxAbsDiff(r.score, Array.from(logit.dataSync()))).toBeLessThan(1e-5);
    const p = gradCam(model, x, { logits: false, target: 0 });
    expect(maxAbsDiff(p.score, Array.from(tf.sigmoid(logit).dataSync()))).toBeLessThan(1e-6);
    tf.dispose([x, r, logit, p]);
    model.dispose();
  });
});
