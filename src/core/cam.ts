/**
 * The passes every CAM method shares: check the arguments, resolve the layer, run the body outside
 * the tape and the head under it (or forward only for gradient-free methods). `create.ts` builds the
 * public methods on top of this.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { LayerError, ModelError, OptionError, describeValue } from '../errors.js';
import type { ApplyContext } from '../models/layers/applier.js';
import { endsInSquashing } from '../models/layers/applier.js';
import type { FlatGraph } from '../models/layers/graph.js';
import { GraphStructureError } from '../models/layers/graph.js';
import type { ResolvedLayer } from '../models/layers/resolve.js';
import { resolveLayer } from '../models/layers/resolve.js';
import type { Plan } from '../models/layers/plan.js';
import { graphOf, planOf } from '../models/layers/plan.js';
import { postprocessMaps } from './postprocess.js';
import { channelSum } from './reduce.js';
import { runBody, runHead, runHeadForward } from '../models/layers/runner.js';
import type { NormalizedTarget } from './targets.js';
import { normalizeTarget, pickScores } from './targets.js';
import type { ContainerLike } from '../models/layers/keras-types.js';
import type { PreparedInput } from './validate.js';
import { boolOption, checkModel, checkOptionKeys, defaultValidate, prepareInput } from './validate.js';

/** Option keys every CAM method accepts. */
export const CAM_OPTION_KEYS = [
  'layer',
  'node',
  'target',
  'logits',
  'relu',
  'normalize',
  'resize',
  'outputIndex',
  'validate',
] as const;

/** Options after checking. */
export interface ParsedCamOptions {
  raw: Record<string, unknown>;
  logits: boolean;
  relu: boolean;
  normalize: boolean;
  resize: boolean | [number, number];
  outputIndex: number;
  validate: boolean;
  node: number | undefined;
}

/**
 * Checks the option bag shared by CAM methods (plus `extraKeys` of the method; `baseKeys` replaces
 * the shared set for functions that accept only part of it).
 */
export function parseCamOptions(
  fn: string,
  model: ContainerLike,
  options: unknown,
  extraKeys: readonly string[] = [],
  baseKeys: readonly string[] = CAM_OPTION_KEYS,
): ParsedCamOptions {
  const o = checkOptionKeys(fn, options, [...baseKeys, ...extraKeys]);
  const resizeValue = o['resize'];
  let resize: boolean | [number, number] = true;
  if (resizeValue !== undefined) {
    const ok =
      typeof resizeValue === 'boolean' ||
      (Array.isArray(resizeValue) &&
        resizeValue.length === 2 &&
        resizeValue.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0));
    if (!ok) {
      throw new OptionError({
        fn,
        argument: 'options.resize',
        expected: 'must be true, false or [height, width] with positive integers',
        got: describeValue(resizeValue),
        fix: 'Omit it to resize to the input size.',
      });
    }
    resize = Array.isArray(resizeValue) ? [resizeValue[0] as number, resizeValue[1] as number] : (resizeValue as boolean);
  }
  const nOut = model.outputs.length;
  const outputIndexValue = o['outputIndex'];
  let outputIndex = 0;
  if (outputIndexValue !== undefined) {
    if (
      typeof outputIndexValue !== 'number' ||
      !Number.isInteger(outputIndexValue) ||
      outputIndexValue < 0 ||
      outputIndexValue >= nOut
    ) {
      throw new OptionError({
        fn,
        argument: 'options.outputIndex',
        expected: `must be an integer in [0, ${nOut - 1}] (the model has ${nOut} output${nOut === 1 ? '' : 's'})`,
        got: describeValue(outputIndexValue),
        fix: `Use the index of the output in model.outputs (${model.outputs.map((t) => t.name).join(', ')}).`,
      });
    }
    outputIndex = outputIndexValue;
  }
  const nodeValue = o['node'];
  if (nodeValue !== undefined && (typeof nodeValue !== 'number' || !Number.isInteger(nodeValue))) {
    throw new OptionError({
      fn,
      argument: 'options.node',
      expected: 'must be an integer (which call of a shared layer)',
      got: describeValue(nodeValue),
      fix: 'Count the calls of the shared layer in execution order, from 0.',
    });
  }
  return {
    raw: o,
    logits: boolOption(fn, o, 'logits', true),
    relu: boolOption(fn, o, 'relu', true),
    normalize: boolOption(fn, o, 'normalize', true),
    resize,
    outputIndex,
    validate: boolOption(fn, o, 'validate', defaultValidate()),
    node: nodeValue as number | undefined,
  };
}

