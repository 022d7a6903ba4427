/**
 * The browser example (examples/browser) with a graph model: `?model=<url>` pointing at a
 * model.json of format 'graph-model' (a MobileNetV2-like graph built in code, served to the page by
 * intercepting its requests), explained on webgl in headless Chromium.
 */
import type { Browser } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExamplePage, examplePageSkipReason as skipReason, graphModelFiles, startExamplePage } from './example-page.js';

describe.skipIf(skipReason !== null)(`browser example with a graph model${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
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

  it('loads ?model=<graph model.json> (told apart by its format) and explains the sample with it', async () => {
    const files = graphModelFiles('residual');
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
