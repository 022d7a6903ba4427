/**
 * The topology of a loaded `tf.GraphModel`: its GraphDef nodes (name, op, inputs, attrs) in
 * topological order, read once per model.
 *
 * No public tfjs API lists a graph's nodes. tfjs-converter 4.x keeps what the model loader returned in
 * the (private) `model.artifacts`, whose `modelTopology` is the GraphDef as stored in `model.json`
 * (`node[]` with `name`, `op`, `input`, `attr` in TensorFlow's JSON encoding). That format is the
 * converter's file format, so it is what this module reads, defensively: anything else is a
 * {@link TopologyError} the caller turns into a `ModelError`.
 *
 * @internal
 * @module
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import type { GraphModelLike } from './types.js';

/** One attr value in TensorFlow's JSON encoding (a subset of `tensorflow.AttrValue`). */
export interface AttrValue {
  readonly i?: string | number;
  readonly f?: number;
  readonly b?: boolean;
  readonly s?: string;
  readonly type?: string;
  readonly list?: { readonly i?: ReadonlyArray<string | number>; readonly s?: readonly string[]; readonly f?: readonly number[] };
  readonly shape?: { readonly dim?: ReadonlyArray<{ readonly size?: string | number }>; readonly unknownRank?: boolean };
}

/** A node's data input: output `output` of node `node` (an index into {@link Topology.nodes}). */
export interface NodeRef {
  readonly node: number;
  readonly output: number;
}

