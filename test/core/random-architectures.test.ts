/**
 * Seeded random architectures (issue 11's acceptance test): for each generated model and a randomly
 * chosen rank-4 layer, tfcam's public API is checked against an independent reference built from the
 * stock layers (test/helpers/random-models.ts), on the backend of the vitest project (cpu, wasm):
 *
 * (a) the activations equal what the model's own layers compute at that layer;
 * (b) dS/dA agrees with central finite differences of the reference head along random directions
 *     (see test/helpers/finite-differences.ts for the choice of eps, masks and tolerances);
 * (c) the Grad-CAM map equals the textbook formula computed from A and that checked gradient:
 *     ReLU(sum_k mean_ij(g)_k A_k), min-max `(x - min) / (1e-7 + max(x - min))`,
 *     `tf.image.resizeBilinear(x, [H, W], false, true)`, ReLU, min-max again;
 * and that no call leaks a tensor.
 *
 * The default suite runs a fixed seed set (see DEFAULT_SEEDS). `TFCAM_RANDOM_ARCH=<count>` runs `count`
 * seeds instead, from `TFCAM_RANDOM_ARCH_START` (default 1), e.g.
 * `TFCAM_RANDOM_ARCH=1000 npx vitest run --project cpu --project wasm test/core/random-architectures.test.ts`.
 * A failure names its seed and the generated architecture; `generateCase(seed)` rebuilds it exactly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { activationsAndGradients, gradCam } from '../../src/index.js';
import { checkDirectional } from '../helpers/finite-differences.js';
import type { RandomCase } from '../helpers/random-models.js';
import { TOPOLOGIES, generateCase, referenceOf } from '../helpers/random-models.js';

/**
 * The default seeds: 4 of every topology (1-36), plus seeds that caught issue 15's bugs before the
 * fixes, so the default suite keeps guarding against them: 3 and 10 (bilinear UpSampling2D on a
 * non-square map: tfjs-cpu's gradient throws), 15 and 45 (GlobalMaxPooling2D after a max pooling:
 * tied maxima, cpu and wasm), 132 and 300 (nearest UpSampling2D, batch >= 2: tfjs-cpu's gradient is
 * wrong for example 1).
 */
const DEFAULT_SEEDS = [...Array.from({ length: 4 * TOPOLOGIES.length }, (_, i) => i + 1), 45, 132, 300];
const requested = Number(process.env['TFCAM_RANDOM_ARCH'] ?? '');
const start = Number(process.env['TFCAM_RANDOM_ARCH_START'] ?? '1') || 1;
const seeds = Number.isInteger(requested) && requested > 0 ? Array.from({ length: requested }, (_, i) => start + i) : DEFAULT_SEEDS;

function maxAbs(x: Float32Array | number[]): number {
  let m = 0;
  for (const v of x) m = Math.max(m, Math.abs(v));
  return m;
}

