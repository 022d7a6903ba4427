/**
 * A seeded generator of small random tfjs-layers models, each with an independent reference: a plain
 * closure that recomputes the network with the stock `layer.apply(x, { training: false })` calls
 * (nested models are entered and their layers applied one by one), exposes the activation A of any
 * layer and the head function A -> explained output. Nothing of tfcam is used by the reference.
 *
 * Shapes covered: Sequential; functional DAGs with add / concatenate / multiply / average / maximum /
 * minimum branches (tfjs-layers has no Subtract layer) and squeeze-and-excitation gates; nested models at every position
 * (a functional model as the first layer of a Sequential, in the middle, last with the classifier;
 * a Sequential inside a Sequential; nested two deep; a nested model bypassed by a skip connection);
 * multi-input (a second image or a vector input) and multi-output models (a second classifier on an
 * intermediate feature map). Layers: see {@link SPATIAL_KINDS} and the classifier tails.
 *
 * `generateCase(seed)` is deterministic: the same seed gives the same architecture, weights, inputs,
 * target layer and classes on every machine and backend (tfjs' seeded random ops are backend-free).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type Layer = tfl.layers.Layer;
type Shape = number[];

/** mulberry32: a small, fast, seeded PRNG. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = (seed * 0x9e3779b1) >>> 0 || 1;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)] as T;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** One call of a layer (or nested model) in the reference graph. */
export interface RefNode {
  readonly kind: 'input' | 'layer' | 'model';
  /** The layer, or the nested model for kind 'model'; null for inputs. */
  readonly layer: Layer | null;
  readonly inputs: RefNode[];
  /** The nested network of a 'model' node. */
  readonly sub: RefNet | null;
  /** Output shape without the batch axis. */
  readonly shape: Shape;
  /** tfcam's path of the layer (`'outer/inner/conv'`), set once the whole model is built. */
  path: string;
}

/** A (possibly nested) network: its model and its calls in topological order. */
export interface RefNet {
  readonly name: string;
  readonly kind: 'sequential' | 'functional';
  readonly model: tfl.LayersModel;
  readonly inputs: RefNode[];
  readonly outputs: RefNode[];
  readonly nodes: RefNode[];
}

/** One generated test case. */
export interface RandomCase {
  readonly seed: number;
  /** Human-readable summary: topology and layer classes, for failure messages. */
  readonly description: string;
  readonly net: RefNet;
  readonly model: tfl.LayersModel;
  /** One tensor per model input, batch first. */
  readonly inputs: tf.Tensor[];
  readonly batch: number;
  /** The target layer's call and its tfcam path. */
  readonly target: RefNode;
  readonly layerPath: string;
  /** Which model output is explained, and the class per example. */
  readonly outputIndex: number;
  readonly classes: number[];
  /** Explain pre-softmax/sigmoid scores (tfcam's `logits` option). */
  readonly logits: boolean;
  /** Frees the model's weights and the inputs. */
  dispose(): void;
}

// ---------------------------------------------------------------------------------------------
// Building

const MAX_SIDE = 48;
const MAX_CHANNELS = 8;

/** Shared state of one case's generation: the RNG, unique layer names, the summary. */
class Gen {
  private counter = 0;
  readonly classes = new Set<string>();

  constructor(readonly rng: Rng) {}

  name(kind: string): string {
    this.counter += 1;
    return `${kind}${this.counter}`;
  }

  note(cls: string): void {
    this.classes.add(cls);
  }
}

function spatialOf(shape: Shape): [number, number, number] {
  return [shape[0] as number, shape[1] as number, shape[2] as number];
}

function outShape(layer: Layer, shape: Shape): Shape {
  const s = layer.computeOutputShape([null, ...shape]) as Array<number | null>;
  return s.slice(1) as number[];
}

const ACTIVATIONS = ['linear', 'linear', 'relu', 'relu', 'relu6', 'elu', 'sigmoid', 'tanh'] as const;

/**
 * A random layer from a rank-4 shape to a rank-4 shape, or null when the drawn kind does not fit
 * the shape. `keep`: the output shape must equal the input shape (branches to be merged).
 */
