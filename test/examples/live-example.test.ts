/**
 * The browser example's live mode and comparison view, end to end in headless Chromium with a fake
 * camera (`--use-fake-device-for-media-stream --use-fake-ui-for-media-stream`: Chromium's test
 * pattern, which moves from frame to frame) on WebGL (SwiftShader):
 *
 * - live: N frames explained and drawn, the canvas changes between frames, `tf.memory().numTensors`
 *   does not grow while it runs and is back where it was once stopped, and the frames needed no
 *   device-to-host read but the two drawing and the label need (counted at the WebGL calls that
 *   read pixels back: `readPixels`); the frame rate with explanation is printed beside the rate of
 *   prediction alone (docs/performance.md quotes the ratio);
 * - compare: every CAM method painted in the grid;
 * - a GraphModel loaded from the model URL field is explained;
 * - drag and drop: a dropped image becomes the explained image.
 * Screenshots are saved under out/examples/ for humans (docs/images/live.png is one of them).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExamplePage, examplePageSkipReason as skipReason, graphModelFiles, repo, startExamplePage } from './example-page.js';

interface LiveState {
  running: boolean;
  frames: number;
  dropped: number;
  fps: number;
  latencyMs: number;
  classIndex: number;
  probability: number;
  numTensors: number;
  mode: string;
}

declare global {
  interface Window {
    tfcamLive: { state(): LiveState };
    tfcamCompare?: Array<{ method: string; ms?: number; error?: string }>;
    /** Set by the init script below: WebGL calls that read pixels back to the host. */
    tfcamReadPixels?: number;
  }
}

/** Frames each live measurement runs for (after the first frames, which compile shaders). */
const FRAMES = 24;
const WARM = 4;

