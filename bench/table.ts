/**
 * Ratios, targets and the printed tables (Markdown, so a run's output can be pasted into
 * docs/performance.md as it is).
 */
import type { KernelStat, Measurement } from './measure.js';

/** One (backend, model, batch) block of measurements, all from the same process and run. */
export interface Section {
  backend: string;
  model: string;
  modelLabel: string;
  inputSize: number;
  batch: number;
  lastBlock: string;
  layers: string[];
  runs: number;
  warmup: number;
  startedAt: string;
  /** The tfcam commit measured (from `git`, when the run started). */
  tfcam?: string;
  /** The command line of the run that measured the section. */
  command?: string;
  wallMs: number;
  rows: Measurement[];
  /** Max |heatmap - optimum heatmap| of each CAM contender at the same layer (same input). */
  checks: Array<{ id: string; vs: string; maxAbsDiff: number }>;
}

export interface Results {
  meta: Record<string, unknown>;
  sections: Section[];
}

export interface TargetRow {
  target: string;
  backend: string;
  model: string;
  batch: string;
  layer: string;
  value: number | null;
  limit: number;
  verdict: 'PASS' | 'MISS' | 'n/a';
  detail: string;
}

export const LIMITS = {
  timeVsOptimum: 1.1,
  peakVsOptimum: 1.3,
  lastBlockVsPredict: 1.3,
  guidedVsPredictPlusInputGrad: 1.2,
  batch8VsBatch1: 8,
  /** GraphModel sections (bench/graphmodel.ts): gradCam's time and peak memory against the graph optimum. */
  graphVsOptimum: 1.1,
  explainerVsOptimum: 1.0,
  explainerLastBlockVsPredict: 1.05,
} as const;

function row(s: Section, id: string): Measurement | undefined {
  return s.rows.find((r) => r.id === id);
}

/** Fastest timed call: on a shared machine, noise only ever adds time. */
export function minMs(m: Measurement | undefined): number | null {
  return m === undefined || m.timesMs.length === 0 ? null : Math.min(...m.timesMs);
}

function ok(m: Measurement | undefined): m is Measurement & { medianMs: number } {
  return m !== undefined && m.status === 'ok' && m.medianMs !== null;
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || !(b > 0)) return null;
  return a / b;
}

function verdict(value: number | null, limit: number): 'PASS' | 'MISS' | 'n/a' {
  if (value === null) return 'n/a';
  return value <= limit ? 'PASS' : 'MISS';
}

