/**
 * Static output shapes of graph nodes, inferred in JavaScript from the ops' semantics and the model's
 * input shapes (converted graphs carry no `_output_shapes`). Nothing runs: shapes are needed before
 * any tensor exists (default layer, `listLayers`, checks). An op whose rule is not written here, or
 * whose parameters are not constants, gets `null` (unknown), and so does everything computed from
 * it by a rule that needs the rank.
 *
 * @internal
 * @module
 */
import type { GraphNode, HostConst, Topology } from './topology.js';
import { attrBool, attrInt, attrInts, attrShape, attrString } from './topology.js';

/** A static shape: sizes, `null` for an unknown size (the batch axis). */
export type Shape = ReadonlyArray<number | null>;

/** What the rules read besides the input shapes. */
export interface ShapeContext {
  /** The value of a small Const node, or null. */
  hostConst(node: number): HostConst | null;
  /** The shape of a Const node's tensor, or null. */
  constShape(node: number): Shape | null;
}

/** Ops whose output has the shape of their first input. */
const SAME_AS_INPUT = new Set([
  'Identity',
  'StopGradient',
  'Snapshot',
  'PreventGradient',
  'Relu',
  'Relu6',
  'Elu',
  'Selu',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
  'Softmax',
  'LogSoftmax',
  'Softplus',
  'Softsign',
  'Neg',
  'Abs',
  'Square',
  'Sqrt',
  'Rsqrt',
  'Exp',
  'Log',
  'Log1p',
  'Reciprocal',
  'Cast',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Erf',
  'ZerosLike',
  'OnesLike',
  'Prelu',
  'FusedBatchNorm',
  'FusedBatchNormV2',
  'FusedBatchNormV3',
  'ClipByValue',
  'LRN',
  'Sin',
  'Cos',
  'Tan',
  'Asin',
  'Acos',
  'Atan',
  'Sinh',
  'Cosh',
  'Asinh',
  'Acosh',
  'Atanh',
  'Expm1',
  'Rint',
  'IsNan',
  'IsInf',
  'IsFinite',
  'LogicalNot',
  'Swish',
  'Mish',
  'Softsign',
  'Relu1',
]);

/** Element-wise ops with broadcasting. */
const BROADCAST = new Set([
  'Add',
  'AddV2',
  'BiasAdd',
  'Sub',
  'Mul',
  'RealDiv',
  'Div',
  'DivNoNan',
  'Maximum',
  'Minimum',
  'SquaredDifference',
  'Pow',
  'FloorDiv',
  'FloorMod',
  'Greater',
  'GreaterEqual',
  'Less',
  'LessEqual',
  'Equal',
  'NotEqual',
  'LogicalAnd',
  'LogicalOr',
  'AddN',
  'Select',
  'SelectV2',
]);

/** NumPy broadcasting of two static shapes. */
export function broadcastShapes(a: Shape, b: Shape): Shape {
  const n = Math.max(a.length, b.length);
  const out: Array<number | null> = [];
  for (let i = 0; i < n; i++) {
    const x = i - (n - a.length) >= 0 ? a[i - (n - a.length)] : 1;
    const y = i - (n - b.length) >= 0 ? b[i - (n - b.length)] : 1;
    if (x === 1) out.push(y ?? null);
    else if (y === 1) out.push(x ?? null);
    else out.push(x === null || x === undefined ? (y ?? null) : x);
  }
  return out;
}

/** Output size of a windowed op along one axis (TensorFlow's rule). */
export function windowOut(
  size: number | null,
  kernel: number,
  stride: number,
  dilation: number,
  padding: string,
  padBefore = 0,
  padAfter = 0,
): number | null {
  if (size === null) return null;
  const eff = (kernel - 1) * dilation + 1;
  if (padding === 'SAME') return Math.ceil(size / stride);
  if (padding === 'EXPLICIT') return Math.floor((size + padBefore + padAfter - eff) / stride) + 1;
  return Math.ceil((size - eff + 1) / stride);
}

const normAxis = (a: number, rank: number): number => (a < 0 ? a + rank : a);

/** The (NHWC) spatial output of a convolution or pooling node with input shape `x`. */
function spatial(node: GraphNode, x: Shape, kernel: [number, number], channels: number | null): Shape | null {
  if (x.length !== 4 || attrString(node, 'data_format', 'NHWC') !== 'NHWC') return null;
  const strides = attrInts(node, 'strides', [1, 1, 1, 1]);
  const dilations = attrInts(node, 'dilations', [1, 1, 1, 1]);
  const padding = attrString(node, 'padding', 'VALID');
  const explicit = attrInts(node, 'explicit_paddings', []);
  return [
    x[0] ?? null,
    windowOut(x[1] ?? null, kernel[0], strides[1] ?? 1, dilations[1] ?? 1, padding, explicit[2], explicit[3]),
    windowOut(x[2] ?? null, kernel[1], strides[2] ?? 1, dilations[2] ?? 1, padding, explicit[4], explicit[5]),
    channels,
  ];
}

