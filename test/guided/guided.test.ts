import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, OptionError, deprocessGradients, gradCam, guidedBackprop, guidedGradCam } from '../../src/index.js';
import { maxAbs, maxAbsDiff } from '../helpers/close.js';
import { ORACLE_MODELS, loadOracleModel, oracleCases, oracleInputs } from '../helpers/fixtures.js';
import { expectModelUnchanged, expectThrowsClean, snapshotModel } from '../helpers/integrity.js';
import { image, multiInputModel, seedWeights, sequentialModel } from '../helpers/models.js';

describe.each(ORACLE_MODELS)('guided backprop matches pytorch-grad-cam on %s', (name) => {
  let model: tfl.LayersModel;
  let inputs: tf.Tensor4D;
  const cases = oracleCases(name);
  beforeAll(async () => {
    model = await loadOracleModel(name);
    inputs = tf.tensor4d(oracleInputs(name).data);
  });
  afterAll(() => {
    model.dispose();
    inputs.dispose();
  });

  it.each(cases.map((c) => [c.file, c] as const))('%s', (_f, c) => {
    const x = tf.squeeze(tf.slice(inputs, [c.input_index], [1]), [0]) as tf.Tensor3D;
    const logits = c.variant !== 'probs';
    const gb = guidedBackprop(model, x, { target: c.class_index, logits });
    expect(gb.gradients.shape).toEqual(x.shape);
    expect(maxAbsDiff(gb.gradients, c.guided_backprop_hwc) / maxAbs(c.guided_backprop_hwc)).toBeLessThan(1e-4);
    const ggc = guidedGradCam(model, x, { target: c.class_index, logits, layer: 'last_conv' });
    const scale = Math.max(maxAbs(c.guided_gradcam_hwc), 1e-12);
    expect(maxAbsDiff(ggc.gradients, c.guided_gradcam_hwc) / scale).toBeLessThan(1e-4);
    expect(ggc.classIndex.dataSync()[0]).toBe(c.class_index);
    tf.dispose([x, gb, ggc]);
  });
});

