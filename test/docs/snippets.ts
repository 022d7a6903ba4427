/**
 * Type-checks the TypeScript code blocks of the documentation: every ```ts / ```typescript fence in
 * README.md and docs/*.md, and every such fence in the TSDoc comments of src/ (the `@example`s).
 *
 * Conventions for authors (also described in docs/README.md):
 * - Each block is compiled as its own ES module (strict, target ES2022, top-level await allowed), with
 *   `'tfcam'` mapped to src/index.ts and `'tfcam/backend'` to src/backend.ts.
 * - Strict mode and `exactOptionalPropertyTypes` as in src/, but not `noUncheckedIndexedAccess`
 *   (snippets are user code, where `t.dataSync()[0]` is idiomatic).
 * - A block may use tfcam's exports and `tf` (the `@tensorflow/tfjs` union package) without importing
 *   them: any such name the block uses but does not declare is imported for it.
 * - A block may use the ambient values of {@link PRELUDE} (`model`, `image`, `images`, `canvas`, ...)
 *   without declaring them; declaring its own shadows them.
 * - `<!-- prelude: declare const layerNames: string[]; -->` on the line(s) just before a fence adds
 *   code in front of that block only (for markdown; TSDoc examples use the shared prelude only).
 * - `<!-- typecheck: skip <reason> -->` just before a fence skips the block (say why).
 *
 * One `ts.createProgram` compiles every block (virtual files, nothing is written to disk).
 */
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/[\\/]$/, '');

/**
 * Declarations every block can use without declaring them (it can shadow them). They stand for the
 * things a real app already has: a loaded model, an image, a canvas.
 */
export const PRELUDE = `
// A script (no import/export), so that its declarations are global and '*?url' is an ambient module.
/** A loaded image classifier ending in softmax, input [224, 224, 3]. */
declare const model: import('@tensorflow/tfjs').LayersModel;
/** One image, float32 [224, 224, 3] in [0, 1]. */
declare const image: import('@tensorflow/tfjs').Tensor3D;
/** A batch of images, float32 [B, 224, 224, 3] in [0, 1]. */
declare const images: import('@tensorflow/tfjs').Tensor4D;
/** A target layer's activations and the gradients of a score with respect to them, [B, h, w, C]. */
declare const activations: import('@tensorflow/tfjs').Tensor4D;
declare const gradients: import('@tensorflow/tfjs').Tensor4D;
/** Training data: images [N, 224, 224, 3] and one-hot labels [N, classes]. */
declare const xs: import('@tensorflow/tfjs').Tensor4D;
declare const ys: import('@tensorflow/tfjs').Tensor2D;
/** An <img> and a <canvas> of the page. */
declare const img: HTMLImageElement;
declare const canvas: HTMLCanvasElement;
// Vite's asset-URL imports (\`import url from './file.wasm?url'\`), as in vite/client.
declare module '*?url' {
  const url: string;
  export default url;
}
`;

/** One code block to type-check. */
export interface Snippet {
  /** Where it comes from, relative to the root, e.g. `README.md` or `src/methods/gradcam.ts`. */
  file: string;
  /** 1-based number of the block within its file. */
  index: number;
  /** 1-based line, in `file`, of the block's first code line. */
  line: number;
  /** The code. */
  code: string;
  /** Extra code put in front of this block only (`<!-- prelude: ... -->`). */
  prelude: string;
  /** Why the block is skipped, or null. */
  skip: string | null;
}

const TS_LANGS = new Set(['ts', 'typescript']);
const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)(.*)$/;

