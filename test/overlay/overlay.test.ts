import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError, OptionError } from '../../src/errors.js';
import { COLORMAPS } from '../../src/overlay/colormaps.js';
import type { ColormapName } from '../../src/overlay/colormaps.js';
import { applyColormap, overlay } from '../../src/overlay/overlay.js';

const f32 = Math.fround;

/** Runs `f`, disposes what it returns, and asserts that no tensor was left behind. */
function expectNoLeak(f: () => tf.TensorContainer): void {
  const before = tf.memory().numTensors;
  tf.dispose(f());
  expect(tf.memory().numTensors).toBe(before);
}

/** Asserts that `f` throws `cls` with a message matching `re`, leaking no tensor. */
function expectThrowNoLeak(f: () => unknown, cls: typeof InputError | typeof OptionError, re: RegExp): void {
  const before = tf.memory().numTensors;
  expect(f).toThrow(cls);
  expect(f).toThrow(re);
  expect(tf.memory().numTensors).toBe(before);
}

const flat = (t: tf.Tensor): number[] => Array.from(t.dataSync());

/** pytorch-grad-cam's LUT index, `np.uint8(255 * mask)` on a float32 mask (clamped here). */
const level = (v: number): number => Math.min(255, Math.max(0, Math.trunc(f32(255 * f32(v)))));

/**
 * show_cam_on_image(img, mask, use_rgb=True, colormap, image_weight=1-alpha), restated in plain JS
 * with float32 rounding after every operation. `levels` is an [H][W][3] image in 0..255.
 */
function showCam(levels: number[][][], mask: number[][], table: ColormapName, alpha: number): number[] {
  const wHeat = f32(alpha);
  const wImg = f32(1 - alpha);
  const cam: number[] = [];
  levels.forEach((row, y) =>
    row.forEach((px, x) => {
      const rgb = COLORMAPS[table][level(mask[y]?.[x] as number)] as readonly number[];
      for (let c = 0; c < 3; c++) {
        const heat = f32((rgb[c] as number) / 255);
        const img = f32((px[c] as number) / 255);
        cam.push(f32(f32(wHeat * heat) + f32(wImg * img)));
      }
    }),
  );
  const peak = Math.max(...cam);
  return cam.map((v) => Math.trunc(f32(255 * f32(v / peak))));
}

const maxDiff = (a: number[], b: number[]): number => {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);
};

