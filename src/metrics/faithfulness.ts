/**
 * Faithfulness metrics: does the model's confidence follow the map? Average drop and increase in
 * confidence on the map-weighted image (Chattopadhay et al. 2018), and the deletion and insertion
 * curves (Petsiuk et al. 2018).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CamModel } from '../core/types.js';
import type { OptionSpec } from '../core/options.js';
import { INVALID, integerOption, numberOption } from '../core/options.js';
import type { ScoringOptions } from './common.js';
import { SCORING_OPTIONS, checkMapsForInput, checkScoringCall, scoring, unbatch } from './common.js';

export type { ScoringOptions } from './common.js';

/** Per-example results of {@link confidenceChange}. */
export type ConfidenceChange<T extends tf.Tensor = tf.Tensor> = {
  /** `Y`: score of the class on the unmodified input, float32. */
  original: T;
  /** `O`: score of the class on `input * map`, float32. */
  masked: T;
  /** `max(0, Y - O) / Y`, float32 in [0, 1] (0 where `Y = 0`). Average Drop is 100 x its mean. */
  drop: T;
  /** `1` where `O > Y`, else `0`, float32. Increase in Confidence is 100 x its mean. */
  increase: T;
  /** The class measured, int32. */
  classIndex: T;
};

/**
 * Scores of the model on the input and on the input weighted by the map, with the per-example Average
 * Drop and Increase in Confidence terms (Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based
 * Visual Explanations for Deep Convolutional Networks", WACV 2018, section 5.1). One pass over each.
 *
 * Formula: with `Y` the score (softmax probability, see `softmax`) of class c on image x and `O` the
 * score on `x * map` (the map broadcast over channels), `drop = max(0, Y - O) / Y` and
 * `increase = [O > Y]`. Over a data set, Average Drop % = `100 * mean(drop)` (lower is better) and
 * Increase in Confidence % = `100 * mean(increase)` (higher is better).
 *
 * Differences from pytorch-grad-cam's `DropInConfidence` / `IncreaseInConfidence`: those score the
 * model's raw output (usually logits) with the target you pass and return the absolute drop
 * `max(0, Y - O)`; here the score is the softmax probability by default and the drop is relative to
 * `Y`, as in the paper. Both multiply the model's (preprocessed) input by the map: with inputs
 * normalised to zero mean, "0" is the mean colour, not black.
 *
 * @param model - a one-input image classifier (`tf.LayersModel` or `tf.GraphModel`, {@link CamModel}). Never modified.
 * @param input - `[H,W,C]` or `[B,H,W,C]`, as the model takes it. Not disposed.
 * @param heatmap - `[H,W]` or `[B,H,W]` maps in [0, 1] at the input's size (e.g. a CAM `heatmap`). Not disposed.
 * @param options - see {@link ScoringOptions}
 * @returns float32 per-example tensors (`[B]`, or scalars for one image), owned by the caller:
 *   `tf.dispose(result)` frees them.
 * @throws {@link ModelError} if `model` is neither a built LayersModel nor a GraphModel; {@link UnsupportedError} for a model
 *   with several inputs, a non-image input or a non-`[batch, classes]` output;
 *   {@link InputError} for a bad input or a map of another shape; {@link TargetError} for bad classes;
 *   {@link OptionError} for unknown or ill-typed options.
 *
 * @example
 * ```ts
 * const cam = gradCam(model, images);
 * const c = confidenceChange(model, images, cam.heatmap, { target: cam.classIndex });
 * const averageDropPercent = 100 * tf.mean(c.drop).dataSync()[0];
 * tf.dispose([cam, c]);
 * ```
 */
export function confidenceChange(
  model: CamModel,
  input: tf.Tensor3D,
  heatmap: tf.Tensor2D,
  options?: ScoringOptions,
): ConfidenceChange<tf.Scalar>;
export function confidenceChange(
  model: CamModel,
  input: tf.Tensor4D,
  heatmap: tf.Tensor3D,
  options?: ScoringOptions,
): ConfidenceChange<tf.Tensor1D>;
export function confidenceChange(model: CamModel, input: tf.Tensor, heatmap: tf.Tensor, options?: ScoringOptions): ConfidenceChange;
export function confidenceChange(model: CamModel, input: tf.Tensor, heatmap: tf.Tensor, options?: ScoringOptions): ConfidenceChange {
  return confidenceChangeIn('confidenceChange', model, input, heatmap, options);
}

