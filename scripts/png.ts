/**
 * A minimal PNG encoder (8-bit RGB or grayscale, no interlace) on Node's zlib: enough for the demo
 * and examples to write images without an image dependency.
 */
import { deflateSync, inflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const body = Buffer.concat([head.subarray(4), Buffer.from(data)]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body), 0);
  return Buffer.concat([head.subarray(0, 4), body, crc]);
}

/**
 * Encodes `pixels` (row-major, `channels` bytes per pixel, values 0..255) as a PNG file.
 * @param channels - 1 (gray) or 3 (RGB)
 */
export function encodePng(pixels: ArrayLike<number>, width: number, height: number, channels: 1 | 3): Buffer {
  if (pixels.length !== width * height * channels) {
    throw new Error(`encodePng: expected ${width * height * channels} values, got ${pixels.length}`);
  }
  const stride = width * channels;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    for (let i = 0; i < stride; i++) {
      const v = Math.round(Number(pixels[y * stride + i]));
      raw[y * (stride + 1) + 1 + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 3 ? 2 : 0; // colour type
  ihdr[10] = 0;
  ihdr[11] = 0;
  ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** A decoded image: 8-bit RGB pixels, row-major. */
export interface DecodedImage {
  width: number;
  height: number;
  /** `width * height * 3` bytes, RGB (alpha dropped, gray and palette expanded). */
  rgb: Uint8Array;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * Decodes a non-interlaced PNG with 8-bit samples (gray, gray+alpha, RGB, RGBA) or an 8-bit palette.
 * Throws a plain Error naming what is unsupported (16-bit, interlaced, < 8-bit gray).
 */
export function decodePng(file: Uint8Array): DecodedImage {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!sig.every((b, i) => file[i] === b)) throw new Error('not a PNG file (bad signature)');
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let pos = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let colorType = 0;
  let interlace = 0;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  while (pos + 8 <= file.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...file.subarray(pos + 4, pos + 8));
    const data = file.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      depth = data[8] as number;
      colorType = data[9] as number;
      interlace = data[12] as number;
    } else if (type === 'PLTE') {
      palette = data;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    pos += 12 + len;
  }
  if (depth !== 8) throw new Error(`unsupported PNG: bit depth ${depth} (only 8-bit images are supported)`);
  if (interlace !== 0) throw new Error('unsupported PNG: interlaced');
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  if (channels === undefined) throw new Error(`unsupported PNG colour type ${colorType}`);
  if (colorType === 3 && palette === null) throw new Error('PNG palette image without PLTE chunk');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    for (let i = 0; i < stride; i++) {
      const x = raw[src + i] as number;
      const a = i >= channels ? (pixels[row + i - channels] as number) : 0;
      const b = y > 0 ? (pixels[row - stride + i] as number) : 0;
      const c = y > 0 && i >= channels ? (pixels[row - stride + i - channels] as number) : 0;
      let v: number;
      switch (filter) {
        case 0: v = x; break;
        case 1: v = x + a; break;
        case 2: v = x + b; break;
        case 3: v = x + ((a + b) >> 1); break;
        case 4: v = x + paeth(a, b, c); break;
        default: throw new Error(`bad PNG filter type ${filter}`);
      }
      pixels[row + i] = v & 0xff;
    }
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    if (colorType === 3) {
      const idx = (pixels[p] as number) * 3;
      rgb.set((palette as Uint8Array).subarray(idx, idx + 3), p * 3);
    } else if (channels <= 2) {
      const g = pixels[p * channels] as number;
      rgb[p * 3] = g;
      rgb[p * 3 + 1] = g;
      rgb[p * 3 + 2] = g;
    } else {
      rgb.set(pixels.subarray(p * channels, p * channels + 3), p * 3);
    }
  }
  return { width, height, rgb };
}
