/**
 * The hand-written optimum: the fastest and leanest Grad-CAM we know how to write by hand in tfjs,
 * for the layer types of MobileNetV2 and InceptionV3. It is the anchor tfcam's `gradCam` is held to,
 * so it is written independently of tfcam (no import from src/): its own graph walk (bench/graph.ts),
 * its own head ops, its own combination.
 *
 * 1. Body, outside any gradient tape: the layers below the target (and only those the head needs) run
 *    with their own `layer.apply` (fused kernels), one `tf.tidy` per layer, each output freed after
 *    its last consumer.
 * 2. Head, under `tf.valueAndGrad(A => score)`: the layers downstream of the target are replayed with
 *    plain tfjs ops chosen for their gradients:
 *    - Conv2D / DepthwiseConv2D unfused (`tf.conv2d`, bias, activation), so the backward pass computes
 *      the input gradient only; with `forwardConvGrad` (the default on wasm) the input gradient is a
 *      forward convolution of the zero-dilated, padded upstream gradient with the flipped kernel
 *      (`tf.customGrad`), since wasm's Conv2DBackpropInput is a scalar loop and it has no
 *      DepthwiseConv2dNativeBackpropInput at all;
 *    - BatchNormalization as `x * s + t` with `s`, `t` folded from the moving statistics once, at
 *      preparation time;
 *    - AveragePooling2D('same', stride 1, odd window) with its true gradient
 *      `count * avgPool(dy / count)` (tfjs' AvgPoolGrad is wrong at the borders), the count map
 *      precomputed;
 *    - GlobalAveragePooling2D with a one-broadcast gradient;
 *    - ReLU6 (MobileNetV2) on wasm with a gradient mask made of float ops (`step(x) - step(x - 6)`):
 *      tfjs-wasm's comparison kernels are several times slower than its float elementwise ones;
 *    - MaxPooling2D, Concatenate, Add, ZeroPadding2D, ReLU, Dense: the stock tfjs ops;
 *    - the classifier's softmax skipped (the logit is explained), the score picked with a one-hot
 *      product (wasm has no UnsortedSegmentSum, so `tf.gather` is not differentiable there).
 * 3. The vectorised combination: `w = mean_ij dS/dA`, `cam = sum_k w_k A_k`, ReLU, per-example
 *    min-max, bilinear resize with half-pixel centres, ReLU and min-max again. dS/dA is freed before
 *    the combination.
 *
 * Everything that does not depend on the input (folded BatchNorm constants, flipped kernels, count
 * maps) is computed once by `prepare*` and is not part of the measured call.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { LayerCall } from './graph.js';
import { lastUses, layerCalls, splitAt } from './graph.js';

type Pair = [number, number];
type HeadOp = (inputs: tf.Tensor[]) => tf.Tensor;

/** How the optimum computes convolution input gradients. */
export interface OptimumOptions {
  /** Input gradients of convolutions as forward convolutions with flipped kernels (default: wasm only). */
  forwardConvGrad?: boolean;
  /** ReLU6 gradient mask from float ops instead of comparisons (default: wasm only). */
  floatMaskRelu6?: boolean;
  /**
   * With `forwardConvGrad`: flip the kernels in every backward pass (with slices, not `tf.reverse`)
   * instead of once at preparation, as a function that keeps nothing between calls must (tfcam's
   * gradCam). Default false.
   */
  perCallKernels?: boolean;
}

/** A prepared contender: `run` is the measured call; `dispose` frees the prepared constants. */
export interface Prepared<R extends tf.TensorContainer> {
  run(x: tf.Tensor4D): R;
  dispose(): void;
}

/** Grad-CAM result of the optimum (same content as tfcam's CamResult for a batch). */
export interface OptimumCam {
  heatmap: tf.Tensor3D;
  classIndex: tf.Tensor1D;
  score: tf.Tensor1D;
  [key: string]: tf.Tensor;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function weight(layer: tfl.layers.Layer, suffix: string): tf.Tensor | null {
  const w = layer.weights.find((v) => v.name.endsWith(`/${suffix}`) || v.originalName.endsWith(`/${suffix}`));
  return w === undefined ? null : w.read();
}

function pairOf(v: unknown, fallback: number): Pair {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length >= 2) return [Number(v[0]), Number(v[1])];
  if (Array.isArray(v) && v.length === 1) return [Number(v[0]), Number(v[0])];
  return [fallback, fallback];
}

