import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import {
  avgPoolSame,
  conv2dForwardGrad,
  conv2dInputGrad,
  depthwiseForwardGrad,
  depthwiseInputGrad,
  globalAveragePool,
  globalMaxPoolFirstMax,
  leadingPad,
  maxPoolFirstMax,
  upsampleBilinear,
  upsampleNearest,
} from '../../src/core/gradops.js';
import { maxAbsDiff } from '../helpers/close.js';
import { onCpu } from '../helpers/reference.js';

type Geo = { h: number; w: number; k: number; s: number; d: number; pad: 'same' | 'valid' };

const geometries: Geo[] = [];
for (const [h, w] of [
  [7, 7],
  [8, 6],
  [9, 10],
] as const) {
  for (const k of [1, 3, 5]) {
    for (const s of [1, 2, 3]) {
      for (const pad of ['same', 'valid'] as const) geometries.push({ h, w, k, s, d: 1, pad });
    }
  }
}
geometries.push({ h: 9, w: 9, k: 3, s: 1, d: 2, pad: 'same' }, { h: 10, w: 8, k: 3, s: 1, d: 2, pad: 'valid' });

const label = (g: Geo): string => `${g.h}x${g.w} k${g.k} s${g.s} d${g.d} ${g.pad}`;

/**
 * tfjs cannot differentiate dilated convolutions at all; the reference uses the equivalent
 * undilated convolution with zeros inserted into the kernel.
 */
function dilateKernel(kernel: tf.Tensor4D, d: number): tf.Tensor4D {
  if (d === 1) return kernel;
  const [kh, kw, ci, co] = kernel.shape;
  const data = kernel.arraySync();
  const out = Array.from({ length: (kh - 1) * d + 1 }, (_, i) =>
    Array.from({ length: (kw - 1) * d + 1 }, (_, j) =>
      i % d === 0 && j % d === 0
        ? ((data[i / d] as number[][][])[j / d] as number[][])
        : Array.from({ length: ci }, () => new Array<number>(co).fill(0)),
    ),
  );
  return tf.tensor4d(out);
}

