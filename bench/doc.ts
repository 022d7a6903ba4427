/**
 * `npm run bench:doc`: fills the generated parts (between `<!-- NAME:BEGIN -->` and `<!-- NAME:END -->`
 * markers) of docs/performance.md and bench/ANALYSIS.md from bench/results.json (HEAD) and
 * bench/results.0afca83.json (the first run), and the batch scaling of
 * bench/results.cpu-inceptionv3-batch.json: the targets of both runs (TARGETS, docs/performance.md),
 * the result tables at HEAD (RESULTS) and the first run's tables (BEFORE, both bench/ANALYSIS.md),
 * and the explainer's runs of bench/results.explainer.json (its explainer targets and its one-shot
 * gradCam-with-output / predict join TARGETS; its tables are EXPLAINER in bench/ANALYSIS.md).
 * The GraphModel runs of bench/results.graph.json add their targets to TARGETS and their tables
 * (GRAPH) to bench/ANALYSIS.md.
 * A marker missing from its file is an error: nothing generated is dropped silently.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { evaluateTargets, report, sectionTable } from './table.js';
import type { Results } from './table.js';
const load = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as Results;
const after = load('bench/results.json');
const before = load('bench/results.0afca83.json');
// Batch scaling needs batch 1 and 8 from one run; where results.json has them from two runs (cpu
// InceptionV3), this file measured both in one.
const batchRun = load('bench/results.cpu-inceptionv3-batch.json');
// The GraphModel section (bench/graphmodel.ts: MobileNetV2 as a tf.GraphModel), from its own runs.
const graphRun = load('bench/results.graph.json');
// The explainer's runs (createExplainer, result.output), one per backend, at a later commit than
// results.json.
const explainerRun = load('bench/results.explainer.json');

// Targets: first run vs HEAD.
const tb = evaluateTargets(before);
const key = (t: { target: string; backend: string; model: string; batch: string; layer: string }) =>
  [t.target, t.backend, t.model, t.batch, t.layer].join('|');
// From the explainer's runs: the explainer's targets, and one-shot gradCam (whose result now
// carries the output) against predict at the last block, measured in the same run.
const later = evaluateTargets(explainerRun)
  .filter((t) => t.target.startsWith('explainer') || t.target === 'gradCam (last block) / predict')
  .map((t) => (t.target === 'gradCam (last block) / predict' ? { ...t, target: 'gradCam with output (last block) / predict' } : t));
const ta = [...evaluateTargets(after), ...evaluateTargets(batchRun).filter((t) => t.target === 'gradCam batch 8 / batch 1'), ...later];
ta.push(...evaluateTargets(graphRun));
const fx = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)}x`);
const cell = (x: (typeof ta)[number] | undefined) =>
  x === undefined
    ? 'not run'
    : x.verdict === 'n/a'
      ? 'n/a'
      : x.value === null
        ? `${x.verdict} (${x.detail.split(':')[0]})`
        : `${fx(x.value)} ${x.verdict}`;
const rows = ['| target | backend | model | batch | layer | limit | first run (0afca83) | HEAD |', '|---|---|---|---|---|---|---|---|'];
for (const k of [...new Set([...tb, ...ta].map(key))]) {
  const b = tb.find((x) => key(x) === k);
  const a = ta.find((x) => key(x) === k);
  const t = (a ?? b)!;
  rows.push(`| ${t.target} | ${t.backend} | ${t.model} | ${t.batch} | ${t.layer} | <= ${t.limit} | ${cell(b)} | ${cell(a)} |`);
}
const count = (ts: typeof ta, v: string) => ts.filter((t) => t.verdict === v).length;
const targets = [
  `Targets (median of the timed calls; ratios within one run; "fastest calls" ratios are in the tables of [Results at HEAD](../bench/ANALYSIS.md#results-at-head)). First run: ${count(tb, 'PASS')} PASS, ${count(tb, 'MISS')} MISS. HEAD: ${count(ta, 'PASS')} PASS, ${count(ta, 'MISS')} MISS.`,
  '',
  rows.join('\n'),
].join('\n');

// Results at HEAD: per-section tables, the targets with details, and the kernel comparisons of the misses.
const results = [
  '## Results at HEAD',
  '',
  report(after)
    .replace(/^### /gm, '### ')
    .replace(/^#### /gm, '#### '),
].join('\n');

// The first run: its section tables, folded.
const beforeTables = [
  '<details><summary>Tables of the first run (bench/results.0afca83.json; <code>npm run bench -- --report bench/results.0afca83.json</code> prints them with their kernel comparisons)</summary>',
  '',
  before.sections.map((s) => sectionTable(s)).join('\n\n'),
  '',
  '</details>',
].join('\n');

/**
 * Replaces the part between the lines `<!-- NAME:BEGIN -->` and `<!-- NAME:END -->` (or a bare
 * `<!-- NAME -->` line) in the file. Markers count only on lines of their own, so prose may name them.
 */
function fill(file: string, parts: Record<string, string>): void {
  let doc = readFileSync(file, 'utf8');
  for (const [name, text] of Object.entries(parts)) {
    const re = new RegExp(`^<!-- ${name}:BEGIN -->$[\\s\\S]*?^<!-- ${name}:END -->$|^<!-- ${name} -->$`, 'm');
    if (!re.test(doc))
      throw new Error(
        `${file} has no <!-- ${name}:BEGIN --> ... <!-- ${name}:END --> (or <!-- ${name} -->) marker for the generated ${name} part`,
      );
    doc = doc.replace(re, () => `<!-- ${name}:BEGIN -->\n${text}\n<!-- ${name}:END -->`);
  }
  writeFileSync(file, doc);
  process.stderr.write(`wrote ${file} (${doc.length} characters)\n`);
}

fill('docs/performance.md', { TARGETS: targets });
// The explainer's runs: their section tables and targets with details.
const explainerTables = ['## Results of the explainer runs', '', report(explainerRun)].join('\n');

const graphTables = ['## Results of the GraphModel runs', '', report(graphRun)].join('\n');
fill('bench/ANALYSIS.md', { RESULTS: results, BEFORE: beforeTables, EXPLAINER: explainerTables, GRAPH: graphTables });