function config(layer: tfl.layers.Layer): Record<string, unknown> {
  return layer.getConfig() as Record<string, unknown>;
}

/** Leading (top/left) padding TensorFlow applies for 'same'. */
function leadingPad(size: number, kernel: number, stride: number, padding: string): number {
  if (padding !== 'same') return 0;
  const out = Math.ceil(size / stride);
  return Math.floor(Math.max((out - 1) * stride + kernel - size, 0) / 2);
}

/**
 * The upstream gradient `dy` ([B,oh,ow,C]) zero-dilated by the stride and padded (or cropped) so that
 * a stride-1 'valid' correlation with the flipped kernel yields the input gradient ([B,h,w,...]).
 */
function upstreamForInputGrad(dy: tf.Tensor4D, inputHW: Pair, kernel: Pair, strides: Pair, padding: string): tf.Tensor4D {
  const [b, oh, ow, c] = dy.shape;
  const [sh, sw] = strides;
  let d: tf.Tensor4D = dy;
  if (sh > 1 || sw > 1) {
    const six = tf.reshape(dy, [b, oh, 1, ow, 1, c]);
    const padded = tf.pad(six, [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
    d = tf.reshape(padded, [b, oh * sh, ow * sw, c]);
  }
  const [h, w] = inputHW;
  const top = kernel[0] - 1 - leadingPad(h, kernel[0], sh, padding);
  const left = kernel[1] - 1 - leadingPad(w, kernel[1], sw, padding);
  const bottom = h + kernel[0] - 1 - top - d.shape[1];
  const right = w + kernel[1] - 1 - left - d.shape[2];
  if (top > 0 || left > 0 || bottom > 0 || right > 0) {
    d = tf.pad(d, [
      [0, 0],
      [Math.max(top, 0), Math.max(bottom, 0)],
      [Math.max(left, 0), Math.max(right, 0)],
      [0, 0],
    ]);
  }
  if (top < 0 || left < 0 || bottom < 0 || right < 0) {
    const t = Math.max(-top, 0);
    const l = Math.max(-left, 0);
    d = tf.slice(d, [0, t, l, 0], [b, d.shape[1] - t - Math.max(-bottom, 0), d.shape[2] - l - Math.max(-right, 0), c]);
  }
  return d;
}

type Unary = (x: tf.Tensor) => tf.Tensor;

/**
 * `kernel` reversed along both spatial axes, for per-call preparation: `tf.reverse` is a per-element
 * loop on wasm, so the kh*kw taps are sliced and concatenated in reverse order instead (a 1x1 kernel
 * is its own flip).
 */
function flipBySlices(kernel: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, a, b] = kernel.shape;
  if (kh * kw === 1) return kernel;
  return tf.tidy(() => {
    const taps = tf.reshape(kernel, [kh * kw, a * b]);
    const rows = Array.from({ length: kh * kw }, (_, i) => tf.slice(taps, [kh * kw - 1 - i, 0], [1, a * b]));
    return tf.reshape(tf.concat(rows, 0), [kh, kw, a, b]) as tf.Tensor4D;
  });
}

function customUnary(
  f: (x: tf.Tensor, save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor },
): Unary {
  const op = tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]);
  return (x) => op(x);
}

// ---------------------------------------------------------------------------------------------
// Head ops, one builder per layer class. Constants are created here (outside the measured call)
// and registered in `consts` for disposal.

interface BuildContext {
  forwardConvGrad: boolean;
  /** ReLU6 with a float-op gradient mask (faster on wasm; on cpu the stock Relu6 gradient is faster). */
  floatMaskRelu6: boolean;
  /** Flip kernels per call (see {@link OptimumOptions.perCallKernels}). */
  perCallKernels: boolean;
  /** Name of the output layer: its softmax/sigmoid is skipped. */
  outputLayer: string;
  consts: tf.Tensor[];
}

function keepConst<T extends tf.Tensor>(ctx: BuildContext, t: T): T {
  const k = tf.keep(t);
  ctx.consts.push(k);
  return k;
}

/**
 * ReLU6 whose gradient mask is made of float ops, `dy * (step(x) - step(x - 6))` (the same mask as
 * tfjs' Relu6 gradient, `x in (0, 6]`): tfjs-wasm's comparison kernels (LessEqual, Greater,
 * LogicalAnd) are several times slower than its float elementwise kernels.
 */