/** Extracts the ts/typescript fenced blocks of a markdown text. */
export function markdownSnippets(file: string, text: string): Snippet[] {
  const lines = text.split(/\r?\n/);
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] as string);
    if (open === null) continue;
    const [, indent = '', fence = '', lang = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j] as string;
      const close = /^\s*(`{3,}|~{3,})\s*$/.exec(l);
      if (close !== null && (close[1] as string)[0] === fence[0] && (close[1] as string).length >= fence.length) break;
      body.push(l.startsWith(indent) ? l.slice(indent.length) : l.trimStart());
    }
    if (TS_LANGS.has(lang.toLowerCase())) {
      const { prelude, skip } = directivesBefore(lines, i);
      out.push({ file, index: out.length + 1, line: i + 2, code: body.join('\n'), prelude, skip });
    }
    i = j;
  }
  return out;
}

/** The `<!-- prelude: ... -->` / `<!-- typecheck: skip ... -->` comments right above line `fenceLine`. */
function directivesBefore(lines: readonly string[], fenceLine: number): { prelude: string; skip: string | null } {
  const preludes: string[] = [];
  let skip: string | null = null;
  for (let k = fenceLine - 1; k >= 0; k--) {
    const l = (lines[k] as string).trim();
    if (l === '') continue;
    const m = /^<!--\s*(prelude|typecheck):([\s\S]*?)-->$/.exec(l);
    if (m === null) break;
    const body = (m[2] as string).trim();
    if (m[1] === 'prelude') preludes.unshift(body);
    else if (/^skip\b/.test(body)) skip = body.replace(/^skip\s*/, '') || 'no reason given';
  }
  return { prelude: preludes.join('\n'), skip };
}

/** Extracts the ts/typescript fenced blocks inside the `/** ... *\/` comments of a source file. */
export function tsdocSnippets(file: string, text: string): Snippet[] {
  const out: Snippet[] = [];
  const comment = /\/\*\*[\s\S]*?\*\//g;
  for (let m = comment.exec(text); m !== null; m = comment.exec(text)) {
    const startLine = text.slice(0, m.index).split('\n').length; // line of "/**"
    const lines = m[0].split('\n').map((l) => l.replace(/^\s*\/?\*+\/?\s?/, '').replace(/\s*\*\/$/, ''));
    for (const s of markdownSnippets(file, lines.join('\n'))) {
      out.push({ ...s, index: out.length + 1, line: startLine + s.line - 1, prelude: '' });
    }
  }
  return out;
}

function walk(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p, ext));
    else if (name.endsWith(ext)) out.push(p);
  }
  return out;
}

/** README.md and docs/*.md (not the generated docs/api). */
export function docFiles(): string[] {
  const docs = join(ROOT, 'docs');
  const guides = existsSync(docs)
    ? readdirSync(docs)
        .filter((n) => n.endsWith('.md'))
        .sort()
        .map((n) => join(docs, n))
    : [];
  return [join(ROOT, 'README.md'), ...guides];
}

/** Every markdown snippet of {@link docFiles}. */
export function allMarkdownSnippets(): Snippet[] {
  return docFiles().flatMap((p) => markdownSnippets(relative(ROOT, p), readFileSync(p, 'utf8')));
}

/** Every TSDoc snippet of src/. */
export function allTsdocSnippets(): Snippet[] {
  return walk(join(ROOT, 'src'), '.ts').flatMap((p) => tsdocSnippets(relative(ROOT, p), readFileSync(p, 'utf8')));
}

/**
 * The public entry points, module specifier -> source file: `tfcam` is src/index.ts, and each other
 * subpath of package.json `exports` (`./backend`) is the src file of that name (src/backend.ts).
 */
export function entryPoints(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; exports?: Record<string, unknown> };
  const entries: Record<string, string> = { [pkg.name]: join(ROOT, 'src/index.ts') };
  for (const key of Object.keys(pkg.exports ?? {})) {
    if (key === '.' || key.endsWith('.json')) continue;
    const name = key.replace(/^\.\//, '');
    const file = [join(ROOT, 'src', `${name}.ts`), join(ROOT, 'src', name, 'index.ts')].find((p) => existsSync(p));
    if (file === undefined) throw new Error(`package.json exports '${key}', but neither src/${name}.ts nor src/${name}/index.ts exists`);
    entries[`${pkg.name}/${name}`] = file;
  }
  return entries;
}

