/**
 * The node applier: how each layer is replayed under the gradient tape (the "head").
 *
 * Every per-layer special case of tfcam lives here, in one place:
 * - convolutions (Conv2D, DepthwiseConv2D, SeparableConv2D) and Dense run unfused, so their backward
 *   pass computes the input gradient only (tfjs' fused kernels eagerly compute the filter gradient
 *   too; on wasm that kernel does not even exist);
 * - optionally (wasm by default) the input gradient of a convolution is a forward convolution with
 *   the flipped kernel (see gradops.ts);
 * - BatchNormalization is explicit tensor math (tfjs 4.22 crashes under a tape with `scale: false`,
 *   tfjs#2868);
 * - AveragePooling2D with 'same' padding gets a gradient that excludes padded cells, like its forward;
 * - MaxPooling2D routes each window's gradient to its first maximum on every backend (wasm picks the
 *   last one; ties are common after ReLU);
 * - GlobalAveragePooling2D gets a one-broadcast gradient (tfjs' Mean gradient allocates three
 *   activation-sized tensors);
 * - GlobalMaxPooling2D/1D route each channel's gradient to its first maximum (row-major over h, w),
 *   on every backend: tfjs' Max gradient gives the full gradient to every tied maximum (n times too
 *   much after UpSampling2D, a stride-1 'same' MaxPooling2D, or over a constant channel);
 * - MaxPooling1D and AveragePooling1D('same') get the 2-D rules above (tfjs-layers runs them as 2-D
 *   poolings over [B, steps, 1, C]);
 * - UpSampling2D (either data format) gets the gradient of what it computes: nearest, one AvgPool of
 *   the upstream gradient on every backend (tfjs-backend-cpu's is wrong for every example but the
 *   first: batch stride bug); bilinear, the backend's own gradient kernel with its result reshaped
 *   (tfjs-backend-cpu's labels it [B, W, H, C]: tfjs' stock gradient throws on non-square maps);
 * - ThresholdedReLU gets its gradient (tfjs has none for the `Greater` it is built from);
 * - the explained output's softmax/sigmoid is skipped when explaining logits;
 * - guided backpropagation swaps ReLU-like activations for guided ones.
 * Every other layer is applied with `layer.apply(x, { training: false })`; its tfjs gradient was
 * audited for ties, batch > 1, non-square maps, cpu and wasm (test/core/head-gradients.test.ts). Tie
 * rule kept from tfjs: element-wise `Maximum`/`Minimum` give a tied position's whole gradient to
 * the first input (TensorFlow's rule; PyTorch's `torch.maximum` splits it evenly). Ties between
 * inputs that are the same tensor (or copies of it) are differentiable, and both rules give the same
 * total; other exact ties are kinks with no gradient to match.
 *
 * Nothing here touches the model: weights are read, never written; no property is set on any layer.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { capabilities } from '../../core/capabilities.js';
import type { KernelCache } from '../../core/kernel-cache.js';
import type { Step } from './graph.js';
import type { ActivationLike, LayerOf, LayerWith, ReplayedClass } from './keras-types.js';
import { readWeight } from './keras-types.js';
import {
  avgPoolSame,
  conv2dForwardGrad,
  denseForwardGrad,
  depthwiseForwardGrad,
  globalAveragePool,
  globalMaxPoolFirstMax,
  maxFirstMax,
  maxPoolFirstMax,
  unaryCustomGrad,
  thresholdedRelu,
  upsampleBilinear,
  upsampleNearest,
} from '../../core/gradops.js';

type Pair = [number, number];

/** Per-run choices of the applier. */
export interface ApplyContext {
  /** The step whose output activation (softmax/sigmoid) is skipped, or null. */
  readonly stripActivationOf: Step | null;
  /** Replace ReLU-like units by guided ReLUs (Springenberg et al. 2015). */
  readonly guided: boolean;
  /** Compute convolution input gradients with forward convolutions (flipped kernels). */
  readonly forwardConvGrad: boolean;
  /**
   * Prepared kernels kept between calls (an explainer's): the forward-convolution input gradients
   * of the model's convolution weights take their flipped kernels from it. Absent: made per call.
   */
  readonly kernels?: KernelCache | undefined;
  /** The public function running (for error messages). */
  readonly fn?: string | undefined;
  /**
   * Set for the one step whose pre-activation value is tapped (FullGrad): the convolution appliers
   * pass it `conv + bias` (channels-last) before the activation, BatchNormalization its output; what
   * it returns is used instead. Absent: nothing is tapped.
   */
  readonly preActivation?: ((z: tf.Tensor) => tf.Tensor) | undefined;
}