function reduced(node: GraphNode, x: Shape, axes: HostConst | null): Shape | null {
  if (axes === null) return null;
  const keep = attrBool(node, 'keep_dims', false) || attrBool(node, 'keepDims', false);
  const set = new Set(axes.values.map((a) => normAxis(a, x.length)));
  const out: Array<number | null> = [];
  x.forEach((d, i) => {
    if (!set.has(i)) out.push(d);
    else if (keep) out.push(1);
  });
  return out;
}

function reshaped(x: Shape, target: HostConst | null): Shape | null {
  if (target === null) return null;
  const known = x.every((d) => d !== null);
  const total = known ? (x as number[]).reduce((a, b) => a * b, 1) : null;
  const rest = target.values.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  return target.values.map((d) => (d !== -1 ? d : total === null || rest === 0 ? null : total / rest));
}

function stridedSlice(node: GraphNode, x: Shape, begin: HostConst | null, end: HostConst | null, strides: HostConst | null): Shape | null {
  if (begin === null || end === null || strides === null) return null;
  if (attrInt(node, 'ellipsis_mask', 0) !== 0 || attrInt(node, 'new_axis_mask', 0) !== 0) return null;
  const bm = attrInt(node, 'begin_mask', 0);
  const em = attrInt(node, 'end_mask', 0);
  const sm = attrInt(node, 'shrink_axis_mask', 0);
  const out: Array<number | null> = [];
  for (let i = 0; i < x.length; i++) {
    const size = x[i] ?? null;
    if (i >= begin.values.length) {
      out.push(size);
      continue;
    }
    if ((sm >> i) & 1) continue;
    const s = strides.values[i] as number;
    if (size === null || s === 0) {
      out.push(null);
      continue;
    }
    const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);
    const fix = (v: number): number => (v < 0 ? v + size : v);
    let b = (bm >> i) & 1 ? (s > 0 ? 0 : size - 1) : fix(begin.values[i] as number);
    let e = (em >> i) & 1 ? (s > 0 ? size : -1) : fix(end.values[i] as number);
    b = s > 0 ? clamp(b, 0, size) : clamp(b, -1, size - 1);
    e = s > 0 ? clamp(e, 0, size) : clamp(e, -1, size - 1);
    out.push(Math.max(0, Math.ceil((e - b) / s)));
  }
  return out;
}

/**
 * The static shape of output 0 of `node`, given the shapes of its inputs (`null` where unknown).
 * Returns null when the op is not covered or a parameter is not a constant.
 */