function confidenceChangeIn(fn: string, model: unknown, input: unknown, heatmap: unknown, options: unknown): ConfidenceChange {
  const call = checkScoringCall(fn, SCORING_OPTIONS, model, input, options);
  return tf.tidy(() => {
    const s = scoring(call);
    const maps = checkMapsForInput(fn, heatmap, call.input, s.images);
    const original = s.original ?? s.score(s.images, s.classIndex);
    const masked = s.score(tf.mul(s.images, maps) as tf.Tensor4D, s.classIndex);
    const drop = tf.divNoNan(tf.relu(tf.sub(original, masked)), original);
    const increase = tf.cast(tf.greater(masked, original), 'float32');
    const b = call.input.batched;
    return {
      original: unbatch(original, b),
      masked: unbatch(masked, b),
      drop: unbatch(drop, b),
      increase: unbatch(increase, b),
      classIndex: unbatch(s.classIndex, b),
    };
  }) as ConfidenceChange;
}

/**
 * Per-example Average Drop terms (Chattopadhay et al., "Grad-CAM++", WACV 2018):
 * `max(0, Y - O) / Y`, where `Y` is the class score on the image and `O` on `image * map`.
 * Average Drop % over a data set is `100 * mean` of these (lower is better: the map keeps what the
 * model needs). Same computation as {@link confidenceChange}, returning only `drop`.
 *
 * Differences from pytorch-grad-cam's `DropInConfidence`: relative to `Y` and on softmax
 * probabilities by default (the paper's definition), not the absolute drop of the raw output.
 *
 * @param model - a one-input image classifier. Never modified.
 * @param input - `[H,W,C]` or `[B,H,W,C]`. Not disposed.
 * @param heatmap - `[H,W]` or `[B,H,W]` maps in [0, 1] at the input's size. Not disposed.
 * @param options - see {@link ScoringOptions}
 * @returns float32 in [0, 1], `[B]` (a scalar for one image), owned by the caller.
 * @throws as {@link confidenceChange}.
 *
 * @example
 * ```ts
 * const cam = gradCam(model, images);
 * const drop = averageDrop(model, images, cam.heatmap, { target: cam.classIndex });   // [B]
 * console.log(`Average Drop: ${(100 * tf.mean(drop).dataSync()[0]).toFixed(1)}%`);
 * ```
 */
export function averageDrop(model: CamModel, input: tf.Tensor3D, heatmap: tf.Tensor2D, options?: ScoringOptions): tf.Scalar;
export function averageDrop(model: CamModel, input: tf.Tensor4D, heatmap: tf.Tensor3D, options?: ScoringOptions): tf.Tensor1D;
export function averageDrop(model: CamModel, input: tf.Tensor, heatmap: tf.Tensor, options?: ScoringOptions): tf.Tensor;
export function averageDrop(model: CamModel, input: tf.Tensor, heatmap: tf.Tensor, options?: ScoringOptions): tf.Tensor {
  return tf.tidy(() => confidenceChangeIn('averageDrop', model, input, heatmap, options).drop);
}

/**
 * Per-example Increase in Confidence indicators (Chattopadhay et al., "Grad-CAM++", WACV 2018):
 * `1` where the class score on `image * map` exceeds the score on the image, else `0`. Increase in
 * Confidence % over a data set is `100 * mean` of these (higher is better). Same computation as
 * {@link confidenceChange}, returning only `increase`.
 *
 * Differences from pytorch-grad-cam's `IncreaseInConfidence`: the same indicator, but on softmax
 * probabilities by default.
 *
 * @param model - a one-input image classifier. Never modified.
 * @param input - `[H,W,C]` or `[B,H,W,C]`. Not disposed.
 * @param heatmap - `[H,W]` or `[B,H,W]` maps in [0, 1] at the input's size. Not disposed.
 * @param options - see {@link ScoringOptions}
 * @returns float32 0/1, `[B]` (a scalar for one image), owned by the caller.
 * @throws as {@link confidenceChange}.
 *
 * @example
 * ```ts
 * const cam = gradCam(model, images);
 * const inc = increaseInConfidence(model, images, cam.heatmap, { target: cam.classIndex });
 * console.log(`Increase in Confidence: ${(100 * tf.mean(inc).dataSync()[0]).toFixed(1)}%`);
 * ```
 */
export function increaseInConfidence(model: CamModel, input: tf.Tensor3D, heatmap: tf.Tensor2D, options?: ScoringOptions): tf.Scalar;
export function increaseInConfidence(model: CamModel, input: tf.Tensor4D, heatmap: tf.Tensor3D, options?: ScoringOptions): tf.Tensor1D;
export function increaseInConfidence(model: CamModel, input: tf.Tensor, heatmap: tf.Tensor, options?: ScoringOptions): tf.Tensor;
export function increaseInConfidence(model: CamModel, input: tf.Tensor, heatmap: tf.Tensor, options?: ScoringOptions): tf.Tensor {
  return tf.tidy(() => confidenceChangeIn('increaseInConfidence', model, input, heatmap, options).increase);
}

