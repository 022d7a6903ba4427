/**
 * XGrad-CAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { createCam } from '../pipeline/cam.js';
import { spatialSum } from '../core/reduce.js';

/**
 * XGrad-CAM (Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of
 * CNNs", BMVC 2020): gradients weighted by the normalised activations,
 * `w_k = sum_ij G_ijk A_ijk / (sum_ij A_ijk + 1e-7)`, `cam = sum_k w_k A_k`, chosen to satisfy the
 * sensitivity and conservation axioms.
 *
 * Numerics match pytorch-grad-cam's `XGradCAM` (tested against its outputs).
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link CamOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}
 *
 * @example
 * ```ts
 * const { heatmap } = xGradCam(model, image);
 * ```
 */
export const xGradCam = createCam({
  name: 'xGradCam',
  weights: ({ activations, gradients }) =>
    tf.tidy(() => tf.div(spatialSum(tf.mul(gradients, activations) as tf.Tensor4D), tf.add(spatialSum(activations), 1e-7)) as tf.Tensor2D),
});
