/**
 * Guided backpropagation and Guided Grad-CAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { prepareInput } from '../core/input.js';
import type { Schema } from '../core/options.js';
import { booleanOption, schemaFor } from '../core/options.js';
import { checkTensor } from '../core/tensor.js';
import { targetOption } from '../core/targets.js';
import type { CamInput, CamModel, Target } from '../core/types.js';
import { InputError } from '../errors.js';
import type { GradCamOptions } from '../methods/gradcam.js';
import { gradCamMethod } from '../methods/gradcam.js';
import { checkCall } from '../pipeline/call.js';
import type { BatchResult } from '../pipeline/cam.js';
import { camBatch, checkCamCall, layerMaps, predictedOutput, unbatchResult } from '../pipeline/cam.js';
import { CAM_OPTIONS, inputIndexOption, outputIndexOption, validateOption } from '../pipeline/cam-options.js';
import type { CamMethod } from '../pipeline/method.js';
import { passAtTap, runPass } from '../pipeline/pass.js';
import type { Session } from '../pipeline/session.js';

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

/**
 * Options of {@link guidedGradCam}: Grad-CAM's options (every one: several layers with `fuse`,
 * `augSmooth`, `eigenSmooth`, `guidedGrads` shape the Grad-CAM map that multiplies the guided
 * gradients), except `resize` (the map is always resized to the input), plus `inputIndex`.
 */
