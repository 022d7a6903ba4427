/**
 * pytorch-grad-cam's `arcc.py`: Complexity, Coherency and ARCC (Poppi et al., "Revisiting the
 * Evaluation of Class Activation Mapping for Explainability: A Novel Metric and Experimental
 * Analysis", CVPR workshops 2021), and CamMultImageConfidenceChange.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { OptionSpec } from '../core/options.js';
import { INVALID, integerOption, numberOption, objectOption, oneOfOption, parseOptions, schemaFor } from '../core/options.js';
import type { CamOptions } from '../core/types.js';
import { InputError, describeValue } from '../errors.js';
import { gradCam } from '../methods/gradcam.js';
import type { CamFunction } from '../pipeline/method.js';
import { checkMaps } from './common.js';
import { roadIn } from './road.js';
import type { TargetScoringOptions } from './target-scoring.js';
import { TARGET_SCORING_OPTIONS, checkTargetScoringCall, targetScoring } from './target-scoring.js';

/**
 * Complexity of saliency maps (pytorch-grad-cam's `Complexity`, from ARCC): the mean absolute value
 * of each map, `mean_ij |map_ij|` (the L1 norm per pixel). Lower is simpler. Same as pytorch-grad-cam.
 *
 * @param heatmap - `[H, W]` or `[B, H, W]` maps; not disposed
 * @returns float32 `[B]` (a scalar for one map), owned by the caller
 * @throws {@link InputError} for a tensor that is not rank 2 or 3
 *
 * @example
 * ```ts
 * const c = complexity(gradCam(model, images).heatmap);   // [B]
 * ```
 */
export function complexity(heatmap: tf.Tensor2D): tf.Scalar;
export function complexity(heatmap: tf.Tensor3D): tf.Tensor1D;
export function complexity(heatmap: tf.Tensor): tf.Tensor;
export function complexity(heatmap: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const { maps, batched } = checkMaps('complexity', 'heatmap', heatmap);
    const c = tf.mean(tf.abs(maps), [1, 2]);
    return batched ? c : tf.squeeze(c, [0]);
  });
}

/** Options of {@link coherency}. */
export interface CoherencyOptions {
  /** The CAM method re-run on the masked input (default {@link gradCam}; pytorch-grad-cam's `base_method`). */
  method?: CamFunction | undefined;
  /** Options of `method` (its layer, ...); `target` is passed as below. */
  methodOptions?: CamOptions | undefined;
  /** The explained class(es) for `method` (a CAM `target`); default its own default (arg-max of the masked input). */
  target?: CamOptions['target'];
}

const methodOption: OptionSpec<CamFunction> = {
  accepts: 'a CAM method (e.g. gradCam)',
  default: () => gradCam as unknown as CamFunction,
  check: (v) => (typeof v === 'function' ? (v as CamFunction) : INVALID),
};

const anyTarget: OptionSpec<CamOptions['target']> = {
  accepts: 'a CAM target (class index, array, or function)',
  default: undefined,
  check: (v) => v as CamOptions['target'],
};

const COHERENCY_OPTIONS = schemaFor<CoherencyOptions>()({
  method: methodOption,
  methodOptions: objectOption<CamOptions>('Pass the method options as an object, e.g. { layer: "last_conv" }.') as OptionSpec<
    CamOptions | undefined
  >,
  target: anyTarget,
});

/** Pearson correlation of each row pair of `[B, N]` (ddof 1, eps 1e-8 as `batch_pearson_coherency`). */
function pearson(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  const n = a.shape[1];
  const ac = tf.sub(a, tf.mean(a, 1, true));
  const bc = tf.sub(b, tf.mean(b, 1, true));
  const cov = tf.div(tf.sum(tf.mul(ac, bc), 1), n - 1);
  const sa = tf.sqrt(tf.div(tf.sum(tf.square(ac), 1), n - 1));
  const sb = tf.sqrt(tf.div(tf.sum(tf.square(bc), 1), n - 1));
  return tf.div(cov, tf.add(tf.mul(sa, sb), 1e-8)) as tf.Tensor1D;
}

