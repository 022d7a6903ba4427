/**
 * The graph node applier: how tfcam replays each GraphDef node of the head (the nodes above the
 * explained one), under the gradient tape or forward only. The graph counterpart of
 * src/models/layers/applier.ts, built on the same gradient ops (src/core/gradops.ts):
 * - convolutions (`Conv2D`, `_FusedConv2D`, `DepthwiseConv2dNative`, `FusedDepthwiseConv2dNative`)
 *   and matrix products (`MatMul`, `_FusedMatMul`) run unfused under the tape, so their backward pass
 *   computes the input gradient only (tfjs keeps a fused op with a linear activation fused under a
 *   tape, and its gradient computes the filter gradient too: slow, and missing on wasm);
 * - on backends with `forwardConvGrad` (wasm), and for dilated convolutions everywhere, convolution
 *   input gradients are forward convolutions (gradops `conv2dForwardGrad`, `depthwiseForwardGrad`);
 * - `MaxPool` sends each window's gradient to its first maximum on every backend (`maxPoolFirstMax`);
 * - `AvgPool` with 'SAME' padding gets the gradient of what it computes (`avgPoolSame`), and a 'VALID'
 *   pool over the whole map is a global average pooling;
 * - `Mean` over the spatial axes is a global average pooling (`globalAveragePool`), `Max` over them a
 *   global max pooling with the first-maximum gradient (`globalMaxPoolFirstMax`);
 * - integer upsamplings (`ResizeNearestNeighbor`, `ResizeBilinear` without corner alignment) get the
 *   gradient of what they compute (`upsampleNearest`, `upsampleBilinear`);
 * - on wasm, plain matrix products take their input gradient as `(W . dy^T)^T` (`denseForwardGrad`),
 *   and an explainer's prepared kernels (`kernels`) serve the forward-convolution gradients;
 * - `FusedBatchNorm*` is `x * f + shift`;
 * - `StopGradient` stops the gradient (the runner feeds its value from the body; tfjs runs it as an
 *   identity);
 * - with `guided`, `Relu`, `Relu6` and fused ReLU/ReLU6 activations are guided ReLUs.
 * Forward-only passes use the fused kernels the model itself runs.
 *
 * A node the table does not cover, or whose parameters (axes, shapes, paddings) are not constants,
 * is run through the model's own `execute` on that node alone (see runner.ts).
 *
 * Nothing here writes to the model: weights are read from `model.weights`.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { capabilities } from '../../core/capabilities.js';
import {
  avgPoolSame,
  conv2dForwardGrad,
  denseForwardGrad,
  depthwiseForwardGrad,
  globalAveragePool,
  globalMaxPoolFirstMax,
  maxPoolFirstMax,
  upsampleBilinear,
  upsampleNearest,
} from '../../core/gradops.js';
import type { KernelCache } from '../../core/kernel-cache.js';
import { guidedRelu, relu6 } from '../layers/applier.js';
import type { GraphNode, HostConst } from './topology.js';
import { attrBool, attrFloat, attrInt, attrInts, attrString, attrStrings, attrType } from './topology.js';

type Pair = [number, number];

/** How a head is replayed. */
export interface NodeContext {
  /** `'gradient'`: under the tape (tfcam's gradients); `'forward'`: forward only (fused kernels). */
  readonly mode: 'gradient' | 'forward';
  /** Guided ReLUs (guided backpropagation). */
  readonly guided: boolean;
  /** Convolution input gradients as forward convolutions (wasm). */
  readonly forwardConvGrad: boolean;
  /**
   * Sees the value of a convolution or matrix product before its fused activation (`x * W + bias`)
   * in the gradient pass, and returns the value to continue with (FullGrad's taps).
   */
  readonly preActivation?: ((node: GraphNode, value: tf.Tensor) => tf.Tensor) | undefined;
  /**
   * An explainer's prepared kernels, for the forward-convolution input gradients (the graph's
   * weights, `model.weights`, are its keys); absent: made per call.
   */
  readonly kernels?: KernelCache | undefined;
}

