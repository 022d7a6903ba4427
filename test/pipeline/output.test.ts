/**
 * `result.output`: every CAM result (and guidedGradCam's) carries the explained output exactly as
 * `model.predict` returns it (softmax/sigmoid included even when the logit is explained), from the
 * same pass, caller-owned, batched or unbatched like the map.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CamResult } from '../../src/index.js';
import { CAM_METHODS, createExplainer, gradCam, guidedGradCam } from '../../src/index.js';
import { expectNoLeak } from '../helpers/integrity.js';
import { image, seedWeights, sequentialModel, softmaxVariants } from '../helpers/models.js';

const TOL = 1e-6;

async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = await Promise.all([a.data(), b.data()]);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs((x[i] as number) - (y[i] as number)));
  return m;
}

/** Two outputs: a softmax classifier at the last block and a sigmoid head on a second branch. */
function twoHeadModel(): { model: tfl.LayersModel; input: tf.Tensor4D } {
  const inp = tfl.input({ shape: [16, 16, 3] });
  const t = tfl.layers
    .conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'trunk' })
    .apply(inp) as tfl.SymbolicTensor;
  const o1 = tfl.layers
    .dense({ units: 4, activation: 'softmax', name: 'cls' })
    .apply(tfl.layers.globalAveragePooling2d({ name: 'gap1' }).apply(t)) as tfl.SymbolicTensor;
  const c2 = tfl.layers
    .conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c2' })
    .apply(t) as tfl.SymbolicTensor;
  const o2 = tfl.layers
    .dense({ units: 3, activation: 'sigmoid', name: 'tags' })
    .apply(tfl.layers.globalAveragePooling2d({ name: 'gap2' }).apply(c2)) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: inp, outputs: [o1, o2], name: 'two_heads' });
  seedWeights(model, 5);
  return { model, input: image(3, 16, 3, 8) };
}

describe('result.output', () => {
  let seq: ReturnType<typeof sequentialModel>;
  let batch: tf.Tensor4D;
  let single: tf.Tensor3D;
  let predicted: tf.Tensor2D;
  beforeAll(() => {
    seq = sequentialModel();
    batch = seq.input as tf.Tensor4D;
    single = tf.tidy(() => tf.reshape(tf.slice(batch, [0], [1]), [16, 16, 3]));
    predicted = seq.model.predict(batch) as tf.Tensor2D;
  });
  afterAll(() => {
    tf.dispose([single, predicted, batch]);
    seq.model.dispose();
  });

  it('equals model.predict for every CAM method, batch and single image, logits or not', async () => {
    for (const [name, cam] of Object.entries(CAM_METHODS)) {
      for (const logits of [true, false]) {
        const options = { logits };
        const r = cam(seq.model, batch, options);
        expect(r.output.shape, name).toEqual([2, 5]);
        expect(await maxAbsDiff(r.output, predicted), `${name}, logits ${logits}`).toBeLessThan(TOL);
        const one = cam(seq.model, single, options);
        expect(one.output.shape, name).toEqual([5]);
        const row = tf.reshape(tf.slice(predicted, [0, 0], [1, 5]), [5]);
        expect(await maxAbsDiff(one.output, row), `${name} single image`).toBeLessThan(TOL);
        tf.dispose([r, one, row]);
      }
    }
  });

  it('is probabilities even though the logit is explained (the score is the logit)', async () => {
    const r = gradCam(seq.model, batch, { target: 2 });
    const logits = (await r.score.data()) as Float32Array;
    const probs = (await r.output.data()) as Float32Array;
    for (let b = 0; b < 2; b++) {
      let sum = 0;
      for (let k = 0; k < 5; k++) sum += probs[b * 5 + k] as number;
      expect(sum).toBeCloseTo(1, 5);
      expect(probs[b * 5 + 2]).not.toBeCloseTo(logits[b] as number, 3);
    }
    tf.dispose(r);
  });

  it('is the output of the softmax, whichever way the model ends in it', async () => {
    const variants = softmaxVariants();
    const x = image(2, 16, 3, 3);
    for (const [kind, model] of Object.entries(variants)) {
      const p = model.predict(x) as tf.Tensor;
      const r = gradCam(model, x);
      expect(await maxAbsDiff(r.output, p), kind).toBeLessThan(TOL);
      tf.dispose([p, r]);
      model.dispose();
    }
    x.dispose();
  });

  it('is the explained output of a multi-output model (outputIndex), softmax and sigmoid', async () => {
    const { model, input } = twoHeadModel();
    const [p0, p1] = model.predict(input) as tf.Tensor[];
    const r0 = gradCam(model, input, { outputIndex: 0 });
    const r1 = gradCam(model, input, { outputIndex: 1, layer: 'c2' });
    expect(await maxAbsDiff(r0.output, p0 as tf.Tensor)).toBeLessThan(TOL);
    expect(await maxAbsDiff(r1.output, p1 as tf.Tensor)).toBeLessThan(TOL);
    const single = tf.reshape(tf.slice(input, [1], [1]), [16, 16, 3]) as tf.Tensor3D;
    const s1 = gradCam(model, single, { outputIndex: 1, layer: 'c2' });
    expect(s1.output.shape).toEqual([3]);
    const row = tf.reshape(tf.slice(p1 as tf.Tensor, [1, 0], [1, 3]), [3]);
    expect(await maxAbsDiff(s1.output, row)).toBeLessThan(TOL);
    tf.dispose([p0 as tf.Tensor, p1 as tf.Tensor, r0, r1, single, s1, row, input]);
    model.dispose();
  });

  it("with augSmooth and with several layers, is the unaugmented batch's", async () => {
    const a = gradCam(seq.model, batch, { augSmooth: true });
    const b = gradCam(seq.model, batch, { layer: ['c1', 'last_conv'] });
    expect(await maxAbsDiff(a.output, predicted)).toBeLessThan(TOL);
    expect(await maxAbsDiff(b.output, predicted)).toBeLessThan(TOL);
    tf.dispose([a, b]);
  });

  it('comes with guidedGradCam (one-pass and two-pass) and with an explainer', async () => {
    for (const layer of ['last_conv', 'c1']) {
      const g = guidedGradCam(seq.model, batch, { layer });
      expect(await maxAbsDiff(g.output, predicted), layer).toBeLessThan(TOL);
      const one = guidedGradCam(seq.model, single, { layer });
      expect(one.output.shape).toEqual([5]);
      tf.dispose([g, one]);
    }
    const explainer = createExplainer(seq.model);
    const e = explainer.gradCam(batch);
    const eg = explainer.guidedGradCam(batch);
    expect(await maxAbsDiff(e.output, predicted)).toBeLessThan(TOL);
    expect(await maxAbsDiff(eg.output, predicted)).toBeLessThan(TOL);
    tf.dispose([e, eg]);
    explainer.dispose();
  });

  it('is owned by the caller: tf.dispose(result) frees it, nothing else is left', () => {
    expectNoLeak(() => gradCam(seq.model, batch));
    expectNoLeak(() => CAM_METHODS.eigenCam(seq.model, single));
    expectNoLeak(() => guidedGradCam(seq.model, batch));
    const r: CamResult = gradCam(seq.model, batch);
    const before = tf.memory().numTensors;
    r.output.dispose();
    expect(tf.memory().numTensors).toBe(before - 1);
    expect(r.heatmap.isDisposed).toBe(false);
    tf.dispose(r);
  });
});
