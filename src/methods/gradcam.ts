/**
 * Grad-CAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { booleanOption } from '../core/options.js';
import { spatialMean } from '../core/reduce.js';
import type { CamOptions } from '../core/types.js';
import { createCam } from '../pipeline/cam.js';
import type { CamMethod } from '../pipeline/method.js';

/** Options of {@link gradCam}. */
export interface GradCamOptions extends CamOptions {
  /**
   * "Guided grads" weighting (tf-explain's default, and the Keras seed example's): before pooling,
   * keep only gradients where both the activation and the gradient are positive,
   * `w_k = mean_ij [A_ijk > 0][G_ijk > 0] G_ijk`. Default false (the paper's and pytorch-grad-cam's
   * plain mean of the gradients).
   */
  guidedGrads?: boolean | undefined;
}

/**
 * Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
 * Localization", ICCV 2017): which regions of the image made the model give this class its score.
 *
 * Algorithm: with A the target layer's activations (`[B,h,w,C]`) and S the explained score,
 * `w_k = mean_ij dS/dA_ijk`, `cam = ReLU(sum_k w_k A_k)`, min-max normalised, resized bilinearly
 * (half-pixel centres) to the input size and normalised again.
 *
 * Numerics match pytorch-grad-cam's `GradCAM` (tested against its outputs). Differences: the
 * default target explains the pre-softmax logit when the model ends in softmax/sigmoid (pytorch-grad-cam
 * explains whatever the model outputs; pass `logits: false` for that); batches of any size are
 * explained in one pass; the layer can be chosen automatically; `guidedGrads` offers tf-explain's
 * weighting.
 *
 * Cost: one forward pass plus the backward pass of the layers above the target only. The layers
 * below the target run outside the gradient tape and are freed as they go.
 *
 * @param model - a `tf.LayersModel` (Sequential, functional, nested, multi-input/output) or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]` (one image), `[B,H,W,C]`, or an array with one tensor per model input.
 *   int32/bool inputs are cast to float32. Not disposed.
 * @param options - see {@link GradCamOptions} and {@link CamOptions}
 * @returns `{ heatmap, classIndex, score, layer }`: heatmap float32 `[H,W]` (one image) or
 *   `[B,H,W]` in [0,1]; classIndex int32; score float32; layer the resolved layer path. The caller
 *   owns the tensors (`tf.dispose(result)`).
 * @throws {@link ModelError} if `model` is not a built LayersModel;
 *   {@link InputError} for an input of the wrong type, rank, shape, batch or with NaN/Infinity;
 *   {@link LayerError} when `layer` does not resolve to a rank-4 layer connected to the output;
 *   {@link TargetError} for a class index out of range, non-integer, or of the wrong length, or a target
 *   function returning the wrong shape; {@link OptionError} for unknown or ill-typed options.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs';
 * import { gradCam } from 'tfcam';
 *
 * const model = await tf.loadLayersModel('model/model.json');
 * const image = tf.zeros([224, 224, 3]) as tf.Tensor3D;
 * const { heatmap, classIndex, layer } = gradCam(model, image);   // heatmap: [224, 224] in [0, 1]
 * console.log(`class ${classIndex.dataSync()[0]} explained at ${layer}`);
 * tf.dispose([heatmap, classIndex]);
 * ```
 */
export const gradCam = createCam<GradCamOptions>(gradCamMethod());

/**
 * Grad-CAM's weighting as a {@link CamMethod} (also used by guidedGradCam on the activations and
 * gradients of its own pass).
 *
 * @internal
 */
export function gradCamMethod(): CamMethod<GradCamOptions> {
  return {
    name: 'gradCam',
    options: { guidedGrads: booleanOption(false) },
    weights: ({ activations, gradients, options }) => {
      if (!options.guidedGrads) return spatialMean(gradients);
      return tf.tidy(() => {
        const keep = tf.logicalAnd(tf.greater(activations, 0), tf.greater(gradients, 0));
        return spatialMean(tf.mul(gradients, tf.cast(keep, 'float32')) as tf.Tensor4D);
      });
    },
  };
}
