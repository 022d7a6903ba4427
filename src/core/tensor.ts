/**
 * Small tensor helpers: a duck-typed tensor check (no `instanceof` across tfjs copies) and row repetition.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { InputError, describeValue } from '../errors.js';

/** True when `x` looks like a tfjs `Tensor` (duck-typed). */
export function isTensor(x: unknown): x is Tensor {
  if (x === null || typeof x !== 'object') return false;
  const t = x as { dataId?: unknown; shape?: unknown; dtype?: unknown };
  return t.dataId !== undefined && Array.isArray(t.shape) && typeof t.dtype === 'string';
}

/** Row `example` of `t` (along the batch axis), repeated `n` times: `[n, ...]`. */
export function repeatRow(t: Tensor, example: number, n: number): Tensor {
  const row = tf.slice(t, [example], [1]);
  return n === 1 ? row : tf.tile(row, [n, ...t.shape.slice(1).map(() => 1)]);
}

/** What {@link checkTensor} requires. */
export interface TensorRequirements {
  /** Accepted ranks. */
  readonly ranks: readonly number[];
  /** The accepted shapes in words, e.g. `'[H, W] or [B, H, W]'`. */
  readonly shapes: string;
  /** How to fix a wrong rank (or a value that is not a tensor). */
  readonly fix: string;
  /** Accept only float32 and int32 (default: any numeric dtype, bool included). */
  readonly floatOrInt?: boolean | undefined;
}

/**
 * The one check of a tensor argument: a live, non-empty, numeric `tf.Tensor` of an accepted rank.
 * Throws an {@link InputError} naming the argument otherwise.
 */
export function checkTensor(fn: string, argument: string, x: unknown, req: TensorRequirements): Tensor {
  if (!isTensor(x)) {
    throw new InputError({ fn, argument, expected: `must be a tf.Tensor of shape ${req.shapes}`, got: describeValue(x), fix: req.fix });
  }
  if (x.isDisposed) {
    throw new InputError({
      fn,
      argument,
      expected: 'must be a live tensor',
      got: 'a disposed tensor',
      fix: 'Do not dispose it before the call (or call outside the tf.tidy that disposed it).',
    });
  }
  if (!req.ranks.includes(x.rank)) {
    throw new InputError({ fn, argument, expected: `must have shape ${req.shapes}`, got: describeValue(x), fix: req.fix });
  }
  const badType = req.floatOrInt === true ? x.dtype !== 'float32' && x.dtype !== 'int32' : x.dtype === 'string' || x.dtype === 'complex64';
  if (badType) {
    throw new InputError({
      fn,
      argument,
      expected: req.floatOrInt === true ? 'must be a float32 or int32 tensor' : 'must be a numeric tensor',
      got: describeValue(x),
      fix: "Cast it first, e.g. tf.cast(x, 'float32').",
    });
  }
  if (x.size === 0) {
    throw new InputError({
      fn,
      argument,
      expected: 'must not be empty',
      got: describeValue(x),
      fix: 'Pass a tensor with at least one pixel (and one example).',
    });
  }
  return x;
}