function spatialLayer(g: Gen, shape: Shape, keep: boolean): Layer | null {
  const r = g.rng;
  const [h, w, c] = spatialOf(shape);
  const small = Math.min(h, w);
  const act = (): string => r.pick(ACTIVATIONS);
  const kind = r.pick(keep ? KEEP_KINDS : SPATIAL_KINDS);
  switch (kind) {
    case 'conv': {
      const k = r.int(1, 3);
      const strides = !keep && small >= 4 && r.chance(0.3) ? 2 : 1;
      const dilation = strides === 1 && k > 1 && r.chance(0.25) ? 2 : 1;
      const kEff = (k - 1) * dilation + 1;
      const padding = keep || small < kEff + 1 || r.chance(0.5) ? 'same' : 'valid';
      const filters = keep ? c : r.int(1, 6);
      return tfl.layers.conv2d({
        name: g.name('conv'),
        filters,
        kernelSize: k,
        strides,
        dilationRate: dilation,
        padding,
        activation: act() as 'relu',
        useBias: r.chance(0.7),
      });
    }
    case 'depthwise': {
      const k = r.int(1, 3);
      const strides = !keep && small >= 4 && r.chance(0.3) ? 2 : 1;
      const padding = keep || small < k + 1 || r.chance(0.5) ? 'same' : 'valid';
      const depthMultiplier = keep || c * 2 > MAX_CHANNELS ? 1 : r.int(1, 2);
      return tfl.layers.depthwiseConv2d({
        name: g.name('dw'),
        kernelSize: k,
        strides,
        padding,
        depthMultiplier,
        activation: act() as 'relu',
        useBias: r.chance(0.5),
      });
    }
    case 'separable': {
      const k = r.int(1, 3);
      const strides = !keep && small >= 4 && r.chance(0.25) ? 2 : 1;
      const dilation = strides === 1 && k > 1 && r.chance(0.25) ? 2 : 1;
      const kEff = (k - 1) * dilation + 1;
      const padding = keep || small < kEff + 1 || r.chance(0.5) ? 'same' : 'valid';
      return tfl.layers.separableConv2d({
        name: g.name('sep'),
        filters: keep ? c : r.int(1, 6),
        kernelSize: k,
        strides,
        dilationRate: dilation,
        padding,
        depthMultiplier: c * 2 > MAX_CHANNELS ? 1 : r.int(1, 2),
        activation: act() as 'relu',
      });
    }
    case 'bn':
      return tfl.layers.batchNormalization({
        name: g.name('bn'),
        scale: r.chance(0.6),
        center: r.chance(0.7),
        epsilon: r.pick([1e-3, 1e-5]),
      });
    case 'relu':
      return tfl.layers.reLU({ name: g.name('relu'), ...(r.chance(0.4) ? { maxValue: 6 } : {}) });
    case 'leaky':
      return tfl.layers.leakyReLU({ name: g.name('leaky'), alpha: r.pick([0.1, 0.2, 0.3]) });
    case 'elu':
      return tfl.layers.elu({ name: g.name('elu') });
    case 'prelu':
      return tfl.layers.prelu({ name: g.name('prelu'), ...(r.chance(0.5) ? { sharedAxes: [1, 2] } : {}) });
    case 'activation':
      return tfl.layers.activation({
        name: g.name('act'),
        activation: r.pick(['relu', 'relu6', 'elu', 'sigmoid', 'tanh', 'softplus']) as 'relu',
      });
    case 'softmax':
      // tfjs-layers' Softmax defaults to axis 1 (Keras: -1): on a feature map that is the height axis, which tfjs cannot do.
      return tfl.layers.softmax({ name: g.name('smax'), axis: -1 });
    case 'dropout':
      return tfl.layers.dropout({ name: g.name('drop'), rate: 0.3 });
    case 'maxpool':
    case 'avgpool': {
      const pool = r.int(2, 3);
      const strides = keep ? 1 : r.pick([1, 2, pool]);
      const padding = keep || small < pool + 1 || r.chance(0.5) ? 'same' : 'valid';
      const args = { name: g.name(kind), poolSize: pool, strides, padding } as const;
      return kind === 'maxpool' ? tfl.layers.maxPooling2d(args) : tfl.layers.averagePooling2d(args);
    }
    case 'zeropad': {
      const p = (): number => r.int(0, 2);
      const padding: [[number, number], [number, number]] = [
        [p(), p()],
        [p(), p()],
      ];
      if (h + padding[0][0] + padding[0][1] > MAX_SIDE || w + padding[1][0] + padding[1][1] > MAX_SIDE) return null;
      return tfl.layers.zeroPadding2d({ name: g.name('zpad'), padding });
    }
    case 'crop': {
      const cr = (n: number): [number, number] => (n >= 5 ? [r.int(0, 2), r.int(0, 1)] : [0, 0]);
      const cropping = [cr(h), cr(w)];
      if (cropping.flat().every((v) => v === 0)) return null;
      return tfl.layers.cropping2D({ name: g.name('crop'), cropping: cropping as [[number, number], [number, number]] });
    }
    case 'upsample': {
      // Factors that keep the map within MAX_SIDE: 1-2 along the height, 1-3 along the width.
      const size: [number, number] = [
        h * 2 <= MAX_SIDE ? r.int(1, 2) : 1,
        w * 3 <= MAX_SIDE ? r.int(1, 3) : w * 2 <= MAX_SIDE ? r.int(1, 2) : 1,
      ];
      if (size[0] * size[1] === 1) return null;
      return tfl.layers.upSampling2d({ name: g.name('up'), size, interpolation: r.pick(['nearest', 'bilinear']) as 'nearest' });
    }
    case 'permute':
      return tfl.layers.permute({ name: g.name('perm'), dims: [2, 1, 3] });
    case 'reshape': {
      // Same channels, other spatial factorisation: [w, h], or [h/2, 2w] when h is even.
      const target = h % 2 === 0 && r.chance(0.5) && h > 2 ? [h / 2, w * 2, c] : [w, h, c];
      if ((target[1] as number) > MAX_SIDE) return null;
      return tfl.layers.reshape({ name: g.name('reshape'), targetShape: target });
    }
    default:
      return null;
  }
}

