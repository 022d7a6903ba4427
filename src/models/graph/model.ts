/**
 * `tf.GraphModel` behind the {@link ExplainableModel} interface: the GraphDef read once (topology and
 * static shapes), split at the explained node into a body run by the model's own `execute` outside
 * the tape and a head replayed by tfcam's graph node applier.
 *
 * `@tensorflow/tfjs-converter` is never imported: the model is duck-typed ({@link isGraphModel}).
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { capabilities } from '../../core/capabilities.js';
import { repeatRow } from '../../core/tensor.js';
import { LayerError, ModelError, UnsupportedError } from '../../errors.js';
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
import type { NodeContext } from './applier.js';
import type { GraphPlan } from './plan.js';
import { ASYNC_OPS, NO_GRADIENT_OPS, ancestorsOf, hasReluUnit, makePlan, squashingBehind } from './plan.js';
import type { GraphIndex } from './resolve.js';
import { candidateHint, candidateNodes, resolveNode } from './resolve.js';
import type { HeadProgram } from './runner.js';
import { headProgram, refKey, runBody, runHead, runHeadForward } from './runner.js';
import type { Shape } from './shapes.js';
import { inferShapes } from './shapes.js';
import type { GraphNode, Topology } from './topology.js';
import { TopologyError, attrFloat, attrStrings, hostConst, readTopology, weightOf } from './topology.js';
import type { GraphModelLike } from './types.js';

/** True when `x` looks like a `tf.GraphModel` (duck-typed: `execute`, `executeAsync`, inputs, outputs, weights). */
export function isGraphModel(x: unknown): x is GraphModelLike {
  if (x === null || typeof x !== 'object') return false;
  const m = x as { execute?: unknown; executeAsync?: unknown; inputs?: unknown; outputs?: unknown; weights?: unknown; layers?: unknown };
  return (
    typeof m.execute === 'function' &&
    typeof m.executeAsync === 'function' &&
    Array.isArray(m.inputs) &&
    Array.isArray(m.outputs) &&
    m.weights !== null &&
    typeof m.weights === 'object' &&
    !Array.isArray(m.weights) &&
    m.layers === undefined
  );
}

/** The values crossing from body to head, by node output. */
class GraphCut implements Cut {
  constructor(
    readonly plan: GraphPlan,
    readonly values: ReadonlyMap<string, tf.Tensor>,
    /** Frontier values with a batch axis (repeated by {@link GraphCut.rows}). */
    private readonly batched: ReadonlySet<string>,
  ) {}

  get activations(): tf.Tensor {
    return this.values.get(refKey({ node: this.plan.target, output: 0 })) as tf.Tensor;
  }

  rows(example: number, activations: tf.Tensor): Cut {
    const n = activations.shape[0] as number;
    const target = refKey({ node: this.plan.target, output: 0 });
    const values = new Map<string, tf.Tensor>();
    for (const [k, v] of this.values) values.set(k, k === target ? activations : this.batched.has(k) ? repeatRow(v, example, n) : v);
    return new GraphCut(this.plan, values, this.batched);
  }
}

class GraphSplit implements Split {
  readonly guidedRuleAbove: boolean;
  private readonly batched: ReadonlySet<string>;

  constructor(
    private readonly fn: string,
    private readonly program: HeadProgram,
    shapes: ReadonlyArray<Shape | null>,
    readonly layer: ResolvedLayer,
    readonly outputIndex: number,
  ) {
    const { plan } = program;
    this.guidedRuleAbove = plan.head.some((i) => plan.onPath[i] === true && hasReluUnit(plan.topology.nodes[i] as GraphNode));
    // A frontier value has a batch axis when its static shape says so (or is unknown and it depends
    // on the input); constants computed from weights do not.
    this.batched = new Set(
      plan.frontier
        .filter((r) => {
          const s = r.output === 0 ? shapes[r.node] : null;
          return s === null || s === undefined ? plan.topology.dependsOnInput[r.node] === true : s.length > 0 && s[0] === null;
        })
        .map(refKey),
    );
  }

  private context(options: HeadOptions, mode: NodeContext['mode']): NodeContext {
    return { mode, guided: options.guided, forwardConvGrad: capabilities().forwardConvGrad, kernels: options.kernels };
  }

