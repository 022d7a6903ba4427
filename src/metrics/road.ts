/**
 * ROAD: RemOve And Debias (Rong et al., ICML 2022), as pytorch-grad-cam implements it: pixels are
 * removed by percentile of the map and filled by noisy linear imputation, and the class score is
 * measured on the result.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { OptionSpec } from '../core/options.js';
import { INVALID, integerOption, numberOption, parseOptions, schemaFor } from '../core/options.js';
import { checkTensor } from '../core/tensor.js';
import { InputError, describeValue } from '../errors.js';
import { legacyNormalGenerator } from '../methods/nmf.js';
import { checkMaps } from './common.js';
import type { TargetScoringOptions } from './target-scoring.js';
import { TARGET_SCORING_OPTIONS, checkTargetScoringCall, targetScoring } from './target-scoring.js';

/** pytorch-grad-cam's neighbour weights: 1/6 for edge neighbours, 1/12 for diagonal ones. */
const NEIGHBOURS: ReadonlyArray<readonly [number, number, number]> = [
  [1, 1, 1 / 12],
  [0, 1, 1 / 6],
  [-1, 1, 1 / 12],
  [1, -1, 1 / 12],
  [0, -1, 1 / 6],
  [-1, -1, 1 / 12],
  [1, 0, 1 / 6],
  [-1, 0, 1 / 6],
];

/**
 * Noisy linear imputation of one `[h, w, c]` image (HWC, float32 values) where `keep[y * w + x]` is
 * 0: every imputed pixel is the weighted mean of its in-bounds neighbours (imputed or kept),
 * solved per channel as the sparse symmetric system pytorch-grad-cam builds (a banded Cholesky
 * factorisation in float64), then noise is added to the imputed pixels. Returns a new array.
 */
export function imputeImage(
  image: Float32Array,
  h: number,
  w: number,
  c: number,
  keep: Uint8Array,
  noise: number,
  normal: () => number,
): Float32Array {
  const out = Float32Array.from(image);
  const index = new Int32Array(h * w).fill(-1);
  let n = 0;
  for (let p = 0; p < h * w; p++) if (keep[p] === 0) index[p] = n++;
  if (n === 0) return out;
  const unknown = new Int32Array(n);
  for (let p = 0; p < h * w; p++) if ((index[p] as number) >= 0) unknown[index[p] as number] = p;
  // The system (diag - W_uu) x = b in CSR form (unknown neighbours only), b per channel.
  const diag = new Float64Array(n);
  const rowStart = new Int32Array(n + 1);
  const cols = new Int32Array(8 * n);
  const vals = new Float64Array(8 * n);
  const rhs = new Float64Array(n * c);
  let nnz = 0;
  for (let i = 0; i < n; i++) {
    const p = unknown[i] as number;
    const y = Math.floor(p / w);
    const x = p - y * w;
    rowStart[i] = nnz;
    let s = 0;
    for (const [dx, dy, weight] of NEIGHBOURS) {
      const yy = y + dy;
      const xx = x + dx;
      if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
      s += weight;
      const q = yy * w + xx;
      const j = index[q] as number;
      if (j >= 0) {
        cols[nnz] = j;
        vals[nnz] = weight;
        nnz++;
      } else {
        for (let ch = 0; ch < c; ch++) rhs[i * c + ch] = (rhs[i * c + ch] as number) + weight * (image[q * c + ch] as number);
      }
    }
    diag[i] = s;
  }
  rowStart[n] = nnz;
  // Banded Cholesky factorisation (float64): in row-major order of the imputed pixels the matrix's
  // bandwidth is at most w + 1, so the cost is n (w + 1)^2 / 2 and the solution exact to rounding.
  let bw = 0;
  for (let i = 0; i < n; i++)
    for (let e = rowStart[i] as number; e < (rowStart[i + 1] as number); e++) bw = Math.max(bw, i - (cols[e] as number));
  const width = bw + 1;
  const band = new Float64Array(n * width); // band[i * width + (j - i + bw)] = L[i][j], j in [i - bw, i]
  for (let i = 0; i < n; i++) {
    band[i * width + bw] = diag[i] as number;
    for (let e = rowStart[i] as number; e < (rowStart[i + 1] as number); e++) {
      const j = cols[e] as number;
      if (j < i) band[i * width + (j - i + bw)] = -(vals[e] as number);
    }
  }
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i - bw);
    for (let j = lo; j <= i; j++) {
      let sum = band[i * width + (j - i + bw)] as number;
      const kLo = Math.max(lo, j - bw);
      for (let k = kLo; k < j; k++) sum -= (band[i * width + (k - i + bw)] as number) * (band[j * width + (k - j + bw)] as number);
      if (j < i) {
        band[i * width + (j - i + bw)] = sum / (band[j * width + bw] as number);
      } else {
        // A region of imputed pixels touching no kept pixel makes the system singular; its
        // right-hand side is 0, so any nonzero pivot gives its solution 0 (as SuperLU returned).
        band[i * width + bw] = sum > 1e-12 * (diag[i] as number) ? Math.sqrt(sum) : 1;
      }
    }
  }
  // L y = b, then L^T x = y, for every channel.
  const x = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i - bw);
    const lii = band[i * width + bw] as number;
    for (let ch = 0; ch < c; ch++) {
      let sum = rhs[i * c + ch] as number;
      for (let k = lo; k < i; k++) sum -= (band[i * width + (k - i + bw)] as number) * (x[k * c + ch] as number);
      x[i * c + ch] = sum / lii;
    }
  }
  for (let i = n - 1; i >= 0; i--) {
    const hi = Math.min(n - 1, i + bw);
    const lii = band[i * width + bw] as number;
    for (let ch = 0; ch < c; ch++) {
      let sum = x[i * c + ch] as number;
      for (let k = i + 1; k <= hi; k++) sum -= (band[k * width + (i - k + bw)] as number) * (x[k * c + ch] as number);
      x[i * c + ch] = sum / lii;
    }
  }
  for (let i = 0; i < n; i++) {
    const p = unknown[i] as number;
    for (let ch = 0; ch < c; ch++) {
      const v = Math.fround(x[i * c + ch] as number);
      out[p * c + ch] = noise === 0 ? v : Math.fround(v + Math.fround(noise * Math.fround(normal())));
    }
  }
  return out;
}