/** Every rank-4 -> rank-4 kind the generator draws (some twice: more common in real networks). */
export const SPATIAL_KINDS = [
  'conv',
  'conv',
  'conv',
  'depthwise',
  'separable',
  'bn',
  'bn',
  'relu',
  'leaky',
  'elu',
  'prelu',
  'activation',
  'softmax',
  'dropout',
  'maxpool',
  'maxpool',
  'avgpool',
  'zeropad',
  'crop',
  'upsample',
  'upsample',
  'upsample',
  'upsample',
  'permute',
  'reshape',
] as const;

/** Kinds that can keep the shape (branches of an element-wise merge). */
const KEEP_KINDS = [
  'conv',
  'depthwise',
  'separable',
  'bn',
  'relu',
  'leaky',
  'elu',
  'prelu',
  'activation',
  'dropout',
  'maxpool',
  'avgpool',
] as const;

/** A spatial layer that fits `shape` (a few draws; a BatchNormalization always fits). */
function fittingLayer(g: Gen, shape: Shape, keep = false): { layer: Layer; shape: Shape } {
  for (let i = 0; i < 8; i++) {
    const layer = spatialLayer(g, shape, keep);
    if (layer === null) continue;
    const s = outShape(layer, shape);
    const [h, w, c] = spatialOf(s);
    if (s.length !== 3 || h < 1 || w < 1 || h > MAX_SIDE || w > MAX_SIDE || c > MAX_CHANNELS) continue;
    if (keep && (h !== shape[0] || w !== shape[1] || c !== shape[2])) continue;
    g.note(layer.getClassName());
    return { layer, shape: s };
  }
  const layer = tfl.layers.batchNormalization({ name: g.name('bn') });
  g.note('BatchNormalization');
  return { layer, shape: shape.slice() };
}

/** The classifier: pooling/flatten, optional hidden layers, logits and an optional squashing. */
function tailLayers(g: Gen, shape: Shape, units: number): Layer[] {
  const r = g.rng;
  const [h, w, c] = spatialOf(shape);
  const out: Layer[] = [];
  const flat = r.pick(['gap', 'gmp', 'gmp', 'flatten', 'permute-flatten', 'reshape-gmp1d'] as const);
  if (flat === 'gap') out.push(tfl.layers.globalAveragePooling2d({ name: g.name('gap') }));
  else if (flat === 'gmp') out.push(tfl.layers.globalMaxPooling2d({ name: g.name('gmp') }));
  else if (flat === 'flatten') out.push(tfl.layers.flatten({ name: g.name('flat') }));
  else if (flat === 'permute-flatten')
    out.push(tfl.layers.permute({ name: g.name('perm'), dims: [3, 1, 2] }), tfl.layers.flatten({ name: g.name('flat') }));
  else
    out.push(
      tfl.layers.reshape({ name: g.name('reshape'), targetShape: [h * w, c] }),
      tfl.layers.globalMaxPooling1d({ name: g.name('gmp1d') }),
    );
  if (r.chance(0.35))
    out.push(
      tfl.layers.dense({ name: g.name('hidden'), units: r.int(3, 6), activation: r.pick(['relu', 'elu', 'linear', 'tanh']) as 'relu' }),
    );
  if (r.chance(0.2)) out.push(tfl.layers.repeatVector({ name: g.name('repeat'), n: 2 }), tfl.layers.flatten({ name: g.name('flat') }));
  if (r.chance(0.25)) out.push(tfl.layers.dropout({ name: g.name('drop'), rate: 0.5 }));
  const squash = r.pick([
    'none',
    'none',
    'dense-softmax',
    'dense-sigmoid',
    'softmax-layer',
    'activation-softmax',
    'activation-sigmoid',
  ] as const);
  const dense = (activation: 'linear' | 'softmax' | 'sigmoid'): Layer => tfl.layers.dense({ name: g.name('logits'), units, activation });
  if (squash === 'dense-softmax') out.push(dense('softmax'));
  else if (squash === 'dense-sigmoid') out.push(dense('sigmoid'));
  else out.push(dense('linear'));
  if (squash === 'softmax-layer') out.push(tfl.layers.softmax({ name: g.name('probs') }));
  if (squash === 'activation-softmax') out.push(tfl.layers.activation({ name: g.name('probs'), activation: 'softmax' }));
  if (squash === 'activation-sigmoid') out.push(tfl.layers.activation({ name: g.name('probs'), activation: 'sigmoid' }));
  for (const l of out) g.note(l.getClassName());
  return out;
}

/** Builds a functional network call by call, keeping the symbolic tensors and the reference nodes. */
class FnBuilder {
  readonly nodes: RefNode[] = [];
  readonly inputNodes: RefNode[] = [];
  private readonly syms = new Map<RefNode, tfl.SymbolicTensor>();
  private readonly inputSyms: tfl.SymbolicTensor[] = [];

  constructor(private readonly g: Gen) {}

  input(shape: Shape): RefNode {
    const t = tfl.input({ shape, name: this.g.name('in') });
    const node: RefNode = { kind: 'input', layer: null, inputs: [], sub: null, shape: shape.slice(), path: '' };
    this.syms.set(node, t);
    this.inputSyms.push(t);
    this.inputNodes.push(node);
    return node;
  }