const relu6FloatMask: Unary = customUnary((x, save) => {
  save([x]);
  return {
    value: tf.relu6(x),
    gradFunc: (dy, saved) => {
      const xs = saved[0] as tf.Tensor;
      return tf.tidy(() => tf.mul(dy, tf.sub(tf.step(xs), tf.step(tf.sub(xs, 6)))));
    },
  };
});

function relu6Op(ctx: BuildContext): Unary {
  return ctx.floatMaskRelu6 ? relu6FloatMask : (x) => tf.relu6(x);
}

function activation(name: unknown, isOutput: boolean, ctx: BuildContext): Unary {
  switch (name) {
    case undefined:
    case null:
    case 'linear':
      return (x) => x;
    case 'relu':
      return (x) => tf.relu(x);
    case 'relu6':
      return relu6Op(ctx);
    case 'softmax':
      return isOutput ? (x) => x : (x) => tf.softmax(x);
    case 'sigmoid':
      return isOutput ? (x) => x : (x) => tf.sigmoid(x);
    default:
      throw new Error(`bench optimum: unsupported activation '${String(name)}'`);
  }
}

function conv2dOp(call: LayerCall, ctx: BuildContext): HeadOp {
  const cfg = config(call.layer);
  const kernel = weight(call.layer, 'kernel') as tf.Tensor4D;
  const bias = cfg['useBias'] === false ? null : weight(call.layer, 'bias');
  const strides = pairOf(cfg['strides'], 1);
  const padding = cfg['padding'] as 'same' | 'valid';
  const dil = pairOf(cfg['dilationRate'], 1);
  if (dil[0] !== 1 || dil[1] !== 1) throw new Error(`bench optimum: dilated conv '${call.name}' is not supported`);
  const act = activation(cfg['activation'], call.name === ctx.outputLayer, ctx);
  const [kh, kw] = kernel.shape;
  let conv: (x: tf.Tensor4D) => tf.Tensor4D;
  if (ctx.forwardConvGrad) {
    const prepare = (): tf.Tensor4D => tf.tidy(() => tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D);
    const perCall = (): tf.Tensor4D => tf.tidy(() => tf.transpose(flipBySlices(kernel), [0, 1, 3, 2]) as tf.Tensor4D);
    const flipped = ctx.perCallKernels ? null : keepConst(ctx, prepare());
    conv = (x) => {
      const hw: Pair = [x.shape[1], x.shape[2]];
      return customUnary((input) => ({
        value: tf.conv2d(input as tf.Tensor4D, kernel, strides, padding),
        gradFunc: (dy) =>
          tf.tidy(() =>
            tf.conv2d(upstreamForInputGrad(dy as tf.Tensor4D, hw, [kh, kw], strides, padding), flipped ?? perCall(), 1, 'valid'),
          ),
      }))(x) as tf.Tensor4D;
    };
  } else {
    conv = (x) => tf.conv2d(x, kernel, strides, padding);
  }
  return ([x]) => {
    let y: tf.Tensor = conv(x as tf.Tensor4D);
    if (bias !== null) y = tf.add(y, bias);
    return act(y);
  };
}

function depthwiseOp(call: LayerCall, ctx: BuildContext): HeadOp {
  const cfg = config(call.layer);
  const kernel = weight(call.layer, 'depthwise_kernel') as tf.Tensor4D;
  const bias = cfg['useBias'] === false ? null : weight(call.layer, 'bias');
  const strides = pairOf(cfg['strides'], 1);
  const padding = cfg['padding'] as 'same' | 'valid';
  const act = activation(cfg['activation'], call.name === ctx.outputLayer, ctx);
  const [kh, kw, , m] = kernel.shape;
  let conv: (x: tf.Tensor4D) => tf.Tensor4D;
  if (ctx.forwardConvGrad) {
    if (m !== 1) throw new Error(`bench optimum: depthwise multiplier ${m} is not supported`);
    const flipped = ctx.perCallKernels ? null : keepConst(ctx, tf.reverse(kernel, [0, 1]) as tf.Tensor4D);
    conv = (x) => {
      const hw: Pair = [x.shape[1], x.shape[2]];
      return customUnary((input) => ({
        value: tf.depthwiseConv2d(input as tf.Tensor4D, kernel, strides, padding),
        gradFunc: (dy) =>
          tf.tidy(() =>
            tf.depthwiseConv2d(
              upstreamForInputGrad(dy as tf.Tensor4D, hw, [kh, kw], strides, padding),
              flipped ?? flipBySlices(kernel),
              1,
              'valid',
            ),
          ),
      }))(x) as tf.Tensor4D;
    };
  } else {
    conv = (x) => tf.depthwiseConv2d(x, kernel, strides, padding);
  }
  return ([x]) => {
    let y: tf.Tensor = conv(x as tf.Tensor4D);
    if (bias !== null) y = tf.add(y, bias);
    return act(y);
  };
}

