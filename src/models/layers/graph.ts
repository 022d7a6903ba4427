/**
 * The model graph, flattened: every layer call of a `tf.LayersModel` (nested models expanded
 * recursively) as a list of steps in topological order, wired by integer value ids.
 *
 * This is the "plan" half of tfcam's two-phase runner (see DESIGN.md, "Core mechanism"). It is pure:
 * it reads the Keras graph (symbolic tensors, inbound nodes) and never calls, builds or mutates the
 * model.
 *
 * @internal
 * @module
 */
import type { ContainerLike, LayerLike, NodeLike, SymbolicTensorLike } from './keras-types.js';
import { isContainer } from './keras-types.js';

/** One layer call in the flattened graph. */
export interface Step {
  /** Position in {@link FlatGraph.steps}. */
  readonly index: number;
  readonly layer: LayerLike;
  /** Slash-separated path of the layer through nested models, e.g. `'base/last_conv'`. */
  readonly path: string;
  /** Value ids consumed, in the layer's argument order. */
  readonly inputs: readonly number[];
  /** Value ids produced. */
  readonly outputs: readonly number[];
  /** Static output shapes (batch dimension `null`), one per output. */
  readonly outputShapes: ReadonlyArray<ReadonlyArray<number | null>>;
  /** Keyword arguments recorded with the call (mask and training are dropped). */
  readonly callArgs: Readonly<Record<string, unknown>>;
}

/** A call of a model used as a layer (its layers are steps of their own). */
export interface ContainerCall {
  readonly layer: ContainerLike;
  /** Slash-separated path, e.g. `'base'` or `'outer/base'`. */
  readonly path: string;
  /** Value ids of the nested model's outputs for this call. */
  readonly outputs: readonly number[];
  /** Static output shapes (batch dimension `null`), one per output. */
  readonly outputShapes: ReadonlyArray<ReadonlyArray<number | null>>;
}

/** A whole model, flattened. */
export interface FlatGraph {
  readonly steps: readonly Step[];
  /** Every call of a nested model, in topological order of completion. */
  readonly containerCalls: readonly ContainerCall[];
  /** Value id of each model input, in `model.inputs` order. */
  readonly inputValues: readonly number[];
  /** Value id of each model output, in `model.outputs` order. */
  readonly outputValues: readonly number[];
  /** Index of the step producing each value, or -1 for model inputs. */
  readonly producer: readonly number[];
  /** Total number of value ids. */
  readonly numValues: number;
  /**
   * Value id of every symbolic tensor of the top-level graph (by `SymbolicTensor.id`), including
   * the tensors of nested models that tfjs-layers inlined into it (a model added as the first layer
   * of a Sequential is wired in by its own tensors, with no call of its own).
   */
  readonly tensorValues: ReadonlyMap<number, number>;
}

/** Thrown (internally) when the graph cannot be flattened; converted to a ModelError by the caller. */
export class GraphStructureError extends Error {}

/**
 * Flattens a model into steps. Models used as layers are expanded in place, so a layer inside a
 * nested model is a step like any other, and a nested model called twice contributes its layers twice.
 */