  layer(layer: Layer, ins: RefNode[]): RefNode {
    const args = ins.map((n) => this.syms.get(n) as tfl.SymbolicTensor);
    const t = layer.apply(args.length === 1 ? (args[0] as tfl.SymbolicTensor) : args) as tfl.SymbolicTensor;
    const node: RefNode = { kind: 'layer', layer, inputs: ins, sub: null, shape: (t.shape as number[]).slice(1), path: '' };
    this.syms.set(node, t);
    this.nodes.push(node);
    return node;
  }

  chain(layers: Layer[], from: RefNode): RefNode {
    return layers.reduce((n, l) => this.layer(l, [n]), from);
  }

  model(sub: RefNet, ins: RefNode[]): RefNode {
    const args = ins.map((n) => this.syms.get(n) as tfl.SymbolicTensor);
    const t = sub.model.apply(args.length === 1 ? (args[0] as tfl.SymbolicTensor) : args) as tfl.SymbolicTensor;
    const node: RefNode = {
      kind: 'model',
      layer: sub.model as unknown as Layer,
      inputs: ins,
      sub,
      shape: (t.shape as number[]).slice(1),
      path: '',
    };
    this.syms.set(node, t);
    this.nodes.push(node);
    return node;
  }

  finish(outputs: RefNode[]): RefNet {
    const name = this.g.name('fn');
    const model = tfl.model({ inputs: this.inputSyms, outputs: outputs.map((n) => this.syms.get(n) as tfl.SymbolicTensor), name });
    return { name, kind: 'functional', model, inputs: this.inputNodes, outputs, nodes: this.nodes };
  }
}

type SeqItem = Layer | RefNet;

/** A Sequential of layers and nested models; starts with an InputLayer unless the first item is a model. */
function finishSequential(g: Gen, inShape: Shape, items: SeqItem[]): RefNet {
  const name = g.name('seq');
  const isNet = (i: SeqItem): i is RefNet => (i as RefNet).nodes !== undefined;
  const layers: Layer[] = items.map((i) => (isNet(i) ? (i.model as unknown as Layer) : i));
  const first = items[0];
  const withInput = first === undefined || !isNet(first);
  const model = tfl.sequential({
    name,
    layers: withInput ? [tfl.layers.inputLayer({ inputShape: inShape, name: g.name('in') }), ...layers] : layers,
  });
  const input: RefNode = { kind: 'input', layer: null, inputs: [], sub: null, shape: inShape.slice(), path: '' };
  const nodes: RefNode[] = [];
  let prev = input;
  let shape = inShape;
  for (const item of items) {
    if (isNet(item)) {
      shape = (item.outputs[0] as RefNode).shape;
      prev = { kind: 'model', layer: item.model as unknown as Layer, inputs: [prev], sub: item, shape, path: '' };
    } else {
      shape = outShape(item, shape);
      prev = { kind: 'layer', layer: item, inputs: [prev], sub: null, shape, path: '' };
    }
    nodes.push(prev);
  }
  return { name, kind: 'sequential', model, inputs: [input], outputs: [prev], nodes };
}

/** Where a nested model goes in a container. */
type NestAt = 'first' | 'middle' | 'last' | null;

interface SpatialOptions {
  /** Nesting depth of the network being built (0: top level). */
  depth: number;
  /** Depth to which nested models may still be added. */
  maxDepth: number;
  /** Put a nested model at this position (if depth allows). */
  nest: NestAt;
  /** Append the classifier (then the network's output is the logits/probabilities). */
  tail: { units: number } | null;
}

/** A random network from `inShape`: spatial layers (and branches for functional ones), maybe a tail. */
function network(g: Gen, kind: 'sequential' | 'functional', inShape: Shape, o: SpatialOptions): RefNet {
  const r = g.rng;
  const n = r.int(2, o.depth === 0 ? 5 : 3);
  const canNest = o.depth < o.maxDepth;
  const nestAt = canNest ? o.nest : null;
  const subNet = (shape: Shape, tail: SpatialOptions['tail']): RefNet =>
    network(g, r.pick(['sequential', 'functional'] as const), shape, {
      depth: o.depth + 1,
      maxDepth: o.maxDepth,
      nest: o.depth + 1 < o.maxDepth ? r.pick(['first', 'middle', 'last'] as const) : null,
      tail,
    });
  if (kind === 'sequential') {
    const items: SeqItem[] = [];
    let shape = inShape;
    if (nestAt === 'first') {
      const sub = subNet(shape, null);
      items.push(sub);
      shape = (sub.outputs[0] as RefNode).shape;
    }
    for (let i = 0; i < n; i++) {
      if (nestAt === 'middle' && i === Math.floor(n / 2)) {
        const sub = subNet(shape, null);
        items.push(sub);
        shape = (sub.outputs[0] as RefNode).shape;
      }
      const next = fittingLayer(g, shape);
      items.push(next.layer);
      shape = next.shape;
    }
    if (nestAt === 'last') {
      const sub = subNet(shape, o.tail);
      items.push(sub);
    } else if (o.tail !== null) {
      items.push(...tailLayers(g, shape, o.tail.units));
    }
    return finishSequential(g, inShape, items);
  }
  const b = new FnBuilder(g);
  let x = b.input(inShape);
  const shapeOf = (node: RefNode): Shape => node.shape;
  if (nestAt === 'first') x = b.model(subNet(inShape, null), [x]);
  for (let i = 0; i < n; i++) {
    if (nestAt === 'middle' && i === Math.floor(n / 2)) {
      // A nested model, sometimes bypassed by a skip connection when it keeps the shape.
      const sub = subNet(shapeOf(x), null);
      const y = b.model(sub, [x]);
      const same = y.shape.every((v, k) => v === x.shape[k]);
      x = same && r.chance(0.5) ? b.layer(tfl.layers.add({ name: g.name('add') }), [x, y]) : y;
    }
    x = block(g, b, x);
  }
  if (nestAt === 'last') x = b.model(subNet(shapeOf(x), o.tail), [x]);
  else if (o.tail !== null) x = b.chain(tailLayers(g, shapeOf(x), o.tail.units), x);
  return b.finish([x]);
}

