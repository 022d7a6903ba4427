/**
 * Argument checking and model scoring shared by the metrics.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CheckedInput } from '../core/input.js';
import { checkInput, prepareInput } from '../core/input.js';
import type { OptionSpec, ParsedOptions, Schema } from '../core/options.js';
import { INVALID, integerOption, parseOptions, schemaFor } from '../core/options.js';
import { numClassesOf, pickColumn, resolveTarget } from '../core/targets.js';
import { checkTensor, isTensor } from '../core/tensor.js';
import { InputError, TargetError, UnsupportedError, describeValue } from '../errors.js';
import type { ExplainableModel, Split } from '../models/explainable.js';
import { explainableModel } from '../models/index.js';
import { optionContext } from '../pipeline/call.js';
import { outputIndexOption, validateOption } from '../pipeline/cam-options.js';
import { forwardPass } from '../pipeline/pass.js';

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
  checkTensor(fn, argument, x, { ranks: [2, 3], shapes: '[H, W] or [B, H, W]', fix });
  const t = x as tf.Tensor;
  const f = t.dtype === 'float32' ? t : tf.cast(t, 'float32');
  const batched = t.rank === 3;
  return { maps: (batched ? f : tf.expandDims(f, 0)) as tf.Tensor3D, batched };
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

/** The `target` of a metric: class indices (numbers, an array, or an int32 tensor). */
type ScoringTarget = { kind: 'argmax' } | { kind: 'indices'; indices: number[] } | { kind: 'tensor'; tensor: tf.Tensor };

const scoringTargetOption: OptionSpec<ScoringTarget> = {
  accepts: 'a class index, an array of class indices or an int32 tensor',
  default: { kind: 'argmax' },
  check(value, ctx) {
    if (isTensor(value)) return { kind: 'tensor', tensor: value };
    if (typeof value === 'number' || Array.isArray(value)) {
      // Checked against the batch and the classes once the input is known.
      return { kind: 'indices', indices: typeof value === 'number' ? [value] : [...(value as number[])] };
    }
    throw new TargetError({
      fn: ctx.fn,
      argument: 'target',
      expected: 'must be a class index, an array of class indices or an int32 tensor',
      got: describeValue(value),
      fix: 'Score functions are not supported by the metrics; pass the class to measure.',
    });
  },
};

const softmaxOption: OptionSpec<'auto' | boolean> = {
  accepts: "'auto', true or false",
  default: 'auto',
  fix: "Omit it for 'auto' (softmax unless the model already ends in softmax/sigmoid).",
  check: (v) => (v === 'auto' || typeof v === 'boolean' ? v : INVALID),
};

/** The schema of {@link ScoringOptions}. */
export const SCORING_OPTIONS = schemaFor<ScoringOptions>()({
  target: scoringTargetOption,
  softmax: softmaxOption,
  outputIndex: outputIndexOption,
  batchSize: integerOption(32, 1, 1 << 20),
  validate: validateOption,
});

/** The schemas of functions that score a model: {@link SCORING_OPTIONS} plus their own keys. */
export type ScoringSchema = Schema & typeof SCORING_OPTIONS;

/** A checked metric call: model, options, input (no tensor made yet). */
export interface ScoringCall<S extends ScoringSchema> {
  readonly fn: string;
  readonly model: ExplainableModel;
  readonly options: ParsedOptions<S>;
  readonly input: CheckedInput;
  /** The split at the image input: a forward pass of the whole model. */
  readonly split: Split;
  /** How the output becomes a score. */
  readonly squash: 'softmax' | 'sigmoid' | null;
  readonly numClasses: number | null;
}

/**
 * Checks a metric call before any tensor exists: an image classifier (one `[B,H,W,C]` input, a
 * `[batch, classes]` output), the options of `schema`, the input, and class indices (static checks).
 */
export function checkScoringCall<S extends ScoringSchema>(
  fn: string,
  schema: S,
  modelArg: unknown,
  input: unknown,
  options: unknown,
): ScoringCall<S> {
  const model = explainableModel(fn, modelArg);
  if (model.inputs.length !== 1) {
    throw new UnsupportedError({
      fn,
      argument: 'model',
      expected: 'must have one (image) input',
      got: `a model with ${model.inputs.length} inputs`,
      fix: 'Wrap the model so that the other inputs are fixed, e.g. tf.model with constant inputs.',
    });
  }
  const inShape = model.inputs[0]?.shape ?? [];
  if (inShape.length !== 4) {
    throw new UnsupportedError({
      fn,
      argument: 'model',
      expected: 'must take images [batch, height, width, channels]',
      got: `a model whose input has shape [${inShape.map((d) => (d === null ? 'any' : d)).join(', ')}]`,
      fix: 'These metrics perturb pixels; use them with image models.',
    });
  }
  const o = parseOptions(schema, options, optionContext(fn, model));
  const outShape = model.outputs[o.outputIndex]?.shape ?? [];
  if (outShape.length !== 2) {
    throw new UnsupportedError({
      fn,
      argument: 'model',
      expected: 'must output class scores [batch, classes]',
      got: `an output of shape [${outShape.map((d) => (d === null ? 'any' : d)).join(', ')}]`,
      fix: 'Pick a classification output with outputIndex.',
    });
  }
  const checked = checkInput(fn, model.inputs, input);
  const numClasses = numClassesOf(outShape);
  const target = o.target as ScoringTarget;
  if (target.kind === 'indices') {
    resolveTarget(
      fn,
      { kind: 'indices', indices: target.indices.length === 1 ? (target.indices[0] as number) : target.indices },
      checked.batchSize,
      numClasses,
    );
  } else if (target.kind === 'tensor') {
    const t = target.tensor;
    const b = checked.batchSize;
    if (t.isDisposed) {
      throw new TargetError({
        fn,
        argument: 'target',
        expected: 'must be a live tensor',
        got: 'a disposed tensor',
        fix: 'Do not dispose the class indices before calling.',
      });
    }
    if (!((t.rank === 0 && !checked.batched) || (t.rank === 1 && t.shape[0] === b)) || (t.dtype !== 'int32' && t.dtype !== 'float32')) {
      throw new TargetError({
        fn,
        argument: 'target',
        expected: checked.batched
          ? `as a tensor must be an int32 Tensor1D of ${b} class indices`
          : 'as a tensor must be an int32 scalar class index',
        got: describeValue(t),
        fix: "Pass a CAM result's classIndex, or an array of class indices.",
      });
    }
  }
  // 'auto': a squashed output is used as it is; logits get softmax, or sigmoid for a single unit.
  const squashed = model.outputSquashing(o.outputIndex) !== null;
  const sm = o.softmax;
  const squash = sm === true ? 'softmax' : sm === false || squashed ? null : numClasses === 1 ? 'sigmoid' : 'softmax';
  const split = model.split(fn, model.resolveInput(0), o.outputIndex);
  return { fn, model, options: o, input: checked, split, squash, numClasses };
}

