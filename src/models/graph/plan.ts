/**
 * Splitting a graph at the explained node: which nodes run outside the tape (the body, through the
 * model's own `execute`), which are replayed under it (the head), and which values cross (the
 * frontier: the explained node A and the *cut feeds*, the values a head node reads from outside the
 * head: skip connections around a node inside a branch). Pure and cached per model, node and output.
 *
 * @internal
 * @module
 */
import type { GraphNode, NodeRef, Topology } from './topology.js';
import { attrStrings } from './topology.js';

/** Ops with control flow or dynamic shapes: the model needs `executeAsync`, which `tf.grad` cannot record. */
export const ASYNC_OPS = new Set([
  'Switch',
  'Merge',
  'Enter',
  'Exit',
  'NextIteration',
  'LoopCond',
  'StatelessIf',
  'If',
  'if',
  'StatelessWhile',
  'While',
  'NonMaxSuppressionV2',
  'NonMaxSuppressionV3',
  'NonMaxSuppressionV4',
  'NonMaxSuppressionV5',
  'Where',
  'HashTable',
  'HashTableV2',
  'LookupTableImport',
  'LookupTableImportV2',
  'LookupTableFind',
  'LookupTableFindV2',
  'LookupTableSize',
  'LookupTableSizeV2',
  'TensorListReserve',
  'TensorListFromTensor',
  'TensorListStack',
  'TensorListSetItem',
  'TensorListGetItem',
  'TensorArrayV3',
  'PartitionedCall',
  'StatefulPartitionedCall',
]);

/**
 * Ops tfjs 4.22 has no gradient for (no registered gradient, checked with `tf.getGradient`): the map
 * of a node below one of them would be wrong or fail, so a split that differentiates through one is
 * refused.
 */
export const NO_GRADIENT_OPS = new Set([
  'StridedSlice',
  'GatherNd',
  'Einsum',
  'TopK',
  'TopKV2',
  'CropAndResize',
  'DepthToSpace',
  'Cumprod',
  'ScatterNd',
  'SparseToDense',
  'MaxPoolWithArgmax',
  'Unique',
  'Bincount',
  'DenseBincount',
  'TensorScatterUpdate',
  'SearchSorted',
  'LinSpace',
  'Range',
  'Fill',
  'RandomUniform',
  'RandomStandardNormal',
  'Multinomial',
  'StringToHashBucketFast',
]);

/** Ops whose output carries no gradient of their input (shape queries). They end the gradient path. */
const SHAPE_OPS = new Set(['Shape', 'ShapeN', 'Size', 'Rank', 'ZerosLike', 'OnesLike']);

/** A split of the graph at node `target` for one model output. */
export interface GraphPlan {
  readonly topology: Topology;
  /** The explained node (A): its output 0. */
  readonly target: number;
  /** The explained model output. */
  readonly output: NodeRef;
  /** The input of the output's softmax/sigmoid (what `logits` explains), or null. */
  readonly logits: NodeRef | null;
  /** Nodes replayed from A to the output, in topological order. */
  readonly head: readonly number[];
  /** Head nodes skipped when explaining logits (the softmax/sigmoid and Identity nodes after it). */
  readonly tail: ReadonlySet<number>;
  /** Values the body provides: A first, then the cut feeds and the stopped values. */
  readonly frontier: readonly NodeRef[];
  /**
   * StopGradient nodes whose input depends on A: in the gradient pass their value comes from the
   * body (a constant, so the gradient stops there, as in TensorFlow; tfjs runs StopGradient as an
   * identity); forward-only passes recompute them.
   */
  readonly stopped: readonly number[];
  /** Per node: on the differentiable path from A (its value depends on A through a gradient). */
  readonly onPath: readonly boolean[];
}

/** Nodes `refs` depend on (themselves included), following data inputs. */
export function ancestorsOf(topology: Topology, refs: readonly number[]): boolean[] {
  const seen = new Array<boolean>(topology.nodes.length).fill(false);
  const stack = [...refs];
  while (stack.length > 0) {
    const n = stack.pop() as number;
    if (seen[n]) continue;
    seen[n] = true;
    for (const r of (topology.nodes[n] as GraphNode).inputs) stack.push(r.node);
  }
  return seen;
}