/** `z` through the pre-activation tap, if any. */
function preActivation(ctx: ApplyContext, z: tf.Tensor): tf.Tensor {
  return ctx.preActivation === undefined ? z : ctx.preActivation(z);
}

/** Activation names that are skipped when explaining the pre-activation score. */
const SQUASHING = new Set(['softmax', 'sigmoid']);

function pair(v: unknown, fallback: number): Pair {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length >= 2) return [Number(v[0]), Number(v[1])];
  if (Array.isArray(v) && v.length === 1) return [Number(v[0]), Number(v[0])];
  return [fallback, fallback];
}

/**
 * ReLU6 as one `Relu6` op (tfjs-layers applies `relu` then `clipByValue`, whose gradient takes four
 * comparison/select kernels). On wasm, whose comparison kernels are several times slower than its
 * float ones, the gradient mask `(0, 6]` (tfjs' Relu6 rule) is built from `step`s.
 */
export function relu6(x: tf.Tensor): tf.Tensor {
  if (!capabilities().slowComparisons) return tf.relu6(x);
  const op = unaryCustomGrad((input: tf.Tensor, save: tf.GradSaveFunc) => {
    save([input]);
    return {
      value: tf.relu6(input),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const xs = saved[0] as tf.Tensor;
          return tf.mul(dy, tf.sub(tf.step(xs), tf.step(tf.sub(xs, 6))));
        }),
    };
  });
  return op(x);
}

/** A ReLU (optionally capped at `maxValue`) whose gradient passes only positive gradients. */
export function guidedRelu(x: tf.Tensor, maxValue: number | null): tf.Tensor {
  const op = unaryCustomGrad((input: tf.Tensor, save: tf.GradSaveFunc) => {
    save([input]);
    const value = maxValue == null ? tf.relu(input) : tf.clipByValue(tf.relu(input), 0, maxValue);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const xs = saved[0] as tf.Tensor;
          // relu(dy) * [x > 0] (* [x < max]), with float kernels (wasm's comparisons are slow).
          let mask = tf.step(xs);
          if (maxValue != null) mask = tf.mul(mask, tf.step(tf.sub(maxValue, xs)));
          return tf.mul(tf.relu(dy), mask);
        }),
    };
  });
  return op(x);
}

function activationName(act: unknown): string | null {
  const a = act as ActivationLike | null | undefined;
  return a != null && typeof a.getClassName === 'function' ? a.getClassName() : null;
}

/** Applies a tfjs-layers activation object with tfcam's substitutions. */
function activate(act: unknown, x: tf.Tensor, ctx: ApplyContext, strip: boolean): tf.Tensor {
  const name = activationName(act);
  if (name === null || name === 'linear') return x;
  if (strip && SQUASHING.has(name)) return x;
  if (ctx.guided && name === 'relu') return guidedRelu(x, null);
  if (ctx.guided && name === 'relu6') return guidedRelu(x, 6);
  if (name === 'relu6') return relu6(x);
  return (act as ActivationLike).apply(x);
}

function addBias(layer: LayerWith<'useBias' | 'bias'>, y: tf.Tensor): tf.Tensor {
  if (layer.useBias === false) return y;
  const bias = readWeight(layer.bias);
  return bias === null ? y : tf.add(y, bias);
}

function channelsLast(layer: LayerWith<'dataFormat'>): boolean {
  const f = layer.dataFormat;
  return f === undefined || f === null || f === 'channelsLast';
}

/**
 * Applies an NHWC convolution `f` (bias included) to a layer's input in its own data format: a
 * channels-first input is transposed to NHWC and back, as tfjs-layers does, so channels-first
 * convolutions get tfcam's gradients too (stock ones need kernels wasm lacks). Null for unknown
 * formats.
 */