function batchNormOp(call: LayerCall, ctx: BuildContext): HeadOp {
  const cfg = config(call.layer);
  const axis = typeof cfg['axis'] === 'number' ? cfg['axis'] : -1;
  if (axis !== -1 && axis !== 3) throw new Error(`bench optimum: BatchNormalization axis ${axis} is not supported`);
  const eps = typeof cfg['epsilon'] === 'number' ? cfg['epsilon'] : 1e-3;
  const mean = weight(call.layer, 'moving_mean') as tf.Tensor1D;
  const variance = weight(call.layer, 'moving_variance') as tf.Tensor1D;
  const gamma = cfg['scale'] === false ? null : weight(call.layer, 'gamma');
  const beta = cfg['center'] === false ? null : weight(call.layer, 'beta');
  const [s, t] = tf.tidy(() => {
    let scale = tf.rsqrt(tf.add(variance, eps));
    if (gamma !== null) scale = tf.mul(scale, gamma);
    let shift = tf.neg(tf.mul(mean, scale));
    if (beta !== null) shift = tf.add(shift, beta);
    return [scale, shift];
  });
  const scale = keepConst(ctx, s as tf.Tensor);
  const shift = keepConst(ctx, t as tf.Tensor);
  return ([x]) => tf.add(tf.mul(x as tf.Tensor, scale), shift);
}

function avgPoolOp(call: LayerCall, ctx: BuildContext): HeadOp {
  const cfg = config(call.layer);
  const pool = pairOf(cfg['poolSize'], 2);
  const strides = cfg['strides'] == null ? pool : pairOf(cfg['strides'], 1);
  const padding = cfg['padding'] as 'same' | 'valid';
  const exact = padding === 'same' && strides[0] === 1 && strides[1] === 1 && pool[0] % 2 === 1 && pool[1] % 2 === 1;
  if (!exact) return ([x]) => tf.avgPool(x as tf.Tensor4D, pool, strides, padding);
  const shape = call.layer.outputShape as number[];
  const h = shape[1] as number;
  const w = shape[2] as number;
  // Number of in-image cells of each window: avgPool(x) = windowSum(x) / count.
  const count = keepConst(
    ctx,
    tf.tidy(() => tf.depthwiseConv2d(tf.ones([1, h, w, 1]) as tf.Tensor4D, tf.ones([pool[0], pool[1], 1, 1]) as tf.Tensor4D, 1, 'same')),
  );
  // A centred odd window with stride 1 is self-adjoint: d windowSum^T = windowSum = count * avgPool.
  return ([x]) =>
    customUnary((input) => ({
      value: tf.avgPool(input as tf.Tensor4D, pool, strides, 'same'),
      gradFunc: (dy) => tf.tidy(() => tf.mul(tf.avgPool(tf.div(dy, count) as tf.Tensor4D, pool, 1, 'same'), count)),
    }))(x as tf.Tensor);
}

function globalAvgPoolOp(): HeadOp {
  return ([x]) => {
    const [b, h, w, c] = (x as tf.Tensor4D).shape;
    return customUnary((input) => ({
      value: tf.mean(input, [1, 2]),
      gradFunc: (dy) => tf.tidy(() => tf.broadcastTo(tf.reshape(tf.div(dy, h * w), [b, 1, 1, c]), [b, h, w, c])),
    }))(x as tf.Tensor);
  };
}

function denseOp(call: LayerCall, ctx: BuildContext): HeadOp {
  const cfg = config(call.layer);
  const kernel = weight(call.layer, 'kernel') as tf.Tensor2D;
  const bias = cfg['useBias'] === false ? null : weight(call.layer, 'bias');
  const act = activation(cfg['activation'], call.name === ctx.outputLayer, ctx);
  return ([x]) => {
    let y: tf.Tensor = tf.matMul(x as tf.Tensor2D, kernel);
    if (bias !== null) y = tf.add(y, bias);
    return act(y);
  };
}

