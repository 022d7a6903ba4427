/**
 * Reductions with float32-friendly accuracy.
 *
 * Backends differ in how they accumulate: tfjs' cpu backend sums in float64 (JavaScript numbers), the
 * wasm backend sums sequentially in float32. A sequential float32 sum of n terms has a relative error
 * up to ~n * 6e-8, enough to move Grad-CAM weights 1.5e-5 off pytorch-grad-cam on a 16x16 map. Summing
 * in two stages (blocks of ~sqrt(n), then the block sums) bounds it by ~2 sqrt(n) * 6e-8 on every
 * backend, for one extra small reduction.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/** Sums `x` over its last axis in two stages (blocks of about sqrt(n)). */
export function blockedSumLastAxis(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const n = x.shape[x.rank - 1] as number;
    if (n <= 32) return tf.sum(x, -1);
    // Prefer a block size dividing n (a free reshape); pad only when n has no usable divisor.
    let block = Math.floor(Math.sqrt(n));
    while (block > 1 && n % block !== 0) block--;
    let padded = x;
    if (block < 4) {
      block = Math.ceil(Math.sqrt(n));
      const total = Math.ceil(n / block) * block;
      padded = tf.pad(x, [...x.shape.slice(0, -1).map(() => [0, 0] as [number, number]), [0, total - n]]);
    }
    const lead = x.shape.slice(0, -1);
    const width = padded.shape[padded.rank - 1] as number;
    return tf.sum(tf.sum(tf.reshape(padded, [...lead, width / block, block]), -1), -1);
  });
}

/** Mean over the spatial axes of `[B, h, w, C]`, summing columns, then rows: returns `[B, C]`. */
export function spatialMean(x: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    return tf.div(tf.sum(tf.sum(x, 2), 1), h * w) as tf.Tensor2D;
  });
}

/** Sum over the spatial axes of `[B, h, w, C]`, summing columns, then rows: returns `[B, C]`. */
export function spatialSum(x: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => tf.sum(tf.sum(x, 2), 1) as tf.Tensor2D);
}

/** Sum over the channel axis of `[B, h, w, C]` in two stages: returns `[B, h, w]`. */
export function channelSum(x: tf.Tensor4D): tf.Tensor3D {
  return blockedSumLastAxis(x) as tf.Tensor3D;
}

/**
 * Weighted sum of activation channels, `sum_k weights[b, k] * A[b, :, :, k]`: `[B, h, w, C]` and
 * `[B, C]` give `[B, h, w]`, summed over channels in two stages (see above).
 */
export function weightedChannelSum(activations: tf.Tensor4D, weights: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, , , c] = activations.shape;
    return channelSum(tf.mul(activations, tf.reshape(weights, [b, 1, 1, c])) as tf.Tensor4D);
  });
}
