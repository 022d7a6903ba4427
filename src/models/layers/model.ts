/**
 * `tf.LayersModel` behind the {@link ExplainableModel} interface: the graph flattened once (nested
 * models expanded), split at the explained layer into a body run outside the tape and a head
 * replayed by tfcam's applier.
 *
 * @internal
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import { ModelError } from '../../errors.js';
import { capabilities } from '../../core/capabilities.js';
import { repeatRow } from '../../core/tensor.js';
import type {
  BiasLayer,
  Cut,
  ExplainableModel,
  HeadOptions,
  HeadResult,
  LayerInfo,
  ResolvedLayer,
  ScoreFn,
  Split,
  TensorInfo,
} from '../explainable.js';
import type { ApplyContext } from './applier.js';
import { biasOfStep, guidedRuleApplies, squashingOf } from './applier.js';
import type { FlatGraph } from './graph.js';
import { GraphStructureError } from './graph.js';
import type { ContainerLike } from './keras-types.js';
import { isContainer } from './keras-types.js';
import type { Plan } from './plan.js';
import { graphOf, planOf } from './plan.js';
import { candidateLayers, resolveLayer } from './resolve.js';
import type { RunnerTap } from './runner.js';
import { runBody, runHead, runHeadForward } from './runner.js';

/** True when `x` looks like a `tf.LayersModel` (duck-typed: a container with `predict`). */
export function isLayersModel(x: unknown): x is ContainerLike {
  return isContainer(x) && typeof (x as { predict?: unknown }).predict === 'function';
}

const infoOf = (t: { name: string; shape: ReadonlyArray<number | null> }): TensorInfo => ({ name: t.name, shape: t.shape });

/** The values of the flattened graph that cross from the body to the head. */
class LayersCut implements Cut {
  constructor(
    readonly plan: Plan,
    readonly frontier: ReadonlyMap<number, tf.Tensor>,
  ) {}

  get activations(): tf.Tensor {
    return this.frontier.get(this.plan.targetValue) as tf.Tensor;
  }

  rows(example: number, activations: tf.Tensor): Cut {
    const n = activations.shape[0] as number;
    const values = new Map<number, tf.Tensor>();
    for (const [v, t] of this.frontier) values.set(v, v === this.plan.targetValue ? activations : repeatRow(t, example, n));
    return new LayersCut(this.plan, values);
  }
}

class LayersSplit implements Split {
  readonly guidedRuleAbove: boolean;

  constructor(
    private readonly fn: string,
    private readonly plan: Plan,
    readonly layer: ResolvedLayer,
    readonly outputIndex: number,
  ) {
    this.guidedRuleAbove = plan.head.some(guidedRuleApplies);
  }

  private context(options: HeadOptions): ApplyContext {
    const out = this.plan.outputStep;
    return {
      stripActivationOf: options.logits && out !== null && squashingOf(out) !== null ? out : null,
      guided: options.guided,
      forwardConvGrad: capabilities().forwardConvGrad,
      kernels: options.kernels,
      fn: this.fn,
    };
  }

  body(inputs: readonly tf.Tensor[]): Cut {
    return new LayersCut(this.plan, runBody(this.plan, inputs, this.fn));
  }

  head<S extends Record<string, tf.Tensor>>(cut: Cut, options: HeadOptions, score: ScoreFn<S>): HeadResult<S> {
    const tap = options.tap === undefined ? undefined : (options.tap.id as number);
    const graph = this.plan.graph;
    const taps = options.taps?.map((r): RunnerTap => {
      const value = r.layer.id as number;
      const step = r.preActivation === true ? (graph.steps[graph.producer[value] ?? -1] ?? null) : null;
      return { value, step };
    });
    return runHead(this.plan, (cut as LayersCut).frontier, this.context(options), score, tap, taps);
  }