/** Every target of the performance issue, evaluated on the sections present. */
export function evaluateTargets(results: Results): TargetRow[] {
  const out: TargetRow[] = [];
  for (const s of results.sections) {
    const base = { backend: s.backend, model: s.modelLabel, batch: String(s.batch) };
    // GraphModel sections hold peak memory to 1.10x as well (no head conv to pay for: the last block).
    const graph = s.model.endsWith('graph');
    const peakLimit = graph ? LIMITS.graphVsOptimum : LIMITS.peakVsOptimum;
    for (const layer of s.layers) {
      const g = row(s, `gradCam@${layer}`);
      const o = row(s, `optimum@${layer}`);
      if (g === undefined || o === undefined) continue;
      const broken = !ok(o) ? `optimum ${o.status}: ${o.error ?? ''}` : null;
      if (!ok(g)) {
        const why = `gradCam ${g.status}: ${g.error ?? ''}`;
        out.push({
          ...base,
          target: 'gradCam / optimum (time)',
          layer,
          value: null,
          limit: LIMITS.timeVsOptimum,
          verdict: 'MISS',
          detail: why,
        });
        out.push({ ...base, target: 'gradCam / optimum (peak bytes)', layer, value: null, limit: peakLimit, verdict: 'MISS', detail: why });
        continue;
      }
      const t = broken === null ? ratio(g.medianMs, o.medianMs) : null;
      // Information, not a target: the optimum that keeps nothing between calls (wasm, convolutions above the layer).
      const pc = row(s, `optimumPerCall@${layer}`);
      const perCall = ok(pc) ? `; vs the optimum flipping kernels per call: ${fmtX(ratio(g.medianMs, pc.medianMs))}` : '';
      out.push({
        ...base,
        target: 'gradCam / optimum (time)',
        layer,
        value: t,
        limit: LIMITS.timeVsOptimum,
        verdict: verdict(t, LIMITS.timeVsOptimum),
        detail: broken ?? `${fmtMs(g.medianMs)} / ${fmtMs(o.medianMs)}; fastest calls: ${fmtX(ratio(minMs(g), minMs(o)))}${perCall}`,
      });
      const p = broken === null ? ratio(g.peakBytes, o.peakBytes) : null;
      out.push({
        ...base,
        target: 'gradCam / optimum (peak bytes)',
        layer,
        value: p,
        limit: peakLimit,
        verdict: verdict(p, peakLimit),
        detail: broken ?? `${fmtMiB(g.peakBytes)} / ${fmtMiB(o.peakBytes)}`,
      });
    }
    // The explainer (prepared kernels kept between calls): at the layers with convolutions above
    // them, against the optimum that prepares its kernels once; at the last block, against predict.
    const pr = row(s, 'predict');
    for (const layer of s.layers) {
      const e = row(s, `explainer@${layer}`);
      const o = row(s, `optimum@${layer}`);
      if (e === undefined) continue;
      const held = `holds ${fmtMiB(e.heldBytes)} between calls, ${fmtMiB(e.grownBytes)} more after ${e.timesMs.length} timed call(s)`;
      if (layer === s.lastBlock) {
        const v = ok(e) && ok(pr) ? ratio(e.medianMs, pr.medianMs) : null;
        out.push({
          ...base,
          target: 'explainer gradCam (last block) / predict',
          layer,
          value: v,
          limit: LIMITS.explainerLastBlockVsPredict,
          verdict: ok(e) ? verdict(v, LIMITS.explainerLastBlockVsPredict) : 'MISS',
          detail:
            v === null
              ? `explainer ${e.status}: ${e.error ?? ''}`
              : `${fmtMs(e.medianMs)} / ${fmtMs(pr?.medianMs)}; fastest calls: ${fmtX(ratio(minMs(e), minMs(pr)))}; ${held}`,
        });
      } else if (o !== undefined) {
        const v = ok(e) && ok(o) ? ratio(e.medianMs, o.medianMs) : null;
        out.push({
          ...base,
          target: 'explainer gradCam / optimum (time)',
          layer,
          value: v,
          limit: LIMITS.explainerVsOptimum,
          verdict: ok(e) ? verdict(v, LIMITS.explainerVsOptimum) : 'MISS',
          detail:
            v === null
              ? `explainer ${e.status}: ${e.error ?? ''}`
              : `${fmtMs(e.medianMs)} / ${fmtMs(o.medianMs)}; fastest calls: ${fmtX(ratio(minMs(e), minMs(o)))}; ${held} (the optimum's prepared constants: ${fmtMiB(o.heldBytes)})`,
        });
      }
    }
    const g = row(s, `gradCam@${s.lastBlock}`);
    if (g !== undefined && pr !== undefined) {
      const v = ok(g) && ok(pr) ? ratio(g.medianMs, pr.medianMs) : null;
      out.push({
        ...base,
        target: 'gradCam (last block) / predict',
        layer: s.lastBlock,
        value: v,
        limit: LIMITS.lastBlockVsPredict,
        verdict: ok(g) ? verdict(v, LIMITS.lastBlockVsPredict) : 'MISS',
        detail:
          v === null
            ? `gradCam ${g.status}, predict ${pr.status}`
            : `${fmtMs(g.medianMs)} / ${fmtMs(pr.medianMs)}; fastest calls: ${fmtX(ratio(minMs(g), minMs(pr)))}`,
      });
    }
    const gg = s.rows.find((r) => r.name === 'guidedGradCam');
    const ig = row(s, 'inputGradient');
    if (graph) {
      // (guidedGradCam is not part of the GraphModel section)
    } else if (gg === undefined) {
      out.push({
        ...base,
        target: 'guidedGradCam / (predict + input gradient)',
        layer: s.lastBlock,
        value: null,
        limit: LIMITS.guidedVsPredictPlusInputGrad,
        verdict: 'n/a',
        detail: 'guidedGradCam was not measured in this run',
      });
    } else {
      const denom = ok(pr) && ok(ig) ? pr.medianMs + ig.medianMs : null;
      const v = ok(gg) ? ratio(gg.medianMs, denom) : null;
      out.push({
        ...base,
        target: 'guidedGradCam / (predict + input gradient)',
        layer: gg.layer ?? s.lastBlock,
        value: v,
        limit: LIMITS.guidedVsPredictPlusInputGrad,
        verdict: ok(gg) ? verdict(v, LIMITS.guidedVsPredictPlusInputGrad) : 'MISS',
        // (a skipped guidedGradCam did not fit in memory: that is a miss too)
        detail:
          v === null
            ? `guidedGradCam ${gg.status}: ${gg.error ?? ''}`
            : `${fmtMs(gg.medianMs)} / (${fmtMs(pr?.medianMs)} + ${fmtMs(ig?.medianMs)}); fastest calls: ${fmtX(ratio(minMs(gg), (minMs(pr) ?? NaN) + (minMs(ig) ?? NaN)))}`,
      });
    }
  }
  // Batch scaling: batch 8 vs batch 1 of the same backend, model and layer, measured in the same run
  // (two invocations see different machine loads).
  const sameRun = (a: Section, b: Section): boolean => a.command === undefined || b.command === undefined || a.command === b.command;
  for (const s8 of results.sections.filter((s) => s.batch === 8)) {
    const s1 = results.sections.find(
      (s) => s.batch === 1 && s.backend === s8.backend && s.model === s8.model && s.inputSize === s8.inputSize && sameRun(s, s8),
    );
    if (s1 === undefined) continue;
    for (const layer of s8.layers) {
      const a = row(s8, `gradCam@${layer}`);
      const b = row(s1, `gradCam@${layer}`);
      if (a === undefined || b === undefined) continue;
      const v = ok(a) && ok(b) ? ratio(a.medianMs, b.medianMs) : null;
      out.push({
        target: 'gradCam batch 8 / batch 1',
        backend: s8.backend,
        model: s8.modelLabel,
        batch: '8 vs 1',
        layer,
        value: v,
        limit: LIMITS.batch8VsBatch1,
        verdict: v === null ? 'MISS' : verdict(v, LIMITS.batch8VsBatch1),
        detail:
          v === null
            ? `gradCam ${a.status}/${b.status}`
            : `${fmtMs(a.medianMs)} / ${fmtMs(b.medianMs)}; fastest calls: ${fmtX(ratio(minMs(a), minMs(b)))}`,
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** The results file: one line per measurement, so diffs between runs stay readable. */
export function formatResults(r: Results): string {
  const sections = r.sections.map((s) => {
    const { rows, ...head } = s;
    const fields = JSON.stringify(head).slice(1, -1);
    return `  {${fields},\n   "rows": [\n${rows.map((m) => `    ${JSON.stringify(m)}`).join(',\n')}\n   ]}`;
  });
  return `{\n "meta": ${JSON.stringify(r.meta)},\n "sections": [\n${sections.join(',\n')}\n ]\n}\n`;
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '-';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function fmtMiB(bytes: number | null | undefined): string {
  if (bytes == null || !Number.isFinite(bytes)) return '-';
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function fmtX(v: number | null): string {
  return v === null || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`;
}

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
  return lines.join('\n');
}

/** The per-section table: medians, peak memory, ratios to the optimum at the same layer (or to predict). */
export function sectionTable(s: Section): string {
  const predict = row(s, 'predict');
  const rows = s.rows.map((m) => {
    const anchor = m.layer !== null ? row(s, `optimum@${m.layer}`) : undefined;
    // Only contenders that compute the same Grad-CAM at the same layer are compared with the optimum.
    const vsAnchor = ['gradCam', 'explainer', 'optimumAlt', 'optimumPerCall', 'kerasSplit', 'probe'].includes(m.name) ? anchor : null;
    const tRatio =
      m.status === 'ok' && vsAnchor !== undefined && vsAnchor !== null && ok(vsAnchor) ? ratio(m.medianMs, vsAnchor.medianMs) : null;
    const pRatio =
      m.status === 'ok' && vsAnchor !== undefined && vsAnchor !== null && ok(vsAnchor) ? ratio(m.peakBytes, vsAnchor.peakBytes) : null;
    const vsPredict = m.status === 'ok' && ok(predict) && m.id !== 'predict' ? ratio(m.medianMs, predict.medianMs) : null;
    const peakAt = m.peakAt === null ? '' : `peak after kernel ${m.peakAt.index + 1}/${m.peakAt.of} (${m.peakAt.name})`;
    const status = m.status === 'ok' ? peakAt : `${m.status.toUpperCase()}: ${m.error ?? ''}`;
    const check = s.checks.find((c) => c.id === m.id);
    const checkNote = check === undefined ? '' : `; heatmap max abs diff vs optimum ${check.maxAbsDiff.toExponential(1)}`;
    const heldNote = m.heldBytes != null && m.heldBytes > 0 ? `; holds ${fmtMiB(m.heldBytes)} between calls` : '';
    return [
      m.id,
      m.status === 'ok' ? `${fmtMs(m.medianMs)} (min ${fmtMs(minMs(m))}, n=${m.timesMs.length})` : '-',
      fmtX(tRatio),
      fmtX(vsPredict),
      fmtMiB(m.peakBytes),
      fmtX(pRatio),
      status + checkNote + heldNote,
    ];
  });
  return [
    `### ${s.backend} · ${s.modelLabel} · batch ${s.batch}`,
    '',
    table(['contender', 'median', 'time / optimum', 'time / predict', 'peak', 'peak / optimum', 'notes'], rows),
  ].join('\n');
}

export function targetsTable(targets: TargetRow[]): string {
  return table(
    ['target', 'backend', 'model', 'batch', 'layer', 'value', 'limit', 'verdict', 'detail'],
    targets.map((t) => [t.target, t.backend, t.model, t.batch, t.layer, fmtX(t.value), `<= ${t.limit}`, t.verdict, t.detail]),
  );
}

type KernelProfile = Pick<Measurement, 'id' | 'kernels' | 'kernelTotalMs'>;

/** Kernel times of several profiles added up (e.g. predict + inputGradient). */
export function mergeKernels(id: string, profiles: KernelProfile[]): KernelProfile {
  const by = new Map<string, KernelStat>();
  for (const p of profiles) {
    for (const k of p.kernels) {
      const s = by.get(k.name) ?? { name: k.name, ms: 0, count: 0 };
      s.ms += k.ms;
      s.count += k.count;
      by.set(k.name, s);
    }
  }
  const kernels = [...by.values()].sort((x, y) => y.ms - x.ms);
  return { id, kernels, kernelTotalMs: kernels.reduce((t, k) => t + k.ms, 0) };
}

/** Kernel time of two contenders side by side, largest difference first. */
export function kernelDiffTable(a: KernelProfile, b: KernelProfile, top = 10): string {
  const names = new Set<string>([...a.kernels.map((k) => k.name), ...b.kernels.map((k) => k.name)]);
  const get = (m: KernelProfile, n: string): KernelStat => m.kernels.find((k) => k.name === n) ?? { name: n, ms: 0, count: 0 };
  const rows = [...names]
    .map((n) => ({ n, ka: get(a, n), kb: get(b, n) }))
    .sort((x, y) => Math.abs(y.ka.ms - y.kb.ms) - Math.abs(x.ka.ms - x.kb.ms))
    .slice(0, top)
    .map(({ n, ka, kb }) => [
      n,
      `${ka.ms.toFixed(1)} ms (${ka.count})`,
      `${kb.ms.toFixed(1)} ms (${kb.count})`,
      `${(ka.ms - kb.ms).toFixed(1)} ms`,
    ]);
  rows.push([
    'total',
    `${(a.kernelTotalMs ?? 0).toFixed(1)} ms`,
    `${(b.kernelTotalMs ?? 0).toFixed(1)} ms`,
    `${((a.kernelTotalMs ?? 0) - (b.kernelTotalMs ?? 0)).toFixed(1)} ms`,
  ]);
  return table(['kernel', a.id, b.id, 'difference'], rows);
}

/** The whole report: sections, targets, and a kernel comparison for every missed gradCam/optimum target. */
export function report(results: Results, withSections = true): string {
  const parts: string[] = [];
  if (withSections) for (const s of results.sections) parts.push(sectionTable(s));
  const targets = evaluateTargets(results);
  parts.push(`### Targets\n\n${targetsTable(targets)}`);
  const misses = targets.filter(
    (t) => t.verdict === 'MISS' && (t.target.startsWith('gradCam / optimum') || t.target.startsWith('explainer gradCam / optimum')),
  );
  const seen = new Set<string>();
  for (const t of misses) {
    const s = results.sections.find((x) => x.backend === t.backend && x.modelLabel === t.model && String(x.batch) === t.batch);
    const who = t.target.startsWith('explainer') ? 'explainer' : 'gradCam';
    const g = s && row(s, `${who}@${t.layer}`);
    const o = s && row(s, `optimum@${t.layer}`);
    const key = `${t.backend}/${t.model}/${t.batch}/${t.layer}${who === 'explainer' ? ' (explainer)' : ''}`;
    if (s === undefined || g === undefined || o === undefined || !ok(g) || !ok(o) || seen.has(key)) continue;
    seen.add(key);
    parts.push(`#### Kernel times of the profiled call: ${key}\n\n${kernelDiffTable(g, o)}`);
  }
  for (const t of targets.filter((x) => x.verdict === 'MISS' && x.target.startsWith('guidedGradCam'))) {
    const s = results.sections.find((x) => x.backend === t.backend && x.modelLabel === t.model && String(x.batch) === t.batch);
    const gg = s?.rows.find((r) => r.name === 'guidedGradCam');
    const pr = s && row(s, 'predict');
    const ig = s && row(s, 'inputGradient');
    if (s === undefined || gg === undefined || !ok(gg) || !ok(pr) || !ok(ig)) continue;
    const key = `${t.backend}/${t.model}/${t.batch}/${t.layer}`;
    parts.push(
      `#### Kernel times of the profiled call: guidedGradCam vs predict + inputGradient, ${key}\n\n${kernelDiffTable(gg, mergeKernels('predict + inputGradient', [pr, ig]))}`,
    );
  }
  return parts.join('\n\n');
}
