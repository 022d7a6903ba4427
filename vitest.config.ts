import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { TestProjectInlineConfiguration } from 'vitest/config';
import { configDefaults, defineConfig } from 'vitest/config';
import { chromiumPath, chromiumProvider } from './test/setup/chromium.js';

/**
 * Test projects (`npm test` runs them all; `npm run test:slow` runs SLOW_TESTS in `cpu` and `wasm`):
 * - `cpu`, `wasm`: the whole suite but SLOW_TESTS in Node, once per backend. test/setup/backend.ts activates the
 *   backend named by TFCAM_BACKEND and asserts tf.getBackend() before every test.
 * - `node`: the whole suite on tfjs-node (backend 'tensorflow') when @tensorflow/tfjs-node can be
 *   loaded; otherwise only the cross-backend suite, reported as skipped with the reason.
 * - `browser`: a focused cross-backend suite in headless Chromium (vitest browser mode, playwright
 *   provider, the system's Chromium: no browser download): webgl, cpu and wasm, one test file each,
 *   plus the webgl-only checks (no device-to-host reads, pytorch-grad-cam fixtures).
 */

const NODE_TESTS = ['test/**/*.test.ts'];
const BROWSER_TESTS = ['test/**/*.browser.test.ts'];

/**
 * Slow tests, left out of `npm test` (a few minutes) and run by `npm run test:slow` (and by CI):
 * the examples driven in Chromium and the demo, the packed package installed into consumers, memory
 * peaks and 1000-call loops, finite differences through real graph models, and full-size
 * InceptionV3/MobileNetV2 topologies. Each checks what no default test does; none is skipped in CI.
 */
const SLOW_TESTS = [
  'test/examples/live-example.test.ts',
  'test/examples/browser-example.test.ts',
  'test/examples/graph-example.test.ts',
  'test/examples/demo.test.ts',
  'test/package/consumer.test.ts',
  'test/core/reliability.test.ts',
  'test/core/architectures.test.ts',
  'test/graph/real-gradients.test.ts',
];
/** TFCAM_SLOW=only: the slow tests alone (npm run test:slow); unset: everything else (npm test). */
const slowOnly = process.env['TFCAM_SLOW'] === 'only';
const NODE_EXCLUDE = [...configDefaults.exclude, ...BROWSER_TESTS, ...(slowOnly ? [] : SLOW_TESTS)];

/** Why tfjs-node cannot run here, or undefined when it can (checked in a child process: it is a native addon). */
function tfjsNodeSkipReason(): string | undefined {
  const install = 'npm i -D @tensorflow/tfjs-node to run';
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
  } catch {
    return `tfjs-node not installed: ${install}`;
  }
  const probe = spawnSync(process.execPath, ['-e', "require('@tensorflow/tfjs-node')"], { encoding: 'utf8', timeout: 120_000 });
  if (probe.status === 0) return undefined;
  const why = `${probe.stderr ?? ''}`.split('\n').find((l) => /Error/.test(l)) ?? `exit code ${probe.status}`;
  return `tfjs-node installed but not loadable (${why.trim().slice(0, 160)}): reinstall it (${install})`;
}

/** Prints a line once per process (vitest evaluates this file more than once). */
function noteOnce(line: string): void {
  const g = globalThis as { __tfcamNotes?: Set<string> };
  g.__tfcamNotes ??= new Set();
  if (!g.__tfcamNotes.has(line)) console.info(line);
  g.__tfcamNotes.add(line);
}

/** The Chromium the browser project drives (Debian's package; override with TFCAM_CHROMIUM). */
const chromium = chromiumPath;

const nodeProject = (
  name: string,
  backend: string,
  env: Record<string, string> = {},
  include = slowOnly ? SLOW_TESTS : NODE_TESTS,
): TestProjectInlineConfiguration => ({
  extends: true,
  test: {
    name,
    environment: 'node',
    include,
    exclude: NODE_EXCLUDE,
    setupFiles: ['test/setup/backend.ts'],
    env: { TFCAM_BACKEND: backend, ...env },
  },
});

function tfjsNodeProject(): TestProjectInlineConfiguration {
  const skip = tfjsNodeSkipReason();
  if (skip === undefined) return nodeProject('node', 'tensorflow');
  // Not loadable: run only the cross-backend suite, whose tests are reported as skipped with the reason.
  noteOnce(`[tfcam] node project (tfjs-node) skipped: ${skip}`);
  return nodeProject('node', 'tensorflow', { TFCAM_BACKEND_SKIP: skip }, ['test/backends/cross-backend.test.ts']);
}

function browserProject(): TestProjectInlineConfiguration {
  if (!existsSync(chromium)) {
    noteOnce(`[tfcam] browser project skipped: no Chromium at ${chromium}`);
    // No Chromium: say so with a skipped test (a failed one where TFCAM_REQUIRE_BROWSER=1, as in CI).
    return {
      extends: true,
      test: {
        name: 'browser',
        environment: 'node',
        include: ['test/backends/browser-missing.check.ts'],
        env: {
          TFCAM_BROWSER_SKIP: `Chromium not found at ${chromium}: apt-get install chromium (or set TFCAM_CHROMIUM) to run the browser tests`,
        },
      },
    };
  }
  return {
    extends: true,
    // Pre-bundle tfjs up front, so Vite does not discover it mid-run and reload the page.
    optimizeDeps: {
      include: [
        '@tensorflow/tfjs-core',
        '@tensorflow/tfjs-layers',
        '@tensorflow/tfjs-backend-cpu',
        '@tensorflow/tfjs-backend-webgl',
        '@tensorflow/tfjs-backend-wasm',
        '@tensorflow/tfjs-converter',
      ],
    },
    test: {
      name: 'browser',
      include: BROWSER_TESTS,
      setupFiles: ['test/setup/browser.ts'],
      // One page at a time: SwiftShader WebGL is CPU-bound, and the files' backends stay apart.
      fileParallelism: false,
      browser: {
        enabled: true,
        headless: true,
        screenshotFailures: false,
        // The same software WebGL2 everywhere (a GPU machine would otherwise give other roundings).
        provider: chromiumProvider(true),
        instances: [{ browser: 'chromium' }],
      },
    },
  };
}

export default defineConfig({
  test: {
    globals: false,
    // Two test files at a time even on a 2-core machine (vitest's default, cores - 1, runs one): the
    // tfjs cpu and wasm backends are single-threaded, so two workers use both cores.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The slow tests run on cpu and wasm in Node (the examples run once, in the cpu project).
    projects: slowOnly
      ? [nodeProject('cpu', 'cpu'), nodeProject('wasm', 'wasm')]
      : [nodeProject('cpu', 'cpu'), nodeProject('wasm', 'wasm'), tfjsNodeProject(), browserProject()],
  },
});
