/**
 * Painting a heatmap over an image with pure tensor ops (no DOM: the same code runs in Node and in
 * browsers), pinned to pytorch-grad-cam's `show_cam_on_image`.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkTensor, isTensor } from '../core/tensor.js';
import type { OptionSpec } from '../core/options.js';
import { INVALID, booleanOption, numberOption, parseOptions, schemaFor } from '../core/options.js';
import { resizeMaps } from '../core/postprocess.js';
import { validateOption } from '../pipeline/cam-options.js';
import { InputError, OptionError, describeValue } from '../errors.js';
import type { ColormapName, ColormapTable } from './colormaps.js';
import { COLORMAPS, COLORMAP_NAMES } from './colormaps.js';

/**
 * A colormap: the name of a built-in table (see {@link COLORMAPS}), or a table of your own with
 * 256 rows of `[r, g, b]` in **0..255** (row 0 for heatmap value 0, row 255 for 1), given as a
 * nested array or as a `[256, 3]` float32/int32 tensor.
 */
export type Colormap = ColormapName | ReadonlyArray<ReadonlyArray<number>> | tf.Tensor;

/** The value range an image is declared to have: `'0-255'` (8-bit levels) or `'0-1'`. */
export type ImageRange = '0-255' | '0-1';

/** Options of {@link overlay}. */
export interface OverlayOptions {
  /** The colormap for the heatmap (default `'jet'`, OpenCV's `COLORMAP_JET`). */
  colormap?: Colormap | undefined;
  /**
   * Weight of the coloured heatmap in [0, 1] (default 0.5); the image gets `1 - alpha`.
   * pytorch-grad-cam's `image_weight` is `1 - alpha`.
   */
  alpha?: number | undefined;
  /**
   * The range of the image's values. Default by dtype: `'0-255'` for int32 images (as from
   * `tf.browser.fromPixels` or a decoded PNG/JPEG), `'0-1'` for float32 images. Nothing is inferred
   * from the values; a float32 image holding 0..255 needs `imageRange: '0-255'`.
   */
  imageRange?: ImageRange | undefined;
  /**
   * Divide each blended image by its own maximum before quantising (default true), as
   * pytorch-grad-cam does (`cam / np.max(cam)`). `false` keeps the plain weighted sum.
   */
  rescale?: boolean | undefined;
  /**
   * Check that the image's values lie in the declared range (one device-to-host read of three
   * numbers). Default: true on cpu, wasm and tfjs-node, where the read is cheap; false on GPU
   * backends (webgl, webgpu), where it would stall the pipeline.
   */
  validate?: boolean | undefined;
}

const OVERLAY_OPTIONS = schemaFor<OverlayOptions>()({
  colormap: {
    accepts: 'a colormap',
    default: COLORMAPS.jet as CheckedColormap,
    check: (v, ctx) => checkColormap(ctx.fn, 'options.colormap', v),
  } satisfies OptionSpec<CheckedColormap>,
  alpha: {
    ...numberOption(0.5, 0, false, 1),
    accepts: "a number in [0, 1] (the heatmap's weight)",
    fix: "Omit it for the default (0.5). pytorch-grad-cam's image_weight w corresponds to alpha = 1 - w.",
  },
  imageRange: {
    accepts: "'0-255' or '0-1'",
    default: undefined,
    fix: "Omit it for the default ('0-255' for an int32 image, '0-1' for a float32 one).",
    check: (v) => (v === '0-255' || v === '0-1' ? v : INVALID),
  } satisfies OptionSpec<ImageRange | undefined>,
  rescale: booleanOption(true),
  validate: validateOption,
});

/** The built-in names as quoted text, for messages. */
const colormapList = (): string => COLORMAP_NAMES.map((n) => `'${n}'`).join(', ');

/** A checked colormap: a built-in or user array table, or a user tensor table. */
type CheckedColormap = ColormapTable | ReadonlyArray<ReadonlyArray<number>> | tf.Tensor;

