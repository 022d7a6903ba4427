/**
 * The browser example (examples/browser), end to end in headless Chromium: the page loads the
 * shipped model, explains the first sample image, and paints a non-trivial heatmap on its canvas.
 * A screenshot is saved under out/examples/ for humans.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright';
import type { ViteDevServer } from 'vite';
import { createServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

declare global {
  interface Window {
    tfcamReady: Promise<void>;
    tfcamLast?: { classIndex: number; layer: string; method: string; backend: string } | { error: string };
  }
}

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const chromiumPath = process.env['TFCAM_CHROMIUM'] ?? '/usr/bin/chromium';
const hasModel = existsSync(join(repo, 'models', 'shapes', 'model.json'));
const skipReason =
  process.env['TFCAM_BACKEND'] !== 'cpu'
    ? 'runs once (in the cpu project)'
    : !existsSync(chromiumPath)
      ? `no Chromium at ${chromiumPath} (apt-get install chromium)`
      : !hasModel
        ? 'models/shapes is missing'
        : null;

describe.skipIf(skipReason !== null)(`browser example${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let server: ViteDevServer;
  let browser: Browser;
  let url: string;

  beforeAll(async () => {
    server = await createServer({ configFile: join(repo, 'examples', 'browser', 'vite.config.ts'), server: { port: 0 } });
    await server.listen();
    url = server.resolvedUrls?.local[0] ?? '';
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('explains the sample image and paints a heatmap over it', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.evaluate(() => window.tfcamReady);
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
    mkdirSync(join(repo, 'out', 'examples'), { recursive: true });
    await page.screenshot({ path: join(repo, 'out', 'examples', 'browser.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});
