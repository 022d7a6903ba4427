/**
 * Grad-CAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { runGradientCam } from '../core/cam.js';
import { spatialMean } from '../core/reduce.js';
import type { CamInput, CamOptions, CamResult, CamResultBatch, CamResultSingle } from '../core/types.js';

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
 * explained in one pass; the layer can be chosen automatically.
 *
 * Cost: one forward pass plus the backward pass of the layers above the target only. The layers
 * below the target run outside the gradient tape and are freed as they go.
 *
 * @param model - any `tf.LayersModel` (Sequential, functional, nested, multi-input/output); never modified
 * @param input - `[H,W,C]` (one image), `[B,H,W,C]`, or an array with one tensor per model input.
 *   int32/bool inputs are cast to float32. Not disposed.
 * @param options - see {@link CamOptions}
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
 * const image = tf.zeros([224, 224, 3]);
 * const { heatmap, classIndex, layer } = gradCam(model, image);   // heatmap: [224, 224] in [0, 1]
 * console.log(`class ${classIndex.dataSync()[0]} explained at ${layer}`);
 * tf.dispose([heatmap, classIndex]);
 * ```
 */
export function gradCam(model: LayersModel, input: tf.Tensor3D, options?: CamOptions): CamResultSingle;
export function gradCam(model: LayersModel, input: tf.Tensor4D, options?: CamOptions): CamResultBatch;
export function gradCam(model: LayersModel, input: CamInput, options?: CamOptions): CamResult;
export function gradCam(model: LayersModel, input: CamInput, options?: CamOptions): CamResult {
  return runGradientCam('gradCam', model, input, options, {
    weights: ({ gradients }) => spatialMean(gradients),
  });
}
