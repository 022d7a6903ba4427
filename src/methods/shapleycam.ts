/**
 * Shapley-CAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { numberOption } from '../core/options.js';
import { spatialMean } from '../core/reduce.js';
import type { CamOptions } from '../core/types.js';
import { createCam } from '../pipeline/cam.js';

/** Options of {@link shapleyCam}. */
export interface ShapleyCamOptions extends CamOptions {
  /**
   * Largest relative step of the finite-difference Hessian-vector product (default 0.1): the
   * activations are scaled by `1 +- h`, `1 +- h/2`, `1 +- h/4`.
   */
  step?: number | undefined;
}

/** The relative steps, largest first: `h`, `h/2`, `h/4`. */
const STEP_DIVISORS = [1, 2, 4] as const;

/**
 * Shapley-CAM (Cai et al., "CAMs as Shapley Value-based Explainers", 2025; pytorch-grad-cam's
 * `ShapleyCAM`): Grad-CAM with a second-order correction that makes the weights a Shapley-value
 * approximation, `w_c = mean_ij (G - H A / 2)_ijc`, with `H A` the Hessian of the explained score
 * with respect to the activations applied to the activations themselves. Use it with
 * {@link classReSTTarget} for the paper's "ReST" score.
 *
 * Differences from pytorch-grad-cam: the Hessian-vector product is computed without second-order
 * gradients (tfjs' are wrong for sigmoid, tanh, exp and softmax, tfjs#3252): `H A` is the
 * directional derivative of the gradient along A, `d/dt G((1 + t) A)` at t = 0, from central
 * differences of the head's gradient at `(1 +- h) A` for h, h/2 and h/4 (relative steps, `step`
 * option) combined by two Richardson extrapolations (error `O(h^6)`), in one batched backward pass of
 * the layers above the target (6 rows per example). Tested against pytorch-grad-cam's outputs (its
 * exact HVP). When the head is piecewise linear in A (ReLU, pooling, dense layers; a logit target)
 * the Hessian is 0 and the map is Grad-CAM's, as in pytorch-grad-cam; but where ReLUs above the
 * target switch within `(1 +- h) A`, the differences see the kink that the exact (almost everywhere)
 * Hessian ignores: prefer a target layer whose head has no ReLU (the default layer usually). Cost:
 * Grad-CAM's plus one backward pass of the head on 6 copies per example.
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link ShapleyCamOptions}
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as {@link gradCam}; {@link OptionError} for a `step` outside (0, 0.5]
 *
 * @example
 * ```ts
 * const { heatmap } = shapleyCam(model, image, { target: classReSTTarget(281) });
 * ```
 */
export const shapleyCam = createCam<ShapleyCamOptions>({
  name: 'shapleyCam',
  options: { step: numberOption(0.1, 0, true, 0.5) },
  weights: (ctx) =>
    tf.tidy(() => {
      const { activations, gradients } = ctx;
      const b = activations.shape[0];
      const h = ctx.options.step;
      const scales = STEP_DIVISORS.flatMap((d) => [1 + h / d, 1 - h / d]);
      const hvps: tf.Tensor[] = [];
      for (let e = 0; e < b; e++) {
        hvps.push(
          tf.tidy(() => {
            const a = tf.slice(activations, [e], [1]);
            const rows = tf.mul(tf.tile(a, [scales.length, 1, 1, 1]), tf.reshape(tf.tensor1d(scales), [-1, 1, 1, 1])) as tf.Tensor4D;
            const g = ctx.gradientsAt(rows, e); // [6, h, w, C]
            const row = (i: number): tf.Tensor => tf.slice(g, [i], [1]);
            // Central differences D(h / d) = (G(1 + h/d) - G(1 - h/d)) / (2 h / d).
            const [d1, d2, d4] = STEP_DIVISORS.map((d, i) => tf.div(tf.sub(row(2 * i), row(2 * i + 1)), (2 * h) / d)) as [
              tf.Tensor,
              tf.Tensor,
              tf.Tensor,
            ];
            // Richardson: O(h^2) -> O(h^4) -> O(h^6).
            const r1 = tf.div(tf.sub(tf.mul(d2, 4), d1), 3);
            const r2 = tf.div(tf.sub(tf.mul(d4, 4), d2), 3);
            return tf.div(tf.sub(tf.mul(r2, 16), r1), 15);
          }),
        );
      }
      const hvp = tf.concat(hvps, 0);
      return spatialMean(tf.sub(gradients, tf.mul(hvp, 0.5)) as tf.Tensor4D);
    }),
});
