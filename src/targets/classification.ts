/**
 * Targets of classifiers and regressors: a class score, its softmax probability, ReST, a binary
 * classifier's score, several classes at once, a scalar output.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PerExample } from './common.js';
import { checkClasses, classIndices, classOfRows, classScores, oneHot, rowsOf, targetError } from './common.js';

/** A target function, as the `target` option of every method takes it. */
export type TargetFn = (output: tf.Tensor, examples: tf.Tensor1D) => tf.Tensor1D;

/** `output[row, class[row]]` as a one-hot product (differentiable on every backend). */
function pick(output: tf.Tensor2D, classes: readonly number[], examples: tf.Tensor1D): tf.Tensor1D {
  return tf.sum(tf.mul(output, oneHot(classOfRows(classes, examples), output.shape[1])), 1) as tf.Tensor1D;
}

/**
 * The score of a class (pytorch-grad-cam's `ClassifierOutputTarget`): `output[c]` of each example.
 * The same as passing `target: c`, as a function (for metrics and code that take target functions).
 *
 * @param classIndex - one class index for the whole batch, or one per example
 * @returns a target function `(output, examples) => Tensor1D` for the `target` option
 * @throws {@link TargetError} for a class index that is not a non-negative integer (when building),
 *   or out of range of the output's classes, or an output that is not `[batch, classes]` (when called)
 *
 * @example
 * ```ts
 * const { heatmap } = gradCam(model, image, { target: classTarget(281) });
 * ```
 */
export function classTarget(classIndex: PerExample<number>): TargetFn {
  const fn = 'classTarget';
  const { values } = classIndices(fn, 'classIndex', classIndex);
  return (output, examples) => {
    const o = classScores(fn, output);
    checkClasses(fn, 'classIndex', values, o.shape[1]);
    return pick(o, values, examples);
  };
}

/**
 * The softmax probability of a class (pytorch-grad-cam's `ClassifierOutputSoftmaxTarget`):
 * `softmax(output)[c]`, the softmax over the last axis of the explained output.
 *
 * With the default `logits: true` a model ending in softmax is explained from its logits, so this
 * is the model's probability; on a model that outputs logits it is the probability those logits
 * give. As in pytorch-grad-cam the softmax is applied to whatever the explained output is (with
 * `logits: false` on a softmax model, a softmax of probabilities). Explaining a probability is
 * usually less informative than its logit (saturation); pytorch-grad-cam's tutorials use it for
 * the metrics.
 *
 * @param classIndex - one class index for the whole batch, or one per example
 * @returns a target function for the `target` option
 * @throws {@link TargetError} as {@link classTarget}
 *
 * @example
 * ```ts
 * const { heatmap, score } = gradCam(model, image, { target: classProbabilityTarget(281) });   // score: a probability
 * ```
 */
export function classProbabilityTarget(classIndex: PerExample<number>): TargetFn {
  const fn = 'classProbabilityTarget';
  const { values } = classIndices(fn, 'classIndex', classIndex);
  return (output, examples) => {
    const o = classScores(fn, output);
    checkClasses(fn, 'classIndex', values, o.shape[1]);
    return pick(tf.softmax(o, -1) as tf.Tensor2D, values, examples);
  };
}

/**
 * ReST, the "relative score" target of Shapley-CAM (Cai et al., "CAMs as Shapley Value-based
 * Explainers", 2025; pytorch-grad-cam's `ClassifierOutputReST`): the class score minus the
 * cross-entropy of the class, `o[c] - (logsumexp(o) - o[c]) = 2 o[c] - logsumexp(o)`.
 *
 * @param classIndex - one class index for the whole batch, or one per example
 * @returns a target function for the `target` option
 * @throws {@link TargetError} as {@link classTarget}
 *
 * @example
 * ```ts
 * const { heatmap } = shapleyCam(model, image, { target: classReSTTarget(281) });
 * ```
 */
export function classReSTTarget(classIndex: PerExample<number>): TargetFn {
  const fn = 'classReSTTarget';
  const { values } = classIndices(fn, 'classIndex', classIndex);
  return (output, examples) => {
    const o = classScores(fn, output);
    checkClasses(fn, 'classIndex', values, o.shape[1]);
    return tf.sub(tf.mul(pick(o, values, examples), 2), tf.logSumExp(o, 1)) as tf.Tensor1D;
  };
}

/**
 * The score of a single-output binary classifier for category 1 or 0 (pytorch-grad-cam's
 * `BinaryClassifierOutputTarget`): `output` for category 1, `-output` for category 0.
 *
 * Semantics are pytorch-grad-cam's: no sigmoid is applied and category 0 is not `1 - p`. With the
 * default `logits: true` a model ending in sigmoid is explained from its logit z (category 0: `-z`,
 * which is the logit of `1 - p`); with `logits: false` from its probability p (category 0: `-p`,
 * whose gradient is that of `1 - p`).
 *
 * @param category - 1 (the positive class) or 0, for the whole batch or one per example
 * @returns a target function for the `target` option
 * @throws {@link TargetError} for a category other than 0 or 1 (when building), or an output
 *   that is not `[batch, 1]` or `[batch]` (when called)
 *
 * @example
 * ```ts
 * const positive = gradCam(model, image, { target: binaryClassifierTarget(1) });
 * const negative = gradCam(model, image, { target: binaryClassifierTarget(0) });
 * ```
 */
