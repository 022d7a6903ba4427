/**
 * KPCA-CAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OptionSpec } from '../core/options.js';
import { INVALID, integerOption, numberOption, oneOfOption } from '../core/options.js';
import { oneHotMask } from '../core/targets.js';
import type { CamOptions } from '../core/types.js';
import { createCam } from '../pipeline/cam.js';

/** Options of {@link kpcaCam}. */
export interface KpcaCamOptions extends CamOptions {
  /**
   * The kernel (scikit-learn's names): `'sigmoid'` (default, pytorch-grad-cam's)
   * `tanh(gamma <x, y> + coef0)`, `'rbf'` `exp(-gamma |x - y|^2)`, `'poly'`
   * `(gamma <x, y> + coef0)^degree`, `'linear'` `<x, y>`, `'cosine'` `<x, y> / (|x| |y|)`.
   */
  kernel?: 'sigmoid' | 'rbf' | 'poly' | 'linear' | 'cosine' | undefined;
  /** The kernel's gamma; default `1 / C` (C channels), scikit-learn's default. */
  gamma?: number | undefined;
  /** The kernel's coef0 for `'sigmoid'` and `'poly'` (default 1). */
  coef0?: number | undefined;
  /** The degree of `'poly'` (default 3). */
  degree?: number | undefined;
}

/** Squarings of a shifted matrix in the dense eigen solver: 2^16 power steps. */
const SQUARINGS = 16;
/** Plain power steps after the squarings. */
const REFINEMENTS = 8;
/** Largest kernel matrix solved densely; larger ones go through Lanczos. */
const DENSE_MAX = 64;
/** Lanczos steps per cycle, and cycles. */
const LANCZOS_STEPS = 40;
const LANCZOS_CYCLES = 3;

/** `gamma`: a positive number, or undefined for 1 / C (the cast: method option types exclude undefined). */
const gammaOption = {
  accepts: 'a finite number > 0',
  default: undefined,
  fix: 'Omit it for 1 / channels.',
  check: (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : INVALID),
} as unknown as OptionSpec<number>;

/** The `[B, N, N]` kernel matrix of the rows of `x` (`[B, N, C]`). */
function kernelMatrix(x: tf.Tensor3D, kernel: string, gamma: number, coef0: number, degree: number): tf.Tensor3D {
  const xt = tf.transpose(x, [0, 2, 1]);
  const dot = tf.matMul(x, xt);
  switch (kernel) {
    case 'linear':
      return dot as tf.Tensor3D;
    case 'poly':
      return tf.pow(tf.add(tf.mul(dot, gamma), coef0), degree) as tf.Tensor3D;
    case 'rbf': {
      const sq = tf.sum(tf.square(x), 2); // [B, N]
      const d2 = tf.relu(tf.sub(tf.add(tf.expandDims(sq, 2), tf.expandDims(sq, 1)), tf.mul(dot, 2)));
      return tf.exp(tf.mul(d2, -gamma)) as tf.Tensor3D;
    }
    case 'cosine': {
      const norms = tf.sqrt(tf.sum(tf.square(x), 2)); // [B, N]
      const safe = tf.where(tf.equal(norms, 0), tf.onesLike(norms), norms);
      return tf.div(dot, tf.mul(tf.expandDims(safe, 2), tf.expandDims(safe, 1))) as tf.Tensor3D;
    }
    default:
      return tf.tanh(tf.add(tf.mul(dot, gamma), coef0)) as tf.Tensor3D;
  }
}

/**
 * The eigenvector of the largest *algebraic* eigenvalue of each symmetric `[m, m]` matrix (`[B, m, m]`),
 * densely: the matrix is shifted by its Frobenius norm (a bound of the spectral radius, so the
 * spectrum becomes >= 0 with the wanted eigenvalue on top), squared {@link SQUARINGS} times
 * (2^16 power steps), then refined by plain power steps. `[B, m, 1]`, unit length.
 */
