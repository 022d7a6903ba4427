/**
 * A seeded synthetic localisation data set: one coloured shape (circle, square, triangle, cross or
 * star) at a random position, size, rotation and colour on a cluttered background (a colour gradient,
 * pixel noise, random line segments and dots). Every image comes with its class, the shape's bounding
 * box and its pixel mask, so explanations can be scored against where the evidence really is.
 *
 * Pure JavaScript (no tensors): the same seed gives the same bytes on every machine and backend.
 *
 *   import { generateShapes } from './dataset.js';
 *   const data = generateShapes(100, 1);   // images [100, 64, 64, 3] in [0, 1], labels, boxes, masks
 */

/** The classes, in label order. */
export const SHAPE_CLASSES = ['circle', 'square', 'triangle', 'cross', 'star'] as const;
export type ShapeClass = (typeof SHAPE_CLASSES)[number];

/**
 * Seeds of the fixed splits. Training draws fresh images every epoch from other seeds
 * (`TRAIN_SEED + seed * 100000 + epoch * 1000 + chunk`), so none of these images is trained on.
 */
export const SPLIT_SEEDS = { train: 1_000_000, validation: 900_001, eval: 800_001, samples: 700_001 } as const;

/** Image side in pixels. */
export const IMAGE_SIZE = 64;

/** A box `[y0, x0, y1, x1]` in pixels, bottom/right exclusive (tfcam's `Box` convention). */
export type PixelBox = [number, number, number, number];

/** A generated data set (row-major, channels last). */
export interface ShapesData {
  count: number;
  size: number;
  /** `count * size * size * 3` RGB values in [0, 1]. */
  images: Float32Array;
  /** Class index per image. */
  labels: Int32Array;
  /** Tight bounding box of the shape's mask per image. */
  boxes: PixelBox[];
  /** `count * size * size` 0/1: pixels at least half covered by the shape. */
  masks: Uint8Array;
}

/** Options of {@link generateShapes}. */
export interface ShapesOptions {
  /** Image side (default 64). */
  size?: number;
  /** Shape size range in pixels, as the diameter of its circumscribed circle (default [18, 30]). */
  shapeSize?: [number, number];
  /** Number of clutter line segments (default 4..8) and dots (default 6..12) per image. */
  clutter?: boolean;
  /** Per-pixel Gaussian noise standard deviation (default 0.04). */
  noise?: number;
}

/** mulberry32: a small, fast, seeded PRNG with good statistical quality for this purpose. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
type Rgb = [number, number, number];

const uniform = (rng: Rng, lo: number, hi: number): number => lo + (hi - lo) * rng();
const randInt = (rng: Rng, lo: number, hiExclusive: number): number => Math.floor(uniform(rng, lo, hiExclusive));

function gauss(rng: Rng): number {
  // Box-Muller.
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

function hsv(h: number, s: number, v: number): Rgb {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  switch (i % 6) {
    case 0:
      return [v, t, p];
    case 1:
      return [q, v, p];
    case 2:
      return [p, v, t];
    case 3:
      return [p, q, v];
    case 4:
      return [t, p, v];
    default:
      return [v, p, q];
  }
}

/** Point-in-polygon by ray casting (any simple polygon, convex or not). */
function inPolygon(x: number, y: number, poly: ReadonlyArray<readonly [number, number]>): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i] as readonly [number, number];
    const [xj, yj] = poly[j] as readonly [number, number];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** An inside test for shape `cls` centred at (cx, cy) with circumradius r, rotated by theta. */