/** A model whose ReLUs all sit in fused kernels: Conv2D, DepthwiseConv2D, SeparableConv2D, Dense. */
function fusedReluModel(): { model: tfl.LayersModel; reference: (x: tf.Tensor, cls: number[]) => tf.Tensor } {
  const inp = tfl.input({ shape: [12, 12, 3] });
  const c = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c' });
  const d = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu', name: 'd' });
  const s = tfl.layers.separableConv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu', name: 's' });
  const f = tfl.layers.flatten({});
  const h = tfl.layers.dense({ units: 6, activation: 'relu', name: 'h' });
  const o = tfl.layers.dense({ units: 3, name: 'o' });
  const y = o.apply(h.apply(f.apply(s.apply(d.apply(c.apply(inp))))));
  const model = tfl.model({ inputs: inp, outputs: y as tfl.SymbolicTensor });
  seedWeights(model, 5);
  type W = { read(): tf.Tensor };
  const w = (l: tfl.layers.Layer, k: string): tf.Tensor => ((l as unknown as Record<string, W>)[k] as W).read();
  // Guided ReLU written independently: forward relu, backward dy * (x > 0) * (dy > 0).
  const guidedFn = (x: tf.Tensor, save: tf.GradSaveFunc): { value: tf.Tensor; gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => tf.Tensor } => {
    save([x]);
    return {
      value: tf.relu(x),
      gradFunc: (dy: tf.Tensor, [xs]: tf.Tensor[]) => tf.mul(dy, tf.mul(tf.step(xs as tf.Tensor), tf.step(dy))),
    };
  };
  const guided = tf.customGrad(guidedFn as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;
  const reference = (x: tf.Tensor, cls: number[]): tf.Tensor =>
    tf.grad((t: tf.Tensor) => {
      let a = guided(tf.add(tf.conv2d(t as tf.Tensor4D, w(c, 'kernel') as tf.Tensor4D, 1, 'same'), w(c, 'bias')));
      // Reference only: plain depthwise works on cpu (the reference runs there).
      a = guided(tf.add(tf.depthwiseConv2d(a as tf.Tensor4D, w(d, 'depthwiseKernel') as tf.Tensor4D, 1, 'same'), w(d, 'bias')));
      a = guided(
        tf.add(
          tf.separableConv2d(a as tf.Tensor4D, w(s, 'depthwiseKernel') as tf.Tensor4D, w(s, 'pointwiseKernel') as tf.Tensor4D, 1, 'same'),
          w(s, 'bias'),
        ),
      );
      a = tf.reshape(a, [a.shape[0] as number, -1]);
      a = guided(tf.add(tf.matMul(a as tf.Tensor2D, w(h, 'kernel') as tf.Tensor2D), w(h, 'bias')));
      const out = tf.add(tf.matMul(a as tf.Tensor2D, w(o, 'kernel') as tf.Tensor2D), w(o, 'bias'));
      return tf.sum(tf.mul(out, tf.oneHot(tf.tensor1d(cls, 'int32'), 3)));
    })(x);
  return { model, reference };
}

describe('guidedBackprop: the guided rule', () => {
  it('applies through fused relu convolutions (Conv2D, DepthwiseConv2D, SeparableConv2D) and Dense', async () => {
    const { model, reference } = fusedReluModel();
    const x = image(2, 12, 3, 3);
    const ours = guidedBackprop(model, x, { target: [0, 2] });
    const prev = tf.getBackend();
    await tf.setBackend('cpu');
    const refData = tf.tidy(() => reference(x, [0, 2]).arraySync());
    const plainData = tf.tidy(() =>
      tf
        .grad((t: tf.Tensor) => tf.sum(tf.mul(model.apply(t) as tf.Tensor, tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3))))(x)
        .arraySync(),
    );
    await tf.setBackend(prev);
    const scale = maxAbs(refData as number[][][][]);
    expect(maxAbsDiff(ours.gradients, refData as number[][][][]) / scale).toBeLessThan(1e-5);
    // And the guided rule changes the result: the plain gradient is different.
    expect(maxAbsDiff(ours.gradients, plainData as number[][][][]) / scale).toBeGreaterThan(1e-2);
    tf.dispose([x, ours]);
    model.dispose();
  });

  it.each([
    ['ReLU layer with maxValue 6', () => tfl.layers.reLU({ maxValue: 6 })],
    ["Activation('relu6')", () => tfl.layers.activation({ activation: 'relu6' })],
  ])('passes gradient only where 0 < x < 6 and dy > 0 (%s)', (_n, make) => {
    const inp = tfl.input({ shape: [4] });
    const model = tfl.model({ inputs: inp, outputs: make().apply(inp) as tfl.SymbolicTensor });
    const x = tf.tensor2d([[-1, 3, 6.5, 2]]);
    // Score: 2*y0 + 1*y1 - 1*y2 + 1*y3 (a negative weight on y2 tests dy > 0 too).
    const r = guidedBackprop(model, x, { target: (out) => tf.sum(tf.mul(out, tf.tensor1d([2, 1, -1, 1])), 1) as tf.Tensor1D });
    // x0 < 0: blocked; x1 in (0,6), dy=1: passes; x2 > 6: blocked (and dy<0); x3 in range: passes.
    expect(Array.from(r.gradients.dataSync(), (v) => v + 0)).toEqual([0, 1, 0, 1]);
    const y = tf.tensor2d([[-1, 3, 2, 5]]);
    const r2 = guidedBackprop(model, y, { target: (out) => tf.sum(tf.mul(out, tf.tensor1d([1, -1, 1, 1])), 1) as tf.Tensor1D });
    // Negative incoming gradient on x1 is blocked even though 0 < x1 < 6.
    expect(Array.from(r2.gradients.dataSync(), (v) => v + 0)).toEqual([0, 0, 1, 1]);
    tf.dispose([x, y, r, r2]);
    model.dispose();
  });

  it("applies to Activation('relu') and keeps other activations' gradients", () => {
    const inp = tfl.input({ shape: [3] });
    const a = tfl.layers.activation({ activation: 'relu' }).apply(inp) as tfl.SymbolicTensor;
    const t = tfl.layers.activation({ activation: 'tanh' }).apply(inp) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: inp, outputs: tfl.layers.add({}).apply([a, t]) as tfl.SymbolicTensor });
    const x = tf.tensor2d([[1, -1, 0.5]]);
    const r = guidedBackprop(model, x, { target: (out) => tf.sum(tf.mul(out, tf.tensor1d([-1, 1, 1])), 1) as tf.Tensor1D });
    const sech2 = (v: number): number => 1 - Math.tanh(v) ** 2;
    // relu branch: x0 has dy<0 -> 0; x1<0 -> 0; x2 passes 1. tanh branch: normal gradient.
    const expected = [-sech2(1), sech2(-1), 1 + sech2(0.5)];
    expect(maxAbsDiff(r.gradients, expected)).toBeLessThan(1e-6);
    tf.dispose([x, r]);
    model.dispose();
  });

  it("is independent of the batch: an image's result does not depend on its neighbours", () => {
    const t = sequentialModel();
    const batch = guidedGradCam(t.model, t.input as tf.Tensor4D, { target: [1, 3] });
    const one = tf.squeeze(tf.slice(t.input, [1], [1]), [0]) as tf.Tensor3D;
    const single = guidedGradCam(t.model, one, { target: 3 });
    expect(single.gradients.shape).toEqual([16, 16, 3]);
    expect(single.heatmap.shape).toEqual([16, 16]);
    const row = tf.squeeze(tf.slice(batch.gradients, [1], [1]), [0]);
    expect(maxAbsDiff(single.gradients, row.arraySync() as number[][][])).toBeLessThan(1e-6);
    tf.dispose([batch, one, single, row]);
    t.model.dispose();
    t.input.dispose();
  });

  it('guidedGradCam is guidedBackprop times the resized Grad-CAM map', () => {
    const t = sequentialModel();
    const x = t.input as tf.Tensor4D;
    const g = guidedBackprop(t.model, x, { target: 2 });
    const c = gradCam(t.model, x, { target: 2 });
    const ggc = guidedGradCam(t.model, x, { target: 2 });
    const expected = tf.mul(g.gradients, tf.expandDims(c.heatmap, -1));
    expect(maxAbsDiff(ggc.gradients, expected.arraySync() as number[][][][])).toBeLessThan(1e-7);
    expect(ggc.layer).toBe(c.layer);
    tf.dispose([g, c, ggc, expected]);
    t.model.dispose();
    x.dispose();
  });

  it.each([
    ['last_conv', true],
    ['pool', false],
    ['c1', false],
  ] as const)('guidedGradCam at %s equals the two functions composed (one pass: %s)', async (layer, onePass) => {
    // One pass when nothing above the layer is a ReLU (last_conv: pooling and the classifier), so
    // dS/dA of the guided pass is Grad-CAM's; two passes otherwise. Same values either way.
    const t = sequentialModel();
    const x = t.input as tf.Tensor4D;
    const g = guidedBackprop(t.model, x, { target: [1, 3] });
    const c = gradCam(t.model, x, { target: [1, 3], layer });
    const ggc = guidedGradCam(t.model, x, { target: [1, 3], layer });
    const expected = tf.mul(g.gradients, tf.expandDims(c.heatmap, -1));
    expect(maxAbsDiff(ggc.heatmap, c.heatmap.arraySync() as number[][][])).toBeLessThan(1e-6);
    expect(maxAbsDiff(ggc.gradients, expected.arraySync() as number[][][][]) / maxAbs(expected.arraySync() as number[][][][])).toBeLessThan(
      1e-6,
    );
    expect(Array.from(ggc.classIndex.dataSync())).toEqual([1, 3]);
    expect(ggc.layer).toBe(layer);
    // Kernels run: one pass adds less than half a Grad-CAM to guidedBackprop (no second forward
    // pass); two passes add about a whole one.
    const kernels = async (f: () => tf.TensorContainer): Promise<number> => (await tf.profile(() => tf.dispose(f()))).kernels.length;
    const nG = await kernels(() => guidedBackprop(t.model, x, { target: [1, 3] }));
    const nC = await kernels(() => gradCam(t.model, x, { target: [1, 3], layer }));
    const nGgc = await kernels(() => guidedGradCam(t.model, x, { target: [1, 3], layer }));
    if (onePass) expect(nGgc - nG).toBeLessThan(nC / 2);
    else expect(nGgc - nG).toBeGreaterThan(nC * 0.9);
    tf.dispose([g, c, ggc, expected]);
    t.model.dispose();
    x.dispose();
  });

  it('differentiates with respect to the chosen input of a multi-input model', () => {
    const t = multiInputModel();
    const r = guidedBackprop(t.model, t.inputs);
    expect(r.gradients.shape).toEqual([2, 16, 16, 3]);
    const r1 = guidedBackprop(t.model, t.inputs, { inputIndex: 1 });
    expect(r1.gradients.shape).toEqual([2, 4]);
    expectThrowsClean(
      () => guidedBackprop(t.model, t.inputs, { inputIndex: 2 }),
      OptionError,
      /'options\.inputIndex' must be an integer in \[0, 1\] \(the model has 2 inputs\), but got 2/,
    );
    tf.dispose([r, r1, ...t.inputs]);
    t.model.dispose();
  });
});