function inNhwc(layer: LayerWith<'dataFormat'>, x: tf.Tensor4D, f: (nhwc: tf.Tensor4D) => tf.Tensor): tf.Tensor | null {
  if (channelsLast(layer)) return f(x);
  if (layer.dataFormat !== 'channelsFirst') return null;
  return tf.transpose(f(tf.transpose(x, [0, 2, 3, 1])), [0, 3, 1, 2]);
}

function paddingOf(layer: LayerWith<'padding'>): 'same' | 'valid' | null {
  const p = layer.padding;
  return p === 'same' || p === 'valid' ? p : null;
}

/** How one class is replayed: null to fall back to the layer's own `apply`. */
type Applier<C extends ReplayedClass> = (layer: LayerOf<C>, inputs: tf.Tensor[], ctx: ApplyContext, strip: boolean) => tf.Tensor | null;

const conv2d: Applier<'Conv2D'> = (layer, [x], ctx, strip) => {
  const kernel = readWeight(layer.kernel);
  const padding = paddingOf(layer);
  if (x === undefined || x.rank !== 4 || kernel === null || kernel.rank !== 4 || padding === null) return null;
  if (layer.rank !== 2) return null;
  const strides = pair(layer.strides, 1);
  const dilations = pair(layer.dilationRate, 1);
  const k = kernel as tf.Tensor4D;
  // tfjs cannot differentiate dilated convolutions: those always use the forward-conv gradient.
  const y = inNhwc(layer, x as tf.Tensor4D, (v) =>
    preActivation(
      ctx,
      addBias(
        layer,
        ctx.forwardConvGrad || dilations[0] > 1 || dilations[1] > 1
          ? conv2dForwardGrad(v, k, strides, padding, dilations, ctx.kernels)
          : tf.conv2d(v, k, strides, padding, 'NHWC', dilations),
      ),
    ),
  );
  return y === null ? null : activate(layer.activation, y, ctx, strip);
};

function depthwise(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  strides: Pair,
  padding: 'same' | 'valid',
  dilations: Pair,
  ctx: ApplyContext,
): tf.Tensor4D {
  return ctx.forwardConvGrad || dilations[0] > 1 || dilations[1] > 1
    ? depthwiseForwardGrad(x, kernel, strides, padding, dilations, ctx.kernels)
    : tf.depthwiseConv2d(x, kernel, strides, padding, 'NHWC', dilations);
}

const depthwiseConv2d: Applier<'DepthwiseConv2D'> = (layer, [x], ctx, strip) => {
  const kernel = readWeight(layer.depthwiseKernel);
  const padding = paddingOf(layer);
  if (x === undefined || x.rank !== 4 || kernel === null || padding === null) return null;
  // tfjs-layers' DepthwiseConv2D ignores dilationRate; replay what the model computes.
  const y = inNhwc(layer, x as tf.Tensor4D, (v) =>
    preActivation(ctx, addBias(layer, depthwise(v, kernel as tf.Tensor4D, pair(layer.strides, 1), padding, [1, 1], ctx))),
  );
  return y === null ? null : activate(layer.activation, y, ctx, strip);
};

const separableConv2d: Applier<'SeparableConv2D'> = (layer, [x], ctx, strip) => {
  const dk = readWeight(layer.depthwiseKernel);
  const pk = readWeight(layer.pointwiseKernel);
  const padding = paddingOf(layer);
  if (x === undefined || x.rank !== 4 || dk === null || pk === null || padding === null) return null;
  if (!channelsLast(layer) || layer.rank !== 2) return null;
  const dilations = pair(layer.dilationRate, 1);
  const d = depthwise(x as tf.Tensor4D, dk as tf.Tensor4D, pair(layer.strides, 1), padding, dilations, ctx);
  const p = ctx.forwardConvGrad
    ? conv2dForwardGrad(d, pk as tf.Tensor4D, [1, 1], 'valid', [1, 1], ctx.kernels)
    : tf.conv2d(d, pk as tf.Tensor4D, 1, 'valid', 'NHWC');
  return activate(layer.activation, preActivation(ctx, addBias(layer, p)), ctx, strip);
};

