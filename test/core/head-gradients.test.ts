/**
 * dS/dA through the layers above the target, via the public API, against independent references:
 * regression tests for the head-gradient bugs of issue 15 (GlobalMaxPooling2D ties, UpSampling2D on
 * the cpu backend), and an audit of every layer the applier leaves to stock tfjs: each is checked
 * with batch 2, a non-square map, on the backend of the vitest project (cpu, wasm), by central
 * finite differences of the stock layers (test/helpers/finite-differences.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { activationsAndGradients } from '../../src/index.js';
import { maxAbsDiff } from '../helpers/close.js';
import { checkDirectional } from '../helpers/finite-differences.js';
import { seedWeights } from '../helpers/models.js';

type Sym = tfl.SymbolicTensor;
/** A head written once and applied both symbolically (to build the model) and to tensors (reference). */
type Head = (a: tf.Tensor | Sym) => tf.Tensor | Sym;

const ap = (layer: tfl.layers.Layer, x: tf.Tensor | Sym | Array<tf.Tensor | Sym>): tf.Tensor | Sym =>
  layer.apply(x as tf.Tensor, { training: false }) as tf.Tensor | Sym;

interface Probe {
  model: tfl.LayersModel;
  x: tf.Tensor4D;
  /** The stock reference: A, and the summed explained score of a replaced A. */
  a: () => tf.Tensor;
  score: (a: tf.Tensor) => tf.Scalar;
  classes: number[];
}

/**
 * input [B, h, w, 3] -> conv 't' (linear: no ties or kinks at A) -> head -> logits (Dense 3).
 */
function probe(head: Head, opts: { h?: number; w?: number; batch?: number; seed?: number; convFilters?: number } = {}): Probe {
  const { h = 5, w = 7, batch = 2, seed = 3, convFilters = 4 } = opts;
  const conv = tfl.layers.conv2d({ name: 't', filters: convFilters, kernelSize: 3, padding: 'same' });
  const logits = tfl.layers.dense({ name: 'logits', units: 3 });
  const flatten = tfl.layers.flatten({ name: 'flat' });
  const toLogits = (y: tf.Tensor | Sym): tf.Tensor | Sym => ap(logits, y.shape.length > 2 ? ap(flatten, y) : y);
  const input = tfl.input({ shape: [h, w, 3] });
  const model = tfl.model({ inputs: input, outputs: toLogits(head(ap(conv, input))) as Sym });
  seedWeights(model, seed);
  const x = tf.randomUniform([batch, h, w, 3], -1, 1, 'float32', seed) as tf.Tensor4D;
  const classes = Array.from({ length: batch }, (_, i) => i % 3);
  const onehot = classes.map((k) => [0, 1, 2].map((j) => (j === k ? 1 : 0)));
  return {
    model,
    x,
    classes,
    a: () => ap(conv, x) as tf.Tensor,
    score: (a) => tf.sum(tf.mul(toLogits(head(a)) as tf.Tensor, tf.tensor2d(onehot))),
  };
}

/** tfcam's dS/dA at layer 't' (and its activations). */
function tfcamGradients(p: Probe): { a: tf.Tensor4D; g: tf.Tensor4D } {
  const r = activationsAndGradients(p.model, p.x, { layer: 't', target: p.classes });
  tf.dispose([r.scores, r.classIndex]);
  return { a: r.activations, g: r.gradients };
}

/** Asserts tfcam's gradient passes the finite-difference check against the stock head. */
function expectFiniteDifferences(p: Probe, seed = 1): void {
  const { a, g } = tfcamGradients(p);
  const aRef = tf.tidy(p.a);
  expect(maxAbsDiff(a, aRef.arraySync() as number[][][][])).toBeLessThan(1e-5);
  const fd = checkDirectional(p.score, aRef, g, { seed, directions: 4 });
  expect(fd.worst, fd.lines.join('\n')).toBeLessThanOrEqual(1);
  tf.dispose([a, g, aRef, p.x]);
  p.model.dispose();
}

