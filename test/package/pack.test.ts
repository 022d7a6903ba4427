import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { ONCE_REASON, runOnce } from '../helpers/once.js';
import type { PackedFile } from './helpers.js';
import { ROOT, ensureBuilt, packedFiles } from './helpers.js';

interface PackageJson {
  name: string;
  main?: string;
  module?: string;
  types?: string;
  exports?: Record<string, unknown>;
  files?: string[];
  peerDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

/**
 * Subpath stubs: `<subpath>/package.json` files whose `main`, `module` and `types` point into dist/,
 * for resolvers that ignore `exports` (TypeScript's `moduleResolution: "node"`, older bundlers).
 */
const STUBS = (pkg.files ?? []).filter((f) => /^[^/]+\/package\.json$/.test(f));

/** Every file path named in `exports` (any condition), `main`, `module` and `types`, and in the subpath stubs. */
function referencedFiles(): string[] {
  const out = new Set<string>();
  const visit = (v: unknown): void => {
    if (typeof v === 'string') out.add(v.replace(/^\.\//, ''));
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(pkg.exports);
  for (const f of [pkg.main, pkg.module, pkg.types]) if (f !== undefined) out.add(f.replace(/^\.\//, ''));
  for (const stub of STUBS) {
    const dir = posix.dirname(stub);
    const s = JSON.parse(readFileSync(join(ROOT, stub), 'utf8')) as PackageJson;
    for (const f of [s.main, s.module, s.types]) if (f !== undefined) out.add(posix.normalize(posix.join(dir, f)));
  }
  return [...out].sort();
}

/** Bare module specifiers a built JS file imports (static, re-export, require, literal import()), parsed, not grepped. */
function bareImports(code: string): string[] {
  const specs = ts.preProcessFile(code, true, true).importedFiles.map((f) => f.fileName);
  return [...new Set(specs)].filter((s) => !s.startsWith('.') && !s.startsWith('node:')).sort();
}

describe.skipIf(!runOnce)(`npm package contents${runOnce ? '' : ` [${ONCE_REASON}]`}`, () => {
  let files: PackedFile[];

  beforeAll(async () => {
    await ensureBuilt();
    files = packedFiles();
  }, 300_000);

  it('holds only dist/**, README.md, LICENSE, CHANGELOG.md, package.json and the subpath stubs', () => {
    const allowed = new Set(['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json', ...STUBS]);
    const unexpected = files.map((f) => f.path).filter((p) => !p.startsWith('dist/') && !allowed.has(p));
    expect(unexpected).toEqual([]);
    const paths = new Set(files.map((f) => f.path));
    for (const f of allowed) expect(paths.has(f), `${f} is missing from the tarball`).toBe(true);
  });

  it('contains the ESM, CJS and both type entry files of every export', () => {
    const paths = new Set(files.map((f) => f.path));
    const referenced = referencedFiles().filter((f) => f !== 'package.json');
    expect(referenced).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts']));
    expect(referenced.filter((f) => !paths.has(f))).toEqual([]);
  });

  it('has a stub package.json for every subpath export, for resolvers without `exports` support', () => {
    const subpaths = Object.keys(pkg.exports ?? {})
      .filter((k) => k !== '.' && !k.endsWith('.json'))
      .map((k) => k.replace(/^\.\//, ''));
    expect(subpaths.map((p) => `${p}/package.json`).sort()).toEqual([...STUBS].sort());
    for (const stub of STUBS) {
      const s = JSON.parse(readFileSync(join(ROOT, stub), 'utf8')) as PackageJson;
      // The CJS build and its types: what a `require` through `main` gets.
      expect(s.main, stub).toMatch(/\.cjs$/);
      expect(s.types, stub).toMatch(/\.d\.cts$/);
    }
  });

  it('ships no empty files', () => {
    expect(files.filter((f) => f.size === 0).map((f) => f.path)).toEqual([]);
  });

  it('imports nothing from the built JS but its peer dependencies (tfjs is not bundled)', () => {
    const allowed = new Set(Object.keys({ ...pkg.peerDependencies, ...pkg.dependencies }));
    const js = files.map((f) => f.path).filter((p) => /\.(c|m)?js$/.test(p));
    expect(js.length).toBeGreaterThan(0);
    const offending: string[] = [];
    for (const p of js) {
      for (const spec of bareImports(readFileSync(join(ROOT, p), 'utf8'))) {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);
        if (!allowed.has(name)) offending.push(`${p}: '${spec}'`);
      }
    }
    expect(offending).toEqual([]);
    // And the tfjs code itself is not inlined: the entry is far smaller than tfjs-core alone (~2 MB).
    const entry = files.find((f) => f.path === 'dist/index.js');
    expect(entry?.size ?? Infinity).toBeLessThan(500_000);
  });
});