/** Checks a colormap argument (name, nested array or tensor) without reading tensor data. */
function checkColormap(fn: string, argument: string, value: unknown): CheckedColormap {
  const names = colormapList();
  const expected = `must be a colormap name (${names}) or a table of 256 [r, g, b] rows in 0..255`;
  const fail = (got: string, fix: string): never => {
    throw new OptionError({ fn, argument, expected, got, fix });
  };
  if (typeof value === 'string') {
    if (Object.hasOwn(COLORMAPS, value)) return COLORMAPS[value as ColormapName];
    const lower = value.toLowerCase().replace(/^colormap_/, '');
    const near = COLORMAP_NAMES.find((n) => n === lower);
    return fail(describeValue(value), near !== undefined ? `Did you mean '${near}'? Names are lower case.` : `Use one of ${names}.`);
  }
  if (isTensor(value)) {
    if (value.isDisposed) return fail('a disposed tensor', 'Keep the table tensor alive while it is used.');
    if (value.rank !== 2 || value.shape[0] !== 256 || value.shape[1] !== 3) {
      return fail(describeValue(value), 'Pass a [256, 3] tensor: one [r, g, b] row per heatmap level.');
    }
    if (value.dtype !== 'float32' && value.dtype !== 'int32') {
      return fail(describeValue(value), 'Pass a float32 or int32 tensor with values in 0..255.');
    }
    return value;
  }
  if (Array.isArray(value)) {
    const rows = value as readonly unknown[];
    if (rows.length !== 256) {
      return fail(`an array of length ${rows.length}`, 'Pass exactly 256 rows, one per heatmap level 0..255.');
    }
    let allUnit = true;
    let someFraction = false;
    for (let i = 0; i < 256; i++) {
      const row = rows[i];
      const ok =
        Array.isArray(row) && row.length === 3 && row.every((c) => typeof c === 'number' && Number.isFinite(c) && c >= 0 && c <= 255);
      if (!ok) {
        return fail(`row ${i} = ${describeValue(row)}`, 'Every row must be [r, g, b] with finite numbers in 0..255.');
      }
      for (const c of row as number[]) {
        if (c > 1) allUnit = false;
        if (!Number.isInteger(c)) someFraction = true;
      }
    }
    if (allUnit && someFraction) {
      return fail(
        'a table with every value in [0, 1]',
        'Tables are in 0..255 like the built-ins; scale a [0, 1] table first: table.map((row) => row.map((c) => 255 * c)).',
      );
    }
    return rows as ReadonlyArray<ReadonlyArray<number>>;
  }
  return fail(describeValue(value), `Use one of ${names}, or a [256][3] table.`);
}

/** The colormap as a `[256, 3]` float32 tensor in 0..255. Must run inside `tf.tidy`. */
function tableTensor(table: CheckedColormap): tf.Tensor2D {
  if (isTensor(table)) return (table.dtype === 'float32' ? table : tf.cast(table, 'float32')) as tf.Tensor2D;
  const flat = new Float32Array(256 * 3);
  table.forEach((row, i) => {
    flat[3 * i] = row[0] as number;
    flat[3 * i + 1] = row[1] as number;
    flat[3 * i + 2] = row[2] as number;
  });
  return tf.tensor2d(flat, [256, 3], 'float32');
}

const HEATMAP_SHAPES = '[H, W] or [B, H, W]';

function checkHeatmap(fn: string, x: unknown): tf.Tensor2D | tf.Tensor3D {
  return checkTensor(fn, 'heatmap', x, {
    ranks: [2, 3],
    shapes: HEATMAP_SHAPES,
    fix: 'Drop a trailing channel axis with tf.squeeze(heatmap, [-1]), or pass one map [H, W] or a batch [B, H, W].',
    floatOrInt: true,
  }) as tf.Tensor2D | tf.Tensor3D;
}

/**
 * Heatmap values to LUT indices exactly as pytorch-grad-cam feeds OpenCV: `uint8(255 * v)` in
 * float32 with truncation, clamped to 0..255 (NaN gives 0). Must run inside `tf.tidy`.
 */
function levels(heatmap: tf.Tensor): tf.Tensor {
  const x = heatmap.dtype === 'float32' ? heatmap : tf.cast(heatmap, 'float32');
  const scaled = tf.mul(x, tf.scalar(255, 'float32'));
  const clean = tf.where(tf.isNaN(scaled), tf.zerosLike(scaled), scaled);
  return tf.cast(tf.floor(tf.clipByValue(clean, 0, 255)), 'int32');
}

/** `[..., 3]` float32 colours in [0, 1] for a heatmap. Must run inside `tf.tidy`. */
function colorize(heatmap: tf.Tensor, table: CheckedColormap): tf.Tensor {
  // Dividing the 0..255 table by 255 in float32 equals pytorch-grad-cam's `np.float32(heatmap) / 255`.
  const lut = tf.div(tableTensor(table), tf.scalar(255, 'float32'));
  return tf.gather(lut, levels(heatmap), 0);
}

