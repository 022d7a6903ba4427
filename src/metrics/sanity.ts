/**
 * Sanity checks for saliency maps (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018):
 * cascading model-parameter randomisation, and the similarity measures it reports (Spearman rank
 * correlation, SSIM).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { OptionSpec } from '../core/options.js';
import {
  INVALID,
  booleanOption,
  integerOption,
  numberOption,
  objectOption,
  oneOfOption,
  parseOptions,
  schemaFor,
} from '../core/options.js';
import { isTensor } from '../core/tensor.js';
import { InputError, LayerError, ModelError, OptionError, describeValue } from '../errors.js';
import type { LayerLike, LayerWith } from '../models/layers/keras-types.js';
import type { LayersExplainable } from '../models/layers/model.js';
import { explainableModel } from '../models/index.js';
import { checkMaps } from './common.js';

/** Checks two map arguments of one shape; returns them as `[B,H,W]` and whether they were batched. */
function checkMapPair(fn: string, a: unknown, b: unknown): { a: tf.Tensor3D; b: tf.Tensor3D; batched: boolean } {
  const fix = 'Pass two maps of the same shape, [H, W] or [B, H, W].';
  const x = checkMaps(fn, 'a', a, fix);
  const y = checkMaps(fn, 'b', b, fix);
  const sa = (a as tf.Tensor).shape;
  const sb = (b as tf.Tensor).shape;
  if (sa.length !== sb.length || sa.some((d, i) => d !== sb[i])) {
    throw new InputError({
      fn,
      argument: 'b',
      expected: `must have the shape of 'a', [${sa.join(', ')}]`,
      got: describeValue(b),
      fix,
    });
  }
  return { a: x.maps, b: y.maps, batched: x.batched };
}

/** Average ranks (0-based, ties share the mean of their positions) along axis 1 of `[B, N]`. */
function averageRanks(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const n = x.shape[1];
    const sorted = tf.reverse(tf.topk(x, n, true).values, 1); // ascending
    const below = tf.searchSorted(sorted, x, 'left'); // # values < x
    const upTo = tf.searchSorted(sorted, x, 'right'); // # values <= x
    return tf.div(tf.sub(tf.add(tf.cast(below, 'float32'), tf.cast(upTo, 'float32')), 1), 2) as tf.Tensor2D;
  });
}

/**
 * Spearman's rank correlation between two maps (or two batches of maps, per example): the Pearson
 * correlation of their ranks, with tied values given the average of their ranks (as
 * `scipy.stats.spearmanr`).
 *
 * Formula: `rho = cov(R(a), R(b)) / (sd(R(a)) sd(R(b)))` over the H*W pixels of each map. When either
 * map is constant its ranks have no variance and the correlation is undefined; it is reported as 0
 * (scipy returns NaN), so means over a data set stay finite.
 *
 * Differences from other libraries: Adebayo et al. report it both on the maps and on their absolute
 * values; CAM maps are non-negative after their ReLU, so the two agree (pass `tf.abs(map)` for signed
 * maps). Computed with tensor ops (sort and binary search), no host reads.
 *
 * @param a - `[H,W]` or `[B,H,W]` maps, finite. Not disposed.
 * @param b - maps of the same shape. Not disposed.
 * @returns float32 in [-1, 1]: a scalar for `[H,W]` maps, `[B]` for batches. Owned by the caller.
 * @throws {@link InputError} when either is not a rank-2/3 numeric tensor or the shapes differ.
 *
 * @example
 * ```ts
 * const rho = spearman(tf.tensor2d([[1, 2], [2, 3]]), tf.tensor2d([[1, 5], [5, 9]]));   // 1
 * ```
 */
