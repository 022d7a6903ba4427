/**
 * Localisation metrics: does the map point at the object? The pointing game, energy in the box, and
 * the centre-prior baseline they are usually compared against.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { isTensor } from '../core/tensor.js';
import type { OptionSpec } from '../core/options.js';
import { integerOption, numberOption, parseOptions, schemaFor } from '../core/options.js';
import { pickColumn } from '../core/targets.js';
import { InputError, OptionError, describeValue } from '../errors.js';
import { checkMaps } from './common.js';

/**
 * An axis-aligned box `[y0, x0, y1, x1]` in pixels of the map (row, column), half-open like array
 * slicing: pixel `(i, j)` is inside when its centre `(i + 0.5, j + 0.5)` satisfies
 * `y0 <= i + 0.5 < y1` and `x0 <= j + 0.5 < x1`. For integer coordinates that is rows `y0 .. y1-1`
 * and columns `x0 .. x1-1`, i.e. `tf.slice(map, [y0, x0], [y1 - y0, x1 - x0])`. Fractional
 * coordinates (e.g. boxes scaled from another resolution) are allowed; parts outside the map are
 * ignored.
 */
export type Box = readonly [y0: number, x0: number, y1: number, x1: number];

/**
 * Where the object is, for one map or a batch of maps:
 * - for a batch of maps `[B,H,W]`: an array of B entries, each a {@link Box} or an array of boxes
 *   (several instances; an empty array means no object), or a tensor of boxes `[B,4]`, or a mask
 *   tensor `[B,H,W]`;
 * - for one map `[H,W]`: a {@link Box}, an array of boxes, a box tensor `[4]`, or a mask `[H,W]`.
 *
 * Masks may be bool or numeric; a pixel belongs to the object when its mask value is > 0.
 */
export type Regions = Box | readonly Box[] | ReadonlyArray<Box | readonly Box[]> | tf.Tensor;

/** Options of {@link pointingGame}. */
export interface PointingGameOptions {
  /**
   * A hit also counts when the map's maximum lies within this many pixels (Euclidean distance between
   * pixel centres) of the object. Default 0: the maximum must be on the object. Zhang et al. use 15
   * pixels at ~224 px resolution.
   */
  tolerance?: number | undefined;
}

/** Options of {@link centerPrior}. */
export interface CenterPriorOptions {
  /** Make a batch `[batch, H, W]` of identical maps instead of one `[H, W]` map. */
  batch?: number | undefined;
  /** Standard deviation of the Gaussian in pixels. Default: a quarter of `min(height, width)`. */
  sigma?: number | undefined;
}

const POINTING_GAME_OPTIONS = schemaFor<PointingGameOptions>()({ tolerance: numberOption(0, 0, false) });

/** `sigma` of {@link centerPrior}: positive; the default depends on the map size (given as `sizes`). */
const CENTER_PRIOR_OPTIONS = (height: number, width: number) =>
  schemaFor<CenterPriorOptions>()({
    batch: { ...integerOption(undefined, 1), fix: 'Omit it for one [H, W] map.' } as OptionSpec<number | undefined>,
    sigma: { ...numberOption(Math.min(height, width) / 4, 0, true) },
  });

const isBox = (x: unknown): boolean => Array.isArray(x) && x.length === 4 && x.every((v) => typeof v === 'number');

function checkBox(fn: string, argument: string, box: unknown): Box {
  const b = box as number[];
  if (!isBox(box) || !b.every(Number.isFinite) || (b[2] as number) < (b[0] as number) || (b[3] as number) < (b[1] as number)) {
    throw new InputError({
      fn,
      argument,
      expected: 'must be a box [y0, x0, y1, x1] of finite pixel coordinates with y1 >= y0 and x1 >= x0',
      got: describeValue(box),
      fix: 'Boxes are [top, left, bottom, right] in pixels, bottom/right exclusive.',
    });
  }
  return box as Box;
}

/** A mask `[B,K,...]` from boxes `[B,K,4]`: 1 where a pixel centre is inside any of the K boxes. */
function boxesToMask(boxes: tf.Tensor3D, height: number, width: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, k] = boxes.shape;
    if (k === 0) return tf.zeros([b, height, width]) as tf.Tensor3D;
    const yc = tf.reshape(tf.add(tf.range(0, height, 1, 'float32'), 0.5), [1, 1, height]);
    const xc = tf.reshape(tf.add(tf.range(0, width, 1, 'float32'), 0.5), [1, 1, width]);
    const [y0, x0, y1, x1] = tf.split(boxes, 4, 2) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const rows = tf.cast(tf.logicalAnd(tf.greaterEqual(yc, y0), tf.less(yc, y1)), 'float32'); // [B,K,H]
    const cols = tf.cast(tf.logicalAnd(tf.greaterEqual(xc, x0), tf.less(xc, x1)), 'float32'); // [B,K,W]
    const both = tf.mul(tf.expandDims(rows, 3), tf.expandDims(cols, 2)); // [B,K,H,W]
    return tf.max(both, 1) as tf.Tensor3D;
  });
}