/** The inputs of a node as the applier sees them: tensors, and host values of constant inputs. */
export interface NodeInputs {
  readonly tensors: ReadonlyArray<tf.Tensor | undefined>;
  /** The host value of input `i` when it is a small constant, else null. */
  host(i: number): HostConst | null;
  /** Whether input `i` is a model weight (a Const node's tensor in `model.weights`). */
  isWeight(i: number): boolean;
}

interface OpRule {
  /** Input slots that must be host constants (axes, shapes, paddings...). */
  readonly params?: readonly number[];
  /** Whether the node's attrs are supported (checked at split time). */
  readonly supports?: (node: GraphNode) => boolean;
  readonly run: (node: GraphNode, inputs: NodeInputs, ctx: NodeContext) => tf.Tensor | tf.Tensor[];
}

const nhwc = (node: GraphNode): boolean => attrString(node, 'data_format', 'NHWC') === 'NHWC';

function pair(list: readonly number[]): Pair {
  return [list[1] ?? 1, list[2] ?? 1];
}

/** The TensorFlow dtype of a `DT_*` type attr in tfjs terms, or null. */
function dtypeOf(type: string): tf.DataType | null {
  if (type === 'DT_FLOAT' || type === 'DT_HALF' || type === 'DT_DOUBLE') return 'float32';
  if (type === 'DT_INT32' || type === 'DT_INT64' || type === 'DT_INT16' || type === 'DT_INT8' || type === 'DT_UINT8') return 'int32';
  if (type === 'DT_BOOL') return 'bool';
  return null;
}

const t = (inputs: NodeInputs, i: number): tf.Tensor => inputs.tensors[i] as tf.Tensor;
const hostValues = (inputs: NodeInputs, i: number): number[] => [...(inputs.host(i) as HostConst).values];
const hostScalar = (inputs: NodeInputs, i: number): number => (inputs.host(i) as HostConst).values[0] as number;

// ---------------------------------------------------------------------------------------------
// Activations

/** The activation of a fused op (`fused_ops[1]`, lowercased), '' for none. */
function fusedActivation(node: GraphNode): FusedActivation {
  const ops = attrStrings(node, 'fused_ops', []).map((s) => s.toLowerCase());
  // A node reaches here only when supportsFused accepted it: its activation is one of FUSED_ACTIVATIONS.
  if (ops[0] === 'biasadd') return (ops[1] ?? '') as FusedActivation;
  return ops[0] === 'prelu' ? 'prelu' : '';
}

/** The `fused_ops` activations tfcam replays ('' for none), lowercased. */
const FUSED_ACTIVATIONS = new Set(['', 'relu', 'relu6', 'elu', 'leakyrelu', 'prelu', 'sigmoid'] as const);
type FusedActivation = typeof FUSED_ACTIVATIONS extends Set<infer A> ? A : never;

/** Whether a fused op's `fused_ops` are ones tfcam replays: `[]`, `[BiasAdd(, act)]`, `[Prelu]`. */
function supportsFused(node: GraphNode): boolean {
  const ops = attrStrings(node, 'fused_ops', []).map((s) => s.toLowerCase());
  if (ops.length === 0) return true;
  if (ops[0] === 'prelu') return ops.length === 1;
  return ops[0] === 'biasadd' && ops.length <= 2 && (FUSED_ACTIVATIONS as ReadonlySet<string>).has(ops[1] ?? '');
}

/** The tfjs fused-op activation of a `fused_ops` activation. */
function fusedKind(act: FusedActivation): 'linear' | Exclude<FusedActivation, ''> {
  return act === '' ? 'linear' : act;
}

