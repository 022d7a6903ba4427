/**
 * The suite's core against the lowest tfjs release the peer range allows (`npm run test:lowest`).
 *
 * scripts/test-lowest-tfjs.sh installs `@tensorflow/tfjs-*@<lowest>` into a folder of its own and
 * sets TFCAM_TFJS_DIR to its node_modules/@tensorflow; every tfjs import (tfcam's and the tests')
 * is aliased there, so the whole run sees one copy of that release. cpu and wasm projects, as in
 * `npm test`.
 */
import { defineConfig } from 'vitest/config';
import type { TestProjectInlineConfiguration } from 'vitest/config';

const dir = process.env['TFCAM_TFJS_DIR'];
if (dir === undefined || dir === '') throw new Error('TFCAM_TFJS_DIR is not set: run scripts/test-lowest-tfjs.sh');

const PACKAGES = ['tfjs-core', 'tfjs-layers', 'tfjs-converter', 'tfjs-backend-cpu', 'tfjs-backend-wasm'];

/** The tests that exercise tfcam's use of tfjs: engine, runner, applier, methods, fixtures, errors. */
const INCLUDE = [
  'test/core/**/*.test.ts',
  'test/methods/**/*.test.ts',
  'test/guided/**/*.test.ts',
  'test/metrics/**/*.test.ts',
  'test/overlay/**/*.test.ts',
  'test/graph/**/*.test.ts',
];

const project = (backend: string): TestProjectInlineConfiguration => ({
  extends: true,
  test: {
    name: `${backend} (lowest tfjs)`,
    environment: 'node',
    include: INCLUDE,
    setupFiles: ['test/setup/backend.ts'],
    env: { TFCAM_BACKEND: backend },
  },
});

export default defineConfig({
  resolve: {
    alias: PACKAGES.map((p) => ({ find: new RegExp(`^@tensorflow/${p}$`), replacement: `${dir}/${p}/dist/index.js` })),
  },
  test: {
    globals: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs must be bundled by vitest for the aliases to reach tfcam's own imports too.
    server: { deps: { inline: [/@tensorflow\//] } },
    projects: [project('cpu'), project('wasm')],
  },
});
