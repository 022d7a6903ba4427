/**
 * Grad-CAM++.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { oneOfOption } from '../core/options.js';
import { spatialSum } from '../core/reduce.js';
import type { CamOptions } from '../core/types.js';
import { createCam } from '../pipeline/cam.js';

/** Options of {@link gradCamPlusPlus}. */
export interface GradCamPlusPlusOptions extends CamOptions {
  /**
   * `'pytorch-grad-cam'` (default): `w_k = sum_ij relu(G) a_ijk`, with
   * `a = G^2 / (2 G^2 + sum_ij(A) G^3 + 1e-6)` (0 where G = 0), pytorch-grad-cam's formula.
   * `'paper'`: additionally renormalises the alphas of each channel to sum to 1 over space, as the
   * paper's derivation (eq. 19 with the normalisation of its released code) and tf-keras-vis do.
   * tf-keras-vis also multiplies by exp(S); that per-example constant is omitted here (it cancels
   * in the normalised map, and overflows float32 for large logits).
   */
  variant?: 'pytorch-grad-cam' | 'paper' | undefined;
}

/**
 * Grad-CAM++ (Chattopadhay et al., "Grad-CAM++: Improved Visual Explanations for Deep Convolutional
 * Networks", WACV 2018): channel weights from positive gradients weighted by per-pixel alphas
 * derived from second and third derivatives (approximated with powers of the first, exact for an
 * exponential of a piecewise-linear score), better for several instances of a class.
 *
 * Numerics follow pytorch-grad-cam's `GradCAMPlusPlus` by default (tested against its outputs);
 * `variant: 'paper'` gives the renormalised alphas of the paper / tf-keras-vis.
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link GradCamPlusPlusOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}; {@link OptionError} for an unknown `variant`
 *
 * @example
 * ```ts
 * const { heatmap } = gradCamPlusPlus(model, image, { target: 3 });
 * ```
 */
export const gradCamPlusPlus = createCam<GradCamPlusPlusOptions>({
  name: 'gradCamPlusPlus',
  options: { variant: oneOfOption(['pytorch-grad-cam', 'paper'], 'pytorch-grad-cam', "Omit it for 'pytorch-grad-cam'.") },
  weights: ({ activations, gradients, options }) =>
    tf.tidy(() => {
      const g2 = tf.square(gradients);
      const g3 = tf.mul(g2, gradients);
      const [b, , , c] = activations.shape;
      const sumA = tf.reshape(spatialSum(activations), [b, 1, 1, c]);
      let alpha = tf.div(g2, tf.add(tf.add(tf.mul(g2, 2), tf.mul(sumA, g3)), 1e-6));
      alpha = tf.where(tf.notEqual(gradients, 0), alpha, tf.zerosLike(alpha));
      if (options.variant === 'paper') {
        const norm = tf.reshape(spatialSum(alpha as tf.Tensor4D), [b, 1, 1, c]);
        alpha = tf.div(alpha, tf.where(tf.equal(norm, 0), tf.onesLike(norm), norm));
      }
      return spatialSum(tf.mul(tf.relu(gradients), alpha) as tf.Tensor4D);
    }),
});