/** A GraphDef node. */
export interface GraphNode {
  /** Position in {@link Topology.nodes} (a topological order). */
  readonly index: number;
  readonly name: string;
  readonly op: string;
  /** Data inputs, in order. */
  readonly inputs: readonly NodeRef[];
  /** Control inputs (`^name`): ordering only, no value. */
  readonly control: readonly number[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
  /** A `Const` node: its value is in `model.weights`. */
  readonly isConst: boolean;
}

/** The graph of a model, in topological order. */
export interface Topology {
  readonly nodes: readonly GraphNode[];
  readonly byName: ReadonlyMap<string, GraphNode>;
  /** Data consumers of each node. */
  readonly children: ReadonlyArray<readonly number[]>;
  /** The Placeholder node of each model input, in `model.inputs` order. */
  readonly inputs: readonly number[];
  /** The node of each model output, in `model.outputs` order. */
  readonly outputs: readonly NodeRef[];
  /** Whether a node's value depends on a model input (false: Const, or computed from Consts only). */
  readonly dependsOnInput: readonly boolean[];
  /** Whether the GraphDef defines functions (V2 control flow bodies). */
  readonly hasFunctions: boolean;
}

/** The topology is not what tfjs-converter 4.x produces. */
export class TopologyError extends Error {}

/** Splits a GraphDef input reference: `'name'`, `'name:1'`, `'^name'` (control), `'name:out:1'` (functions). */
export function parseRef(input: string): { name: string; output: number; control: boolean } {
  if (input.startsWith('^')) return { name: input.slice(1), output: 0, control: true };
  const parts = input.split(':');
  if (parts.length === 1) return { name: input, output: 0, control: false };
  const k = Number(parts[parts.length - 1]);
  return { name: parts[0] as string, output: Number.isInteger(k) && k >= 0 ? k : 0, control: false };
}

interface RawNode {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, AttrValue>;
}

function rawNodes(model: GraphModelLike): { nodes: RawNode[]; hasFunctions: boolean } {
  const artifacts = (model as unknown as { artifacts?: unknown }).artifacts;
  const topology =
    artifacts !== null && typeof artifacts === 'object' ? (artifacts as { modelTopology?: unknown }).modelTopology : undefined;
  const list = topology !== null && typeof topology === 'object' ? (topology as { node?: unknown }).node : undefined;
  if (!Array.isArray(list)) {
    throw new TopologyError('no GraphDef node list at model.artifacts.modelTopology.node');
  }
  const nodes = list.map((n: unknown, i): RawNode => {
    const r = n as { name?: unknown; op?: unknown; input?: unknown; attr?: unknown } | null;
    if (r === null || typeof r !== 'object' || typeof r.name !== 'string' || typeof r.op !== 'string') {
      throw new TopologyError(`GraphDef node ${i} has no string name and op`);
    }
    const input = r.input ?? [];
    if (!Array.isArray(input) || !input.every((s) => typeof s === 'string')) {
      throw new TopologyError(`GraphDef node '${r.name}' has a malformed input list`);
    }
    const attr = r.attr ?? {};
    if (attr === null || typeof attr !== 'object') throw new TopologyError(`GraphDef node '${r.name}' has malformed attrs`);
    return { name: r.name, op: r.op, input: input as string[], attr: attr as Record<string, AttrValue> };
  });
  const library = (topology as { library?: { function?: unknown } }).library;
  const functions = library?.function;
  const hasFunctions = Array.isArray(functions) && functions.length > 0;
  return { nodes, hasFunctions };
}

/** Reads the topology of `model` (throws {@link TopologyError} when it is not a GraphDef). */
export function readTopology(model: GraphModelLike): Topology {
  const { nodes: raw, hasFunctions } = rawNodes(model);
  const position = new Map<string, number>();
  raw.forEach((n, i) => {
    if (position.has(n.name)) throw new TopologyError(`two GraphDef nodes are named '${n.name}'`);
    position.set(n.name, i);
  });
  const refs = raw.map((n) =>
    n.input.map((s) => {
      const r = parseRef(s);
      const at = position.get(r.name);
      if (at === undefined) throw new TopologyError(`node '${n.name}' reads '${s}', which is not a node`);
      return { at, output: r.output, control: r.control };
    }),
  );
  // Topological order: the file order when it is one (converted models are ordered), else Kahn's
  // algorithm taking the ready node that comes first in the file.
  const ordered = refs.every((rs, i) => rs.every((r) => r.at < i));
  let order: number[];
  if (ordered) {
    order = raw.map((_, i) => i);
  } else {
    const indegree = raw.map((_, i) => (refs[i] as Array<{ at: number }>).length);
    const consumers: number[][] = raw.map(() => []);
    refs.forEach((rs, i) => rs.forEach((r) => (consumers[r.at] as number[]).push(i)));
    order = [];
    const ready = new Set<number>();
    indegree.forEach((d, i) => {
      if (d === 0) ready.add(i);
    });
    while (ready.size > 0) {
      const i = Math.min(...ready);
      ready.delete(i);
      order.push(i);
      for (const c of consumers[i] as number[]) {
        indegree[c] = (indegree[c] as number) - 1;
        if (indegree[c] === 0) ready.add(c);
      }
    }
  }
  if (order.length !== raw.length) throw new TopologyError('the GraphDef has a cycle (control flow loops are not supported)');
  const newIndex = new Array<number>(raw.length);
  order.forEach((old, i) => (newIndex[old] = i));
  const weights = model.weights;
  const nodes: GraphNode[] = order.map((old, index) => {
    const n = raw[old] as RawNode;
    const rs = refs[old] as Array<{ at: number; output: number; control: boolean }>;
    return {
      index,
      name: n.name,
      op: n.op,
      inputs: rs.filter((r) => !r.control).map((r) => ({ node: newIndex[r.at] as number, output: r.output })),
      control: rs.filter((r) => r.control).map((r) => newIndex[r.at] as number),
      attrs: n.attr,
      isConst: n.op === 'Const' || (weights[n.name] !== undefined && n.input.length === 0),
    };
  });
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const children: number[][] = nodes.map(() => []);
  for (const n of nodes) for (const r of n.inputs) (children[r.node] as number[]).push(n.index);
  const find = (what: string, name: string): GraphNode => {
    const n = byName.get(parseRef(name).name);
    if (n === undefined) throw new TopologyError(`model ${what} '${name}' is not a node of the GraphDef`);
    return n;
  };
  const inputs = model.inputs.map((t) => find('input', t.name).index);
  const outputs = model.outputs.map((t) => ({ node: find('output', t.name).index, output: parseRef(t.name).output }));
  const dependsOnInput = new Array<boolean>(nodes.length).fill(false);
  const inputSet = new Set(inputs);
  for (const n of nodes) {
    dependsOnInput[n.index] =
      inputSet.has(n.index) || n.op.startsWith('Placeholder') || n.inputs.some((r) => dependsOnInput[r.node] === true);
  }
  return { nodes, byName, children, inputs, outputs, dependsOnInput, hasFunctions };
}

// ---------------------------------------------------------------------------------------------
// Attrs

/** Decodes standard base64 (TensorFlow's JSON encoding of string attrs) to a Latin-1/ASCII string. */
function decodeBase64(s: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const ch of s) {
    if (ch === '=') break;
    const v = alphabet.indexOf(ch === '-' ? '+' : ch === '_' ? '/' : ch);
    if (v < 0) continue;
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((value >> bits) & 0xff);
    }
  }
  return out;
}