/**
 * Colours a heatmap with a colormap, the way pytorch-grad-cam colours a CAM before blending it.
 *
 * For each value `v`: `index = clamp(trunc(255 * v), 0, 255)` (float32 arithmetic, the
 * `np.uint8(255 * mask)` that pytorch-grad-cam hands to `cv2.applyColorMap`), then
 * `rgb = table[index] / 255`.
 *
 * Differences from pytorch-grad-cam / OpenCV: the result is RGB (OpenCV's is BGR until
 * `cvtColor`), float32 in [0, 1] rather than uint8 (it equals `np.float32(heatmap) / 255` there);
 * values outside [0, 1] are clamped to the first/last colour and NaN takes the first colour, where
 * `np.uint8` would wrap around or be undefined.
 *
 * @param heatmap - float32 (or int32) `[H, W]` or `[B, H, W]`, values in [0, 1] (e.g. a
 *   `gradCam(...).heatmap`). Not disposed; values are not checked (see the clamping above).
 * @param colormap - a built-in name (`'jet'` default, `'turbo'`, `'viridis'`, `'inferno'`, `'magma'`,
 *   `'plasma'`, `'gray'`) or a table of 256 `[r, g, b]` rows in 0..255: a nested array (checked
 *   fully) or a `[256, 3]` float32/int32 tensor (shape and dtype checked; its values are not read
 *   back, keep them in 0..255). Row 0 colours value 0, row 255 colours value 1.
 * @returns a new float32 tensor `[H, W, 3]` (or `[B, H, W, 3]`), RGB in [0, 1], owned by the caller.
 * @throws {@link InputError} if `heatmap` is not a live non-empty float32/int32 tensor of rank 2 or 3;
 *   {@link OptionError} for an unknown colormap name or a table that is not 256 rows of 3 values
 *   in 0..255 (a table with every value in [0, 1] and some fractions is taken for a [0, 1] table and
 *   refused).
 *
 * @example
 * ```ts
 * const ramp = tf.reshape(tf.linspace(0, 1, 256), [1, 256]) as tf.Tensor2D;
 * const bar = applyColormap(ramp, 'viridis');                    // float32 [1, 256, 3] in [0, 1]
 * await tf.browser.toPixels(bar, canvas);                        // a colour bar
 * tf.dispose([ramp, bar]);
 * ```
 */
export function applyColormap(heatmap: tf.Tensor2D, colormap?: Colormap): tf.Tensor3D;
export function applyColormap(heatmap: tf.Tensor3D, colormap?: Colormap): tf.Tensor4D;
export function applyColormap(heatmap: tf.Tensor, colormap?: Colormap): tf.Tensor;
export function applyColormap(heatmap: tf.Tensor, colormap: Colormap = 'jet'): tf.Tensor {
  const fn = 'applyColormap';
  const map = checkHeatmap(fn, heatmap);
  const table = checkColormap(fn, 'colormap', colormap);
  return tf.tidy(() => colorize(map, table));
}

/** Throws if the image holds non-finite values or values outside its declared range. */
function checkImageValues(fn: string, image: tf.Tensor, range: ImageRange): void {
  const top = range === '0-255' ? 255 : 1;
  const stats = tf.tidy(() => {
    const f = image.dtype === 'float32' ? image : tf.cast(image, 'float32');
    // sum(x * 0) is NaN exactly when some value is NaN or infinite (no IsFinite kernel needed:
    // tfjs-backend-wasm before 4.x-late has none); min/max are only read when it is finite.
    return tf.stack([tf.min(f), tf.max(f), tf.sum(tf.mul(f, 0))]);
  });
  let lo: number;
  let hi: number;
  let nonFinite: number;
  try {
    const d = stats.dataSync();
    lo = d[0] as number;
    hi = d[1] as number;
    nonFinite = Number.isFinite(d[2]) ? 0 : 1;
  } finally {
    stats.dispose();
  }
  const expected = `must hold values in [0, ${top}] (imageRange '${range}')`;
  if (nonFinite > 0) {
    throw new InputError({
      fn,
      argument: 'image',
      expected,
      got: 'a tensor containing NaN or Infinity',
      fix: 'Clean the image (tf.where(tf.isNaN(x), 0, x)), or pass validate: false to skip this check.',
    });
  }
  if (lo < 0 || hi > top) {
    const looks255 = range === '0-1' && lo >= 0 && hi <= 255;
    throw new InputError({
      fn,
      argument: 'image',
      expected,
      got: `values in [${lo}, ${hi}]`,
      fix: looks255
        ? "This looks like a 0..255 image: pass imageRange: '0-255' (or divide it by 255)."
        : 'Rescale or clip the image (tf.clipByValue) to its declared range, or pass validate: false to skip this check.',
    });
  }
}

