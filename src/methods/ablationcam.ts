/**
 * Ablation-CAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { createCam } from '../core/create.js';
import { oneHotMask } from '../core/targets.js';
import type { BatchedCamOptions } from './batched.js';
import { batchSizeOf, checkBatchedOptions } from './batched.js';

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
 * @param model - any `tf.LayersModel`; never modified
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
  optionKeys: ['batchSize', 'onProgress'],
  checkOptions: checkBatchedOptions,
  weights: (ctx) => {
    const { activations, scores, options } = ctx;
    const [b, , , c] = activations.shape;
    const bs = batchSizeOf(options);
    const chunks = Math.ceil(c / bs);
    const rows: tf.Tensor1D[] = [];
    for (let e = 0; e < b; e++) {
      const a = tf.slice(activations, [e], [1]);
      const min = tf.min(a);
      const reluLike = tf.equal(min, 0);
      const parts: tf.Tensor1D[] = [];
      for (let k = 0; k < chunks; k++) {
        const c0 = k * bs;
        const n = Math.min(bs, c - c0);
        parts.push(
          tf.tidy(() => {
            const hot = tf.reshape(oneHotMask(tf.range(c0, c0 + n, 1, 'int32'), c), [n, 1, 1, c]);
            // Row i of a batch: 0 for ReLU layers, else min(A) - (i + 1) * 1e7 (pytorch-grad-cam).
            const offsets = tf.reshape(tf.mul(tf.range(1, n + 1, 1, 'float32'), ABLATION_OFFSET), [n, 1, 1, 1]);
            const value = tf.where(reluLike, tf.zeros([n, 1, 1, 1]), tf.sub(min, offsets));
            const tiled = tf.tile(a, [n, 1, 1, 1]);
            const ablated = tf.add(tf.mul(tiled, tf.sub(1, hot)), tf.mul(hot, value)) as tf.Tensor4D;
            return ctx.scoreActivations(ablated, e);
          }),
        );
        ctx.progress(e * chunks + k + 1, b * chunks);
      }
      rows.push(tf.concat(parts));
      tf.dispose([a, min, reluLike]);
    }
    const ablatedScores = tf.stack(rows) as tf.Tensor2D; // [B, C]
    const original = tf.reshape(scores, [b, 1]);
    return tf.div(tf.sub(original, ablatedScores), original) as tf.Tensor2D;
  },
});
