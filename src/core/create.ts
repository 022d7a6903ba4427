/**
 * `createCam`: the extension point every CAM method is built with. A method supplies only its channel
 * weighting (or its per-channel maps, or its whole map); createCam adds argument checking, the
 * two-phase graph runner, multi-layer fusion, test-time augmentation smoothing, eigen-smoothing and
 * pytorch-grad-cam's post-processing.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { OptionError, TargetError, describeValue } from '../errors.js';
import type { ActivationsAndGradients, BatchResult, ParsedCamOptions } from './cam.js';
import {
  activationsAndGradientsIn,
  finishResult,
  modelGraph,
  parseCamOptions,
  prologue,
  resizeTarget,
} from './cam.js';
import { combineChannels } from './primitives.js';
import { planOf } from '../models/layers/plan.js';
import { normalizeMaps, postprocessMaps, resizeMaps } from './postprocess.js';
import { principalProjection } from './projection.js';
import { channelSum } from './reduce.js';
import { runBody, runHeadForward } from '../models/layers/runner.js';
import type { NormalizedTarget } from './targets.js';
import { oneHotMask } from './targets.js';
import type { ContainerLike } from '../models/layers/keras-types.js';
import type { CamInput, CamOptions, CamResult, CamResultBatch, CamResultSingle } from './types.js';
import type { PreparedInput } from './validate.js';
import { checkModel } from './validate.js';

/**
 * What a CAM method sees: the target layer's activations, the gradients of the explained score,
 * the scores, and functions to re-score modified activations or inputs. All tensors are owned by
 * the pipeline (do not dispose them); everything a method creates is freed when it returns.
 */
export interface CamContext {
  /** Name of the public function (for error messages). */
  readonly fn: string;
  /** Target layer output A, `[B, h, w, C]`. */
  readonly activations: tf.Tensor4D;
  /** dScore/dA, `[B, h, w, C]`. Throws for methods created with `usesGradients: false`. */
  readonly gradients: tf.Tensor4D;
  /** The explained score of each example, `[B]` (a logit when logits are explained). */
  readonly scores: tf.Tensor1D;
  /** The explained class of each example (int32; -1 for target functions), `[B]`. */
  readonly classIndex: tf.Tensor1D;
  /** The explained model output, `[B, ...]`. */
  readonly output: tf.Tensor;
  /** The model inputs, batched and float32, one per model input. */
  readonly inputs: readonly tf.Tensor[];
  /** Index (into `inputs`) of the image input maps refer to. */
  readonly imageInput: number;
  /** The resolved layer path. */
  readonly layer: string;
  /** The caller's options (method-specific keys included, unchecked: check them in the method). */
  readonly options: Readonly<Record<string, unknown>>;
  /**
   * Runs the layers above the target, forward only, on `activations` (`[n, h, w, C]`: modified
   * copies of example `example`'s activations; the example's other inputs to those layers are
   * repeated) and returns the explained score of each row, `[n]`, for example `example`'s target.
   */
  scoreActivations(activations: tf.Tensor4D, example: number): tf.Tensor1D;
  /**
   * Runs the whole model, forward only, on `images` (`[n, H, W, C]`: modified copies of example
   * `example`'s image input; its other inputs are repeated) and returns the explained score of each
   * row, `[n]`, for example `example`'s target.
   */
  scoreInputs(images: tf.Tensor4D, example: number): tf.Tensor1D;
  /**
   * Like {@link CamContext.scoreInputs} but returns the whole explained model output for each row,
   * `[n, ...]` (pre-softmax when logits are explained).
   */
  forwardInputs(images: tf.Tensor4D, example: number): tf.Tensor;
  /** Reports progress to the caller's `onProgress` option, if any. */
  progress(done: number, total: number): void;
}

