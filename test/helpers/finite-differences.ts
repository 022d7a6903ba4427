/**
 * Checks a gradient against central finite differences along random directions, with a forward-only
 * reference: `(S(A + eps d) - S(A - eps d)) / (2 eps)` against `sum(g * d)`.
 *
 * Why the check is reliable on piecewise-linear networks evaluated in float32:
 *
 * - Kinks *at* A (a ReLU output's exact zeros, values tied with others of the same example: copies
 *   made by upsampling, windows of a stride-1 max pooling, a constant channel) make S
 *   non-differentiable at A: a finite difference across them is one-sided and defines no gradient.
 *   The directions are therefore zero on those coordinates (exact zeros, exact sixes, values that
 *   occur more than once in the example), so every tie in A survives the perturbation and S is
 *   differentiable along d. The gradient on the masked coordinates is a convention (first maximum,
 *   ...), checked by the dedicated regression tests instead. Ties created *above* A from one element
 *   (upsampling copies, pooling windows) stay ties under any perturbation: the finite difference
 *   does check those. Ties of A with values that do not depend on A (a skip connection compared with
 *   A by a max or min in the head) are kinks too: the caller passes those values (`alsoMask`).
 * - Kinks *near* A (a pre-activation above the target within eps of zero, two candidates of a max
 *   within eps of each other) bend the secant. S is linear on some interval [-e1, e2] around A along
 *   d, so the central difference is exact once eps < min(e1, e2) and a one-sided one once eps is
 *   below its side's distance. The differences are taken at decreasing eps (1e-2, 2e-3, 4e-4, 1e-4
 *   times the RMS of A), central, forward and backward, and the direction passes when any of them
 *   agrees. A wrong gradient is wrong at every eps and on both sides by a fraction of |g| (the bugs
 *   this guards against are off by factors); a kink spoils only the larger eps on its side.
 * - float32 rounding of S: the tolerance is `rtol * |g| + 3e-6 * max(1, |S|) / eps` (a few ulps of
 *   S, divided by the step; twice that for one-sided differences); `rtol` (default 2e-3) bounds the
 *   error relative to the norm of the gradient over the perturbed coordinates, which is the scale
 *   of `sum(g * d)` for d ~ N(0, 1).
 */
import * as tf from '@tensorflow/tfjs-core';

export interface DirectionalCheck {
  /** Worst (over directions) of the best (over eps) error / tolerance: <= 1 passes. */
  worst: number;
  /** One line per direction, for failure messages. */
  lines: string[];
  /** Coordinates perturbed, and in all. */
  perturbed: number;
  total: number;
}

/**
 * Coordinates where S may have a kink at A: exact zeros, sixes, values repeated in an example, and
 * values in `also` (e.g. values of tensors that do not depend on A, which a max in the head may
 * compare with A).
 */
export function kinkMask(a: Float32Array, batch: number, also: ReadonlySet<number> = new Set()): Float32Array {
  const per = a.length / batch;
  const mask = new Float32Array(a.length).fill(1);
  for (let b = 0; b < batch; b++) {
    const counts = new Map<number, number>();
    for (let i = b * per; i < (b + 1) * per; i++) counts.set(a[i] as number, (counts.get(a[i] as number) ?? 0) + 1);
    for (let i = b * per; i < (b + 1) * per; i++) {
      const v = a[i] as number;
      if (v === 0 || v === 6 || (counts.get(v) as number) > 1 || also.has(v)) mask[i] = 0;
    }
  }
  return mask;
}

const EPS_LEVELS = [1e-2, 2e-3, 4e-4, 1e-4];

/**
 * Central finite differences of `score` at `a` along `directions` random directions (seeded),
 * compared with `g`. `score` must be a forward-only reference (it may allocate: it is tidied here).
 */
export function checkDirectional(
  score: (a: tf.Tensor) => tf.Scalar,
  a: tf.Tensor,
  g: tf.Tensor,
  opts: { seed: number; directions?: number; rtol?: number; alsoMask?: ReadonlySet<number> },
): DirectionalCheck {
  const rtol = opts.rtol ?? 2e-3;
  const batch = a.shape[0] as number;
  const aData = a.dataSync() as Float32Array;
  const gData = g.dataSync() as Float32Array;
  const mask = kinkMask(aData, batch, opts.alsoMask);
  let perturbed = 0;
  let sumSq = 0;
  let gSq = 0;
  for (let i = 0; i < aData.length; i++) {
    if (mask[i] === 0) continue;
    perturbed++;
    sumSq += (aData[i] as number) ** 2;
    gSq += (gData[i] as number) ** 2;
  }
  const lines: string[] = [];
  if (perturbed === 0) return { worst: 0, lines: ['every coordinate is at a kink: nothing to perturb'], perturbed, total: aData.length };
  const scale = Math.max(Math.sqrt(sumSq / perturbed), 1e-3);
  const gNorm = Math.sqrt(gSq);
  const evalScore = (t: tf.Tensor): number => tf.tidy(() => score(t).dataSync()[0] as number);
  const s0 = evalScore(a);
  let worst = 0;
  for (let k = 0; k < (opts.directions ?? 3); k++) {
    const d = tf.tidy(() => tf.mul(tf.randomNormal(a.shape, 0, 1, 'float32', opts.seed * 101 + k), tf.tensor(mask, a.shape)));
    const dData = d.dataSync();
    let gd = 0;
    for (let i = 0; i < dData.length; i++) gd += (gData[i] as number) * (dData[i] as number);
    let best = Infinity;
    const tried: string[] = [];
    for (const level of EPS_LEVELS) {
      const eps = level * scale;
      const plus = tf.tidy(() => tf.add(a, tf.mul(d, eps)));
      const minus = tf.tidy(() => tf.sub(a, tf.mul(d, eps)));
      const sp = evalScore(plus);
      const sm = evalScore(minus);
      tf.dispose([plus, minus]);
      const ulps = 5e-7 * Math.max(1, Math.abs(sp), Math.abs(sm), Math.abs(s0));
      // Central difference, and the two one-sided ones (a kink on one side leaves the other linear).
      const estimates: Array<[string, number, number]> = [
        ['central', (sp - sm) / (2 * eps), ulps / eps],
        ['forward', (sp - s0) / eps, (2 * ulps) / eps],
        ['backward', (s0 - sm) / eps, (2 * ulps) / eps],
      ];
      const ratios = estimates.map(([, v, noise]) => Math.abs(v - gd) / (rtol * gNorm + noise));
      const at = ratios.indexOf(Math.min(...ratios));
      const ratio = ratios[at] as number;
      const [kind, value] = estimates[at] as [string, number, number];
      tried.push(`eps ${eps.toExponential(1)}: ${kind} ${value.toPrecision(6)} (err/tol ${ratio.toFixed(2)})`);
      best = Math.min(best, ratio);
      if (ratio <= 1) break;
    }
    d.dispose();
    worst = Math.max(worst, best);
    lines.push(`direction ${k}: sum(g*d) ${gd.toPrecision(6)}, |g| ${gNorm.toPrecision(3)}; ${tried.join('; ')}`);
  }
  return { worst, lines, perturbed, total: aData.length };
}