/**
 * numpy 1.24's `percentile(v, p)` ('linear') of float32 values `sorted` ascending: the virtual
 * index `n q + (1 - q) - 1` (q = p / 100), and the interpolation in float64 (numpy 1.24 returns
 * float64 for float32 input; the comparison with the map is in float64 too).
 */
export function percentileLinear(sorted: Float32Array, p: number): number {
  const n = sorted.length;
  const q = p / 100;
  const virtual = n * q + (1 + q * (1 - 1 - 1)) - 1;
  const lo = Math.min(Math.max(Math.floor(virtual), 0), n - 1);
  const hi = Math.min(lo + 1, n - 1);
  const g = virtual - Math.floor(virtual);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return g >= 0.5 ? b - (b - a) * (1 - g) : a + (b - a) * g;
}

/** OpenCV's Otsu threshold (`getThreshVal_Otsu_8u`) of uint8 values, including its running-mean quirk. */
export function otsuThreshold(values: Uint8Array): number {
  const hist = new Float64Array(256);
  for (const v of values) hist[v] = (hist[v] as number) + 1;
  const scale = 1 / values.length;
  let mu = 0;
  for (let i = 0; i < 256; i++) mu += i * (hist[i] as number);
  mu *= scale;
  let mu1 = 0;
  let q1 = 0;
  let maxSigma = 0;
  let maxVal = 0;
  const eps = 1.1920928955078125e-7;
  for (let i = 0; i < 256; i++) {
    const pi = (hist[i] as number) * scale;
    mu1 *= q1;
    q1 += pi;
    const q2 = 1 - q1;
    if (Math.min(q1, q2) < eps || Math.max(q1, q2) > 1 - eps) continue;
    mu1 = (mu1 + i * pi) / q1;
    const mu2 = (mu - q1 * mu1) / q2;
    const sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2);
    if (sigma > maxSigma) {
      maxSigma = sigma;
      maxVal = i;
    }
  }
  return maxVal;
}

/**
 * The pixels pytorch-grad-cam keeps for one map (float32 values): `percentile` p keeps those
 * `< percentile(map, p)` (so MoRF(p) keeps the p % least relevant); `'auto'` keeps those whose
 * `uint8(map * 255)` is above Otsu's threshold.
 */
export function keptPixels(map: Float32Array, percentile: number | 'auto'): Uint8Array {
  const keep = new Uint8Array(map.length);
  if (percentile === 'auto') {
    const u8 = Uint8Array.from(map, (v) => Math.min(255, Math.max(0, Math.trunc(Math.fround(v * 255)))));
    const t = otsuThreshold(u8);
    for (let i = 0; i < map.length; i++) keep[i] = (u8[i] as number) > t ? 1 : 0;
    return keep;
  }
  const threshold = percentileLinear(Float32Array.from(map).sort(), percentile);
  for (let i = 0; i < map.length; i++) keep[i] = (map[i] as number) < threshold ? 1 : 0;
  return keep;
}