/**
 * Paints a heatmap over an image: the picture pytorch-grad-cam's
 * `show_cam_on_image(img, mask, use_rgb=True, colormap=cv2.COLORMAP_JET, image_weight=1 - alpha)`
 * returns, as an int32 tensor ready for `tf.browser.toPixels` or PNG encoding.
 *
 * Per image, with `img` the image scaled to [0, 1] (divided by 255 when `imageRange` is `'0-255'`):
 *
 * ```text
 * heat = table[clamp(trunc(255 * mask), 0, 255)] / 255          // applyColormap, RGB in [0, 1]
 * cam  = alpha * heat + (1 - alpha) * img                         // float32
 * cam  = cam / max(cam)      (max over all pixels and channels of this image; only if rescale)
 * out  = trunc(255 * cam)    (int32 in 0..255)
 * ```
 *
 * On cpu and wasm this is the same float32 arithmetic as pytorch-grad-cam, so the default output
 * equals `show_cam_on_image(..., use_rgb=True)` (at most one level apart where a heatmap was resized,
 * or on GPU backends).
 *
 * Differences from pytorch-grad-cam: RGB in and out (like `use_rgb=True`); the weight is `alpha`
 * on the heatmap rather than `image_weight` on the image; a heatmap of another size is resized to
 * the image (bilinear with half-pixel centres, `tf.image.resizeBilinear(x, size, false, true)`,
 * which equals OpenCV's `INTER_LINEAR` when enlarging), where pytorch-grad-cam expects the caller to have resized;
 * batches are handled (each image is rescaled by its own maximum); an image that is all black under
 * a zero-weight heatmap gives zeros instead of NaN; the image check also rejects negative values and
 * NaN/Infinity (pytorch-grad-cam only rejects `max > 1`); heatmap values outside [0, 1] are clamped.
 *
 * Batch rules: the output is batched (`[B, H, W, 3]`) when the image or the heatmap is. A single
 * image `[H, W, 3]` with a batch of heatmaps `[B, h, w]` paints each heatmap over the same image; a
 * batch of images with one heatmap `[h, w]` paints it over each image; two batches must have the
 * same size (or one of them size 1).
 *
 * @param image - `[H, W, 3]` or `[B, H, W, 3]` RGB, int32 or float32, in the range given by
 *   `options.imageRange` (default: 0..255 for int32, [0, 1] for float32). Not disposed.
 * @param heatmap - `[h, w]` or `[B, h, w]`, float32 (or int32) in [0, 1], e.g. `gradCam(...).heatmap`;
 *   resized to `H x W` when its size differs. Not disposed.
 * @param options - {@link OverlayOptions}: `colormap` (default `'jet'`), `alpha` (default 0.5),
 *   `imageRange`, `rescale` (default true), `validate` (default true on cpu/wasm/tfjs-node).
 * @returns a new **int32** tensor `[H, W, 3]`, or `[B, H, W, 3]` when either input is batched, RGB
 *   levels in 0..255, owned by the caller.
 * @throws {@link InputError} if `image` or `heatmap` is not a live non-empty float32/int32 tensor,
 *   has the wrong rank, the image has other than 3 channels, the batch sizes disagree, or (with
 *   `validate`) the image holds values outside its declared range or NaN/Infinity;
 *   {@link OptionError} for an unknown option, an invalid colormap, `alpha` outside [0, 1], an
 *   `imageRange` other than `'0-255'`/`'0-1'`, or a non-boolean `rescale`/`validate`.
 *
 * @example
 * ```ts
 * const image = tf.browser.fromPixels(img);                      // int32 [224, 224, 3], 0..255
 * const { heatmap, classIndex } = gradCam(model, tf.div(image, 255));
 * const picture = overlay(image, heatmap, { alpha: 0.4 });       // int32 [224, 224, 3]
 * await tf.browser.toPixels(picture, canvas);
 * tf.dispose([image, heatmap, classIndex, picture]);
 * ```
 */