const dense: Applier<'Dense'> = (layer, [x], ctx, strip) => {
  const kernel = readWeight(layer.kernel);
  if (x === undefined || kernel === null || kernel.rank !== 2 || x.rank < 2) return null;
  let y: tf.Tensor;
  // On wasm, the input gradient as (W . dy^T)^T: XNNPACK then packs the kernel once (gradops).
  const product = capabilities().slowTransposedMatMul ? denseForwardGrad : (a: tf.Tensor2D, k: tf.Tensor2D): tf.Tensor => tf.matMul(a, k);
  if (x.rank === 2) {
    y = product(x as tf.Tensor2D, kernel as tf.Tensor2D);
  } else {
    const lead = x.shape.slice(0, -1);
    const flat = tf.reshape(x, [-1, x.shape[x.rank - 1] as number]) as tf.Tensor2D;
    y = tf.reshape(product(flat, kernel as tf.Tensor2D), [...lead, kernel.shape[1] as number]);
  }
  return activate(layer.activation, addBias(layer, y), ctx, strip);
};

const batchNormalization: Applier<'BatchNormalization'> = (layer, [x], ctx) => {
  const mean = readWeight(layer.movingMean);
  const variance = readWeight(layer.movingVariance);
  if (x === undefined || mean === null || variance === null) return null;
  const gamma = layer.scale === false ? null : readWeight(layer.gamma);
  const beta = layer.center === false ? null : readWeight(layer.beta);
  const eps = typeof layer.epsilon === 'number' ? layer.epsilon : 1e-3;
  let axis = typeof layer.axis === 'number' ? layer.axis : -1;
  if (axis < 0) axis += x.rank;
  const shape = new Array<number>(x.rank).fill(1);
  shape[axis] = x.shape[axis] as number;
  const bc = (t: tf.Tensor): tf.Tensor => (axis === x.rank - 1 ? t : tf.reshape(t, shape));
  // x * f + (beta - mean * f): two ops on the activation; the rest are per-channel vectors, folded
  // in every call (on the tape), or by an explainer once per value of the weights.
  const fold = (): [tf.Tensor, tf.Tensor] => {
    let f = tf.rsqrt(tf.add(variance, eps));
    if (gamma !== null) f = tf.mul(f, gamma);
    let s = tf.neg(tf.mul(mean, f));
    if (beta !== null) s = tf.add(s, beta);
    return [f, s];
  };
  const cache = ctx.kernels;
  const sources = [mean, ...(gamma === null ? [] : [gamma]), ...(beta === null ? [] : [beta])];
  const [factor, shift] =
    cache === undefined
      ? fold()
      : [
          cache.get(variance, `batch-norm-factor:${eps}`, () => fold()[0], sources),
          cache.get(variance, `batch-norm-shift:${eps}`, () => fold()[1], sources),
        ];
  const y = tf.add(tf.mul(x, bc(factor)), bc(shift));
  if (ctx.preActivation === undefined) return y;
  // The tap sees channels-last values.
  if (axis === x.rank - 1) return ctx.preActivation(y);
  if (x.rank !== 4 || axis !== 1) return null;
  return tf.transpose(ctx.preActivation(tf.transpose(y, [0, 2, 3, 1])), [0, 3, 1, 2]);
};

const averagePooling2d: Applier<'AveragePooling2D'> = (layer, [x]) => {
  if (x === undefined || x.rank !== 4 || paddingOf(layer) !== 'same' || !channelsLast(layer)) return null;
  const poolSize = pair(layer.poolSize, 2);
  const strides = layer.strides == null ? poolSize : pair(layer.strides, 1);
  return avgPoolSame(x as tf.Tensor4D, poolSize, strides);
};

const maxPooling2d: Applier<'MaxPooling2D'> = (layer, [x]) => {
  const padding = paddingOf(layer);
  if (x === undefined || x.rank !== 4 || padding === null || !channelsLast(layer)) return null;
  const poolSize = pair(layer.poolSize, 2);
  const strides = layer.strides == null ? poolSize : pair(layer.strides, 1);
  return maxPoolFirstMax(x as tf.Tensor4D, poolSize, strides, padding);
};