describe('convolution input gradients as forward convolutions', () => {
  it('computes TensorFlow leading padding for same and valid', () => {
    expect(leadingPad(8, 3, 2, 1, 'same')).toBe(0); // total 1: all at the end
    expect(leadingPad(7, 3, 2, 1, 'same')).toBe(1);
    expect(leadingPad(9, 5, 1, 1, 'same')).toBe(2);
    expect(leadingPad(9, 3, 1, 2, 'same')).toBe(2);
    expect(leadingPad(9, 3, 1, 1, 'valid')).toBe(0);
  });

  it.each(geometries.flatMap((g) => (['conv', 'taps'] as const).map((st) => [`${label(g)} (${st})`, g, st] as const)))(
    'conv2d %s equals the stock input gradient',
    async (_l, g, strategy) => {
      const x = tf.randomNormal([2, g.h, g.w, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const kernel = tf.randomNormal([g.k, g.k, 3, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
      const y = tf.conv2d(x, kernel, g.s, g.pad, 'NHWC', g.d);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
      const geometry = {
        inputShape: x.shape,
        kernelSize: [g.k, g.k] as [number, number],
        strides: [g.s, g.s] as [number, number],
        dilations: [g.d, g.d] as [number, number],
        padding: g.pad,
      };
      const ours = conv2dInputGrad(dy, kernel, geometry, strategy);
      const viaCustom = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(conv2dForwardGrad(t as tf.Tensor4D, kernel, [g.s, g.s], g.pad, [g.d, g.d]), dy)),
      )(x);
      const stock = await onCpu(() =>
        tf.tidy(() =>
          tf
            .grad((t: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(t as tf.Tensor4D, dilateKernel(kernel, g.d), g.s, g.pad), dy)))(x)
            .arraySync(),
        ),
      );
      expect(ours.shape).toEqual(x.shape);
      expect(maxAbsDiff(ours, stock as number[][][][])).toBeLessThan(1e-4);
      expect(maxAbsDiff(viaCustom, stock as number[][][][])).toBeLessThan(1e-4);
      tf.dispose([x, kernel, y, dy, ours, viaCustom]);
    },
  );

  it('picks per-tap products for few positions and wide kernels, one convolution otherwise', async () => {
    // Told apart by the kernels they run: matrix products, or a convolution.
    const pick = async (b: number, hw: number, cin: number, cout: number): Promise<string> => {
      const dy = tf.randomNormal([b, hw, hw, cout], 0, 1, 'float32', 7) as tf.Tensor4D;
      const kernel = tf.randomNormal([3, 3, cin, cout], 0, 1, 'float32', 8) as tf.Tensor4D;
      const geometry = {
        inputShape: [b, hw, hw, cin] as [number, number, number, number],
        kernelSize: [3, 3] as [number, number],
        strides: [1, 1] as [number, number],
        dilations: [1, 1] as [number, number],
        padding: 'same' as const,
      };
      const names = (await tf.profile(() => tf.dispose(conv2dInputGrad(dy, kernel, geometry)))).kernels.map((k) => k.name);
      tf.dispose([dy, kernel]);
      return names.includes('Conv2D') ? 'conv' : names.includes('BatchMatMul') ? 'taps' : 'neither';
    };
    expect(await pick(1, 2, 256, 128)).toBe('taps'); // 2 * 4 * (256 + 128) < 256 * 128
    expect(await pick(2, 8, 16, 8)).toBe('conv');
  });

  it.each(geometries.flatMap((g) => [1, 2].map((m) => [`${label(g)} x${m}`, g, m] as const)))(
    'depthwise %s equals the stock input gradient',
    async (_l, g, m) => {
      const x = tf.randomNormal([2, g.h, g.w, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
      const kernel = tf.randomNormal([g.k, g.k, 3, m], 0, 1, 'float32', 5) as tf.Tensor4D;
      // tfjs depthwise supports dilation only with stride 1.
      if (g.d > 1 && g.s > 1) return;
      const y = tf.depthwiseConv2d(x, kernel, g.s, g.pad, 'NHWC', g.d);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 6) as tf.Tensor4D;
      const ours = depthwiseInputGrad(dy, kernel, {
        inputShape: x.shape,
        kernelSize: [g.k, g.k],
        strides: [g.s, g.s],
        dilations: [g.d, g.d],
        padding: g.pad,
      });
      const viaCustom = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(depthwiseForwardGrad(t as tf.Tensor4D, kernel, [g.s, g.s], g.pad, [g.d, g.d]), dy)),
      )(x);
      const stock = await onCpu(() =>
        tf.tidy(() =>
          tf
            .grad((t: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(t as tf.Tensor4D, dilateKernel(kernel, g.d), g.s, g.pad), dy)))(x)
            .arraySync(),
        ),
      );
      expect(maxAbsDiff(ours, stock as number[][][][])).toBeLessThan(1e-4);
      expect(maxAbsDiff(viaCustom, stock as number[][][][])).toBeLessThan(1e-4);
      tf.dispose([x, kernel, y, dy, ours, viaCustom]);
    },
  );
});