function activate(kind: FusedActivation, y: tf.Tensor, ctx: NodeContext, prelu: tf.Tensor | undefined, leakyAlpha: number): tf.Tensor {
  switch (kind) {
    case '':
      return y;
    case 'relu':
      return ctx.guided ? guidedRelu(y, null) : tf.relu(y);
    case 'relu6':
      return ctx.guided ? guidedRelu(y, 6) : relu6(y);
    case 'elu':
      return tf.elu(y);
    case 'leakyrelu':
      return tf.leakyRelu(y, leakyAlpha);
    case 'prelu':
      return tf.prelu(y, prelu as tf.Tensor);
    case 'sigmoid':
      return tf.sigmoid(y);
    default: {
      const none: never = kind; // every FusedActivation is handled above
      return none;
    }
  }
}

/** Bias and PReLU weights of a fused op (inputs after x and the filter). */
function fusedExtras(node: GraphNode, inputs: NodeInputs): { bias: tf.Tensor | undefined; prelu: tf.Tensor | undefined } {
  const ops = attrStrings(node, 'fused_ops', []).map((s) => s.toLowerCase());
  if (ops[0] === 'biasadd') return { bias: inputs.tensors[2], prelu: ops[1] === 'prelu' ? inputs.tensors[3] : undefined };
  if (ops[0] === 'prelu') return { bias: undefined, prelu: inputs.tensors[2] };
  return { bias: undefined, prelu: undefined };
}

// ---------------------------------------------------------------------------------------------
// Convolutions and matrix products

type Padding = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

function paddingOf(node: GraphNode): Padding | null {
  const p = attrString(node, 'padding', 'VALID');
  if (p === 'SAME') return 'same';
  if (p === 'VALID') return 'valid';
  if (p !== 'EXPLICIT') return null;
  const e = attrInts(node, 'explicit_paddings', []);
  if (e.length !== 8) return null;
  return [
    [e[0] as number, e[1] as number],
    [e[2] as number, e[3] as number],
    [e[4] as number, e[5] as number],
    [e[6] as number, e[7] as number],
  ];
}

const supportsConv = (node: GraphNode): boolean => nhwc(node) && paddingOf(node) !== null && supportsFused(node);

function convolution(depthwise: boolean): OpRule {
  return {
    supports: supportsConv,
    run(node, inputs, ctx) {
      const x = t(inputs, 0) as tf.Tensor4D;
      const filter = t(inputs, 1) as tf.Tensor4D;
      const strides = pair(attrInts(node, 'strides', [1, 1, 1, 1]));
      const dilations = pair(attrInts(node, 'dilations', [1, 1, 1, 1]));
      const padding = paddingOf(node) as Padding;
      const { bias, prelu } = fusedExtras(node, inputs);
      const act = fusedActivation(node);
      const leakyAlpha = attrFloat(node, 'leakyrelu_alpha', 0.2);
      // Explicit padding: pad, then a 'valid' convolution (tfcam's input gradients take 'same'/'valid').
      const v = Array.isArray(padding) ? (tf.pad(x, padding) as tf.Tensor4D) : x;
      const pad = Array.isArray(padding) ? 'valid' : padding;
      if (ctx.mode === 'forward') {
        const args = {
          x: v,
          filter,
          strides,
          pad,
          dataFormat: 'NHWC' as const,
          dilations,
          activation: fusedKind(act),
          leakyreluAlpha: leakyAlpha,
          ...(bias === undefined ? {} : { bias }),
          ...(prelu === undefined ? {} : { preluActivationWeights: prelu }),
        };
        return depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
      }
      const viaForward = ctx.forwardConvGrad || dilations[0] > 1 || dilations[1] > 1;
      // The cache takes model weights only: a filter computed in the graph is prepared per call.
      const cache = inputs.isWeight(1) ? ctx.kernels : undefined;
      let y: tf.Tensor = depthwise
        ? viaForward
          ? depthwiseForwardGrad(v, filter, strides, pad, dilations, cache)
          : tf.depthwiseConv2d(v, filter, strides, pad, 'NHWC', dilations)
        : viaForward
          ? conv2dForwardGrad(v, filter, strides, pad, dilations, cache)
          : tf.conv2d(v, filter, strides, pad, 'NHWC', dilations);
      if (bias !== undefined) y = tf.add(y, bias);
      if (ctx.preActivation !== undefined) y = ctx.preActivation(node, y);
      return activate(act, y, ctx, prelu, leakyAlpha);
    },
  };
}

