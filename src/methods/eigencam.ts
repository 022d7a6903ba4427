/**
 * EigenCAM and EigenGradCAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { createCam } from '../pipeline/cam.js';
import { principalProjection } from '../core/projection.js';

/**
 * EigenCAM (Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
 * IJCNN 2020): the projection of the target layer's activations on their first principal component
 * (rows = pixels, columns = channels, mean-centred). Class-independent and gradient-free: it shows
 * what the layer attends to, whatever the class; `target` only sets the reported class and score.
 *
 * Equals pytorch-grad-cam's `EigenCAM` up to the sign of the component, which an SVD leaves
 * arbitrary: tfcam orients it to correlate positively with the channel sum of the activations (see
 * {@link principalProjection}); tested against pytorch-grad-cam after aligning signs. tfjs has no
 * SVD: the component comes from repeated squaring of the Gram matrix (no values read back).
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link CamOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}
 *
 * @example
 * ```ts
 * const { heatmap } = eigenCam(model, image);
 * ```
 */
export const eigenCam = createCam({
  name: 'eigenCam',
  usesGradients: false,
  map: ({ activations }) => principalProjection(activations),
});

/**
 * EigenGradCAM (pytorch-grad-cam's `EigenGradCAM`): the first principal component of the
 * class-specific element-wise products `G * A` instead of the activations, so the map is
 * class-discriminative like Grad-CAM but cleaner. Sign convention as {@link eigenCam}.
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link CamOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}
 *
 * @example
 * ```ts
 * const { heatmap } = eigenGradCam(model, image, { target: 2 });
 * ```
 */
export const eigenGradCam = createCam({
  name: 'eigenGradCam',
  map: ({ activations, gradients }) => tf.tidy(() => principalProjection(tf.mul(gradients, activations) as tf.Tensor4D)),
});