function shapeTest(cls: ShapeClass, cx: number, cy: number, r: number, theta: number): (x: number, y: number) => boolean {
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  // Shape-local coordinates (u right, v down) of an image point.
  const local = (x: number, y: number): [number, number] => {
    const dx = x - cx;
    const dy = y - cy;
    return [dx * cos + dy * sin, -dx * sin + dy * cos];
  };
  const polygon = (n: number, radii: number[], offset: number): Array<[number, number]> =>
    Array.from({ length: n }, (_, k) => {
      const a = offset + (2 * Math.PI * k) / n;
      const rr = radii[k % radii.length] as number;
      return [rr * Math.cos(a), rr * Math.sin(a)];
    });
  switch (cls) {
    case 'circle':
      return (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= (0.85 * r) ** 2;
    case 'square': {
      const h = 0.68 * r; // half side: the corners reach 0.96 r
      return (x, y) => {
        const [u, v] = local(x, y);
        return Math.abs(u) <= h && Math.abs(v) <= h;
      };
    }
    case 'triangle': {
      const poly = polygon(3, [r], -Math.PI / 2);
      return (x, y) => inPolygon(...local(x, y), poly);
    }
    case 'cross': {
      const arm = 0.92 * r;
      const half = 0.28 * r;
      return (x, y) => {
        const [u, v] = local(x, y);
        const au = Math.abs(u);
        const av = Math.abs(v);
        return (au <= arm && av <= half) || (au <= half && av <= arm);
      };
    }
    case 'star': {
      const poly = polygon(10, [r, 0.45 * r], -Math.PI / 2);
      return (x, y) => inPolygon(...local(x, y), poly);
    }
  }
}

/** Paints `colour` over `rgb` with per-pixel coverage from a supersampled inside test. */
function paint(
  rgb: Float32Array,
  size: number,
  inside: (x: number, y: number) => boolean,
  colour: Rgb,
  alpha: number,
  bounds: [number, number, number, number],
  coverageOut?: Float32Array,
): void {
  const [x0, y0, x1, y1] = bounds;
  const ss = 3;
  for (let i = Math.max(0, Math.floor(y0)); i < Math.min(size, Math.ceil(y1)); i++) {
    for (let j = Math.max(0, Math.floor(x0)); j < Math.min(size, Math.ceil(x1)); j++) {
      let hits = 0;
      for (let a = 0; a < ss; a++) for (let b = 0; b < ss; b++) if (inside(j + (b + 0.5) / ss, i + (a + 0.5) / ss)) hits++;
      if (hits === 0) continue;
      const cov = hits / (ss * ss);
      if (coverageOut) coverageOut[i * size + j] = cov;
      const w = cov * alpha;
      const p = (i * size + j) * 3;
      for (let c = 0; c < 3; c++) rgb[p + c] = (1 - w) * (rgb[p + c] as number) + w * (colour[c] as number);
    }
  }
}

function background(rng: Rng, size: number): Float32Array {
  const rgb = new Float32Array(size * size * 3);
  // A muted two-colour gradient in a random direction.
  const c0 = hsv(rng(), uniform(rng, 0.1, 0.5), uniform(rng, 0.25, 0.65));
  const c1 = hsv(rng(), uniform(rng, 0.1, 0.5), uniform(rng, 0.25, 0.65));
  const a = uniform(rng, 0, 2 * Math.PI);
  const dx = Math.cos(a);
  const dy = Math.sin(a);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      const t = Math.min(1, Math.max(0, 0.5 + ((j - size / 2) * dx + (i - size / 2) * dy) / size));
      for (let c = 0; c < 3; c++) rgb[(i * size + j) * 3 + c] = (1 - t) * (c0[c] as number) + t * (c1[c] as number);
    }
  }
  return rgb;
}