describe.skipIf(skipReason !== null)(`browser example: live mode${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let example: ExamplePage;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    example = await startExamplePage([
      // A camera without a camera: Chromium's moving test pattern, no permission prompt.
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
    ]);
    page = await example.browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('pageerror', (e) => errors.push(e.message));
    // Counts WebGL's reads back to the host (synchronous and into pixel-pack buffers alike).
    await page.addInitScript({
      content: `window.tfcamReadPixels = 0;
        for (const proto of [WebGLRenderingContext.prototype, WebGL2RenderingContext.prototype]) {
          const original = proto.readPixels;
          proto.readPixels = function (...args) { window.tfcamReadPixels++; return original.apply(this, args); };
        }`,
    });
    await page.goto(example.url);
    await page.evaluate(() => window.tfcamReady);
  }, 180_000);

  afterAll(async () => {
    await example?.close();
  });

  /** The lowest count of the first half of the samples equals the second half's; in-flight frames add at most 2. */
  const expectFlat = (counts: number[]): void => {
    const half = Math.floor(counts.length / 2);
    expect(Math.min(...counts.slice(half)), `tensor counts ${counts.join(',')}`).toBe(Math.min(...counts.slice(0, half)));
    expect(Math.max(...counts) - Math.min(...counts), `tensor counts ${counts.join(',')}`).toBeLessThanOrEqual(2);
  };
  const state = (): Promise<LiveState> => page.evaluate(() => window.tfcamLive.state());
  const waitFrames = (n: number): Promise<unknown> =>
    page.waitForFunction((k) => window.tfcamLive.state().frames >= k, n, { timeout: 240_000, polling: 50 });
  /** A cheap fingerprint of the live canvas (a sum of sampled pixels). */
  const canvasPrint = (): Promise<number> =>
    page.evaluate(() => {
      const c = document.getElementById('live') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let h = 0;
      for (let i = 0; i < d.length; i += 97) h = (h * 31 + d[i]!) % 1_000_000_007;
      return h;
    });

  /** Runs the live mode for FRAMES frames after WARM; returns its fps and what it saw. */
  const measure = async (): Promise<{ fps: number; tensors: number[]; prints: Set<number>; readsPerFrame: number; dropped: number }> => {
    await waitFrames(WARM);
    const start = await state();
    const reads0 = await page.evaluate(() => window.tfcamReadPixels ?? 0);
    const tensors: number[] = [];
    const prints = new Set<number>();
    let last = start.frames;
    while (last < start.frames + FRAMES) {
      await waitFrames(last + 1);
      const s = await state();
      last = s.frames;
      tensors.push(s.numTensors);
      prints.add(await canvasPrint());
    }
    const end = await state();
    const reads = (await page.evaluate(() => window.tfcamReadPixels ?? 0)) - reads0;
    return { fps: end.fps, tensors, prints, readsPerFrame: reads / (end.frames - start.frames), dropped: end.dropped };
  };

  it('compares every method on the current image, in a grid', async () => {
    await page.click('#compare');
    await page.waitForFunction(() => window.tfcamCompare !== undefined, undefined, { timeout: 300_000 });
    const report = (await page.evaluate(() => window.tfcamCompare))!;
    console.info(`[compare] ${report.map((r) => `${r.method}: ${r.error ?? `${(r.ms ?? 0).toFixed(0)} ms`}`).join(', ')}`);
    expect(report.filter((r) => r.error !== undefined)).toEqual([]);
    expect(report.length).toBeGreaterThanOrEqual(10);
    expect(await page.locator('#grid canvas').count()).toBe(report.length);
    mkdirSync(join(repo, 'out', 'examples'), { recursive: true });
    await page.screenshot({ path: join(repo, 'out', 'examples', 'compare.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 600_000);

  it('explains every camera frame it can, drops the rest, does not grow, and frees everything when stopped', async () => {
    const before = (await state()).numTensors;
    await page.click('#camera-start');
    const explained = await measure();
    expect((await state()).mode).toBe('explain');
    // The canvas changes between frames (the pattern moves; the map follows it).
    expect(explained.prints.size).toBeGreaterThan(2);
    // The tensor count is flat while frames are explained: nothing accumulates per frame (a sample
    // taken while a frame is in flight sees its two tensors, the picture and the label).
    expectFlat(explained.tensors);
    // Two reads per frame: the painted frame for drawing, the class and its probability (one frame
    // in flight at either end of the window may add its reads).
    expect(explained.readsPerFrame).toBeLessThanOrEqual(2 + 2 / FRAMES);
    mkdirSync(join(repo, 'out', 'examples'), { recursive: true });
    await page.screenshot({ path: join(repo, 'out', 'examples', 'live.png'), fullPage: true });

    // Prediction alone, same frames, same drawing (the frame instead of the overlay).
    await page.click('#live-explain');
    await page.waitForFunction(() => window.tfcamLive.state().frames === 0 || window.tfcamLive.state().mode === 'predict');
    const predicted = await measure();
    expect((await state()).mode).toBe('predict');
    expectFlat(predicted.tensors);
    await page.click('#live-explain');

    const ratio = explained.fps / predicted.fps;
    console.info(
      `[live] webgl (SwiftShader), shapes model 64x64, ${FRAMES} frames each: ` +
        `explain (gradCam + overlay) ${explained.fps.toFixed(1)} fps, predict only ${predicted.fps.toFixed(1)} fps, ` +
        `ratio ${ratio.toFixed(2)}; reads per frame ${explained.readsPerFrame.toFixed(2)} / ${predicted.readsPerFrame.toFixed(2)}; ` +
        `dropped ${explained.dropped} / ${predicted.dropped}`,
    );
    expect(explained.fps).toBeGreaterThan(0);
    expect(predicted.fps).toBeGreaterThan(0);

    await page.click('#live-stop');
    // (The page says 'stopped' once the frame in flight is done and the explainer disposed.)
    await page.waitForFunction(() => document.getElementById('live-mode')?.textContent === 'stopped');
    expect((await state()).numTensors).toBe(before);
    expect(errors).toEqual([]);
  }, 600_000);

  it('explains an image dropped on the page', async () => {
    const png = readFileSync(join(repo, 'examples', 'images', 'star-1.png')).toString('base64');
    await page.evaluate(async (data) => {
      delete window.tfcamLast;
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'star.png', { type: 'image/png' }));
      document.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, png);
    await page.waitForFunction(() => window.tfcamLast !== undefined, undefined, { timeout: 120_000 });
    const last = await page.evaluate(() => window.tfcamLast);
    expect(last).not.toHaveProperty('error');
    // The shapes model calls it a star (class 4).
    expect(last).toMatchObject({ classIndex: 4 });
    expect(errors).toEqual([]);
  }, 180_000);

  it("loads a GraphModel from the model URL field (told apart by model.json's format) and explains with it", async () => {
    // A small converter-layout graph model (test/helpers/graph-models.ts), written as model.json + weights.bin.
    const files = graphModelFiles('plain');
    const dir = join(repo, 'out', 'examples', 'graph-plain');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'weights.bin'), files.weights);
    writeFileSync(join(dir, 'model.json'), files.json);
    await page.fill('#model-url', `/@fs${dir}/model.json`);
    await page.evaluate(() => {
      delete window.tfcamLast;
    });
    await page.click('#load-model');
    await page.waitForFunction(() => window.tfcamLast !== undefined, undefined, { timeout: 120_000 });
    expect(await page.evaluate(() => window.tfcamLast)).not.toHaveProperty('error');
    expect(await page.textContent('#model-info')).toMatch(/^GraphModel, input 16×16/);
    // The layer list holds the graph's nodes (from listLayers).
    expect(await page.locator('#layer option').count()).toBeGreaterThan(1);
    expect(errors).toEqual([]);
  }, 180_000);
});
