/**
 * Score-CAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OptionSpec } from '../core/options.js';
import { INVALID, oneOfOption } from '../core/options.js';
import { pickColumn } from '../core/targets.js';
import { OptionError } from '../errors.js';
import { createCam } from '../pipeline/cam.js';
import type { BatchedCamOptions } from './batched.js';
import { BATCHED_OPTIONS, channelScores } from './batched.js';

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

/** `softmax`: `'classes'` needs class-index targets. */
const SOFTMAX_OPTION: OptionSpec<'channels' | 'classes'> = {
  ...oneOfOption(['channels', 'classes'], 'channels', "Omit it for 'channels'."),
  check(value, ctx) {
    if (value !== 'channels' && value !== 'classes') return INVALID;
    if (value === 'classes' && typeof ctx.given?.['target'] === 'function') {
      throw new OptionError({
        fn: ctx.fn,
        argument: 'options.softmax',
        expected: "'classes' needs class-index targets",
        got: 'a target function',
        fix: "Use softmax: 'channels' with a target function.",
      });
    }
    return value;
  },
};

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
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
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
  options: { ...BATCHED_OPTIONS, softmax: SOFTMAX_OPTION },
  weights: (ctx) => {
    const classes = ctx.options.softmax === 'classes';
    const image = ctx.inputs[ctx.imageInput] as tf.Tensor4D;
    const [, hh, ww] = image.shape;
    const scores = channelScores(ctx, (e, first, n) => {
      const a = tf.slice(ctx.activations, [e, 0, 0, first], [1, -1, -1, n]);
      const up = tf.image.resizeBilinear(a, [hh, ww], true, false); // [1,H,W,n], align corners
      const lo = tf.min(up, [1, 2], true);
      const hi = tf.max(up, [1, 2], true);
      const masks = tf.div(tf.sub(up, lo), tf.add(tf.sub(hi, lo), 1e-8));
      const masked = tf.mul(tf.slice(image, [e], [1]), tf.transpose(masks, [3, 1, 2, 0])) as tf.Tensor4D; // [n,H,W,Cin]
      if (!classes) return ctx.scoreInputs(masked, e);
      const probs = tf.softmax(ctx.forwardInputs(masked, e) as tf.Tensor2D);
      return pickColumn(probs, tf.tile(tf.slice(ctx.classIndex, [e], [1]), [n]) as tf.Tensor1D);
    });
    return classes ? scores : (tf.softmax(scores, -1) as tf.Tensor2D);
  },
});
