import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { encodePng } from '../../scripts/png.js';

// scripts/png.ts wraps pngjs for scripts/shapes/train.ts: what it writes, pngjs reads back.
describe('encodePng (pngjs wrapper of the training script)', () => {
  it('writes 8-bit RGB and gray PNGs, rounding and clamping', () => {
    const w = 5;
    const h = 3;
    const rgb = Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
    const back = PNG.sync.read(encodePng(rgb, w, h, 3));
    expect([back.width, back.height, back.colorType, back.depth]).toEqual([w, h, 2, 8]);
    expect(Array.from(back.data).filter((_, i) => i % 4 !== 3)).toEqual(rgb);
    const gray = Array.from({ length: w * h }, (_, i) => i * 20 - 10.4);
    const g = PNG.sync.read(encodePng(gray, w, h, 1));
    expect(g.colorType).toBe(0);
    expect(Array.from(g.data).filter((_, i) => i % 4 === 0)).toEqual(gray.map((v) => Math.min(255, Math.max(0, Math.round(v)))));
  });

  it('names a size mismatch', () => {
    expect(() => encodePng([1, 2, 3], 2, 2, 3)).toThrow(/expected 12 values, got 3/);
  });
});
