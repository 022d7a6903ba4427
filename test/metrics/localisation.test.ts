import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { InputError, OptionError } from '../../src/errors.js';
import { centerPrior, energyInBox, pointingGame } from '../../src/metrics/index.js';
import { expectThrowsClean } from '../helpers/integrity.js';

/** Runs fn, returns its tensor's values, and checks that only the returned tensor survived. */
function values(fn: () => tf.Tensor): number[] {
  const before = tf.memory().numTensors;
  const t = fn();
  expect(tf.memory().numTensors).toBe(before + 1);
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
}

const box = (b: number, h: number, w: number, y0: number, x0: number, y1: number, x1: number): tf.Tensor3D =>
  tf.tidy(() => {
    const data = new Float32Array(b * h * w);
    for (let n = 0; n < b; n++) for (let i = y0; i < y1; i++) for (let j = x0; j < x1; j++) data[(n * h + i) * w + j] = 1;
    return tf.tensor3d(data, [b, h, w]);
  });

describe('energyInBox', () => {
  it('is 1 for a map that is exactly the box', () => {
    const map = box(1, 4, 5, 1, 1, 3, 4);
    expect(values(() => energyInBox(map, [[1, 1, 3, 4]]))).toEqual([1]);
    map.dispose();
  });

  it('is the area fraction for a uniform map (6 of 20 pixels)', () => {
    const map = tf.ones([4, 5]);
    const [e] = values(() => energyInBox(map, [0, 0, 2, 3]));
    expect(e).toBeCloseTo(0.3, 6);
    map.dispose();
  });

  it('sums the map inside the box over the map total, with half-open boxes', () => {
    const map = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    expect(values(() => energyInBox(map, [0, 0, 1, 2]))[0]).toBeCloseTo(3 / 10, 6); // row 0
    expect(values(() => energyInBox(map, [0, 1, 2, 2]))[0]).toBeCloseTo(6 / 10, 6); // column 1
    expect(values(() => energyInBox(map, [1, 1, 1, 2]))[0]).toBe(0); // empty box
    map.dispose();
  });

  it('counts a pixel when its centre is inside a fractional box', () => {
    const map = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    // centres 0.5 and 1.5: [0.6, 1.6) holds row 1 only; [0, 0.4) holds no column.
    expect(values(() => energyInBox(map, [0.6, 0, 1.6, 2]))[0]).toBeCloseTo(7 / 10, 6);
    expect(values(() => energyInBox(map, [0, 0, 2, 0.4]))[0]).toBe(0);
    map.dispose();
  });

  it('clips negative values to zero and gives 0 (not NaN) for an all-zero map', () => {
    const map = tf.tensor3d([
      [
        [-1, 1],
        [1, 0],
      ],
      [
        [0, 0],
        [0, 0],
      ],
    ]);
    expect(
      values(() =>
        energyInBox(map, [
          [0, 0, 1, 1],
          [0, 0, 2, 2],
        ]),
      ),
    ).toEqual([0, 0]);
    map.dispose();
  });

  it('merges several boxes of one example without counting overlaps twice', () => {
    const map = tf.ones([1, 4, 4]);
    const [e] = values(() =>
      energyInBox(map, [
        [
          [0, 0, 2, 2],
          [1, 1, 3, 3],
        ],
      ]),
    );
    expect(e).toBeCloseTo(7 / 16, 6);
    map.dispose();
  });

  it('accepts box tensors [B, 4] and masks [B, H, W] (values > 0 are the object)', () => {
    const map = tf.tensor3d([
      [
        [1, 2],
        [3, 4],
      ],
      [
        [4, 3],
        [2, 1],
      ],
    ]);
    const boxes = tf.tensor2d([
      [0, 0, 1, 2],
      [1, 0, 2, 2],
    ]);
    const fromBoxes = values(() => energyInBox(map, boxes));
    expect(fromBoxes[0]).toBeCloseTo(0.3, 6);
    expect(fromBoxes[1]).toBeCloseTo(0.3, 6);
    const mask = tf.tensor3d(
      [
        [
          [0, 5],
          [0, 0],
        ],
        [
          [1, 0],
          [0, 1],
        ],
      ],
      undefined,
      'int32',
    );
    const fromMask = values(() => energyInBox(map, mask));
    expect(fromMask[0]).toBeCloseTo(0.2, 6);
    expect(fromMask[1]).toBeCloseTo(0.5, 6);
    const boolMask = tf.tensor2d(
      [
        [true, false],
        [false, false],
      ],
      undefined,
      'bool',
    );
    const single = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    expect(values(() => energyInBox(single, boolMask))[0]).toBeCloseTo(0.1, 6);
    tf.dispose([map, boxes, mask, boolMask, single]);
  });

  it('returns a scalar for one map and [B] for a batch', () => {
    const one = tf.ones([3, 3]);
    const batch = tf.ones([2, 3, 3]);
    const a = energyInBox(one, [0, 0, 1, 1]);
    const b = energyInBox(batch, [
      [0, 0, 1, 1],
      [0, 0, 3, 3],
    ]);
    expect(a.shape).toEqual([]);
    expect(b.shape).toEqual([2]);
    tf.dispose([one, batch, a, b]);
  });

  it('rejects maps, regions and boxes that do not fit, leaking nothing', () => {
    const map = tf.ones([2, 3, 3]);
    const flat = tf.ones([4]);
    expectThrowsClean(
      () => energyInBox(flat, [0, 0, 1, 1]),
      InputError,
      /^energyInBox: 'heatmap' must have shape \[H, W\] or \[B, H, W\], but got a float32 tensor of shape \[4\]\./,
    );
    expectThrowsClean(
      () => energyInBox(map, [[0, 0, 1, 1]]),
      InputError,
      /^energyInBox: 'regions' must hold one box \(or an array of boxes\) per map \(2\), a box tensor \[2, 4\] or a mask tensor \[2, 3, 3\], but got an array of length 1\./,
    );
    expectThrowsClean(
      () =>
        energyInBox(map, [
          [0, 0, 1, 1],
          [2, 0, 1, 1],
        ]),
      InputError,
      /^energyInBox: 'regions\[1\]' must be a box \[y0, x0, y1, x1\] of finite pixel coordinates with y1 >= y0 and x1 >= x0, but got \[2, 0, 1, 1\]\. Boxes are/,
    );
    expectThrowsClean(
      () => energyInBox(map, [[0, 0, 1, 1], [[0, 0, 1, NaN]]]),
      InputError,
      /^energyInBox: 'regions\[1\]\[0\]' must be a box/,
    );
    expectThrowsClean(
      () => energyInBox(map, [[0, 0, 1, 1], 'box' as never]),
      InputError,
      /^energyInBox: 'regions\[1\]' must be a box \[y0, x0, y1, x1\] or an array of boxes, but got 'box'\./,
    );
    const badMask = tf.ones([2, 3, 4]);
    expectThrowsClean(
      () => energyInBox(map, badMask),
      InputError,
      /^energyInBox: 'regions' as a tensor must be a mask of the map's shape \[2, 3, 3\] or boxes \[2, 4\], but got a float32 tensor of shape \[2, 3, 4\]\./,
    );
    expectThrowsClean(
      () => energyInBox([1, 2] as never, [0, 0, 1, 1]),
      InputError,
      /^energyInBox: 'heatmap' must be a tf\.Tensor of shape \[H, W\] or \[B, H, W\], but got \[1, 2\]\./,
    );
    const dead = tf.ones([2, 2]);
    dead.dispose();
    expectThrowsClean(
      () => energyInBox(dead, [0, 0, 1, 1]),
      InputError,
      /^energyInBox: 'heatmap' must be a live tensor, but got a disposed tensor\./,
    );
    tf.dispose([map, flat, badMask]);
  });
});