export interface GuidedGradCamOptions extends Omit<GradCamOptions, 'resize'> {
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
export type GuidedGradCamResult<
  G extends tf.Tensor = tf.Tensor,
  H extends tf.Tensor = tf.Tensor,
  I extends tf.Tensor = tf.Tensor,
> = GuidedResult<G, I> & {
  /** The resized, normalised Grad-CAM map: `[H,W]` or `[B,H,W]` in [0, 1]. */
  heatmap: H;
  /**
   * The explained model output as `model.predict` returns it (softmax/sigmoid included), from the
   * same forward pass: `[B, ...]`, or without the batch axis for one image (see
   * {@link CamResult.output}).
   */
  output: tf.Tensor;
  /** The Grad-CAM layer's path. */
  layer: string;
};

const GUIDED_OPTIONS = schemaFor<GuidedOptions>()({
  target: targetOption,
  logits: booleanOption(true),
  outputIndex: outputIndexOption,
  inputIndex: inputIndexOption,
  validate: validateOption,
});

const { resize: _resize, ...CAM_OPTIONS_WITHOUT_RESIZE } = CAM_OPTIONS;

const GUIDED_GRAD_CAM_OPTIONS = schemaFor<GuidedGradCamOptions>()({
  ...CAM_OPTIONS_WITHOUT_RESIZE,
  guidedGrads: booleanOption(false),
  inputIndex: inputIndexOption,
});

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
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
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
export function guidedBackprop(model: CamModel, input: tf.Tensor3D, options?: GuidedOptions): GuidedResult<tf.Tensor3D, tf.Scalar>;
export function guidedBackprop(model: CamModel, input: tf.Tensor4D, options?: GuidedOptions): GuidedResult<tf.Tensor4D, tf.Tensor1D>;
export function guidedBackprop(model: CamModel, input: CamInput, options?: GuidedOptions): GuidedResult;
export function guidedBackprop(model: CamModel, input: CamInput, options?: GuidedOptions): GuidedResult {
  return guidedBackpropIn(null, model, input, options);
}

/** The options schemas of {@link guidedBackprop} and {@link guidedGradCam} (an explainer's defaults). @internal */
export const GUIDED_SCHEMAS: { readonly guidedBackprop: Schema; readonly guidedGradCam: Schema } = {
  guidedBackprop: GUIDED_OPTIONS,
  guidedGradCam: GUIDED_GRAD_CAM_OPTIONS,
};

/** {@link guidedBackprop} with an explainer's session (null: one-shot). @internal */
export function guidedBackpropIn(session: Session | null, model: unknown, input: unknown, options: unknown): GuidedResult {
  const fn = 'guidedBackprop';
  const call = checkCall(fn, GUIDED_OPTIONS, model, input, options, session);
  const o = call.options;
  const split = call.model.split(fn, call.model.resolveInput(o.inputIndex ?? call.model.imageInput), o.outputIndex);
  return tf.tidy(() => {
    const prepared = prepareInput(fn, call.input, o.validate);
    const pass = runPass(fn, split, prepared.tensors, call.target, {
      gradients: true,
      logits: o.logits,
      guided: true,
      kernels: session?.kernels,
    });
    const squeeze = (t: tf.Tensor): tf.Tensor => (call.input.batched ? t : tf.squeeze(t, [0]));
    return { gradients: squeeze(pass.gradients as tf.Tensor), classIndex: squeeze(pass.classIndex), score: squeeze(pass.scores) };
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
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
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
  model: CamModel,
  input: tf.Tensor3D,
  options?: GuidedGradCamOptions,
): GuidedGradCamResult<tf.Tensor3D, tf.Tensor2D, tf.Scalar>;
export function guidedGradCam(
  model: CamModel,
  input: tf.Tensor4D,
  options?: GuidedGradCamOptions,
): GuidedGradCamResult<tf.Tensor4D, tf.Tensor3D, tf.Tensor1D>;
export function guidedGradCam(model: CamModel, input: CamInput, options?: GuidedGradCamOptions): GuidedGradCamResult;
export function guidedGradCam(model: CamModel, input: CamInput, options?: GuidedGradCamOptions): GuidedGradCamResult {
  return guidedGradCamIn(null, model, input, options);
}

/** {@link guidedGradCam} with an explainer's session (null: one-shot). @internal */
export function guidedGradCamIn(session: Session | null, model: unknown, input: unknown, options: unknown): GuidedGradCamResult {
  const fn = 'guidedGradCam';
  const call = checkCamCall(fn, GUIDED_GRAD_CAM_OPTIONS, model, input, options, session);
  const o = call.options;
  const inputIndex = o.inputIndex ?? call.model.imageInput;
  const image = call.model.inputs[inputIndex]?.shape ?? [];
  const size = call.size as readonly [number, number];
  if (image.length !== 4 || (image[1] !== null && image[1] !== size[0]) || (image[2] !== null && image[2] !== size[1])) {
    throw new InputError({
      fn,
      argument: 'input',
      expected: `must have an image input of the Grad-CAM map's size (${size[0]}x${size[1]}) at inputIndex ${inputIndex}`,
      got: `a model input of shape [${image.map((d) => d ?? 'any').join(', ')}]`,
      fix: 'Use inputIndex to select the image input.',
    });
  }
  const inputSplit = call.model.split(fn, call.model.resolveInput(inputIndex), o.outputIndex);
  const method = gradCamMethod() as unknown as CamMethod;
  return tf.tidy(() => {
    const prepared = prepareInput(fn, call.input, o.validate);
    // One pass when the guided rule changes nothing above the Grad-CAM layer (no ReLU-like unit:
    // the usual case at a last conv block): dS/dA of the guided pass *is* Grad-CAM's, tapped there.
    const layer = call.layers.length === 1 && !o.augSmooth ? (call.layers[0] as (typeof call.layers)[number]) : null;
    const layerSplit = layer === null ? null : call.model.split(fn, layer, o.outputIndex);
    const tap = layerSplit !== null && !layerSplit.guidedRuleAbove ? (layer ?? undefined) : undefined;
    const guided = runPass(fn, inputSplit, prepared.tensors, call.target, {
      gradients: true,
      logits: o.logits,
      guided: true,
      tap,
      kernels: session?.kernels,
    });
    const atLayer = tap === undefined || layerSplit === null ? null : passAtTap(guided, layerSplit, tap);
    const cam: BatchResult =
      atLayer !== null ? layerMaps(method, call, prepared.tensors, () => atLayer) : camBatch(method, call, prepared.tensors);
    const product = tf.mul(guided.gradients as tf.Tensor, tf.expandDims(cam.heatmap, -1));
    const output = predictedOutput(call, guided.output);
    const r = unbatchResult(
      { heatmap: cam.heatmap, classIndex: guided.classIndex, score: guided.scores, output, layer: cam.layer },
      call.input.batched,
    );
    return {
      gradients: call.input.batched ? product : tf.squeeze(product, [0]),
      heatmap: r.heatmap,
      classIndex: r.classIndex,
      score: r.score,
      output: r.output,
      layer: r.layer,
    } as unknown as tf.TensorContainer;
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
  checkTensor('deprocessGradients', 'gradients', gradients, {
    ranks: [3, 4],
    shapes: '[H, W, C] or [B, H, W, C]',
    fix: 'Pass the gradients field of a guidedBackprop / guidedGradCam result.',
  });
  return tf.tidy(() => {
    const g = gradients.rank === 3 ? tf.expandDims(gradients, 0) : gradients;
    const { mean, variance } = tf.moments(g, [1, 2, 3], true);
    let x = tf.div(tf.sub(g, mean), tf.add(tf.sqrt(variance), 1e-5));
    x = tf.clipByValue(tf.add(tf.mul(x, 0.1), 0.5), 0, 1);
    const q = tf.cast(tf.floor(tf.mul(x, 255)), 'int32');
    return (gradients.rank === 3 ? tf.squeeze(q, [0]) : q) as T;
  });
}