const matMul: OpRule = {
  supports: supportsFused,
  run(node, inputs, ctx) {
    const a = t(inputs, 0);
    const b = t(inputs, 1);
    const ta = attrBool(node, 'transpose_a', false) || attrBool(node, 'adj_x', false);
    const tb = attrBool(node, 'transpose_b', false) || attrBool(node, 'adj_y', false);
    const { bias, prelu } = fusedExtras(node, inputs);
    const act = fusedActivation(node);
    const leakyAlpha = attrFloat(node, 'leakyrelu_alpha', 0.2);
    if (ctx.mode === 'forward' && node.op === '_FusedMatMul') {
      return tf.fused.matMul({
        a,
        b,
        transposeA: ta,
        transposeB: tb,
        activation: fusedKind(act),
        leakyreluAlpha: leakyAlpha,
        ...(bias === undefined ? {} : { bias }),
        ...(prelu === undefined ? {} : { preluActivationWeights: prelu }),
      });
    }
    // On wasm, a plain product's input gradient as (W . dy^T)^T: XNNPACK packs the weight once (gradops).
    const plain = !ta && !tb && a.rank === 2 && b.rank === 2;
    let y = plain && capabilities().slowTransposedMatMul ? denseForwardGrad(a as tf.Tensor2D, b as tf.Tensor2D) : tf.matMul(a, b, ta, tb);
    if (bias !== undefined) y = tf.add(y, bias);
    if (ctx.preActivation !== undefined) y = ctx.preActivation(node, y);
    return activate(act, y, ctx, prelu, leakyAlpha);
  },
};

// ---------------------------------------------------------------------------------------------
// Pooling and reductions

const supportsPool = (node: GraphNode): boolean => {
  const p = attrString(node, 'padding', 'VALID');
  return nhwc(node) && (p === 'SAME' || p === 'VALID');
};

const maxPool: OpRule = {
  supports: supportsPool,
  run(node, inputs, ctx) {
    const x = t(inputs, 0) as tf.Tensor4D;
    const size = pair(attrInts(node, 'ksize', [1, 1, 1, 1]));
    const strides = pair(attrInts(node, 'strides', [1, 1, 1, 1]));
    const padding = attrString(node, 'padding', 'VALID') === 'SAME' ? 'same' : 'valid';
    return ctx.mode === 'forward' ? tf.maxPool(x, size, strides, padding) : maxPoolFirstMax(x, size, strides, padding);
  },
};

const avgPool: OpRule = {
  supports: supportsPool,
  run(node, inputs, ctx) {
    const x = t(inputs, 0) as tf.Tensor4D;
    const size = pair(attrInts(node, 'ksize', [1, 1, 1, 1]));
    const strides = pair(attrInts(node, 'strides', [1, 1, 1, 1]));
    const same = attrString(node, 'padding', 'VALID') === 'SAME';
    if (ctx.mode === 'forward') return tf.avgPool(x, size, strides, same ? 'same' : 'valid');
    if (same) return avgPoolSame(x, size, strides);
    const [b, h, w, c] = x.shape;
    // One window over the whole map: a global average pooling (a one-broadcast gradient).
    if (size[0] === h && size[1] === w) return tf.reshape(globalAveragePool(x), [b, 1, 1, c]);
    return tf.avgPool(x, size, strides, 'valid');
  },
};

function reduceAxes(inputs: NodeInputs, rank: number): number[] {
  return hostValues(inputs, 1).map((a) => (a < 0 ? a + rank : a));
}

const keepDims = (node: GraphNode): boolean => attrBool(node, 'keep_dims', false);

const isSpatial = (axes: number[], rank: number): boolean => rank === 4 && axes.length === 2 && axes.includes(1) && axes.includes(2);

/**
 * A reduction whose spatial form (global pooling: axes 1 and 2 of a rank-4 value) runs under the
 * tape through `pool` (gradops' gradient); other axes, and forward-only runs, through `reduce`.
 */