/** What replaces (deletion) or precedes (insertion) the pixels. */
export type PerturbationBaseline = 'zeros' | 'mean' | 'blur' | number;

/** Options of {@link deletion} and {@link insertion}. */
export interface PerturbationCurveOptions extends ScoringOptions {
  /**
   * Number of steps K (default 32): the curve has K + 1 points, at 0, 1/K, ..., 1 of the pixels
   * (step k changes the `round(k * H * W / K)` most salient pixels).
   */
  steps?: number | undefined;
  /**
   * The image pixels are replaced with (deletion) or revealed from (insertion):
   * `'zeros'`, `'mean'` (each image's per-channel mean), `'blur'` (a Gaussian blur of the image,
   * `blurSigma`), or a constant. Defaults follow Petsiuk et al.: `'zeros'` for deletion, `'blur'`
   * for insertion.
   */
  baseline?: PerturbationBaseline | undefined;
  /** Standard deviation in pixels of the `'blur'` baseline (default 5, RISE's). */
  blurSigma?: number | undefined;
}

/** Result of {@link deletion} and {@link insertion}. */
export type PerturbationCurve<C extends tf.Tensor = tf.Tensor, A extends tf.Tensor = tf.Tensor> = {
  /** Class score after each step, float32 `[B, K+1]` (`[K+1]` for one image). */
  curve: C;
  /** Area under the curve over the pixel fraction (trapezoid rule), float32 `[B]` (scalar for one image). */
  auc: A;
  /** Fraction of pixels changed at each step, float32 `[K+1]`, from 0 to 1. */
  fractions: tf.Tensor1D;
  /** The class measured, int32 `[B]` (scalar for one image). */
  classIndex: A;
};

const baselineOption: OptionSpec<PerturbationBaseline> = {
  accepts: "'zeros', 'mean', 'blur' or a finite number",
  default: (ctx) => (ctx.fn === 'deletion' ? 'zeros' : 'blur'),
  check: (v) => (v === 'zeros' || v === 'mean' || v === 'blur' || (typeof v === 'number' && Number.isFinite(v)) ? v : INVALID),
};

const CURVE_OPTIONS = {
  ...SCORING_OPTIONS,
  steps: integerOption(32, 1, 1 << 20),
  baseline: baselineOption,
  blurSigma: numberOption(5, 0, true),
} satisfies { readonly [K in keyof Required<PerturbationCurveOptions>]: OptionSpec<unknown> };

/** 1-D Gaussian kernel weights (normalised) of the given radius. */
function gaussian1d(sigma: number, radius: number): number[] {
  const w = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
}

/** Separable Gaussian blur of `[B,H,W,C]` with reflected borders (OpenCV's default BORDER_REFLECT_101). */
function gaussianBlur(x: tf.Tensor4D, sigma: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w, c] = x.shape;
    const ry = Math.min(Math.ceil(2 * sigma), h - 1);
    const rx = Math.min(Math.ceil(2 * sigma), w - 1);
    let y: tf.Tensor4D = x;
    if (ry > 0) {
      const k = tf.tile(tf.reshape(tf.tensor1d(gaussian1d(sigma, ry)), [2 * ry + 1, 1, 1, 1]), [1, 1, c, 1]) as tf.Tensor4D;
      y = tf.depthwiseConv2d(
        tf.mirrorPad(
          y,
          [
            [0, 0],
            [ry, ry],
            [0, 0],
            [0, 0],
          ],
          'reflect',
        ),
        k,
        1,
        'valid',
      );
    }
    if (rx > 0) {
      const k = tf.tile(tf.reshape(tf.tensor1d(gaussian1d(sigma, rx)), [1, 2 * rx + 1, 1, 1]), [1, 1, c, 1]) as tf.Tensor4D;
      y = tf.depthwiseConv2d(
        tf.mirrorPad(
          y,
          [
            [0, 0],
            [0, 0],
            [rx, rx],
            [0, 0],
          ],
          'reflect',
        ),
        k,
        1,
        'valid',
      );
    }
    return y;
  });
}

function baselineImages(x: tf.Tensor4D, baseline: PerturbationBaseline, sigma: number): tf.Tensor4D {
  if (baseline === 'zeros') return tf.zerosLike(x);
  if (baseline === 'mean') return tf.tidy(() => tf.add(tf.zerosLike(x), tf.mean(x, [1, 2], true)) as tf.Tensor4D);
  if (baseline === 'blur') return gaussianBlur(x, sigma);
  return tf.fill(x.shape, baseline) as tf.Tensor4D;
}

