/**
 * The classifier's gradients at a last conv block, in the forms that are fast on wasm: the Dense
 * input gradient as `(W . dy^T)^T` and the global-average-pooling gradient as a product with ones
 * (where Tile is slow). Same values as tfjs' own gradients, on every backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { denseForwardGrad, globalAveragePool } from '../../src/core/gradops.js';

async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = await Promise.all([a.data(), b.data()]);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs((x[i] as number) - (y[i] as number)));
  return m;
}

describe('head products', () => {
  it.each([
    [1, 64, 10],
    [3, 128, 7],
    [8, 33, 1],
  ])('denseForwardGrad: value and input gradient equal tfjs matMul for [%i, %i] x [%i, ...]', async (b, k, n) => {
    const x = tf.randomNormal([b, k], 0, 1, 'float32', 1) as tf.Tensor2D;
    const w = tf.randomNormal([k, n], 0, 1, 'float32', 2) as tf.Tensor2D;
    const up = tf.randomNormal([b, n], 0, 1, 'float32', 3);
    const f = (g: (a: tf.Tensor2D) => tf.Tensor) => tf.valueAndGrad((a: tf.Tensor) => tf.sum(tf.mul(g(a as tf.Tensor2D), up)));
    const mine = f((a) => denseForwardGrad(a, w))(x);
    const stock = f((a) => tf.matMul(a, w))(x);
    expect(await maxAbsDiff(mine.value, stock.value)).toBeLessThan(1e-5);
    expect(await maxAbsDiff(mine.grad, stock.grad)).toBeLessThan(1e-5);
    const before = tf.memory().numTensors;
    tf.dispose(tf.tidy(() => tf.grad((a: tf.Tensor) => tf.sum(denseForwardGrad(a as tf.Tensor2D, w)))(x)));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w, up, mine.value, mine.grad, stock.value, stock.grad]);
  });

  it.each([
    [1, 7, 7, 16],
    [2, 3, 5, 4],
  ])('globalAveragePool: gradient equals tfjs mean for [%i, %i, %i, %i]', async (b, h, w, c) => {
    const x = tf.randomNormal([b, h, w, c], 0, 1, 'float32', 4) as tf.Tensor4D;
    const up = tf.randomNormal([b, c], 0, 1, 'float32', 5);
    const g = (pool: (a: tf.Tensor4D) => tf.Tensor) => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(pool(a as tf.Tensor4D), up)));
    const mine = g(globalAveragePool)(x);
    const stock = g((a) => tf.mean(a, [1, 2]))(x);
    expect(await maxAbsDiff(mine, stock)).toBeLessThan(1e-7);
    tf.dispose([x, up, mine, stock]);
  });
});
