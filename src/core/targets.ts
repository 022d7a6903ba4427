/**
 * The `target` option: which score per example is explained.
 *
 * Scores are picked with a one-hot product, not `tf.gather`: gather's gradient needs
 * `UnsortedSegmentSum`, which the wasm backend lacks.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { TargetError, describeValue } from '../errors.js';
import { unaryCustomGrad } from './gradops.js';

/** A checked target. */
export type NormalizedTarget =
  | { kind: 'argmax' }
  | { kind: 'indices'; indices: number[] }
  | { kind: 'function'; fn: (output: tf.Tensor) => tf.Tensor };

/** Checks the `target` option against the batch size and the number of classes (if known). */
export function normalizeTarget(
  fn: string,
  target: unknown,
  batchSize: number,
  numClasses: number | null,
): NormalizedTarget {
  if (target === undefined) return { kind: 'argmax' };
  if (typeof target === 'function') return { kind: 'function', fn: target as (o: tf.Tensor) => tf.Tensor };
  let indices: unknown[];
  if (typeof target === 'number') {
    indices = new Array<number>(batchSize).fill(target);
  } else if (Array.isArray(target) || ArrayBuffer.isView(target)) {
    indices = Array.from(target as ArrayLike<unknown>);
    if (indices.length !== batchSize) {
      throw new TargetError({
        fn,
        argument: 'target',
        expected: `must have one class index per example (${batchSize})`,
        got: `${indices.length} indices`,
        fix: 'Pass one index for the whole batch, or exactly one per example.',
      });
    }
  } else {
    throw new TargetError({
      fn,
      argument: 'target',
      expected: 'must be a class index, an array of class indices, or a function (output) => Tensor1D',
      got: describeValue(target),
      fix: 'For example target: 3, or target: [3, 7] for a batch of two.',
    });
  }
  indices.forEach((c) => checkIndex(fn, c, numClasses));
  return { kind: 'indices', indices: indices as number[] };
}

function checkIndex(fn: string, c: unknown, numClasses: number | null): void {
  if (typeof c !== 'number' || !Number.isInteger(c)) {
    throw new TargetError({
      fn,
      argument: 'target',
      expected: 'must hold integer class indices',
      got: describeValue(c),
      fix: 'Round or look up the class index (e.g. the arg-max of model.predict).',
    });
  }
  if (c < 0 || (numClasses !== null && c >= numClasses)) {
    throw new TargetError({
      fn,
      argument: 'target',
      expected:
        numClasses !== null
          ? `must be a class index in [0, ${numClasses - 1}] (the output has ${numClasses} classes)`
          : 'must be a non-negative class index',
      got: String(c),
      fix: 'Use a class index the model outputs.',
    });
  }
}

/** Per-example scores and class indices picked from the model output. */
export interface PickedScores {
  scores: tf.Tensor1D;
  classIndex: tf.Tensor1D;
}

/**
 * Picks the explained score of each example from `output` ([B, classes], or anything for a target
 * function). Runs under the gradient tape.
 */
export function pickScores(fn: string, target: NormalizedTarget, output: tf.Tensor, batchSize: number): PickedScores {
  if (target.kind === 'function') {
    const s = target.fn(output);
    if (s == null || typeof s !== 'object' || !Array.isArray((s as tf.Tensor).shape)) {
      throw new TargetError({
        fn,
        argument: 'target',
        expected: `as a function must return a Tensor1D of ${batchSize} scores`,
        got: describeValue(s),
        fix: 'Return one score per example, e.g. (out) => tf.sum(tf.slice(out, [0, 2], [-1, 2]), 1).',
      });
    }
    if (s.rank !== 1 || s.shape[0] !== batchSize) {
      throw new TargetError({
        fn,
        argument: 'target',
        expected: `as a function must return a Tensor1D of ${batchSize} scores (one per example)`,
        got: describeValue(s),
        fix: 'Reduce the output to one score per example, e.g. with tf.sum(x, axis) over non-batch axes.',
      });
    }
    return {
      scores: (s.dtype === 'float32' ? s : tf.cast(s, 'float32')) as tf.Tensor1D,
      classIndex: tf.fill([batchSize], -1, 'int32') as tf.Tensor1D,
    };
  }
  if (output.rank !== 2) {
    throw new TargetError({
      fn,
      argument: 'target',
      expected: 'must be a function when the model output is not [batch, classes]',
      got: `${target.kind === 'argmax' ? 'no target' : 'class indices'} for an output of shape [${output.shape.join(', ')}]`,
      fix: 'Pass target: (output) => Tensor1D giving one score per example.',
    });
  }
  const numClasses = output.shape[1] as number;
  let classIndex: tf.Tensor1D;
  let mask: tf.Tensor2D;
  if (target.kind === 'argmax') {
    classIndex = tf.argMax(output, 1) as tf.Tensor1D;
    mask = argMaxMask(output as tf.Tensor2D);
  } else {
    target.indices.forEach((c) => checkIndex(fn, c, numClasses));
    classIndex = tf.tensor1d(target.indices, 'int32');
    mask = oneHotMask(classIndex, numClasses);
  }
  const scores = tf.sum(tf.mul(output, mask), 1) as tf.Tensor1D;
  return { scores, classIndex };
}

/**
 * The one-hot mask of each row's arg-max, as a constant for differentiation: under the tape, the
 * comparison ops that build it have no gradient, so the whole mask is one custom op with a zero
 * gradient (the score's gradient flows through the product with the output, not the mask).
 */
function argMaxMask(output: tf.Tensor2D): tf.Tensor2D {
  const op = unaryCustomGrad((out: tf.Tensor) => ({
    value: oneHotMask(tf.argMax(out, 1), out.shape[1] as number),
    gradFunc: () => tf.zeros(output.shape),
  }));
  return op(output) as tf.Tensor2D;
}

/**
 * `[n, depth]` float32 one-hot rows for int32 `indices` (`[n]`). Written with `equal` on a range:
 * `tf.oneHot` refuses depth 1 (single-output models) and its dtype argument is ignored by the wasm
 * kernel; `tf.gather` would not be differentiable on wasm.
 */
export function oneHotMask(indices: tf.Tensor, depth: number): tf.Tensor2D {
  return tf.tidy(() => {
    const range = tf.reshape(tf.range(0, depth, 1, 'int32'), [1, depth]);
    const idx = tf.reshape(tf.cast(indices, 'int32'), [-1, 1]);
    return tf.cast(tf.equal(range, idx), 'float32') as tf.Tensor2D;
  });
}