function headOp(call: LayerCall, ctx: BuildContext): HeadOp {
  const cfg = config(call.layer);
  switch (call.className) {
    case 'Conv2D':
      return conv2dOp(call, ctx);
    case 'DepthwiseConv2D':
      return depthwiseOp(call, ctx);
    case 'BatchNormalization':
      return batchNormOp(call, ctx);
    case 'Activation':
      return (() => {
        const act = activation(cfg['activation'], call.name === ctx.outputLayer, ctx);
        return ([x]) => act(x as tf.Tensor);
      })();
    case 'ReLU': {
      const max = cfg['maxValue'];
      if (max === 6) {
        const op = relu6Op(ctx);
        return ([x]) => op(x as tf.Tensor);
      }
      if (max == null) return ([x]) => tf.relu(x as tf.Tensor);
      return ([x]) => tf.clipByValue(tf.relu(x as tf.Tensor), 0, max as number);
    }
    case 'ZeroPadding2D': {
      const p = cfg['padding'] as [[number, number], [number, number]];
      return ([x]) => tf.pad(x as tf.Tensor4D, [[0, 0], p[0], p[1], [0, 0]]);
    }
    case 'Add':
      return (xs) => (xs.length === 2 ? tf.add(xs[0] as tf.Tensor, xs[1] as tf.Tensor) : tf.addN(xs));
    case 'Concatenate':
      return (xs) => tf.concat(xs, typeof cfg['axis'] === 'number' ? cfg['axis'] : -1);
    case 'MaxPooling2D': {
      const pool = pairOf(cfg['poolSize'], 2);
      const strides = cfg['strides'] == null ? pool : pairOf(cfg['strides'], 1);
      return ([x]) => tf.maxPool(x as tf.Tensor4D, pool, strides, cfg['padding'] as 'same' | 'valid');
    }
    case 'AveragePooling2D':
      return avgPoolOp(call, ctx);
    case 'GlobalAveragePooling2D':
      return globalAvgPoolOp();
    case 'Dense':
      return denseOp(call, ctx);
    default:
      throw new Error(`bench optimum: layer class ${call.className} ('${call.name}') is not supported`);
  }
}

// ---------------------------------------------------------------------------------------------
// Shared pieces (also used by the naive contenders in naive.ts)

/** Per-example min-max over every non-batch axis, pytorch-grad-cam's `(x - min) / (1e-7 + max)`. */
function minMax(m: tf.Tensor3D): tf.Tensor3D {
  const s = tf.sub(m, tf.min(m, [1, 2], true));
  return tf.div(s, tf.add(tf.max(s, [1, 2], true), 1e-7)) as tf.Tensor3D;
}

/**
 * The vectorised Grad-CAM combination and post-processing: `[B,h,w,C]` activations and channel
 * weights `[B,C]` to `[B,H,W]` maps in [0,1].
 */
export function combine(a: tf.Tensor4D, weights: tf.Tensor2D, size: Pair): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, , , c] = a.shape;
    const raw = tf.sum(tf.mul(a, tf.reshape(weights, [b, 1, 1, c])), -1) as tf.Tensor3D;
    const small = minMax(tf.relu(raw));
    const big = tf.image.resizeBilinear(tf.expandDims(small, -1) as tf.Tensor4D, size, false, true);
    return minMax(tf.relu(tf.squeeze(big, [3])) as tf.Tensor3D);
  });
}

/** Sum of the arg-max scores of `out` ([B,N]) and the picked class/score tensors (one-hot product). */
export function argmaxScore(out: tf.Tensor): { total: tf.Scalar; classIndex: tf.Tensor1D; scores: tf.Tensor1D } {
  const classIndex = tf.argMax(out, 1) as tf.Tensor1D;
  // oneHot's dtype argument is ignored on wasm: cast explicitly.
  const mask = tf.cast(tf.oneHot(classIndex, out.shape[1] as number), 'float32');
  const scores = tf.sum(tf.mul(out, mask), 1) as tf.Tensor1D;
  return { total: tf.sum(scores) as tf.Scalar, classIndex, scores };
}

// ---------------------------------------------------------------------------------------------
// The optimum

interface Replay {
  calls: LayerCall[];
  body: LayerCall[];
  bodyFree: string[][];
  head: Array<{ call: LayerCall; op: HeadOp }>;
  frontier: string[];
  inputName: string;
  outputName: string;
  consts: tf.Tensor[];
}