function spatialReduction(pool: (x: tf.Tensor4D) => tf.Tensor, reduce: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor): OpRule {
  return {
    params: [1],
    run(node, inputs, ctx) {
      const x = t(inputs, 0);
      const axes = reduceAxes(inputs, x.rank);
      if (ctx.mode === 'gradient' && isSpatial(axes, x.rank)) {
        const [b, , , c] = x.shape as [number, number, number, number];
        const g = pool(x as tf.Tensor4D);
        return keepDims(node) ? tf.reshape(g, [b, 1, 1, c]) : g;
      }
      return reduce(x, axes, keepDims(node));
    },
  };
}

/** `Mean` over the spatial axes is global average pooling (gradops `globalAveragePool`: a one-broadcast gradient). */
const mean = spatialReduction(globalAveragePool, tf.mean);

function reduction(f: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor): OpRule {
  return { params: [1], run: (node, inputs) => f(t(inputs, 0), reduceAxes(inputs, t(inputs, 0).rank), keepDims(node)) };
}

/**
 * `Max` over the spatial axes (global max pooling) sends each channel's gradient to its first
 * maximum (gradops `globalMaxPoolFirstMax`: tfjs' gives it to every tied maximum); other `Max`
 * reductions are tfjs'.
 */
const maxRule = spatialReduction(globalMaxPoolFirstMax, tf.max);

// ---------------------------------------------------------------------------------------------
// Element-wise ops

function unary(f: (x: tf.Tensor) => tf.Tensor): OpRule {
  return { run: (_node, inputs) => f(t(inputs, 0)) };
}

function binary(f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor): OpRule {
  return { run: (_node, inputs) => f(t(inputs, 0), t(inputs, 1)) };
}

const batchNorm: OpRule = {
  supports: (node) => nhwc(node) && !attrBool(node, 'is_training', false),
  run(node, inputs) {
    const [x, scale, offset, mean, variance] = [0, 1, 2, 3, 4].map((i) => t(inputs, i)) as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    const eps = attrFloat(node, 'epsilon', 1e-4);
    // x * f + (offset - mean * f): two ops on the activation, the rest on channel vectors.
    const factor = tf.mul(tf.rsqrt(tf.add(variance, eps)), scale);
    return tf.add(tf.mul(x, factor), tf.sub(offset, tf.mul(mean, factor)));
  },
};

const relu: OpRule = { run: (_node, inputs, ctx) => (ctx.guided ? guidedRelu(t(inputs, 0), null) : tf.relu(t(inputs, 0))) };
const relu6Rule: OpRule = {
  run: (_node, inputs, ctx) =>
    ctx.guided ? guidedRelu(t(inputs, 0), 6) : ctx.mode === 'gradient' ? relu6(t(inputs, 0)) : tf.relu6(t(inputs, 0)),
};

const cast: OpRule = {
  supports: (node) => dtypeOf(attrType(node, 'DstT', 'DT_FLOAT')) !== null,
  run: (node, inputs) => tf.cast(t(inputs, 0), dtypeOf(attrType(node, 'DstT', 'DT_FLOAT')) as tf.DataType),
};

// ---------------------------------------------------------------------------------------------
// Shape ops

const concat = (axisFirst: boolean): OpRule => ({
  params: [],
  run(_node, inputs) {
    const n = inputs.tensors.length;
    const axisAt = axisFirst ? 0 : n - 1;
    const parts = inputs.tensors.filter((_, i) => i !== axisAt) as tf.Tensor[];
    const axis = hostScalar(inputs, axisAt);
    return parts.length === 1 ? (parts[0] as tf.Tensor) : tf.concat(parts, axis);
  },
});

const padRule = (params: readonly number[]): OpRule => ({
  params,
  run(node, inputs) {
    const p = hostValues(inputs, 1);
    const pads = Array.from({ length: p.length / 2 }, (_, i) => [p[2 * i] as number, p[2 * i + 1] as number] as [number, number]);
    const value = node.op === 'PadV2' ? hostScalar(inputs, 2) : 0;
    if (node.op === 'MirrorPad')
      return tf.mirrorPad(t(inputs, 0), pads, attrString(node, 'mode', 'REFLECT').toLowerCase() as 'reflect' | 'symmetric');
    return tf.pad(t(inputs, 0), pads, value);
  },
});

