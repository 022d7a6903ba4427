/**
 * Duck-typed tensor check (no `instanceof` across tfjs copies).
 *
 * @internal
 * @module
 */
import type { Tensor } from '@tensorflow/tfjs-core';

/** True when `x` looks like a tfjs `Tensor` (duck-typed). */
export function isTensor(x: unknown): x is Tensor {
  if (x === null || typeof x !== 'object') return false;
  const t = x as { dataId?: unknown; shape?: unknown; dtype?: unknown };
  return t.dataId !== undefined && Array.isArray(t.shape) && typeof t.dtype === 'string';
}
