/**
 * Non-negative matrix factorisation as scikit-learn 1.2's `NMF(init='random', solver='cd')` computes
 * it, on the device, for Deep Feature Factorization; and numpy's legacy `RandomState` normals it is
 * initialised from.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * numpy's legacy `RandomState(seed).standard_normal`, one value per call: MT19937 seeded with
 * `init_genrand`, 53-bit doubles, Marsaglia's polar method caching the second value. Bit-exact
 * (float64).
 */
export function legacyNormalGenerator(seed: number): () => number {
  const mt = new Uint32Array(624);
  mt[0] = seed >>> 0;
  for (let i = 1; i < 624; i++) {
    const prev = mt[i - 1] as number;
    const x = (prev ^ (prev >>> 30)) >>> 0;
    // 1812433253 * x + i, modulo 2^32, without losing bits to float64.
    mt[i] = (Math.imul(1812433253, x) + i) >>> 0;
  }
  let idx = 624;
  const uint32 = (): number => {
    if (idx >= 624) {
      for (let i = 0; i < 624; i++) {
        const y = ((mt[i] as number) & 0x80000000) | ((mt[(i + 1) % 624] as number) & 0x7fffffff);
        let v = (mt[(i + 397) % 624] as number) ^ (y >>> 1);
        if (y & 1) v ^= 0x9908b0df;
        mt[i] = v >>> 0;
      }
      idx = 0;
    }
    let y = mt[idx++] as number;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  };
  const double = (): number => ((uint32() >>> 5) * 67108864 + (uint32() >>> 6)) / 9007199254740992;
  let cached: number | null = null;
  return () => {
    if (cached !== null) {
      const v = cached;
      cached = null;
      return v;
    }
    let x1: number;
    let x2: number;
    let r2: number;
    do {
      x1 = 2 * double() - 1;
      x2 = 2 * double() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * Math.log(r2)) / r2);
    cached = f * x1;
    return f * x2;
  };
}

/** `count` values of {@link legacyNormalGenerator}: numpy's `RandomState(seed).standard_normal(count)`. */
export function legacyStandardNormal(seed: number, count: number): Float64Array {
  const next = legacyNormalGenerator(seed);
  const out = new Float64Array(count);
  for (let n = 0; n < count; n++) out[n] = next();
  return out;
}

/**
 * scikit-learn's `_initialize_nmf(X, k, init='random', random_state=seed)` for `X` `[n, m]`:
 * `avg = sqrt(mean(X) / k)`, `H0 = |avg * N[k, m]|` drawn first, then `W0 = |avg * N[n, k]|`, the
 * normals rounded to float32 before scaling. The mean is taken on the device (float32), not read.
 */
export function randomInit(x: tf.Tensor2D, k: number, seed = 0): { w: tf.Tensor2D; h: tf.Tensor2D } {
  return tf.tidy(() => {
    const [n, m] = x.shape;
    const normals = legacyStandardNormal(seed, k * m + n * k);
    const avg = tf.sqrt(tf.div(tf.mean(x), k));
    const h = tf.abs(tf.mul(avg, tf.tensor2d(Float32Array.from(normals.subarray(0, k * m)), [k, m]))) as tf.Tensor2D;
    const w = tf.abs(tf.mul(avg, tf.tensor2d(Float32Array.from(normals.subarray(k * m)), [n, k]))) as tf.Tensor2D;
    return { w, h };
  });
}

/** What {@link nmfCoordinateDescent} returns. */
export interface NmfResult {
  /** `[n, k]`. */
  w: tf.Tensor2D;
  /** `[k, m]`. */
  h: tf.Tensor2D;
  /** Iterations run (int32 scalar): scikit-learn's `n_iter_`. */
  iterations: tf.Scalar;
}

/**
 * One cyclic coordinate-descent sweep over the columns of `w` (`[n, k]`), scikit-learn's
 * `_update_cdnmf_fast` vectorised over rows: for t = 0..k-1, `grad = w hht[:, t] - xht[:, t]`,
 * `w[:, t] = max(w[:, t] - grad / hht[t, t], 0)` (unless `hht[t, t] = 0`). Returns the new `w` and
 * the violation (sum of |projected gradient|).
 */
