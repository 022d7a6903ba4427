/**
 * `encodePng` for scripts/shapes/train.ts, which writes the sample images of examples/images: a thin
 * wrapper over pngjs (the hand-written codec that was here is gone). New code calls pngjs directly,
 * as scripts/demo.ts and examples/node do; this file goes once train.ts does the same.
 */
import { PNG } from 'pngjs';

/**
 * Encodes `pixels` (row-major, `channels` values per pixel, rounded and clamped to 0..255) as an
 * 8-bit PNG file.
 * @param channels - 1 (gray) or 3 (RGB)
 */
export function encodePng(pixels: ArrayLike<number>, width: number, height: number, channels: 1 | 3): Buffer {
  if (pixels.length !== width * height * channels) {
    throw new Error(`encodePng: expected ${width * height * channels} values, got ${pixels.length}`);
  }
  const png = new PNG({ width, height });
  png.data = Buffer.from(Uint8ClampedArray.from(pixels).buffer);
  const colorType = channels === 3 ? 2 : 0;
  return PNG.sync.write(png, { colorType, inputColorType: colorType });
}