/**
 * A CAM method: exactly one of `weights`, `elementwise` or `map`.
 * - `weights(ctx)`: per-channel weights `[B, C]`; the map is `sum_k w_k A_k` (Grad-CAM style);
 * - `elementwise(ctx)`: per-channel maps `[B, h, w, C]`; the map is their channel sum (HiResCAM style);
 * - `map(ctx)`: the raw map `[B, h, w]` directly (EigenCAM style).
 * With `eigenSmooth`, the first two are replaced by the principal component of the per-channel maps.
 */
export interface CamMethod {
  /** The public function name, used in error messages. */
  readonly name: string;
  /** Whether the method needs dS/dA (default true). Gradient-free methods skip the backward pass. */
  readonly usesGradients?: boolean | undefined;
  /** Extra option keys the method accepts. */
  readonly optionKeys?: readonly string[] | undefined;
  /** Checks the values of the method's own options before any computation (throw an OptionError). */
  readonly checkOptions?: ((options: Readonly<Record<string, unknown>>, fn: string) => void) | undefined;
  /** Per-channel weights `[B, C]`; the raw map is `sum_k w_k A_k`. */
  readonly weights?: ((ctx: CamContext) => tf.Tensor2D) | undefined;
  /** Per-channel maps `[B, h, w, C]`; the raw map is their sum over channels. */
  readonly elementwise?: ((ctx: CamContext) => tf.Tensor4D) | undefined;
  /** The raw map `[B, h, w]` itself. */
  readonly map?: ((ctx: CamContext) => tf.Tensor3D) | undefined;
}

/** The signature of every CAM method made by {@link createCam}. */
export interface CamFunction<O extends CamOptions = CamOptions> {
  (model: LayersModel, input: tf.Tensor3D, options?: O): CamResultSingle;
  (model: LayersModel, input: tf.Tensor4D, options?: O): CamResultBatch;
  (model: LayersModel, input: CamInput, options?: O): CamResult;
}

/** Option keys createCam itself handles, on top of the shared CAM options. */
const PIPELINE_KEYS = ['augSmooth', 'eigenSmooth', 'fuse'] as const;

/** Test-time augmentations of pytorch-grad-cam's aug_smooth: flip x brightness. */
const AUGMENTATIONS: ReadonlyArray<{ flip: boolean; factor: number }> = [false, true].flatMap((flip) =>
  [0.9, 1, 1.1].map((factor) => ({ flip, factor })),
);
const IDENTITY_AUGMENTATION = 1;

function augmentInput(prepared: PreparedInput): PreparedInput {
  const tensors = prepared.tensors.map((t) =>
    t.rank === 4
      ? tf.concat(AUGMENTATIONS.map((a) => tf.mul(a.flip ? tf.reverse(t, 2) : t, a.factor)), 0)
      : tf.concat(AUGMENTATIONS.map(() => t), 0),
  );
  return { ...prepared, tensors, batchSize: prepared.batchSize * AUGMENTATIONS.length };
}

function augmentTarget(target: NormalizedTarget): NormalizedTarget {
  if (target.kind !== 'indices') return target;
  return { kind: 'indices', indices: AUGMENTATIONS.flatMap(() => target.indices) };
}

function scoreRows(fn: string, ag: ActivationsAndGradients, output: tf.Tensor, example: number): tf.Tensor1D {
  const n = output.shape[0] as number;
  if (ag.target.kind === 'function') {
    const s = ag.target.fn(output);
    if (s == null || !Array.isArray((s as tf.Tensor).shape) || s.rank !== 1 || s.shape[0] !== n) {
      throw new TargetError({
        fn,
        argument: 'target',
        expected: `as a function must return one score per row (a Tensor1D of ${n} here)`,
        got: describeValue(s),
        fix: 'Reduce the output to one score per example, e.g. with tf.sum(x, axis) over non-batch axes.',
      });
    }
    return (s.dtype === 'float32' ? s : tf.cast(s, 'float32')) as tf.Tensor1D;
  }
  const k = output.shape[1] as number;
  const cls = tf.slice(ag.classIndex, [example], [1]);
  const mask = oneHotMask(cls, k);
  return tf.sum(tf.mul(output, mask), 1) as tf.Tensor1D;
}