  headForward(cut: Cut, options: HeadOptions): tf.Tensor {
    return runHeadForward(this.plan, (cut as LayersCut).frontier, this.context(options));
  }
}

/** A `tf.LayersModel` as an {@link ExplainableModel}. */
export class LayersExplainable implements ExplainableModel {
  readonly kind = 'layers' as const;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly imageInput: number;

  constructor(
    readonly model: ContainerLike,
    readonly graph: FlatGraph,
  ) {
    this.inputs = model.inputs.map(infoOf);
    this.outputs = model.outputs.map(infoOf);
    const i = this.inputs.findIndex((t) => t.shape.length === 4);
    this.imageInput = Math.max(i, 0);
  }

  outputSquashing(outputIndex: number): 'softmax' | 'sigmoid' | null {
    const producer = this.graph.producer[this.graph.outputValues[outputIndex] as number] ?? -1;
    const step = producer >= 0 ? this.graph.steps[producer] : undefined;
    return step === undefined ? null : squashingOf(step);
  }

  resolveLayer(fn: string, ref: unknown, node: number | undefined, outputIndex: number): ResolvedLayer {
    const r = resolveLayer(fn, this.model, this.graph, ref, node, outputIndex);
    return { id: r.value, path: r.path, shape: r.shape };
  }

  resolveInput(index: number): ResolvedLayer {
    const st = this.model.inputs[index] as ContainerLike['inputs'][number];
    return { id: this.graph.inputValues[index] as number, path: st.name, shape: st.shape };
  }

  split(fn: string, layer: ResolvedLayer, outputIndex: number): Split {
    // resolveLayer only returns values the output depends on, and inputs always feed it.
    const plan = planOf(this.model, layer.id as number, outputIndex) as Plan;
    return new LayersSplit(fn, plan, layer, outputIndex);
  }

  listLayers(): LayerInfo[] {
    return candidateLayers(this.model, this.graph);
  }

  biasLayers(outputIndex: number): BiasLayer[] {
    const out: BiasLayer[] = [];
    // The layers between the image input and the output: those a split at the input replays.
    const plan = planOf(this.model, this.graph.inputValues[this.imageInput] as number, outputIndex);
    for (const step of plan?.head ?? []) {
      const bias = biasOfStep(step);
      if (bias === null) continue;
      const value = step.outputs[0] as number;
      out.push({ layer: { id: value, path: step.path, shape: step.outputShapes[0] ?? [] }, op: step.layer.getClassName(), bias });
    }
    return out;
  }
}

const explainables = new WeakMap<object, { graph: FlatGraph; explainable: LayersExplainable }>();

/**
 * The {@link ExplainableModel} of a `tf.LayersModel` (cached per model, rebuilt when its graph
 * changes). Throws a {@link ModelError} for an unbuilt model or a graph that cannot be walked.
 */
export function layersExplainable(fn: string, model: ContainerLike): LayersExplainable {
  if (model.inputs.length === 0 || model.outputs.length === 0) {
    throw new ModelError({
      fn,
      argument: 'model',
      expected: 'must be built (have inputs and outputs)',
      got: `an unbuilt ${model.getClassName()} '${model.name}'`,
      fix: 'Give the first layer an inputShape (or call model.build([null, H, W, C])) before explaining it.',
    });
  }
  let graph: FlatGraph;
  try {
    graph = graphOf(model);
  } catch (e) {
    if (!(e instanceof GraphStructureError)) throw e;
    throw new ModelError({
      fn,
      argument: 'model',
      expected: 'must be a connected Keras graph',
      got: `a model whose graph cannot be walked (${e.message})`,
      fix: 'Rebuild the model with tf.model({inputs, outputs}) from connected layers.',
    });
  }
  const cached = explainables.get(model);
  if (cached !== undefined && cached.graph === graph) return cached.explainable;
  const explainable = new LayersExplainable(model, graph);
  explainables.set(model, { graph, explainable });
  return explainable;
}