const resize = (nearest: boolean): OpRule => ({
  params: [1],
  run(node, inputs, ctx) {
    const x = t(inputs, 0) as tf.Tensor4D;
    const [h, w] = hostValues(inputs, 1) as [number, number];
    const align = attrBool(node, 'align_corners', false);
    const half = attrBool(node, 'half_pixel_centers', false);
    const [, ih, iw] = x.shape;
    // An integer upsampling as Keras' UpSampling2D computes it: the gradient of what it computes
    // (gradops; tfjs-cpu's nearest gradient is wrong past the first example, its bilinear one
    // throws on non-square maps).
    // (Nearest: half-pixel centres pick the same source pixels for an integer factor.)
    if (ctx.mode === 'gradient' && !align && (nearest || !half) && h % ih === 0 && w % iw === 0 && h >= ih && w >= iw) {
      return (nearest ? upsampleNearest : upsampleBilinear)(x, [h / ih, w / iw]);
    }
    return nearest ? tf.image.resizeNearestNeighbor(x, [h, w], align, half) : tf.image.resizeBilinear(x, [h, w], align, half);
  },
});

const shapeRule: OpRule = {
  run(node, inputs) {
    const x = t(inputs, 0);
    if (node.op === 'Size') return tf.scalar(x.size, 'int32');
    if (node.op === 'Rank') return tf.scalar(x.rank, 'int32');
    return tf.tensor1d(x.shape, 'int32');
  },
};