describe("AveragePooling2D with 'same' padding", () => {
  /** Central finite differences of sum(avgPool(x) * w) in float64 arithmetic on the tensor's values. */
  function finiteDifference(x: number[], shape: [number, number, number, number], pool: number, stride: number, w: number[]): number[] {
    const [, h, wd, c] = shape;
    const oh = Math.ceil(h / stride);
    const ow = Math.ceil(wd / stride);
    const padT = Math.floor(Math.max((oh - 1) * stride + pool - h, 0) / 2);
    const padL = Math.floor(Math.max((ow - 1) * stride + pool - wd, 0) / 2);
    // f(x) = sum_o w[o] * mean over the valid cells of window(o): evaluate exactly in float64.
    const f = (v: number[]): number => {
      let total = 0;
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          for (let ch = 0; ch < c; ch++) {
            let s = 0;
            let n = 0;
            for (let a = 0; a < pool; a++) {
              for (let b = 0; b < pool; b++) {
                const r = i * stride - padT + a;
                const q = j * stride - padL + b;
                if (r < 0 || q < 0 || r >= h || q >= wd) continue;
                s += v[(r * wd + q) * c + ch] as number;
                n++;
              }
            }
            total += (w[(i * ow + j) * c + ch] as number) * (s / n);
          }
        }
      }
      return total;
    };
    const eps = 1e-3;
    return x.map((_, k) => {
      const p = x.slice();
      const m = x.slice();
      p[k] = (p[k] as number) + eps;
      m[k] = (m[k] as number) - eps;
      return (f(p) - f(m)) / (2 * eps);
    });
  }

  it.each([
    [3, 1, 5, 5],
    [3, 2, 6, 7],
    [2, 2, 5, 4],
  ])('has the finite-difference input gradient (pool %i, stride %i, %ix%i)', (pool, stride, h, w) => {
    const shape: [number, number, number, number] = [1, h, w, 2];
    const x = tf.randomNormal(shape, 0, 1, 'float32', 7) as tf.Tensor4D;
    const y = tf.avgPool(x, pool, stride, 'same');
    const wt = tf.randomNormal(y.shape, 0, 1, 'float32', 8);
    const xs = Array.from(x.dataSync());
    const fd = finiteDifference(xs, shape, pool, stride, Array.from(wt.dataSync()));
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(avgPoolSame(t as tf.Tensor4D, [pool, pool], [stride, stride]), wt)))(x);
    expect(maxAbsDiff(ours, fd)).toBeLessThan(1e-4);
    // Its forward equals tfjs' avgPool.
    expect(maxAbsDiff(avgPoolSame(x, [pool, pool], [stride, stride]), Array.from(y.dataSync()))).toBeLessThan(1e-6);
    // tfjs' own gradient is wrong at the borders (why tfcam replaces it): it fails the same check.
    const stock = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(t as tf.Tensor4D, pool, stride, 'same'), wt)))(x);
    expect(maxAbsDiff(stock, fd)).toBeGreaterThan(1e-2);
    tf.dispose([x, y, wt, ours, stock]);
  });
});

describe('MaxPooling2D gradient', () => {
  /** First-maximum routing written with plain loops (float64): the PyTorch / TensorFlow rule. */
  function firstMaxGrad(x: number[], shape: number[], k: number, s: number, pad: 'same' | 'valid', dy: number[]): number[] {
    const [, h, w, c] = shape as [number, number, number, number];
    const oh = pad === 'same' ? Math.ceil(h / s) : Math.ceil((h - k + 1) / s);
    const ow = pad === 'same' ? Math.ceil(w / s) : Math.ceil((w - k + 1) / s);
    const top = pad === 'same' ? Math.floor(Math.max((oh - 1) * s + k - h, 0) / 2) : 0;
    const left = pad === 'same' ? Math.floor(Math.max((ow - 1) * s + k - w, 0) / 2) : 0;
    const dx = new Array<number>(x.length).fill(0);
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let at = -1;
          for (let a = 0; a < k; a++) {
            for (let b = 0; b < k; b++) {
              const r = i * s - top + a;
              const q = j * s - left + b;
              if (r < 0 || q < 0 || r >= h || q >= w) continue;
              const v = x[(r * w + q) * c + ch] as number;
              if (v > best) {
                best = v;
                at = (r * w + q) * c + ch;
              }
            }
          }
          dx[at] = (dx[at] as number) + (dy[(i * ow + j) * c + ch] as number);
        }
      }
    }
    return dx;
  }

  it.each([
    [2, 2, 'valid', 6, 6],
    [3, 2, 'valid', 7, 8],
    [3, 1, 'same', 5, 5],
    [3, 2, 'same', 6, 7],
    [3, 2, 'same', 9, 9],
    [3, 3, 'valid', 8, 7],
    [2, 3, 'valid', 8, 8],
    [2, 3, 'same', 7, 8],
    [3, 1, 'valid', 5, 6],
  ] as const)('routes ties to the first maximum (pool %i, stride %i, %s, %ix%i)', (k, s, pad, h, w) => {
    // Many ties: a ReLU of rounded values.
    const x = tf.relu(tf.round(tf.randomNormal([1, h, w, 2], 0, 1, 'float32', 9))) as tf.Tensor4D;
    const y = tf.maxPool(x, k, s, pad);
    const dy = tf.randomUniform(y.shape, 0.5, 1.5, 'float32', 10);
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(maxPoolFirstMax(t as tf.Tensor4D, [k, k], [s, s], pad), dy)))(x);
    const expected = firstMaxGrad(Array.from(x.dataSync()), x.shape, k, s, pad, Array.from(dy.dataSync()));
    expect(maxAbsDiff(ours, expected)).toBeLessThan(1e-6);
    expect(maxAbsDiff(maxPoolFirstMax(x, [k, k], [s, s], pad), Array.from(y.dataSync()))).toBe(0);
    tf.dispose([x, y, dy, ours]);
  });
});