const globalAveragePooling2d: Applier<'GlobalAveragePooling2D'> = (layer, [x]) => {
  if (x === undefined || x.rank !== 4 || !channelsLast(layer)) return null;
  return globalAveragePool(x as tf.Tensor4D);
};

const globalMaxPooling2d: Applier<'GlobalMaxPooling2D'> = (layer, [x]) => {
  if (x === undefined || x.rank !== 4) return null;
  if (channelsLast(layer)) return globalMaxPoolFirstMax(x as tf.Tensor4D);
  if (layer.dataFormat !== 'channelsFirst') return null;
  const [b, c, h, w] = x.shape as [number, number, number, number];
  // [B, C, H*W] -> [B, H*W, C]: positions on axis 1, row-major as in the channels-last case.
  return maxFirstMax(tf.transpose(tf.reshape(x, [b, c, h * w]), [0, 2, 1]) as tf.Tensor3D);
};

const globalMaxPooling1d: Applier<'GlobalMaxPooling1D'> = (_layer, [x]) => {
  if (x === undefined || x.rank !== 3) return null;
  return maxFirstMax(x as tf.Tensor3D);
};

/** Pooling1D runs a 2-D pooling on `[B, steps, 1, C]` (tfjs-layers' own expansion). */
function pool1dArgs(layer: LayerOf<'MaxPooling1D' | 'AveragePooling1D'>): { pool: Pair; strides: Pair } {
  const pool = pair(layer.poolSize, 2)[0];
  const stride = layer.strides == null ? pool : pair(layer.strides, 1)[0];
  return { pool: [pool, 1], strides: [stride, 1] };
}

const maxPooling1d: Applier<'MaxPooling1D'> = (layer, [x]) => {
  const padding = paddingOf(layer);
  if (x === undefined || x.rank !== 3 || padding === null) return null;
  const { pool, strides } = pool1dArgs(layer);
  return tf.squeeze(maxPoolFirstMax(tf.expandDims(x, 2) as tf.Tensor4D, pool, strides, padding), [2]);
};

const averagePooling1d: Applier<'AveragePooling1D'> = (layer, [x]) => {
  if (x === undefined || x.rank !== 3 || paddingOf(layer) !== 'same') return null;
  const { pool, strides } = pool1dArgs(layer);
  return tf.squeeze(avgPoolSame(tf.expandDims(x, 2) as tf.Tensor4D, pool, strides), [2]);
};

const upSampling2d: Applier<'UpSampling2D'> = (layer, [x]) => {
  if (x === undefined || x.rank !== 4) return null;
  const size = pair(layer.size, 2);
  if (!size.every((f) => Number.isInteger(f) && f >= 1)) return null;
  const interpolation = layer.interpolation ?? 'nearest';
  if (interpolation !== 'nearest' && interpolation !== 'bilinear') return null;
  const up = interpolation === 'nearest' ? upsampleNearest : upsampleBilinear;
  return inNhwc(layer, x as tf.Tensor4D, (v) => up(v, size));
};

const thresholdedReluLayer: Applier<'ThresholdedReLU'> = (layer, [x]) => {
  if (x === undefined) return null;
  return thresholdedRelu(x, typeof layer.theta === 'number' ? layer.theta : 1);
};

const activationLayer: Applier<'Activation'> = (layer, [x], ctx, strip) => {
  if (x === undefined) return null;
  return activate(layer.activation, x, ctx, strip);
};

const reluLayer: Applier<'ReLU'> = (layer, [x], ctx) => {
  if (x !== undefined && !ctx.guided && layer.maxValue === 6) return relu6(x);
  if (x === undefined || !ctx.guided) return null;
  const max = layer.maxValue;
  return guidedRelu(x, typeof max === 'number' ? max : null);
};

const softmaxLayer: Applier<'Softmax'> = (_layer, [x], _ctx, strip) => (strip && x !== undefined ? x : null);

