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
import type { OptionSpec } from './options.js';

/**
 * A target function: one score per row of the model output. `examples` (int32, one per row) says
 * which example of the caller's batch each row belongs to (rows are copies of one example when a
 * method re-scores modified inputs or activations), for targets with per-example data.
 */
export type TargetFunction = (output: tf.Tensor, examples: tf.Tensor1D) => tf.Tensor;

/** The `target` option after its structural check (before the batch size is known). */
export type TargetOption =
  | { kind: 'argmax' }
  | { kind: 'indices'; indices: number | readonly number[] }
  | { kind: 'function'; fn: TargetFunction };

/** A target checked against the batch and the output: what the runner scores. */
export type NormalizedTarget = { kind: 'argmax' } | { kind: 'indices'; indices: number[] } | { kind: 'function'; fn: TargetFunction };

/** The `target` option's spec: a class index, an array of them, or a function. */
export const targetOption: OptionSpec<TargetOption> = {
  accepts: 'a class index, an array of class indices, or a function (output) => Tensor1D',
  default: { kind: 'argmax' },
  check(value, ctx) {
    if (typeof value === 'function') return { kind: 'function', fn: value as TargetFunction };
    // Integers here; their range once the number of classes is known (resolveTarget).
    if (typeof value === 'number') {
      checkInteger(ctx.fn, value);
      return { kind: 'indices', indices: value };
    }
    if (Array.isArray(value) || ArrayBuffer.isView(value)) {
      const indices = Array.from(value as ArrayLike<unknown>);
      indices.forEach((c) => checkInteger(ctx.fn, c));
      return { kind: 'indices', indices: indices as number[] };
    }
    throw new TargetError({
      fn: ctx.fn,
      argument: 'target',
      expected: 'must be a class index, an array of class indices, or a function (output) => Tensor1D',
      got: describeValue(value),
      fix: 'For example target: 3, or target: [3, 7] for a batch of two.',
    });
  },
};

/** Checks the target against the batch size and the number of classes (if known). Makes no tensor. */
export function resolveTarget(fn: string, target: TargetOption, batchSize: number, numClasses: number | null): NormalizedTarget {
  if (target.kind !== 'indices') return target;
  const indices = typeof target.indices === 'number' ? new Array<number>(batchSize).fill(target.indices) : [...target.indices];
  if (indices.length !== batchSize) {
    throw new TargetError({
      fn,
      argument: 'target',
      expected: `must have one class index per example (${batchSize})`,
      got: `${indices.length} indices`,
      fix: 'Pass one index for the whole batch, or exactly one per example.',
    });
  }
  indices.forEach((c) => checkIndex(fn, c, numClasses));
  return { kind: 'indices', indices };
}

function checkInteger(fn: string, c: unknown): void {
  if (typeof c !== 'number' || !Number.isInteger(c)) {
    throw new TargetError({
      fn,
      argument: 'target',
      expected: 'must hold integer class indices',
      got: describeValue(c),
      fix: 'Round or look up the class index (e.g. the arg-max of model.predict).',
    });
  }
}

function checkIndex(fn: string, c: unknown, numClasses: number | null): void {
  checkInteger(fn, c);
  if ((c as number) < 0 || (numClasses !== null && (c as number) >= numClasses)) {
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

/** Static number of classes of an output shape, or null when it is not `[batch, classes]`. */
export function numClassesOf(shape: ReadonlyArray<number | null>): number | null {
  return shape.length === 2 && typeof shape[1] === 'number' ? shape[1] : null;
}

/** Per-example scores and class indices picked from the model output. */
export interface PickedScores {
  scores: tf.Tensor1D;
  classIndex: tf.Tensor1D;
}

/** Calls a target function and checks that it returned one float score per row. */
function callTarget(fn: string, target: TargetFunction, output: tf.Tensor, rows: number, examples: tf.Tensor1D): tf.Tensor1D {
  const s = target(output, examples);
  if (s == null || typeof s !== 'object' || !Array.isArray((s as tf.Tensor).shape) || s.rank !== 1 || s.shape[0] !== rows) {
    throw new TargetError({
      fn,
      argument: 'target',
      expected: `as a function must return a Tensor1D of ${rows} scores (one per example)`,
      got: describeValue(s),
      fix: 'Reduce the output to one score per example, e.g. (out) => tf.sum(tf.slice(out, [0, 2], [-1, 2]), 1).',
    });
  }
  return (s.dtype === 'float32' ? s : tf.cast(s, 'float32')) as tf.Tensor1D;
}

function requireClasses(fn: string, target: NormalizedTarget, output: tf.Tensor): void {
  if (output.rank === 2) return;
  throw new TargetError({
    fn,
    argument: 'target',
    expected: 'must be a function when the model output is not [batch, classes]',
    got: `${target.kind === 'argmax' ? 'no target' : 'class indices'} for an output of shape [${output.shape.join(', ')}]`,
    fix: 'Pass target: (output) => Tensor1D giving one score per example.',
  });
}

/**
 * Picks the explained score of each example from `output` (`[B, classes]`, or anything for a target
 * function). Runs under the gradient tape.
 */
export function pickScores(fn: string, target: NormalizedTarget, output: tf.Tensor, batchSize: number): PickedScores {
  if (target.kind === 'function') {
    const examples = tf.range(0, batchSize, 1, 'int32') as tf.Tensor1D;
    return { scores: callTarget(fn, target.fn, output, batchSize, examples), classIndex: tf.fill([batchSize], -1, 'int32') as tf.Tensor1D };
  }
  requireClasses(fn, target, output);
  const numClasses = output.shape[1] as number;
  if (target.kind === 'argmax') {
    return {
      scores: tf.sum(tf.mul(output, argMaxMask(output as tf.Tensor2D)), 1) as tf.Tensor1D,
      classIndex: tf.argMax(output, 1) as tf.Tensor1D,
    };
  }
  target.indices.forEach((c) => checkIndex(fn, c, numClasses));
  const classIndex = tf.tensor1d(target.indices, 'int32');
  return { scores: pickColumn(output as tf.Tensor2D, classIndex), classIndex };
}

/**
 * The scores of rows of `output` that all belong to example `example`, whose explained class is
 * `classIndex` (a `[1]` int32 tensor; ignored for target functions): `[n]`. Forward only.
 */
export function scoreRows(fn: string, target: NormalizedTarget, output: tf.Tensor, classIndex: tf.Tensor, example = 0): tf.Tensor1D {
  const n = output.shape[0] as number;
  if (target.kind === 'function') return callTarget(fn, target.fn, output, n, tf.fill([n], example, 'int32') as tf.Tensor1D);
  requireClasses(fn, target, output);
  return pickColumn(output as tf.Tensor2D, tf.tile(tf.reshape(classIndex, [1]), [n]) as tf.Tensor1D);
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
 * kernel; `tf.gather` would not be differentiable on wasm. An out-of-range index gives a zero row.
 */
export function oneHotMask(indices: tf.Tensor, depth: number): tf.Tensor2D {
  return tf.tidy(() => {
    const range = tf.reshape(tf.range(0, depth, 1, 'int32'), [1, depth]);
    const idx = tf.reshape(tf.cast(indices, 'int32'), [-1, 1]);
    return tf.cast(tf.equal(range, idx), 'float32') as tf.Tensor2D;
  });
}

/** `x[i, index[i]]` for `[n, m]` and `[n]` indices, as a one-hot product (0 for an out-of-range index). */
export function pickColumn(x: tf.Tensor2D, index: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(x, oneHotMask(index, x.shape[1])), 1) as tf.Tensor1D);
}