describe('GlobalAveragePooling2D gradient', () => {
  it('equals the stock Mean gradient, with one broadcast', () => {
    const x = tf.randomNormal([2, 5, 3, 4], 0, 1, 'float32', 11) as tf.Tensor4D;
    const dy = tf.randomNormal([2, 4], 0, 1, 'float32', 12);
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(globalAveragePool(t as tf.Tensor4D), dy)))(x);
    const stock = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mean(t, [1, 2]), dy)))(x);
    expect(maxAbsDiff(ours, stock.arraySync() as number[][][][])).toBeLessThan(1e-7);
    expect(maxAbsDiff(globalAveragePool(x), tf.mean(x, [1, 2]).arraySync() as number[][])).toBeLessThan(1e-6);
    tf.dispose([x, dy, ours, stock]);
  });
});

/**
 * The adjoint of a linear map `f` of `[1, h, w, c]` images, by brute force: every unit image is
 * pushed through `f` (one batched call), so `dx[b] = sum_o f(e_i)[o] * dy[b, o]` is exactly the
 * transpose of what `f` computes, whatever its conventions (float64 sums on the host).
 */
function bruteForceAdjoint(f: (x: tf.Tensor4D) => tf.Tensor, inShape: [number, number, number], dy: tf.Tensor): number[] {
  const n = inShape[0] * inShape[1] * inShape[2];
  const columns = tf.tidy(() => f(tf.reshape(tf.eye(n), [n, ...inShape]) as tf.Tensor4D).dataSync());
  const m = columns.length / n;
  const dys = dy.dataSync();
  const batch = dys.length / m;
  const dx: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let o = 0; o < m; o++) s += (columns[i * m + o] as number) * (dys[b * m + o] as number);
      dx.push(s);
    }
  }
  return dx;
}

describe('GlobalMaxPooling2D gradient', () => {
  /** First-maximum routing over the positions of each (example, channel), written with loops. */
  function firstMaxGlobal(x: Float32Array, [b, n, c]: number[], dy: Float32Array): number[] {
    const dx = new Array<number>(x.length).fill(0);
    for (let e = 0; e < (b as number); e++) {
      for (let ch = 0; ch < (c as number); ch++) {
        let at = e * (n as number) * (c as number) + ch;
        for (let p = 0; p < (n as number); p++) {
          const i = (e * (n as number) + p) * (c as number) + ch;
          if ((x[i] as number) > (x[at] as number)) at = i;
        }
        dx[at] = dy[e * (c as number) + ch] as number;
      }
    }
    return dx;
  }

  it.each([
    [2, 5, 7, 3],
    [3, 4, 4, 2],
    [1, 1, 6, 2],
  ])('routes each channel to its first maximum, ties included (%ix%ix%ix%i)', (b, h, w, c) => {
    // Many ties: ReLU of rounded values, plus one constant channel.
    const x = tf.tidy(() => {
      const v = tf.relu(tf.round(tf.randomNormal([b, h, w, c], 0, 1, 'float32', 21)));
      return tf.concat([tf.slice(v, [0, 0, 0, 0], [b, h, w, c - 1]), tf.fill([b, h, w, 1], 0.5)], 3) as tf.Tensor4D;
    });
    const dy = tf.randomUniform([b, c], 0.5, 1.5, 'float32', 22);
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(globalMaxPoolFirstMax(t as tf.Tensor4D), dy)))(x);
    expect(maxAbsDiff(ours, firstMaxGlobal(x.dataSync() as Float32Array, [b, h * w, c], dy.dataSync() as Float32Array))).toBe(0);
    expect(maxAbsDiff(globalMaxPoolFirstMax(x), tf.max(x, [1, 2]).arraySync() as number[][])).toBe(0);
    tf.dispose([x, dy, ours]);
  });

  it('gives GMP(A) and GMP(maxPool(A, 2, stride 1, same)) the same gradient (tfjs gives the second n times too much)', () => {
    const a = tf.randomNormal([2, 5, 6, 3], 0, 1, 'float32', 23) as tf.Tensor4D;
    const dy = tf.randomUniform([2, 3], 0.5, 1.5, 'float32', 24);
    const direct = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(globalMaxPoolFirstMax(t as tf.Tensor4D), dy)))(a);
    const pooled = tf.grad((t: tf.Tensor) =>
      tf.sum(tf.mul(globalMaxPoolFirstMax(maxPoolFirstMax(t as tf.Tensor4D, [2, 2], [1, 1], 'same')), dy)),
    )(a);
    expect(maxAbsDiff(pooled, direct.arraySync() as number[][][][])).toBeLessThan(1e-6);
    // The stock Max gradient sends the full gradient to every copy of the maximum.
    const stock = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.max(maxPoolFirstMax(t as tf.Tensor4D, [2, 2], [1, 1], 'same'), [1, 2]), dy)))(
      a,
    );
    expect(tf.sum(stock).dataSync()[0]).toBeGreaterThan(1.5 * (tf.sum(direct).dataSync()[0] as number));
    tf.dispose([a, dy, direct, pooled, stock]);
  });
});