/** The flattened graph, with structural problems reported as {@link ModelError}. */
export function modelGraph(fn: string, model: ContainerLike): FlatGraph {
  try {
    return graphOf(model);
  } catch (e) {
    if (e instanceof GraphStructureError) {
      throw new ModelError({
        fn,
        argument: 'model',
        expected: 'must be a connected Keras graph',
        got: `a model whose graph cannot be walked (${e.message})`,
        fix: 'Rebuild the model with tf.model({inputs, outputs}) from connected layers.',
      });
    }
    throw e;
  }
}

/** Whether convolution input gradients use forward convolutions on the active backend. */
export function defaultForwardConvGrad(): boolean {
  // wasm lacks DepthwiseConv2dNativeBackpropInput and its Conv2DBackpropInput is a scalar loop.
  return tf.getBackend() === 'wasm';
}

/** Everything a method needs after the forward and backward passes. */
export interface ActivationsAndGradients {
  /** Target layer output A, `[B, h, w, C]`. */
  activations: tf.Tensor4D;
  /** dScore/dA, `[B, h, w, C]`, or null for a forward-only run. */
  gradients: tf.Tensor4D | null;
  /** Explained score per example, `[B]`. */
  scores: tf.Tensor1D;
  /** Explained class per example (int32, -1 for target functions), `[B]`. */
  classIndex: tf.Tensor1D;
  /** The explained model output (pre-softmax when logits are explained). */
  output: tf.Tensor;
  /** The resolved layer. */
  layer: ResolvedLayer;
  /** The prepared (batched, float) input. */
  input: PreparedInput;
  /** The execution plan used. */
  plan: Plan;
  /** The target, checked. */
  target: NormalizedTarget;
  /** The frontier values (A and skip tensors) the head was run from. */
  frontier: ReadonlyMap<number, tf.Tensor>;
  /** The applier context used (which activation is stripped, guided, conv gradients). */
  ctx: ApplyContext;
  /** With `PassSpec.tap`: the tapped value and its gradient (null if not reached). */
  tapped?: { activation: tf.Tensor; gradient: tf.Tensor } | null;
}

/** Static number of classes of output `outputIndex`, or null when not `[batch, classes]`. */
export function numClassesOf(model: ContainerLike, outputIndex: number): number | null {
  const outShape = model.outputs[outputIndex]?.shape ?? [];
  return outShape.length === 2 && typeof outShape[1] === 'number' ? outShape[1] : null;
}

/** What to run: which value to explain and how. */
export interface PassSpec {
  /** The `layer` option value (one layer), or a resolver picking the explained value. */
  layer: unknown;
  resolve?: ((graph: FlatGraph, prepared: PreparedInput) => ResolvedLayer) | undefined;
  /** Compute dS/dA (default true); false runs the head forward only. */
  gradients?: boolean | undefined;
  /** Applier overrides (guided ReLUs...). */
  apply?: Partial<ApplyContext> | undefined;
  /** A value of the head to return with its gradient too, from the same backward pass. */
  tap?: number | undefined;
}

/**
 * Runs body and head for one explained value. Must be called inside `tf.tidy`.
 */