function tileRow(t: tf.Tensor, example: number, n: number): tf.Tensor {
  const row = tf.slice(t, [example], [1]);
  return n === 1 ? row : tf.tile(row, [n, ...t.shape.slice(1).map(() => 1)]);
}

function imageInputIndex(prepared: PreparedInput): number {
  const i = prepared.tensors.findIndex((t) => t.rank === 4);
  return i < 0 ? 0 : i;
}

function makeContext(
  method: CamMethod,
  model: ContainerLike,
  ag: ActivationsAndGradients,
  opts: ParsedCamOptions,
): CamContext {
  const fn = method.name;
  const imageInput = imageInputIndex(ag.input);
  const onProgress = opts.raw['onProgress'] as ((done: number, total: number) => void) | undefined;
  const forwardInputs = (images: tf.Tensor4D, example: number): tf.Tensor =>
    tf.tidy(() => {
      const n = images.shape[0];
      const inputs = ag.input.tensors.map((t, i) => (i === imageInput ? images : tileRow(t, example, n)));
      const graph = modelGraph(fn, model);
      const plan = planOf(model, graph.inputValues[imageInput] as number, opts.outputIndex);
      if (plan === null) throw new Error(`${fn}: the output does not depend on the image input`);
      return runHeadForward(plan, runBody(plan, inputs), ag.ctx);
    });
  return {
    fn,
    activations: ag.activations,
    get gradients(): tf.Tensor4D {
      if (ag.gradients === null) {
        throw new Error(`${fn}: the method was created with usesGradients: false and has no gradients`);
      }
      return ag.gradients;
    },
    scores: ag.scores,
    classIndex: ag.classIndex,
    output: ag.output,
    inputs: ag.input.tensors,
    imageInput,
    layer: ag.layer.path,
    options: opts.raw,
    scoreActivations(activations: tf.Tensor4D, example: number): tf.Tensor1D {
      return tf.tidy(() => {
        const n = activations.shape[0];
        const values = new Map<number, tf.Tensor>();
        for (const [v, t] of ag.frontier) values.set(v, v === ag.plan.targetValue ? activations : tileRow(t, example, n));
        return scoreRows(fn, ag, runHeadForward(ag.plan, values, ag.ctx), example);
      });
    },
    forwardInputs,
    scoreInputs(images: tf.Tensor4D, example: number): tf.Tensor1D {
      return tf.tidy(() => scoreRows(fn, ag, forwardInputs(images, example), example));
    },
    progress(done: number, total: number): void {
      if (typeof onProgress === 'function') onProgress(done, total);
    },
  };
}

/** The raw `[B, h, w]` map of one layer. */
function rawMap(method: CamMethod, ctx: CamContext, ag: ActivationsAndGradients, eigenSmooth: boolean): tf.Tensor3D {
  if (method.map !== undefined) return method.map(ctx);
  if (method.weights !== undefined) {
    const w = method.weights(ctx);
    // dS/dA is no longer needed: free it before the combination (peak stays ~2x the activation).
    if (ag.gradients !== null) ag.gradients.dispose();
    if (eigenSmooth) {
      const [b, , , c] = ag.activations.shape;
      return principalProjection(tf.mul(ag.activations, tf.reshape(w, [b, 1, 1, c])) as tf.Tensor4D);
    }
    return combineChannels(ag.activations, w);
  }
  if (method.elementwise !== undefined) {
    const e = method.elementwise(ctx);
    return eigenSmooth ? principalProjection(e) : channelSum(e);
  }
  throw new Error(`${method.name}: a CAM method needs weights, elementwise or map`);
}

