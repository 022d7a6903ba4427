/**
 * The measuring harness: one contender, one input, time and memory. No Node-only imports, so the
 * same code can run in a browser page (webgl).
 *
 * Per contender:
 * 1. `warmup` untimed calls;
 * 2. one call under `tf.profile`: peak tensor memory of the call (`peakBytes` minus the bytes
 *    allocated before it, and the kernel at which the peak was reached) and the kernels it ran,
 *    aggregated by name (kernel times of a warm call; profiling adds a timer per kernel);
 * 3. `runs` timed calls (fewer if `maxTimeMs` is spent), reporting the median. The timed calls of all
 *    contenders of one model and batch are interleaved in rounds (see `measureAll`). Every timed call ends
 *    with `await t.data()` of the contender's main output (the heatmap, the logits, the gradient):
 *    on cpu and wasm the ops already ran synchronously and the read costs microseconds; on webgl it
 *    forces the queued work to finish. Every contender is read back the same way.
 * After the timed calls the output of the last call is checked for NaN/Infinity and the tensor count
 * for leaks.
 */
import * as tf from '@tensorflow/tfjs-core';

export type Group = 'reference' | 'tfcam' | 'optimum' | 'naive';

/** A prepared contender. `run` is the measured call; it returns tensors the harness disposes. */
export interface Instance {
  run(x: tf.Tensor4D): tf.TensorContainer;
  dispose?(): void;
}

export interface ContenderSpec {
  /** `name` or `name@layer`. */
  id: string;
  name: string;
  group: Group;
  layer: string | null;
  /** Naive approaches are expected to throw on some graphs/backends: a throw is a result, not an error. */
  mayFail: boolean;
  /** What it is, for the table. */
  note: string;
  make(): Instance;
}

export interface KernelStat {
  name: string;
  ms: number;
  count: number;
}

export interface Measurement {
  id: string;
  name: string;
  group: Group;
  layer: string | null;
  note: string;
  /**
   * ok; fails (a naive contender threw: expected); error (anything else threw, or bad output);
   * skipped (not run, see `error`: e.g. it would not fit in wasm's 4 GiB heap).
   */
  status: 'ok' | 'fails' | 'error' | 'skipped';
  error?: string;
  timesMs: number[];
  medianMs: number | null;
  /** Peak tensor bytes allocated during one call, above what was allocated before it. */
  peakBytes: number | null;
  /** Wall time of the first call (warm-up, or the profiled call when there is no warm-up). */
  firstCallMs: number | null;
  /** The kernel after which the profiled call reached its peak: position (0-based) of all kernels run. */
  peakAt: { index: number; of: number; name: string } | null;
  /** Kernel time of the profiled call by kernel name, largest first (the 20 largest). */
  kernels: KernelStat[];
  kernelTotalMs: number | null;
  leakedTensors: number;
  /**
   * Tensor bytes the contender holds between calls (after its warm-up and profiled call, its
   * results disposed): prepared constants (the optimum's, an explainer's kernels). Absent in older
   * results files.
   */
  heldBytes?: number | null;
  /** Change of `tf.memory().numBytes` over the timed calls, results disposed (0: no growth). */
  grownBytes?: number;
  finite: boolean | null;
}

export interface MeasureOptions {
  runs: number;
  warmup: number;
  maxTimeMs: number;
  log: (msg: string) => void;
}

/** All tensors of a result, main output first. */
export function tensorsOf(result: tf.TensorContainer): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  const visit = (v: unknown): void => {
    if (v == null) return;
    if (v instanceof tf.Tensor) out.push(v);
    else if (Array.isArray(v)) v.forEach(visit);
    else if (typeof v === 'object') Object.values(v as Record<string, unknown>).forEach(visit);
  };
  const r = result as Record<string, unknown> | tf.Tensor;
  if (!(r instanceof tf.Tensor) && r !== null && typeof r === 'object') {
    for (const key of ['heatmap', 'gradient', 'map', 'saliency']) visit(r[key]);
  }
  visit(result);
  return [...new Set(out)];
}

/** Forces the result to completion by reading back its main output. */
async function settle(result: tf.TensorContainer): Promise<tf.TypedArray | null> {
  const main = tensorsOf(result)[0];
  return main === undefined ? null : ((await main.data()) as tf.TypedArray);
}

function allFinite(result: tf.TensorContainer): boolean {
  for (const t of tensorsOf(result)) {
    if (t.dtype !== 'float32') continue;
    const v = t.dataSync();
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i] as number)) return false;
  }
  return true;
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function message(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]?.slice(0, 300) ?? '';
}