/**
 * Coherency (pytorch-grad-cam's `Coherency`, from ARCC, Poppi et al. CVPR-W 2021): a map is coherent
 * when explaining the image masked by it gives the same map. The CAM method is run again on
 * `input * map` (the map broadcast over channels) and the Pearson correlation between the two maps
 * is mapped to [0, 1]: `(rho + 1) / 2`. Higher is better.
 *
 * Same as pytorch-grad-cam (tested against it): Pearson with ddof 1 and `rho = cov / (sd_a sd_b +
 * 1e-8)`. Cost: one call of `method` on the masked batch.
 *
 * @param model - the explained model; never modified
 * @param input - `[H,W,C]` or `[B,H,W,C]`; not disposed
 * @param heatmap - `[H,W]` or `[B,H,W]` maps at the input's size, from `method`; not disposed
 * @param options - {@link CoherencyOptions}
 * @returns float32 `[B]` in [0, 1] (a scalar for one image), owned by the caller
 * @throws {@link InputError} for a map of another size; the errors of `method`; {@link OptionError}
 *
 * @example
 * ```ts
 * const cam = gradCam(model, images, { layer: 'conv5_block3_out' });
 * const c = coherency(model, images, cam.heatmap, { methodOptions: { layer: 'conv5_block3_out' }, target: cam.classIndex.arraySync() as number[] });
 * ```
 */
export function coherency(model: LayersModel, input: tf.Tensor3D, heatmap: tf.Tensor2D, options?: CoherencyOptions): tf.Scalar;
export function coherency(model: LayersModel, input: tf.Tensor4D, heatmap: tf.Tensor3D, options?: CoherencyOptions): tf.Tensor1D;
export function coherency(model: LayersModel, input: tf.Tensor, heatmap: tf.Tensor, options?: CoherencyOptions): tf.Tensor;
export function coherency(model: LayersModel, input: tf.Tensor, heatmap: tf.Tensor, options?: CoherencyOptions): tf.Tensor {
  return coherencyIn('coherency', model, input, heatmap, options);
}

function coherencyIn(fn: string, model: unknown, input: unknown, heatmap: unknown, options: unknown): tf.Tensor {
  const o = parseCoherency(fn, options);
  return tf.tidy(() => {
    const { maps, batched } = checkMaps(fn, 'heatmap', heatmap);
    const x = input as tf.Tensor;
    const images = (x.rank === 3 ? tf.expandDims(x, 0) : x) as tf.Tensor4D;
    if (images.rank !== 4 || images.shape[0] !== maps.shape[0] || images.shape[1] !== maps.shape[1] || images.shape[2] !== maps.shape[2]) {
      throw new InputError({
        fn,
        argument: 'heatmap',
        expected: "must have the input's batch and size",
        got: describeValue(heatmap),
        fix: 'Pass the maps of a CAM method at the input size.',
      });
    }
    const masked = tf.mul(images, tf.expandDims(maps, -1)) as tf.Tensor4D;
    const again = o.method(model as LayersModel, masked, {
      ...(o.methodOptions ?? {}),
      ...(o.target === undefined ? {} : { target: o.target }),
    });
    const [b, h, w] = maps.shape;
    const rho = pearson(tf.reshape(again.heatmap, [b, h * w]) as tf.Tensor2D, tf.reshape(maps, [b, h * w]) as tf.Tensor2D);
    const score = tf.div(tf.add(rho, 1), 2);
    return batched ? score : tf.squeeze(score, [0]);
  });
}

function parseCoherency(
  fn: string,
  options: unknown,
): { method: CamFunction; methodOptions: CamOptions | undefined; target: CamOptions['target'] } {
  // No model context is needed for these keys.
  return parseOptions(COHERENCY_OPTIONS, options, { fn }) as {
    method: CamFunction;
    methodOptions: CamOptions | undefined;
    target: CamOptions['target'];
  };
}

/** Options of {@link arcc}. */
export interface ArccOptions extends TargetScoringOptions, Omit<CoherencyOptions, 'target'> {
  /** ROAD's percentiles (default `[20, 40, 60, 80]`, pytorch-grad-cam's `road_percentiles`). */
  percentiles?: readonly number[] | undefined;
  /** ROAD's imputer noise (default 0.01) and its seed (default 0). */
  noise?: number | undefined;
  /** Seed of the imputer's noise. */
  seed?: number | undefined;
  /**
   * How the three terms are averaged: `'harmonic'` (default: pytorch-grad-cam's code) or
   * `'geometric'` (its docstring's and the paper's wording).
   */
  mean?: 'harmonic' | 'geometric' | undefined;
}

/** The result of {@link arcc}, per example (`[B]`; scalars for one image). The caller owns the tensors. */
export type ArccResult<T extends tf.Tensor = tf.Tensor> = {
  /** The ARCC score, in [0, 1] (higher is better). */
  arcc: T;
  /** {@link complexity} of the map. */
  complexity: T;
  /** {@link coherency} of the map. */
  coherency: T;
  /** ROAD's `combined` score at `percentiles`. */
  road: T;
  /** `clip(2 * road, 0, 1)`, the term that enters ARCC. */
  roadScaled: T;
};

