/**
 * The browser example (examples/browser), end to end in headless Chromium: the page picks a backend
 * with tfcam/backend's useBackend (webgl, else wasm, else cpu), loads the shipped model, explains
 * the first sample image, and paints a non-trivial heatmap on its canvas. Once with WebGL
 * (SwiftShader), once with WebGL hidden from the page, where it must fall back to wasm.
 * A screenshot is saved under out/examples/ for humans.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExamplePage, examplePageSkipReason as skipReason, repo, startExamplePage } from './example-page.js';

describe.skipIf(skipReason !== null)(`browser example${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let example: ExamplePage;
  let browser: Browser;
  let url: string;

  beforeAll(async () => {
    example = await startExamplePage();
    ({ browser, url } = example);
  }, 120_000);

  afterAll(async () => {
    await example?.close();
  });

  /** Opens the page, explains the first sample with gradCam, checks the painted overlay; returns the backend it ran on. */
  const explainOnce = async (options: { hideWebgl: boolean; screenshot: string }): Promise<string> => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    if (options.hideWebgl) {
      // As on a machine without WebGL: every canvas refuses webgl, experimental-webgl and webgl2 contexts.
      // (A string, not a function: the test's transform would add helpers the page does not have.)
      await page.addInitScript({
        content: `for (const proto of [HTMLCanvasElement.prototype, OffscreenCanvas.prototype]) {
          const original = proto.getContext;
          proto.getContext = function (type, ...rest) {
            return String(type).includes('webgl') ? null : original.call(this, type, ...rest);
          };
        }`,
      });
    }
    await page.goto(url);
    await page.evaluate(() => window.tfcamReady);
    // (The page explains its first image while loading: wait for the explanation the click asks for.)
    await page.evaluate(() => {
      delete window.tfcamLast;
    });
    await page.click('#explain');
    await page.waitForFunction(() => window.tfcamLast !== undefined, undefined, { timeout: 60_000 });
    const last = await page.evaluate(() => window.tfcamLast);
    expect(last).not.toHaveProperty('error');
    expect(last).toMatchObject({ method: 'gradCam' });
    // The overlay differs from the input and has many colours: a real heatmap, not a blank or copy.
    const stats = await page.evaluate(() => {
      const read = (id: string): Uint8ClampedArray => {
        const c = document.getElementById(id) as HTMLCanvasElement;
        return c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      };
      const a = read('input');
      const b = read('overlay');
      let diff = 0;
      const colours = new Set<number>();
      for (let i = 0; i < b.length; i += 4) {
        diff += Math.abs(a[i]! - b[i]!) + Math.abs(a[i + 1]! - b[i + 1]!) + Math.abs(a[i + 2]! - b[i + 2]!);
        colours.add((b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!);
      }
      return { meanDiff: diff / (b.length / 4) / 3, colours: colours.size };
    });
    expect(stats.meanDiff).toBeGreaterThan(5);
    expect(stats.colours).toBeGreaterThan(50);
    expect(await page.textContent('#status')).toMatch(/^Done on \w+\./);
    mkdirSync(join(repo, 'out', 'examples'), { recursive: true });
    await page.screenshot({ path: join(repo, 'out', 'examples', options.screenshot), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
    return (last as { backend: string }).backend;
  };

  it('explains the sample image on webgl and paints a heatmap over it', async () => {
    expect(await explainOnce({ hideWebgl: false, screenshot: 'browser.png' })).toBe('webgl');
  }, 120_000);

  it('falls back to wasm where WebGL is unavailable (useBackend throws a BackendError for webgl)', async () => {
    expect(await explainOnce({ hideWebgl: true, screenshot: 'browser-wasm.png' })).toBe('wasm');
  }, 120_000);
});