/** Aggregates a profile's kernels by name ('forward' is tf.customGrad's wrapper scope: its kernels are listed on their own). */
function aggregate(kernels: ReadonlyArray<{ name: string; kernelTimeMs: unknown }>): KernelStat[] {
  const by = new Map<string, KernelStat>();
  for (const k of kernels) {
    if (k.name === 'forward' || k.name === '') continue;
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const s = by.get(k.name) ?? { name: k.name, ms: 0, count: 0 };
    s.ms += ms;
    s.count += 1;
    by.set(k.name, s);
  }
  return [...by.values()].sort((a, b) => b.ms - a.ms);
}

/** Kernel names kept per measurement (by time, largest first); the total covers them all. */
const KERNELS_KEPT = 20;

/** Output of the profiled call kept for cross-checks between contenders (heatmaps only). */
export interface Sample {
  heatmap: Float32Array | null;
}

/** A contender after its warm-up and profiled call, ready for timed calls. */
export interface Running {
  spec: ContenderSpec;
  m: Measurement;
  sample: Sample;
  inst: Instance | null;
  spentMs: number;
  done: boolean;
}

function newMeasurement(spec: ContenderSpec): Measurement {
  return {
    id: spec.id,
    name: spec.name,
    group: spec.group,
    layer: spec.layer,
    note: spec.note,
    status: 'ok',
    timesMs: [],
    medianMs: null,
    peakBytes: null,
    firstCallMs: null,
    peakAt: null,
    kernels: [],
    kernelTotalMs: null,
    leakedTensors: 0,
    heldBytes: null,
    grownBytes: 0,
    finite: null,
  };
}

/**
 * Set when the wasm runtime trapped (out of memory inside a kernel, typically): the module's heap is
 * then corrupt and every later wasm call fails with unrelated errors, so nothing more is measured.
 */
export const trap: { message: string | null } = { message: null };

function failed(r: Running, e: unknown, log: (msg: string) => void): Running {
  // A contender that throws is an error unless it is a naive approach (expected to fail somewhere).
  r.m.status = r.spec.mayFail ? 'fails' : 'error';
  r.m.error = message(e);
  if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) {
    r.m.status = 'error';
    r.m.error = `wasm runtime trap (heap exhausted?): ${r.m.error}`;
    trap.message = `not run: the wasm runtime trapped earlier in ${r.spec.id} (${message(e)})`;
  }
  r.done = true;
  r.inst?.dispose?.();
  r.inst = null;
  log(`  ${r.spec.id}: ${r.m.status === 'fails' ? 'fails (expected for this approach)' : 'ERROR'}: ${r.m.error}`);
  return r;
}

/** Marks a contender as not run. */
export function skip(r: Running, why: string, log: (msg: string) => void, status: 'skipped' | 'error' = 'skipped'): Running {
  r.m.status = status;
  r.m.error = why;
  r.done = true;
  log(`  ${r.spec.id}: ${status}: ${why}`);
  return r;
}

/** Phase 1: prepare the contender, warm it up, and run the profiled call (memory and kernels). */
export async function start(spec: ContenderSpec, x: tf.Tensor4D, opts: MeasureOptions): Promise<Running> {
  const r: Running = { spec, m: newMeasurement(spec), sample: { heatmap: null }, inst: null, spentMs: 0, done: false };
  const m = r.m;
  if (trap.message !== null) return skip(r, trap.message, opts.log, 'error');
  const bytesBefore = tf.memory().numBytes;
  try {
    r.inst = spec.make();
  } catch (e) {
    return failed(r, e, opts.log);
  }
  const inst = r.inst;
  try {
    for (let i = 0; i < opts.warmup; i++) {
      const t0 = performance.now();
      const out = inst.run(x);
      await settle(out);
      if (i === 0) m.firstCallMs = performance.now() - t0;
      tf.dispose(out);
    }
    const startBytes = tf.memory().numBytes;
    let thrown: unknown = null;
    let out: tf.TensorContainer = [];
    const t0 = performance.now();
    const profile = await tf.profile(async () => {
      try {
        out = inst.run(x);
        await settle(out);
      } catch (e) {
        thrown = e;
      }
    });
    m.firstCallMs ??= performance.now() - t0;
    if (thrown !== null) return failed(r, thrown, opts.log);
    m.peakBytes = Math.max(profile.peakBytes, startBytes) - startBytes;
    const ks = profile.kernels as unknown as Array<{ name: string; kernelTimeMs: unknown; totalBytesSnapshot: number }>;
    const peakIndex = ks.findIndex((k) => k.totalBytesSnapshot === profile.peakBytes);
    if (peakIndex >= 0) m.peakAt = { index: peakIndex, of: ks.length, name: (ks[peakIndex] as { name: string }).name };
    const kernels = aggregate(ks);
    m.kernelTotalMs = kernels.reduce((t, k) => t + k.ms, 0);
    m.kernels = kernels.slice(0, KERNELS_KEPT);
    const main = tensorsOf(out)[0];
    if (main !== undefined && main.rank === 3) r.sample.heatmap = main.dataSync() as Float32Array;
    m.finite = allFinite(out);
    tf.dispose(out);
    m.heldBytes = tf.memory().numBytes - bytesBefore;
    opts.log(
      `  ${spec.id}: peak ${(m.peakBytes / 2 ** 20).toFixed(1)} MiB after kernel ${(m.peakAt?.index ?? -2) + 1}/${m.peakAt?.of ?? '?'} (${m.peakAt?.name ?? '?'})`,
    );
    return r;
  } catch (e) {
    return failed(r, e, opts.log);
  }
}