const APPLIERS: { readonly [C in ReplayedClass]: Applier<C> } = {
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  Dense: dense,
  BatchNormalization: batchNormalization,
  AveragePooling2D: averagePooling2d,
  MaxPooling2D: maxPooling2d,
  GlobalAveragePooling2D: globalAveragePooling2d,
  GlobalMaxPooling2D: globalMaxPooling2d,
  GlobalMaxPooling1D: globalMaxPooling1d,
  MaxPooling1D: maxPooling1d,
  AveragePooling1D: averagePooling1d,
  UpSampling2D: upSampling2d,
  ThresholdedReLU: thresholdedReluLayer,
  Activation: activationLayer,
  ReLU: reluLayer,
  Softmax: softmaxLayer,
};

/** Replays one step under tfcam's rules; returns its output tensors. */
export function applyStep(step: Step, inputs: tf.Tensor[], ctx: ApplyContext): tf.Tensor[] {
  const strip = ctx.stripActivationOf === step;
  const special = (APPLIERS as Readonly<Record<string, Applier<ReplayedClass>>>)[step.layer.getClassName()];
  if (special !== undefined) {
    const y = special(step.layer as LayerOf<ReplayedClass>, inputs, ctx, strip);
    if (y !== null) return [y];
  }
  return applyStock(step, inputs);
}

/** Applies a step with the layer's own implementation, in inference mode. */
export function applyStock(step: Step, inputs: tf.Tensor[]): tf.Tensor[] {
  const arg = inputs.length === 1 ? (inputs[0] as tf.Tensor) : inputs;
  const out = step.layer.apply(arg, { ...step.callArgs, training: false });
  return Array.isArray(out) ? out : [out];
}

/**
 * The bias FullGrad sums over for a step, or null: a 2-D convolution's (Conv2D, DepthwiseConv2D,
 * SeparableConv2D's pointwise part) when it has one, a BatchNormalization's effective bias
 * `beta - mean * gamma / sqrt(var + eps)` (pytorch-grad-cam's). Returns a function making the `[C]`
 * tensor (in the caller's scope); only for rank-4 outputs.
 */
export function biasOfStep(step: Step): (() => tf.Tensor1D) | null {
  if ((step.outputShapes[0]?.length ?? 0) !== 4) return null;
  const name = step.layer.getClassName();
  if (name === 'Conv2D' || name === 'DepthwiseConv2D' || name === 'SeparableConv2D') {
    const layer = step.layer as LayerWith<'useBias' | 'bias'>;
    if (layer.useBias === false) return null;
    const bias = readWeight(layer.bias);
    return bias === null ? null : () => tf.clone(bias) as tf.Tensor1D;
  }
  if (name !== 'BatchNormalization') return null;
  const layer = step.layer as LayerOf<'BatchNormalization'>;
  const mean = readWeight(layer.movingMean);
  const variance = readWeight(layer.movingVariance);
  if (mean === null || variance === null) return null;
  const gamma = layer.scale === false ? null : readWeight(layer.gamma);
  const beta = layer.center === false ? null : readWeight(layer.beta);
  const eps = typeof layer.epsilon === 'number' ? layer.epsilon : 1e-3;
  return () =>
    tf.tidy(() => {
      const scaled = tf.div(gamma === null ? mean : tf.mul(mean, gamma), tf.sqrt(tf.add(variance, eps)));
      return (beta === null ? tf.neg(scaled) : tf.sub(beta, scaled)) as tf.Tensor1D;
    });
}

/**
 * The squashing the step's layer ends in, which explaining "logits" skips (null for none):
 * `Dense`/conv layers with `activation: 'softmax' | 'sigmoid'`, `Activation('softmax' | 'sigmoid')`
 * and `Softmax` layers.
 */
export function squashingOf(step: Step): 'softmax' | 'sigmoid' | null {
  if (step.layer.getClassName() === 'Softmax') return 'softmax';
  const name = activationName((step.layer as LayerWith<'activation'>).activation);
  return name === 'softmax' || name === 'sigmoid' ? name : null;
}

/**
 * True when guided backpropagation may change the step's gradient: a ReLU layer, or a layer whose
 * activation is `relu` or `relu6`. Conservative: a layer the applier does not replay counts too when
 * it has such an activation.
 */
export function guidedRuleApplies(step: Step): boolean {
  if (step.layer.getClassName() === 'ReLU') return true;
  const name = activationName((step.layer as LayerWith<'activation'>).activation);
  return name === 'relu' || name === 'relu6';
}
