/**
 * The browser example (examples/browser) served by Vite and opened in headless Chromium
 * (SwiftShader WebGL2), for the tests that drive it: why they skip, how to start it, and the
 * graph-model files they serve to it.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright';
import { createServer } from 'vite';
import { graphTestSpec, type GraphTestModelKind } from '../helpers/graph-models.js';
import { chromiumPath } from '../setup/chromium.js';

declare global {
  interface Window {
    /** Resolves once the page has loaded its model and explained its first image. */
    tfcamReady: Promise<void>;
    /** The page's last explanation, or the error it showed. */
    tfcamLast?: { classIndex: number; layer: string; method: string; backend: string } | { error: string };
  }
}

/** The repository's root. */
export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Why the example-page tests do not run here, or null when they do (they run once, in the cpu project). */
export const examplePageSkipReason: string | null =
  process.env['TFCAM_BACKEND'] !== 'cpu'
    ? 'runs once (in the cpu project)'
    : !existsSync(chromiumPath)
      ? `no Chromium at ${chromiumPath} (apt-get install chromium)`
      : !existsSync(join(repo, 'models', 'shapes', 'model.json'))
        ? 'models/shapes is missing'
        : null;

/** The example's Vite dev server and a Chromium to open it in. */
export interface ExamplePage {
  readonly url: string;
  readonly browser: Browser;
  close(): Promise<void>;
}

/** Starts the example's dev server and Chromium (software WebGL2, so every machine has WebGL); `args` are added to Chromium's. */
export async function startExamplePage(args: readonly string[] = []): Promise<ExamplePage> {
  const server = await createServer({ configFile: join(repo, 'examples', 'browser', 'vite.config.ts'), server: { port: 0 } });
  await server.listen();
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
      ...args,
    ],
  });
  return {
    url: server.resolvedUrls?.local[0] ?? '',
    browser,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/** model.json (format 'graph-model') and weights.bin of a graph model built in code (test/helpers/graph-models.ts). */
export function graphModelFiles(kind: GraphTestModelKind): { json: string; weights: Buffer } {
  const spec = graphTestSpec(kind);
  // The spec's builder made the twin's layers (with weights): dispose them.
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
