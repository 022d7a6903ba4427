/**
 * Ablation-CAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { oneHotMask } from '../core/targets.js';
import { createCam } from '../pipeline/cam.js';
import type { BatchedCamOptions } from './batched.js';
import { BATCHED_OPTIONS, channelScores } from './batched.js';

/** Options of {@link ablationCam}. */
export type AblationCamOptions = BatchedCamOptions;

/** pytorch-grad-cam's ablation offset for layers whose activations can be negative. */
const ABLATION_OFFSET = 1e7;

/**
 * Ablation-CAM (Desai & Ramaswamy, "Ablation-CAM: Visual Explanations for Deep Convolutional
 * Network via Gradient-free Localization", WACV 2020): gradient-free. Each activation channel is
 * ablated in turn and the relative drop of the explained score, `(S - S_k) / S`, weights it.
 *
 * Numerics match pytorch-grad-cam's `AblationCAM` (tested against its outputs): a channel is ablated
 * to 0 when the layer's minimum activation is exactly 0 (ReLU layers), otherwise to a very negative
 * value as pytorch-grad-cam's `AblationLayer` does — which, because it re-reads the minimum after each
 * ablation within a batch, sets the i-th channel of each batch to `min(A) - (i + 1) * 1e7`; tfcam
 * reproduces that. Cost: only the layers above the target are re-run, on `B x C` ablated copies of
 * the activations, in batches of `batchSize` (`onProgress` reports them); no gradients.
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link AblationCamOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}; {@link OptionError} for a bad `batchSize` or `onProgress`
 *
 * @example
 * ```ts
 * const { heatmap } = ablationCam(model, image, { batchSize: 64 });
 * ```
 */
export const ablationCam = createCam<AblationCamOptions>({
  name: 'ablationCam',
  usesGradients: false,
  options: BATCHED_OPTIONS,
  weights: (ctx) => {
    const c = ctx.activations.shape[3];
    const ablated = channelScores(ctx, (e, first, n) => {
      const a = tf.slice(ctx.activations, [e], [1]);
      const min = tf.min(a);
      const hot = tf.reshape(oneHotMask(tf.range(first, first + n, 1, 'int32'), c), [n, 1, 1, c]);
      // Row i of a batch: 0 for ReLU layers (minimum exactly 0), else min(A) - (i + 1) * 1e7 (pytorch-grad-cam).
      const offsets = tf.reshape(tf.mul(tf.range(1, n + 1, 1, 'float32'), ABLATION_OFFSET), [n, 1, 1, 1]);
      const value = tf.where(tf.equal(min, 0), tf.zeros([n, 1, 1, 1]), tf.sub(min, offsets));
      const copies = tf.add(tf.mul(tf.tile(a, [n, 1, 1, 1]), tf.sub(1, hot)), tf.mul(hot, value)) as tf.Tensor4D;
      return ctx.scoreActivations(copies, e);
    });
    const original = tf.reshape(ctx.scores, [-1, 1]);
    return tf.div(tf.sub(original, ablated), original) as tf.Tensor2D;
  },
});