export function binaryClassifierTarget(category: PerExample<0 | 1>): TargetFn {
  const fn = 'binaryClassifierTarget';
  const cats = Array.isArray(category) ? [...(category as readonly unknown[])] : [category];
  if (cats.length === 0 || !cats.every((c) => c === 0 || c === 1)) {
    targetError(
      fn,
      'category',
      'must be 0 or 1, or an array of 0/1 (one per example)',
      category,
      'Pass 1 to explain the positive class, 0 for the negative one.',
    );
  }
  const signValues = cats.map((c) => (c === 1 ? 1 : -1));
  return (output, examples) => {
    if (!((output.rank === 2 && output.shape[1] === 1) || output.rank === 1)) {
      targetError(
        fn,
        'output',
        'must be [batch, 1] (one unit) for a binary classifier target',
        `an output of shape [${output.shape.join(', ')}]`,
        'Use classTarget for outputs with one unit per class.',
      );
    }
    return tf.mul(tf.reshape(output, [-1]), rowsOf(tf.tensor1d(signValues), examples)) as tf.Tensor1D;
  };
}

/**
 * Several classes at once (multi-label models): the sum of the scores of the given classes,
 * optionally weighted, `sum_k w_k o[c_k]`. pytorch-grad-cam has no such target (its README suggests
 * writing one); use it with sigmoid multi-label heads (explained from logits by default).
 *
 * @param classes - the classes for the whole batch (`[3, 7]`), or one list per example (`[[3, 7], [1]]`)
 * @param weights - optional weight per class, same layout as `classes` (default 1 each)
 * @returns a target function for the `target` option
 * @throws {@link TargetError} for empty or non-integer class lists, weights that do not match
 *   them, or classes out of range of the output (when called)
 *
 * @example
 * ```ts
 * const { heatmap } = gradCam(model, image, { target: multiLabelTarget([2, 5]) });
 * ```
 */
export function multiLabelTarget(
  classes: readonly number[] | ReadonlyArray<readonly number[]>,
  weights?: readonly number[] | ReadonlyArray<readonly number[]>,
): TargetFn {
  const fn = 'multiLabelTarget';
  const perExample = Array.isArray(classes) && classes.length > 0 && classes.every((c) => Array.isArray(c));
  const lists: number[][] = perExample
    ? (classes as ReadonlyArray<readonly number[]>).map((c) => [...c])
    : [[...(classes as readonly number[])]];
  const okList = (l: unknown[]): boolean => l.length > 0 && l.every((c) => typeof c === 'number' && Number.isInteger(c) && c >= 0);
  if (!Array.isArray(classes) || !lists.every(okList)) {
    targetError(
      fn,
      'classes',
      'must be a non-empty array of class indices, or one such array per example',
      classes,
      'For example [2, 5], or [[2, 5], [1]] for a batch of two.',
    );
  }
  let wLists: number[][];
  if (weights === undefined) {
    wLists = lists.map((l) => l.map(() => 1));
  } else {
    const w = perExample
      ? (weights as ReadonlyArray<readonly number[]>).map((x) => (Array.isArray(x) ? [...(x as number[])] : []))
      : [[...(weights as readonly number[])]];
    const fits =
      Array.isArray(weights) &&
      w.length === lists.length &&
      w.every((x, i) => x.length === (lists[i] as number[]).length && x.every((v) => typeof v === 'number' && Number.isFinite(v)));
    if (!fits)
      targetError(
        fn,
        'weights',
        'must give one finite weight per class, in the layout of classes',
        weights,
        'Omit weights to weigh every class 1.',
      );
    wLists = w;
  }
  return (output, examples) => {
    const o = classScores(fn, output);
    const k = o.shape[1];
    checkClasses(fn, 'classes', lists.flat(), k);
    const table = lists.map((l, i) => {
      const row = new Array<number>(k).fill(0);
      l.forEach((c, j) => (row[c] = (row[c] as number) + ((wLists[i] as number[])[j] as number)));
      return row;
    });
    return tf.sum(tf.mul(o, rowsOf(tf.tensor2d(table), examples)), 1) as tf.Tensor1D;
  };
}

/**
 * The output of a regression model: unit `index` of a `[batch, units]` output, or the output itself
 * when it is `[batch]`. pytorch-grad-cam has no regression target (its `RawScoresOutputTarget`
 * returns the output, which works only for one unit).
 *
 * @param index - which output unit (default 0)
 * @returns a target function for the `target` option
 * @throws {@link TargetError} for a negative or non-integer index (when building), an index out of
 *   range or an output that is not `[batch]` or `[batch, units]` (when called)
 *
 * @example
 * ```ts
 * // Which pixels raise the predicted value (use tf.neg inside your own target for "lower it").
 * const { heatmap } = gradCam(model, image, { target: regressionTarget() });
 * ```
 */
export function regressionTarget(index = 0): TargetFn {
  const fn = 'regressionTarget';
  if (!Number.isInteger(index) || index < 0) targetError(fn, 'index', 'must be a non-negative integer', index, 'Omit it for unit 0.');
  return (output, examples) => {
    if (output.rank === 1) {
      if (index !== 0) targetError(fn, 'index', 'must be 0 for a [batch] output', String(index), 'Omit it.');
      return output as tf.Tensor1D;
    }
    if (output.rank !== 2) {
      targetError(
        fn,
        'output',
        'must be [batch] or [batch, units] for a regression target',
        `an output of shape [${output.shape.join(', ')}]`,
        'Pick the regression output with outputIndex.',
      );
    }
    checkClasses(fn, 'index', [index], output.shape[1] as number);
    return pick(output as tf.Tensor2D, [index], examples);
  };
}