export function overlay(image: tf.Tensor3D, heatmap: tf.Tensor2D, options?: OverlayOptions): tf.Tensor3D;
export function overlay(image: tf.Tensor3D, heatmap: tf.Tensor3D, options?: OverlayOptions): tf.Tensor4D;
export function overlay(image: tf.Tensor4D, heatmap: tf.Tensor2D | tf.Tensor3D, options?: OverlayOptions): tf.Tensor4D;
export function overlay(image: tf.Tensor, heatmap: tf.Tensor, options?: OverlayOptions): tf.Tensor;
export function overlay(image: tf.Tensor, heatmap: tf.Tensor, options?: OverlayOptions): tf.Tensor {
  const fn = 'overlay';
  const img = checkTensor(fn, 'image', image, {
    ranks: [3, 4],
    shapes: '[H, W, 3] or [B, H, W, 3]',
    fix: 'Pass one RGB image [H, W, 3] or a batch [B, H, W, 3].',
    floatOrInt: true,
  });
  const channels = img.shape[img.rank - 1] as number;
  if (channels !== 3) {
    throw new InputError({
      fn,
      argument: 'image',
      expected: 'must have 3 channels (RGB) on its last axis',
      got: describeValue(img),
      fix:
        channels === 4
          ? 'Drop the alpha channel, e.g. tf.slice(image, [0, 0, 0], [-1, -1, 3]) (add a leading 0/-1 for a batch).'
          : channels === 1
            ? 'Repeat the gray channel, e.g. tf.tile(image, [1, 1, 3]) (add a leading 1 for a batch).'
            : 'Pass an RGB image with channels last.',
    });
  }
  const map = checkHeatmap(fn, heatmap);
  const imageBatch = img.rank === 4 ? (img.shape[0] as number) : null;
  const mapBatch = map.rank === 3 ? (map.shape[0] as number) : null;
  if (imageBatch !== null && mapBatch !== null && imageBatch !== mapBatch && imageBatch !== 1 && mapBatch !== 1) {
    throw new InputError({
      fn,
      argument: 'heatmap',
      expected: `must have the image's batch size (${imageBatch}), or 1, or no batch axis`,
      got: describeValue(map),
      fix: 'Pass one heatmap per image, or a single heatmap [h, w] to paint over every image.',
    });
  }

  const o = parseOptions(OVERLAY_OPTIONS, options, { fn });
  const { alpha, rescale } = o;
  const table = o.colormap;
  const range: ImageRange = o.imageRange ?? (img.dtype === 'int32' ? '0-255' : '0-1');
  if (o.validate) checkImageValues(fn, img, range);

  const batched = imageBatch !== null || mapBatch !== null;
  const height = img.shape[img.rank - 3] as number;
  const width = img.shape[img.rank - 2] as number;
  return tf.tidy(() => {
    // Image as float32 [Bi, H, W, 3] in [0, 1].
    let pic: tf.Tensor = img.dtype === 'float32' ? img : tf.cast(img, 'float32');
    if (range === '0-255') pic = tf.div(pic, tf.scalar(255, 'float32'));
    if (pic.rank === 3) pic = tf.expandDims(pic, 0);

    // Heatmap as float32 [Bh, H, W].
    let m: tf.Tensor = map.dtype === 'float32' ? map : tf.cast(map, 'float32');
    if (m.rank === 2) m = tf.expandDims(m, 0);
    const [, mh, mw] = m.shape as [number, number, number];
    if (mh !== height || mw !== width) m = resizeMaps(m as tf.Tensor3D, [height, width]);

    // Blend (broadcasting a batch of 1 against a batch of B), as pytorch-grad-cam does in float32.
    const heat = colorize(m, table);
    let cam = tf.add(tf.mul(heat, tf.scalar(alpha, 'float32')), tf.mul(pic, tf.scalar(1 - alpha, 'float32')));
    if (rescale) {
      const peak = tf.max(cam, [1, 2, 3], true);
      cam = tf.div(cam, tf.where(tf.greater(peak, 0), peak, tf.onesLike(peak)));
    }
    const out = tf.cast(tf.floor(tf.clipByValue(tf.mul(cam, tf.scalar(255, 'float32')), 0, 255)), 'int32');
    return batched ? out : tf.reshape(out, [height, width, 3]);
  });
}
