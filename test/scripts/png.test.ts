import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodePng, encodePng } from '../../scripts/png.js';

describe('the demo PNG codec', () => {
  it('round-trips RGB and gray images', () => {
    const w = 5;
    const h = 3;
    const rgb = Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
    const back = decodePng(encodePng(rgb, w, h, 3));
    expect([back.width, back.height]).toEqual([w, h]);
    expect(Array.from(back.rgb)).toEqual(rgb);
    const gray = Array.from({ length: w * h }, (_, i) => i * 10);
    const g = decodePng(encodePng(gray, w, h, 1));
    expect(Array.from(g.rgb)).toEqual(gray.flatMap((v) => [v, v, v]));
  });

  it('undoes every PNG row filter (Sub, Up, Average, Paeth) on an RGBA image', () => {
    // Build an RGBA PNG by hand, one filter per row, and check the decoder recovers the pixels.
    const w = 3;
    const h = 5;
    const px = Array.from({ length: h }, (_, y) => Array.from({ length: w * 4 }, (_, i) => (y * 50 + i * 23) % 256));
    const paeth = (a: number, b: number, c: number): number => {
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    };
    const raw: number[] = [];
    px.forEach((row, y) => {
      const f = y % 5;
      raw.push(f);
      row.forEach((v, i) => {
        const a = i >= 4 ? (row[i - 4] as number) : 0;
        const b = y > 0 ? ((px[y - 1] as number[])[i] as number) : 0;
        const c = y > 0 && i >= 4 ? ((px[y - 1] as number[])[i - 4] as number) : 0;
        const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f] as number;
        raw.push((v - pred + 256) % 256);
      });
    });
    const png = encodePng(new Array(w * h * 3).fill(0), w, h, 3);
    // Swap in our IHDR (RGBA) and IDAT: rebuild the file around the hand-filtered data.
    const chunk = (type: string, data: Buffer): Buffer => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      return Buffer.concat([len, Buffer.from(type), data, Buffer.alloc(4)]);
    };
    const ihdr = Buffer.from(png.subarray(16, 29));
    ihdr[9] = 6;
    const file = Buffer.concat([png.subarray(0, 8), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.from(raw))), chunk('IEND', Buffer.alloc(0))]);
    const out = decodePng(file);
    const expected = px.flatMap((row) => row.filter((_, i) => i % 4 !== 3));
    expect(Array.from(out.rgb)).toEqual(expected);
  });

  it('names what it cannot decode', () => {
    expect(() => decodePng(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(/not a PNG file/);
  });
});
