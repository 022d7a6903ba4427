/**
 * HiResCAM and Grad-CAM element-wise.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { createCam } from '../pipeline/cam.js';

/**
 * HiResCAM (Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
 * convolutional neural networks", 2020): the element-wise product of gradients and activations,
 * summed over channels, `cam = sum_k G_k * A_k`. Unlike Grad-CAM it does not average gradients over
 * space, so the map provably reflects the locations the score used (for models ending in a dense layer
 * after flattening).
 *
 * Numerics match pytorch-grad-cam's `HiResCAM` (tested against its outputs).
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link CamOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}
 *
 * @example
 * ```ts
 * const { heatmap } = hiResCam(model, image);
 * ```
 */
export const hiResCam = createCam({
  name: 'hiResCam',
  elementwise: ({ activations, gradients }) => tf.mul(gradients, activations) as tf.Tensor4D,
});

/**
 * Grad-CAM element-wise (pytorch-grad-cam's `GradCAMElementWise`): like {@link hiResCam} but with a
 * ReLU on each element before the channel sum, `cam = sum_k ReLU(G_k * A_k)`, so negative
 * contributions cannot cancel positive ones.
 *
 * Numerics match pytorch-grad-cam's `GradCAMElementWise` (tested against its outputs).
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link CamOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}
 *
 * @example
 * ```ts
 * const { heatmap } = gradCamElementWise(model, image);
 * ```
 */
export const gradCamElementWise = createCam({
  name: 'gradCamElementWise',
  elementwise: ({ activations, gradients }) => tf.tidy(() => tf.relu(tf.mul(gradients, activations)) as tf.Tensor4D),
});
