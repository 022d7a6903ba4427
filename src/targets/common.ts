/**
 * What the target builders share: checks of their arguments (before any tensor exists), per-example
 * values picked by the rows' example indices, and constant masks under the gradient tape.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { unaryCustomGrad } from '../core/gradops.js';
import { TargetError, describeValue } from '../errors.js';

/** A value for the whole batch, or one per example (an array indexed by example). */
export type PerExample<T> = T | readonly T[];

/** Throws a {@link TargetError} from a builder. */
export function targetError(fn: string, argument: string, expected: string, got: unknown, fix: string): never {
  throw new TargetError({ fn, argument, expected, got: typeof got === 'string' ? got : describeValue(got), fix });
}

/** Checks a class index (or one per example) and returns them as an array (length 1 for one). */
export function classIndices(fn: string, argument: string, value: unknown): { values: number[]; perExample: boolean } {
  const ok = (c: unknown): c is number => typeof c === 'number' && Number.isInteger(c) && c >= 0;
  if (ok(value)) return { values: [value], perExample: false };
  if (Array.isArray(value) && value.length > 0 && value.every(ok)) return { values: [...(value as number[])], perExample: true };
  return targetError(
    fn,
    argument,
    'must be a non-negative integer class index, or a non-empty array of them (one per example)',
    value,
    'For example 3, or [3, 7] for a batch of two.',
  );
}

/**
 * `values[examples]` as a `[rows, ...]` constant: `table` is `[n, ...]` (one row per example, or one
 * row for the whole batch, which every example uses).
 */
export function rowsOf(table: tf.Tensor, examples: tf.Tensor1D): tf.Tensor {
  const n = examples.shape[0];
  if (table.shape[0] === 1) return tf.tile(table, [n, ...table.shape.slice(1).map(() => 1)]);
  return tf.gather(table, examples);
}

/** `x` as a constant under the tape: its value, with a zero gradient (no path through it). */
export function constant<T extends tf.Tensor>(x: T, f: (x: tf.Tensor) => tf.Tensor): T {
  const op = unaryCustomGrad((input: tf.Tensor) => ({ value: f(input), gradFunc: () => tf.zerosLike(input) }));
  return op(x) as T;
}

/** The output as `[rows, classes]`, or a {@link TargetError} naming the builder. */
export function classScores(fn: string, output: tf.Tensor): tf.Tensor2D {
  if (output.rank !== 2) {
    targetError(
      fn,
      'output',
      'must be [batch, classes] for a class target',
      `an output of shape [${output.shape.join(', ')}]`,
      'Pick a classification output with outputIndex, or use a target for this kind of output.',
    );
  }
  return output as tf.Tensor2D;
}

/** Checks class indices against the number of classes of the output (static shape). */
export function checkClasses(fn: string, argument: string, classes: readonly number[], numClasses: number): void {
  const bad = classes.find((c) => c >= numClasses);
  if (bad !== undefined) {
    targetError(
      fn,
      argument,
      `must be class indices in [0, ${numClasses - 1}] (the output has ${numClasses} classes)`,
      String(bad),
      'Use a class index the model outputs.',
    );
  }
}

/** `[rows, depth]` float32 one-hot rows of int32 `indices` (zero rows for out-of-range indices). */
export function oneHot(indices: tf.Tensor, depth: number): tf.Tensor2D {
  return tf.tidy(
    () =>
      tf.cast(
        tf.equal(tf.reshape(tf.range(0, depth, 1, 'int32'), [1, depth]), tf.reshape(tf.cast(indices, 'int32'), [-1, 1])),
        'float32',
      ) as tf.Tensor2D,
  );
}

/** The class index of each row, `[rows]` int32, from one index or one per example. */
export function classOfRows(classes: readonly number[], examples: tf.Tensor1D): tf.Tensor1D {
  return rowsOf(tf.tensor1d([...classes], 'int32'), examples) as tf.Tensor1D;
}