function denseTopEigenvector(a: tf.Tensor3D): tf.Tensor3D {
  const [b, m] = a.shape;
  const shift = tf.norm(a, 'fro', [1, 2], true);
  const shifted = tf.add(a, tf.mul(tf.reshape(tf.eye(m), [1, m, m]), shift)) as tf.Tensor3D;
  let p = tf.div(shifted, tf.add(tf.norm(shifted, 'fro', [1, 2], true), 1e-30)) as tf.Tensor3D;
  for (let i = 0; i < SQUARINGS; i++) {
    const sq = tf.matMul(p, p);
    p = tf.div(sq, tf.add(tf.norm(sq, 'fro', [1, 2], true), 1e-30)) as tf.Tensor3D;
  }
  // p ~ v v^T: its column of largest norm is not orthogonal to v.
  const pick = oneHotMask(tf.argMax(tf.sum(tf.square(p), 1), 1), m);
  let v = tf.matMul(p, tf.reshape(pick, [b, m, 1])) as tf.Tensor3D;
  for (let i = 0; i < REFINEMENTS; i++) v = unit(tf.matMul(shifted, v) as tf.Tensor3D);
  return unit(v);
}

/** `v / |v|` per example (`[B, n, 1]`). */
function unit(v: tf.Tensor3D): tf.Tensor3D {
  return tf.div(v, tf.add(tf.norm(v, 'euclidean', [1, 2], true), 1e-30)) as tf.Tensor3D;
}

/**
 * The same for large matrices (`[B, N, N]`): {@link LANCZOS_CYCLES} cycles of {@link LANCZOS_STEPS}
 * Lanczos steps with full re-orthogonalisation, each restarted from the previous cycle's Ritz vector,
 * with the Rayleigh-Ritz matrix `Q^T A Q` solved densely. `N^2` flops per step instead of `N^3` per
 * squaring.
 */
function lanczosTopEigenvector(a: tf.Tensor3D): tf.Tensor3D {
  const [b, n] = a.shape;
  const steps = Math.min(n, LANCZOS_STEPS);
  // A fixed pseudo-random start (the same on every backend), never orthogonal in practice.
  const start = Array.from({ length: n }, (_, i) => {
    const x = Math.sin((i + 1) * 12.9898) * 43758.5453;
    return x - Math.floor(x) - 0.5;
  });
  let v = unit(tf.tile(tf.reshape(tf.tensor1d(start), [1, n, 1]), [b, 1, 1]) as tf.Tensor3D);
  for (let cycle = 0; cycle < LANCZOS_CYCLES; cycle++) {
    v = tf.tidy(() => {
      const qs: tf.Tensor3D[] = [v];
      const aqs: tf.Tensor3D[] = [];
      for (let j = 0; j < steps; j++) {
        const aq = tf.matMul(a, qs[j] as tf.Tensor3D) as tf.Tensor3D;
        aqs.push(aq);
        if (j === steps - 1) break;
        const q = tf.concat(qs, 2) as tf.Tensor3D; // [B, N, j + 1]
        let w: tf.Tensor3D = aq;
        // Explicit transposes: webgl 4.22's matMul with a transpose flag is wrong for odd row counts.
        const qt = tf.transpose(q, [0, 2, 1]);
        for (let pass = 0; pass < 2; pass++) w = tf.sub(w, tf.matMul(q, tf.matMul(qt, w))) as tf.Tensor3D;
        qs.push(unit(w));
      }
      const q = tf.concat(qs, 2) as tf.Tensor3D; // [B, N, m]
      const t = tf.matMul(tf.transpose(q, [0, 2, 1]), tf.concat(aqs, 2)) as tf.Tensor3D; // Q^T A Q
      const sym = tf.mul(tf.add(t, tf.transpose(t, [0, 2, 1])), 0.5) as tf.Tensor3D;
      return unit(tf.matMul(q, denseTopEigenvector(sym)) as tf.Tensor3D);
    });
  }
  return v;
}

/**
 * The first kernel principal component of each example's pixels (scikit-learn's
 * `KernelPCA(n_components=1).fit_transform`) from their kernel matrix `[B, N, N]`: `[B, N]`.
 */