export function spearman(a: tf.Tensor2D, b: tf.Tensor2D): tf.Scalar;
export function spearman(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor1D;
export function spearman(a: tf.Tensor, b: tf.Tensor): tf.Tensor;
export function spearman(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const fn = 'spearman';
  return tf.tidy(() => {
    const p = checkMapPair(fn, a, b);
    const [n, h, w] = p.a.shape;
    const ra = averageRanks(tf.reshape(p.a, [n, h * w]) as tf.Tensor2D);
    const rb = averageRanks(tf.reshape(p.b, [n, h * w]) as tf.Tensor2D);
    // Average ranks always sum to N(N-1)/2: the mean is exact.
    const mean = (h * w - 1) / 2;
    const ca = tf.sub(ra, mean);
    const cb = tf.sub(rb, mean);
    const cov = tf.sum(tf.mul(ca, cb), 1);
    const den = tf.sqrt(tf.mul(tf.sum(tf.square(ca), 1), tf.sum(tf.square(cb), 1)));
    const rho = tf.clipByValue(tf.divNoNan(cov, den), -1, 1);
    return p.batched ? rho : tf.reshape(rho, []);
  });
}

/** Options of {@link ssim}. */
export interface SsimOptions {
  /** Side of the Gaussian window (odd, default 11; clipped to the map size). */
  windowSize?: number | undefined;
  /** Standard deviation of the window (default 1.5). */
  sigma?: number | undefined;
  /** The value range L of the maps (default 1, for maps in [0, 1]). */
  dataRange?: number | undefined;
}

const SSIM_OPTIONS = schemaFor<SsimOptions>()({
  windowSize: {
    accepts: 'an odd integer in [1, 65535]',
    default: 11,
    check: (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v < 65536 && v % 2 === 1 ? v : INVALID),
  } satisfies OptionSpec<number>,
  sigma: numberOption(1.5, 0, true),
  dataRange: numberOption(1, 0, true),
});

/**
 * Structural similarity (Wang et al., "Image Quality Assessment: From Error Visibility to Structural
 * Similarity", IEEE TIP 2004) between two maps, per example: the mean over windows of
 * `((2 mu_a mu_b + C1)(2 cov_ab + C2)) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2))`, with
 * Gaussian-weighted local statistics (window 11, sigma 1.5), `C1 = (0.01 L)^2`, `C2 = (0.03 L)^2`,
 * windows fully inside the map ('valid').
 *
 * Differences from other libraries: equals scikit-image's `structural_similarity(a, b,
 * gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=L)` up to its cropping
 * of the border (skimage filters with reflected borders and then crops `(win-1)/2`, the same windows).
 * Adebayo et al. compare normalised maps with it alongside rank correlation.
 *
 * @param a - `[H,W]` or `[B,H,W]` maps. Not disposed.
 * @param b - maps of the same shape. Not disposed.
 * @param options - see {@link SsimOptions}
 * @returns float32 in [-1, 1] (1 for identical maps): a scalar for `[H,W]`, `[B]` for batches. Owned by the caller.
 * @throws {@link InputError} when either is not a rank-2/3 numeric tensor or the shapes differ;
 *   {@link OptionError} for a bad option.
 *
 * @example
 * ```ts
 * const a = gradCam(model, images).heatmap;
 * const b = gradCamPlusPlus(model, images).heatmap;
 * const s = ssim(a, b);   // [B]
 * ```
 */
export function ssim(a: tf.Tensor2D, b: tf.Tensor2D, options?: SsimOptions): tf.Scalar;
export function ssim(a: tf.Tensor3D, b: tf.Tensor3D, options?: SsimOptions): tf.Tensor1D;
export function ssim(a: tf.Tensor, b: tf.Tensor, options?: SsimOptions): tf.Tensor;
export function ssim(a: tf.Tensor, b: tf.Tensor, options?: SsimOptions): tf.Tensor {
  const fn = 'ssim';
  const { windowSize: win, sigma, dataRange: range } = parseOptions(SSIM_OPTIONS, options, { fn });
  return tf.tidy(() => {
    const p = checkMapPair(fn, a, b);
    const [n, h, w] = p.a.shape;
    const wy = Math.min(win, h % 2 === 1 ? h : h - 1);
    const wx = Math.min(win, w % 2 === 1 ? w : w - 1);
    const g = (size: number): number[] => {
      const r = (size - 1) / 2;
      const v = Array.from({ length: size }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
      const s = v.reduce((x, y) => x + y, 0);
      return v.map((x) => x / s);
    };
    const gy = g(wy);
    const gx = g(wx);
    const kernel = tf.tensor4d(
      gy.flatMap((vy) => gx.map((vx) => vy * vx)),
      [wy, wx, 1, 1],
    );
    const x = tf.reshape(p.a, [n, h, w, 1]);
    const y = tf.reshape(p.b, [n, h, w, 1]);
    // (Co)variances are shift-invariant: take them of the maps minus their global means, which
    // avoids float32 cancellation in E[x^2] - E[x]^2 for flat maps.
    const xc = tf.sub(x, tf.mean(x, [1, 2, 3], true));
    const yc = tf.sub(y, tf.mean(y, [1, 2, 3], true));
    const stack = tf.concat([x, y, xc, yc, tf.square(xc), tf.square(yc), tf.mul(xc, yc)], 3) as tf.Tensor4D;
    const filtered = tf.depthwiseConv2d(stack, tf.tile(kernel, [1, 1, 7, 1]) as tf.Tensor4D, 1, 'valid');
    const [ma, mb, mac, mbc, saa, sbb, sab] = tf.split(filtered, 7, 3) as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    const c1 = (0.01 * range) ** 2;
    const c2 = (0.03 * range) ** 2;
    const va = tf.sub(saa, tf.square(mac));
    const vb = tf.sub(sbb, tf.square(mbc));
    const cov = tf.sub(sab, tf.mul(mac, mbc));
    const num = tf.mul(tf.add(tf.mul(tf.mul(ma, mb), 2), c1), tf.add(tf.mul(cov, 2), c2));
    const den = tf.mul(tf.add(tf.add(tf.square(ma), tf.square(mb)), c1), tf.add(tf.add(va, vb), c2));
    const s = tf.mean(tf.div(num, den), [1, 2, 3]);
    return p.batched ? s : tf.reshape(s, []);
  });
}

/** What an explanation method returns: at least a heatmap; `classIndex` is used to pin the class. */
export interface ExplanationLike {
  /** The map: `[H,W]` for one input, `[B,H,W]` for a batch. */
  heatmap: tf.Tensor;
  /** The explained class per example (int32, `-1` for none), if the method reports it. */
  classIndex?: tf.Tensor | undefined;
}

/**
 * An explanation method as {@link sanityCheck} calls it: `gradCam`, `gradCamPlusPlus`, ... or your
 * own `(model, input, options) => { heatmap }`. It must be synchronous.
 */
export type ExplanationMethod<I, O> = (model: LayersModel, input: I, options?: O) => ExplanationLike;

/** Options of {@link sanityCheck}. */
export interface SanityCheckOptions<O = Record<string, unknown>> {
  /** Options passed to the method on every call (e.g. `{ layer: 'last_conv' }`). */
  methodOptions?: O | undefined;
  /**
   * `'cascading'` (default): step s randomises the first s groups together, from the output down, as
   * in Adebayo et al.'s cascading randomisation. `'independent'`: step s randomises only group s.
   */
  mode?: 'cascading' | 'independent' | undefined;
  /**
   * The groups of layers randomised at each step, top (output) first: each entry a layer path
   * (`'dense'`, `'base/conv2'`) or an array of paths randomised together. Default: every layer with
   * weights, one per step, in reverse topological order.
   */
  layers?: ReadonlyArray<string | readonly string[]> | undefined;
  /**
   * Seed of the random weights (default 0). Each weight's random values depend only on the seed and
   * the weight (layer path and position), not on the mode or the order of `layers`.
   */
  seed?: number | undefined;
  /**
   * Explain the class the original model explained at every step (default true): the method's
   * `classIndex` from the first call is passed as `target` unless `methodOptions.target` is set.
   * Otherwise the randomised model's own arg-max class is explained.
   */
  pinTarget?: boolean | undefined;
  /** Also return the maps (original and per step) as tensors owned by the caller (default false). */
  keepMaps?: boolean | undefined;
}

/** One randomisation step of {@link sanityCheck}. */
export interface SanityStep {
  /** Paths of the layers randomised in this step (cascading: on top of the previous steps'). */
  layers: string[];
  /** Every layer path randomised when this map was computed. */
  randomized: string[];
  /** Mean over examples of the Spearman rank correlation with the original map. */
  spearman: number;
  /** Mean over examples of the SSIM with the original map. */
  ssim: number;
  /** Spearman rank correlation per example. */
  spearmanPerExample: number[];
  /** SSIM per example. */
  ssimPerExample: number[];
  /** The map of this step (`keepMaps` only), owned by the caller. */
  heatmap?: tf.Tensor | undefined;
}

/** Result of {@link sanityCheck}. */
export interface SanityCheckResult {
  /** The randomisation mode used. */
  mode: 'cascading' | 'independent';
  /** The seed used. */
  seed: number;
  /** One entry per randomisation step, output side first. */
  steps: SanityStep[];
  /** The map of the unmodified model (`keepMaps` only), owned by the caller. */
  heatmap?: tf.Tensor | undefined;
}

interface VariableLike {
  readonly name: string;
  read(): tf.Tensor;
}

interface Group {
  paths: string[];
  variables: VariableLike[];
  /** `path:index` of each variable, to derive its seed. */
  keys: string[];
}

/** A non-zero 31-bit seed from the user's seed and a weight's key (FNV-1a); tfjs treats 0 as unseeded. */
function seedFor(seed: number, key: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${seed}:${key}`) h = Math.imul(h ^ (ch.codePointAt(0) as number), 0x01000193) >>> 0;
  return h & 0x7fffffff || 1;
}

const SANITY_OPTIONS = schemaFor<SanityCheckOptions>()({
  methodOptions: objectOption<Record<string, unknown>>("Pass the method's options, e.g. { layer: 'last_conv' }."),
  mode: oneOfOption(['cascading', 'independent'], 'cascading', "Omit it for 'cascading'."),
  layers: {
    accepts: 'a non-empty array of layer paths (or arrays of paths), output side first',
    default: undefined,
    check: (v) => (Array.isArray(v) && v.length > 0 ? (v as ReadonlyArray<string | readonly string[]>) : INVALID),
  } satisfies OptionSpec<ReadonlyArray<string | readonly string[]> | undefined>,
  seed: integerOption(0, 0, 2 ** 31 - 1),
  pinTarget: booleanOption(true),
  keepMaps: booleanOption(false),
});

/** Layers with weights, top (output) first, by path; each layer once (its last call). */
function weightedLayers(model: LayersExplainable): Map<string, LayerLike> {
  const graph = model.graph;
  const seen = new Set<LayerLike>();
  const out = new Map<string, LayerLike>();
  for (let i = graph.steps.length - 1; i >= 0; i--) {
    const step = graph.steps[i];
    if (step === undefined || seen.has(step.layer)) continue;
    seen.add(step.layer);
    const weights = (step.layer as LayerWith<'weights'>).weights;
    if (Array.isArray(weights) && weights.length > 0) out.set(step.path, step.layer);
  }
  return out;
}

function layerVariables(layer: LayerLike): VariableLike[] {
  return ((layer as LayerWith<'weights'>).weights as VariableLike[]).filter((v) => v != null && typeof v.read === 'function');
}

function resolveGroups(fn: string, model: LayersExplainable, spec: ReadonlyArray<string | readonly string[]> | undefined): Group[] {
  const layers = weightedLayers(model);
  if (spec === undefined) {
    return [...layers.keys()].map((path) => groupOf([path], layers));
  }
  const byName = new Map<string, string[]>();
  for (const path of layers.keys()) {
    const name = path.split('/').pop() as string;
    byName.set(name, [...(byName.get(name) ?? []), path]);
  }
  return spec.map((entry, i) => {
    const names: unknown[] = Array.isArray(entry) ? entry : [entry];
    const paths = names.map((name, k) => {
      const arg = Array.isArray(entry) ? `options.layers[${i}][${k}]` : `options.layers[${i}]`;
      if (typeof name === 'string') {
        if (layers.has(name)) return name;
        const matches = byName.get(name);
        if (matches !== undefined && matches.length === 1) return matches[0] as string;
      }
      throw new LayerError({
        fn,
        argument: arg,
        expected: 'must name a layer of the model that has weights',
        got: describeValue(name),
        fix: `Use one of: ${[...layers.keys()].join(', ')}.`,
      });
    });
    return groupOf(paths, layers);
  });
}

function groupOf(paths: string[], layers: Map<string, LayerLike>): Group {
  const variables: VariableLike[] = [];
  const keys: string[] = [];
  for (const p of paths) {
    layerVariables(layers.get(p) as LayerLike).forEach((v, i) => {
      variables.push(v);
      keys.push(`${p}:${i}`);
    });
  }
  return { paths, variables, keys };
}

/**
 * A random tensor like `w`: truncated normal (within 2 standard deviations) with `w`'s own mean and
 * standard deviation; absolute values where `w` is all positive (e.g. BatchNorm variances).
 */
function randomLike(w: tf.Tensor, seed: number): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.cast(w, 'float32');
    const { mean, variance } = tf.moments(x);
    const r = tf.add(tf.mul(tf.truncatedNormal(w.shape, 0, 1, 'float32', seed), tf.sqrt(variance)), mean);
    const positive = tf.greater(tf.min(x), 0);
    return tf.cast(tf.where(positive, tf.abs(r), r), w.dtype);
  });
}

/** `[H,W]` or `[B,H,W]` maps as a new `[B,H,W]` tensor (sharing data; survives disposing `x`). */
function flattenMaps(x: tf.Tensor): tf.Tensor3D {
  const shape: number[] = x.rank === 2 ? [1, ...x.shape] : [...x.shape];
  return tf.tidy(() => tf.reshape<tf.Rank>(tf.cast(x, 'float32'), shape) as tf.Tensor3D);
}

/**
 * Model-parameter randomisation test (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS
 * 2018): a map that explains the model must change when the model's weights are destroyed. Layers are
 * randomised from the output down, cumulatively ("cascading"), the map is recomputed after each step
 * and compared with the original by Spearman rank correlation and SSIM. A faithful method's
 * correlation falls as more layers are randomised; a method that only detects edges does not.
 *
 * Algorithm: compute the method's map on the unmodified model; then for each group of layers (default
 * every layer with weights, output side first) overwrite its weights with seeded random values
 * (truncated normal matched to each weight tensor's own mean and standard deviation, absolute values
 * for all-positive tensors such as BatchNorm variances, so activations keep their scale and maps do not
 * trivially vanish), recompute the map, and compare. By default the class explained at every step is
 * the one explained originally (`pinTarget`).
 *
 * The model is restored bit-exactly afterwards, also when the method throws: the original weight
 * tensors are kept aside (not copied) and reassigned to the variables, bypassing weight constraints.
 * Everything runs synchronously, so no other code can observe the randomised model. This function's
 * purpose is to report numbers: it reads each step's similarities back from the device (one read per
 * step).
 *
 * Differences from other implementations: Adebayo et al. re-initialise layers with their initialisers
 * and also report HOG similarity; pytorch-grad-cam has no parameter-randomisation test. Layers are
 * addressed by tfcam layer paths (nested models included); shared layers are randomised once.
 *
 * @param model - a `tf.LayersModel` (LayersModel only: a `tf.GraphModel`'s weights are constants of its
 *   graph, which tfcam does not randomise). Temporarily modified, restored bit-exactly before returning or throwing.
 * @param input - the input the method takes (e.g. `[H,W,C]` or `[B,H,W,C]`). Not disposed.
 * @param method - a synchronous `(model, input, options) => { heatmap, classIndex? }`, e.g. `gradCam`.
 *   Its results are disposed.
 * @param options - see {@link SanityCheckOptions}
 * @returns `{ mode, seed, steps }` with per-step layers and similarities as numbers; with `keepMaps`,
 *   the maps as tensors owned by the caller (`tf.dispose(result.heatmap)`, `step.heatmap`).
 * @throws {@link ModelError} if `model` is not a built LayersModel (a GraphModel included); {@link LayerError} for a `layers`
 *   entry that names no layer with weights; {@link OptionError} for bad options; {@link InputError} if
 *   the method returns no map of the first call's shape; whatever the method throws (after restoring).
 *
 * @example
 * ```ts
 * const report = sanityCheck(model, images, gradCam, { methodOptions: { layer: 'last_conv' } });
 * for (const s of report.steps) console.log(s.randomized.at(-1), s.spearman.toFixed(3));
 * ```
 */
export function sanityCheck<I, O extends object>(
  model: LayersModel,
  input: I,
  method: ExplanationMethod<I, O>,
  options?: SanityCheckOptions<O>,
): SanityCheckResult {
  const fn = 'sanityCheck';
  const explainable = explainableModel(fn, model);
  if (explainable.kind !== 'layers') {
    throw new ModelError({
      fn,
      argument: 'model',
      expected: 'must be a tf.LayersModel (its weights are variables tfcam can randomise and restore)',
      got: 'a tf.GraphModel',
      fix: "sanityCheck supports tf.LayersModel only (a GraphModel's weights are graph constants tfcam does not randomise); run it on the LayersModel version of the network.",
    });
  }
  if (typeof method !== 'function') {
    throw new OptionError({
      fn,
      argument: 'method',
      expected: 'must be an explanation function (model, input, options) => { heatmap }',
      got: describeValue(method),
      fix: 'Pass e.g. gradCam or gradCamPlusPlus.',
    });
  }
  const { mode, seed, pinTarget, keepMaps, methodOptions, layers } = parseOptions(SANITY_OPTIONS, options, { fn });
  const groups = resolveGroups(fn, explainable as LayersExplainable, layers);
  const baseOptions = { ...((methodOptions ?? {}) as Record<string, unknown>) };

  const run = (opts: Record<string, unknown>): ExplanationLike => {
    const r = method(model, input, opts as O);
    if (r === null || typeof r !== 'object' || !isTensor((r as ExplanationLike).heatmap)) {
      tf.dispose(r as unknown as tf.TensorContainer);
      throw new InputError({
        fn,
        argument: 'method',
        expected: 'must return an object with a heatmap tensor',
        got: describeValue(r),
        fix: 'Pass a synchronous method, or wrap it so that it returns { heatmap }.',
      });
    }
    return r;
  };

  // Every variable randomised in any step, with its seed and its original value (kept aside).
  const allVariables: VariableLike[] = [];
  const seedOf = new Map<VariableLike, number>();
  for (const g of groups) {
    g.variables.forEach((v, i) => {
      if (!seedOf.has(v)) {
        seedOf.set(v, seedFor(seed, g.keys[i] as string));
        allVariables.push(v);
      }
    });
  }
  const kept: tf.Tensor[] = [];
  const result: SanityCheckResult = { mode, seed, steps: [] };
  let original: tf.Tensor3D | null = null;
  const saved = new Map<VariableLike, tf.Tensor>();
  const assign = (v: VariableLike, value: tf.Tensor): void => {
    (v.read() as unknown as { assign(x: tf.Tensor): void }).assign(value);
  };
  const restore = (vars: Iterable<VariableLike>): void => {
    for (const v of vars) {
      const s = saved.get(v);
      if (s !== undefined) assign(v, s);
    }
  };
  try {
    const first = run(baseOptions);
    let opts = baseOptions;
    try {
      original = tf.keep(flattenMaps(first.heatmap));
      if (keepMaps) {
        result.heatmap = tf.keep(tf.clone(first.heatmap));
        kept.push(result.heatmap);
      }
      if (pinTarget && baseOptions['target'] === undefined && isTensor(first.classIndex)) {
        const classes = Array.from(first.classIndex.dataSync());
        if (classes.every((c) => c >= 0)) {
          opts = { ...baseOptions, target: first.heatmap.rank === 2 ? (classes[0] as number) : classes };
        }
      }
    } finally {
      tf.dispose(first as unknown as tf.TensorContainer);
    }
    for (const v of allVariables) saved.set(v, tf.keep(tf.clone(v.read())));
    const randomized: string[] = [];
    for (const g of groups) {
      if (mode === 'independent') {
        restore(allVariables);
        randomized.length = 0;
      }
      tf.tidy(() => {
        for (const v of g.variables) assign(v, randomLike(saved.get(v) as tf.Tensor, seedOf.get(v) as number));
      });
      randomized.push(...g.paths);
      const r = run(opts);
      let maps: tf.Tensor3D;
      try {
        maps = flattenMaps(r.heatmap);
        if (keepMaps) kept.push(tf.keep(tf.clone(r.heatmap)));
      } finally {
        tf.dispose(r as unknown as tf.TensorContainer);
      }
      try {
        const ref = original as tf.Tensor3D;
        if (maps.shape.some((d, i) => d !== ref.shape[i])) {
          throw new InputError({
            fn,
            argument: 'method',
            expected: `must return maps of one shape at every step ([${ref.shape.join(', ')}])`,
            got: describeValue(maps),
            fix: 'Pass options that fix the map size (e.g. resize: true).',
          });
        }
        const [rho, s] = tf.tidy(() => [spearman(ref, maps), ssim(ref, maps)]) as [tf.Tensor, tf.Tensor];
        const rhoValues = Array.from(rho.dataSync());
        const ssimValues = Array.from(s.dataSync());
        tf.dispose([rho, s]);
        const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
        result.steps.push({
          layers: [...g.paths],
          randomized: [...randomized],
          spearman: mean(rhoValues),
          ssim: mean(ssimValues),
          spearmanPerExample: rhoValues,
          ssimPerExample: ssimValues,
          ...(keepMaps ? { heatmap: kept[kept.length - 1] } : {}),
        });
      } finally {
        maps.dispose();
      }
    }
  } catch (e) {
    tf.dispose(kept);
    throw e;
  } finally {
    restore(allVariables);
    tf.dispose([...saved.values()]);
    if (original !== null) (original as tf.Tensor).dispose();
  }
  return result;
}
