/**
 * Score-CAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { createCam } from '../core/create.js';
import { oneHotMask } from '../core/targets.js';
import { OptionError, describeValue } from '../errors.js';
import type { BatchedCamOptions } from './batched.js';
import { batchSizeOf, checkBatchedOptions } from './batched.js';

/** Options of {@link scoreCam}. */
export interface ScoreCamOptions extends BatchedCamOptions {
  /**
   * How masked-image scores become channel weights. `'channels'` (default, pytorch-grad-cam): the
   * explained score of each masked image, softmax over the channels. `'classes'` (the original Score-CAM
   * code): the target class's softmax probability over classes for each masked image, used as the
   * weight directly. `'classes'` needs class-index targets.
   */
  softmax?: 'channels' | 'classes' | undefined;
}

/**
 * Score-CAM (Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
 * Networks", CVPR workshops 2020): gradient-free. Each activation channel, upsampled to the input
 * size and min-max normalised, masks the input image; the model's score on each masked image
 * weights its channel.
 *
 * Numerics match pytorch-grad-cam's `ScoreCAM` (tested against its outputs), including its
 * align-corners bilinear upsampling of the masks (`UpsamplingBilinear2d`), its
 * `(a - min) / (max - min + 1e-8)` normalisation and its softmax over channels. Cost: one forward pass
 * of the model on `B x C` masked images, run in batches of `batchSize` (`onProgress` reports them);
 * no gradients. The masked images go through the whole model (the mask is on the input), so unlike
 * {@link ablationCam} the layers below the target are re-run too.
 *
 * @param model - any `tf.LayersModel`; never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input (the first image input is
 *   masked; the others are kept); not disposed
 * @param options - {@link ScoreCamOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}; {@link OptionError} for a bad `batchSize`, `onProgress` or `softmax`
 *
 * @example
 * ```ts
 * const { heatmap } = scoreCam(model, image, { batchSize: 64, onProgress: (d, t) => console.log(`${d}/${t}`) });
 * ```
 */
export const scoreCam = createCam<ScoreCamOptions>({
  name: 'scoreCam',
  usesGradients: false,
  optionKeys: ['batchSize', 'onProgress', 'softmax'],
  checkOptions: (options, fn) => {
    checkBatchedOptions(options, fn);
    const s = options['softmax'];
    if (s !== undefined && s !== 'channels' && s !== 'classes') {
      throw new OptionError({ fn, argument: 'options.softmax', expected: "must be 'channels' or 'classes'", got: describeValue(s), fix: "Omit it for 'channels'." });
    }
    if (s === 'classes' && typeof options['target'] === 'function') {
      throw new OptionError({ fn, argument: 'options.softmax', expected: "'classes' needs class-index targets", got: 'a target function', fix: "Use softmax: 'channels' with a target function." });
    }
  },
  weights: (ctx) => {
    const { activations, inputs, imageInput, options } = ctx;
    const [b, , , c] = activations.shape;
    const image = inputs[imageInput] as tf.Tensor4D;
    const [, hh, ww] = image.shape;
    const bs = batchSizeOf(options);
    const classes = options['softmax'] === 'classes';
    const chunks = Math.ceil(c / bs);
    const rows: tf.Tensor1D[] = [];
    for (let e = 0; e < b; e++) {
      const parts: tf.Tensor1D[] = [];
      for (let k = 0; k < chunks; k++) {
        const c0 = k * bs;
        const n = Math.min(bs, c - c0);
        parts.push(
          tf.tidy(() => {
            const a = tf.slice(activations, [e, 0, 0, c0], [1, -1, -1, n]);
            const up = tf.image.resizeBilinear(a, [hh, ww], true, false); // [1,H,W,n]
            const lo = tf.min(up, [1, 2], true);
            const hi = tf.max(up, [1, 2], true);
            const masks = tf.div(tf.sub(up, lo), tf.add(tf.sub(hi, lo), 1e-8));
            const perChannel = tf.transpose(masks, [3, 1, 2, 0]); // [n,H,W,1]
            const masked = tf.mul(tf.slice(image, [e], [1]), perChannel) as tf.Tensor4D; // [n,H,W,Cin]
            if (!classes) return ctx.scoreInputs(masked, e);
            const out = ctx.forwardInputs(masked, e);
            const cls = tf.slice(ctx.classIndex, [e], [1]);
            const mask = oneHotMask(cls, out.shape[1] as number);
            return tf.sum(tf.mul(tf.softmax(out as tf.Tensor2D), mask), 1) as tf.Tensor1D;
          }),
        );
        ctx.progress(e * chunks + k + 1, b * chunks);
      }
      rows.push(tf.concat(parts));
    }
    const scores = tf.stack(rows) as tf.Tensor2D;
    return classes ? scores : (tf.softmax(scores, -1) as tf.Tensor2D);
  },
});