/**
 * Turns {@link Regions} into a float32 0/1 mask `[B,H,W]` for maps of shape `[B,H,W]`.
 * Must run inside `tf.tidy`.
 */
function regionsToMask(fn: string, regions: unknown, batched: boolean, b: number, h: number, w: number): tf.Tensor3D {
  const mapShape = batched ? `[${b}, ${h}, ${w}]` : `[${h}, ${w}]`;
  if (isTensor(regions)) {
    if (regions.isDisposed) {
      throw new InputError({
        fn,
        argument: 'regions',
        expected: 'must be a live tensor',
        got: 'a disposed tensor',
        fix: 'Do not dispose it before calling.',
      });
    }
    const isMask = regions.rank === (batched ? 3 : 2);
    const isBoxes = regions.rank === (batched ? 2 : 1) && regions.shape[regions.rank - 1] === 4 && (!batched || regions.shape[0] === b);
    if (isMask) {
      const ok = batched
        ? regions.shape[0] === b && regions.shape[1] === h && regions.shape[2] === w
        : regions.shape[0] === h && regions.shape[1] === w;
      if (ok && regions.dtype !== 'string' && regions.dtype !== 'complex64') {
        const m = tf.cast(tf.greater(tf.cast(regions, 'float32'), 0), 'float32');
        return (batched ? m : tf.expandDims(m, 0)) as tf.Tensor3D;
      }
    } else if (isBoxes && regions.dtype !== 'string' && regions.dtype !== 'complex64' && regions.dtype !== 'bool') {
      return boxesToMask(tf.reshape(tf.cast(regions, 'float32'), [b, 1, 4]) as tf.Tensor3D, h, w);
    }
    throw new InputError({
      fn,
      argument: 'regions',
      expected: batched
        ? `as a tensor must be a mask of the map's shape ${mapShape} or boxes [${b}, 4]`
        : `as a tensor must be a mask of the map's shape ${mapShape} or one box [4]`,
      got: describeValue(regions),
      fix: 'Pass masks with the same shape as the heatmap, or boxes [y0, x0, y1, x1].',
    });
  }
  let perExample: unknown[];
  if (!batched) {
    if (!Array.isArray(regions)) perExample = [regions];
    else perExample = [isBox(regions) ? [regions] : regions];
  } else {
    if (!Array.isArray(regions) || regions.length !== b) {
      throw new InputError({
        fn,
        argument: 'regions',
        expected: `must hold one box (or an array of boxes) per map (${b}), a box tensor [${b}, 4] or a mask tensor ${mapShape}`,
        got: describeValue(regions),
        fix: 'Pass regions in the same order as the maps of the batch.',
      });
    }
    perExample = regions;
  }
  const lists: Box[][] = perExample.map((entry, i) => {
    const arg = batched ? `regions[${i}]` : 'regions';
    if (isBox(entry)) return [checkBox(fn, arg, entry)];
    if (!Array.isArray(entry)) {
      throw new InputError({
        fn,
        argument: arg,
        expected: 'must be a box [y0, x0, y1, x1] or an array of boxes',
        got: describeValue(entry),
        fix: 'Boxes are [top, left, bottom, right] in pixels, bottom/right exclusive.',
      });
    }
    return entry.map((box, k) => checkBox(fn, `${arg}[${k}]`, box));
  });
  const k = Math.max(0, ...lists.map((l) => l.length));
  // Pad ragged lists with empty boxes (they contain no pixel centre).
  const flat = new Float32Array(b * k * 4);
  lists.forEach((l, i) => l.forEach((box, j) => flat.set(box, (i * k + j) * 4)));
  return boxesToMask(tf.tensor3d(flat, [b, k, 4]), h, w);
}

