/**
 * Finer-CAM's contrastive target.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TargetFn } from './classification.js';
import type { PerExample } from './common.js';
import { checkClasses, classIndices, classOfRows, classScores, constant, oneHot, targetError } from './common.js';

/** Options of {@link finerTarget}. */
export interface FinerTargetOptions {
  /** Weight of the compared classes' scores (pytorch-grad-cam's `alpha`, default 1). */
  alpha?: number | undefined;
  /**
   * Which classes are compared, as ranks in the order of closeness to the explained class's score
   * (pytorch-grad-cam's `comparison_categories`, default `[1, 2, 3]`: the three classes whose
   * scores are closest). Rank 0 is the explained class itself.
   */
  comparisonRanks?: readonly number[] | undefined;
  /**
   * The explained class (pytorch-grad-cam's `target_idx`), for the whole batch or one per example.
   * Default: the arg-max class of each example.
   */
  classIndex?: PerExample<number> | undefined;
}

/**
 * The contrastive target of Finer-CAM (Zhang et al., "Finer-CAM: Spotting the Difference Reveals
 * Finer Details for Visual Explanation", CVPR 2025; pytorch-grad-cam's `FinerWeightedTarget` with the
 * comparison classes `FinerCAM` picks): the explained class's score minus those of the classes it is
 * most easily confused with, weighted by their softmax probabilities,
 * `sum_j p_j (o_main - alpha o_j) / (sum_j p_j + 1e-9)`, `p = softmax(o)`.
 *
 * Which classes: with `t` the explained class's score (the maximum by default, or `o[classIndex]`),
 * the classes are ordered by `|o - t|` ascending (ties in class order); the main class is the first
 * (the explained class itself unless another has exactly its score) and the compared classes are
 * those at `comparisonRanks` (default 1, 2, 3) in that order. This is pytorch-grad-cam's notion:
 * `comparison_categories` are positions in that order, not class indices. The choice is made per
 * example from the explained output and is a constant for the gradient; the probabilities `p_j` are
 * not (their gradient flows too, as in pytorch-grad-cam). The softmax is applied to the explained
 * output (logits by default: see `logits`).
 *
 * @param options - {@link FinerTargetOptions}
 * @returns a target function for the `target` option (used by {@link finerCam})
 * @throws {@link TargetError} for a bad alpha, ranks or class (when building), an output with fewer
 *   classes than the largest rank needs, or a class out of range (when called)
 *
 * @example
 * ```ts
 * const { heatmap } = gradCam(model, image, { target: finerTarget({ alpha: 0.6 }) });
 * ```
 */
export function finerTarget(options?: FinerTargetOptions): TargetFn {
  const fn = 'finerTarget';
  const alpha = options?.alpha ?? 1;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha))
    targetError(fn, 'options.alpha', 'must be a finite number', alpha, 'Omit it for 1.');
  const ranks = options?.comparisonRanks ?? [1, 2, 3];
  if (!Array.isArray(ranks) || ranks.length === 0 || !ranks.every((r) => Number.isInteger(r) && r >= 0)) {
    targetError(
      fn,
      'options.comparisonRanks',
      'must be a non-empty array of non-negative integer ranks',
      ranks,
      'Omit it for [1, 2, 3] (the three closest classes).',
    );
  }
  const classes = options?.classIndex === undefined ? null : classIndices(fn, 'options.classIndex', options.classIndex).values;
  return (output, examples) => {
    const o = classScores(fn, output);
    const [rows, k] = o.shape;
    const needed = Math.max(...ranks) + 1;
    if (k < needed) {
      targetError(
        fn,
        'options.comparisonRanks',
        `must fit the ${k} classes of the output`,
        `rank ${needed - 1}`,
        'Pass smaller comparisonRanks.',
      );
    }
    if (classes !== null) checkClasses(fn, 'options.classIndex', classes, k);
    const picked = classes === null ? null : oneHot(classOfRows(classes, examples), k);
    // The classes at ranks 0..max(ranks) of |o - t| (ties in class order): repeated arg-mins with
    // the classes already ranked set to +Infinity; one-hot rows of rank 0 and of each compared rank,
    // [rows, 1 + R, K]. A constant for the gradient.
    const wanted = [0, ...ranks];
    const deepest = Math.max(...wanted);
    const masks = constant(o, (x) => {
      const t = picked === null ? tf.max(x, 1, true) : tf.sum(tf.mul(x, picked), 1, true);
      let d = tf.abs(tf.sub(x, t)); // [rows, K]
      const byRank: tf.Tensor2D[] = [];
      for (let r = 0; r <= deepest; r++) {
        const hot = oneHot(tf.argMin(d, 1), k);
        byRank.push(hot);
        d = tf.where(tf.cast(hot, 'bool'), tf.fill(d.shape, Infinity), d);
      }
      return tf.stack(
        wanted.map((r) => byRank[r] as tf.Tensor2D),
        1,
      );
    });
    const at = (i: number): tf.Tensor2D => tf.reshape(tf.slice(masks, [0, i, 0], [-1, 1, -1]), [rows, k]) as tf.Tensor2D;
    const main = tf.sum(tf.mul(o, at(0)), 1);
    const p = tf.softmax(o, -1);
    let num: tf.Tensor = tf.zeros([rows]);
    let den: tf.Tensor = tf.zeros([rows]);
    for (let i = 1; i < wanted.length; i++) {
      const hot = at(i);
      const pj = tf.sum(tf.mul(p, hot), 1);
      const oj = tf.sum(tf.mul(o, hot), 1);
      num = tf.add(num, tf.mul(pj, tf.sub(main, tf.mul(oj, alpha))));
      den = tf.add(den, pj);
    }
    return tf.div(num, tf.add(den, 1e-9)) as tf.Tensor1D;
  };
}