/**
 * Rank of each pixel by decreasing saliency, `[B, N]` (0 = most salient). Ties keep row-major order.
 */
function saliencyRanks(maps: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const n = maps.shape[1];
    const order = tf.topk(maps, n, true).indices; // pixel index at each rank
    // The inverse permutation: sorting the ranks' pixel indices ascending yields each pixel's rank.
    return tf.cast(tf.topk(tf.neg(tf.cast(order, 'float32')), n, true).indices, 'float32') as tf.Tensor2D;
  });
}

function perturbationCurve(
  fn: 'deletion' | 'insertion',
  model: unknown,
  input: unknown,
  heatmap: unknown,
  options: unknown,
): PerturbationCurve {
  const call = checkScoringCall(fn, CURVE_OPTIONS, model, input, options);
  const { steps, blurSigma, batchSize } = call.options;
  return tf.tidy(() => {
    const s = scoring(call);
    const maps = checkMapsForInput(fn, heatmap, call.input, s.images);
    const [b, h, w, c] = s.images.shape;
    const n = h * w;
    const baseline = baselineImages(s.images, call.options.baseline, blurSigma);
    const ranks = saliencyRanks(tf.reshape(maps, [b, n]) as tf.Tensor2D);
    const counts = Array.from({ length: steps + 1 }, (_, k) => Math.round((k * n) / steps));
    const total = b * (steps + 1);
    const parts: tf.Tensor1D[] = [];
    for (let start = 0; start < total; start += batchSize) {
      const size = Math.min(batchSize, total - start);
      parts.push(
        tf.tidy(() => {
          const ex = Array.from({ length: size }, (_, i) => Math.floor((start + i) / (steps + 1)));
          const thr = Array.from({ length: size }, (_, i) => counts[(start + i) % (steps + 1)] as number);
          const exIdx = tf.tensor1d(ex, 'int32');
          // Pixels changed at this step: the `count` most salient ones.
          const selected = tf.less(tf.gather(ranks, exIdx), tf.reshape(tf.tensor1d(thr), [size, 1]));
          const cond = tf.broadcastTo(tf.reshape(selected, [size, h, w, 1]), [size, h, w, c]);
          const x = tf.gather(s.images, exIdx) as tf.Tensor4D;
          const base = tf.gather(baseline, exIdx) as tf.Tensor4D;
          const images = (fn === 'deletion' ? tf.where(cond, base, x) : tf.where(cond, x, base)) as tf.Tensor4D;
          return s.score(images, tf.gather(s.classIndex, exIdx) as tf.Tensor1D);
        }),
      );
    }
    const curve = tf.reshape(parts.length === 1 ? (parts[0] as tf.Tensor1D) : tf.concat(parts), [b, steps + 1]) as tf.Tensor2D;
    const fractionValues = counts.map((k) => k / n);
    const widths = tf.tensor1d(fractionValues.slice(1).map((f, k) => f - (fractionValues[k] as number)));
    const left = tf.slice(curve, [0, 0], [b, steps]);
    const right = tf.slice(curve, [0, 1], [b, steps]);
    const auc = tf.sum(tf.mul(tf.mul(tf.add(left, right), 0.5), widths), 1);
    const batched = call.input.batched;
    return {
      curve: unbatch(curve, batched),
      auc: unbatch(auc, batched),
      fractions: tf.tensor1d(fractionValues),
      classIndex: unbatch(s.classIndex, batched),
    };
  }) as PerturbationCurve;
}

