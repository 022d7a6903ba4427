/**
 * LayerCAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { createCam } from '../pipeline/cam.js';

/**
 * LayerCAM (Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
 * Localization", IEEE TIP 2021): each location weighted by its own positive gradient,
 * `cam = sum_k ReLU(G_k) * A_k`. Works at shallow layers too, where Grad-CAM's spatially averaged
 * weights blur; combine several layers with `layer: [...]`.
 *
 * Numerics match pytorch-grad-cam's `LayerCAM` (tested against its outputs).
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link CamOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}
 *
 * @example
 * ```ts
 * const { heatmap } = layerCam(model, image, { layer: ['block3_conv3', 'block4_conv3'] });
 * ```
 */
export const layerCam = createCam({
  name: 'layerCam',
  elementwise: ({ activations, gradients }) => tf.tidy(() => tf.mul(tf.relu(gradients), activations) as tf.Tensor4D),
});
