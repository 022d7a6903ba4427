/**
 * createExplainer: the CAM functions bound to one model, with the one-shot functions' results;
 * options as defaults; what it holds between calls (and that it stops growing); weights changed
 * under it; dispose.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Explainer } from '../../src/index.js';
import {
  CAM_METHODS,
  DisposedError,
  LayerError,
  ModelError,
  OptionError,
  TfcamError,
  UnsupportedError,
  activationsAndGradients,
  createExplainer,
  gradCam,
  guidedBackprop,
  guidedGradCam,
} from '../../src/index.js';
import { expectModelUnchanged, expectThrowsClean, snapshotModel } from '../helpers/integrity.js';
import type { TestModel } from '../helpers/models.js';
import { image, multiInputModel, seedWeights, sequentialModel } from '../helpers/models.js';

async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = await Promise.all([a.data(), b.data()]);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs((x[i] as number) - (y[i] as number)));
  return m;
}

/** Every tensor of two results with the same keys agrees to `tol`; strings are equal. */
async function expectSameResult(a: Record<string, unknown>, b: Record<string, unknown>, tol: number, what: string): Promise<void> {
  expect(Object.keys(a).sort(), what).toEqual(Object.keys(b).sort());
  for (const key of Object.keys(a)) {
    const x = a[key];
    const y = b[key];
    if (typeof x === 'string') expect(x, `${what}.${key}`).toBe(y);
    else expect(await maxAbsDiff(x as tf.Tensor, y as tf.Tensor), `${what}.${key}`).toBeLessThanOrEqual(tol);
  }
}

/**
 * Convolutions and a BatchNormalization above the explained layer (`c1`): their prepared kernels and
 * folded constants are what an explainer keeps.
 */
function convHeadModel(): { model: tfl.LayersModel; input: tf.Tensor4D } {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [12, 12, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }),
      tfl.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'c2' }),
      tfl.layers.batchNormalization({ name: 'bn' }),
      tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu', name: 'dw' }),
      tfl.layers.conv2d({ filters: 12, kernelSize: 1, activation: 'relu', name: 'c3' }),
      tfl.layers.globalAveragePooling2d({ name: 'gap' }),
      tfl.layers.dense({ units: 4, activation: 'softmax', name: 'out' }),
    ],
  });
  seedWeights(model, 3);
  return { model, input: image(2, 12, 3, 4) };
}

/** Few positions, wide kernels above `c1`: a one-shot call computes those input gradients per tap (wasm). */
function wideHeadModel(): { model: tfl.LayersModel; input: tf.Tensor4D } {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 16, kernelSize: 4, strides: 4, activation: 'relu', name: 'c1' }),
      tfl.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c2' }),
      tfl.layers.conv2d({ filters: 64, kernelSize: 1, activation: 'relu', name: 'c3' }),
      tfl.layers.globalAveragePooling2d({ name: 'gap' }),
      tfl.layers.dense({ units: 3, name: 'out' }),
    ],
  });
  seedWeights(model, 4);
  return { model, input: image(2, 8, 3, 6) };
}

/** Kernel names and counts of one call. */
async function kernelsOf(f: () => tf.TensorContainer): Promise<Map<string, number>> {
  const info = await tf.profile(() => {
    tf.dispose(f());
  });
  const counts = new Map<string, number>();
  for (const k of info.kernels) counts.set(k.name, (counts.get(k.name) ?? 0) + 1);
  return counts;
}