function prepareReplay(model: tfl.LayersModel, target: string, opts: OptimumOptions): Replay {
  const calls = layerCalls(model);
  const inputName = model.inputLayers[0]?.name as string;
  const outputName = model.outputLayers[0]?.name as string;
  const { body, head, frontier } = splitAt(calls, target);
  const ctx: BuildContext = {
    forwardConvGrad: opts.forwardConvGrad ?? tf.getBackend() === 'wasm',
    floatMaskRelu6: opts.floatMaskRelu6 ?? tf.getBackend() === 'wasm',
    perCallKernels: opts.perCallKernels === true,
    outputLayer: outputName,
    consts: [],
  };
  const headOps = head.map((call) => ({ call, op: headOp(call, ctx) }));
  return {
    calls,
    body,
    bodyFree: lastUses(body, new Set(frontier)),
    head: headOps,
    frontier,
    inputName,
    outputName,
    consts: ctx.consts,
  };
}

/** Runs the body outside any tape; returns the frontier tensors (the input is never disposed). */
function runBody(r: Replay, x: tf.Tensor): Map<string, tf.Tensor> {
  const values = new Map<string, tf.Tensor>([[r.inputName, x]]);
  r.body.forEach((call, i) => {
    if (call.className !== 'InputLayer') {
      const args = call.inputs.map((n) => values.get(n) as tf.Tensor);
      const out = tf.tidy(() => call.layer.apply(args.length === 1 ? (args[0] as tf.Tensor) : args, { training: false }) as tf.Tensor);
      values.set(call.name, out);
    }
    for (const n of r.bodyFree[i] ?? []) {
      const t = values.get(n);
      values.delete(n);
      if (t !== undefined && t !== x) t.dispose();
    }
  });
  return values;
}

/** Replays the head from the frontier (A given separately) and returns the model output (logits). */
function runHead(r: Replay, frontier: ReadonlyMap<string, tf.Tensor>, target: string, a: tf.Tensor): tf.Tensor {
  const values = new Map<string, tf.Tensor>(frontier);
  values.set(target, a);
  for (const { call, op } of r.head) values.set(call.name, op(call.inputs.map((n) => values.get(n) as tf.Tensor)));
  return values.get(r.outputName) as tf.Tensor;
}

/** Whether the head of `target` contains a convolution (where the conv-gradient strategy matters). */
export function headHasConv(model: tfl.LayersModel, target: string): boolean {
  const { head } = splitAt(layerCalls(model), target);
  return head.some((c) => c.className === 'Conv2D' || c.className === 'DepthwiseConv2D');
}

/** The hand-written optimal Grad-CAM at layer `target` (explaining the arg-max logit). */
export function prepareOptimumGradCam(model: tfl.LayersModel, target: string, opts: OptimumOptions = {}): Prepared<OptimumCam> {
  const r = prepareReplay(model, target, opts);
  return {
    run(x) {
      return tf.tidy(() => {
        const frontier = runBody(r, x);
        const a = frontier.get(target) as tf.Tensor4D;
        const kept: tf.Tensor[] = [];
        const { grad } = tf.valueAndGrad((t: tf.Tensor) => {
          const picked = argmaxScore(runHead(r, frontier, target, t));
          kept.push(tf.keep(picked.classIndex), tf.keep(picked.scores));
          return picked.total;
        })(a);
        const weights = tf.mean(grad, [1, 2]) as tf.Tensor2D;
        grad.dispose();
        const heatmap = combine(a, weights, [x.shape[1], x.shape[2]]);
        return { heatmap, classIndex: kept[0] as tf.Tensor1D, score: kept[1] as tf.Tensor1D };
      });
    },
    dispose() {
      tf.dispose(r.consts);
    },
  };
}

/**
 * One input-gradient pass (forward under the tape, backward to the image) with the optimum's ops:
 * the floor of guided backpropagation, against which `guidedGradCam` is held.
 */
export function prepareInputGradient(
  model: tfl.LayersModel,
  opts: OptimumOptions = {},
): Prepared<{ gradient: tf.Tensor4D; classIndex: tf.Tensor1D }> {
  const inputName = model.inputLayers[0]?.name as string;
  const r = prepareReplay(model, inputName, opts);
  return {
    run(x) {
      return tf.tidy(() => {
        const kept: tf.Tensor[] = [];
        const { grad } = tf.valueAndGrad((t: tf.Tensor) => {
          const picked = argmaxScore(runHead(r, new Map(), inputName, t));
          kept.push(tf.keep(picked.classIndex));
          return picked.total;
        })(x);
        return { gradient: grad as tf.Tensor4D, classIndex: kept[0] as tf.Tensor1D };
      });
    },
    dispose() {
      tf.dispose(r.consts);
    },
  };
}