const ARCC_OPTIONS = schemaFor<ArccOptions>()({
  ...TARGET_SCORING_OPTIONS,
  method: methodOption,
  methodOptions: objectOption<CamOptions>('Pass the method options as an object, e.g. { layer: "last_conv" }.') as OptionSpec<
    CamOptions | undefined
  >,
  percentiles: {
    accepts: 'a non-empty array of percentiles in [0, 100]',
    default: [20, 40, 60, 80],
    check: (v) =>
      Array.isArray(v) && v.length > 0 && v.every((p) => typeof p === 'number' && p >= 0 && p <= 100) ? (v as number[]) : INVALID,
  },
  noise: numberOption(0.01, 0, false),
  seed: integerOption(0, 0, 0xffffffff),
  mean: oneOfOption(['harmonic', 'geometric'], 'harmonic', "Omit it for 'harmonic' (pytorch-grad-cam's code)."),
});

/**
 * ARCC (Poppi et al., "Revisiting the Evaluation of Class Activation Mapping for Explainability",
 * CVPR-W 2021; pytorch-grad-cam's `ARCC`): one score from three: {@link coherency} (the map of the
 * map-masked image agrees), `1 - `{@link complexity} (the map is small), and ROAD's combined score
 * (`clip(2 * combined, 0, 1)`; {@link road} at `percentiles`). Higher is better.
 *
 * Numerics match pytorch-grad-cam's code (tested against it with the imputer noise at 0):
 * `ARCC = 3 / (1/(coherency + 1e-8) + 1/((1 - complexity) + 1e-8) + 1/(road + 1e-8))`, the harmonic
 * mean, which is the default; its docstring (and the paper's text) says geometric mean, offered as
 * `mean: 'geometric'` (`cbrt(coherency (1 - complexity) road)`). A ROAD score <= 0 makes the
 * harmonic ARCC ~3e-8. `target` scores ROAD (as in {@link road}) and, when it holds class
 * indices, is passed to `method` for the coherency map too (pytorch-grad-cam passes its targets to
 * both). Cost: {@link road}'s plus one `method` call.
 *
 * @param model - a model with one image input; never modified
 * @param input - `[H,W,C]` or `[B,H,W,C]`; not disposed
 * @param heatmap - `[H,W]` or `[B,H,W]` maps of `method` at the input's size; not disposed
 * @param options - {@link ArccOptions}
 * @returns `{ arcc, complexity, coherency, road, roadScaled }` (see {@link ArccResult}); owned by the caller
 * @throws as {@link road} and {@link coherency}
 *
 * @example
 * ```ts
 * const cam = gradCam(model, images, { target: 3 });
 * const r = arcc(model, images, cam.heatmap, { target: 3, softmax: false, logits: true });
 * console.log('ARCC', tf.mean(r.arcc).dataSync()[0]);
 * tf.dispose([cam, r]);
 * ```
 */
export function arcc(model: LayersModel, input: tf.Tensor3D, heatmap: tf.Tensor2D, options?: ArccOptions): ArccResult<tf.Scalar>;
export function arcc(model: LayersModel, input: tf.Tensor4D, heatmap: tf.Tensor3D, options?: ArccOptions): ArccResult<tf.Tensor1D>;
export function arcc(model: LayersModel, input: tf.Tensor, heatmap: tf.Tensor, options?: ArccOptions): ArccResult;
export function arcc(model: LayersModel, input: tf.Tensor, heatmap: tf.Tensor, options?: ArccOptions): ArccResult {
  const fn = 'arcc';
  const call = checkTargetScoringCall(fn, ARCC_OPTIONS, model, input, options);
  const o = call.options;
  const given = (options ?? {}) as ArccOptions;
  const classTarget = typeof given.target === 'number' || Array.isArray(given.target) ? (given.target as number | number[]) : undefined;
  return tf.tidy(() => {
    const scoring: TargetScoringOptions & { percentiles: number[]; noise: number; seed: number } = {
      ...(given.target === undefined ? {} : { target: given.target }),
      softmax: o.softmax,
      logits: o.logits,
      outputIndex: o.outputIndex,
      batchSize: o.batchSize,
      validate: o.validate,
      percentiles: [...o.percentiles],
      noise: o.noise,
      seed: o.seed,
    };
    const r = roadIn(fn, model, input, heatmap, scoring);
    const cx = complexity(heatmap);
    const coh = coherencyIn(fn, model, input, heatmap, {
      method: o.method,
      ...(o.methodOptions === undefined ? {} : { methodOptions: o.methodOptions }),
      ...(classTarget === undefined ? {} : { target: classTarget }),
    });
    const roadScaled = tf.clipByValue(tf.mul(r.combined, 2), 0, 1);
    const simple = tf.sub(1, cx);
    const score =
      o.mean === 'geometric'
        ? tf.pow(tf.relu(tf.mul(tf.mul(coh, simple), roadScaled)), 1 / 3)
        : tf.div(3, tf.add(tf.add(tf.div(1, tf.add(coh, 1e-8)), tf.div(1, tf.add(simple, 1e-8))), tf.div(1, tf.add(roadScaled, 1e-8))));
    return { arcc: score, complexity: cx, coherency: coh, road: r.combined, roadScaled };
  }) as ArccResult;
}