describe('GlobalMaxPooling2D with tied maxima (issue 15)', () => {
  /** The per-channel sum of dS/dA: what Grad-CAM's weights are proportional to. */
  function channelGradient(head: Head): number[] {
    const p = probe(head, { seed: 11 });
    const { a, g } = tfcamGradients(p);
    const out = Array.from(tf.sum(g, [0, 1, 2]).dataSync());
    tf.dispose([a, g, p.x]);
    p.model.dispose();
    return out;
  }

  it('gives GMP(A) and GMP(MaxPool(2, stride 1, same)(A)), the same function, the same gradient', () => {
    const direct = channelGradient((t) => ap(tfl.layers.globalMaxPooling2d({}), t));
    const pooled = channelGradient((t) =>
      ap(tfl.layers.globalMaxPooling2d({}), ap(tfl.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same' }), t)),
    );
    expect(maxAbsDiff(pooled, direct)).toBeLessThan(1e-5);
  });

  it('gives GMP(UpSampling2D(A)) the gradient of GMP(A) (tfjs: 4x too large)', () => {
    const direct = channelGradient((t) => ap(tfl.layers.globalMaxPooling2d({}), t));
    const up = channelGradient((t) => ap(tfl.layers.globalMaxPooling2d({}), ap(tfl.layers.upSampling2d({ size: [2, 2] }), t)));
    expect(maxAbsDiff(up, direct)).toBeLessThan(1e-5);
  });

  it("sends a constant channel's gradient to its first position only", () => {
    // A channel multiplied by zero (and shifted): every position ties.
    const p = probe((t) => ap(tfl.layers.globalMaxPooling2d({}), ap(tfl.layers.multiply({}), [t, t])), { seed: 12 });
    const { a, g } = tfcamGradients(p);
    // Through multiply(t, t): d/dA of max(A^2) sits at one position per (example, channel).
    const nonzero = tf.sum(tf.cast(tf.notEqual(g, 0), 'float32'), [1, 2]).dataSync();
    expect(Math.max(...nonzero)).toBeLessThanOrEqual(1);
    tf.dispose([a, g, p.x]);
    p.model.dispose();
  });

  it.each([
    ['UpSampling2D', (t: tf.Tensor | Sym) => ap(tfl.layers.globalMaxPooling2d({}), ap(tfl.layers.upSampling2d({ size: [2, 3] }), t))],
    [
      'MaxPooling2D(stride 1)',
      (t: tf.Tensor | Sym) =>
        ap(tfl.layers.globalMaxPooling2d({}), ap(tfl.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same' }), t)),
    ],
  ] as const)('has the finite-difference gradient after %s', (_name, head) => {
    expectFiniteDifferences(probe(head, { seed: 13 }));
  });
});

describe('UpSampling2D above the layer (issue 15)', () => {
  it.each(['nearest', 'bilinear'] as const)('%s: example 1 of a batch gets the gradient it gets alone', (interpolation) => {
    const make = (batch: number): Probe =>
      probe((t) => ap(tfl.layers.upSampling2d({ size: [2, 3], interpolation }), t), { batch, seed: 14 });
    const both = make(2);
    const alone = make(1);
    // The same weights (same seed) and example 1 of the pair as the single example.
    const x1 = tf.slice(both.x, [1], [1]);
    alone.x.dispose();
    const single = activationsAndGradients(alone.model, x1, { layer: 't', target: [1] });
    const pair = activationsAndGradients(both.model, both.x, { layer: 't', target: both.classes });
    expect(maxAbsDiff(tf.slice(pair.gradients, [1], [1]), single.gradients.arraySync())).toBeLessThan(1e-5);
    tf.dispose([x1, single, pair, both.x] as unknown as tf.Tensor[]);
    tf.dispose([
      single.activations,
      single.gradients,
      single.scores,
      single.classIndex,
      pair.activations,
      pair.gradients,
      pair.scores,
      pair.classIndex,
    ]);
    both.model.dispose();
    alone.model.dispose();
  });

  it.each([
    ['nearest', [2, 3]],
    ['nearest', [3, 1]],
    ['bilinear', [2, 3]],
    ['bilinear', [1, 2]],
    ['bilinear', [3, 3]],
  ] as const)('%s %j on a non-square map, batch 2: the finite-difference gradient', (interpolation, size) => {
    expectFiniteDifferences(probe((t) => ap(tfl.layers.upSampling2d({ size: [...size], interpolation }), t), { h: 4, w: 6, seed: 15 }));
  });
});

/**
 * Every layer the applier leaves to stock tfjs, above the layer, with batch 2 and a 5x7 map: the
 * finite-difference check. Structural ties of element-wise Maximum/Minimum (the same tensor twice,
 * or a copy through padding) are differentiable: tfjs gives the whole gradient to the first input,
 * TensorFlow's rule (PyTorch's torch.maximum splits it): the total is the same.
 */
describe('audit: stock layers above the target', () => {
  const L = tfl.layers;
  const chain =
    (...layers: tfl.layers.Layer[]): Head =>
    (t) =>
      layers.reduce((y, l) => ap(l, y), t);
  const two =
    (merge: tfl.layers.Layer, left: Head, right: Head): Head =>
    (t) =>
      ap(merge, [left(t), right(t)]);
  const id: Head = (t) => t;
  const convOf = (name: string): Head => chain(L.conv2d({ name, filters: 4, kernelSize: 1 }));
  const cases: Array<[string, () => Head]> = [
    [
      'Cropping2D',
      () =>
        chain(
          L.cropping2D({
            cropping: [
              [1, 0],
              [2, 1],
            ],
          }),
        ),
    ],
    [
      'ZeroPadding2D',
      () =>
        chain(
          L.zeroPadding2d({
            padding: [
              [1, 2],
              [0, 1],
            ],
          }),
        ),
    ],
    ['Reshape (other factorisation)', () => chain(L.reshape({ targetShape: [7, 5, 4] }))],
    ['Reshape to rank 3 + GlobalMaxPooling1D', () => chain(L.reshape({ targetShape: [35, 4] }), L.globalMaxPooling1d({}))],
    ['Reshape to rank 3 + GlobalAveragePooling1D', () => chain(L.reshape({ targetShape: [35, 4] }), L.globalAveragePooling1d({}))],
    [
      'Reshape to rank 3 + MaxPooling1D(same)',
      () => chain(L.reshape({ targetShape: [35, 4] }), L.maxPooling1d({ poolSize: 3, strides: 2, padding: 'same' })),
    ],
    [
      'Reshape to rank 3 + AveragePooling1D(same)',
      () => chain(L.reshape({ targetShape: [35, 4] }), L.averagePooling1d({ poolSize: 3, strides: 2, padding: 'same' })),
    ],
    ['Flatten', () => chain(L.flatten({}))],
    ['Permute [2,1,3]', () => chain(L.permute({ dims: [2, 1, 3] }))],
    ['Permute [3,1,2]', () => chain(L.permute({ dims: [3, 1, 2] }))],
    ['RepeatVector', () => chain(L.globalAveragePooling2d({}), L.repeatVector({ n: 3 }))],
    ['GlobalMaxPooling2D', () => chain(L.globalMaxPooling2d({}))],
    ['LeakyReLU', () => chain(L.leakyReLU({ alpha: 0.2 }))],
    ['ELU', () => chain(L.elu({}))],
    ['PReLU', () => chain(L.prelu({ alphaInitializer: 'ones' }))],
    ['PReLU (shared axes)', () => chain(L.prelu({ sharedAxes: [1, 2] }))],
    ['ThresholdedReLU', () => chain(L.thresholdedReLU({ theta: 0.1 }))],
    ['Softmax (axis -1)', () => chain(L.softmax({ axis: -1 }))],
    ['Activation tanh', () => chain(L.activation({ activation: 'tanh' }))],
    ['Activation softplus', () => chain(L.activation({ activation: 'softplus' }))],
    ['Activation selu', () => chain(L.activation({ activation: 'selu' }))],
    ['Activation hardSigmoid', () => chain(L.activation({ activation: 'hardSigmoid' }))],
    ['Activation swish', () => chain(L.activation({ activation: 'swish' }))],
    ['Activation softsign', () => chain(L.activation({ activation: 'softsign' }))],
    ['Activation mish', () => chain(L.activation({ activation: 'mish' }))],
    ['Activation gelu', () => chain(L.activation({ activation: 'gelu' }))],
    // 'logSoftmax' works at run time but is missing from tfjs-layers' ActivationIdentifier type.
    ['Activation logSoftmax', () => chain(L.activation({ activation: 'logSoftmax' as 'softmax' }))],
    ['Rescaling', () => chain(L.rescaling({ scale: 0.5, offset: 0.1 }))],
    ['Add', () => two(L.add({}), id, convOf('b'))],
    ['Multiply', () => two(L.multiply({}), id, convOf('b'))],
    ['Average', () => two(L.average({}), id, convOf('b'))],
    ['Maximum', () => two(L.maximum({}), id, convOf('b'))],
    ['Minimum', () => two(L.minimum({}), id, convOf('b'))],
    ['Maximum of a tensor with itself', () => two(L.maximum({}), id, id)],
    ['Minimum of a tensor with itself', () => two(L.minimum({}), id, id)],
    [
      'Maximum with its padded crop (ties inside)',
      () =>
        two(
          L.maximum({}),
          id,
          chain(
            L.cropping2D({
              cropping: [
                [1, 1],
                [1, 1],
              ],
            }),
            L.zeroPadding2d({
              padding: [
                [1, 1],
                [1, 1],
              ],
            }),
          ),
        ),
    ],
    ['Concatenate', () => two(L.concatenate({}), convOf('b'), id)],
    ['Concatenate (axis 2)', () => two(L.concatenate({ axis: 2 }), id, convOf('b'))],
    [
      'Dot',
      () =>
        two(L.dot({ axes: 1 }), chain(L.flatten({}), L.dense({ units: 4 })), chain(L.globalAveragePooling2d({}), L.dense({ units: 4 }))),
    ],
    [
      'Multiply with a broadcast gate (squeeze-and-excitation)',
      () =>
        two(
          L.multiply({}),
          id,
          chain(L.globalAveragePooling2d({}), L.dense({ units: 4, activation: 'sigmoid' }), L.reshape({ targetShape: [1, 1, 4] })),
        ),
    ],
    ['Conv2DTranspose', () => chain(L.conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, padding: 'same' }))],
    ['Conv1D', () => chain(L.reshape({ targetShape: [35, 4] }), L.conv1d({ filters: 3, kernelSize: 3, padding: 'same' }))],
    ['LayerNormalization', () => chain(L.layerNormalization({}))],
  ];

  // Activations a tfjs-layers release may lack (gelu came after 4.10, the lowest release tested).
  const missing = (name: string): boolean => {
    try {
      L.activation({ activation: name as 'relu' });
      return false;
    } catch {
      return true;
    }
  };
  const lacking = cases.filter(([name]) => name.startsWith('Activation ') && missing(name.slice('Activation '.length)));
  it.each(cases.filter((c) => !lacking.includes(c)))('%s: the finite-difference gradient, batch 2, 5x7', (_name, make) => {
    expectFiniteDifferences(probe(make(), { seed: 16 }));
  });
  // Reported as skipped, with the reason, where this tfjs-layers lacks some.
  for (const [name] of lacking) it.skip(`${name}: not in this tfjs-layers release`, () => {});
});