/** One functional block: a layer, an element-wise merge of two branches, a concat, or an SE gate. */
function block(g: Gen, b: FnBuilder, x: RefNode): RefNode {
  const r = g.rng;
  const kind = r.pick(['layer', 'layer', 'layer', 'merge', 'merge', 'concat', 'se'] as const);
  if (kind === 'layer') return b.layer(fittingLayer(g, x.shape).layer, [x]);
  const branch = (): RefNode => {
    // 0 to 2 shape-keeping layers (0: the identity, so merges of a tensor with itself occur).
    let y = x;
    for (let i = r.int(0, 2); i > 0; i--) y = b.layer(fittingLayer(g, y.shape, true).layer, [y]);
    return y;
  };
  if (kind === 'merge') {
    const merge = r.pick(['add', 'multiply', 'average', 'maximum', 'minimum'] as const);
    const layer = {
      add: tfl.layers.add,
      multiply: tfl.layers.multiply,
      average: tfl.layers.average,
      maximum: tfl.layers.maximum,
      minimum: tfl.layers.minimum,
    }[merge]({ name: g.name(merge) });
    g.note(layer.getClassName());
    return b.layer(layer, [branch(), branch()]);
  }
  if (kind === 'concat') {
    const c = x.shape[2] as number;
    const other = b.layer(
      tfl.layers.conv2d({
        name: g.name('conv'),
        filters: r.int(1, Math.max(1, MAX_CHANNELS - c)),
        kernelSize: r.int(1, 3),
        padding: 'same',
        activation: r.pick(ACTIVATIONS) as 'relu',
      }),
      [x],
    );
    g.note('Conv2D');
    g.note('Concatenate');
    return b.layer(tfl.layers.concatenate({ name: g.name('concat') }), r.chance(0.5) ? [branch(), other] : [other, branch()]);
  }
  // Squeeze-and-excitation: x * sigmoid(dense(GAP(x))) broadcast over space.
  const c = x.shape[2] as number;
  const pooled = b.layer(tfl.layers.globalAveragePooling2d({ name: g.name('se_gap') }), [x]);
  const gate = b.layer(tfl.layers.dense({ name: g.name('se_dense'), units: c, activation: 'sigmoid' }), [pooled]);
  const shaped = b.layer(tfl.layers.reshape({ name: g.name('se_reshape'), targetShape: [1, 1, c] }), [gate]);
  for (const cls of ['GlobalAveragePooling2D', 'Dense', 'Reshape', 'Multiply']) g.note(cls);
  return b.layer(tfl.layers.multiply({ name: g.name('se_mul') }), [x, shaped]);
}

/** The topologies the generator cycles through (case `seed` uses `TOPOLOGIES[seed % length]`). */
export const TOPOLOGIES = [
  'sequential',
  'functional',
  'seq-nested-first',
  'seq-nested-middle',
  'seq-in-seq',
  'fn-nested',
  'nested-two-deep',
  'multi-input',
  'multi-output',
] as const;
export type Topology = (typeof TOPOLOGIES)[number];

function topLevel(g: Gen, topology: Topology, inShape: Shape, units: number): { net: RefNet; extraInputs: Shape[] } {
  const r = g.rng;
  const at = (): 'first' | 'middle' | 'last' => r.pick(['first', 'middle', 'last'] as const);
  switch (topology) {
    case 'sequential':
      return { net: network(g, 'sequential', inShape, { depth: 0, maxDepth: 0, nest: null, tail: { units } }), extraInputs: [] };
    case 'functional':
      return { net: network(g, 'functional', inShape, { depth: 0, maxDepth: 0, nest: null, tail: { units } }), extraInputs: [] };
    case 'seq-nested-first':
      return { net: sequentialWith(g, inShape, units, 'functional', 'first'), extraInputs: [] };
    case 'seq-nested-middle':
      return { net: sequentialWith(g, inShape, units, 'functional', r.pick(['middle', 'last'] as const)), extraInputs: [] };
    case 'seq-in-seq':
      return { net: sequentialWith(g, inShape, units, 'sequential', at()), extraInputs: [] };
    case 'fn-nested':
      return { net: network(g, 'functional', inShape, { depth: 0, maxDepth: 1, nest: at(), tail: { units } }), extraInputs: [] };
    case 'nested-two-deep':
      return {
        net: network(g, r.pick(['sequential', 'functional'] as const), inShape, { depth: 0, maxDepth: 2, nest: at(), tail: { units } }),
        extraInputs: [],
      };
    case 'multi-input':
      return multiInput(g, inShape, units);
    case 'multi-output':
      return { net: multiOutput(g, inShape, units), extraInputs: [] };
  }
}