/** Options of {@link noisyLinearImpute}. */
export interface NoisyLinearImputeOptions {
  /** Standard deviation of the Gaussian noise added to imputed pixels (default 0.01, pytorch-grad-cam's). */
  noise?: number | undefined;
  /** Seed of the noise (default 0). */
  seed?: number | undefined;
}

const IMPUTE_OPTIONS = schemaFor<NoisyLinearImputeOptions>()({
  noise: numberOption(0.01, 0, false),
  seed: integerOption(0, 0, 0xffffffff),
});

/**
 * pytorch-grad-cam's `NoisyLinearImputer` (ROAD, Rong et al., "A Consistent and Efficient Evaluation
 * Strategy for Attribution Methods", ICML 2022): fills the pixels where `keep` is 0 with the
 * weighted mean of their 8 neighbours (edge neighbours 1/6, diagonal 1/12; imputed and kept alike,
 * so the fill is a discrete harmonic interpolation), per channel, plus Gaussian noise.
 *
 * Same linear system as pytorch-grad-cam (exact to float32 with `noise: 0`, tested against it),
 * solved on the host in float64 by a banded Cholesky factorisation instead of SciPy's sparse LU
 * (the system is symmetric positive definite wherever a region of imputed pixels touches a kept
 * one; a region that touches none is filled with 0, as SuperLU returned). The noise is seeded
 * (pytorch-grad-cam draws it from torch's global generator, so its results vary run to run). Reads
 * the image and the mask back to the host (one read each): not for a GPU render loop. Cost: in
 * row-major order the matrix has bandwidth W + 1, so `N (W + 1)^2 / 2` flops for N imputed pixels
 * (all channels share the factorisation): ~40 ms for a 64x64 image with 90% imputed, ~5 s at 224x224
 * (1.5 s with half imputed). ROAD at 224x224 is slow: evaluate on a subset, or on smaller inputs.
 *
 * @param image - `[H, W, C]` or `[B, H, W, C]` float image; not disposed
 * @param keep - `[H, W]` or `[B, H, W]`: nonzero where the pixel is kept; not disposed
 * @param options - {@link NoisyLinearImputeOptions}
 * @returns the imputed image, float32, the shape of `image`; owned by the caller
 * @throws {@link InputError} for tensors of the wrong rank or mismatched sizes;
 *   {@link OptionError} for a bad `noise` or `seed`
 *
 * @example
 * ```ts
 * const { heatmap } = gradCam(model, image);
 * const keep = tf.cast(tf.less(heatmap, 0.8), 'float32') as tf.Tensor2D;   // remove the hottest pixels
 * const filled = noisyLinearImpute(image, keep, { noise: 0 });
 * ```
 */
export function noisyLinearImpute(
  image: tf.Tensor3D | tf.Tensor4D,
  keep: tf.Tensor2D | tf.Tensor3D,
  options?: NoisyLinearImputeOptions,
): tf.Tensor {
  const fn = 'noisyLinearImpute';
  const o = parseOptions(IMPUTE_OPTIONS, options, { fn });
  checkTensor(fn, 'image', image, { ranks: [3, 4], shapes: '[H, W, C] or [B, H, W, C]', fix: 'Pass an image or a batch of images.' });
  checkTensor(fn, 'keep', keep, { ranks: [2, 3], shapes: '[H, W] or [B, H, W]', fix: 'Pass a 0/1 mask of the pixels to keep.' });
  const batched = image.rank === 4;
  const [b, h, w, c] = (batched ? image.shape : [1, ...image.shape]) as [number, number, number, number];
  const kb = keep.rank === 3 ? (keep.shape[0] as number) : 1;
  if (keep.shape[keep.rank - 2] !== h || keep.shape[keep.rank - 1] !== w || (kb !== 1 && kb !== b)) {
    throw new InputError({
      fn,
      argument: 'keep',
      expected: `must be ${h}x${w} (the image's size), one mask or one per image`,
      got: describeValue(keep),
      fix: 'Resize the mask to the image.',
    });
  }
  const pixels = image.dataSync() as Float32Array;
  const masks = keep.dataSync();
  const normal = legacyNormalGenerator(o.seed);
  const out = new Float32Array(b * h * w * c);
  for (let e = 0; e < b; e++) {
    const m = kb === 1 ? masks.subarray(0, h * w) : masks.subarray(e * h * w, (e + 1) * h * w);
    const keepE = Uint8Array.from(m as ArrayLike<number>, (v) => (v > 0.5 ? 1 : 0));
    const src = Float32Array.from(pixels.subarray(e * h * w * c, (e + 1) * h * w * c));
    out.set(imputeImage(src, h, w, c, keepE, o.noise, normal), e * h * w * c);
  }
  return tf.tensor(out, image.shape, 'float32');
}

