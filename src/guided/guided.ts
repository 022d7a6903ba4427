/**
 * Guided backpropagation and Guided Grad-CAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { guidedRuleApplies } from '../models/layers/applier.js';
import {
  CAM_OPTION_KEYS,
  activationsAndGradientsIn,
  finishResult,
  modelGraph,
  parseCamOptions,
  prologue,
  type ActivationsAndGradients,
  type ParsedCamOptions,
} from '../core/cam.js';
import type { ResolvedLayer } from '../models/layers/resolve.js';
import { resolveLayer } from '../models/layers/resolve.js';
import { planOf } from '../models/layers/plan.js';
import type { NormalizedTarget } from '../core/targets.js';
import type { PreparedInput } from '../core/validate.js';
import type { ContainerLike, LayerLike } from '../models/layers/keras-types.js';
import { isTensor } from '../core/tensor.js';
import type { CamInput, CamOptions, Target } from '../core/types.js';
import { checkModel } from '../core/validate.js';
import { InputError, OptionError, describeValue } from '../errors.js';
import { mapFromPass } from '../core/create.js';
import { gradCam, gradCamMethod } from '../methods/gradcam.js';

/** Options of {@link guidedBackprop}. */
export interface GuidedOptions {
  /** The score to explain (see {@link CamOptions.target}). Default: the arg-max class. */
  target?: Target | undefined;
  /** Explain the pre-softmax/sigmoid score (default true), as for Grad-CAM. */
  logits?: boolean | undefined;
  /** For multi-output models, which output to explain (default 0). */
  outputIndex?: number | undefined;
  /**
   * For multi-input models, which input to differentiate with respect to (default: the first
   * rank-4 input).
   */
  inputIndex?: number | undefined;
  /** Check the input for NaN/Infinity first (see {@link CamOptions.validate}). */
  validate?: boolean | undefined;
}

/** Options of {@link guidedGradCam}: Grad-CAM's options plus `inputIndex`. */
export interface GuidedGradCamOptions extends CamOptions {
  /** For multi-input models, which input the guided gradients are taken for. */
  inputIndex?: number | undefined;
}

/**
 * The result of {@link guidedBackprop}. The caller owns the tensors (`tf.dispose(result)`).
 */
export type GuidedResult<G extends tf.Tensor = tf.Tensor, I extends tf.Tensor = tf.Tensor> = {
  /** Guided gradients, shaped like the input image: `[H,W,C]` for one image, `[B,H,W,C]` for a batch. */
  gradients: G;
  /** Explained class per example, int32 (`-1` for target functions); scalar for one image. */
  classIndex: I;
  /** Explained score per example, float32. */
  score: I;
};

/** The result of {@link guidedGradCam}: the product, plus the Grad-CAM map it was made with. */
export type GuidedGradCamResult<G extends tf.Tensor = tf.Tensor, H extends tf.Tensor = tf.Tensor, I extends tf.Tensor = tf.Tensor> =
  GuidedResult<G, I> & {
    /** The resized, normalised Grad-CAM map: `[H,W]` or `[B,H,W]` in [0, 1]. */
    heatmap: H;
    /** The Grad-CAM layer's path. */
    layer: string;
  };

const GUIDED_KEYS = ['target', 'logits', 'outputIndex', 'inputIndex', 'validate'] as const;

function inputIndexOf(fn: string, model: ContainerLike, value: unknown): number {
  const n = model.inputs.length;
  if (value === undefined) {
    const i = model.inputs.findIndex((t) => t.shape.length === 4);
    return i < 0 ? 0 : i;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= n) {
    throw new OptionError({
      fn,
      argument: 'options.inputIndex',
      expected: `must be an integer in [0, ${n - 1}] (the model has ${n} input${n === 1 ? '' : 's'})`,
      got: describeValue(value),
      fix: `Use the index of the input in model.inputs (${model.inputs.map((t) => t.name).join(', ')}).`,
    });
  }
  return value;
}

/** Resolves the explained value to a model input (for input gradients). */
function inputResolver(model: ContainerLike, index: number): (graph: { inputValues: readonly number[] }) => ResolvedLayer {
  return (graph) => {
    const st = model.inputs[index] as ContainerLike['inputs'][number];
    return { value: graph.inputValues[index] as number, path: st.name, shape: st.shape, layer: st.sourceLayer as LayerLike };
  };
}

interface GuidedBatch {
  gradients: tf.Tensor;
  classIndex: tf.Tensor;
  score: tf.Tensor;
}

