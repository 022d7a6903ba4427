/**
 * Argument checking and model scoring shared by the metrics.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { endsInSquashing } from '../models/layers/applier.js';
import { modelGraph } from '../core/cam.js';
import { normalizeTarget } from '../core/targets.js';
import type { ContainerLike } from '../models/layers/keras-types.js';
import { isTensor } from '../core/tensor.js';
import type { PreparedInput } from '../core/validate.js';
import { boolOption, checkModel, defaultValidate, intOption, prepareInput } from '../core/validate.js';
import { InputError, OptionError, TargetError, UnsupportedError, describeValue } from '../errors.js';

/**
 * Checks a map argument: a float tensor `[H,W]` (one map) or `[B,H,W]` (a batch). Returns it as a
 * batch (`[B,H,W]`, float32) and whether it was batched. Must run inside `tf.tidy`.
 */
export function checkMaps(
  fn: string,
  argument: string,
  x: unknown,
  fix = 'Pass the heatmap of a CAM method, e.g. gradCam(model, input).heatmap.',
): { maps: tf.Tensor3D; batched: boolean } {
  if (!isTensor(x)) {
    throw new InputError({ fn, argument, expected: 'must be a tf.Tensor of shape [H, W] or [B, H, W]', got: describeValue(x), fix });
  }
  if (x.isDisposed) {
    throw new InputError({ fn, argument, expected: 'must be a live tensor', got: 'a disposed tensor', fix: 'Do not dispose it before calling.' });
  }
  if (x.rank !== 2 && x.rank !== 3) {
    throw new InputError({ fn, argument, expected: 'must have rank 2 [H, W] or 3 [B, H, W]', got: describeValue(x), fix });
  }
  if (x.dtype === 'string' || x.dtype === 'complex64') {
    throw new InputError({ fn, argument, expected: 'must be a numeric tensor', got: describeValue(x), fix });
  }
  if (x.size === 0) {
    throw new InputError({ fn, argument, expected: 'must not be empty', got: describeValue(x), fix });
  }
  const f = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
  const batched = x.rank === 3;
  return { maps: (batched ? f : tf.expandDims(f, 0)) as tf.Tensor3D, batched };
}

/** Reads a finite number option within [min, max] (`min` exclusive when `minExclusive`). */
export function numberOption(
  fn: string,
  o: Record<string, unknown>,
  key: string,
  dflt: number,
  min: number,
  minExclusive: boolean,
  max = Infinity,
): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || (minExclusive ? v <= min : v < min) || v > max) {
    const range = max === Infinity ? `${minExclusive ? '>' : '>='} ${min}` : `in [${min}, ${max}]`;
    throw new OptionError({
      fn,
      argument: `options.${key}`,
      expected: `must be a finite number ${range}`,
      got: describeValue(v),
      fix: `Omit it for the default (${dflt}).`,
    });
  }
  return v;
}

/** The output layer step of output `outputIndex` ends in softmax/sigmoid. */
export function outputIsSquashed(fn: string, model: ContainerLike, outputIndex: number): boolean {
  const graph = modelGraph(fn, model);
  const value = graph.outputValues[outputIndex];
  if (value === undefined) return false;
  const producer = graph.producer[value];
  if (producer === undefined || producer < 0) return false;
  const step = graph.steps[producer];
  return step !== undefined && endsInSquashing(step);
}

/**
 * `x[i, index[i]]` for `[n, m]` and `[n]` indices, without `tf.gather` or `tf.oneHot` (one-hot needs
 * depth >= 2; an out-of-range index picks 0).
 */
export function pickColumn(x: tf.Tensor2D, index: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const m = x.shape[1];
    const cols = tf.reshape(tf.range(0, m, 1, 'int32'), [1, m]);
    const mask = tf.cast(tf.equal(cols, tf.reshape(tf.cast(index, 'int32'), [-1, 1])), 'float32');
    return tf.sum(tf.mul(x, mask), 1) as tf.Tensor1D;
  });
}

/** Options shared by the metrics that run the model. */
export interface ScoringOptions {
  /**
   * The class whose score is measured: one index for the batch, one per example (an array, or an
   * int32 tensor such as a CAM result's `classIndex`). Default: the arg-max class of the model's
   * prediction on the unmodified input.
   */
  target?: number | readonly number[] | tf.Tensor | undefined;
  /**
   * How the model output becomes a score. `'auto'` (default): when the output layer ends in
   * softmax or sigmoid its output is used as it is; otherwise softmax is applied over the classes (or
   * sigmoid to a single-unit output), so a logits model is scored by probabilities, as in the papers.
   * `true`: always apply softmax over the classes. `false`: use the raw output.
   */
  softmax?: 'auto' | boolean | undefined;
  /** For multi-output models, which output to score (default 0). */
  outputIndex?: number | undefined;
  /** Images per forward pass (default 32). */
  batchSize?: number | undefined;
  /**
   * Check the input for NaN/Infinity and a tensor `target` for out-of-range classes (one read each).
   * Default: true on cpu, wasm and tfjs-node; false on GPU backends.
   */
  validate?: boolean | undefined;
}

