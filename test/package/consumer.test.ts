/**
 * Installs the packed tarball into a fresh project outside the repository and uses it the three
 * ways apps do: ESM `import`, CJS `require`, and ESM next to the `@tensorflow/tfjs` union package.
 * Nothing here reads src/: only what `npm pack` ships.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ONCE_REASON, runOnce } from '../helpers/once.js';
import { ROOT, ensureBuilt, installedVersion, npm, packInto } from './helpers.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; exports?: Record<string, unknown> };
const hasBackendEntry = pkg.exports?.['./backend'] !== undefined;

/** A tiny CNN: conv 'conv' -> global average pooling -> dense softmax; input [8, 8, 3]. */
const MODEL = (tfl: string): string => `${tfl}.sequential({
  layers: [
    ${tfl}.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, activation: 'relu', name: 'conv' }),
    ${tfl}.layers.globalAveragePooling2d({}),
    ${tfl}.layers.dense({ units: 3, activation: 'softmax' }),
  ],
})`;

/** Each script prints one JSON line: the consumer's name, the heatmap shape, the layer, the backend. */
const SCRIPTS: Record<string, string> = {
  'esm.mjs': `
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { gradCam, TfcamError } from 'tfcam';
${hasBackendEntry ? "import { useBackend, BackendError } from 'tfcam/backend';\nawait useBackend('cpu');" : "await tf.setBackend('cpu');"}
const model = ${MODEL('tfl')};
const x = tf.ones([2, 8, 8, 3]);
const r = gradCam(model, x);
let errorsShared = null;
${hasBackendEntry ? 'errorsShared = BackendError.prototype instanceof TfcamError;' : ''}
console.log(JSON.stringify({ consumer: 'esm', shape: r.heatmap.shape, layer: r.layer, backend: tf.getBackend(), errorsShared }));
`,
  'cjs.cjs': `
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfl = require('@tensorflow/tfjs-layers');
const { gradCam, TfcamError } = require('tfcam');
async function main() {
  let errorsShared = null;
  ${hasBackendEntry ? "const { useBackend, BackendError } = require('tfcam/backend');\n  await useBackend('cpu');\n  errorsShared = BackendError.prototype instanceof TfcamError;" : "await tf.setBackend('cpu');"}
  const model = ${MODEL('tfl')};
  const x = tf.ones([2, 8, 8, 3]);
  const r = gradCam(model, x);
  console.log(JSON.stringify({ consumer: 'cjs', shape: r.heatmap.shape, layer: r.layer, backend: tf.getBackend(), errorsShared }));
}
main().catch((e) => { console.error(e); process.exit(1); });
`,
  'union.mjs': `
import * as tf from '@tensorflow/tfjs';
import { gradCam, overlay } from 'tfcam';
await tf.setBackend('cpu');
const model = ${MODEL('tf')};
const x = tf.ones([2, 8, 8, 3]);
const r = gradCam(model, x);
const painted = overlay(x, r.heatmap);
console.log(JSON.stringify({ consumer: 'union', shape: r.heatmap.shape, layer: r.layer, backend: tf.getBackend(), overlay: painted.shape }));
`,
};

describe.skipIf(!runOnce)(`the packed tarball in a fresh project${runOnce ? '' : ` [${ONCE_REASON}]`}`, () => {
  let dir = '';

  beforeAll(async () => {
    await ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'tfcam-consumer-'));
    const tarball = packInto(dir);
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'tfcam-consumer', private: true, version: '0.0.0' }, null, 2)}\n`);
    // The same tfjs versions as the repository's, so that npm's cache has them.
    const deps = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs'].map(
      (name) => `${name}@${installedVersion(name)}`,
    );
    npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', '--no-package-lock', tarball, ...deps], dir);
    for (const [name, code] of Object.entries(SCRIPTS)) writeFileSync(join(dir, name), code);
  }, 600_000);

  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const run = (script: string): Record<string, unknown> => {
    let out: string;
    try {
      out = execFileSync(process.execPath, [script], { cwd: dir, encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      throw new Error(`node ${script} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
    }
    const line = out.split('\n').find((l) => l.startsWith('{'));
    if (line === undefined) throw new Error(`node ${script} printed no result:\n${out}`);
    return JSON.parse(line) as Record<string, unknown>;
  };

  it('installs one copy of @tensorflow/tfjs-core next to the union package', () => {
    const ls = npm(['ls', '@tensorflow/tfjs-core', '--all', '--json'], dir);
    const versions = new Set<string>();
    const visit = (deps: Record<string, { version?: string; dependencies?: Record<string, unknown> }> | undefined, name: string): void => {
      for (const [k, v] of Object.entries(deps ?? {})) {
        if (k === name && v.version !== undefined) versions.add(v.version);
        visit(v.dependencies as Record<string, { version?: string }> | undefined, name);
      }
    };
    visit((JSON.parse(ls) as { dependencies?: Record<string, { version?: string }> }).dependencies, '@tensorflow/tfjs-core');
    expect([...versions]).toEqual([installedVersion('@tensorflow/tfjs-core')]);
  });

  it('works from an ESM import', () => {
    expect(run('esm.mjs')).toEqual({ consumer: 'esm', shape: [2, 8, 8], layer: 'conv', backend: 'cpu', errorsShared: hasBackendEntry ? true : null });
  });

  it('works from a CJS require', () => {
    expect(run('cjs.cjs')).toEqual({ consumer: 'cjs', shape: [2, 8, 8], layer: 'conv', backend: 'cpu', errorsShared: hasBackendEntry ? true : null });
  });

  it('works next to the @tensorflow/tfjs union package', () => {
    expect(run('union.mjs')).toEqual({ consumer: 'union', shape: [2, 8, 8], layer: 'conv', backend: 'cpu', overlay: [2, 8, 8, 3] });
  });
});