function maxDiff(a: Float32Array | number[], b: Float32Array | number[]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Per-example min-max, pytorch-grad-cam's `scale_cam_image`. */
function minMax(m: tf.Tensor3D): tf.Tensor3D {
  const s = tf.sub(m, tf.min(m, [1, 2], true));
  return tf.div(s, tf.add(1e-7, tf.max(s, [1, 2], true))) as tf.Tensor3D;
}

/**
 * Textbook Grad-CAM from A and g: the raw ReLU map, the final map at `size`, and the magnitude of
 * the summed terms (max over pixels of sum_k |w_k A_k|: the scale of the map's rounding error).
 */
function textbook(a: tf.Tensor4D, g: tf.Tensor4D, size: [number, number]): { relu: tf.Tensor3D; final: tf.Tensor3D; terms: number } {
  return tf.tidy(() => {
    const [b, , , k] = a.shape;
    const w = tf.reshape(tf.mean(g, [1, 2]), [b, 1, 1, k]);
    const relu = tf.relu(tf.sum(tf.mul(a, w), 3)) as tf.Tensor3D;
    const resized = tf.image.resizeBilinear(tf.expandDims(minMax(relu), 3) as tf.Tensor4D, size, false, true);
    const final = minMax(tf.relu(tf.squeeze(resized, [3])) as tf.Tensor3D);
    const terms = tf.max(tf.sum(tf.abs(tf.mul(a, w)), 3)).dataSync()[0] as number;
    return { relu, final, terms };
  });
}

/** Asserts `fn` leaves the tensor count unchanged once its result is disposed. */
function noLeak<T extends tf.TensorContainer>(what: string, c: RandomCase, fn: () => T): T {
  const before = tf.memory().numTensors;
  const out = fn();
  const held = tf.memory().numTensors;
  const own = (Array.isArray(out) ? out : Object.values(out as object)).filter((t) => t instanceof tf.Tensor).length;
  expect(held - before, `${what} leaked tensors (${c.description})`).toBe(own);
  return out;
}

function runCase(seed: number): void {
  const c = generateCase(seed);
  const msg = (what: string): string =>
    `${what}\n  ${c.description}\n  reproduce: generateCase(${seed}) (TFCAM_RANDOM_ARCH_START=${seed} TFCAM_RANDOM_ARCH=1)`;
  try {
    const input = c.inputs.length === 1 ? (c.inputs[0] as tf.Tensor) : c.inputs;
    const options = { layer: c.layerPath, target: c.classes, outputIndex: c.outputIndex, logits: c.logits };
    const ag = noLeak('activationsAndGradients', c, () => activationsAndGradients(c.model, input, options));
    const ref = referenceOf(c);
    try {
      expect(ag.layer, msg('resolved layer')).toBe(c.layerPath);
      // (a) A equals what the model's own layers compute.
      const aRef = tf.tidy(() => ref.activations());
      const aScale = Math.max(1, maxAbs(aRef.dataSync() as Float32Array));
      expect(ag.activations.shape, msg('activation shape')).toEqual(aRef.shape);
      expect(
        maxDiff(ag.activations.dataSync() as Float32Array, aRef.dataSync() as Float32Array) / aScale,
        msg('activations differ from the stock layers'),
      ).toBeLessThanOrEqual(1e-5);
      // The scores are the reference head's at A.
      const sRef = tf.tidy(() => ref.score(aRef).dataSync()[0] as number);
      const sOurs = tf.sum(ag.scores).dataSync()[0] as number;
      expect(Math.abs(sOurs - sRef), msg('scores differ')).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(sRef)));
      // (b) dS/dA against central finite differences of the reference head.
      const fd = checkDirectional(ref.score, aRef, ag.gradients, { seed, alsoMask: ref.independentValues() });
      expect(
        fd.worst,
        msg(`dS/dA disagrees with finite differences (${fd.perturbed}/${fd.total} coordinates perturbed)\n  ${fd.lines.join('\n  ')}`),
      ).toBeLessThanOrEqual(1);
      // (c) Grad-CAM equals the textbook formula from A and the checked gradient.
      const size: [number, number] = [c.inputs[0]?.shape[1] as number, c.inputs[0]?.shape[2] as number];
      const expected = textbook(aRef, ag.gradients, size);
      const raw = noLeak('gradCam (raw)', c, () => gradCam(c.model, input, { ...options, normalize: false, resize: false }));
      // Relative to the size of the summed terms: float32 sums of cancelling terms round at that scale.
      const rawScale = Math.max(1e-6, expected.terms);
      expect(
        maxDiff(raw.heatmap.dataSync() as Float32Array, expected.relu.dataSync() as Float32Array) / rawScale,
        msg('ReLU(sum_k w_k A_k) differs'),
      ).toBeLessThanOrEqual(1e-5);
      const full = noLeak('gradCam', c, () => gradCam(c.model, input, options));
      expect(full.heatmap.shape, msg('heatmap shape')).toEqual([c.batch, ...size]);
      // Normalisation divides by the map's range: compare where the range is not lost in rounding.
      const per = (expected.relu.size / c.batch) | 0;
      const reluData = expected.relu.dataSync() as Float32Array;
      const ours = full.heatmap.dataSync() as Float32Array;
      const exp = expected.final.dataSync() as Float32Array;
      const perOut = size[0] * size[1];
      for (let b = 0; b < c.batch; b++) {
        const m = reluData.subarray(b * per, (b + 1) * per);
        const range = maxAbs(m) - Math.min(...m);
        if (range < 1e-2 * rawScale) continue;
        expect(
          maxDiff(ours.subarray(b * perOut, (b + 1) * perOut), exp.subarray(b * perOut, (b + 1) * perOut)),
          msg(`final map of example ${b} differs`),
        ).toBeLessThanOrEqual(1e-4);
      }
      tf.dispose([aRef, expected.relu, expected.final, raw.heatmap, raw.classIndex, raw.score, full.heatmap, full.classIndex, full.score]);
    } finally {
      tf.dispose([ag.activations, ag.gradients, ag.scores, ag.classIndex]);
    }
  } catch (e) {
    if (e instanceof Error && !e.message.includes(`generateCase(${seed})`)) e.message = `${msg('threw')}\n  ${e.message}`;
    throw e;
  } finally {
    c.dispose();
  }
}

describe(`random architectures (${seeds.length} seeds)`, () => {
  it('runs on the backend of the vitest project', () => {
    expect(['cpu', 'wasm', 'webgl', 'tensorflow']).toContain(tf.getBackend());
    expect(tf.getBackend()).toBe(process.env['TFCAM_BACKEND'] ?? tf.getBackend());
  });

  it('generates the same case from the same seed', () => {
    const a = generateCase(5);
    const b = generateCase(5);
    expect(a.description).toBe(b.description);
    expect(Array.from(a.inputs[0]?.dataSync() ?? [])).toEqual(Array.from(b.inputs[0]?.dataSync() ?? []));
    a.model.weights.forEach((w, i) =>
      expect(Array.from(w.read().dataSync())).toEqual(Array.from(b.model.weights[i]?.read().dataSync() ?? [])),
    );
    a.dispose();
    b.dispose();
  });

  it.each(seeds)('seed %i: activations, dS/dA and the Grad-CAM map match the reference', (seed) => {
    runCase(seed);
  });
});