/** Option keys of {@link ScoringOptions}. */
export const SCORING_KEYS = ['target', 'softmax', 'outputIndex', 'batchSize', 'validate'] as const;

/** A model, its input and map, checked, plus a scorer. */
export interface Scoring {
  model: ContainerLike;
  prepared: PreparedInput;
  /** The input batch, `[B,H,W,C]` float32. */
  images: tf.Tensor4D;
  batchSize: number;
  /** Scores of `classes` for a batch of images: `[n]`. Runs the model in chunks. */
  score: (images: tf.Tensor4D, classes: tf.Tensor1D) => tf.Tensor1D;
  /** Per-example class index, int32 `[B]` (resolved against the unmodified input if needed). */
  classIndex: tf.Tensor1D;
  /** Per-example score of `classIndex` on the unmodified input, `[B]`, or null if not computed yet. */
  original: tf.Tensor1D | null;
}

/**
 * Checks the model, input, map and scoring options; resolves the target. Must run inside `tf.tidy`.
 * The map must be `[B,H,W]` matching the input (or `[H,W]` for an unbatched input).
 */
export function prepareScoring(
  fn: string,
  modelArg: unknown,
  input: unknown,
  o: Record<string, unknown>,
): Scoring {
  const model = checkModel(fn, modelArg);
  if (model.inputs.length !== 1) {
    throw new UnsupportedError({
      fn,
      argument: 'model',
      expected: 'must have one (image) input',
      got: `a model with ${model.inputs.length} inputs`,
      fix: 'Wrap the model so that the other inputs are fixed, e.g. tf.model with constant inputs.',
    });
  }
  if (model.inputs[0]?.shape.length !== 4) {
    throw new UnsupportedError({
      fn,
      argument: 'model',
      expected: 'must take images [batch, height, width, channels]',
      got: `a model whose input has shape [${(model.inputs[0]?.shape ?? []).map((d) => (d === null ? 'any' : d)).join(', ')}]`,
      fix: 'These metrics perturb pixels; use them with image models.',
    });
  }
  const nOut = model.outputs.length;
  const outputIndex = intOption(fn, o, 'outputIndex', 0, 0, nOut - 1);
  const batchSize = intOption(fn, o, 'batchSize', 32, 1, 1 << 20);
  const validate = boolOption(fn, o, 'validate', defaultValidate());
  const sm = o['softmax'];
  if (sm !== undefined && sm !== 'auto' && typeof sm !== 'boolean') {
    throw new OptionError({
      fn,
      argument: 'options.softmax',
      expected: "must be 'auto', true or false",
      got: describeValue(sm),
      fix: "Omit it for 'auto' (softmax unless the model already ends in softmax/sigmoid).",
    });
  }

  const prepared = prepareInput(fn, model, input, validate);
  const images = prepared.tensors[0] as tf.Tensor4D;
  const outShape = model.outputs[outputIndex]?.shape ?? [];
  if (outShape.length !== 2) {
    throw new UnsupportedError({
      fn,
      argument: 'model',
      expected: 'must output class scores [batch, classes]',
      got: `an output of shape [${outShape.map((d) => (d === null ? 'any' : d)).join(', ')}]`,
      fix: 'Pick a classification output with outputIndex.',
    });
  }
  const numClasses = typeof outShape[1] === 'number' ? outShape[1] : null;
  // 'auto': a squashed output is used as it is; logits get softmax, or sigmoid for a single unit.
  const squash: 'softmax' | 'sigmoid' | null =
    sm === true ? 'softmax' : sm === false || outputIsSquashed(fn, model, outputIndex) ? null : numClasses === 1 ? 'sigmoid' : 'softmax';

  const predictScores = (batch: tf.Tensor4D): tf.Tensor2D =>
    tf.tidy(() => {
      const out = (model as unknown as { predict(x: tf.Tensor, a?: object): tf.Tensor | tf.Tensor[] }).predict(batch, { batchSize });
      const t = (Array.isArray(out) ? out[outputIndex] : out) as tf.Tensor2D;
      return (squash === 'softmax' ? tf.softmax(t, -1) : squash === 'sigmoid' ? tf.sigmoid(t) : t) as tf.Tensor2D;
    });
  const score = (batch: tf.Tensor4D, classes: tf.Tensor1D): tf.Tensor1D =>
    tf.tidy(() => {
      const n = batch.shape[0];
      const parts: tf.Tensor1D[] = [];
      for (let start = 0; start < n; start += batchSize) {
        const size = Math.min(batchSize, n - start);
        parts.push(
          tf.tidy(() => {
            const x = size === n ? batch : (tf.slice(batch, [start, 0, 0, 0], [size, -1, -1, -1]) as tf.Tensor4D);
            const c = size === n ? classes : (tf.slice(classes, [start], [size]) as tf.Tensor1D);
            const s = predictScores(x);
            return pickColumn(s, c);
          }),
        );
      }
      return (parts.length === 1 ? (parts[0] as tf.Tensor1D) : tf.concat(parts)) as tf.Tensor1D;
    });

  const b = prepared.batchSize;
  const target = o['target'];
  let classIndex: tf.Tensor1D;
  let original: tf.Tensor1D | null = null;
  if (target === undefined) {
    // Arg-max of the prediction on the unmodified input; its scores are reused.
    const parts: tf.Tensor1D[] = [];
    const origParts: tf.Tensor1D[] = [];
    for (let start = 0; start < b; start += batchSize) {
      const size = Math.min(batchSize, b - start);
      const x = size === b ? images : (tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1]) as tf.Tensor4D);
      const s = predictScores(x);
      parts.push(tf.cast(tf.argMax(s, 1), 'int32') as tf.Tensor1D);
      origParts.push(tf.max(s, 1) as tf.Tensor1D);
    }
    classIndex = (parts.length === 1 ? parts[0] : tf.concat(parts)) as tf.Tensor1D;
    original = (origParts.length === 1 ? origParts[0] : tf.concat(origParts)) as tf.Tensor1D;
  } else if (isTensor(target)) {
    if (target.isDisposed) {
      throw new TargetError({ fn, argument: 'target', expected: 'must be a live tensor', got: 'a disposed tensor', fix: 'Do not dispose the class indices before calling.' });
    }
    if (!((target.rank === 0 && !prepared.batched) || (target.rank === 1 && target.shape[0] === b)) || (target.dtype !== 'int32' && target.dtype !== 'float32')) {
      throw new TargetError({
        fn,
        argument: 'target',
        expected: prepared.batched ? `as a tensor must be an int32 Tensor1D of ${b} class indices` : 'as a tensor must be an int32 scalar class index',
        got: describeValue(target),
        fix: "Pass a CAM result's classIndex, or an array of class indices.",
      });
    }
    if (validate) {
      // One read, to report out-of-range or non-integer classes instead of scoring them as zero.
      normalizeTarget(fn, Array.from(target.dataSync()), target.rank === 0 ? 1 : b, numClasses);
    }
    classIndex = tf.reshape(tf.cast(target, 'int32'), [b]) as tf.Tensor1D;
  } else {
    const t = normalizeTarget(fn, target, b, numClasses);
    if (t.kind !== 'indices') {
      throw new TargetError({
        fn,
        argument: 'target',
        expected: 'must be a class index, an array of class indices or an int32 tensor',
        got: describeValue(target),
        fix: 'Score functions are not supported by the metrics; pass the class to measure.',
      });
    }
    classIndex = tf.tensor1d(t.indices, 'int32');
  }
  return { model, prepared, images, batchSize, score, classIndex, original };
}