export function activationsAndGradientsIn(
  fn: string,
  model: ContainerLike,
  prepared: PreparedInput,
  target: NormalizedTarget,
  opts: ParsedCamOptions,
  spec: PassSpec,
): ActivationsAndGradients {
  const graph = modelGraph(fn, model);
  const layer =
    spec.resolve === undefined
      ? resolveLayer(fn, model, graph, spec.layer, opts.node, opts.outputIndex)
      : spec.resolve(graph, prepared);
  const plan = planOf(model, layer.value, opts.outputIndex);
  if (plan === null) {
    throw new LayerError({
      fn,
      argument: 'layer',
      expected: 'must be connected to the explained model output',
      got: `'${layer.path}', which the output does not depend on`,
      fix: 'Pick a layer or input on the path to the output (or set outputIndex).',
    });
  }
  const frontier = runBody(plan, prepared.tensors, fn);
  const strip = opts.logits && plan.outputStep !== null && endsInSquashing(plan.outputStep) ? plan.outputStep : null;
  const ctx: ApplyContext = {
    stripActivationOf: strip,
    guided: false,
    forwardConvGrad: defaultForwardConvGrad(),
    fn,
    ...spec.apply,
  };
  const batch = prepared.batchSize;
  const common = { activations: frontier.get(plan.targetValue) as tf.Tensor4D, layer, input: prepared, plan, target, frontier, ctx };
  if (spec.gradients === false) {
    const output = runHeadForward(plan, frontier, ctx);
    const picked = pickScores(fn, target, output, batch);
    return { ...common, gradients: null, scores: picked.scores, classIndex: picked.classIndex, output };
  }
  const head = runHead(plan, frontier, ctx, (out) => {
    const picked = pickScores(fn, target, out, batch);
    return { scores: picked.scores, extras: { classIndex: picked.classIndex } };
  }, spec.tap);
  return {
    ...common,
    gradients: head.gradients as tf.Tensor4D,
    scores: head.scores,
    classIndex: head.extras.classIndex as tf.Tensor1D,
    output: head.output,
    tapped: head.tapped,
  };
}

/** Checks model, options and input and normalises the target: the common prologue. In a tidy. */
export function prologue(
  fn: string,
  model: ContainerLike,
  input: unknown,
  opts: ParsedCamOptions,
): { prepared: PreparedInput; target: NormalizedTarget } {
  modelGraph(fn, model);
  const prepared = prepareInput(fn, model, input, opts.validate);
  const target = normalizeTarget(fn, opts.raw['target'], prepared.batchSize, numClassesOf(model, opts.outputIndex));
  return { prepared, target };
}

/** The size maps are resized to, or null. */
export function resizeTarget(fn: string, opts: ParsedCamOptions, prepared: PreparedInput): [number, number] | null {
  if (opts.resize === false) return null;
  if (Array.isArray(opts.resize)) return opts.resize;
  if (prepared.imageSize === null) {
    throw new OptionError({
      fn,
      argument: 'options.resize',
      expected: 'needs an image input ([B, H, W, C]) to take the size from',
      got: 'true for a model without a rank-4 input',
      fix: 'Pass resize: false, or resize: [height, width].',
    });
  }
  return prepared.imageSize;
}

/** A CAM result before squeezing. */
export interface BatchResult {
  heatmap: tf.Tensor;
  classIndex: tf.Tensor;
  score: tf.Tensor;
  layer: string;
}

/** Squeezes the batch axis away when the caller passed one unbatched image. */
export function finishResult(r: BatchResult, batched: boolean): BatchResult {
  if (batched) return r;
  return {
    heatmap: tf.squeeze(r.heatmap, [0]),
    classIndex: tf.squeeze(r.classIndex, [0]),
    score: tf.squeeze(r.score, [0]),
    layer: r.layer,
  };
}

/**
 * Weighted sum of activation channels: `sum_k weights[b, k] * A[b, :, :, k]`, vectorised, summed
 * over channels in two stages so float32 backends stay within ~1e-6 of a float64 sum.
 *
 * @param activations - `[B, h, w, C]`
 * @param weights - `[B, C]`
 * @returns `[B, h, w]`, owned by the caller
 */
export function weightedChannelSum(activations: tf.Tensor4D, weights: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, , , c] = activations.shape;
    const w = tf.reshape(weights, [b, 1, 1, c]);
    return channelSum(tf.mul(activations, w) as tf.Tensor4D);
  });
}