/**
 * The deletion curve and its area (Petsiuk et al., "RISE: Randomized Input Sampling for Explanation of
 * Black-box Models", BMVC 2018): remove the most salient pixels first and watch the class score fall.
 * A faithful map makes it fall fast: lower AUC is better.
 *
 * Algorithm: rank the pixels by decreasing map value (ties in row-major order); for k = 0..K replace
 * the `round(k * N / K)` top-ranked pixels (all channels) with the baseline (default zeros) and score
 * the class (softmax probability by default). The K + 1 perturbed images of every example go through
 * the model in batches of `batchSize`. AUC is the trapezoid rule over the changed fraction of pixels,
 * `sum_k (f_{k+1} - f_k) (s_k + s_{k+1}) / 2`, which for N divisible by K equals RISE's
 * `(sum(s) - s_0/2 - s_K/2) / K`.
 *
 * Differences from other implementations: RISE's reference code steps by a fixed number of pixels
 * (224 per step at 224x224) and scores with the model's softmax; here the number of steps is chosen
 * and the score follows `softmax` ('auto': probabilities). pytorch-grad-cam has no deletion curve (its
 * `ROADMostRelevantFirst` removes percentiles with noisy linear imputation instead).
 *
 * @param model - a one-input image classifier. Never modified.
 * @param input - `[H,W,C]` or `[B,H,W,C]`. Not disposed.
 * @param heatmap - `[H,W]` or `[B,H,W]` saliency at the input's size (only its order matters). Not disposed.
 * @param options - see {@link PerturbationCurveOptions}
 * @returns `{ curve, auc, fractions, classIndex }` (see {@link PerturbationCurve}); `auc` is in the
 *   score's range (e.g. [0, 1] for probabilities). Owned by the caller: `tf.dispose(result)`.
 * @throws as {@link confidenceChange}, plus {@link OptionError} for a bad `steps`, `baseline` or `blurSigma`.
 *
 * @example
 * ```ts
 * const cam = gradCam(model, images);
 * const del = deletion(model, images, cam.heatmap, { target: cam.classIndex, steps: 16 });
 * console.log('deletion AUC', tf.mean(del.auc).dataSync()[0]);
 * tf.dispose([cam, del]);
 * ```
 */
export function deletion(
  model: CamModel,
  input: tf.Tensor3D,
  heatmap: tf.Tensor2D,
  options?: PerturbationCurveOptions,
): PerturbationCurve<tf.Tensor1D, tf.Scalar>;
export function deletion(
  model: CamModel,
  input: tf.Tensor4D,
  heatmap: tf.Tensor3D,
  options?: PerturbationCurveOptions,
): PerturbationCurve<tf.Tensor2D, tf.Tensor1D>;
export function deletion(model: CamModel, input: tf.Tensor, heatmap: tf.Tensor, options?: PerturbationCurveOptions): PerturbationCurve;
export function deletion(model: CamModel, input: tf.Tensor, heatmap: tf.Tensor, options?: PerturbationCurveOptions): PerturbationCurve {
  return perturbationCurve('deletion', model, input, heatmap, options);
}

/**
 * The insertion curve and its area (Petsiuk et al., "RISE", BMVC 2018): start from a baseline image
 * (default: the image blurred) and reveal the most salient pixels first. A faithful map makes the
 * class score rise fast: higher AUC is better.
 *
 * Algorithm: as {@link deletion}, but step k shows the original pixels at the `round(k * N / K)`
 * top-ranked positions and the baseline elsewhere, so step 0 is the baseline and step K the image.
 *
 * Differences from other implementations: RISE blurs with an 11x11 kernel of sigma 5 and zero
 * padding; the `'blur'` baseline here is a Gaussian of sigma `blurSigma` (default 5) with radius
 * `2 sigma` and reflected borders, so image borders do not darken. pytorch-grad-cam has no insertion
 * curve.
 *
 * @param model - a one-input image classifier. Never modified.
 * @param input - `[H,W,C]` or `[B,H,W,C]`. Not disposed.
 * @param heatmap - `[H,W]` or `[B,H,W]` saliency at the input's size (only its order matters). Not disposed.
 * @param options - see {@link PerturbationCurveOptions}
 * @returns `{ curve, auc, fractions, classIndex }` (see {@link PerturbationCurve}). Owned by the caller.
 * @throws as {@link deletion}.
 *
 * @example
 * ```ts
 * const cam = gradCam(model, images);
 * const ins = insertion(model, images, cam.heatmap, { target: cam.classIndex, steps: 16 });
 * console.log('insertion AUC', tf.mean(ins.auc).dataSync()[0]);
 * tf.dispose([cam, ins]);
 * ```
 */
export function insertion(
  model: CamModel,
  input: tf.Tensor3D,
  heatmap: tf.Tensor2D,
  options?: PerturbationCurveOptions,
): PerturbationCurve<tf.Tensor1D, tf.Scalar>;
export function insertion(
  model: CamModel,
  input: tf.Tensor4D,
  heatmap: tf.Tensor3D,
  options?: PerturbationCurveOptions,
): PerturbationCurve<tf.Tensor2D, tf.Tensor1D>;
export function insertion(model: CamModel, input: tf.Tensor, heatmap: tf.Tensor, options?: PerturbationCurveOptions): PerturbationCurve;
export function insertion(model: CamModel, input: tf.Tensor, heatmap: tf.Tensor, options?: PerturbationCurveOptions): PerturbationCurve {
  return perturbationCurve('insertion', model, input, heatmap, options);
}