/** What a metric scores with, inside its tidy. */
export interface Scoring {
  /** The input batch, `[B,H,W,C]` float32. */
  readonly images: tf.Tensor4D;
  /** Scores of `classes` for a batch of images: `[n]`, the model run in chunks of `batchSize`. */
  score(images: tf.Tensor4D, classes: tf.Tensor1D): tf.Tensor1D;
  /** Per-example class index, int32 `[B]` (resolved against the unmodified input if needed). */
  readonly classIndex: tf.Tensor1D;
  /** Per-example score of `classIndex` on the unmodified input, `[B]`, when already computed. */
  readonly original: tf.Tensor1D | null;
}

/** The scorer of a checked call: prepares the input and resolves the classes. Must run inside `tf.tidy`. */
export function scoring<S extends ScoringSchema>(call: ScoringCall<S>): Scoring {
  const { fn, options: o, squash } = call;
  const batchSize = o.batchSize;
  const prepared = prepareInput(fn, call.input, o.validate);
  const images = prepared.tensors[0] as tf.Tensor4D;
  const scoresOf = (batch: tf.Tensor4D): tf.Tensor2D =>
    tf.tidy(() => {
      const t = forwardPass(call.split, [batch], false) as tf.Tensor2D;
      return (squash === 'softmax' ? tf.softmax(t, -1) : squash === 'sigmoid' ? tf.sigmoid(t) : t) as tf.Tensor2D;
    });
  const inChunks = <T extends tf.Tensor>(n: number, f: (start: number, size: number) => T): T => {
    const parts: T[] = [];
    for (let start = 0; start < n; start += batchSize) parts.push(tf.tidy(() => f(start, Math.min(batchSize, n - start))));
    return (parts.length === 1 ? parts[0] : tf.concat(parts)) as T;
  };
  const rows = <T extends tf.Tensor>(t: T, start: number, size: number): T =>
    size === t.shape[0] ? t : (tf.slice(t, [start], [size]) as T);
  const score = (batch: tf.Tensor4D, classes: tf.Tensor1D): tf.Tensor1D =>
    tf.tidy(() => inChunks(batch.shape[0], (start, size) => pickColumn(scoresOf(rows(batch, start, size)), rows(classes, start, size))));

  const b = prepared.batchSize;
  const target = o.target as ScoringTarget;
  if (target.kind === 'argmax') {
    // Arg-max of the prediction on the unmodified input; its scores are reused.
    const classes: tf.Tensor1D[] = [];
    const best: tf.Tensor1D[] = [];
    for (let start = 0; start < b; start += batchSize) {
      const s = scoresOf(rows(images, start, Math.min(batchSize, b - start)));
      classes.push(tf.cast(tf.argMax(s, 1), 'int32') as tf.Tensor1D);
      best.push(tf.max(s, 1) as tf.Tensor1D);
    }
    return { images, score, classIndex: tf.concat(classes), original: tf.concat(best) };
  }
  if (target.kind === 'tensor') {
    if (o.validate) {
      // One read, to report out-of-range or non-integer classes instead of scoring them as zero.
      resolveTarget(
        fn,
        { kind: 'indices', indices: Array.from(target.tensor.dataSync()) },
        target.tensor.rank === 0 ? 1 : b,
        call.numClasses,
      );
    }
    return { images, score, classIndex: tf.reshape(tf.cast(target.tensor, 'int32'), [b]) as tf.Tensor1D, original: null };
  }
  const indices = target.indices.length === 1 ? new Array<number>(b).fill(target.indices[0] as number) : target.indices;
  return { images, score, classIndex: tf.tensor1d(indices, 'int32'), original: null };
}

/**
 * Checks that a map batch fits the input batch: `[B,H,W]` with the input's B, H, W (or `[H,W]` for an
 * unbatched input). Returns the maps as `[B,H,W,1]`.
 */
export function checkMapsForInput(fn: string, heatmap: unknown, input: CheckedInput, images: tf.Tensor4D): tf.Tensor4D {
  const { maps } = checkMaps(fn, 'heatmap', heatmap);
  const [b, h, w] = images.shape;
  const want = input.batched ? `[${b}, ${h}, ${w}]` : `[${h}, ${w}]`;
  const rankOk = (heatmap as tf.Tensor).rank === (input.batched ? 3 : 2);
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
