/**
 * FEM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { numberOption } from '../core/options.js';
import type { CamOptions } from '../core/types.js';
import { createCam } from '../pipeline/cam.js';

/** Options of {@link fem}. */
export interface FemOptions extends CamOptions {
  /** The threshold is `mean + k * std` of each channel (pytorch-grad-cam's `k`, default 2). */
  k?: number | undefined;
}

/**
 * FEM, the Feature Explanation Method (Fuad et al., "Features Understanding in 3D CNNs for Actions
 * Recognition in Video", IPTA 2020): gradient-free and class-independent. Each channel is binarised
 * at `mean + k * std` of its activations (k-sigma rule), and weighted by the fraction of its pixels
 * above that threshold: `w_c = mean_ij [A_ijc > mu_c + k sigma_c]`, `cam = sum_c w_c A_c`.
 *
 * Numerics match pytorch-grad-cam's `FEM` (tested against its outputs): population standard
 * deviation, strict `>`, a constant channel gets weight 0. Like {@link eigenCam}, `target` only sets
 * the reported class and score. Cost: one forward pass, no gradients.
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link FemOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}; {@link OptionError} for a `k` that is not a finite number >= 0
 *
 * @example
 * ```ts
 * const { heatmap } = fem(model, image, { k: 2 });
 * ```
 */
export const fem = createCam<FemOptions>({
  name: 'fem',
  usesGradients: false,
  options: { k: numberOption(2, 0, false) },
  weights: ({ activations, options }) =>
    tf.tidy(() => {
      const { mean, variance } = tf.moments(activations, [1, 2], true);
      const threshold = tf.add(mean, tf.mul(tf.sqrt(variance), options.k));
      return tf.mean(tf.cast(tf.greater(activations, threshold), 'float32'), [1, 2]) as tf.Tensor2D;
    }),
});