/** A Sequential holding one nested model of the given kind at `at`. */
function sequentialWith(
  g: Gen,
  inShape: Shape,
  units: number,
  inner: 'sequential' | 'functional',
  at: 'first' | 'middle' | 'last',
): RefNet {
  const r = g.rng;
  const items: SeqItem[] = [];
  let shape = inShape;
  const sub = (tail: SpatialOptions['tail']): RefNet => network(g, inner, shape, { depth: 1, maxDepth: 1, nest: null, tail });
  if (at === 'first') {
    const s = sub(null);
    items.push(s);
    shape = (s.outputs[0] as RefNode).shape;
  }
  for (let i = r.int(1, 3); i > 0; i--) {
    const next = fittingLayer(g, shape);
    items.push(next.layer);
    shape = next.shape;
    if (at === 'middle' && i === 1) {
      const s = sub(null);
      items.push(s);
      shape = (s.outputs[0] as RefNode).shape;
      const after = fittingLayer(g, shape);
      items.push(after.layer);
      shape = after.shape;
    }
  }
  if (at === 'last') items.push(sub({ units }));
  else items.push(...tailLayers(g, shape, units));
  return finishSequential(g, inShape, items);
}

/** Two inputs: a second image (same size, own channels) joined by a concat or an add, or a vector. */
function multiInput(g: Gen, inShape: Shape, units: number): { net: RefNet; extraInputs: Shape[] } {
  const r = g.rng;
  const b = new FnBuilder(g);
  const img = b.input(inShape);
  const vectorSecond = r.chance(0.4);
  const secondShape = vectorSecond ? [r.int(2, 5)] : [inShape[0] as number, inShape[1] as number, r.int(1, 3)];
  const second = b.input(secondShape);
  let x = img;
  for (let i = r.int(1, 3); i > 0; i--) x = block(g, b, x);
  if (!vectorSecond) {
    // Bring the second image to x's spatial size with a conv (when sizes agree) and join.
    if (x.shape[0] === inShape[0] && x.shape[1] === inShape[1]) {
      const y = b.layer(
        tfl.layers.conv2d({ name: g.name('conv'), filters: x.shape[2] as number, kernelSize: 3, padding: 'same', activation: 'relu' }),
        [second],
      );
      x = b.layer(
        r.chance(0.5) ? tfl.layers.add({ name: g.name('add') }) : tfl.layers.concatenate({ name: g.name('concat') }),
        r.chance(0.5) ? [x, y] : [y, x],
      );
    } else {
      const y = b.layer(tfl.layers.globalAveragePooling2d({ name: g.name('gap') }), [second]);
      const gate = b.layer(tfl.layers.dense({ name: g.name('dense'), units: x.shape[2] as number, activation: 'sigmoid' }), [y]);
      const shaped = b.layer(tfl.layers.reshape({ name: g.name('reshape'), targetShape: [1, 1, x.shape[2] as number] }), [gate]);
      x = b.layer(tfl.layers.multiply({ name: g.name('mul') }), [x, shaped]);
    }
    g.note('Concatenate/Add (second image)');
  }
  for (let i = r.int(0, 2); i > 0; i--) x = block(g, b, x);
  const tail = tailLayers(g, x.shape, units);
  // The classifier's first layer (pooling/flatten) makes a vector; a vector input joins right after it.
  let v = b.layer(tail[0] as Layer, [x]);
  let rest = tail.slice(1);
  if (vectorSecond) {
    // Pooling may be followed by its reshape partner (reshape -> GMP1D, permute -> flatten).
    while (v.shape.length > 1 && rest.length > 0) {
      v = b.layer(rest[0] as Layer, [v]);
      rest = rest.slice(1);
    }
    const proj = b.layer(tfl.layers.dense({ name: g.name('dense'), units: r.int(2, 4), activation: 'relu' }), [second]);
    v = b.layer(tfl.layers.concatenate({ name: g.name('concat') }), [v, proj]);
    g.note('Concatenate (vector input)');
  }
  x = b.chain(rest, v);
  return { net: b.finish([x]), extraInputs: [secondShape] };
}

/** Two outputs: the main classifier and a second one on an intermediate feature map. */
function multiOutput(g: Gen, inShape: Shape, units: number): RefNet {
  const r = g.rng;
  const b = new FnBuilder(g);
  let x = b.input(inShape);
  for (let i = r.int(1, 3); i > 0; i--) x = block(g, b, x);
  const branchPoint = x;
  for (let i = r.int(1, 3); i > 0; i--) x = block(g, b, x);
  const main = b.chain(tailLayers(g, x.shape, units), x);
  const aux = b.chain(tailLayers(g, branchPoint.shape, units + 1), branchPoint);
  return b.finish(r.chance(0.5) ? [main, aux] : [aux, main]);
}

/** Sets tfcam's paths: `prefix + name`, nested models add `name/`. */
function assignPaths(net: RefNet, prefix: string): void {
  for (const node of net.nodes) {
    node.path = `${prefix}${(node.layer as Layer).name}`;
    if (node.sub !== null) assignPaths(node.sub, `${node.path}/`);
  }
}

/** Every call of every network, nested ones included (depth first). */
export function allNodes(net: RefNet): RefNode[] {
  return net.nodes.flatMap((n) => (n.sub === null ? [n] : [n, ...allNodes(n.sub)]));
}