/**
 * The post-processed `[B, h, w]` map of `method` from a pass that is already done (what a CAM
 * function does after its own pass, for one layer): lets another function reuse a method's
 * weighting on activations and gradients it obtained itself (guidedGradCam's one-pass path).
 * Takes ownership of `ag.gradients`. In a tidy.
 *
 * @internal
 */
export function mapFromPass(method: CamMethod, model: ContainerLike, ag: ActivationsAndGradients, opts: ParsedCamOptions): tf.Tensor3D {
  const size = resizeTarget(method.name, opts, ag.input);
  const raw = rawMap(method, makeContext(method, model, ag, opts), ag, false);
  return postprocessMaps(raw, { relu: opts.relu, normalize: opts.normalize, size });
}

function parseLayers(fn: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) return [value];
  if (value.length === 0) {
    throw new OptionError({
      fn,
      argument: 'options.layer',
      expected: 'as an array must list at least one layer',
      got: '[]',
      fix: 'Omit layer for the default, or list the layers to fuse.',
    });
  }
  return value;
}

function parseFuse(fn: string, value: unknown): 'mean' | 'max' {
  if (value === undefined || value === 'mean' || value === 'max') return (value ?? 'mean') as 'mean' | 'max';
  throw new OptionError({
    fn,
    argument: 'options.fuse',
    expected: "must be 'mean' (pytorch-grad-cam) or 'max'",
    got: describeValue(value),
    fix: "Omit it for 'mean'.",
  });
}

/**
 * Runs a method on already-prepared inputs (one tidy scope is the caller's). Returns batched maps.
 */
function runMethod(
  method: CamMethod,
  model: ContainerLike,
  prepared: PreparedInput,
  target: NormalizedTarget,
  opts: ParsedCamOptions,
): BatchResult {
  const fn = method.name;
  const layers = parseLayers(fn, opts.raw['layer']);
  const fuse = parseFuse(fn, opts.raw['fuse']);
  const eigenSmooth = opts.raw['eigenSmooth'] === true;
  const size = resizeTarget(fn, opts, prepared);
  const maps: tf.Tensor3D[] = [];
  let first: ActivationsAndGradients | null = null;
  const paths: string[] = [];
  for (const layer of layers) {
    const ag = activationsAndGradientsIn(fn, model, prepared, target, opts, {
      layer,
      gradients: method.usesGradients !== false,
    });
    first ??= ag;
    paths.push(ag.layer.path);
    const raw = rawMap(method, makeContext(method, model, ag, opts), ag, eigenSmooth);
    maps.push(layers.length === 1 ? postprocessMaps(raw, { relu: opts.relu, normalize: opts.normalize, size }) : perLayer(raw, opts, size));
  }
  let heatmap: tf.Tensor3D;
  if (maps.length === 1) {
    heatmap = maps[0] as tf.Tensor3D;
  } else {
    const shapes = new Set(maps.map((m) => `${m.shape[1]}x${m.shape[2]}`));
    if (shapes.size > 1) {
      throw new OptionError({
        fn,
        argument: 'options.resize',
        expected: 'must resize when fusing layers of different resolutions',
        got: `false for layers at ${[...shapes].join(', ')}`,
        fix: 'Omit resize (maps are fused at the input size) or pass resize: [height, width].',
      });
    }
    const stacked = tf.stack(maps, 0);
    const positive = opts.relu ? tf.relu(stacked) : stacked;
    const fused = (fuse === 'max' ? tf.max(positive, 0) : tf.mean(positive, 0)) as tf.Tensor3D;
    heatmap = opts.normalize ? normalizeMaps(fused) : fused;
  }
  const base = first as ActivationsAndGradients;
  return { heatmap, classIndex: base.classIndex, score: base.scores, layer: paths.join(',') };
}

/** Per-layer processing before fusion (pytorch-grad-cam's compute_cam_per_layer). */
function perLayer(raw: tf.Tensor3D, opts: ParsedCamOptions, size: readonly [number, number] | null): tf.Tensor3D {
  let x = opts.relu ? tf.relu(raw) : raw;
  if (opts.normalize) x = normalizeMaps(x);
  return size === null ? x : resizeMaps(x, size);
}