/** The value and type names a module exports, read syntactically. */
export function exportedNames(path: string): string[] {
  const sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true);
  const names: string[] = [];
  const isExported = (n: ts.Node): boolean =>
    ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  for (const st of sf.statements) {
    if (ts.isExportDeclaration(st) && st.exportClause !== undefined && ts.isNamedExports(st.exportClause)) {
      for (const el of st.exportClause.elements) names.push(el.name.text);
    } else if (isExported(st)) {
      if (ts.isVariableStatement(st)) {
        for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name)) names.push(d.name.text);
      } else if (
        (ts.isFunctionDeclaration(st) ||
          ts.isClassDeclaration(st) ||
          ts.isInterfaceDeclaration(st) ||
          ts.isTypeAliasDeclaration(st) ||
          ts.isEnumDeclaration(st)) &&
        st.name !== undefined
      ) {
        names.push(st.name.text);
      }
    }
  }
  return [...new Set(names)];
}

/** Names declared at the top level of a module (imports included). */
function topLevelNames(sf: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const bind = (n: ts.BindingName): void => {
    if (ts.isIdentifier(n)) names.add(n.text);
    else for (const el of n.elements) if (!ts.isOmittedExpression(el)) bind(el.name);
  };
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && st.importClause !== undefined) {
      const c = st.importClause;
      if (c.name !== undefined) names.add(c.name.text);
      if (c.namedBindings !== undefined) {
        if (ts.isNamespaceImport(c.namedBindings)) names.add(c.namedBindings.name.text);
        else for (const el of c.namedBindings.elements) names.add(el.name.text);
      }
    } else if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) bind(d.name);
    } else if (
      (ts.isFunctionDeclaration(st) ||
        ts.isClassDeclaration(st) ||
        ts.isInterfaceDeclaration(st) ||
        ts.isTypeAliasDeclaration(st) ||
        ts.isEnumDeclaration(st)) &&
      st.name !== undefined
    ) {
      names.add(st.name.text);
    } else if (ts.isImportEqualsDeclaration(st)) {
      names.add(st.name.text);
    }
  }
  return names;
}