/** An int attr (`{i: '3'}`), or `fallback`. */
export function attrInt(node: GraphNode, key: string, fallback: number): number {
  const v = node.attrs[key]?.i;
  return v === undefined ? fallback : Number(v);
}

/** A float attr (`{f: 0.001}`), or `fallback`. */
export function attrFloat(node: GraphNode, key: string, fallback: number): number {
  const v = node.attrs[key]?.f;
  return typeof v === 'number' ? v : fallback;
}

/** A bool attr (`{b: true}`), or `fallback`. */
export function attrBool(node: GraphNode, key: string, fallback: boolean): boolean {
  const v = node.attrs[key]?.b;
  return typeof v === 'boolean' ? v : fallback;
}

/** A string attr (`{s: base64}`), or `fallback`. */
export function attrString(node: GraphNode, key: string, fallback: string): string {
  const v = node.attrs[key]?.s;
  return typeof v === 'string' ? decodeBase64(v) : fallback;
}

/** An int-list attr (`{list: {i: [...]}}`), or `fallback`. */
export function attrInts(node: GraphNode, key: string, fallback: readonly number[]): number[] {
  const v = node.attrs[key]?.list?.i;
  return v === undefined ? [...fallback] : v.map(Number);
}

/** A string-list attr (`{list: {s: [...]}}`), or `fallback`. */
export function attrStrings(node: GraphNode, key: string, fallback: readonly string[]): string[] {
  const v = node.attrs[key]?.list?.s;
  return v === undefined ? [...fallback] : v.map(decodeBase64);
}

/** A shape attr: sizes (`-1` for unknown), or null for an unknown rank or no attr. */
export function attrShape(node: GraphNode, key: string): number[] | null {
  const v = node.attrs[key]?.shape;
  if (v === undefined || v.unknownRank === true) return null;
  return (v.dim ?? []).map((d) => Number(d.size ?? -1));
}

/** A type attr (`{type: 'DT_FLOAT'}`), or `fallback`. */
export function attrType(node: GraphNode, key: string, fallback: string): string {
  return node.attrs[key]?.type ?? fallback;
}

// ---------------------------------------------------------------------------------------------
// Constants

/** A Const node's value as host numbers (int and small float constants: axes, shapes, paddings). */
export interface HostConst {
  readonly shape: readonly number[];
  readonly values: readonly number[];
}

/** Largest constant read to the host (shape vectors, axes, paddings; never weights). */
const MAX_HOST_CONST = 64;

const hostConsts = new WeakMap<object, Map<number, HostConst | null>>();

/**
 * The value of Const node `node` on the host, for parameters (axes, shapes, paddings) that ops take
 * as inputs, or null when `node` is not a small constant. Read once per model and cached: the one
 * device-to-host read tfcam makes for a graph, at planning time, never on the compute path (the
 * tfjs executor reads the same constants on every `execute`).
 */
export function hostConst(model: GraphModelLike, topology: Topology, node: number): HostConst | null {
  let cache = hostConsts.get(topology);
  if (cache === undefined) {
    cache = new Map();
    hostConsts.set(topology, cache);
  }
  if (cache.has(node)) return cache.get(node) ?? null;
  const n = topology.nodes[node] as GraphNode;
  let value: HostConst | null = null;
  const t = n.isConst ? (model.weights[n.name]?.[0] as Tensor | undefined) : undefined;
  if (t !== undefined && t.size <= MAX_HOST_CONST && (t.dtype === 'int32' || t.dtype === 'float32' || t.dtype === 'bool')) {
    value = { shape: t.shape.slice(), values: Array.from(t.dataSync() as ArrayLike<number>) };
  }
  cache.set(node, value);
  return value;
}

/** A weight tensor (a Const node's value), or null. */
export function weightOf(model: GraphModelLike, topology: Topology, node: number): Tensor | null {
  const n = topology.nodes[node] as GraphNode;
  return n.isConst ? (model.weights[n.name]?.[0] ?? null) : null;
}
