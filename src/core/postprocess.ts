/**
 * Post-processing of CAM maps, pinned to pytorch-grad-cam (`scale_cam_image` and
 * `aggregate_multi_layers`): ReLU, per-map min-max, bilinear resize with half-pixel centres
 * (= OpenCV `INTER_LINEAR`), then ReLU and min-max again.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/** The epsilon pytorch-grad-cam adds to the min-max denominator (keeps all-zero maps at zero). */
export const NORMALIZE_EPS = 1e-7;

/**
 * Min-max normalises each map of a batch to [0, 1): `(x - min) / (1e-7 + max(x - min))`, with min
 * and max taken per example over every non-batch axis. An all-equal map becomes all zero, never NaN.
 *
 * @param maps - `[B, ...]` float maps; not disposed
 * @returns a new tensor of the same shape, owned by the caller
 * @throws nothing of its own (tfjs errors for non-numeric tensors)
 *
 * @example
 * ```ts
 * const m = normalizeMaps(tf.tensor3d([[[1, 3]]]));  // [[[0, 0.99999995]]]
 * ```
 */
export function normalizeMaps<T extends tf.Tensor>(maps: T): T {
  return tf.tidy(() => {
    const axes = Array.from({ length: maps.rank - 1 }, (_, i) => i + 1);
    const shifted = tf.sub(maps, tf.min(maps, axes, true));
    return tf.div(shifted, tf.add(tf.max(shifted, axes, true), NORMALIZE_EPS)) as T;
  });
}

/**
 * Resizes `[B, h, w]` maps to `[B, H, W]` with bilinear interpolation and half-pixel centres
 * (`tf.image.resizeBilinear(x, size, false, true)`), which equals OpenCV's `INTER_LINEAR` that
 * pytorch-grad-cam uses.
 *
 * @param maps - `[B, h, w]` maps; not disposed
 * @param size - `[H, W]` target size
 * @returns `[B, H, W]`, owned by the caller
 * @throws nothing of its own (tfjs errors for a map that is not rank 3)
 *
 * @example
 * ```ts
 * const big = resizeMaps(tf.tensor3d([[[0, 4]]]), [1, 4]);   // [[[0, 1, 3, 4]]]
 * ```
 */
export function resizeMaps(maps: tf.Tensor3D, size: readonly [number, number]): tf.Tensor3D {
  return tf.tidy(() => {
    const [b] = maps.shape;
    const x = tf.reshape(maps, [b, maps.shape[1], maps.shape[2], 1]) as tf.Tensor4D;
    const y = tf.image.resizeBilinear(x, [size[0], size[1]], false, true);
    return tf.reshape(y, [b, size[0], size[1]]) as tf.Tensor3D;
  });
}

/** Post-processing switches. */
export interface PostprocessOptions {
  /** Apply ReLU before normalising (and again before the second min-max). */
  relu: boolean;
  /** Min-max normalise each map (before and after resizing). */
  normalize: boolean;
  /** Target size, or null to keep the layer resolution. */
  size: readonly [number, number] | null;
}

/**
 * pytorch-grad-cam's post-processing of raw `[B, h, w]` maps: optional ReLU; optional min-max; optional
 * resize; and, when both normalising and resizing, ReLU and min-max once more (as
 * `aggregate_multi_layers` does).
 *
 * @param raw - raw `[B, h, w]` maps (e.g. from {@link combineChannels}); not disposed
 * @param options - which steps to apply, and the target size (or null)
 * @returns `[B, h, w]` or `[B, H, W]` maps, owned by the caller
 * @throws nothing of its own (tfjs errors for a map that is not rank 3)
 *
 * @example
 * ```ts
 * const raw = combineChannels(activations, tf.mean(gradients, [1, 2]) as tf.Tensor2D);
 * const heatmap = postprocessMaps(raw, { relu: true, normalize: true, size: [224, 224] });
 * ```
 */
export function postprocessMaps(raw: tf.Tensor3D, options: PostprocessOptions): tf.Tensor3D {
  return tf.tidy(() => {
    let x = raw;
    if (options.relu) x = tf.relu(x);
    if (options.normalize) x = normalizeMaps(x);
    if (options.size !== null) {
      x = resizeMaps(x, options.size);
      if (options.normalize) x = normalizeMaps(options.relu ? tf.relu(x) : x);
    }
    return x;
  });
}