/** The calls the value of `node` depends on (through nested models and back out of them). */
function ancestors(root: RefNet, node: RefNode): Set<RefNode> {
  // Where each nested network's input nodes are bound in the enclosing network.
  const binding = new Map<RefNode, RefNode>();
  const bind = (net: RefNet): void => {
    for (const n of net.nodes) {
      if (n.sub === null) continue;
      n.sub.inputs.forEach((inp, i) => binding.set(inp, n.inputs[i] as RefNode));
      bind(n.sub);
    }
  };
  bind(root);
  const seen = new Set<RefNode>();
  const visit = (n: RefNode): void => {
    if (seen.has(n)) return;
    seen.add(n);
    if (n.kind === 'input') {
      const outer = binding.get(n);
      if (outer !== undefined) visit(outer);
      return;
    }
    if (n.sub !== null) visit(n.sub.outputs[0] as RefNode);
    n.inputs.forEach(visit);
  };
  visit(node);
  return seen;
}

/** Deterministic weights: He-uniform kernels, non-trivial BatchNormalization statistics, PReLU slopes. */
function seedWeights(model: tfl.LayersModel, seed: number): void {
  const values = model.weights.map((w, i) =>
    tf.tidy(() => {
      const shape = w.shape as number[];
      const s = seed * 997 + i;
      const u = (lo: number, hi: number): tf.Tensor => tf.randomUniform(shape, lo, hi, 'float32', s);
      const name = w.name;
      if (/moving_variance/.test(name)) return u(0.5, 1.5);
      if (/moving_mean/.test(name)) return u(-0.3, 0.3);
      if (/gamma/.test(name)) return u(0.6, 1.4);
      if (/beta/.test(name)) return u(-0.3, 0.3);
      if (/alpha/.test(name)) return u(0.05, 0.4);
      if (/bias/.test(name)) return u(-0.2, 0.2);
      let fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      if (/depthwise_kernel/.test(name)) fanIn = (shape[0] as number) * (shape[1] as number);
      const bound = Math.sqrt(6 / Math.max(fanIn, 1));
      return u(-bound, bound);
    }),
  );
  model.setWeights(values);
  tf.dispose(values);
}

/**
 * Generates case `seed`: the topology is `TOPOLOGIES[seed % length]` (so any 9 consecutive seeds
 * cover them all); everything else is drawn from the seeded RNG.
 */