describe('UpSampling2D gradients', () => {
  const cases = [
    [2, 2, 3, 4],
    [2, 3, 3, 5],
    [3, 1, 4, 3],
    [1, 2, 5, 2],
    [2, 2, 1, 4],
    [3, 2, 2, 1],
  ] as const;

  it.each(cases)("nearest %ix%i on %ix%i, batch 2: forward is tfjs-layers', gradient its exact adjoint", (fh, fw, h, w) => {
    const layer = tfl.layers.upSampling2d({ size: [fh, fw], interpolation: 'nearest' });
    const x = tf.randomNormal([2, h, w, 2], 0, 1, 'float32', 31) as tf.Tensor4D;
    const y = layer.apply(x) as tf.Tensor;
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 32);
    expect(maxAbsDiff(upsampleNearest(x, [fh, fw]), y.arraySync() as number[][][][])).toBe(0);
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(upsampleNearest(t as tf.Tensor4D, [fh, fw]), dy)))(x);
    expect(
      maxAbsDiff(
        ours,
        bruteForceAdjoint((v) => layer.apply(v) as tf.Tensor, [h, w, 2], dy),
      ),
    ).toBeLessThan(1e-5);
    tf.dispose([x, y, dy, ours]);
  });

  it.each(cases)("bilinear %ix%i on %ix%i, batch 2: forward is tfjs-layers', gradient its exact adjoint", (fh, fw, h, w) => {
    const layer = tfl.layers.upSampling2d({ size: [fh, fw], interpolation: 'bilinear' });
    const x = tf.randomNormal([2, h, w, 2], 0, 1, 'float32', 33) as tf.Tensor4D;
    const y = layer.apply(x) as tf.Tensor;
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 34);
    expect(maxAbsDiff(upsampleBilinear(x, [fh, fw]), y.arraySync() as number[][][][])).toBe(0);
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(upsampleBilinear(t as tf.Tensor4D, [fh, fw]), dy)))(x);
    expect(
      maxAbsDiff(
        ours,
        bruteForceAdjoint((v) => layer.apply(v) as tf.Tensor, [h, w, 2], dy),
      ),
    ).toBeLessThan(1e-5);
    tf.dispose([x, y, dy, ours]);
  });

  it.runIf(process.env['TFCAM_BACKEND'] === 'cpu')(
    'replaces tfjs-backend-cpu gradients that are wrong (nearest, batch 2) or throw (bilinear, non-square)',
    () => {
      const x = tf.randomNormal([2, 3, 4, 2], 0, 1, 'float32', 35) as tf.Tensor4D;
      const dy = tf.randomNormal([2, 6, 8, 2], 0, 1, 'float32', 36);
      const stock = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeNearestNeighbor(t as tf.Tensor4D, [6, 8]), dy)))(x);
      const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(upsampleNearest(t as tf.Tensor4D, [2, 2]), dy)))(x);
      // Example 0 agrees; example 1 gets another example's gradient.
      expect(maxAbsDiff(tf.slice(stock, [0], [1]), tf.slice(ours, [0], [1]).arraySync() as number[][][][])).toBeLessThan(1e-5);
      expect(maxAbsDiff(tf.slice(stock, [1], [1]), tf.slice(ours, [1], [1]).arraySync() as number[][][][])).toBeGreaterThan(0.1);
      expect(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(t as tf.Tensor4D, [6, 8]), dy)))(x)).toThrow(/shape/);
      tf.dispose([x, dy, stock, ours]);
    },
  );
});