/**
 * The pointing game (Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016 /
 * IJCV 2018): a map scores a hit when its maximum lies on the object.
 *
 * Formula: with `p = argmax_ij map[i, j]` (the first maximum in row-major order, as `tf.argMax`),
 * `hit = 1` if some object pixel `q` has `|p - q| <= tolerance` (Euclidean, in pixels), else `0`. The
 * pointing-game accuracy of a method is the mean of the hits over a data set. A constant map (e.g. all
 * zero) points at its top-left pixel, so uninformative maps are not rewarded.
 *
 * Differences from other implementations: pytorch-grad-cam's `metrics` module has no localisation
 * metrics; TorchRay's `PointingGame` defaults to a 15-pixel tolerance and skips "difficult"
 * annotations, here the tolerance defaults to 0 and every example counts. Several object instances
 * (several boxes, or a mask) count as one region: a hit on any of them is a hit.
 *
 * @param heatmap - `[H,W]` or `[B,H,W]` maps (any real values; only their arg-max matters). Not disposed.
 * @param regions - the objects: boxes or masks, see {@link Regions} and {@link Box}. Not disposed.
 * @param options - see {@link PointingGameOptions}
 * @returns float32 hits, 1 or 0: a scalar for an `[H,W]` map, `[B]` for a batch. Owned by the caller.
 * @throws {@link InputError} when the map is not a rank-2/3 numeric tensor, or the regions do not
 *   match it (wrong count, bad box, mask of another shape);
 *   {@link OptionError} for an unknown option or a negative/non-finite `tolerance`.
 *
 * @example
 * ```ts
 * const { heatmap } = gradCam(model, images);                    // [B, 64, 64]
 * const boxes: Box[] = [[10, 12, 30, 40]];                        // one [y0, x0, y1, x1] per image
 * const hits = pointingGame(heatmap, boxes);
 * const accuracy = tf.mean(hits).dataSync()[0];
 * tf.dispose([heatmap, hits]);
 * ```
 */
export function pointingGame(heatmap: tf.Tensor2D, regions: Regions, options?: PointingGameOptions): tf.Scalar;
export function pointingGame(heatmap: tf.Tensor3D, regions: Regions, options?: PointingGameOptions): tf.Tensor1D;
export function pointingGame(heatmap: tf.Tensor, regions: Regions, options?: PointingGameOptions): tf.Tensor;
export function pointingGame(heatmap: tf.Tensor, regions: Regions, options?: PointingGameOptions): tf.Tensor {
  const fn = 'pointingGame';
  const { tolerance } = parseOptions(POINTING_GAME_OPTIONS, options, { fn });
  return tf.tidy(() => {
    const { maps, batched } = checkMaps(fn, 'heatmap', heatmap);
    const [b, h, w] = maps.shape;
    const mask = regionsToMask(fn, regions, batched, b, h, w);
    const idx = tf.cast(tf.argMax(tf.reshape(maps, [b, h * w]), 1), 'int32') as tf.Tensor1D;
    let hit: tf.Tensor;
    if (tolerance === 0) {
      hit = tf.cast(tf.greater(pickColumn(tf.reshape(mask, [b, h * w]) as tf.Tensor2D, idx), 0), 'float32');
    } else {
      const py = tf.reshape(tf.cast(tf.floorDiv(idx, w), 'float32'), [b, 1, 1]);
      const px = tf.reshape(tf.cast(tf.mod(idx, w), 'float32'), [b, 1, 1]);
      const gy = tf.reshape(tf.range(0, h, 1, 'float32'), [1, h, 1]);
      const gx = tf.reshape(tf.range(0, w, 1, 'float32'), [1, 1, w]);
      const d2 = tf.add(tf.square(tf.sub(gy, py)), tf.square(tf.sub(gx, px)));
      const near = tf.cast(tf.lessEqual(d2, tolerance * tolerance), 'float32');
      hit = tf.cast(tf.greater(tf.max(tf.reshape(tf.mul(near, mask), [b, h * w]), 1), 0), 'float32');
    }
    return batched ? hit : tf.reshape(hit, []);
  });
}