/** Options of {@link road}. */
export interface RoadOptions extends TargetScoringOptions {
  /**
   * The percentiles (default 10, 20, ..., 90; pytorch-grad-cam's `ROAD*Average` and `ROADCombined`),
   * or `'auto'` entries (Otsu's threshold). A percentile p is the share of pixels *kept*, as in
   * pytorch-grad-cam: MoRF(p) imputes the (100 - p) % most relevant pixels, LeRF(p) the (100 - p) %
   * least relevant (see the function's notes for `'auto'`).
   */
  percentiles?: ReadonlyArray<number | 'auto'> | undefined;
  /** Noise of the imputer (default 0.01, pytorch-grad-cam's; 0 for exact reproducibility). */
  noise?: number | undefined;
  /** Seed of the imputer's noise (default 0). */
  seed?: number | undefined;
}

/** The result of {@link road}: per example (`[B, ...]`; no batch axis for one image). */
export type RoadResult<T extends tf.Tensor = tf.Tensor> = {
  /** Score change `after - before` when removing the most relevant pixels, per percentile, `[B, P]`. */
  morf: tf.Tensor;
  /** Score change when removing the least relevant pixels, per percentile, `[B, P]`. */
  lerf: tf.Tensor;
  /** `mean(morf)` over the percentiles, `[B]`: pytorch-grad-cam's `ROADMostRelevantFirstAverage` (lower is better). */
  morfAverage: T;
  /** `mean(lerf)`, `[B]`: `ROADLeastRelevantFirstAverage` (higher is better). */
  lerfAverage: T;
  /** `(lerfAverage - morfAverage) / 2`, `[B]`: `ROADCombined` (higher is better). */
  combined: T;
};

const percentilesOption: OptionSpec<ReadonlyArray<number | 'auto'>> = {
  accepts: "a non-empty array of percentiles in [0, 100] or 'auto'",
  default: [10, 20, 30, 40, 50, 60, 70, 80, 90],
  check: (v) =>
    Array.isArray(v) && v.length > 0 && v.every((p) => p === 'auto' || (typeof p === 'number' && p >= 0 && p <= 100))
      ? (v as Array<number | 'auto'>)
      : INVALID,
};

const ROAD_OPTIONS = schemaFor<RoadOptions>()({
  ...TARGET_SCORING_OPTIONS,
  percentiles: percentilesOption,
  noise: numberOption(0.01, 0, false),
  seed: integerOption(0, 0, 0xffffffff),
});

/**
 * ROAD, RemOve And Debias (Rong et al., "A Consistent and Efficient Evaluation Strategy for
 * Attribution Methods", ICML 2022), as pytorch-grad-cam computes it: for each percentile, the
 * pixels above (MoRF, most relevant first) or below (LeRF) the map's percentile are removed and
 * filled by {@link noisyLinearImpute}, and the change of the target's score is measured
 * (`after - before`). A faithful map makes MoRF drop and LeRF stay: `combined` =
 * `(mean LeRF - mean MoRF) / 2` is higher for better maps.
 *
 * Numerics match pytorch-grad-cam's `ROADMostRelevantFirst`, `ROADLeastRelevantFirst`, their
 * `...Average` and `ROADCombined` (tested against them with the imputer noise at 0): numpy's
 * 'linear' percentile of the float32 map, strict `<` (pixels tied with the threshold are removed),
 * the percentile as the share of pixels kept, LeRF on `1 - map`; `'auto'` uses OpenCV's Otsu
 * threshold of `uint8(map * 255)` and keeps the pixels *above* it, so for `'auto'` pytorch-grad-cam's
 * MoRF removes the least relevant pixels and LeRF the most relevant (reproduced as is). Scores:
 * see `softmax` / `logits` / `target` (pytorch-grad-cam's tutorials use `ClassifierOutputSoftmaxTarget`,
 * i.e. `softmax: true`). The noise is seeded (pytorch-grad-cam's comes from torch's global generator;
 * with its default 0.01 the combined score moves by ~1e-5 between runs). Reads the image and the map
 * back to the host (the imputation runs there, see {@link noisyLinearImpute}); the perturbed images go
 * through the model in batches of `batchSize`, 2 P per example.
 *
 * @param model - a model with one image input; never modified
 * @param input - `[H,W,C]` or `[B,H,W,C]`; not disposed
 * @param heatmap - `[H,W]` or `[B,H,W]` maps at the input's size (e.g. a CAM heatmap); not disposed
 * @param options - {@link RoadOptions}
 * @returns `{ morf, lerf, morfAverage, lerfAverage, combined }` (see {@link RoadResult}); float32,
 *   owned by the caller
 * @throws {@link ModelError}, {@link InputError} (also for a map of another size),
 *   {@link TargetError}, {@link OptionError}, {@link UnsupportedError} for a model without one image input
 *
 * @example
 * ```ts
 * const cam = gradCam(model, images);
 * const r = road(model, images, cam.heatmap, { target: cam.classIndex, softmax: true });
 * console.log('ROAD combined', tf.mean(r.combined).dataSync()[0]);
 * tf.dispose([cam, r]);
 * ```
 */
