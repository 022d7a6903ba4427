/**
 * First principal component of per-pixel channel vectors, without an SVD (tfjs has none).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { blockedSumLastAxis } from './reduce.js';
import { oneHotMask } from './targets.js';

/** Squarings of the Gram matrix: the power applied is 2^SQUARINGS (then refined, see below). */
const SQUARINGS = 12;
/** Power-iteration refinements with the original matrix after the squarings. */
const REFINEMENTS = 8;

/** Options of {@link principalProjection}. */
export interface ProjectionOptions {
  /**
   * How the component's sign is chosen: `'channel-sum'` (default; positive correlation with the
   * channel sum, tfcam's EigenCAM convention) or `'extremum'` (the value of largest magnitude is
   * positive: pytorch-grad-cam's sign correction in SegEigenCAM).
   */
  orientation?: 'channel-sum' | 'extremum' | undefined;
}

/**
 * Projects each example's activations on their first principal component, like pytorch-grad-cam's
 * `get_2d_projection`: rows = pixels, columns = channels, columns mean-centred, projection
 * `X v1` with `v1` the first right singular vector of X.
 *
 * tfjs has no SVD, so `X v1 = sigma1 u1` is computed from the smaller Gram matrix (`X^T X`, C x C,
 * or `X X^T`, hw x hw, whichever is smaller) by repeated squaring (2^12 = 4096 power steps in 12
 * matrix products, each renormalised) followed by 8 plain power iterations. The component has
 * converged to float32 precision (angle below 1e-7) whenever the ratio of the top two eigenvalues is
 * below 0.996; closer than that, the principal direction is itself ill-defined. Cost:
 * 12 n^3 + 8 n^2 flops per example for n = min(hw, C). No values are read back.
 *
 * Sign convention (an SVD's sign is arbitrary, and the map after ReLU depends on it): the
 * projection is oriented to correlate positively with `sum_k X_k` (the uncentred channel sum, i.e.
 * the plain CAM of these activations), so the map points where the activations add up. numpy's SVD
 * in pytorch-grad-cam may return either sign.
 *
 * With `orientation: 'extremum'` the sign rule is pytorch-grad-cam's
 * `get_2d_projection_with_sign_correction` (SegEigenCAM) instead: the projection is negated when
 * `|min| > |max|` (strictly), so its largest-magnitude value is positive; that rule does not depend
 * on the SVD's sign, so the result equals pytorch-grad-cam's exactly.
 *
 * @param activations - `[B, h, w, C]`; not disposed
 * @param options - `orientation`: `'channel-sum'` (default, as above) or `'extremum'`
 * @returns `[B, h, w]` projections, owned by the caller
 * @throws nothing of its own (tfjs errors for a tensor that is not rank 4)
 *
 * @example
 * ```ts
 * const eigen = principalProjection(activations);   // EigenCAM's raw map
 * const seg = principalProjection(tf.mul(tf.abs(gradients), activations) as tf.Tensor4D, { orientation: 'extremum' });   // SegEigenCAM's
 * ```
 */
export function principalProjection(activations: tf.Tensor4D, options?: ProjectionOptions): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, h, w, c] = activations.shape;
    const n = h * w;
    const x = tf.reshape(activations, [b, n, c]) as tf.Tensor3D;
    const centred = tf.sub(x, tf.mean(x, 1, true)) as tf.Tensor3D;
    const pixelsSmaller = n <= c;
    // Gram matrix of the smaller side: [B, m, m].
    // Explicit transposes: tfjs-backend-webgl 4.22 returns wrong values for matMul(t, t) with a
    // transpose flag when t has an odd row count (measured errors up to 1.0).
    const centredT = tf.transpose(centred, [0, 2, 1]);
    const gram = pixelsSmaller ? tf.matMul(centred, centredT) : tf.matMul(centredT, centred);
    const m = gram.shape[1] as number;
    // Repeated squaring, renormalising by the Frobenius norm to stay in float32 range.
    let p = tf.div(gram, tf.add(tf.norm(gram, 'fro', [1, 2], true), 1e-30)) as tf.Tensor3D;
    for (let i = 0; i < SQUARINGS; i++) {
      const sq = tf.matMul(p, p);
      p = tf.div(sq, tf.add(tf.norm(sq, 'fro', [1, 2], true), 1e-30)) as tf.Tensor3D;
    }
    // p ~ v v^T: take its column of largest norm as the start vector (never orthogonal to v).
    const colNorms = tf.sum(tf.square(p), 1); // [B, m]
    const pick = oneHotMask(tf.argMax(colNorms, 1), m); // [B, m]
    let v = tf.matMul(p, tf.reshape(pick, [b, m, 1])) as tf.Tensor3D; // [B, m, 1]
    for (let i = 0; i < REFINEMENTS; i++) {
      v = tf.matMul(gram, v) as tf.Tensor3D;
      v = tf.div(v, tf.add(tf.norm(v, 'euclidean', [1, 2], true), 1e-30)) as tf.Tensor3D;
    }
    let projection: tf.Tensor; // [B, n]
    if (pixelsSmaller) {
      // v is u1 (unit, length n): X v1 = sigma1 u1 with sigma1 = sqrt(u1^T G u1).
      const gu = tf.matMul(gram, v);
      const sigma = tf.sqrt(tf.relu(tf.sum(tf.mul(v, gu), [1, 2], true)));
      projection = tf.reshape(tf.mul(v, sigma), [b, n]);
    } else {
      projection = tf.reshape(tf.matMul(centred, v), [b, n]);
    }
    if (options?.orientation === 'extremum') {
      // pytorch-grad-cam's sign correction: flip when |min| > |max| (strictly).
      const flip = tf.greater(tf.abs(tf.min(projection, 1, true)), tf.abs(tf.max(projection, 1, true)));
      const flipSign = tf.sub(1, tf.mul(tf.cast(flip, 'float32'), 2));
      return tf.reshape(tf.mul(projection, flipSign), [b, h, w]) as tf.Tensor3D;
    }
    // Orientation: positive correlation with the uncentred channel sum.
    const plain = blockedSumLastAxis(x); // [B, n]
    const plainCentred = tf.sub(plain, tf.mean(plain, 1, true));
    const sign = tf.sign(tf.add(tf.sign(tf.sum(tf.mul(projection, plainCentred), 1, true)), 0.5));
    return tf.reshape(tf.mul(projection, sign), [b, h, w]) as tf.Tensor3D;
  });
}
