/**
 * Installs the packed tarball into a fresh project outside the repository and uses it the three
 * ways apps do: ESM `import`, CJS `require`, and ESM next to the `@tensorflow/tfjs` union package;
 * and type-checks a TypeScript file with the legacy `moduleResolution: "node"` (node10), which
 * ignores `exports`. Nothing here reads src/: only what `npm pack` ships.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
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

/**
 * A TypeScript consumer on `moduleResolution: "node"` (node10): no `exports`, so 'tfcam' resolves
 * through `types`/`main` and 'tfcam/backend' through the backend/package.json stub. The
 * `@ts-expect-error` lines make sure the types are real, not `any`.
 */
const NODE10_TS = `
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { gradCam, TfcamError } from 'tfcam';
import { BACKEND_PACKAGES, BackendError, useBackend, type BackendName } from 'tfcam/backend';

export async function main(model: tfl.LayersModel, x: tf.Tensor4D): Promise<number[]> {
  const name: BackendName = await useBackend('cpu');
  // @ts-expect-error not a backend name
  await useBackend('tpu');
  const isShared: boolean = new BackendError({ fn: 'f', argument: 'a', expected: 'e', got: 'g', fix: 'x' }) instanceof TfcamError;
  const packages: readonly string[] = BACKEND_PACKAGES[name];
  const { heatmap } = gradCam(model, x);
  // @ts-expect-error heatmap is a tensor, not a string
  const wrong: string = heatmap;
  void [isShared, packages, wrong];
  return heatmap.shape;
}
`;

/**
 * Type-checks `file` in `dir` with moduleResolution node10; returns the diagnostics, one line each.
 * tfcam's shipped declarations are checked too (no skipLibCheck); tfjs' own are not ours to check
 * (tfjs-layers 4.x has strict-mode errors in its .d.ts files).
 */
function typecheckNode10(dir: string, file: string): string[] {
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    target: ts.ScriptTarget.ES2020,
    lib: ['lib.es2020.d.ts', 'lib.dom.d.ts'],
    strict: true,
    noEmit: true,
    esModuleInterop: true,
    types: [],
  };
  const program = ts.createProgram([join(dir, file)], options);
  const resolved = program.getSourceFile(join(dir, file));
  const diagnostics = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => !/[\\/]node_modules[\\/]@tensorflow[\\/]/.test(d.file?.fileName ?? ''));
  const lines = diagnostics.map((d) => {
    const where = d.file && d.start !== undefined ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : '';
    return `${where}TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  if (resolved === undefined) lines.push(`${file} was not part of the program`);
  return lines;
}

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
    writeFileSync(join(dir, 'node10.ts'), NODE10_TS);
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
    expect(run('esm.mjs')).toEqual({
      consumer: 'esm',
      shape: [2, 8, 8],
      layer: 'conv',
      backend: 'cpu',
      errorsShared: hasBackendEntry ? true : null,
    });
  });

  it('works from a CJS require', () => {
    expect(run('cjs.cjs')).toEqual({
      consumer: 'cjs',
      shape: [2, 8, 8],
      layer: 'conv',
      backend: 'cpu',
      errorsShared: hasBackendEntry ? true : null,
    });
  });

  it('works next to the @tensorflow/tfjs union package', () => {
    expect(run('union.mjs')).toEqual({ consumer: 'union', shape: [2, 8, 8], layer: 'conv', backend: 'cpu', overlay: [2, 8, 8, 3] });
  });

  it.skipIf(!hasBackendEntry)('type-checks tfcam and tfcam/backend under TypeScript moduleResolution "node" (node10)', () => {
    expect(typecheckNode10(dir, 'node10.ts')).toEqual([]);
    // And the stub resolves 'tfcam/backend' to the CJS declarations in dist/, not to some other file.
    const host = ts.createCompilerHost({});
    const { resolvedModule } = ts.resolveModuleName(
      'tfcam/backend',
      join(dir, 'node10.ts'),
      { moduleResolution: ts.ModuleResolutionKind.Node10 },
      host,
    );
    expect(resolvedModule?.resolvedFileName.replace(/\\/g, '/')).toMatch(/node_modules\/tfcam\/dist\/backend\.d\.cts$/);
  });
});
