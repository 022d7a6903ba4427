/**
 * The browser example (examples/browser) with a graph model: `?model=<url>` pointing at a
 * model.json of format 'graph-model' (a MobileNetV2-like graph built in code, served to the page by
 * intercepting its requests), explained on webgl in headless Chromium.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright';
import type { ViteDevServer } from 'vite';
import { createServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphTestSpec } from '../helpers/graph-models.js';

declare global {
  interface Window {
    tfcamReady: Promise<void>;
    tfcamLast?: { classIndex: number; layer: string; method: string; backend: string } | { error: string };
  }
}

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const chromiumPath = process.env['TFCAM_CHROMIUM'] ?? '/usr/bin/chromium';
const skipReason =
  process.env['TFCAM_BACKEND'] !== 'cpu'
    ? 'runs once (in the cpu project)'
    : !existsSync(chromiumPath)
      ? `no Chromium at ${chromiumPath} (apt-get install chromium)`
      : !existsSync(join(repo, 'models', 'shapes', 'model.json'))
        ? 'models/shapes is missing'
        : // (The example's graph-model loading lands with its explainer/live rework.)
          !readFileSync(join(repo, 'examples', 'browser', 'main.ts'), 'utf8').includes('loadGraphModel')
          ? 'examples/browser does not load graph models yet'
          : null;

/** model.json and its weights for a code-built graph model (24x24x3 input, 5 classes). */
function graphModelFiles(): { json: string; weights: Buffer } {
  const spec = graphTestSpec('residual');
  spec.makeTwin().dispose();
  const a = spec.artifacts;
  const json = JSON.stringify({
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy,
    modelTopology: a.modelTopology,
    userDefinedMetadata: a.userDefinedMetadata,
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
  });
  return { json, weights: Buffer.from(a.weightData as ArrayBuffer) };
}

describe.skipIf(skipReason !== null)(`browser example with a graph model${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let server: ViteDevServer;
  let browser: Browser;
  let url: string;

  beforeAll(async () => {
    server = await createServer({ configFile: join(repo, 'examples', 'browser', 'vite.config.ts'), server: { port: 0 } });
    await server.listen();
    url = server.resolvedUrls?.local[0] ?? '';
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--use-angle=swiftshader',
        '--enable-unsafe-swiftshader',
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('loads ?model=<graph model.json> (told apart by its format) and explains the sample with it', async () => {
    const files = graphModelFiles();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // (Matched on the path: the page's own URL carries the model's in its query.)
    const at =
      (path: string) =>
      (u: URL): boolean =>
        u.pathname === path;
    await page.route(at('/graph-model/model.json'), (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: files.json }),
    );
    await page.route(at('/graph-model/weights.bin'), (route) =>
      route.fulfill({ status: 200, contentType: 'application/octet-stream', body: files.weights }),
    );
    await page.route(at('/graph-model/metadata.json'), (route) => route.fulfill({ status: 404, body: '' }));
    await page.goto(`${url}?model=/graph-model/model.json`);
    await page.evaluate(() => window.tfcamReady);
    await page.click('#explain');
    await page.waitForFunction(() => window.tfcamLast !== undefined, undefined, { timeout: 60_000 });
    const last = await page.evaluate(() => window.tfcamLast);
    expect(last).not.toHaveProperty('error');
    // The default layer of the graph: its last conv block, a graph node name.
    expect(last).toMatchObject({ method: 'gradCam', layer: 'StatefulPartitionedCall/model/MobilenetV2/Conv_1/Relu6' });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});
