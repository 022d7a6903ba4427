/**
 * A tiny rasteriser for the evaluation chart: filled rectangles and text in a hand-drawn 5x7 pixel
 * font, into an RGBA buffer written as PNG with pngjs. No canvas, no font files.
 */
import { writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';

type Rgb = readonly [number, number, number];

/**
 * 5x7 glyphs, one string of 5 characters per row ('#' = ink). Drawn for this script. Letters with a
 * descender ({@link DESCENDERS}) are drawn two rows lower.
 */
const GLYPHS: Record<string, readonly string[]> = {
  ' ': ['     ', '     ', '     ', '     ', '     ', '     ', '     '],
  '.': ['     ', '     ', '     ', '     ', '     ', ' ##  ', ' ##  '],
  ',': ['     ', '     ', '     ', '     ', ' ##  ', '  #  ', ' #   '],
  '-': ['     ', '     ', '     ', '#### ', '     ', '     ', '     '],
  '+': ['     ', '  #  ', '  #  ', '#####', '  #  ', '  #  ', '     '],
  '(': ['   # ', '  #  ', ' #   ', ' #   ', ' #   ', '  #  ', '   # '],
  ')': [' #   ', '  #  ', '   # ', '   # ', '   # ', '  #  ', ' #   '],
  '%': ['##  #', '##  #', '   # ', '  #  ', ' #   ', '#  ##', '#  ##'],
  '/': ['    #', '    #', '   # ', '  #  ', ' #   ', '#    ', '#    '],
  ':': ['     ', ' ##  ', ' ##  ', '     ', ' ##  ', ' ##  ', '     '],
  '^': ['  #  ', ' # # ', '#   #', '     ', '     ', '     ', '     '],
  v: ['     ', '     ', '#   #', '#   #', '#   #', ' # # ', '  #  '],
  '0': [' ### ', '#   #', '#  ##', '# # #', '##  #', '#   #', ' ### '],
  '1': ['  #  ', ' ##  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  '2': [' ### ', '#   #', '    #', '   # ', '  #  ', ' #   ', '#####'],
  '3': ['#### ', '    #', '    #', ' ### ', '    #', '    #', '#### '],
  '4': ['   # ', '  ## ', ' # # ', '#  # ', '#####', '   # ', '   # '],
  '5': ['#####', '#    ', '#### ', '    #', '    #', '#   #', ' ### '],
  '6': [' ### ', '#    ', '#    ', '#### ', '#   #', '#   #', ' ### '],
  '7': ['#####', '    #', '   # ', '  #  ', ' #   ', ' #   ', ' #   '],
  '8': [' ### ', '#   #', '#   #', ' ### ', '#   #', '#   #', ' ### '],
  '9': [' ### ', '#   #', '#   #', ' ####', '    #', '    #', ' ### '],
  a: ['     ', '     ', ' ### ', '    #', ' ####', '#   #', ' ####'],
  b: ['#    ', '#    ', '#### ', '#   #', '#   #', '#   #', '#### '],
  c: ['     ', '     ', ' ### ', '#    ', '#    ', '#    ', ' ### '],
  d: ['    #', '    #', ' ####', '#   #', '#   #', '#   #', ' ####'],
  e: ['     ', '     ', ' ### ', '#   #', '#####', '#    ', ' ### '],
  f: ['  ## ', ' #   ', '#### ', ' #   ', ' #   ', ' #   ', ' #   '],
  g: [' ####', '#   #', '#   #', '#   #', ' ####', '    #', ' ### '],
  h: ['#    ', '#    ', '#### ', '#   #', '#   #', '#   #', '#   #'],
  i: ['  #  ', '     ', ' ##  ', '  #  ', '  #  ', '  #  ', ' ### '],
  j: ['   # ', '     ', '  ## ', '   # ', '   # ', '#  # ', ' ##  '],
  k: ['#    ', '#    ', '#  # ', '# #  ', '##   ', '# #  ', '#  # '],
  l: [' ##  ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  m: ['     ', '     ', '## # ', '# # #', '# # #', '# # #', '# # #'],
  n: ['     ', '     ', '#### ', '#   #', '#   #', '#   #', '#   #'],
  o: ['     ', '     ', ' ### ', '#   #', '#   #', '#   #', ' ### '],
  p: ['#### ', '#   #', '#   #', '#   #', '#### ', '#    ', '#    '],
  q: [' ####', '#   #', '#   #', '#   #', ' ####', '    #', '    #'],
  r: ['     ', '     ', '# ## ', '##   ', '#    ', '#    ', '#    '],
  s: ['     ', '     ', ' ####', '#    ', ' ### ', '    #', '#### '],
  t: [' #   ', ' #   ', '#### ', ' #   ', ' #   ', ' #   ', '  ## '],
  u: ['     ', '     ', '#   #', '#   #', '#   #', '#   #', ' ####'],
  w: ['     ', '     ', '#   #', '# # #', '# # #', '# # #', ' # # '],
  x: ['     ', '     ', '#   #', ' # # ', '  #  ', ' # # ', '#   #'],
  y: ['#   #', '#   #', '#   #', '#   #', ' ####', '    #', ' ### '],
  z: ['     ', '     ', '#####', '   # ', '  #  ', ' #   ', '#####'],
  A: [' ### ', '#   #', '#   #', '#####', '#   #', '#   #', '#   #'],
  B: ['#### ', '#   #', '#   #', '#### ', '#   #', '#   #', '#### '],
  C: [' ### ', '#   #', '#    ', '#    ', '#    ', '#   #', ' ### '],
  D: ['#### ', '#   #', '#   #', '#   #', '#   #', '#   #', '#### '],
  E: ['#####', '#    ', '#    ', '#### ', '#    ', '#    ', '#####'],
  F: ['#####', '#    ', '#    ', '#### ', '#    ', '#    ', '#    '],
  G: [' ### ', '#   #', '#    ', '# ###', '#   #', '#   #', ' ####'],
  H: ['#   #', '#   #', '#   #', '#####', '#   #', '#   #', '#   #'],
  I: [' ### ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  K: ['#   #', '#  # ', '# #  ', '##   ', '# #  ', '#  # ', '#   #'],
  L: ['#    ', '#    ', '#    ', '#    ', '#    ', '#    ', '#####'],
  M: ['#   #', '## ##', '# # #', '# # #', '#   #', '#   #', '#   #'],
  N: ['#   #', '##  #', '# # #', '#  ##', '#   #', '#   #', '#   #'],
  O: [' ### ', '#   #', '#   #', '#   #', '#   #', '#   #', ' ### '],
  P: ['#### ', '#   #', '#   #', '#### ', '#    ', '#    ', '#    '],
  R: ['#### ', '#   #', '#   #', '#### ', '# #  ', '#  # ', '#   #'],
  S: [' ####', '#    ', '#    ', ' ### ', '    #', '    #', '#### '],
  T: ['#####', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  '],
  U: ['#   #', '#   #', '#   #', '#   #', '#   #', '#   #', ' ### '],
  V: ['#   #', '#   #', '#   #', '#   #', '#   #', ' # # ', '  #  '],
  W: ['#   #', '#   #', '#   #', '# # #', '# # #', '## ##', '#   #'],
  X: ['#   #', '#   #', ' # # ', '  #  ', ' # # ', '#   #', '#   #'],
};

/** Glyphs drawn two rows lower (their last two rows hang below the baseline). */
const DESCENDERS = new Set(['g', 'p', 'q', 'y']);

/** An RGBA image with rectangles and text. */
export class Raster {
  readonly data: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.data = new Uint8Array(width * height * 4);
    this.rect(0, 0, width, height, background);
  }

  /** Fills `[x, x + w) x [y, y + h)` (clipped). */
  rect(x: number, y: number, w: number, h: number, rgb: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const i = (yy * this.width + xx) * 4;
        this.data[i] = rgb[0];
        this.data[i + 1] = rgb[1];
        this.data[i + 2] = rgb[2];
        this.data[i + 3] = 255;
      }
    }
  }

  /** Width in pixels of `text` at `scale` (6 font pixels per character). */
  static textWidth(text: string, scale: number): number {
    return text.length * 6 * scale;
  }

  /** Draws `text` with its top-left corner at (x, y); unknown characters are left blank. */
  text(x: number, y: number, text: string, rgb: Rgb, scale = 1): void {
    [...text].forEach((ch, k) => {
      const glyph = GLYPHS[ch] ?? GLYPHS[ch.toLowerCase()] ?? GLYPHS[' '];
      const drop = DESCENDERS.has(ch) ? 2 : 0;
      glyph?.forEach((row, r) => {
        for (let c = 0; c < 5; c++) if (row[c] === '#') this.rect(x + (k * 6 + c) * scale, y + (r + drop) * scale, scale, scale, rgb);
      });
    });
  }

  /** Writes the image as PNG. */
  writePng(path: string): void {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(this.data);
    writeFileSync(path, PNG.sync.write(png));
  }
}

/** One panel of a horizontal bar chart: a metric, its range, and whether higher is better. */
export interface Panel {
  title: string;
  values: number[];
  /** Axis range; bars are drawn from max(min, 0). */
  min: number;
  max: number;
  /** Decimals of the value labels (default 2). */
  digits?: number;
}

/**
 * A horizontal bar chart: one row per label, one panel per metric, side by side; baselines in grey.
 */
export function barChart(labels: string[], baseline: boolean[], panels: Panel[], path: string): void {
  const scale = 2;
  const rowH = 11 * scale;
  const labelW = Math.max(...labels.map((l) => Raster.textWidth(l, scale))) + 12;
  const panelW = 260;
  const gap = 24;
  const top = 16 * scale + 10;
  const width = labelW + panels.length * (panelW + gap);
  const height = top + labels.length * rowH + 12;
  const img = new Raster(width, height);
  const ink: Rgb = [40, 40, 40];
  labels.forEach((l, i) => {
    const y = top + i * rowH;
    if (i % 2 === 0) img.rect(0, y, width, rowH, [244, 244, 248]);
    img.text(labelW - 8 - Raster.textWidth(l, scale), y + 2 * scale, l, baseline[i] ? [120, 120, 120] : ink, scale);
  });
  panels.forEach((p, k) => {
    const x0 = labelW + k * (panelW + gap);
    img.text(x0, 6, p.title, ink, scale);
    const span = p.max - p.min || 1;
    const zero = x0 + ((Math.max(p.min, 0) - p.min) / span) * (panelW - 50);
    img.rect(zero, top, 1, labels.length * rowH, [150, 150, 150]);
    p.values.forEach((v, i) => {
      const y = top + i * rowH + 3;
      const end = x0 + ((Math.min(Math.max(v, p.min), p.max) - p.min) / span) * (panelW - 50);
      const colour: Rgb = baseline[i] ? [175, 175, 175] : [56, 108, 176];
      img.rect(Math.min(zero, end), y, Math.max(1, Math.abs(end - zero)), rowH - 6, colour);
      img.text(Math.max(zero, end) + 4, y + 1, v.toFixed(p.digits ?? 2), ink, 1);
    });
  });
  img.writePng(path);
}