describe('pointingGame', () => {
  it('scores 1 when the maximum is in the box and 0 otherwise', () => {
    const map = tf.tensor3d([
      [
        [0, 0, 0],
        [0, 1, 0],
        [0, 0, 0],
      ],
      [
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 2],
      ],
    ]);
    expect(
      values(() =>
        pointingGame(map, [
          [1, 1, 2, 2],
          [0, 0, 2, 2],
        ]),
      ),
    ).toEqual([1, 0]);
    map.dispose();
  });

  it('uses the first maximum in row-major order; a constant map points at its top-left pixel', () => {
    const ties = tf.tensor2d([
      [0, 1, 0],
      [1, 0, 0],
      [0, 0, 0],
    ]);
    expect(values(() => pointingGame(ties, [0, 1, 1, 2]))).toEqual([1]);
    expect(values(() => pointingGame(ties, [1, 0, 2, 1]))).toEqual([0]);
    const flat = tf.zeros([3, 3]);
    expect(values(() => pointingGame(flat, [0, 0, 1, 1]))).toEqual([1]);
    expect(values(() => pointingGame(flat, [1, 1, 3, 3]))).toEqual([0]);
    tf.dispose([ties, flat]);
  });

  it('counts hits within the Euclidean tolerance of the object', () => {
    const map = tf.tidy(() => tf.reshape(tf.oneHot(tf.tensor1d([0], 'int32'), 36), [6, 6])); // max at (0, 0)
    // Box rows 3..5, columns 4..5: nearest pixel (3, 4), distance 5.
    expect(values(() => pointingGame(map, [3, 4, 6, 6], { tolerance: 4.99 }))).toEqual([0]);
    expect(values(() => pointingGame(map, [3, 4, 6, 6], { tolerance: 5 }))).toEqual([1]);
    // Box at column 3 only: distance 3 straight along the row.
    expect(values(() => pointingGame(map, [0, 3, 1, 4], { tolerance: 3 }))).toEqual([1]);
    expect(values(() => pointingGame(map, [0, 3, 1, 4], { tolerance: 2.5 }))).toEqual([0]);
    map.dispose();
  });

  it('accepts masks and several boxes per example', () => {
    const map = tf.tensor3d([
      [
        [0, 0],
        [0, 3],
      ],
      [
        [5, 0],
        [0, 0],
      ],
    ]);
    const mask = tf.tensor3d([
      [
        [0, 0],
        [0, 1],
      ],
      [
        [0, 1],
        [1, 1],
      ],
    ]);
    expect(values(() => pointingGame(map, mask))).toEqual([1, 0]);
    expect(
      values(() =>
        pointingGame(map, [
          [],
          [
            [1, 1, 2, 2],
            [0, 0, 1, 1],
          ],
        ]),
      ),
    ).toEqual([0, 1]);
    tf.dispose([map, mask]);
  });

  it('rejects a negative tolerance and unknown options', () => {
    const map = tf.ones([2, 2]);
    expectThrowsClean(
      () => pointingGame(map, [0, 0, 1, 1], { tolerance: -1 }),
      OptionError,
      /^pointingGame: 'options\.tolerance' must be a finite number >= 0, but got -1\. Omit it for the default \(0\)\.$/,
    );
    expectThrowsClean(
      () => pointingGame(map, [0, 0, 1, 1], { tolerence: 2 } as never),
      OptionError,
      /^pointingGame: 'options\.tolerence' is not a known option, but got 2\. Did you mean 'tolerance'\?/,
    );
    const three = tf.ones([3]);
    expectThrowsClean(
      () => pointingGame(map, three),
      InputError,
      /^pointingGame: 'regions' as a tensor must be a mask of the map's shape \[2, 2\] or one box \[4\], but got a float32 tensor of shape \[3\]\./,
    );
    tf.dispose([map, three]);
  });
});

