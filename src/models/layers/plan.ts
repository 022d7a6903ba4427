/**
 * Execution plans: which steps run outside the gradient tape (the body), which run under it (the
 * head), and which tensors cross between them (the frontier). Plans are pure and cached per model,
 * target step and output.
 *
 * @internal
 * @module
 */
import type { FlatGraph, Step } from './graph.js';
import { ancestorsOf, descendantsOf, flattenModel } from './graph.js';
import type { ContainerLike } from './keras-types.js';

/** A body/head split of the flattened graph for one target value and one model output. */
export interface Plan {
  readonly graph: FlatGraph;
  /** The step whose output is explained (A), or null when A is a model input. */
  readonly target: Step | null;
  /** Value id of A. */
  readonly targetValue: number;
  /** Value id of the explained model output. */
  readonly outputValue: number;
  /** Steps run outside the tape (everything the frontier needs), in topological order. */
  readonly body: readonly Step[];
  /** Steps run under the tape, in order (may be empty when the target is the output). */
  readonly head: readonly Step[];
  /** Values made by the body (or model inputs) that the head reads, including A. */
  readonly frontier: readonly number[];
  /** For each body step, the values whose last body consumer is that step (free after it runs). */
  readonly freeAfter: ReadonlyArray<readonly number[]>;
  /** The step producing the explained output. */
  readonly outputStep: Step | null;
}

/**
 * Splits the graph at value `targetValue` (a step output or a model input) for model output
 * `outputIndex`. Returns null when the output does not depend on the target value.
 */
export function makePlan(graph: FlatGraph, targetValue: number, outputIndex: number): Plan | null {
  const outputValue = graph.outputValues[outputIndex] as number;
  const producer = graph.producer[targetValue] ?? -1;
  const target = producer >= 0 ? (graph.steps[producer] as Step) : null;
  const needed = ancestorsOf(graph, [outputValue]);
  const downstream = descendantsOf(graph, targetValue);
  const connected = targetValue === outputValue || graph.steps.some((s) => needed[s.index] && downstream[s.index]);
  if (!connected) return null;

  const head = graph.steps.filter((s) => needed[s.index] && downstream[s.index]);
  const inHead = new Set(head.map((s) => s.index));
  const frontierSet = new Set<number>([targetValue]);
  for (const s of head) {
    for (const v of s.inputs) {
      const p = graph.producer[v] ?? -1;
      if (p < 0 || !inHead.has(p)) frontierSet.add(v);
    }
  }
  const frontier = [...frontierSet];
  const bodyNeeded = ancestorsOf(graph, frontier);
  const body = graph.steps.filter((s) => bodyNeeded[s.index] && !inHead.has(s.index));

  // Last-use analysis for freeing body intermediates early.
  const lastUse = new Map<number, number>();
  body.forEach((s, i) => {
    for (const v of s.inputs) lastUse.set(v, i);
  });
  const freeAfter: number[][] = body.map(() => []);
  const keep = new Set(frontier);
  for (const [v, i] of lastUse) {
    if (!keep.has(v) && (graph.producer[v] ?? -1) >= 0) (freeAfter[i] as number[]).push(v);
  }
  // Values produced by a body step but consumed by nobody (extra outputs) are freed right away.
  body.forEach((s, i) => {
    for (const v of s.outputs) {
      if (!lastUse.has(v) && !keep.has(v)) (freeAfter[i] as number[]).push(v);
    }
  });

  const outputProducer = graph.producer[outputValue] ?? -1;
  return {
    graph,
    target,
    targetValue,
    outputValue,
    body,
    head,
    frontier,
    freeAfter,
    outputStep: outputProducer >= 0 ? (graph.steps[outputProducer] as Step) : null,
  };
}

interface ModelCache {
  signature: string;
  graph: FlatGraph;
  plans: Map<string, Plan | null>;
}

const cache = new WeakMap<object, ModelCache>();

function signatureOf(model: ContainerLike): string {
  return `${model.inputs.map((t) => t.id).join(',')}|${model.outputs.map((t) => t.id).join(',')}|${model.layers.length}`;
}

/** The flattened graph of `model`, cached (re-flattened if the model's inputs/outputs changed). */
export function graphOf(model: ContainerLike): FlatGraph {
  const sig = signatureOf(model);
  let entry = cache.get(model);
  if (entry === undefined || entry.signature !== sig) {
    entry = { signature: sig, graph: flattenModel(model), plans: new Map() };
    cache.set(model, entry);
  }
  return entry.graph;
}

/** A cached {@link makePlan}. */
export function planOf(model: ContainerLike, targetValue: number, outputIndex: number): Plan | null {
  const graph = graphOf(model);
  const entry = cache.get(model) as ModelCache;
  const key = `${targetValue}:${outputIndex}`;
  if (!entry.plans.has(key)) entry.plans.set(key, makePlan(graph, targetValue, outputIndex));
  return entry.plans.get(key) ?? null;
}