  body(inputs: readonly tf.Tensor[]): Cut {
    return new GraphCut(this.program.plan, runBody(this.fn, this.program, inputs), this.batched);
  }

  head<S extends Record<string, tf.Tensor>>(cut: Cut, options: HeadOptions, score: ScoreFn<S>): HeadResult<S> {
    requireGradients(this.fn);
    const { topology } = this.program.plan;
    const indexOf = (layer: ResolvedLayer): number => topology.byName.get(layer.id as string)?.index ?? -1;
    const tap = options.tap === undefined ? undefined : indexOf(options.tap);
    const taps = (options.taps ?? []).map((t) => ({ node: indexOf(t.layer), preActivation: t.preActivation === true }));
    return runHead(this.fn, this.program, (cut as GraphCut).values, this.context(options, 'gradient'), options.logits, score, tap, taps);
  }

  headForward(cut: Cut, options: HeadOptions): tf.Tensor {
    return runHeadForward(this.fn, this.program, (cut as GraphCut).values, this.context(options, 'forward'), options.logits);
  }
}

/**
 * In Node, tfjs-core's CommonJS build registers no gradients by itself (tfjs-layers' import does):
 * refuse clearly instead of failing inside the backward pass.
 */
function requireGradients(fn: string): void {
  if (tf.getGradient('Add') !== undefined && tf.getGradient('Add') !== null) return;
  throw new UnsupportedError({
    fn,
    argument: 'model',
    expected: "needs TensorFlow.js' gradients registered",
    got: 'a tfjs-core without registered gradients',
    fix: "Import '@tensorflow/tfjs' (or '@tensorflow/tfjs-layers') once in your app: in Node, tfjs-core's CommonJS build registers its gradients only through them.",
  });
}

const dims = (s: readonly number[] | undefined): string => (s === undefined ? 'unknown' : `[${s.join(', ')}]`);

/** A `tf.GraphModel` as an {@link ExplainableModel}. */
export class GraphExplainable implements ExplainableModel {
  readonly kind = 'graph' as const;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly imageInput: number;
  private readonly index: GraphIndex;
  private readonly splits = new Map<string, { program: HeadProgram; checked: Set<string> }>();

  constructor(
    readonly model: GraphModelLike,
    readonly topology: Topology,
    inputShapes: ReadonlyArray<Shape>,
  ) {
    const shapes = inferShapes(topology, inputShapes, {
      hostConst: (n) => hostConst(model, topology, n),
      constShape: (n) => model.weights[(topology.nodes[n] as GraphNode).name]?.[0]?.shape ?? null,
    });
    this.index = { topology, shapes };
    this.inputs = model.inputs.map((t, i) => ({ name: t.name, shape: inputShapes[i] as Shape }));
    this.outputs = model.outputs.map((t, i) => {
      const r = topology.outputs[i] as { node: number; output: number };
      return { name: t.name, shape: (r.output === 0 ? shapes[r.node] : null) ?? [] };
    });
    const i = this.inputs.findIndex((t) => t.shape.length === 4);
    this.imageInput = Math.max(i, 0);
  }

  outputSquashing(outputIndex: number): 'softmax' | 'sigmoid' | null {
    const r = this.topology.outputs[outputIndex];
    return r === undefined ? null : (squashingBehind(this.topology, r)?.kind ?? null);
  }

  resolveLayer(fn: string, ref: unknown, _node: number | undefined, outputIndex: number): ResolvedLayer {
    const n = resolveNode(fn, this.index, ref, outputIndex);
    return { id: n.name, path: n.name, shape: this.index.shapes[n.index] as Shape };
  }

  resolveInput(index: number): ResolvedLayer {
    const n = this.topology.nodes[this.topology.inputs[index] as number] as GraphNode;
    return { id: n.name, path: n.name, shape: this.inputs[index]?.shape ?? [] };
  }