/** Phase 2: one timed call (skipped once the contender is done or out of time budget). */
export async function timeOnce(r: Running, x: tf.Tensor4D, opts: MeasureOptions, last: boolean): Promise<void> {
  if (r.done || r.inst === null) return;
  if (trap.message !== null) {
    skip(r, trap.message, opts.log, 'error');
    return;
  }
  try {
    const before = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    const t0 = performance.now();
    const out = r.inst.run(x);
    await settle(out);
    const ms = performance.now() - t0;
    r.m.timesMs.push(ms);
    r.spentMs += ms;
    const outOfTime = r.spentMs >= opts.maxTimeMs;
    if (last || outOfTime) r.m.finite = (r.m.finite ?? true) && allFinite(out);
    tf.dispose(out);
    r.m.leakedTensors += tf.memory().numTensors - before;
    r.m.grownBytes = (r.m.grownBytes ?? 0) + tf.memory().numBytes - bytes;
    opts.log(`  ${r.spec.id}: run ${r.m.timesMs.length}/${opts.runs} ${ms.toFixed(0)} ms`);
    if (outOfTime && !last) {
      opts.log(`  ${r.spec.id}: time budget spent after ${r.m.timesMs.length} run(s)`);
      r.done = true;
    }
  } catch (e) {
    failed(r, e, opts.log);
  }
}

/** Phase 3: median, checks, disposal. */
export function finish(r: Running, opts: MeasureOptions): Measurement {
  const m = r.m;
  r.inst?.dispose?.();
  r.inst = null;
  if (m.status !== 'ok') return m;
  m.medianMs = median(m.timesMs);
  if (m.finite === false) {
    m.status = 'error';
    m.error = 'non-finite values in the output';
  } else if (m.leakedTensors !== 0) {
    m.status = 'error';
    m.error = `${m.leakedTensors} tensors leaked over ${m.timesMs.length} call(s)`;
  } else if (m.medianMs === null || !Number.isFinite(m.medianMs)) {
    m.status = 'error';
    m.error = 'no finite timing';
  }
  if (m.status === 'error') opts.log(`  ${m.id}: ERROR: ${m.error}`);
  return m;
}

/**
 * Measures several contenders on the same input. Warm-up and profiled calls run contender by
 * contender; the timed calls run in rounds (each round calls every contender once, in order), so
 * that a change of machine load during the run affects every contender alike and the ratios within
 * the run stay meaningful on a shared machine.
 */
export async function measureAll(
  specs: readonly ContenderSpec[],
  x: tf.Tensor4D,
  opts: MeasureOptions & {
    onStart?: (spec: ContenderSpec) => void;
    /** Returns a reason not to run the contender (e.g. its estimated memory), or null. */
    precheck?: (spec: ContenderSpec) => string | null;
  },
): Promise<Array<{ m: Measurement; sample: Sample }>> {
  const running: Running[] = [];
  for (const spec of specs) {
    opts.onStart?.(spec);
    const why = opts.precheck?.(spec) ?? null;
    if (why !== null) {
      const r: Running = { spec, m: newMeasurement(spec), sample: { heatmap: null }, inst: null, spentMs: 0, done: false };
      running.push(skip(r, why, opts.log));
      continue;
    }
    running.push(await start(spec, x, opts));
  }
  for (let round = 0; round < opts.runs; round++) {
    opts.log(`  timed round ${round + 1}/${opts.runs}`);
    for (const r of running) await timeOnce(r, x, opts, round === opts.runs - 1);
  }
  return running.map((r) => ({ m: finish(r, opts), sample: r.sample }));
}