export function road(model: LayersModel, input: tf.Tensor3D, heatmap: tf.Tensor2D, options?: RoadOptions): RoadResult<tf.Scalar>;
export function road(model: LayersModel, input: tf.Tensor4D, heatmap: tf.Tensor3D, options?: RoadOptions): RoadResult<tf.Tensor1D>;
export function road(model: LayersModel, input: tf.Tensor, heatmap: tf.Tensor, options?: RoadOptions): RoadResult;
export function road(model: LayersModel, input: tf.Tensor, heatmap: tf.Tensor, options?: RoadOptions): RoadResult {
  return roadIn('road', model, input, heatmap, options);
}

/** {@link road} under another name (for ARCC's errors). */
export function roadIn(fn: string, model: unknown, input: unknown, heatmap: unknown, options: unknown): RoadResult {
  const call = checkTargetScoringCall(fn, ROAD_OPTIONS, model, input, options);
  const o = call.options;
  return tf.tidy(() => {
    const s = targetScoring(call);
    const [b, h, w, c] = s.images.shape;
    const { maps } = checkMaps(fn, 'heatmap', heatmap);
    if (maps.shape[0] !== b || maps.shape[1] !== h || maps.shape[2] !== w || (heatmap as tf.Tensor).rank !== (call.input.batched ? 3 : 2)) {
      throw new InputError({
        fn,
        argument: 'heatmap',
        expected: `must have the input's batch and size, ${call.input.batched ? `[${b}, ${h}, ${w}]` : `[${h}, ${w}]`}`,
        got: describeValue(heatmap),
        fix: 'Resize the map to the input (the CAM methods do by default).',
      });
    }
    const pixels = s.images.dataSync() as Float32Array;
    const mapValues = maps.dataSync() as Float32Array;
    const percentiles = o.percentiles;
    const normal = legacyNormalGenerator(o.seed);
    const np = percentiles.length;
    const perturbed = new Float32Array(2 * np * b * h * w * c);
    const examples: number[] = [];
    let k = 0;
    // Rows: LeRF for every percentile, then MoRF (pytorch-grad-cam's order of noise draws), per example.
    for (const order of ['lerf', 'morf'] as const) {
      for (const p of percentiles) {
        for (let e = 0; e < b; e++) {
          const map = mapValues.subarray(e * h * w, (e + 1) * h * w);
          const ranked = order === 'morf' ? Float32Array.from(map) : Float32Array.from(map, (v) => Math.fround(1 - v));
          const keep = keptPixels(ranked, p);
          const img = pixels.subarray(e * h * w * c, (e + 1) * h * w * c);
          perturbed.set(imputeImage(Float32Array.from(img), h, w, c, keep, o.noise, normal), k * h * w * c);
          examples.push(e);
          k++;
        }
      }
    }
    const after = s.score(tf.tensor4d(perturbed, [k, h, w, c]), examples); // [2 P B]
    const before = tf.tile(s.original, [2 * np]);
    const diff = tf.reshape(tf.sub(after, before), [2, np, b]);
    const lerf = tf.transpose(tf.squeeze(tf.slice(diff, [0, 0, 0], [1, -1, -1]), [0])); // [B, P]
    const morf = tf.transpose(tf.squeeze(tf.slice(diff, [1, 0, 0], [1, -1, -1]), [0]));
    const morfAverage = tf.mean(morf, 1);
    const lerfAverage = tf.mean(lerf, 1);
    const combined = tf.div(tf.sub(lerfAverage, morfAverage), 2);
    const un = <T extends tf.Tensor>(t: T): tf.Tensor => (call.input.batched ? t : tf.squeeze(t, [0]));
    return { morf: un(morf), lerf: un(lerf), morfAverage: un(morfAverage), lerfAverage: un(lerfAverage), combined: un(combined) };
  }) as RoadResult;
}