describe('applyColormap', () => {
  it('maps a ramp through the table with truncating 8-bit levels', () => {
    const values = Array.from({ length: 512 }, (_, i) => i / 511);
    values.push(-0.5, 1.5, Number.NaN, 0.99999994, 128 / 255);
    const heat = tf.tensor2d(values, [1, values.length]);
    for (const name of ['jet', 'turbo', 'viridis', 'gray'] as const) {
      const out = applyColormap(heat, name);
      expect(out.shape).toEqual([1, values.length, 3]);
      expect(out.dtype).toBe('float32');
      const expected = values.flatMap((v) => {
        const i = Number.isNaN(v) ? 0 : level(v);
        return (COLORMAPS[name][i] as readonly number[]).map((c) => f32(c / 255));
      });
      expect(maxDiff(flat(out), expected)).toBeLessThanOrEqual(1e-7);
      out.dispose();
    }
    // Ends: 0 -> jet[0] = (0, 0, 128), 1 -> jet[255] = (128, 0, 0); 0.99999994 -> level 254.
    const ends = applyColormap(tf.tensor2d([[0, 1, 0.99999994]]));
    expect(flat(ends).map((v) => Math.round(v * 255))).toEqual([0, 0, 128, 128, 0, 0, 132, 0, 0]);
    tf.dispose([heat, ends]);
  });

  it('colours batches and accepts user tables (arrays and tensors)', () => {
    const heat = tf.tensor3d([[[0, 0.5]], [[1, 0.25]]]); // [2, 1, 2]
    const reversedGray = Array.from({ length: 256 }, (_, i) => [255 - i, 255 - i, 255 - i]);
    const out = applyColormap(heat, reversedGray);
    expect(out.shape).toEqual([2, 1, 2, 3]);
    const lv = [0, 127, 255, 63];
    expect(
      maxDiff(
        flat(out),
        lv.flatMap((l) => [1, 1, 1].map(() => f32((255 - l) / 255))),
      ),
    ).toBeLessThanOrEqual(1e-7);
    const tableTensor = tf.tensor2d(reversedGray, [256, 3], 'int32');
    const out2 = applyColormap(heat, tableTensor);
    expect(flat(out2)).toEqual(flat(out));
    expect(tableTensor.isDisposed).toBe(false);
    expect(heat.isDisposed).toBe(false);
    tf.dispose([heat, out, out2, tableTensor]);
  });

  it('leaks nothing', () => {
    const heat = tf.randomUniform([3, 4, 5]);
    const table = tf.tensor2d(COLORMAPS.magma.flat(), [256, 3]);
    expectNoLeak(() => applyColormap(heat));
    expectNoLeak(() => applyColormap(heat, 'plasma'));
    expectNoLeak(() => applyColormap(heat, table));
    const binary = tf.tidy(() => tf.cast(tf.greater(heat, 0.5), 'int32')) as tf.Tensor3D;
    expectNoLeak(() => applyColormap(binary));
    tf.dispose([heat, table, binary]);
  });

  it('rejects bad arguments with typed errors', () => {
    const heat = tf.zeros([2, 2]);
    const disposed = tf.zeros([2, 2]);
    disposed.dispose();
    const rank1 = tf.zeros([4]);
    const boolMap = tf.zeros([2, 2], 'bool');
    const empty = tf.zeros([0, 2]);
    const wrongTable = tf.zeros([255, 3]);
    const call = applyColormap as (...args: unknown[]) => unknown;
    expectThrowNoLeak(
      () => call([[0, 1]]),
      InputError,
      /^applyColormap: 'heatmap' must be a tf\.Tensor of shape \[H, W\] or \[B, H, W\], but got an array of length 1\./,
    );
    expectThrowNoLeak(() => call(disposed), InputError, /'heatmap' must be a live tensor, but got a disposed tensor/);
    expectThrowNoLeak(
      () => call(rank1),
      InputError,
      /'heatmap' must have shape \[H, W\] or \[B, H, W\], but got a float32 tensor of shape \[4\]/,
    );
    expectThrowNoLeak(() => call(boolMap), InputError, /'heatmap' must be a float32 or int32 tensor, but got a bool tensor/);
    expectThrowNoLeak(() => call(empty), InputError, /'heatmap' must not be empty/);
    expectThrowNoLeak(
      () => call(heat, 'hot'),
      OptionError,
      /^applyColormap: 'colormap' must be a colormap name \('jet', 'turbo', 'viridis', 'inferno', 'magma', 'plasma', 'gray'\) or a table of 256 \[r, g, b\] rows in 0\.\.255, but got 'hot'\. Use one of/,
    );
    expectThrowNoLeak(() => call(heat, 'COLORMAP_JET'), OptionError, /but got 'COLORMAP_JET'\. Did you mean 'jet'\?/);
    expectThrowNoLeak(
      () => call(heat, [[0, 0, 0]]),
      OptionError,
      /'colormap' must be .*, but got an array of length 1\. Pass exactly 256 rows/,
    );
    const badRow = Array.from({ length: 256 }, () => [0, 0, 0]);
    badRow[7] = [0, 300, 0];
    expectThrowNoLeak(() => call(heat, badRow), OptionError, /but got row 7 = \[0, 300, 0\]\. Every row must be/);
    const unit = COLORMAPS.viridis.map((row) => row.map((c) => c / 255));
    expectThrowNoLeak(() => call(heat, unit), OptionError, /but got a table with every value in \[0, 1\]\. Tables are in 0\.\.255/);
    expectThrowNoLeak(() => call(heat, wrongTable), OptionError, /but got a float32 tensor of shape \[255, 3\]\. Pass a \[256, 3\] tensor/);
    expectThrowNoLeak(() => call(heat, 7), OptionError, /'colormap' must be .*, but got 7\./);
    tf.dispose([heat, rank1, boolMap, empty, wrongTable]);
  });
});