  split(fn: string, layer: ResolvedLayer, outputIndex: number): Split {
    const node = this.topology.byName.get(layer.id as string) as GraphNode;
    const key = `${node.index}:${outputIndex}`;
    let entry = this.splits.get(key);
    if (entry === undefined) {
      const plan = makePlan(this.topology, node.index, outputIndex);
      if (plan === null) {
        const needed = ancestorsOf(this.topology, [(this.topology.outputs[outputIndex] as { node: number }).node]);
        throw new LayerError({
          fn,
          argument: 'layer',
          expected: 'must be connected to the explained model output',
          got: `'${node.name}', which output ${outputIndex} does not depend on`,
          fix: `Pick a node on the path to the output (or set outputIndex), e.g. one of: ${candidateHint(this.index, needed)}.`,
        });
      }
      entry = { program: headProgram(this.model, plan), checked: new Set() };
      this.splits.set(key, entry);
    }
    // Checked per function name too: error messages name the function.
    if (!entry.checked.has(fn)) {
      checkSplit(fn, this.index, entry.program);
      entry.checked.add(fn);
    }
    return new GraphSplit(fn, entry.program, this.index.shapes, layer, outputIndex);
  }

  listLayers(): LayerInfo[] {
    return candidateNodes(this.index);
  }

  /**
   * The nodes with a bias FullGrad sums over, between the image input and output `outputIndex`, in
   * execution order: convolutions with a fused `BiasAdd` (tapped before their activation), `BiasAdd`
   * nodes and `FusedBatchNorm` nodes (effective bias `offset - mean * scale / sqrt(var + eps)`) with
   * a rank-4 output and constant parameters. BatchNorm folded into a convolution by the converter is
   * its bias: the same terms as the Keras model's convolution + BatchNormalization.
   */
  biasLayers(outputIndex: number): BiasLayer[] {
    const { model, topology } = this;
    const plan = makePlan(topology, topology.inputs[this.imageInput] as number, outputIndex);
    const out: BiasLayer[] = [];
    for (const i of plan?.head ?? []) {
      const n = topology.nodes[i] as GraphNode;
      const shape = this.index.shapes[i];
      if (shape === null || shape === undefined || shape.length !== 4) continue;
      const w = (slot: number): tf.Tensor | null => {
        const r = n.inputs[slot];
        return r === undefined ? null : weightOf(model, topology, r.node);
      };
      let bias: (() => tf.Tensor1D) | null = null;
      if (
        (n.op === '_FusedConv2D' || n.op === 'FusedDepthwiseConv2dNative') &&
        (attrStrings(n, 'fused_ops', [])[0] ?? '').toLowerCase() === 'biasadd'
      ) {
        const b = w(2);
        if (b !== null) bias = () => tf.clone(b) as tf.Tensor1D;
      } else if (n.op === 'BiasAdd') {
        const b = w(1);
        if (b !== null) bias = () => tf.clone(b) as tf.Tensor1D;
      } else if (n.op.startsWith('FusedBatchNorm')) {
        const [scale, offset, mean, variance] = [w(1), w(2), w(3), w(4)];
        const eps = attrFloat(n, 'epsilon', 1e-4);
        if (scale !== null && offset !== null && mean !== null && variance !== null) {
          bias = () => tf.tidy(() => tf.sub(offset, tf.div(tf.mul(mean, scale), tf.sqrt(tf.add(variance, eps)))) as tf.Tensor1D);
        }
      }
      if (bias !== null) out.push({ layer: { id: n.name, path: n.name, shape }, op: n.op, bias });
    }
    return out;
  }
}

/**
 * Everything a split can refuse, refused before any tensor exists: control flow or dynamic ops
 * anywhere the output needs (the model would need `executeAsync`), ops without a gradient between
 * the layer and the output, and head nodes that can neither be replayed nor run alone.
 */