/**
 * Energy in the box, the "energy-based pointing game" (Wang et al., "Score-CAM: Score-Weighted Visual
 * Explanations for Convolutional Neural Networks", CVPR Workshops 2020): the share of the map's mass
 * that falls on the object.
 *
 * Formula: `E = sum_{ij in object} map_ij / sum_ij map_ij` per map, with negative values clipped to 0
 * first (CAM maps are non-negative after their ReLU). An all-zero map has energy 0 (not NaN). A map
 * that is exactly the object's indicator has energy 1; a uniform map has the object's area fraction.
 *
 * Differences from other implementations: pytorch-grad-cam's `metrics` module has no localisation
 * metrics. Score-CAM's paper binarises a box; masks are accepted too (values > 0 are the object),
 * and several boxes per image are merged into one region.
 *
 * @param heatmap - `[H,W]` or `[B,H,W]` maps, non-negative (e.g. a CAM `heatmap`). Not disposed.
 * @param regions - the objects: boxes or masks, see {@link Regions} and {@link Box}. Not disposed.
 * @returns float32 energy in [0, 1]: a scalar for an `[H,W]` map, `[B]` for a batch. Owned by the caller.
 * @throws {@link InputError} when the map is not a rank-2/3 numeric tensor, or the regions do not
 *   match it (wrong count, bad box, mask of another shape).
 *
 * @example
 * ```ts
 * const { heatmap } = gradCam(model, image);                    // [64, 64]
 * const e = energyInBox(heatmap, [10, 12, 30, 40]);             // scalar in [0, 1]
 * console.log(e.dataSync()[0]);
 * tf.dispose([heatmap, e]);
 * ```
 */
export function energyInBox(heatmap: tf.Tensor2D, regions: Regions): tf.Scalar;
export function energyInBox(heatmap: tf.Tensor3D, regions: Regions): tf.Tensor1D;
export function energyInBox(heatmap: tf.Tensor, regions: Regions): tf.Tensor;
export function energyInBox(heatmap: tf.Tensor, regions: Regions): tf.Tensor {
  const fn = 'energyInBox';
  return tf.tidy(() => {
    const { maps, batched } = checkMaps(fn, 'heatmap', heatmap);
    const [b, h, w] = maps.shape;
    const mask = regionsToMask(fn, regions, batched, b, h, w);
    const pos = tf.relu(maps);
    const e = tf.divNoNan(tf.sum(tf.mul(pos, mask), [1, 2]), tf.sum(pos, [1, 2]));
    return batched ? e : tf.reshape(e, []);
  });
}

/**
 * A centre-prior map: an isotropic Gaussian centred on the image, the baseline any explanation should
 * beat on the pointing game and energy in the box (objects in photographs are often near the centre).
 *
 * Formula: `map_ij = exp(-((i - cy)^2 + (j - cx)^2) / (2 sigma^2))` with `cy = (H - 1) / 2`,
 * `cx = (W - 1) / 2` (pixel indices), so the maximum (1) is the central pixel, or for an even size the
 * top-left pixel of the central 2x2 block under {@link pointingGame}'s first-maximum rule. Zhang et
 * al.'s centre baseline points at the image centre the same way.
 *
 * Differences from other libraries: pytorch-grad-cam and TorchRay have no such helper (TorchRay's
 * pointing-game benchmark computes its centre baseline inline).
 *
 * @param height - map height, a positive integer
 * @param width - map width, a positive integer
 * @param options - see {@link CenterPriorOptions}
 * @returns float32 `[height, width]` in (0, 1], or `[batch, height, width]` when `batch` is given.
 *   Owned by the caller.
 * @throws {@link OptionError} for a non-integer or non-positive size, an unknown option, a bad `batch`
 *   or a non-positive `sigma`.
 *
 * @example
 * ```ts
 * const boxes: Box[] = [[10, 12, 30, 40], [0, 0, 16, 16]];
 * const prior = centerPrior(64, 64, { batch: 2 });                  // [2, 64, 64]
 * const baseline = tf.mean(pointingGame(prior, boxes)).dataSync()[0];
 * ```
 */
export function centerPrior(height: number, width: number, options?: CenterPriorOptions): tf.Tensor2D | tf.Tensor3D {
  const fn = 'centerPrior';
  for (const [argument, v] of [
    ['height', height],
    ['width', width],
  ] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new OptionError({
        fn,
        argument,
        expected: 'must be a positive integer',
        got: describeValue(v),
        fix: 'Pass the map size in pixels.',
      });
    }
  }
  const { batch, sigma } = parseOptions(CENTER_PRIOR_OPTIONS(height, width), options, { fn });
  return tf.tidy(() => {
    const gy = tf.reshape(tf.square(tf.sub(tf.range(0, height, 1, 'float32'), (height - 1) / 2)), [height, 1]);
    const gx = tf.reshape(tf.square(tf.sub(tf.range(0, width, 1, 'float32'), (width - 1) / 2)), [1, width]);
    const map = tf.exp(tf.div(tf.add(gy, gx), -2 * sigma * sigma)) as tf.Tensor2D;
    return batch === undefined ? map : (tf.tile(tf.expandDims(map, 0), [batch, 1, 1]) as tf.Tensor3D);
  });
}