/** The result of {@link camMultImageConfidenceChange}, per example. The caller owns the tensors. */
export type CamMultImageResult<T extends tf.Tensor = tf.Tensor> = {
  /** `after - before`: pytorch-grad-cam's `CamMultImageConfidenceChange`. */
  change: T;
  /** `max(-change, 0)`: its `DropInConfidence`. */
  drop: T;
  /** `1` where `change > 0`, else `0`: its `IncreaseInConfidence`. */
  increase: T;
  /** The score on the input. */
  before: T;
  /** The score on `input * map`. */
  after: T;
};

/**
 * pytorch-grad-cam's `CamMultImageConfidenceChange`, `DropInConfidence` and `IncreaseInConfidence`
 * in one call: the target's score on `input * map` (the map broadcast over channels) minus its score
 * on the input, the absolute drop `max(-change, 0)` and the increase indicator `[change > 0]`.
 *
 * Numerics match pytorch-grad-cam (tested against it): the absolute change of the score, with the
 * target scored as `softmax` / `logits` / `target` say (its tutorials use
 * `ClassifierOutputSoftmaxTarget`, i.e. `softmax: true`; `softmax: false, logits: true` gives
 * `ClassifierOutputTarget` on logits). The paper's relative Average Drop is {@link averageDrop}.
 *
 * @param model - a model with one image input; never modified
 * @param input - `[H,W,C]` or `[B,H,W,C]`; not disposed
 * @param heatmap - `[H,W]` or `[B,H,W]` maps at the input's size; not disposed
 * @param options - {@link TargetScoringOptions}
 * @returns `{ change, drop, increase, before, after }` (see {@link CamMultImageResult}); float32,
 *   `[B]` or scalars for one image; owned by the caller
 * @throws {@link ModelError}, {@link InputError}, {@link TargetError}, {@link OptionError},
 *   {@link UnsupportedError} as {@link road}
 *
 * @example
 * ```ts
 * const cam = gradCam(model, images);
 * const r = camMultImageConfidenceChange(model, images, cam.heatmap, { target: cam.classIndex, softmax: true });
 * ```
 */
export function camMultImageConfidenceChange(
  model: LayersModel,
  input: tf.Tensor3D,
  heatmap: tf.Tensor2D,
  options?: TargetScoringOptions,
): CamMultImageResult<tf.Scalar>;
export function camMultImageConfidenceChange(
  model: LayersModel,
  input: tf.Tensor4D,
  heatmap: tf.Tensor3D,
  options?: TargetScoringOptions,
): CamMultImageResult<tf.Tensor1D>;
export function camMultImageConfidenceChange(
  model: LayersModel,
  input: tf.Tensor,
  heatmap: tf.Tensor,
  options?: TargetScoringOptions,
): CamMultImageResult;
export function camMultImageConfidenceChange(
  model: LayersModel,
  input: tf.Tensor,
  heatmap: tf.Tensor,
  options?: TargetScoringOptions,
): CamMultImageResult {
  const fn = 'camMultImageConfidenceChange';
  const call = checkTargetScoringCall(fn, TARGET_SCORING_OPTIONS, model, input, options);
  return tf.tidy(() => {
    const s = targetScoring(call);
    const [b, h, w] = s.images.shape;
    const { maps } = checkMaps(fn, 'heatmap', heatmap);
    if (maps.shape[0] !== b || maps.shape[1] !== h || maps.shape[2] !== w || (heatmap as tf.Tensor).rank !== (call.input.batched ? 3 : 2)) {
      throw new InputError({
        fn,
        argument: 'heatmap',
        expected: `must have the input's batch and size, ${call.input.batched ? `[${b}, ${h}, ${w}]` : `[${h}, ${w}]`}`,
        got: describeValue(heatmap),
        fix: 'Resize the map to the input (the CAM methods do by default).',
      });
    }
    const after = s.score(
      tf.mul(s.images, tf.expandDims(maps, -1)) as tf.Tensor4D,
      Array.from({ length: b }, (_, i) => i),
    );
    const change = tf.sub(after, s.original);
    const un = (t: tf.Tensor): tf.Tensor => (call.input.batched ? t : tf.squeeze(t, [0]));
    return {
      change: un(change),
      drop: un(tf.relu(tf.neg(change))),
      increase: un(tf.cast(tf.greater(change, 0), 'float32')),
      before: un(s.original),
      after: un(after),
    };
  }) as CamMultImageResult;
}
