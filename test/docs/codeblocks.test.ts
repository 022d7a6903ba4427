import { beforeAll, describe, expect, it } from 'vitest';
import { ONCE_REASON, runOnce } from '../helpers/once.js';
import type { SnippetDiagnostic } from './snippets.js';
import { allMarkdownSnippets, allTsdocSnippets, checkSnippets, describeDiagnostic, docFiles } from './snippets.js';

// Static checks of the documentation: independent of the tfjs backend, so they run in one project only.
const markdown = allMarkdownSnippets();
const tsdoc = allTsdocSnippets();

describe.skipIf(!runOnce)(`documentation code blocks type-check (strict, against src/)${runOnce ? '' : ` [${ONCE_REASON}]`}`, () => {
  let results: ReturnType<typeof checkSnippets>;

  beforeAll(() => {
    results = checkSnippets([...markdown, ...tsdoc]);
  }, 120_000);

  const problems = (file: string, index: number): string[] =>
    (results.bySnippet.get(`${file}#${index}`) ?? []).map((d: SnippetDiagnostic) => describeDiagnostic(d));

  it('finds the README and the guides, with code blocks in them', () => {
    const files = docFiles().map((p) => p.replace(/\\/g, '/'));
    expect(files.some((f) => f.endsWith('/README.md'))).toBe(true);
    expect(files.length).toBeGreaterThan(1);
    expect(markdown.filter((s) => s.file === 'README.md').length).toBeGreaterThan(0);
    expect(tsdoc.length).toBeGreaterThan(0);
  });

  it('compiles with valid options and a valid shared prelude', () => {
    expect(results.global).toEqual([]);
  });

  const cases = [...markdown, ...tsdoc].map((s) => [`${s.file} #${s.index} (line ${s.line})`, s] as const);
  it.each(cases)('%s', (_name, s) => {
    if (s.skip !== null) return; // <!-- typecheck: skip ... -->
    const found = problems(s.file, s.index);
    expect(found, `\n${found.join('\n')}\n--- block ---\n${s.code}\n`).toEqual([]);
  });
});
