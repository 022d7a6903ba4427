/**
 * The examples are meant to be copied out of the repository: they import tfcam by package name,
 * tfjs, and public npm packages this repository depends on (so their versions are tested here),
 * never repository files such as scripts/ or src/.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ONCE_REASON, runOnce } from '../helpers/once.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
};
const known = new Set(Object.keys({ ...pkg.dependencies, ...pkg.devDependencies, ...pkg.peerDependencies }));

/** The example sources an app would copy (not the repository's own vite.config.ts, which serves its files). */
const EXAMPLES = ['node', 'browser'].flatMap((dir) =>
  readdirSync(join(repo, 'examples', dir))
    .filter((f) => /\.(ts|js|mjs|html)$/.test(f) && !f.startsWith('vite.config'))
    .map((f) => `examples/${dir}/${f}`),
);

function imports(file: string): string[] {
  const code = readFileSync(join(repo, file), 'utf8');
  if (file.endsWith('.html')) return [...code.matchAll(/<script[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1]!);
  return ts.preProcessFile(code, true, true).importedFiles.map((f) => f.fileName);
}

function packageName(spec: string): string {
  const parts = spec.split('?')[0]!.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

describe.skipIf(!runOnce)(`the examples import only tfcam and public packages${runOnce ? '' : ` [${ONCE_REASON}]`}`, () => {
  it('finds the node and browser examples', () => {
    expect(EXAMPLES).toEqual(
      expect.arrayContaining(['examples/node/quickstart.ts', 'examples/browser/main.ts', 'examples/browser/index.html']),
    );
  });

  it.each(EXAMPLES)('%s', (file) => {
    const specs = imports(file);
    expect(specs.length).toBeGreaterThan(0);
    const offending = specs.filter((spec) => {
      if (spec.startsWith('node:')) return false;
      // Relative imports stay inside the example's own folder.
      if (spec.startsWith('.')) return !resolve(repo, dirname(file), spec).startsWith(join(repo, dirname(file)));
      const name = packageName(spec);
      return name !== pkg.name && !known.has(name);
    });
    expect(offending, `${file} imports something an app would not have`).toEqual([]);
  });
});
