/**
 * tfcam benchmark: `npm run bench -- [flags]` (see docs/performance.md for the method and results).
 *
 *   --backend cpu|wasm|webgl|all  default all (cpu and wasm, in Node); webgl runs in Chromium
 *                                 (vitest browser mode, /usr/bin/chromium or $TFCAM_CHROMIUM)
 *   --swiftshader                 webgl: force software WebGL2 (SwiftShader) even where a GPU exists
 *   --model mobilenetv2|inceptionv3|mobilenetv2graph|all   default all; mobilenetv2graph is MobileNetV2
 *                                 as a tf.GraphModel (bench/graphmodel.ts: tfcam against a hand-written
 *                                 optimum on the graph and model.execute; cpu and wasm)
 *   --batch 1,8                   batch sizes, default 1,8
 *   --runs N                      timed calls per contender (median reported), default 5
 *   --warmup N                    untimed warm-up calls before the profiled call and the timed calls, default 1
 *   --max-time S                  stop timing a contender after S seconds of timed calls (>= 1 call)
 *   --only a,b / --skip a,b       contenders by name or name@layer (predict, inputGradient, optimum,
 *                                 optimumAlt, gradCam, kerasSplit, probe, guidedGradCam, scoreCam);
 *                                 scoreCam (one forward pass per channel) runs only when named in --only
 *   --small                       reduced models (MobileNetV2 96 px alpha 0.35, InceptionV3 107 px x0.25)
 *   --smoke                       CI check: --small MobileNetV2, batch 1, no warm-up, one profiled and
 *                                 one timed call of everything;
 *                                 exits 1 if anything throws (other than the naive approaches) or a
 *                                 result is non-finite
 *   --out FILE                    results JSON (default bench/results.json; smoke: bench/results.local.json)
 *   --append                      merge into FILE, replacing sections with the same backend/model/batch
 *   --report FILE                 print the tables of an existing results file and exit
 *
 * Environment: TFCAM_BENCH_MODULE=path/to/index.ts measures another copy of tfcam (a patched src/
 * or dist/index.js) against the same anchors.
 *
 * Progress goes to stderr, the tables (Markdown) to stdout. Speed is never asserted.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { execSync, spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers registers the gradients of the ops, as in any app that has a LayersModel.
import '@tensorflow/tfjs-layers';
import type { Measurement } from './measure.js';
import { trap } from './measure.js';
import { GRAPH_MODELS, runGraphSuite } from './graphmodel.js';
import { modelConfigs, runSuite, selected } from './suite.js';
import type { Results, Section } from './table.js';
import { evaluateTargets, formatResults, report, sectionTable } from './table.js';

function readArgs() {
  try {
    return parseArgs({
      options: {
        backend: { type: 'string' },
        model: { type: 'string' },
        batch: { type: 'string' },
        runs: { type: 'string' },
        warmup: { type: 'string' },
        'max-time': { type: 'string' },
        only: { type: 'string' },
        skip: { type: 'string' },
        small: { type: 'boolean', default: false },
        smoke: { type: 'boolean', default: false },
        swiftshader: { type: 'boolean', default: false },
        out: { type: 'string' },
        append: { type: 'boolean', default: false },
        report: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    // Unknown or malformed flags: say so without a stack trace.
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)} (see --help)\n`);
    process.exit(1);
  }
}

const args = readArgs();

/** A bad command line: reported without a stack trace. */
class UsageError extends Error {}

const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

function list(v: string | undefined): string[] {
  return v === undefined
    ? []
    : v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
}