interface OracleCase {
  name: string;
  colormap: ColormapName;
  alpha: number;
  image: number[][][];
  mask: number[][];
  expected: number[][][];
}

const oracle = JSON.parse(readFileSync(new URL('./fixtures/show-cam-oracle.json', import.meta.url), 'utf8')) as { cases: OracleCase[] };

describe('overlay', () => {
  it('equals a hand computation of show_cam_on_image on a tiny image', () => {
    const levels = [
      [
        [255, 0, 0],
        [10, 200, 30],
      ],
      [
        [0, 0, 0],
        [128, 128, 128],
      ],
    ];
    const mask = [
      [0, 0.25],
      [0.5, 1],
    ];
    const image = tf.tensor3d(levels, [2, 2, 3], 'int32');
    const heat = tf.tensor2d(mask);
    for (const alpha of [0.5, 0.3, 1, 0]) {
      const out = overlay(image, heat, { alpha });
      expect(out.shape).toEqual([2, 2, 3]);
      expect(out.dtype).toBe('int32');
      expect(flat(out)).toEqual(showCam(levels, mask, 'jet', alpha));
      out.dispose();
    }
    // Spelled out for alpha 0.5. Pixel (0, 1): mask 0.25 -> level 63 -> jet (0, 124, 255), image
    // (10, 200, 30): green 0.5 * 124/255 + 0.5 * 200/255 = 324/510 is the image's maximum. Pixel
    // (0, 0): mask 0 -> jet (0, 0, 128), image (255, 0, 0): cam = (0.5, 0, 128/510), divided by
    // 324/510 -> (255/324, 0, 128/324) -> trunc(255 * .) = (200, 0, 100); pixel (0, 1) itself:
    // (10/510, 324/510, 270/510) / (324/510) -> (7, 255, 224).
    const out = overlay(image, heat);
    expect(flat(out).slice(0, 6)).toEqual([200, 0, 100, 7, 255, 224]);
    tf.dispose([image, heat, out]);
  });

  it.each(oracle.cases.map((c) => [c.name, c] as const))(
    'matches pytorch-grad-cam show_cam_on_image (OpenCV) within one level: %s',
    (_name, c) => {
      const image = tf.tensor3d(c.image, undefined, 'int32');
      const mask = tf.tensor2d(c.mask);
      const out = overlay(image, mask, { colormap: c.colormap, alpha: c.alpha });
      expect(out.shape).toEqual([c.image.length, c.image[0]?.length, 3]);
      expect(maxDiff(flat(out), c.expected.flat(2))).toBeLessThanOrEqual(1);
      // Same size: the same float32 arithmetic, so every level should be equal.
      if (!c.name.includes('resized')) expect(flat(out)).toEqual(c.expected.flat(2));
      tf.dispose([image, mask, out]);
    },
  );

  it('resizes a smaller heatmap bilinearly with half-pixel centres', () => {
    const image = tf.tidy(() => tf.cast(tf.mul(tf.randomUniform([4, 4, 3]), 255), 'int32'));
    const small = [
      [0, 1],
      [0.25, 0.75],
    ];
    // 2 -> 4 with half-pixel centres samples at -0.25, 0.25, 0.75, 1.25 (clamped at the borders).
    const w = [
      [1, 0],
      [0.75, 0.25],
      [0.25, 0.75],
      [0, 1],
    ] as const;
    const big = w.map(([ya, yb]) =>
      w.map(([xa, xb]) => {
        const s = small as [[number, number], [number, number]];
        return ya * (xa * s[0][0] + xb * s[0][1]) + yb * (xa * s[1][0] + xb * s[1][1]);
      }),
    );
    const smallT = tf.tensor2d(small);
    const bigT = tf.tensor2d(big);
    const viaResize = overlay(image, smallT);
    const direct = overlay(image, bigT);
    expect(viaResize.shape).toEqual([4, 4, 3]);
    expect(maxDiff(flat(viaResize), flat(direct))).toBeLessThanOrEqual(1);
    // A batch of small heatmaps over one image.
    const batch = tf.stack([smallT, tf.sub(1, smallT)]) as tf.Tensor3D;
    const both = overlay(image, batch);
    expect(both.shape).toEqual([2, 4, 4, 3]);
    expect(flat(both).slice(0, 48)).toEqual(flat(viaResize));
    tf.dispose([image, smallT, bigT, viaResize, direct, batch, both]);
  });

  it('handles batches: per-image maximum, and broadcasting of a single image or heatmap', () => {
    const levelsA = [
      [
        [255, 255, 255],
        [0, 0, 0],
      ],
    ];
    const levelsB = [
      [
        [10, 20, 30],
        [40, 50, 60],
      ],
    ]; // dark: its own maximum brightens it
    const maskA = [[0.2, 0.9]];
    const maskB = [[0.6, 0.1]];
    const images = tf.tensor4d([levelsA, levelsB], [2, 1, 2, 3], 'int32');
    const masks = tf.tensor3d([maskA, maskB]);
    const out = overlay(images, masks, { alpha: 0.4 });
    expect(out.shape).toEqual([2, 1, 2, 3]);
    expect(out.dtype).toBe('int32');
    expect(flat(out)).toEqual([...showCam(levelsA, maskA, 'jet', 0.4), ...showCam(levelsB, maskB, 'jet', 0.4)]);

    // One image, two heatmaps: each heatmap over the same image.
    const one = tf.tensor3d(levelsB, [1, 2, 3], 'int32');
    const out2 = overlay(one, masks, { colormap: 'viridis' });
    expect(out2.shape).toEqual([2, 1, 2, 3]);
    expect(flat(out2)).toEqual([...showCam(levelsB, maskA, 'viridis', 0.5), ...showCam(levelsB, maskB, 'viridis', 0.5)]);

    // Two images, one heatmap.
    const mask2d = tf.tensor2d(maskB);
    const out3 = overlay(images, mask2d, { colormap: 'turbo' });
    expect(flat(out3)).toEqual([...showCam(levelsA, maskB, 'turbo', 0.5), ...showCam(levelsB, maskB, 'turbo', 0.5)]);

    // A batch of one broadcasts against a batch of two.
    const mask1 = tf.tensor3d([maskB]);
    const out4 = overlay(images, mask1, { colormap: 'turbo' });
    expect(flat(out4)).toEqual(flat(out3));
    tf.dispose([images, masks, out, one, out2, mask2d, out3, mask1, out4]);
  });

  it('honours imageRange, rescale and float images', () => {
    const levels = [
      [
        [200, 100, 50],
        [0, 30, 60],
      ],
    ];
    const mask = [[0.3, 0.8]];
    const ints = tf.tensor3d(levels, undefined, 'int32');
    const floats255 = tf.tensor3d(levels, undefined, 'float32');
    const unit = tf.tidy(() => tf.div(floats255, 255));
    const heat = tf.tensor2d(mask);
    const ref = overlay(ints, heat);
    const a = overlay(floats255, heat, { imageRange: '0-255' });
    const b = overlay(unit, heat); // float32 defaults to '0-1'
    expect(flat(a)).toEqual(flat(ref));
    expect(flat(b)).toEqual(flat(ref));
    // rescale: false keeps trunc(255 * (alpha * heat + (1 - alpha) * img)).
    const plain = overlay(ints, heat, { rescale: false, alpha: 0.25 });
    const expected = levels[0]!.flatMap((px, x) => {
      const rgb = COLORMAPS.jet[level(mask[0]![x]!)]!;
      return px.map((v, c) => Math.trunc(f32(255 * f32(f32(f32(0.25) * f32(rgb[c]! / 255)) + f32(f32(0.75) * f32(v / 255))))));
    });
    expect(flat(plain)).toEqual(expected);
    // A black image under a zero-weight heatmap stays black (pytorch-grad-cam would divide 0 by 0).
    const black = tf.zeros([1, 2, 3], 'int32');
    const dark = overlay(black, heat, { alpha: 0 });
    expect(flat(dark)).toEqual([0, 0, 0, 0, 0, 0]);
    tf.dispose([black, dark]);
    // validate: false skips the range check (the caller vouches for the range).
    const unchecked = overlay(floats255, heat, { validate: false });
    expect(unchecked.shape).toEqual([1, 2, 3]);
    tf.dispose([ints, floats255, unit, heat, ref, a, b, plain, unchecked]);
  });

  it('never disposes its inputs and leaks nothing', () => {
    const image = tf.tidy(() => tf.cast(tf.mul(tf.randomUniform([2, 6, 5, 3]), 255), 'int32'));
    const small = tf.randomUniform([2, 3, 2]);
    const single = tf.randomUniform([6, 5]);
    const table = tf.tensor2d(COLORMAPS.inferno.flat(), [256, 3], 'int32');
    expectNoLeak(() => overlay(image, small));
    expectNoLeak(() => overlay(image, single, { colormap: table, alpha: 0.2, rescale: false }));
    const first = tf.tidy(() => tf.squeeze(tf.slice(image, [0], [1]), [0])) as tf.Tensor3D;
    expectNoLeak(() => overlay(first, small));
    expectNoLeak(() => overlay(image, small, { validate: false, colormap: 'gray' }));
    for (const t of [image, small, single, table, first]) expect(t.isDisposed).toBe(false);
    tf.dispose([image, small, single, table, first]);
  });

  it('rejects bad arguments with typed errors and leaks nothing', () => {
    const image = tf.zeros([2, 2, 3], 'int32');
    const batch = tf.zeros([3, 2, 2, 3], 'int32');
    const heat = tf.zeros([2, 2]);
    const heats2 = tf.zeros([2, 2, 2]);
    const rgba = tf.zeros([2, 2, 4], 'int32');
    const gray = tf.zeros([2, 2, 1], 'int32');
    const rank2 = tf.zeros([2, 3]);
    const heat4 = tf.zeros([1, 2, 2, 1]);
    const boolImage = tf.zeros([2, 2, 3], 'bool');
    const float255 = tf.fill([2, 2, 3], 200);
    const negative = tf.fill([2, 2, 3], -1);
    const nan = tf.fill([2, 2, 3], Number.NaN);
    const over255 = tf.tensor3d(
      [
        [
          [0, 0, 0],
          [256, 1, 2],
        ],
      ],
      undefined,
      'int32',
    );
    const disposed = tf.zeros([2, 2, 3]);
    disposed.dispose();
    const call = overlay as (...args: unknown[]) => unknown;

    expectThrowNoLeak(
      () => call('img', heat),
      InputError,
      /^overlay: 'image' must be a tf\.Tensor of shape \[H, W, 3\] or \[B, H, W, 3\], but got 'img'\./,
    );
    expectThrowNoLeak(() => call(disposed, heat), InputError, /^overlay: 'image' must be a live tensor, but got a disposed tensor\./);
    expectThrowNoLeak(
      () => call(rank2, heat),
      InputError,
      /'image' must have shape \[H, W, 3\] or \[B, H, W, 3\], but got a float32 tensor of shape \[2, 3\]/,
    );
    expectThrowNoLeak(() => call(boolImage, heat), InputError, /'image' must be a float32 or int32 tensor, but got a bool tensor/);
    expectThrowNoLeak(
      () => call(rgba, heat),
      InputError,
      /'image' must have 3 channels \(RGB\) on its last axis, but got an? int32 tensor of shape \[2, 2, 4\]\. Drop the alpha channel/,
    );
    expectThrowNoLeak(() => call(gray, heat), InputError, /'image' must have 3 channels .* Repeat the gray channel/);
    expectThrowNoLeak(
      () => call(image, null),
      InputError,
      /^overlay: 'heatmap' must be a tf\.Tensor of shape \[H, W\] or \[B, H, W\], but got null\./,
    );
    expectThrowNoLeak(
      () => call(image, heat4),
      InputError,
      /'heatmap' must have shape \[H, W\] or \[B, H, W\], but got a float32 tensor of shape \[1, 2, 2, 1\]\. Drop a trailing channel axis/,
    );
    expectThrowNoLeak(
      () => call(batch, heats2),
      InputError,
      /^overlay: 'heatmap' must have the image's batch size \(3\), or 1, or no batch axis, but got a float32 tensor of shape \[2, 2, 2\]\./,
    );

    expectThrowNoLeak(() => call(image, heat, 'jet'), OptionError, /^overlay: 'options' must be an object, but got 'jet'\./);
    expectThrowNoLeak(
      () => call(image, heat, { colourmap: 'jet' }),
      OptionError,
      /^overlay: 'options\.colourmap' is not a known option, but got 'jet'\. Did you mean 'colormap'\?/,
    );
    expectThrowNoLeak(
      () => call(image, heat, { colormap: 'rainbow' }),
      OptionError,
      /^overlay: 'options\.colormap' must be a colormap name .*, but got 'rainbow'\./,
    );
    expectThrowNoLeak(
      () => call(image, heat, { colormap: [[1, 2, 3]] }),
      OptionError,
      /'options\.colormap' must be .*, but got an array of length 1\./,
    );
    expectThrowNoLeak(
      () => call(image, heat, { alpha: 1.5 }),
      OptionError,
      /^overlay: 'options\.alpha' must be a number in \[0, 1\] \(the heatmap's weight\), but got 1\.5\. .*alpha = 1 - w/,
    );
    expectThrowNoLeak(() => call(image, heat, { alpha: -0.1 }), OptionError, /'options\.alpha' must be a number in \[0, 1\]/);
    expectThrowNoLeak(
      () => call(image, heat, { alpha: Number.NaN }),
      OptionError,
      /'options\.alpha' must be a number in \[0, 1\].*but got NaN/,
    );
    expectThrowNoLeak(
      () => call(image, heat, { alpha: '0.5' }),
      OptionError,
      /'options\.alpha' must be a number in \[0, 1\].*but got '0\.5'/,
    );
    expectThrowNoLeak(
      () => call(image, heat, { imageRange: '0-256' }),
      OptionError,
      /^overlay: 'options\.imageRange' must be '0-255' or '0-1', but got '0-256'\. Omit it for the default \('0-255' for an int32 image, '0-1' for a float32 one\)\./,
    );
    expectThrowNoLeak(() => call(image, heat, { rescale: 1 }), OptionError, /'options\.rescale' must be true or false, but got 1\./);
    expectThrowNoLeak(() => call(image, heat, { validate: 'yes' }), OptionError, /'options\.validate' must be true or false/);

    expectThrowNoLeak(
      () => call(float255, heat),
      InputError,
      /^overlay: 'image' must hold values in \[0, 1\] \(imageRange '0-1'\), but got values in \[200, 200\]\. This looks like a 0\.\.255 image: pass imageRange: '0-255'/,
    );
    expectThrowNoLeak(
      () => call(negative, heat),
      InputError,
      /'image' must hold values in \[0, 1\] \(imageRange '0-1'\), but got values in \[-1, -1\]\. Rescale or clip/,
    );
    expectThrowNoLeak(
      () => call(nan, heat),
      InputError,
      /'image' must hold values in \[0, 1\] \(imageRange '0-1'\), but got a tensor containing NaN or Infinity/,
    );
    expectThrowNoLeak(() => call(over255, heat), InputError, /values in \[0, 256\]\. Rescale or clip/);

    tf.dispose([image, batch, heat, heats2, rgba, gray, rank2, heat4, boolImage, float255, negative, nan, over255]);
  });
});