function checkSplit(fn: string, index: GraphIndex, program: HeadProgram): void {
  const { plan } = program;
  const { topology } = plan;
  const needed = ancestorsOf(topology, [plan.output.node]);
  const layer = (topology.nodes[plan.target] as GraphNode).name;
  const dynamic = topology.nodes.find((n) => needed[n.index] && ASYNC_OPS.has(n.op));
  if (dynamic !== undefined) {
    throw new UnsupportedError({
      fn,
      argument: 'model',
      expected: 'must run with model.execute (no control flow or dynamic shapes)',
      got: `node '${dynamic.name}' (${dynamic.op}), which needs model.executeAsync`,
      fix: 'tf.grad cannot record an asynchronous execution; explain a model without control flow (e.g. the classifier part of the graph, converted on its own).',
    });
  }
  const blocked = plan.head.filter((i) => plan.onPath[i] === true && NO_GRADIENT_OPS.has((topology.nodes[i] as GraphNode).op));
  if (blocked.length > 0) {
    const last = topology.nodes[blocked[blocked.length - 1] as number] as GraphNode;
    const first = topology.nodes[blocked[0] as number] as GraphNode;
    const later = candidateNodes(index)
      .map((c) => topology.byName.get(c.name) as GraphNode)
      .find((n) => n.index > last.index && needed[n.index] === true);
    throw new UnsupportedError({
      fn,
      argument: 'layer',
      expected: 'must have only differentiable ops between it and the output',
      got: `'${layer}', below node '${first.name}' (${first.op}), which TensorFlow.js cannot differentiate${blocked.length > 1 ? ` (and ${blocked.length - 1} more such node${blocked.length > 2 ? 's' : ''})` : ''}`,
      fix:
        later !== undefined
          ? `Choose a layer above '${last.name}', e.g. '${later.name}' (listLayers(model) lists the candidates).`
          : `No node with a rank-4 output lies above '${last.name}': this output cannot be explained at a spatial layer.`,
    });
  }
  for (const step of program.steps) {
    if (step.replay) continue;
    const n = step.node;
    const sources = new Map<number, number>();
    for (const r of n.inputs) {
      if ((topology.nodes[r.node] as GraphNode).isConst) continue;
      const prev = sources.get(r.node);
      if (prev !== undefined && prev !== r.output) {
        throw new UnsupportedError({
          fn,
          argument: 'layer',
          expected: 'must have only nodes tfcam can run above it',
          got: `node '${n.name}' (${n.op}), which reads two outputs of '${(topology.nodes[r.node] as GraphNode).name}' and is not one tfcam replays`,
          fix: `Choose a layer above '${n.name}' (listLayers(model) lists the candidates).`,
        });
      }
      sources.set(r.node, r.output);
    }
    const control = n.control.find((c) => !(topology.nodes[c] as GraphNode).isConst);
    if (control !== undefined) {
      throw new UnsupportedError({
        fn,
        argument: 'layer',
        expected: 'must have only nodes tfcam can run above it',
        got: `node '${n.name}' (${n.op}), which has a control dependency on '${(topology.nodes[control] as GraphNode).name}' and is not one tfcam replays`,
        fix: `Choose a layer above '${n.name}' (listLayers(model) lists the candidates).`,
      });
    }
  }
}

const explainables = new WeakMap<object, GraphExplainable>();

/**
 * The {@link ExplainableModel} of a `tf.GraphModel` (cached per model). Throws a {@link ModelError}
 * when its topology is not what tfjs-converter 4.x produces, or an input has no static rank.
 */
export function graphExplainable(fn: string, model: GraphModelLike): GraphExplainable {
  const cached = explainables.get(model);
  if (cached !== undefined) return cached;
  let topology: Topology;
  try {
    topology = readTopology(model);
  } catch (e) {
    if (!(e instanceof TopologyError)) throw e;
    throw new ModelError({
      fn,
      argument: 'model',
      expected: 'must be a tf.GraphModel loaded by tfjs-converter 4.x (tfcam reads its GraphDef from model.artifacts.modelTopology)',
      got: `a graph model whose topology cannot be read (${e.message})`,
      fix: 'Load the model with tf.loadGraphModel (tfjs-converter 4.x); models from other loaders are not supported.',
    });
  }
  if (model.inputs.length === 0 || model.outputs.length === 0) {
    throw new ModelError({
      fn,
      argument: 'model',
      expected: 'must have inputs and outputs',
      got: `a graph model with ${model.inputs.length} inputs and ${model.outputs.length} outputs`,
      fix: 'Load a complete model.json.',
    });
  }
  const inputShapes = model.inputs.map((t) => {
    if (t.shape === undefined) {
      throw new ModelError({
        fn,
        argument: 'model',
        expected: 'must declare the shape of every input (the Placeholder shape attr)',
        got: `input '${t.name}' with shape ${dims(t.shape as number[] | undefined)}`,
        fix: 'Convert the model with a static input rank (e.g. a signature with [-1, H, W, C]).',
      });
    }
    return t.shape.map((d) => (d < 0 ? null : d));
  });
  const explainable = new GraphExplainable(model, topology, inputShapes);
  explainables.set(model, explainable);
  return explainable;
}
