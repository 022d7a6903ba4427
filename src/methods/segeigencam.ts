/**
 * SegEigenCAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { principalProjection } from '../core/projection.js';
import { createCam } from '../pipeline/cam.js';

/**
 * SegEigenCAM (Chung & Ying, "SegEigen-CAM", Applied Sciences 15(13) 7562, 2025; pytorch-grad-cam's
 * `SegEigenCAM`), made for segmentation targets: the first principal component of `|G| * A` (the
 * activations weighted element-wise by the gradient magnitude; rows = pixels, mean-centred), with a
 * sign correction: the projection is negated when its most negative value is larger in magnitude
 * than its most positive one, so the map's dominant extreme is positive.
 *
 * Numerics match pytorch-grad-cam's `SegEigenCAM` (tested against its outputs, classification and
 * segmentation targets): because the sign rule depends only on the projection, there is no SVD sign
 * ambiguity to align (unlike {@link eigenCam} / {@link eigenGradCam}). tfjs has no SVD: see
 * {@link principalProjection} (`orientation: 'extremum'`). With a classifier whose gradient is
 * constant over space (global average pooling heads), `|G| * A` and `G * A` differ only by a sign per
 * channel, so the map equals {@link eigenGradCam}'s up to sign; they differ for spatial targets such
 * as {@link semanticSegmentationTarget}.
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link CamOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}
 *
 * @example
 * ```ts
 * // A segmentation model with [B, H, W, classes] output: class 1 inside a region of interest.
 * const mask = tf.ones([224, 224]) as tf.Tensor2D;
 * const { heatmap } = segEigenCam(model, image, { target: semanticSegmentationTarget(1, mask) });
 * ```
 */
export const segEigenCam = createCam({
  name: 'segEigenCam',
  map: ({ activations, gradients }) =>
    tf.tidy(() => principalProjection(tf.mul(tf.abs(gradients), activations) as tf.Tensor4D, { orientation: 'extremum' })),
});