describe('guided functions leave no trace', () => {
  it('leaks nothing and leaves the model bit-identical, on success and on errors', () => {
    const t = sequentialModel();
    const before = snapshotModel(t.model, t.input);
    const start = tf.memory().numTensors;
    tf.dispose(guidedBackprop(t.model, t.input as tf.Tensor4D));
    tf.dispose(guidedGradCam(t.model, t.input as tf.Tensor4D));
    const ones = tf.ones([2, 2, 3]) as tf.Tensor3D;
    tf.dispose(deprocessGradients(ones));
    ones.dispose();
    expect(tf.memory().numTensors).toBe(start);
    expectThrowsClean(
      () => guidedBackprop(t.model, t.input as tf.Tensor4D, { layer: 'c1' } as never),
      OptionError,
      /^guidedBackprop: 'options\.layer' is not a known option/,
    );
    expectThrowsClean(
      () => guidedGradCam(t.model, t.input as tf.Tensor4D, { target: 9 }),
      Error,
      /'target' must be a class index in \[0, 4\]/,
    );
    // The map is always resized to the input: resize is not an option of guidedGradCam.
    expectThrowsClean(
      () => guidedGradCam(t.model, t.input as tf.Tensor4D, { resize: false } as never),
      OptionError,
      /^guidedGradCam: 'options\.resize' is not a known option/,
    );
    const vec = tf.ones([3]);
    expectThrowsClean(
      () => deprocessGradients(vec as unknown as tf.Tensor3D),
      InputError,
      /^deprocessGradients: 'gradients' must have shape \[H, W, C\] or \[B, H, W, C\], but got a float32 tensor of shape \[3\]/,
    );
    vec.dispose();
    expectModelUnchanged(t.model, t.input, before);
    t.model.dispose();
    t.input.dispose();
  });
});

describe('deprocessGradients', () => {
  it("standardises, scales by 0.1, shifts by 0.5, clips and truncates like pytorch-grad-cam's deprocess_image", () => {
    const g = tf.tensor3d([
      [[1], [2]],
      [[3], [100]],
    ]);
    const v = [1, 2, 3, 100];
    const mean = v.reduce((a, b) => a + b) / 4;
    const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / 4);
    const expected = v.map((x) => Math.floor(Math.min(1, Math.max(0, ((x - mean) / (std + 1e-5)) * 0.1 + 0.5)) * 255));
    const out = deprocessGradients(g);
    expect(out.dtype).toBe('int32');
    expect(Array.from(out.dataSync())).toEqual(expected);
    // Per image in a batch.
    const b = deprocessGradients(tf.stack([g, tf.mul(g, 10)]) as tf.Tensor4D);
    expect(Array.from(b.dataSync())).toEqual([...expected, ...expected]);
    tf.dispose([g, out, b]);
  });
});
