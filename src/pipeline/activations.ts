/**
 * The building blocks other libraries embed: the activations-and-gradients primitive and the
 * channel combination (normalisation and resizing live in postprocess.ts).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { prepareInput } from '../core/input.js';
import type { Schema } from '../core/options.js';
import { schemaFor } from '../core/options.js';
import { weightedChannelSum } from '../core/reduce.js';
import type { CamInput, CamModel, CamOptions, LayerRef } from '../core/types.js';
import { checkCall, resolveLayers } from './call.js';
import { CAM_OPTIONS, singleLayerOption } from './cam-options.js';
import { runPass } from './pass.js';
import type { Session } from './session.js';

/** Options of {@link activationsAndGradients}: the layer/target subset of {@link CamOptions}. */
export interface ActivationsAndGradientsOptions extends Pick<CamOptions, 'node' | 'target' | 'logits' | 'outputIndex' | 'validate'> {
  /** The layer (one: there is one result per layer); default as in {@link CamOptions.layer}. */
  layer?: LayerRef | undefined;
}

const OPTIONS = schemaFor<ActivationsAndGradientsOptions>()({
  layer: singleLayerOption,
  node: CAM_OPTIONS.node,
  target: CAM_OPTIONS.target,
  logits: CAM_OPTIONS.logits,
  outputIndex: CAM_OPTIONS.outputIndex,
  validate: CAM_OPTIONS.validate,
});

/** The result of {@link activationsAndGradients}. The caller owns the tensors. */
export type ActivationsAndGradientsResult = {
  /** The target layer's output A, `[B, h, w, C]` (batch axis kept even for one image). */
  activations: tf.Tensor4D;
  /** dS/dA, `[B, h, w, C]`, for the explained score S of each example. */
  gradients: tf.Tensor4D;
  /** S per example, `[B]` (a logit when logits are explained). */
  scores: tf.Tensor1D;
  /** The explained class per example, int32 `[B]` (-1 for target functions). */
  classIndex: tf.Tensor1D;
  /** The resolved layer path. */
  layer: string;
};

/**
 * The primitive under every gradient-based CAM: the target layer's activations and the gradient of
 * the explained score with respect to them, for a whole batch, from tfcam's two-phase runner (the
 * layers below the target outside the tape, the head's backward only, no weight gradients).
 * Equivalent to pytorch-grad-cam's `ActivationsAndGradients` hooks, without touching the model.
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - `layer`, `node`, `target`, `logits`, `outputIndex`, `validate` as in {@link CamOptions}
 * @returns `{ activations, gradients, scores, classIndex, layer }`, batched (`[1, ...]` for one
 *   image); the caller owns the tensors
 * @throws as {@link gradCam}
 *
 * @example
 * ```ts
 * const { activations, gradients } = activationsAndGradients(model, image, { layer: 'last_conv' });
 * const weights = tf.mean(gradients, [1, 2]) as tf.Tensor2D;   // Grad-CAM's weights
 * const raw = combineChannels(activations, weights);            // [1, h, w]
 * ```
 */
export function activationsAndGradients(
  model: CamModel,
  input: CamInput,
  options?: ActivationsAndGradientsOptions,
): ActivationsAndGradientsResult {
  return activationsAndGradientsIn(null, model, input, options);
}

/** The options schema of {@link activationsAndGradients} (for an explainer's defaults). @internal */
export const ACTIVATIONS_AND_GRADIENTS_OPTIONS: Schema = OPTIONS;

/** {@link activationsAndGradients} with an explainer's session (null: one-shot). @internal */
export function activationsAndGradientsIn(
  session: Session | null,
  model: unknown,
  input: unknown,
  options: unknown,
): ActivationsAndGradientsResult {
  const fn = 'activationsAndGradients';
  const call = checkCall(fn, OPTIONS, model, input, options, session);
  const o = call.options;
  const [layer] = resolveLayers(call, o.layer, o.node, o.outputIndex);
  const split = call.model.split(fn, layer as NonNullable<typeof layer>, o.outputIndex);
  return tf.tidy(() => {
    const prepared = prepareInput(fn, call.input, o.validate);
    const pass = runPass(fn, split, prepared.tensors, call.target, {
      gradients: true,
      logits: o.logits,
      guided: false,
      kernels: session?.kernels,
    });
    return {
      activations: pass.activations,
      gradients: pass.gradients as tf.Tensor,
      scores: pass.scores,
      classIndex: pass.classIndex,
      layer: split.layer.path,
    } as unknown as tf.TensorContainer;
  }) as unknown as ActivationsAndGradientsResult;
}

/**
 * The channel combination of weight-based CAMs: `cam[b] = sum_k weights[b, k] * A[b, :, :, k]`,
 * vectorised, with a two-stage channel sum (float32 backends stay within ~1e-6 of float64).
 *
 * @param activations - `[B, h, w, C]`; not disposed
 * @param weights - `[B, C]`; not disposed
 * @returns the raw map `[B, h, w]` (before ReLU), owned by the caller
 * @throws nothing of its own (tfjs errors for mismatched shapes)
 *
 * @example
 * ```ts
 * const raw = combineChannels(activations, tf.mean(gradients, [1, 2]) as tf.Tensor2D);
 * ```
 */
export function combineChannels(activations: tf.Tensor4D, weights: tf.Tensor2D): tf.Tensor3D {
  return weightedChannelSum(activations, weights);
}