export function inferShape(node: GraphNode, inputs: ReadonlyArray<Shape | null>, ctx: ShapeContext): Shape | null {
  const x = inputs[0] ?? null;
  const param = (i: number): HostConst | null => {
    const r = node.inputs[i];
    return r === undefined ? null : ctx.hostConst(r.node);
  };
  const op = node.op;
  if (node.isConst) return ctx.constShape(node.index);
  if (op.startsWith('Placeholder')) return (attrShape(node, 'shape') ?? null)?.map((d) => (d < 0 ? null : d)) ?? null;
  if (SAME_AS_INPUT.has(op)) return x;
  if (BROADCAST.has(op)) {
    if (inputs.some((s) => s === null)) return null;
    return (inputs as Shape[]).reduce((a, b) => broadcastShapes(a, b));
  }
  switch (op) {
    case 'Conv2D':
    case '_FusedConv2D': {
      const k = inputs[1] ?? null;
      if (x === null || k === null || k.length !== 4) return null;
      return spatial(node, x, [k[0] as number, k[1] as number], k[3] ?? null);
    }
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2dNative': {
      const k = inputs[1] ?? null;
      if (x === null || k === null || k.length !== 4) return null;
      const c = x[3] ?? null;
      return spatial(node, x, [k[0] as number, k[1] as number], c === null || k[3] === null ? null : c * (k[3] as number));
    }
    case 'MaxPool':
    case 'AvgPool': {
      if (x === null) return null;
      const ks = attrInts(node, 'ksize', [1, 1, 1, 1]);
      return spatial(node, x, [ks[1] ?? 1, ks[2] ?? 1], x[3] ?? null);
    }
    case 'Mean':
    case 'Max':
    case 'Min':
    case 'Sum':
    case 'Prod':
      return x === null ? null : reduced(node, x, param(1));
    case 'ConcatV2':
    case 'Concat': {
      const axisAt = op === 'ConcatV2' ? node.inputs.length - 1 : 0;
      const axis = param(axisAt);
      const parts = op === 'ConcatV2' ? inputs.slice(0, -1) : inputs.slice(1);
      if (axis === null || parts.some((s) => s === null) || parts.length === 0) return null;
      const first = parts[0] as Shape;
      const a = normAxis(axis.values[0] as number, first.length);
      const out = first.slice();
      let sum: number | null = 0;
      for (const p of parts as Shape[]) sum = sum === null || p[a] === null || p[a] === undefined ? null : sum + (p[a] as number);
      out[a] = sum;
      return out;
    }
    case 'Reshape':
      return x === null ? null : reshaped(x, param(1));
    case 'Squeeze': {
      if (x === null) return null;
      const dims = attrInts(node, 'squeeze_dims', attrInts(node, 'axis', [])).map((d) => normAxis(d, x.length));
      if (dims.length === 0) return x.some((d) => d === null) ? null : x.filter((d) => d !== 1);
      return x.filter((_, i) => !dims.includes(i));
    }
    case 'ExpandDims': {
      const axis = param(1);
      if (x === null || axis === null) return null;
      const a = normAxis(axis.values[0] as number, x.length + 1);
      const out = x.slice();
      out.splice(a, 0, 1);
      return out;
    }
    case 'MatMul':
    case '_FusedMatMul': {
      const b = inputs[1] ?? null;
      if (x === null || b === null || x.length !== 2 || b.length !== 2) return null;
      const ta = attrBool(node, 'transpose_a', false);
      const tb = attrBool(node, 'transpose_b', false);
      return [(ta ? x[1] : x[0]) ?? null, (tb ? b[0] : b[1]) ?? null];
    }
    case 'Pad':
    case 'PadV2':
    case 'MirrorPad': {
      const p = param(1);
      if (x === null || p === null) return null;
      return x.map((d, i) => (d === null ? null : d + (p.values[2 * i] as number) + (p.values[2 * i + 1] as number)));
    }
    case 'Transpose': {
      const p = param(1);
      if (x === null || p === null) return null;
      return p.values.map((i) => x[i] ?? null);
    }
    case 'Tile': {
      const m = param(1);
      if (x === null || m === null) return null;
      return x.map((d, i) => (d === null ? null : d * (m.values[i] as number)));
    }
    case 'Slice': {
      const b = param(1);
      const s = param(2);
      if (x === null || b === null || s === null) return null;
      return x.map((d, i) => {
        const size = s.values[i] as number;
        if (size !== -1) return size;
        return d === null ? null : d - (b.values[i] as number);
      });
    }
    case 'StridedSlice':
      return x === null ? null : stridedSlice(node, x, param(1), param(2), param(3));
    case 'Shape':
      return x === null ? null : [x.length];
    case 'Size':
    case 'Rank':
      return [];
    case 'Pack': {
      if (inputs.some((s) => s === null) || x === null) return null;
      const a = normAxis(attrInt(node, 'axis', 0), x.length + 1);
      const out = x.slice();
      out.splice(a, 0, inputs.length);
      return out;
    }
    case 'ResizeBilinear':
    case 'ResizeNearestNeighbor': {
      const size = param(1);
      if (x === null || size === null || x.length !== 4) return null;
      return [x[0] ?? null, size.values[0] as number, size.values[1] as number, x[3] ?? null];
    }
    case 'DepthToSpace':
    case 'SpaceToDepth': {
      if (x === null || x.length !== 4) return null;
      const b = attrInt(node, 'block_size', 1);
      const up = op === 'DepthToSpace';
      const sp = (d: number | null | undefined): number | null => (d === null || d === undefined ? null : up ? d * b : d / b);
      const c = x[3] ?? null;
      return [x[0] ?? null, sp(x[1]), sp(x[2]), c === null ? null : up ? c / (b * b) : c * b * b];
    }
    default:
      return null;
  }
}

/** Static output-0 shapes of every node of `topology`; model inputs take `inputShapes`. */
export function inferShapes(topology: Topology, inputShapes: ReadonlyArray<Shape | null>, ctx: ShapeContext): Array<Shape | null> {
  const shapes = new Array<Shape | null>(topology.nodes.length).fill(null);
  const inputAt = new Map(topology.inputs.map((n, i) => [n, i]));
  for (const node of topology.nodes) {
    const i = inputAt.get(node.index);
    if (i !== undefined) {
      shapes[node.index] = inputShapes[i] ?? null;
      continue;
    }
    // Only output 0 is tracked: an input reading another output of a multi-output node is unknown.
    const ins = node.inputs.map((r) => (r.output === 0 ? (shapes[r.node] ?? null) : null));
    shapes[node.index] = inferShape(node, ins, ctx);
  }
  return shapes;
}