function guidedIn(fn: string, model: ContainerLike, input: unknown, opts: ParsedCamOptions, inputIndex: number): GuidedBatch & { batched: boolean } {
  const { prepared, target } = prologue(fn, model, input, opts);
  const ag = guidedPass({ fn, model, prepared, target, opts, inputIndex });
  return { gradients: ag.gradients as tf.Tensor, classIndex: ag.classIndex, score: ag.scores, batched: ag.input.batched };
}

/** One checked guided call: what a pass needs. */
interface GuidedCall {
  fn: string;
  model: ContainerLike;
  prepared: PreparedInput;
  target: NormalizedTarget;
  opts: ParsedCamOptions;
  inputIndex: number;
}

/** The guided pass: gradients of the scores with respect to input `inputIndex`, guided ReLUs. */
function guidedPass({ fn, model, prepared, target, opts, inputIndex }: GuidedCall, tap?: number): ActivationsAndGradients {
  return activationsAndGradientsIn(fn, model, prepared, target, opts, {
    layer: undefined,
    resolve: inputResolver(model, inputIndex),
    apply: { guided: true },
    tap,
  });
}

/**
 * Guided Grad-CAM in one forward and one backward pass, when that gives the same result as two:
 * nothing above the Grad-CAM layer is changed by the guided rule (no ReLU-like unit: the usual case
 * at a last conv block, whose head is pooling and the classifier), so dS/dA of the guided pass *is*
 * Grad-CAM's. Returns null when that does not hold (or the layer is off the guided pass's path);
 * the caller then runs Grad-CAM separately.
 */
function guidedGradCamOnePass(call: GuidedCall): { guided: ActivationsAndGradients; heatmap: tf.Tensor3D; layer: string } | null {
  const { fn, model, opts } = call;
  const layerOption = opts.raw['layer'];
  if (Array.isArray(layerOption)) return null;
  const graph = modelGraph(fn, model);
  const layer = resolveLayer(fn, model, graph, layerOption, opts.node, opts.outputIndex);
  const camPlan = planOf(model, layer.value, opts.outputIndex);
  if (camPlan === null || camPlan.head.some(guidedRuleApplies)) return null;
  const guided = guidedPass(call, layer.value);
  const tapped = guided.tapped ?? null;
  if (tapped === null || tapped.activation.rank !== 4) return null;
  // gradCam's own weighting and post-processing, on the layer's activations and gradients from this pass.
  const pass: ActivationsAndGradients = {
    ...guided,
    activations: tapped.activation as tf.Tensor4D,
    gradients: tapped.gradient as tf.Tensor4D,
    layer,
    plan: camPlan,
    frontier: new Map([[layer.value, tapped.activation]]),
  };
  return { guided, heatmap: mapFromPass(gradCamMethod(), model, pass, opts), layer: layer.path };
}

/**
 * Guided backpropagation (Springenberg et al., "Striving for Simplicity: The All Convolutional Net",
 * ICLR 2015 workshop): the gradient of the explained score with respect to the input image, where
 * every ReLU-like unit passes gradient back only where its input was positive *and* the incoming
 * gradient is positive. The result shows fine, class-agnostic edges; combine it with Grad-CAM
 * ({@link guidedGradCam}) for class-discriminative detail.
 *
 * ReLU-like units: `activation: 'relu'` or `'relu6'` on Conv2D, DepthwiseConv2D, SeparableConv2D and
 * Dense (tfjs runs these through fused kernels; tfcam replays them unfused so the guided rule really
 * applies), `ReLU` layers (with `maxValue`: passes where `0 < x < maxValue`), `Activation('relu')`
 * and `Activation('relu6')`. Other activations keep their normal gradient.
 *
 * Matches pytorch-grad-cam's `GuidedBackpropReLUModel` (tested against its outputs), except that
 * batches of any size are explained at once (pytorch-grad-cam takes one image) and the pre-softmax
 * score is explained by default (`logits: false` for the probability).
 *
 * Caveat: guided backpropagation and Guided Grad-CAM fail the model-parameter randomisation sanity
 * check (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): their maps barely change
 * when the model's weights are randomised, so they show image structure more than what the model
 * learned. Grad-CAM passes that check.
 *
 * @param model - any `tf.LayersModel`; never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link GuidedOptions}
 * @returns `{ gradients, classIndex, score }`: gradients float32 shaped like the (chosen) input
 *   (`[H,W,C]` or `[B,H,W,C]`), signed, unnormalised; the caller owns the tensors. See
 *   {@link deprocessGradients} to view them.
 * @throws {@link ModelError}, {@link InputError}, {@link TargetError}, {@link OptionError} as
 *   {@link gradCam} does.
 *
 * @example
 * ```ts
 * const { gradients } = guidedBackprop(model, image, { target: 3 });
 * const viewable = deprocessGradients(gradients);   // int32 RGB 0..255
 * ```
 */
