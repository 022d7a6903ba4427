/**
 * What the methods that re-run the model on batches of modified inputs or activations share: their
 * options and their loop.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { callbackOption, integerOption } from '../core/options.js';
import type { CamOptions } from '../core/types.js';
import type { CamContext, MethodSchema } from '../pipeline/method.js';

/** Options of {@link scoreCam} and {@link ablationCam}. */
export interface BatchedCamOptions extends CamOptions {
  /** Modified copies run per forward pass (default 32). Larger is faster and uses more memory. */
  batchSize?: number | undefined;
  /**
   * Called after each batched forward pass with the passes done and the total
   * (`B * ceil(C / batchSize)`), synchronously: use it for a progress bar.
   */
  onProgress?: ((done: number, total: number) => void) | undefined;
}

/** Default `batchSize`. */
export const DEFAULT_BATCH_SIZE = 32;

/** The schema of {@link BatchedCamOptions}' own keys. */
export const BATCHED_OPTIONS: MethodSchema<BatchedCamOptions> = {
  batchSize: integerOption(DEFAULT_BATCH_SIZE, 1),
  onProgress: callbackOption<(done: number, total: number) => void>('(done, total) => void'),
};

/**
 * One score per example and channel, `[B, C]`: `score(example, first, count)` scores channels
 * `first .. first + count - 1` of one example (a `[count]` vector from one batched pass); channels
 * go `batchSize` at a time, and progress is reported after each pass.
 */
export function channelScores(
  ctx: CamContext<BatchedCamOptions>,
  score: (example: number, first: number, count: number) => tf.Tensor1D,
): tf.Tensor2D {
  const [b, , , c] = ctx.activations.shape;
  const size = ctx.options.batchSize;
  const chunks = Math.ceil(c / size);
  const rows: tf.Tensor1D[] = [];
  for (let e = 0; e < b; e++) {
    const parts: tf.Tensor1D[] = [];
    for (let k = 0; k < chunks; k++) {
      const first = k * size;
      parts.push(tf.tidy(() => score(e, first, Math.min(size, c - first))));
      ctx.progress(e * chunks + k + 1, b * chunks);
    }
    rows.push(tf.concat(parts));
  }
  return tf.stack(rows) as tf.Tensor2D;
}