/** Nodes that depend on `node` (itself included), following data inputs. */
export function descendantsOf(topology: Topology, node: number): boolean[] {
  const seen = new Array<boolean>(topology.nodes.length).fill(false);
  seen[node] = true;
  for (const n of topology.nodes) {
    if (n.index > node && n.inputs.some((r) => seen[r.node])) seen[n.index] = true;
  }
  return seen;
}

/** The softmax/sigmoid behind model output `ref` (through Identity nodes), and the nodes after it. */
export function squashingBehind(topology: Topology, ref: NodeRef): { kind: 'softmax' | 'sigmoid'; node: GraphNode; tail: number[] } | null {
  const tail: number[] = [];
  let n = topology.nodes[ref.node] as GraphNode;
  let output = ref.output;
  while ((n.op === 'Identity' || n.op === 'Snapshot') && output === 0 && n.inputs.length >= 1) {
    tail.push(n.index);
    const r = n.inputs[0] as NodeRef;
    output = r.output;
    n = topology.nodes[r.node] as GraphNode;
  }
  if (output !== 0 || n.inputs.length < 1) return null;
  if (n.op !== 'Softmax' && n.op !== 'Sigmoid') return null;
  tail.push(n.index);
  return { kind: n.op === 'Softmax' ? 'softmax' : 'sigmoid', node: n, tail };
}

/** Whether `node` applies a ReLU-like unit guided backpropagation changes (Relu, Relu6, fused ReLUs). */
export function hasReluUnit(node: GraphNode): boolean {
  if (node.op === 'Relu' || node.op === 'Relu6') return true;
  if (node.op === '_FusedConv2D' || node.op === 'FusedDepthwiseConv2dNative' || node.op === '_FusedMatMul') {
    const act = (attrStrings(node, 'fused_ops', [])[1] ?? '').toLowerCase();
    return act === 'relu' || act === 'relu6';
  }
  return false;
}

/**
 * Splits `topology` at node `target` for model output `outputIndex`. Returns null when the output does
 * not depend on the target.
 */
export function makePlan(topology: Topology, target: number, outputIndex: number): GraphPlan | null {
  const output = topology.outputs[outputIndex] as NodeRef;
  const needed = ancestorsOf(topology, [output.node]);
  if (!needed[target]) return null;
  const downstream = descendantsOf(topology, target);
  const head = topology.nodes.filter((n) => n.index !== target && needed[n.index] && downstream[n.index]).map((n) => n.index);
  const inHead = new Set(head);

  const onPath = new Array<boolean>(topology.nodes.length).fill(false);
  onPath[target] = true;
  const stopped: number[] = [];
  for (const i of head) {
    const n = topology.nodes[i] as GraphNode;
    const fromPath = n.inputs.some((r) => onPath[r.node]);
    if (!fromPath || SHAPE_OPS.has(n.op)) continue;
    if (n.op === 'StopGradient') {
      stopped.push(i);
      continue;
    }
    onPath[i] = true;
  }

  const seen = new Set<string>([`${target}:0`]);
  const frontier: NodeRef[] = [{ node: target, output: 0 }];
  for (const i of head) {
    for (const r of (topology.nodes[i] as GraphNode).inputs) {
      const key = `${r.node}:${r.output}`;
      if (inHead.has(r.node) || seen.has(key) || (topology.nodes[r.node] as GraphNode).isConst) continue;
      seen.add(key);
      frontier.push(r);
    }
  }
  for (const s of stopped) frontier.push({ node: s, output: 0 });

  const squash = squashingBehind(topology, output);
  const tail = new Set(squash?.tail ?? []);
  const logits = squash === null ? null : (squash.node.inputs[0] as NodeRef);
  // Explaining logits from a node at or above the softmax input: the tail is all the head there is.
  return { topology, target, output, logits, head, tail, frontier, stopped, onPath };
}