describe('centerPrior', () => {
  it('is a unit-peak Gaussian centred on the map', () => {
    const v = values(() => centerPrior(3, 3, { sigma: 1 }));
    const e1 = Math.exp(-0.5);
    const e2 = Math.exp(-1);
    const expected = [e2, e1, e2, e1, 1, e1, e2, e1, e2];
    v.forEach((x, i) => expect(x).toBeCloseTo(expected[i] as number, 6));
  });

  it('points at the top-left pixel of the central block for even sizes, in batches', () => {
    const prior = centerPrior(4, 6, { batch: 2 });
    expect(prior.shape).toEqual([2, 4, 6]);
    expect(
      values(() =>
        pointingGame(prior, [
          [1, 2, 2, 3],
          [1, 3, 2, 4],
        ]),
      ),
    ).toEqual([1, 0]);
    prior.dispose();
  });

  it('rejects bad sizes and options', () => {
    expectThrowsClean(() => centerPrior(0, 3), OptionError, /^centerPrior: 'height' must be a positive integer, but got 0\./);
    expectThrowsClean(() => centerPrior(3, 2.5), OptionError, /^centerPrior: 'width' must be a positive integer, but got 2\.5\./);
    expectThrowsClean(
      () => centerPrior(3, 3, { batch: 0 }),
      OptionError,
      /^centerPrior: 'options\.batch' must be a positive integer, but got 0\./,
    );
    expectThrowsClean(
      () => centerPrior(3, 3, { sigma: 0 }),
      OptionError,
      /^centerPrior: 'options\.sigma' must be a finite number > 0, but got 0\./,
    );
  });
});