export function guidedBackprop(model: LayersModel, input: tf.Tensor3D, options?: GuidedOptions): GuidedResult<tf.Tensor3D, tf.Scalar>;
export function guidedBackprop(model: LayersModel, input: tf.Tensor4D, options?: GuidedOptions): GuidedResult<tf.Tensor4D, tf.Tensor1D>;
export function guidedBackprop(model: LayersModel, input: CamInput, options?: GuidedOptions): GuidedResult;
export function guidedBackprop(model: LayersModel, input: CamInput, options?: GuidedOptions): GuidedResult {
  const fn = 'guidedBackprop';
  const m = checkModel(fn, model);
  const opts = parseCamOptions(fn, m, options, [], GUIDED_KEYS);
  const inputIndex = inputIndexOf(fn, m, opts.raw['inputIndex']);
  return tf.tidy((): tf.TensorContainer => {
    const r = guidedIn(fn, m, input, opts, inputIndex);
    const out: GuidedBatch = { gradients: r.gradients, classIndex: r.classIndex, score: r.score };
    if (r.batched) return out as unknown as tf.TensorContainer;
    return {
      gradients: tf.squeeze(out.gradients, [0]),
      classIndex: tf.squeeze(out.classIndex, [0]),
      score: tf.squeeze(out.score, [0]),
    };
  }) as unknown as GuidedResult;
}

/**
 * Guided Grad-CAM (Selvaraju et al. 2017): guided backpropagation multiplied by the resized Grad-CAM
 * map, broadcast over the input channels: fine detail, restricted to the class-relevant regions.
 * Composed from the two: {@link guidedBackprop}'s pass times {@link gradCam}'s heatmap (gradCam's
 * own weighting and post-processing) with the same target.
 *
 * Cost: when no ReLU-like unit sits above the Grad-CAM layer (a last conv block, followed by pooling
 * and the classifier: the default layer of most CNNs), one forward and one backward pass through the
 * model, the Grad-CAM gradients taken from the guided pass itself; otherwise a Grad-CAM pass
 * (forward, and backward above the layer) plus the guided pass.
 *
 * Equals pytorch-grad-cam's `guided_backprop * cam_mask[..., None]` (as in its `cam.py`), for
 * batches of any size. Same caveat as {@link guidedBackprop}: it fails the model-randomisation sanity
 * check (Adebayo et al. 2018).
 *
 * @param model - any `tf.LayersModel`; never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - Grad-CAM's options ({@link CamOptions}) plus `inputIndex`; `resize` must stay on
 *   (the map is multiplied into the input-sized gradients)
 * @returns `{ gradients, heatmap, classIndex, score, layer }`: gradients float32 shaped like the input
 *   (signed); heatmap the Grad-CAM map used. The caller owns the tensors.
 * @throws as {@link gradCam} and {@link guidedBackprop}
 *
 * @example
 * ```ts
 * const r = guidedGradCam(model, image);
 * const viewable = deprocessGradients(r.gradients);
 * tf.dispose(r);
 * ```
 */