function int(name: string, v: string | undefined, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min} (got '${v}')`);
  return n;
}

/** `TFCAM_BENCH_MODULE=path/to/index.ts` measures another build or a patched copy of tfcam instead of src/. */
const TFCAM_MODULE = process.env['TFCAM_BENCH_MODULE'];

async function loadTfcam(): Promise<Record<string, unknown>> {
  if (TFCAM_MODULE !== undefined && TFCAM_MODULE !== '') {
    return (await import(pathToFileURL(resolvePath(TFCAM_MODULE)).href)) as Record<string, unknown>;
  }
  return (await import('../src/index.js')) as unknown as Record<string, unknown>;
}

/** The commit measured, and whether src/ had uncommitted changes. */
function gitState(): string {
  try {
    const head = execSync('git rev-parse --short HEAD', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execSync('git status --porcelain -- src', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return dirty ? `${head} + uncommitted changes in src/` : head;
  } catch {
    return 'unknown';
  }
}

async function useBackend(name: string): Promise<void> {
  const okSet = await tf.setBackend(name);
  await tf.ready();
  // setBackend falls back silently: assert.
  if (!okSet || tf.getBackend() !== name) throw new Error(`could not activate backend '${name}' (active: ${tf.getBackend()})`);
}

/**
 * `--backend webgl`: the same suite in Chromium (bench/webgl/), started as a vitest browser run; the
 * page writes its sections to a file under out/, read back here.
 */
function runInChromium(options: Record<string, unknown>): { sections: Section[]; failures: number; meta: Record<string, unknown> } {
  const file = resolvePath('out', `bench-webgl-${process.pid}.json`);
  mkdirSync(dirname(file), { recursive: true });
  rmSync(file, { force: true });
  log('[webgl] starting Chromium (vitest browser mode): progress below comes from the page');
  const vitest = resolvePath('node_modules', 'vitest', 'vitest.mjs');
  const r = spawnSync(process.execPath, [vitest, 'run', '--config', 'bench/webgl/vitest.config.ts'], {
    stdio: ['ignore', 2, 2],
    env: { ...process.env, TFCAM_BENCH_BROWSER: JSON.stringify({ ...options, out: file }) },
  });
  if (!existsSync(file)) {
    throw new Error(`the webgl page wrote no results (vitest exit status ${r.status ?? r.signal ?? '?'}; see its output above)`);
  }
  const got = JSON.parse(readFileSync(file, 'utf8')) as { sections: Section[]; failures: number; meta: Record<string, unknown> };
  rmSync(file, { force: true });
  return got;
}

async function main(): Promise<number> {
  if (args.help) {
    log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0] ?? '');
    return 0;
  }
  if (args.report !== undefined) {
    const results = JSON.parse(readFileSync(args.report, 'utf8')) as Results;
    process.stdout.write(`${report(results)}\n`);
    return 0;
  }
  const smoke = args.smoke === true;
  const small = smoke || args.small === true;
  const backendArg = args.backend ?? 'all';
  const backends = backendArg === 'all' ? ['cpu', 'wasm'] : list(backendArg);
  for (const b of backends) {
    if (b !== 'cpu' && b !== 'wasm' && b !== 'webgl') throw new UsageError(`--backend must be cpu, wasm, webgl or all (got '${b}')`);
  }
  if (backends.includes('webgl') && TFCAM_MODULE !== undefined && TFCAM_MODULE !== '') {
    throw new UsageError('TFCAM_BENCH_MODULE applies to cpu and wasm; the webgl page measures src/');
  }
  const configs = modelConfigs(small);
  const modelArg = args.model ?? (smoke ? 'mobilenetv2' : 'all');
  const graphModels: readonly string[] = GRAPH_MODELS;
  const allModels = modelArg === 'all' ? [...Object.keys(configs), ...graphModels] : list(modelArg);
  for (const m of allModels)
    if (!(m in configs) && !graphModels.includes(m))
      throw new UsageError(`--model must be mobilenetv2, inceptionv3, mobilenetv2graph or all (got '${m}')`);
  const models = allModels.filter((m) => m in configs);
  const graphSection = allModels.some((m) => graphModels.includes(m));
  const batches = smoke ? [1] : list(args.batch ?? '1,8').map((b) => int('batch', b, 1, 1));
  const runs = smoke ? 1 : int('runs', args.runs, 5, 1);
  const warmup = smoke ? 0 : int('warmup', args.warmup, 1, 0);
  const maxTimeS = args['max-time'] === undefined ? Number.POSITIVE_INFINITY : Number(args['max-time']);
  if (!(maxTimeS > 0)) throw new UsageError(`--max-time must be a positive number of seconds (got '${args['max-time'] ?? ''}')`);
  const maxTimeMs = maxTimeS * 1000;
  const only = list(args.only);
  const skip = list(args.skip);
  const out = args.out ?? (smoke ? 'bench/results.local.json' : 'bench/results.json');

  const tfcam = await loadTfcam();
  const results: Results = {
    meta: {
      date: new Date().toISOString(),
      command: process.argv.slice(2).join(' '),
      node: process.version,
      tfjs: tf.version_core,
      git: gitState(),
      tfcamModule: TFCAM_MODULE ?? 'src/index.ts',
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      loadavgStart: loadavg().map((l) => Number(l.toFixed(2))),
      runs,
      warmup,
      maxTimeS: Number.isFinite(maxTimeMs) ? maxTimeMs / 1000 : null,
      smoke,
      tfcamExports: Object.keys(tfcam)
        .filter((k) => typeof tfcam[k] === 'function')
        .sort(),
      readBack: 'every timed call ends with await data() of its main output (heatmap / logits / gradient)',
    },
    sections: [],
  };
  let failures = 0;
  const t0 = performance.now();
  for (const backend of backends) {
    if (backend === 'webgl') {
      const run = runInChromium({
        models,
        small,
        batches,
        runs,
        warmup,
        maxTimeMs: Number.isFinite(maxTimeMs) ? maxTimeMs : null,
        only,
        skip,
        smoke,
        commit: results.meta['git'] as string,
        command: results.meta['command'] as string,
        swiftshader: args.swiftshader === true,
      });
      results.meta['webgl'] = run.meta;
      for (const section of run.sections) process.stdout.write(`${sectionTable(section)}\n\n`);
      results.sections.push(...run.sections);
      failures += run.failures;
      continue;
    }
    await useBackend(backend);
    // A wasm trap leaves only the wasm module unusable.
    if (backend !== 'wasm') trap.message = null;
    if (backend === 'wasm') {
      results.meta['wasm'] = {
        simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
        threads: tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT'),
      };
    }
    const run = await runSuite({
      backend,
      models,
      small,
      batches,
      runs,
      warmup,
      maxTimeMs,
      only,
      skip,
      smoke,
      tfcam,
      commit: results.meta['git'] as string,
      command: results.meta['command'] as string,
      log,
      onSection: (section) => process.stdout.write(`${sectionTable(section)}\n\n`),
    });
    results.sections.push(...run.sections);
    failures += run.failures;
    if (graphSection) {
      const graph = await runGraphSuite({
        backend,
        small,
        batches,
        runs,
        warmup,
        maxTimeMs,
        selected: (id) => selected(id, only, skip, smoke),
        tfcam,
        commit: results.meta['git'] as string,
        command: results.meta['command'] as string,
        log,
        onSection: (section) => process.stdout.write(`${sectionTable(section)}\n\n`),
      });
      results.sections.push(...graph.sections);
      failures += graph.failures;
    }
  }
  results.meta['wallS'] = Number(((performance.now() - t0) / 1000).toFixed(1));
  results.meta['loadavgEnd'] = loadavg().map((l) => Number(l.toFixed(2)));

  let toWrite = results;
  if (args.append && existsSync(out)) {
    const previous = JSON.parse(readFileSync(out, 'utf8')) as Results;
    const key = (s: Section): string => `${s.backend}/${s.model}/${s.inputSize}/${s.batch}`;
    const fresh = new Set(results.sections.map(key));
    toWrite = {
      meta: { ...previous.meta, [`run ${results.meta['date'] as string}`]: results.meta },
      sections: [...previous.sections.filter((s) => !fresh.has(key(s))), ...results.sections],
    };
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, formatResults(toWrite));
  process.stdout.write(`${report(toWrite, false)}\n`);
  log(`wrote ${out}`);

  const nonFinite = results.sections.flatMap((s) => s.rows).filter((m: Measurement) => m.status === 'ok' && m.finite === false);
  const targets = evaluateTargets(results);
  log(
    `${targets.filter((t) => t.verdict === 'PASS').length} targets PASS, ${targets.filter((t) => t.verdict === 'MISS').length} MISS, ${targets.filter((t) => t.verdict === 'n/a').length} n/a (speed is reported, not asserted)`,
  );
  if (failures > 0 || nonFinite.length > 0) {
    log(`${failures} contender(s) failed unexpectedly`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    log(`bench: ${e instanceof UsageError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  },
);
