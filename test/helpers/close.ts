import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

type Nested = number | Nested[];

function flatten(x: Nested): number[] {
  return Array.isArray(x) ? x.flatMap(flatten) : [x];
}

/** Max absolute difference between a tensor and a nested array (shapes must agree in size). */
export function maxAbsDiff(actual: tf.Tensor | Nested, expected: Nested): number {
  const a = Array.from(actual instanceof tf.Tensor ? actual.dataSync() : flatten(actual));
  const e = flatten(expected);
  expect(a.length).toBe(e.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (e[i] as number)));
  return m;
}

/** Max |x| of a nested array. */
export function maxAbs(x: Nested): number {
  return flatten(x).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

/** Asserts |actual - expected| <= tol * max(|expected|) (relative to the map's scale). */
export function expectCloseRelative(actual: tf.Tensor, expected: Nested, tol: number): void {
  const scale = Math.max(maxAbs(expected), 1e-12);
  expect(maxAbsDiff(actual, expected) / scale).toBeLessThanOrEqual(tol);
}

/** Asserts |actual - expected| <= tol everywhere. */
export function expectCloseAbsolute(actual: tf.Tensor, expected: Nested, tol: number): void {
  expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(tol);
}
