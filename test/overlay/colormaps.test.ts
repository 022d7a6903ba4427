import { describe, expect, it } from 'vitest';
import { COLORMAPS, COLORMAP_NAMES } from '../../src/overlay/colormaps.js';

/** OpenCV's `convertTo(CV_8U, 255)` of a float32 value: `255 * v` in float32, rounded half to even. */
function opencv8(v: number): number {
  const x = Math.fround(Math.fround(v) * 255);
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** `round(255 * v)` of a published float table row (matplotlib `_cm_listed.py`, Turbo gist). */
const to8 = (rgb: readonly number[]): number[] => rgb.map((v) => Math.round(255 * v));

describe('colormap tables', () => {
  it('has the seven names, each 256 rows of integer [r, g, b] in 0..255', () => {
    expect([...COLORMAP_NAMES]).toEqual(['jet', 'turbo', 'viridis', 'inferno', 'magma', 'plasma', 'gray']);
    for (const name of COLORMAP_NAMES) {
      const t = COLORMAPS[name];
      expect(t.length).toBe(256);
      for (const row of t) {
        expect(row.length).toBe(3);
        for (const c of row) {
          expect(Number.isInteger(c)).toBe(true);
          expect(c).toBeGreaterThanOrEqual(0);
          expect(c).toBeLessThanOrEqual(255);
        }
      }
    }
  });

  it('jet equals OpenCV COLORMAP_JET (RGB order) at its ends and inside', () => {
    // Entries of cv2.applyColorMap(np.arange(256, dtype=np.uint8), cv2.COLORMAP_JET), BGR -> RGB.
    const known: Record<number, [number, number, number]> = {
      0: [0, 0, 128],
      1: [0, 0, 132],
      31: [0, 0, 252],
      32: [0, 0, 255],
      33: [0, 4, 255],
      64: [0, 128, 255],
      95: [0, 252, 255],
      96: [2, 255, 254],
      127: [126, 255, 130],
      128: [130, 255, 126],
      159: [254, 255, 1],
      160: [255, 252, 0],
      191: [255, 128, 0],
      192: [255, 124, 0],
      223: [255, 0, 0],
      224: [252, 0, 0],
      254: [132, 0, 0],
      255: [128, 0, 0],
    };
    for (const [i, rgb] of Object.entries(known)) expect(COLORMAPS.jet[Number(i)]).toEqual(rgb);
  });

  it('jet follows the control arrays of opencv colormap.cpp (x 255 in float32, round half to even)', () => {
    // Control values of class Jet in modules/imgproc/src/colormap.cpp, on linspace(0, 1, 256).
    const b = { 0: 0.5, 1: 0.5156862745098039, 5: 0.5784313725490196, 31: 0.9862745098039216 };
    for (const [i, v] of Object.entries(b)) expect(COLORMAPS.jet[Number(i)]?.[2]).toBe(opencv8(v));
    const r = { 100: 0.06862745098039214, 150: 0.8529411764705883, 255: 0.5 };
    for (const [i, v] of Object.entries(r)) expect(COLORMAPS.jet[Number(i)]?.[0]).toBe(opencv8(v));
    const g = { 40: 0.1274509803921569, 200: 0.3627450980392157 };
    for (const [i, v] of Object.entries(g)) expect(COLORMAPS.jet[Number(i)]?.[1]).toBe(opencv8(v));
  });

  it('viridis, inferno, magma, plasma are matplotlib tables x 255, rounded', () => {
    // Rows of lib/matplotlib/_cm_listed.py.
    const rows: Array<[keyof typeof COLORMAPS, number, number[]]> = [
      ['viridis', 0, [0.267004, 0.004874, 0.329415]],
      ['viridis', 37, [0.274128, 0.199721, 0.498911]],
      ['viridis', 128, [0.127568, 0.566949, 0.550556]],
      ['viridis', 200, [0.440137, 0.811138, 0.340967]],
      ['viridis', 255, [0.993248, 0.906157, 0.143936]],
      ['inferno', 0, [0.001462, 0.000466, 0.013866]],
      ['inferno', 128, [0.735683, 0.215906, 0.330245]],
      ['inferno', 255, [0.988362, 0.998364, 0.644924]],
      ['magma', 0, [0.001462, 0.000466, 0.013866]],
      ['magma', 128, [0.716387, 0.214982, 0.47529]],
      ['magma', 255, [0.987053, 0.991438, 0.749504]],
      ['plasma', 0, [0.050383, 0.029803, 0.527975]],
      ['plasma', 128, [0.798216, 0.280197, 0.469538]],
      ['plasma', 255, [0.940015, 0.975158, 0.131326]],
    ];
    for (const [name, i, v] of rows) expect(COLORMAPS[name][i]).toEqual(to8(v));
    expect(COLORMAPS.viridis[0]).toEqual([68, 1, 84]);
    expect(COLORMAPS.viridis[255]).toEqual([253, 231, 37]);
  });

  it("turbo is Google's Turbo x 255, rounded", () => {
    // Rows of the Turbo gist (mikhailov-work/6a308c20e494d9e0ccc29036b28faa7a), also in colormap.cpp.
    const rows: Array<[number, number[]]> = [
      [0, [0.18995, 0.07176, 0.23217]],
      [37, [0.2768, 0.47151, 0.94214]],
      [128, [0.64362, 0.98999, 0.23356]],
      [200, [0.95801, 0.39958, 0.08831]],
      [255, [0.4796, 0.01583, 0.01055]],
    ];
    for (const [i, v] of rows) expect(COLORMAPS.turbo[i]).toEqual(to8(v));
    expect(COLORMAPS.turbo[0]).toEqual([48, 18, 59]);
    expect(COLORMAPS.turbo[255]).toEqual([122, 4, 3]);
  });

  it('gray is the identity ramp', () => {
    COLORMAPS.gray.forEach((row, i) => expect(row).toEqual([i, i, i]));
  });
});