/**
 * Builds a CAM method with the same signature, options and result as {@link gradCam} from a
 * channel weighting (or per-channel maps, or a raw map). Every built-in method is made this way.
 *
 * The returned function checks its arguments (typed errors), runs the model through tfcam's
 * two-phase runner (layers below the target outside the gradient tape; gradient-free methods skip
 * the backward pass entirely), calls the method, and post-processes like pytorch-grad-cam. It also
 * supports, for every method: `layer: [a, b, ...]` (per-layer maps fused with `fuse: 'mean'`, as
 * pytorch-grad-cam, or `'max'`), `augSmooth: true` (pytorch-grad-cam's test-time augmentation:
 * horizontal flip x brightness {0.9, 1, 1.1}, de-augmented and averaged, run as one batch) and
 * `eigenSmooth: true` (the principal component of the per-channel maps instead of their sum).
 *
 * @param method - the weighting; see {@link CamMethod}
 * @returns a function `(model, input, options?) => CamResult`
 * @throws (when called) the same errors as {@link gradCam}
 *
 * @example
 * ```ts
 * // "Absolute Grad-CAM": weights are the mean absolute gradient.
 * const absGradCam = createCam({
 *   name: 'absGradCam',
 *   weights: ({ gradients }) => tf.mean(tf.abs(gradients), [1, 2]) as tf.Tensor2D,
 * });
 * const { heatmap } = absGradCam(model, image);
 * ```
 */
export function createCam<O extends CamOptions = CamOptions>(method: CamMethod): CamFunction<O> {
  const defined = [method.weights, method.elementwise, method.map].filter((f) => f !== undefined).length;
  if (defined !== 1) {
    throw new OptionError({
      fn: 'createCam',
      argument: 'method',
      expected: 'must define exactly one of weights, elementwise or map',
      got: `${defined} of them`,
      fix: 'Return per-channel weights [B, C] from weights(ctx), for example.',
    });
  }
  const fn = method.name;
  const keys = [...PIPELINE_KEYS, ...(method.optionKeys ?? [])];
  const cam = (model: LayersModel, input: CamInput, options?: O): CamResult => {
    const m = checkModel(fn, model);
    const opts = parseCamOptions(fn, m, options, keys);
    method.checkOptions?.(opts.raw, fn);
    for (const key of ['augSmooth', 'eigenSmooth'] as const) {
      const v = opts.raw[key];
      if (v !== undefined && typeof v !== 'boolean') {
        throw new OptionError({ fn, argument: `options.${key}`, expected: 'must be true or false', got: describeValue(v), fix: 'Omit it for false.' });
      }
    }
    return tf.tidy((): tf.TensorContainer => {
      const { prepared, target } = prologue(fn, m, input, opts);
      let result: BatchResult;
      if (opts.raw['augSmooth'] === true) {
        const augmented = runMethod(method, m, augmentInput(prepared), augmentTarget(target), opts);
        const b = prepared.batchSize;
        const maps = AUGMENTATIONS.map((a, i) => {
          const part = tf.slice(augmented.heatmap, [i * b], [b]);
          return a.flip ? tf.reverse(part, 2) : part;
        });
        const heatmap = tf.mean(tf.stack(maps, 0), 0) as tf.Tensor3D;
        result = {
          heatmap,
          classIndex: tf.slice(augmented.classIndex, [IDENTITY_AUGMENTATION * b], [b]),
          score: tf.slice(augmented.score, [IDENTITY_AUGMENTATION * b], [b]),
          layer: augmented.layer,
        };
      } else {
        result = runMethod(method, m, prepared, target, opts);
      }
      return finishResult(result, prepared.batched) as unknown as tf.TensorContainer;
    }) as unknown as CamResult;
  };
  return cam as CamFunction<O>;
}
