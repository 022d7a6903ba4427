/**
 * docs/performance.md (the user-facing page) and bench/ANALYSIS.md (the benchmark's record) link to
 * each other and share what `npm run bench:doc` (bench/doc.ts) generates: every marker it fills is
 * where it writes, and every relative link between them, the README and the guides resolves.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ONCE_REASON, runOnce } from '../helpers/once.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (file: string): string => readFileSync(join(repo, file), 'utf8');

/** The generated parts, by file, as bench/doc.ts fills them. */
const GENERATED: Record<string, string[]> = {
  'docs/performance.md': ['TARGETS'],
  'bench/ANALYSIS.md': ['RESULTS', 'BEFORE', 'EXPLAINER', 'GRAPH'],
};

/** GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = fenced ? null : /^#{1,6} (.*)$/.exec(line);
    if (m === null) continue;
    const base = m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\- _]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Relative Markdown links `[text](target)` outside code fences and spans. */
function links(markdown: string): string[] {
  const text = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/i.test(t));
}

describe.skipIf(!runOnce)(`performance docs and the benchmark analysis${runOnce ? '' : ` [${ONCE_REASON}]`}`, () => {
  it.each(Object.entries(GENERATED))('%s has the markers bench:doc fills, once each, on lines of their own', (file, names) => {
    const text = read(file);
    for (const name of names) {
      expect(text.match(new RegExp(`^<!-- ${name}:BEGIN -->$`, 'gm'))?.length, `${file} ${name}:BEGIN`).toBe(1);
      expect(text.match(new RegExp(`^<!-- ${name}:END -->$`, 'gm'))?.length, `${file} ${name}:END`).toBe(1);
    }
  });

  it('bench/doc.ts fills exactly those markers', () => {
    const code = read('bench/doc.ts');
    for (const [file, names] of Object.entries(GENERATED)) {
      expect(code).toMatch(new RegExp(`fill\\('${file}', \\{ ${names.map((n) => `${n}: \\w+`).join(', ')} \\}\\)`));
    }
    expect(code.match(/\bfill\('/g)?.length).toBe(Object.keys(GENERATED).length);
  });

  it.each(['README.md', 'docs/README.md', 'docs/performance.md', 'bench/ANALYSIS.md'])('every relative link in %s resolves', (file) => {
    const broken: string[] = [];
    for (const target of links(read(file))) {
      const [path = '', anchor] = target.split('#');
      const dest = path === '' ? join(repo, file) : resolve(repo, dirname(file), path);
      if (!existsSync(dest)) {
        broken.push(`${target}: no file ${relative(repo, dest)}`);
        continue;
      }
      if (anchor !== undefined && dest.endsWith('.md') && !anchors(readFileSync(dest, 'utf8')).has(anchor)) {
        broken.push(`${target}: no heading #${anchor} in ${relative(repo, dest)}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the two pages link to each other', () => {
    expect(links(read('docs/performance.md'))).toContain('../bench/ANALYSIS.md');
    expect(links(read('bench/ANALYSIS.md'))).toContain('../docs/performance.md');
  });
});