function sweep(w: tf.Tensor2D, hht: tf.Tensor2D, xht: tf.Tensor2D): { w: tf.Tensor2D; violation: tf.Scalar } {
  const k = w.shape[1];
  const cols = Array.from({ length: k }, (_, t) => tf.slice(w, [0, t], [-1, 1]));
  let violation: tf.Tensor = tf.scalar(0);
  for (let t = 0; t < k; t++) {
    const current = tf.concat(cols, 1);
    const grad = tf.sub(tf.matMul(current, tf.slice(hht, [0, t], [-1, 1])), tf.slice(xht, [0, t], [-1, 1]));
    const col = cols[t] as tf.Tensor;
    const pg = tf.where(tf.equal(col, 0), tf.minimum(grad, 0), grad);
    violation = tf.add(violation, tf.sum(tf.abs(pg)));
    const hess = tf.slice(hht, [t, t], [1, 1]);
    const updated = tf.maximum(tf.sub(col, tf.div(grad, tf.where(tf.equal(hess, 0), tf.onesLike(hess), hess))), 0);
    cols[t] = tf.where(tf.equal(tf.broadcastTo(hess, col.shape), 0), col, updated) as tf.Tensor2D;
  }
  return { w: tf.concat(cols, 1) as tf.Tensor2D, violation: violation as tf.Scalar };
}

/**
 * scikit-learn's `_fit_coordinate_descent` (no regularisation, `shuffle=False`) from `w0`, `h0`:
 * each iteration updates W (with `H H^T`, `X H^T`) then H (the same on `X^T` with the new W); it
 * stops after the iteration where `violation / first violation <= tol`, or after `maxIter`. All on
 * the device without reading values back: the iterations after convergence run but change nothing.
 */
export function nmfCoordinateDescent(x: tf.Tensor2D, w0: tf.Tensor2D, h0: tf.Tensor2D, maxIter = 200, tol = 1e-4): NmfResult {
  return tf.tidy(() => {
    const xt = tf.transpose(x) as tf.Tensor2D;
    let w = tf.clone(w0) as tf.Tensor2D;
    let ht = tf.transpose(h0) as tf.Tensor2D; // [m, k]
    let done = tf.scalar(false, 'bool');
    let first = tf.scalar(0);
    let iterations = tf.scalar(0, 'int32');
    for (let it = 1; it <= maxIter; it++) {
      const next = tf.tidy(() => {
        const a = sweep(w, tf.matMul(tf.transpose(ht), ht) as tf.Tensor2D, tf.matMul(x, ht) as tf.Tensor2D);
        const b = sweep(ht, tf.matMul(tf.transpose(a.w), a.w) as tf.Tensor2D, tf.matMul(xt, a.w) as tf.Tensor2D);
        const violation = tf.add(a.violation, b.violation);
        const init = it === 1 ? violation : first;
        // Stop after this iteration when the first violation is 0 or the ratio is below tol.
        const stop = tf.logicalOr(tf.equal(init, 0), tf.lessEqual(tf.div(violation, init), tol));
        return {
          w: tf.where(done, w, a.w) as tf.Tensor2D,
          ht: tf.where(done, ht, b.w) as tf.Tensor2D,
          first: init as tf.Scalar,
          iterations: tf.add(iterations, tf.cast(tf.logicalNot(done), 'int32')) as tf.Scalar,
          done: tf.logicalOr(done, stop) as tf.Scalar,
        };
      });
      const kept = new Set<tf.Tensor>(Object.values(next));
      for (const t of [w, ht, first, iterations, done]) if (!kept.has(t)) t.dispose();
      ({ w, ht, first, iterations, done } = next);
    }
    return { w, h: tf.transpose(ht) as tf.Tensor2D, iterations };
  });
}