/**
 * Checks that a map batch fits the input batch: `[B,H,W]` with the input's B, H, W (or `[H,W]` for an
 * unbatched input). Returns the maps as `[B,H,W,1]`.
 */
export function checkMapsForInput(fn: string, heatmap: unknown, prepared: PreparedInput): tf.Tensor4D {
  const { maps } = checkMaps(fn, 'heatmap', heatmap);
  const img = prepared.tensors[0] as tf.Tensor4D;
  const [b, h, w] = img.shape;
  const want = prepared.batched ? `[${b}, ${h}, ${w}]` : `[${h}, ${w}]`;
  const rankOk = (heatmap as tf.Tensor).rank === (prepared.batched ? 3 : 2);
  if (!rankOk || maps.shape[0] !== b || maps.shape[1] !== h || maps.shape[2] !== w) {
    throw new InputError({
      fn,
      argument: 'heatmap',
      expected: `must have the input's batch and spatial size, ${want}`,
      got: describeValue(heatmap),
      fix:
        maps.shape[1] !== h || maps.shape[2] !== w
          ? `Resize the map to the input (the CAM methods' default, resize: true), e.g. resizeMaps(map, [${h}, ${w}]).`
          : 'Pass one map per input image.',
    });
  }
  return tf.expandDims(maps, -1) as tf.Tensor4D;
}

/** Squeezes a `[1]` result to a scalar for unbatched inputs. */
export function unbatch<T extends tf.Tensor>(x: T, batched: boolean): tf.Tensor {
  return batched ? x : tf.reshape(x, x.shape.slice(1));
}