/** How each op is replayed. Ops not listed run through the model's own `execute` (runner.ts). */
const RULES: Readonly<Record<string, OpRule>> = {
  Conv2D: convolution(false),
  _FusedConv2D: convolution(false),
  DepthwiseConv2dNative: convolution(true),
  FusedDepthwiseConv2dNative: convolution(true),
  MatMul: matMul,
  _FusedMatMul: matMul,
  BatchMatMul: matMul,
  BatchMatMulV2: matMul,
  MaxPool: maxPool,
  AvgPool: avgPool,
  Mean: mean,
  Sum: reduction((x, a, k) => tf.sum(x, a, k)),
  Max: maxRule,
  Min: reduction((x, a, k) => tf.min(x, a, k)),
  Prod: reduction((x, a, k) => tf.prod(x, a, k)),
  FusedBatchNorm: batchNorm,
  FusedBatchNormV2: batchNorm,
  FusedBatchNormV3: batchNorm,
  BiasAdd: { supports: nhwc, run: (_node, inputs) => tf.add(t(inputs, 0), t(inputs, 1)) },
  Add: binary(tf.add),
  AddV2: binary(tf.add),
  Sub: binary(tf.sub),
  Mul: binary(tf.mul),
  RealDiv: binary(tf.div),
  Div: binary(tf.div),
  DivNoNan: binary(tf.divNoNan),
  Maximum: binary(tf.maximum),
  Minimum: binary(tf.minimum),
  SquaredDifference: binary(tf.squaredDifference),
  Pow: binary(tf.pow),
  AddN: { run: (_node, inputs) => tf.addN(inputs.tensors as tf.Tensor[]) },
  Relu: relu,
  Relu6: relu6Rule,
  Elu: unary(tf.elu),
  Selu: unary(tf.selu),
  LeakyRelu: { run: (node, inputs) => tf.leakyRelu(t(inputs, 0), attrFloat(node, 'alpha', 0.2)) },
  Prelu: binary((x, a) => tf.prelu(x, a)),
  Sigmoid: unary(tf.sigmoid),
  Tanh: unary(tf.tanh),
  Softplus: unary(tf.softplus),
  Softmax: unary((x) => tf.softmax(x)),
  LogSoftmax: unary((x) => tf.logSoftmax(x)),
  Neg: unary(tf.neg),
  Abs: unary(tf.abs),
  Square: unary(tf.square),
  Sqrt: unary(tf.sqrt),
  Rsqrt: unary(tf.rsqrt),
  Exp: unary(tf.exp),
  Log: unary(tf.log),
  Log1p: unary(tf.log1p),
  Reciprocal: unary(tf.reciprocal),
  Erf: unary(tf.erf),
  Identity: unary((x) => x),
  Snapshot: unary((x) => x),
  PreventGradient: unary((x) => x),
  // Forward passes only: in the gradient pass the runner feeds the body's value instead.
  StopGradient: unary((x) => x),
  Cast: cast,
  ClipByValue: { params: [1, 2], run: (_node, inputs) => tf.clipByValue(t(inputs, 0), hostScalar(inputs, 1), hostScalar(inputs, 2)) },
  ConcatV2: concat(false),
  Concat: concat(true),
  Reshape: { params: [1], run: (_node, inputs) => tf.reshape(t(inputs, 0), hostValues(inputs, 1)) },
  Squeeze: {
    run(node, inputs) {
      const dims = attrInts(node, 'squeeze_dims', attrInts(node, 'axis', []));
      return tf.squeeze(t(inputs, 0), dims.length > 0 ? dims : undefined);
    },
  },
  ExpandDims: { params: [1], run: (_node, inputs) => tf.expandDims(t(inputs, 0), hostScalar(inputs, 1)) },
  Pad: padRule([1]),
  PadV2: padRule([1, 2]),
  MirrorPad: padRule([1]),
  Transpose: { params: [1], run: (_node, inputs) => tf.transpose(t(inputs, 0), hostValues(inputs, 1)) },
  Tile: { params: [1], run: (_node, inputs) => tf.tile(t(inputs, 0), hostValues(inputs, 1)) },
  Slice: { params: [1, 2], run: (_node, inputs) => tf.slice(t(inputs, 0), hostValues(inputs, 1), hostValues(inputs, 2)) },
  Pack: { run: (node, inputs) => tf.stack(inputs.tensors as tf.Tensor[], attrInt(node, 'axis', 0)) },
  Unpack: { run: (node, inputs) => tf.unstack(t(inputs, 0), attrInt(node, 'axis', 0)) },
  Split: { params: [0], run: (node, inputs) => tf.split(t(inputs, 1), attrInt(node, 'num_split', 1), hostScalar(inputs, 0)) },
  SplitV: { params: [1, 2], run: (_node, inputs) => tf.split(t(inputs, 0), hostValues(inputs, 1), hostScalar(inputs, 2)) },
  ResizeBilinear: resize(false),
  ResizeNearestNeighbor: resize(true),
  Shape: shapeRule,
  Size: shapeRule,
  Rank: shapeRule,
};

/**
 * Whether tfcam replays `node` itself (the op is in the table, its attrs are supported, and its
 * parameters are constants: `isHostConst(i)` for input slot `i`).
 */
export function replays(node: GraphNode, isHostConst: (slot: number) => boolean): boolean {
  const rule = RULES[node.op];
  if (rule === undefined) return false;
  if (rule.supports !== undefined && !rule.supports(node)) return false;
  if (node.op === 'ConcatV2' || node.op === 'Concat') return isHostConst(node.op === 'ConcatV2' ? node.inputs.length - 1 : 0);
  return (rule.params ?? []).every((i) => i >= node.inputs.length || isHostConst(i));
}

/** Replays `node` (which {@link replays}) on its inputs; returns its output tensors. */
export function applyNode(node: GraphNode, inputs: NodeInputs, ctx: NodeContext): tf.Tensor[] {
  const out = (RULES[node.op] as OpRule).run(node, inputs, ctx);
  return Array.isArray(out) ? out : [out];
}

/** Ops whose fused activation a pre-activation tap sits before. */
export const FUSED_OPS = new Set(['_FusedConv2D', 'FusedDepthwiseConv2dNative', '_FusedMatMul']);
