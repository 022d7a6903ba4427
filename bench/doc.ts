/**
 * `npm run bench:doc`: fills the generated parts of docs/performance.md (between its `<!-- NAME:BEGIN -->`
 * and `<!-- NAME:END -->` markers) from bench/results.json (HEAD) and bench/results.0afca83.json (the
 * first run), and the batch scaling of bench/results.cpu-inceptionv3-batch.json: the targets of both
 * runs, the result tables at HEAD, the first run's tables.
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

// Targets: first run vs HEAD.
const tb = evaluateTargets(before);
const ta = [...evaluateTargets(after), ...evaluateTargets(batchRun).filter((t) => t.target === 'gradCam batch 8 / batch 1')];
const key = (t: { target: string; backend: string; model: string; batch: string; layer: string }) => [t.target, t.backend, t.model, t.batch, t.layer].join('|');
const fx = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)}x`);
const cell = (x: (typeof ta)[number] | undefined) => (x === undefined ? 'not run' : x.verdict === 'n/a' ? 'n/a' : x.value === null ? `${x.verdict} (${x.detail.split(':')[0]})` : `${fx(x.value)} ${x.verdict}`);
const rows = ['| target | backend | model | batch | layer | limit | first run (0afca83) | HEAD |', '|---|---|---|---|---|---|---|---|'];
for (const k of [...new Set([...tb, ...ta].map(key))]) {
  const b = tb.find((x) => key(x) === k);
  const a = ta.find((x) => key(x) === k);
  const t = (a ?? b)!;
  rows.push(`| ${t.target} | ${t.backend} | ${t.model} | ${t.batch} | ${t.layer} | <= ${t.limit} | ${cell(b)} | ${cell(a)} |`);
}
const count = (ts: typeof ta, v: string) => ts.filter((t) => t.verdict === v).length;
const targets = [
  `Targets (median of the timed calls; ratios within one run; "fastest calls" ratios are in the tables of [Results at HEAD](#results-at-head)). First run: ${count(tb, 'PASS')} PASS, ${count(tb, 'MISS')} MISS. HEAD: ${count(ta, 'PASS')} PASS, ${count(ta, 'MISS')} MISS.`,
  '',
  rows.join('\n'),
].join('\n');

// Results at HEAD: per-section tables, the targets with details, and the kernel comparisons of the misses.
const results = ['## Results at HEAD', '', report(after).replace(/^### /gm, '### ').replace(/^#### /gm, '#### ')].join('\n');

// The first run: its section tables, folded.
const beforeTables = [
  '<details><summary>Tables of the first run (bench/results.0afca83.json; <code>npm run bench -- --report bench/results.0afca83.json</code> prints them with their kernel comparisons)</summary>',
  '',
  before.sections.map((s) => sectionTable(s)).join('\n\n'),
  '',
  '</details>',
].join('\n');

let doc = readFileSync('docs/performance.md', 'utf8');
const put = (name: string, text: string) => {
  const re = new RegExp(`<!-- ${name}(:BEGIN)? -->[\\s\\S]*?(<!-- ${name}:END -->)|<!-- ${name} -->`);
  doc = doc.replace(re, `<!-- ${name}:BEGIN -->\n${text}\n<!-- ${name}:END -->`);
};
put('TARGETS', targets);
put('RESULTS', results);
put('BEFORE', beforeTables);
writeFileSync('docs/performance.md', doc);

process.stderr.write(`wrote docs/performance.md (${doc.length} characters)\n`);
