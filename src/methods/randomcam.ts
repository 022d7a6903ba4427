/**
 * RandomCAM (a baseline).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OptionSpec } from '../core/options.js';
import { integerOption } from '../core/options.js';
import type { CamOptions } from '../core/types.js';
import { createCam } from '../pipeline/cam.js';

/** Options of {@link randomCam}. */
export interface RandomCamOptions extends CamOptions {
  /** Seed of the random weights (default: a new draw each call). */
  seed?: number | undefined;
}

/**
 * RandomCAM, a baseline (pytorch-grad-cam's `RandomCAM`): Grad-CAM's combination `sum_c w_c A_c`
 * with weights drawn uniformly from [-1, 1] per example and channel. A method that does no better
 * than this on a metric is not explaining the model; use it next to the real methods in evaluations.
 *
 * Same distribution as pytorch-grad-cam (which draws from numpy's global generator, so its maps
 * cannot be reproduced; here `seed` makes them reproducible). Gradient-free: one forward pass.
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link RandomCamOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}; {@link OptionError} for a `seed` that is not an integer
 *
 * @example
 * ```ts
 * const { heatmap } = randomCam(model, image, { seed: 1 });
 * ```
 */
export const randomCam = createCam<RandomCamOptions>({
  name: 'randomCam',
  usesGradients: false,
  // Undefined by default (a fresh draw); method option types exclude undefined, hence the cast.
  options: { seed: integerOption(undefined, Number.MIN_SAFE_INTEGER) as OptionSpec<number> },
  weights: ({ activations, options }) => {
    const [b, , , c] = activations.shape;
    return tf.randomUniform([b, c], -1, 1, 'float32', options.seed as number | undefined) as tf.Tensor2D;
  },
});