function clutter(rng: Rng, rgb: Float32Array, size: number): void {
  const lines = randInt(rng, 4, 9);
  for (let k = 0; k < lines; k++) {
    const xa = uniform(rng, -8, size + 8);
    const ya = uniform(rng, -8, size + 8);
    const len = uniform(rng, 10, 40);
    const ang = uniform(rng, 0, Math.PI);
    const xb = xa + len * Math.cos(ang);
    const yb = ya + len * Math.sin(ang);
    const width = uniform(rng, 0.6, 1.6);
    const colour = hsv(rng(), uniform(rng, 0, 1), uniform(rng, 0, 1));
    const vx = xb - xa;
    const vy = yb - ya;
    const l2 = vx * vx + vy * vy;
    const inside = (x: number, y: number): boolean => {
      const t = Math.min(1, Math.max(0, ((x - xa) * vx + (y - ya) * vy) / l2));
      return (x - xa - t * vx) ** 2 + (y - ya - t * vy) ** 2 <= (width / 2) ** 2;
    };
    paint(rgb, size, inside, colour, uniform(rng, 0.5, 1), [
      Math.min(xa, xb) - 2,
      Math.min(ya, yb) - 2,
      Math.max(xa, xb) + 2,
      Math.max(ya, yb) + 2,
    ]);
  }
  const dots = randInt(rng, 6, 13);
  for (let k = 0; k < dots; k++) {
    const x = uniform(rng, 0, size);
    const y = uniform(rng, 0, size);
    const rr = uniform(rng, 0.8, 2.2);
    const colour = hsv(rng(), uniform(rng, 0, 1), uniform(rng, 0, 1));
    paint(rgb, size, (px, py) => (px - x) ** 2 + (py - y) ** 2 <= rr * rr, colour, uniform(rng, 0.5, 1), [
      x - rr - 1,
      y - rr - 1,
      x + rr + 1,
      y + rr + 1,
    ]);
  }
}

/**
 * Generates `count` images with the generator seeded by `seed`. Classes are balanced (image k has
 * class `k mod 5` before a seeded shuffle).
 */
export function generateShapes(count: number, seed: number, options: ShapesOptions = {}): ShapesData {
  const size = options.size ?? IMAGE_SIZE;
  const [smin, smax] = options.shapeSize ?? [18, 30];
  const noise = options.noise ?? 0.04;
  const rng = mulberry32(seed);
  const labels = new Int32Array(count).map((_, k) => k % SHAPE_CLASSES.length);
  for (let k = count - 1; k > 0; k--) {
    const m = randInt(rng, 0, k + 1);
    [labels[k], labels[m]] = [labels[m] as number, labels[k] as number];
  }
  const images = new Float32Array(count * size * size * 3);
  const masks = new Uint8Array(count * size * size);
  const boxes: PixelBox[] = [];
  for (let n = 0; n < count; n++) {
    const cls = SHAPE_CLASSES[labels[n] as number] as ShapeClass;
    const rgb = background(rng, size);
    if (options.clutter ?? true) clutter(rng, rgb, size);
    const r = uniform(rng, smin, smax) / 2;
    const cx = uniform(rng, r + 1, size - r - 1);
    const cy = uniform(rng, r + 1, size - r - 1);
    const theta = cls === 'circle' ? 0 : uniform(rng, -0.35, 0.35);
    // Bright or dark saturated colours stand out from the muted background.
    const colour =
      rng() < 0.7 ? hsv(rng(), uniform(rng, 0.6, 1), uniform(rng, 0.85, 1)) : hsv(rng(), uniform(rng, 0.3, 1), uniform(rng, 0, 0.12));
    const coverage = new Float32Array(size * size);
    paint(rgb, size, shapeTest(cls, cx, cy, r, theta), colour, 1, [cx - r - 1, cy - r - 1, cx + r + 1, cy + r + 1], coverage);
    let y0 = size;
    let x0 = size;
    let y1 = 0;
    let x1 = 0;
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        if ((coverage[i * size + j] as number) >= 0.5) {
          masks[n * size * size + i * size + j] = 1;
          y0 = Math.min(y0, i);
          x0 = Math.min(x0, j);
          y1 = Math.max(y1, i + 1);
          x1 = Math.max(x1, j + 1);
        }
      }
    }
    boxes.push([y0, x0, y1, x1]);
    const base = n * size * size * 3;
    for (let p = 0; p < size * size * 3; p++) {
      images[base + p] = Math.min(1, Math.max(0, (rgb[p] as number) + noise * gauss(rng)));
    }
  }
  return { count, size, images, labels, boxes, masks };
}