function kernelPrincipalComponent(k: tf.Tensor3D): tf.Tensor2D {
  const [b, n] = k.shape;
  // Double centring (KernelCenterer).
  const colMean = tf.mean(k, 1, true);
  const rowMean = tf.mean(k, 2, true);
  const kc = tf.add(tf.sub(tf.sub(k, colMean), rowMean), tf.mean(k, [1, 2], true)) as tf.Tensor3D;
  const v = n <= DENSE_MAX ? denseTopEigenvector(kc) : lanczosTopEigenvector(kc);
  const vec = tf.reshape(v, [b, n]);
  const lambda = tf.sum(tf.mul(v, tf.matMul(kc, v)), [1, 2]); // Rayleigh quotient, [B]
  // scikit-learn's svd_flip: the entry of largest magnitude is positive.
  const big = tf.sum(tf.mul(vec, oneHotMask(tf.argMax(tf.abs(vec), 1), n)), 1, true);
  const sign = tf.sign(tf.add(tf.sign(big), 0.5));
  // Eigenvalues <= 0 are dropped by scikit-learn (no component): zero map.
  return tf.mul(tf.mul(vec, sign), tf.reshape(tf.sqrt(tf.relu(lambda)), [b, 1])) as tf.Tensor2D;
}

/**
 * KPCA-CAM (Karmani et al., "KPCA-CAM: Visual Explainability of Deep Computer Vision Models using
 * Kernel PCA", MMSP 2024): like {@link eigenCam}, but the principal component is taken in a kernel
 * feature space: the map is the first kernel principal component of the pixels' channel vectors
 * (rows = pixels, mean-centred per channel, then a kernel matrix, double-centred, and its top
 * eigenvector scaled by the square root of its eigenvalue). Gradient-free and class-independent.
 *
 * Numerics match pytorch-grad-cam's `KPCA_CAM` (scikit-learn's `KernelPCA(n_components=1)`, tested
 * against its outputs): the sign rule of scikit-learn (the entry of largest magnitude is positive),
 * and the largest algebraic eigenvalue (as scikit-learn's solvers return). tfjs has no eigen solver:
 * the eigenvector is computed on the device, for kernel matrices up to 64 x 64 densely (the matrix
 * shifted by its Frobenius norm so that the wanted eigenvalue is the largest, squared 16 times), and
 * above that by 3 cycles of 40 Lanczos steps with full re-orthogonalisation, each restarted from the
 * previous Ritz vector. Cost: an `N x N` kernel matrix per example, N = h*w pixels of the layer
 * (`N^2 C` flops and `4 N^2` bytes: 40 MB at 56x56), and 120 matrix-vector products with it.
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link KpcaCamOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}; {@link OptionError} for an unknown kernel or a bad gamma, coef0 or degree
 *
 * @example
 * ```ts
 * const { heatmap } = kpcaCam(model, image, { kernel: 'rbf' });
 * ```
 */
export const kpcaCam = createCam<KpcaCamOptions>({
  name: 'kpcaCam',
  usesGradients: false,
  options: {
    kernel: oneOfOption(['sigmoid', 'rbf', 'poly', 'linear', 'cosine'], 'sigmoid', "Omit it for 'sigmoid'."),
    gamma: gammaOption,
    coef0: numberOption(1, -Infinity, false),
    degree: integerOption(3, 1),
  },
  map: ({ activations, options }) =>
    tf.tidy(() => {
      const [b, h, w, c] = activations.shape;
      const finite = tf.where(tf.isNaN(activations), tf.zerosLike(activations), activations);
      const x = tf.reshape(finite, [b, h * w, c]) as tf.Tensor3D;
      const centred = tf.sub(x, tf.mean(x, 1, true)) as tf.Tensor3D;
      const gamma = (options.gamma as number | undefined) ?? 1 / c;
      const k = kernelMatrix(centred, options.kernel, gamma, options.coef0, options.degree);
      return tf.reshape(kernelPrincipalComponent(k), [b, h, w]) as tf.Tensor3D;
    }),
});