describe('createExplainer', () => {
  let seq: TestModel;
  let batch: tf.Tensor4D;
  let single: tf.Tensor3D;
  beforeAll(() => {
    seq = sequentialModel();
    batch = seq.input as tf.Tensor4D;
    single = tf.tidy(() => tf.reshape(tf.slice(batch, [1], [1]), [16, 16, 3]));
  });
  afterAll(() => {
    tf.dispose([batch, single]);
    seq.model.dispose();
  });

  it("gives every CAM method the one-shot function's result (same keys, same values)", async () => {
    const explainer = createExplainer(seq.model);
    for (const [name, cam] of Object.entries(CAM_METHODS)) {
      for (const options of [{}, { target: 3 }, { layer: 'c1', target: 3 }]) {
        const bound = (explainer as unknown as Record<string, (x: tf.Tensor, o: object) => Record<string, unknown>>)[name] as (
          x: tf.Tensor,
          o: object,
        ) => Record<string, unknown>;
        let b: Record<string, unknown>;
        try {
          b = cam(seq.model, batch, options) as unknown as Record<string, unknown>;
        } catch (e) {
          // A method without a layer option (fullGrad): the explainer refuses it the same way.
          if (!(e instanceof OptionError) || e.argument !== 'options.layer') throw e;
          expectThrowsClean(() => bound(batch, options), OptionError, /'options.layer' is not a known option/);
          continue;
        }
        const a = bound(batch, options);
        await expectSameResult(a, b, 0, `${name} ${JSON.stringify(options)}`);
        tf.dispose([a as tf.TensorContainer, b as tf.TensorContainer]);
      }
    }
    const pairs: Array<[string, () => unknown, () => unknown]> = [
      ['guidedBackprop', () => explainer.guidedBackprop(single), () => guidedBackprop(seq.model, single)],
      ['guidedGradCam', () => explainer.guidedGradCam(batch, { layer: 'c1' }), () => guidedGradCam(seq.model, batch, { layer: 'c1' })],
      [
        'activationsAndGradients',
        () => explainer.activationsAndGradients(batch, { layer: 'c1' }),
        () => activationsAndGradients(seq.model, batch, { layer: 'c1' }),
      ],
    ];
    for (const [name, a, b] of pairs) {
      const x = a() as Record<string, unknown>;
      const y = b() as Record<string, unknown>;
      await expectSameResult(x, y, 0, name);
      tf.dispose([x as tf.TensorContainer, y as tf.TensorContainer]);
    }
    explainer.dispose();
  });

  it('takes its options as defaults for every call; a call overrides them', async () => {
    const explainer = createExplainer(seq.model, { layer: 'c1', target: 3, validate: false });
    const a = explainer.gradCam(batch);
    expect(a.layer).toBe('c1');
    expect(Array.from(await a.classIndex.data())).toEqual([3, 3]);
    const b = explainer.gradCam(batch, { layer: 'last_conv', target: undefined });
    expect(b.layer).toBe('last_conv');
    expect(Array.from(await b.classIndex.data())).toEqual([3, 3]);
    const c = explainer.gradCam(batch, { target: 1 });
    expect(Array.from(await c.classIndex.data())).toEqual([1, 1]);
    // guidedBackprop has no layer option: it takes only the defaults it knows (target here).
    const g = explainer.guidedBackprop(batch);
    expect(Array.from(await g.classIndex.data())).toEqual([3, 3]);
    // A method's own options pass through.
    const s = explainer.scoreCam(batch, { batchSize: 2, softmax: 'classes' });
    const ref = CAM_METHODS.scoreCam(seq.model, batch, { layer: 'c1', target: 3, batchSize: 2, softmax: 'classes' } as object);
    expect(await maxAbsDiff(s.heatmap, ref.heatmap)).toBe(0);
    tf.dispose([a, b, c, g, s, ref]);
    explainer.dispose();
  });

  it('checks model and options when created, before any tensor exists', () => {
    expectThrowsClean(() => createExplainer({} as tfl.LayersModel), ModelError, /createExplainer: 'model' must be a tf.LayersModel/);
    expectThrowsClean(
      () => createExplainer(seq.model, { layr: 'c1' } as object),
      OptionError,
      /createExplainer: 'options.layr' is not a known option.*Did you mean 'layer'/,
    );
    expectThrowsClean(() => createExplainer(seq.model, { layer: 'nope' }), LayerError, /createExplainer: 'layer'/);
    expectThrowsClean(() => createExplainer(seq.model, { relu: 'yes' } as object), OptionError, /'options.relu'/);
    // A call's bad options are refused by the function, named as such.
    const explainer = createExplainer(seq.model);
    expectThrowsClean(() => explainer.gradCam(batch, { fuse: 'min' } as object), OptionError, /^gradCam: 'options.fuse'/);
    expectThrowsClean(() => explainer.gradCam(batch, { target: 9 }), TfcamError, /^gradCam: 'target'/);
    explainer.dispose();
  });

  it('throws a DisposedError (a TfcamError) after dispose(), which is idempotent and frees everything', () => {
    const before = tf.memory().numTensors;
    const explainer = createExplainer(seq.model, { layer: 'c1' });
    tf.dispose(explainer.gradCam(batch));
    explainer.dispose();
    explainer.dispose();
    expect(explainer.disposed).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    expect(explainer.memory()).toEqual({ numTensors: 0, numBytes: 0 });
    const e = expectThrowsClean(() => explainer.gradCam(batch), DisposedError, /^gradCam: 'explainer' must not be disposed/);
    expect(e).toBeInstanceOf(UnsupportedError);
    expectThrowsClean(() => explainer.guidedBackprop(batch), DisposedError, /^guidedBackprop: 'explainer'/);
    expectThrowsClean(() => explainer.activationsAndGradients(batch), DisposedError, /^activationsAndGradients: 'explainer'/);
  });

  it('never modifies the model, and works with multi-input models', async () => {
    const m = multiInputModel();
    const snap = snapshotModel(m.model, m.inputs);
    const explainer = createExplainer(m.model, { layer: 'c1' });
    const a = explainer.gradCam(m.inputs);
    const b = gradCam(m.model, m.inputs, { layer: 'c1' });
    await expectSameResult(a, b, 0, 'multi-input');
    tf.dispose([a, b]);
    explainer.dispose();
    expectModelUnchanged(m.model, m.inputs, snap);
    tf.dispose(m.inputs);
    m.model.dispose();
  });

  describe('between calls', () => {
    let conv: { model: tfl.LayersModel; input: tf.Tensor4D };
    beforeAll(() => {
      conv = convHeadModel();
    });
    afterAll(() => {
      conv.input.dispose();
      conv.model.dispose();
    });

    it('holds what memory() reports, the same after 1000 calls, and nothing after dispose()', async () => {
      const base = tf.memory();
      const explainer: Explainer = createExplainer(conv.model, { layer: 'c1', validate: false });
      tf.dispose(explainer.gradCam(conv.input));
      const warm = tf.memory();
      const held = explainer.memory();
      expect(warm.numTensors - base.numTensors).toBe(held.numTensors);
      expect(warm.numBytes - base.numBytes).toBe(held.numBytes);
      // The forward-convolution gradients (wasm) prepare kernels; elsewhere tfjs' own gradients need none.
      if (tf.getBackend() === 'wasm') expect(held.numTensors).toBeGreaterThan(0);
      for (let i = 0; i < 1000; i++) tf.dispose(explainer.gradCam(conv.input));
      expect(tf.memory().numTensors).toBe(warm.numTensors);
      expect(tf.memory().numBytes).toBe(warm.numBytes);
      explainer.dispose();
      expect(tf.memory().numTensors).toBe(base.numTensors);
      expect(tf.memory().numBytes).toBe(base.numBytes);
    }, 120_000);

    it('prepares the kernels once: a warm call makes no flipped or transposed kernel (wasm)', async () => {
      const explainer = createExplainer(conv.model, { layer: 'c1' });
      tf.dispose(explainer.gradCam(conv.input));
      const warm = await kernelsOf(() => explainer.gradCam(conv.input));
      const oneShot = await kernelsOf(() => gradCam(conv.model, conv.input, { layer: 'c1' }));
      if (tf.getBackend() === 'wasm') {
        // One-shot: each 3x3 convolution above c1 flips its kernel (slices, Concat), and the regular
        // ones transpose it (c2, c3); warm, none (the Dense gradient's two small transposes remain).
        expect(oneShot.get('Concat') ?? 0).toBeGreaterThan(0);
        expect(warm.get('Concat') ?? 0).toBe(0);
        expect((oneShot.get('Transpose') ?? 0) - (warm.get('Transpose') ?? 0)).toBe(2);
      }
      explainer.dispose();
    });

    it('agrees with the one-shot function where that computes input gradients per tap', async () => {
      const wide = wideHeadModel();
      const explainer = createExplainer(wide.model, { layer: 'c1' });
      for (let i = 0; i < 2; i++) {
        const a = explainer.gradCam(wide.input, { resize: false, normalize: false });
        const b = gradCam(wide.model, wide.input, { layer: 'c1', resize: false, normalize: false });
        // Same maps to float32 summation order (a convolution against a sum of per-tap products).
        expect(await maxAbsDiff(a.heatmap, b.heatmap)).toBeLessThan(1e-5 * Math.max(1, ...(await b.heatmap.data())));
        tf.dispose([a, b]);
      }
      explainer.dispose();
      wide.input.dispose();
      wide.model.dispose();
    });

    it('notices weights changed by fit and prepares again: results equal the one-shot function on the fitted model', async () => {
      const explainer = createExplainer(conv.model, { layer: 'c1', target: 2 });
      const first = explainer.gradCam(conv.input);
      const held = explainer.memory();
      if (tf.getBackend() !== 'wasm') {
        conv.model.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
        const labels = tf.oneHot(tf.tensor1d([0, 1], 'int32'), 4);
        await conv.model.fit(conv.input, labels, { epochs: 2, batchSize: 2, verbose: 0 });
        labels.dispose();
      } else {
        // tfjs-wasm cannot fit a convolution (no Conv2DBackpropFilter): assign new values to the
        // weight variables, as an optimizer step does.
        for (const w of conv.model.weights) {
          tf.tidy(() =>
            (w.read() as tf.Variable).assign(tf.add(w.read(), tf.mul(tf.randomUniform(w.shape as number[], -1, 1, 'float32', 9), 0.2))),
          );
        }
      }
      const after = explainer.gradCam(conv.input);
      const oneShot = gradCam(conv.model, conv.input, { layer: 'c1', target: 2 });
      await expectSameResult(after, oneShot, 0, 'after fit');
      // The maps did change (the weights moved), and the explainer holds no more than before.
      expect(await maxAbsDiff(first.heatmap, after.heatmap)).toBeGreaterThan(1e-3);
      expect(explainer.memory()).toEqual(held);
      tf.dispose([first, after, oneShot]);
      explainer.dispose();
    }, 60_000);
  });
});
