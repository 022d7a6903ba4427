/**
 * typedoc (`npm run docs`) fails on an export without a comment; this test holds the exported
 * functions to the rest of the documentation contract: a summary, every parameter, the return value,
 * the errors, and an example (whose code the codeblocks test type-checks).
 */
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ONCE_REASON, runOnce } from '../helpers/once.js';
import { ROOT, entryPoints, snippetCompilerOptions } from './snippets.js';

interface ExportDoc {
  /** `tfcam` or `tfcam/backend`. */
  entry: string;
  name: string;
  file: string;
  callable: boolean;
  missing: string[];
}

function auditExports(): ExportDoc[] {
  const entries = entryPoints();
  const program = ts.createProgram({ rootNames: Object.values(entries), options: snippetCompilerOptions() });
  const checker = program.getTypeChecker();
  const out: ExportDoc[] = [];
  for (const [entry, file] of Object.entries(entries)) {
    const sf = program.getSourceFile(file);
    const mod = sf === undefined ? undefined : checker.getSymbolAtLocation(sf);
    if (mod === undefined) throw new Error(`cannot read the exports of ${file}`);
    for (const exported of checker.getExportsOfModule(mod)) {
      const sym = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const decl = sym.declarations?.[0];
      if (decl === undefined) continue;
      const signatures = checker.getTypeOfSymbolAtLocation(sym, decl).getCallSignatures();
      const callable = (ts.isFunctionDeclaration(decl) || ts.isVariableDeclaration(decl)) && signatures.length > 0;
      const tags = ts.getJSDocTags(decl);
      const has = (tag: string): boolean => tags.some((t) => t.tagName.text === tag);
      const summary = ts
        .getJSDocCommentsAndTags(decl)
        .filter(ts.isJSDoc)
        .some((d) => (ts.getTextOfJSDocComment(d.comment) ?? '').trim().length > 0);
      const missing: string[] = [];
      if (!summary) missing.push('a summary');
      if (callable) {
        const params = new Set(tags.filter(ts.isJSDocParameterTag).map((t) => t.name.getText()));
        for (const p of (signatures[0] as ts.Signature).getParameters()) if (!params.has(p.name)) missing.push(`@param ${p.name}`);
        for (const tag of ['returns', 'throws', 'example']) if (!has(tag)) missing.push(`@${tag}`);
      }
      out.push({ entry, name: exported.name, file: decl.getSourceFile().fileName.slice(ROOT.length + 1), callable, missing });
    }
  }
  return out;
}

describe.skipIf(!runOnce)(`TSDoc of the public API${runOnce ? '' : ` [${ONCE_REASON}]`}`, () => {
  it('documents every exported function: summary, each @param, @returns, @throws and an @example', () => {
    const docs = auditExports();
    expect(docs.filter((d) => d.callable).length).toBeGreaterThan(10);
    const problems = docs
      .filter((d) => d.missing.length > 0)
      .map((d) => `${d.entry} ${d.name} (${d.file}): missing ${d.missing.join(', ')}`);
    expect(problems, `\n${problems.join('\n')}\n`).toEqual([]);
  }, 120_000);
});