export function guidedGradCam(
  model: LayersModel,
  input: tf.Tensor3D,
  options?: GuidedGradCamOptions,
): GuidedGradCamResult<tf.Tensor3D, tf.Tensor2D, tf.Scalar>;
export function guidedGradCam(
  model: LayersModel,
  input: tf.Tensor4D,
  options?: GuidedGradCamOptions,
): GuidedGradCamResult<tf.Tensor4D, tf.Tensor3D, tf.Tensor1D>;
export function guidedGradCam(model: LayersModel, input: CamInput, options?: GuidedGradCamOptions): GuidedGradCamResult;
export function guidedGradCam(model: LayersModel, input: CamInput, options?: GuidedGradCamOptions): GuidedGradCamResult {
  const fn = 'guidedGradCam';
  const m = checkModel(fn, model);
  const opts = parseCamOptions(fn, m, options, ['inputIndex']);
  const inputIndex = inputIndexOf(fn, m, opts.raw['inputIndex']);
  if (opts.resize !== true) {
    throw new OptionError({
      fn,
      argument: 'options.resize',
      expected: 'must be true (the map is multiplied into input-sized gradients)',
      got: describeValue(opts.raw['resize']),
      fix: 'Omit resize; call gradCam for a map at another size.',
    });
  }
  const camOptions: Record<string, unknown> = {};
  for (const k of CAM_OPTION_KEYS) if (opts.raw[k] !== undefined) camOptions[k] = opts.raw[k];
  return tf.tidy((): tf.TensorContainer => {
    const { prepared, target } = prologue(fn, m, input, opts);
    let guided: GuidedBatch & { batched: boolean };
    let heat: tf.Tensor;
    let layer: string;
    const call: GuidedCall = { fn, model: m, prepared, target, opts, inputIndex };
    const one = guidedGradCamOnePass(call);
    if (one !== null) {
      guided = { gradients: one.guided.gradients as tf.Tensor, classIndex: one.guided.classIndex, score: one.guided.scores, batched: prepared.batched };
      heat = one.heatmap;
      layer = one.layer;
    } else {
      // Validation is done: skip the second value check.
      const cam = gradCam(model, input as tf.Tensor4D, { ...camOptions, validate: false } as CamOptions);
      const g = guidedPass(call);
      guided = { gradients: g.gradients as tf.Tensor, classIndex: g.classIndex, score: g.scores, batched: prepared.batched };
      heat = prepared.batched ? cam.heatmap : tf.expandDims(cam.heatmap, 0);
      layer = cam.layer;
    }
    if (guided.gradients.rank !== 4 || (heat.shape[1] !== guided.gradients.shape[1] || heat.shape[2] !== guided.gradients.shape[2])) {
      throw new InputError({
        fn,
        argument: 'input',
        expected: 'must have an image input the Grad-CAM map is resized to',
        got: describeValue(guided.gradients),
        fix: 'Use inputIndex to select the image input.',
      });
    }
    const product = tf.mul(guided.gradients, tf.expandDims(heat, -1));
    const batch = finishResult({ heatmap: heat, classIndex: guided.classIndex, score: guided.score, layer }, guided.batched);
    return {
      gradients: guided.batched ? product : tf.squeeze(product, [0]),
      heatmap: batch.heatmap,
      classIndex: batch.classIndex,
      score: batch.score,
      layer: batch.layer,
    };
  }) as unknown as GuidedGradCamResult;
}

/**
 * Turns a gradient map into a viewable image, like pytorch-grad-cam's `deprocess_image`: per image,
 * standardise (`(g - mean) / (std + 1e-5)`, population std over all pixels and channels), scale by
 * 0.1, shift by 0.5, clip to [0, 1], then quantise to 0..255 (truncating, as `np.uint8`).
 *
 * @param gradients - `[H,W,C]` or `[B,H,W,C]` (e.g. from {@link guidedBackprop}); not disposed
 * @returns int32 of the same shape, values 0..255, owned by the caller (`tf.browser.toPixels`-ready for C = 1, 3, 4)
 * @throws {@link InputError} if `gradients` is not a rank-3 or rank-4 tensor
 *
 * @example
 * ```ts
 * const img = deprocessGradients(guidedBackprop(model, image).gradients);
 * ```
 */
export function deprocessGradients<T extends tf.Tensor3D | tf.Tensor4D>(gradients: T): T {
  if (!isTensor(gradients) || (gradients.rank !== 3 && gradients.rank !== 4)) {
    throw new InputError({
      fn: 'deprocessGradients',
      argument: 'gradients',
      expected: 'must be a [H, W, C] or [B, H, W, C] tensor',
      got: describeValue(gradients),
      fix: 'Pass the gradients field of a guidedBackprop / guidedGradCam result.',
    });
  }
  return tf.tidy(() => {
    const g = gradients.rank === 3 ? tf.expandDims(gradients, 0) : gradients;
    const { mean, variance } = tf.moments(g, [1, 2, 3], true);
    let x = tf.div(tf.sub(g, mean), tf.add(tf.sqrt(variance), 1e-5));
    x = tf.clipByValue(tf.add(tf.mul(x, 0.1), 0.5), 0, 1);
    const q = tf.cast(tf.floor(tf.mul(x, 255)), 'int32');
    return (gradients.rank === 3 ? tf.squeeze(q, [0]) : q) as T;
  });
}