export function flattenModel(model: ContainerLike): FlatGraph {
  const steps: Step[] = [];
  const containerCalls: ContainerCall[] = [];
  const producer: number[] = [];
  let numValues = 0;
  const newValue = (stepIndex: number): number => {
    producer.push(stepIndex);
    return numValues++;
  };

  const inputValues = model.inputs.map(() => newValue(-1));
  const paths = hierarchyPaths(model);
  let topLevel: Map<number, number> | null = null;

  /** Expands `container` with its inputs bound to `boundInputs`; returns its output value ids. */
  const expand = (container: ContainerLike, boundInputs: readonly number[], prefix: string, depth: number): number[] => {
    if (depth > 64) throw new GraphStructureError('models are nested more than 64 deep');
    const memo = new Map<number, number>();
    topLevel ??= memo;
    container.inputs.forEach((st, i) => {
      const v = boundInputs[i];
      if (v === undefined) throw new GraphStructureError(`missing input ${i} for '${container.name}'`);
      memo.set(st.id, v);
    });

    // Iterative post-order DFS over nodes (deep models would overflow a recursive one).
    const resolve = (target: SymbolicTensorLike): number => {
      const known = memo.get(target.id);
      if (known !== undefined) return known;
      type Frame = { st: SymbolicTensorLike; node: NodeLike; next: number };
      const stack: Frame[] = [];
      const push = (st: SymbolicTensorLike): void => {
        const node = st.sourceLayer.inboundNodes[st.nodeIndex];
        if (node === undefined) {
          throw new GraphStructureError(`tensor '${st.name}' has no producing node in layer '${st.sourceLayer.name}'`);
        }
        if (st.sourceLayer.getClassName() === 'InputLayer') {
          throw new GraphStructureError(`input '${st.name}' is not an input of '${container.name}' (graph disconnected)`);
        }
        stack.push({ st, node, next: 0 });
      };
      push(target);
      while (stack.length > 0) {
        const frame = stack[stack.length - 1] as (typeof stack)[number];
        if (memo.has(frame.st.id)) {
          stack.pop();
          continue;
        }
        const ins = frame.node.inputTensors;
        let pushed = false;
        while (frame.next < ins.length) {
          const dep = ins[frame.next] as SymbolicTensorLike;
          frame.next++;
          if (!memo.has(dep.id)) {
            push(dep);
            pushed = true;
            break;
          }
        }
        if (pushed) continue;
        // All inputs known: emit this node.
        stack.pop();
        const layer = frame.st.sourceLayer;
        const inVals = ins.map((t) => memo.get(t.id) as number);
        let outVals: number[];
        if (isContainer(layer)) {
          outVals = expand(layer, inVals, `${prefix}${layer.name}/`, depth + 1);
          if (outVals.length !== frame.node.outputTensors.length) {
            throw new GraphStructureError(`nested model '${layer.name}' output count mismatch`);
          }
          containerCalls.push({
            layer,
            path: paths.get(layer) ?? `${prefix}${layer.name}`,
            outputs: outVals,
            outputShapes: frame.node.outputTensors.map((t) => t.shape),
          });
        } else {
          const index = steps.length;
          outVals = frame.node.outputTensors.map(() => newValue(index));
          const callArgs: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(frame.node.callArgs ?? {})) {
            if (k !== 'mask' && k !== 'training') callArgs[k] = v;
          }
          steps.push({
            index,
            layer,
            path: paths.get(layer) ?? `${prefix}${layer.name}`,
            inputs: inVals,
            outputs: outVals,
            outputShapes: frame.node.outputTensors.map((t) => t.shape),
            callArgs,
          });
        }
        frame.node.outputTensors.forEach((t, i) => memo.set(t.id, outVals[i] as number));
      }
      return memo.get(target.id) as number;
    };

    return container.outputs.map((st) => resolve(st));
  };

  const outputValues = expand(model, inputValues, '', 0);
  const tensorValues = topLevel ?? new Map<number, number>();
  return { steps, containerCalls, inputValues, outputValues, producer, numValues, tensorValues };
}

/**
 * The path of every layer as the user sees it in `model.layers` (nested models' layers as
 * `'base/conv'`, recursively), for layers that appear exactly once in that tree. tfjs-layers inlines
 * a model added as the first layer of a Sequential into the Sequential's graph, so the graph walk
 * alone would miss the `'base/'`; shared layers (in several models) keep the walk's path.
 */
export function hierarchyPaths(model: ContainerLike): Map<LayerLike, string> {
  const found = new Map<LayerLike, string | null>();
  const visit = (container: ContainerLike, prefix: string, depth: number): void => {
    if (depth > 64) return;
    for (const layer of container.layers) {
      if (layer.getClassName() === 'InputLayer') continue;
      const path = `${prefix}${layer.name}`;
      found.set(layer, found.has(layer) && found.get(layer) !== path ? null : path);
      if (isContainer(layer)) visit(layer, `${path}/`, depth + 1);
    }
  };
  visit(model, '', 0);
  const out = new Map<LayerLike, string>();
  for (const [layer, path] of found) if (path !== null) out.set(layer, path);
  return out;
}

/** Steps whose outputs `value` depends on (its ancestors), as a boolean mask over steps. */
export function ancestorsOf(graph: FlatGraph, values: readonly number[]): boolean[] {
  const mark = new Array<boolean>(graph.steps.length).fill(false);
  const stack = [...values];
  while (stack.length > 0) {
    const v = stack.pop() as number;
    const s = graph.producer[v] ?? -1;
    if (s < 0 || mark[s]) continue;
    mark[s] = true;
    stack.push(...(graph.steps[s] as Step).inputs);
  }
  return mark;
}

/** Steps that depend on `value` (its descendants), as a boolean mask over steps. */
export function descendantsOf(graph: FlatGraph, value: number): boolean[] {
  const mark = new Array<boolean>(graph.steps.length).fill(false);
  const live = new Set<number>([value]);
  // Steps are topologically ordered, so one forward sweep suffices.
  for (const step of graph.steps) {
    if (step.inputs.some((v) => live.has(v))) {
      mark[step.index] = true;
      for (const o of step.outputs) live.add(o);
    }
  }
  return mark;
}