export function generateCase(seed: number): RandomCase {
  const rng = new Rng(seed);
  const g = new Gen(rng);
  const topology = TOPOLOGIES[seed % TOPOLOGIES.length] as Topology;
  const h = rng.int(8, 24);
  const w = rng.chance(0.6) ? rng.int(8, 24) : h;
  const c = rng.int(1, 3);
  const units = rng.int(2, 5);
  const { net, extraInputs } = topLevel(g, topology, [h, w, c], units);
  assignPaths(net, '');
  seedWeights(net.model, seed);
  const batch = rng.pick([1, 2, 2, 3]);
  const inputs = [[h, w, c], ...extraInputs].map((shape, i) => tf.randomUniform([batch, ...shape], -1, 1, 'float32', seed * 31 + i));
  const outputIndex = rng.int(0, net.outputs.length - 1);
  const explained = net.outputs[outputIndex] as RefNode;
  const numClasses = explained.shape[0] as number;
  const dependsOn = ancestors(net, explained);
  const candidates = allNodes(net).filter(
    (n) => n.kind !== 'input' && n.shape.length === 3 && (n.shape[0] as number) * (n.shape[1] as number) >= 2 && dependsOn.has(n),
  );
  // Mostly an early layer (a long head: every layer above it is differentiated), else any.
  const u = rng.next();
  const early = Math.min(
    candidates.length - 1,
    Math.floor(u < 0.4 ? rng.next() * 2 : u < 0.7 ? rng.next() ** 3 * candidates.length : rng.next() * candidates.length),
  );
  const target = candidates[early] as RefNode;
  const classes = Array.from({ length: batch }, () => rng.int(0, numClasses - 1));
  const logits = rng.chance(0.75);
  const layers = [...g.classes].sort().join(', ');
  const description =
    `seed ${seed}: ${topology}, input ${[h, w, c].join('x')}${extraInputs.length ? ` + ${extraInputs.map((s) => s.join('x')).join(', ')}` : ''}, ` +
    `batch ${batch}, layer '${target.path}' (${(target.layer as Layer).getClassName()}, ${target.shape.join('x')}), ` +
    `output ${outputIndex}, classes [${classes.join(', ')}], logits ${logits}; layers: ${layers}`;
  return {
    seed,
    description,
    net,
    model: net.model,
    inputs,
    batch,
    target,
    layerPath: target.path,
    outputIndex,
    classes,
    logits,
    dispose: () => {
      net.model.dispose();
      tf.dispose(inputs);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The reference

interface EvalEnv {
  readonly target: RefNode;
  /** Replaces the target's value (the head function's argument). */
  readonly replace: tf.Tensor | null;
  /** The leaf call whose softmax/sigmoid is skipped (logits), or null. */
  readonly strip: RefNode | null;
  captured: tf.Tensor | null;
  /** Collects the values that do not depend on the target, when set. */
  independent: tf.Tensor[] | null;
}

type Weighted = { read(): tf.Tensor };

/** The pre-squashing value of a leaf that ends in softmax/sigmoid (textbook logits), or null. */
function preSquash(layer: Layer, x: tf.Tensor): tf.Tensor | null {
  const rec = layer as unknown as Record<string, unknown>;
  const cls = layer.getClassName();
  const act = (rec['activation'] as { getClassName?: () => string } | undefined)?.getClassName?.();
  const squashing = act === 'softmax' || act === 'sigmoid';
  if (cls === 'Softmax' || (cls === 'Activation' && squashing)) return x;
  if (cls === 'Dense' && squashing) {
    const y = tf.matMul(x as tf.Tensor2D, (rec['kernel'] as Weighted).read() as tf.Tensor2D);
    return rec['useBias'] === false ? y : tf.add(y, (rec['bias'] as Weighted).read());
  }
  if (squashing) throw new Error(`reference: no logits for ${cls} with activation ${act}`);
  return null;
}

/** Runs `net` on `xs` (`dependent[i]`: input i depends on the target); returns its outputs. */
function evaluate(net: RefNet, xs: tf.Tensor[], env: EvalEnv, dependent: boolean[]): { outs: tf.Tensor[]; dependent: boolean[] } {
  const values = new Map<RefNode, tf.Tensor>();
  const dep = new Map<RefNode, boolean>();
  net.inputs.forEach((n, i) => {
    values.set(n, xs[i] as tf.Tensor);
    dep.set(n, dependent[i] === true);
  });
  for (const node of net.nodes) {
    const ins = node.inputs.map((n) => values.get(n) as tf.Tensor);
    const insDep = node.inputs.map((n) => dep.get(n) === true);
    let out: tf.Tensor;
    let isDep: boolean;
    if (node.sub !== null) {
      const r = evaluate(node.sub, ins, env, insDep);
      out = r.outs[0] as tf.Tensor;
      isDep = r.dependent[0] === true;
    } else {
      const stripped = node === env.strip ? preSquash(node.layer as Layer, ins[0] as tf.Tensor) : null;
      out = stripped ?? ((node.layer as Layer).apply(ins.length === 1 ? (ins[0] as tf.Tensor) : ins, { training: false }) as tf.Tensor);
      isDep = insDep.some((d) => d);
    }
    if (node === env.target) {
      env.captured = out;
      if (env.replace !== null) out = env.replace;
      isDep = true;
    }
    if (!isDep) env.independent?.push(out);
    values.set(node, out);
    dep.set(node, isDep);
  }
  return { outs: net.outputs.map((n) => values.get(n) as tf.Tensor), dependent: net.outputs.map((n) => dep.get(n) === true) };
}

/** The leaf call that produces output `index` of `net` (entering nested models). */
function leafOf(net: RefNet, index: number): RefNode {
  let node = net.outputs[index] as RefNode;
  while (node.sub !== null) node = node.sub.outputs[0] as RefNode;
  return node;
}

/** The independent reference of a case. */
export interface Reference {
  /** A, the target layer's output, computed by the stock layers. */
  activations(): tf.Tensor4D;
  /** The explained output (logits when the case explains logits) with A replaced by `a`. */
  head(a: tf.Tensor): tf.Tensor2D;
  /** The summed explained score sum_b head(a)[b, class_b]: a scalar. */
  score(a: tf.Tensor): tf.Scalar;
  /**
   * Every value of the tensors that do not depend on A (the inputs, the body, skip connections):
   * where A equals one of them exactly, a max/min in the head may compare A with a constant copy of
   * itself (`minimum(dropout(x), maxPool(x))`), a kink no finite difference can cross.
   */
  independentValues(): Set<number>;
}

/** The stock-layer reference of a case (its functions allocate: call them inside `tf.tidy`). */
export function referenceOf(c: RandomCase): Reference {
  const strip = c.logits ? leafOf(c.net, c.outputIndex) : null;
  const run = (replace: tf.Tensor | null, independent: tf.Tensor[] | null = null): { out: tf.Tensor; a: tf.Tensor } => {
    const env: EvalEnv = { target: c.target, replace, strip, captured: null, independent };
    const out = evaluate(
      c.net,
      c.inputs,
      env,
      c.inputs.map(() => false),
    ).outs[c.outputIndex] as tf.Tensor;
    if (env.captured === null) throw new Error(`reference: target ${c.target.path} not reached`);
    return { out, a: env.captured };
  };
  const n = (c.net.outputs[c.outputIndex] as RefNode).shape[0] as number;
  const oneHot = c.classes.map((k) => Array.from({ length: n }, (_, j) => (j === k ? 1 : 0)));
  const head = (a: tf.Tensor): tf.Tensor2D => run(a).out as tf.Tensor2D;
  return {
    activations: () => run(null).a as tf.Tensor4D,
    head,
    score: (a) => tf.sum(tf.mul(head(a), tf.tensor2d(oneHot))),
    independentValues: () => {
      const values = new Set<number>();
      tf.tidy(() => {
        const found: tf.Tensor[] = [...c.inputs];
        run(null, found);
        for (const t of found) for (const v of t.dataSync()) values.add(v);
      });
      return values;
    },
  };
}