/** Every identifier used in a source file. */
function usedIdentifiers(sf: ts.SourceFile): Set<string> {
  const used = new Set<string>();
  const visit = (n: ts.Node): void => {
    if (ts.isIdentifier(n)) used.add(n.text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return used;
}

/** The first line of a block's module: imports of the tfcam exports and `tf` it uses but does not declare. */
export function autoImports(code: string, exportsByModule: Readonly<Record<string, readonly string[]>>): string {
  const sf = ts.createSourceFile('snippet.ts', code, ts.ScriptTarget.ES2022, true);
  const declared = topLevelNames(sf);
  const used = usedIdentifiers(sf);
  const parts: string[] = [];
  if (used.has('tf') && !declared.has('tf')) parts.push("import * as tf from '@tensorflow/tfjs';");
  const taken = new Set(declared);
  for (const [specifier, names] of Object.entries(exportsByModule)) {
    const wanted = names.filter((n) => used.has(n) && !taken.has(n));
    wanted.forEach((n) => taken.add(n));
    if (wanted.length > 0) parts.push(`import { ${wanted.join(', ')} } from '${specifier}';`);
  }
  return parts.join(' ');
}

/** A problem found in one snippet. */
export interface SnippetDiagnostic {
  snippet: Snippet;
  /** 1-based line within the block (0 for the block's prelude/imports line). */
  blockLine: number;
  /** `TS2304: Cannot find name 'x'.` */
  message: string;
  /** The offending code line. */
  source: string;
}

/** Compiler options: the repository's strict settings, plus what snippets need. */
export function snippetCompilerOptions(): ts.CompilerOptions {
  const tsconfigPath = join(ROOT, 'tsconfig.json');
  const cfg = ts.readConfigFile(tsconfigPath, (p) => ts.sys.readFile(p));
  if (cfg.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(cfg.error.messageText, '\n'));
  const base = ts.parseJsonConfigFileContent(cfg.config, ts.sys, ROOT).options;
  const extra = ts.convertCompilerOptionsFromJson(
    {
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      lib: ['ES2022', 'DOM', 'DOM.Iterable'],
      types: ['node'],
      noEmit: true,
      declaration: false,
      sourceMap: false,
      skipLibCheck: true,
      noUnusedLocals: false,
      noUnusedParameters: false,
      // Snippets are user code: \`strict\` and \`exactOptionalPropertyTypes\` as in src/, but not
      // \`noUncheckedIndexedAccess\`, so that the idiomatic \`tensor.dataSync()[0]\` reads as a number.
      noUncheckedIndexedAccess: false,
    },
    ROOT,
  );
  if (extra.errors.length > 0) throw new Error(ts.flattenDiagnosticMessageText(extra.errors[0]?.messageText ?? '', '\n'));
  const paths: Record<string, string[]> = {};
  for (const [specifier, file] of Object.entries(entryPoints())) paths[specifier] = [file];
  return { ...base, ...extra.options, paths };
}

/**
 * Compiles every snippet in one program and returns the problems of each (keyed by
 * `file#index`), plus problems that belong to no snippet (options, the shared prelude).
 */
export function checkSnippets(snippets: readonly Snippet[]): { bySnippet: Map<string, SnippetDiagnostic[]>; global: string[] } {
  const options = snippetCompilerOptions();
  const exportsByModule: Record<string, string[]> = {};
  for (const [specifier, file] of Object.entries(entryPoints())) exportsByModule[specifier] = exportedNames(file);

  const dir = join(ROOT, '.snippets');
  const virtual = new Map<string, string>();
  const preludePath = join(dir, '__prelude__.d.ts');
  virtual.set(preludePath, PRELUDE);
  const files: Array<{ path: string; snippet: Snippet; headerLines: number }> = [];
  snippets.forEach((s, n) => {
    if (s.skip !== null) return;
    const path = join(dir, `${String(n).padStart(4, '0')}-${s.file.replace(/[^\w.-]+/g, '_')}-${s.index}.ts`);
    // Line 1: the imports; then the block's prelude, if any; then the block; then `export {}` to make it a module.
    const header = [autoImports(`${s.prelude}\n${s.code}`, exportsByModule), ...(s.prelude === '' ? [] : s.prelude.split('\n'))];
    virtual.set(path, `${header.join('\n')}\n${s.code}\nexport {};\n`);
    files.push({ path, snippet: s, headerLines: header.length });
  });

  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (p) => virtual.has(resolve(p)) || fileExists.call(host, p);
  host.readFile = (p) => virtual.get(resolve(p)) ?? readFile.call(host, p);
  host.getSourceFile = (p, lang, onError, create) => {
    const text = virtual.get(resolve(p));
    return text !== undefined ? ts.createSourceFile(p, text, lang, true) : getSourceFile.call(host, p, lang, onError, create);
  };
  const program = ts.createProgram({ rootNames: [preludePath, ...files.map((f) => f.path)], options, host });

  const format = (d: ts.Diagnostic): string => `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  const global = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map(format);
  const preludeFile = program.getSourceFile(preludePath);
  if (preludeFile !== undefined) {
    global.push(
      ...[...program.getSyntacticDiagnostics(preludeFile), ...program.getSemanticDiagnostics(preludeFile)].map(
        (d) => `prelude: ${format(d)}`,
      ),
    );
  }
  const bySnippet = new Map<string, SnippetDiagnostic[]>();
  for (const f of files) {
    const sf = program.getSourceFile(f.path);
    const key = `${f.snippet.file}#${f.snippet.index}`;
    if (sf === undefined) {
      bySnippet.set(key, [{ snippet: f.snippet, blockLine: 0, message: 'not compiled', source: '' }]);
      continue;
    }
    const diags = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    const lines = sf.text.split('\n');
    bySnippet.set(
      key,
      diags.map((d) => {
        const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line;
        return { snippet: f.snippet, blockLine: line + 1 - f.headerLines, message: format(d), source: (lines[line] ?? '').trim() };
      }),
    );
  }
  return { bySnippet, global };
}

/** One readable line per problem: `docs/memory.md block 2, line 31 (block line 4): TS2304: ...`, then the code line. */
export function describeDiagnostic(d: SnippetDiagnostic): string {
  const where =
    d.blockLine >= 1
      ? `line ${d.snippet.line + d.blockLine - 1} (block line ${d.blockLine})`
      : `line ${d.snippet.line} (imports / prelude of the block)`;
  return `${d.snippet.file} block ${d.snippet.index}, ${where}: ${d.message}\n    > ${d.source}`;
}
