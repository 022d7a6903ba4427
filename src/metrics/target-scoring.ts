/**
 * Scoring for the metrics that take pytorch-grad-cam's targets (ROAD, CamMultImageConfidenceChange,
 * ARCC): a class index (as a probability or a raw score) or any target function, on a model with
 * one image input.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CheckedInput } from '../core/input.js';
import { checkInput, prepareInput } from '../core/input.js';
import type { OptionSpec, ParsedOptions, Schema } from '../core/options.js';
import { INVALID, booleanOption, integerOption, parseOptions, schemaFor } from '../core/options.js';
import type { TargetFunction } from '../core/targets.js';
import { numClassesOf, pickColumn, resolveTarget } from '../core/targets.js';
import { isTensor } from '../core/tensor.js';
import { TargetError, UnsupportedError, describeValue } from '../errors.js';
import type { ExplainableModel, Split } from '../models/explainable.js';
import { explainableModel } from '../models/index.js';
import { optionContext } from '../pipeline/call.js';
import { outputIndexOption, validateOption } from '../pipeline/cam-options.js';
import { forwardPass } from '../pipeline/pass.js';

/** How the metrics of pytorch-grad-cam's kind score the model (its `targets`). */
export interface TargetScoringOptions {
  /**
   * What is scored: a class index for the batch, one per example (an array or an int32 tensor such
   * as a CAM result's `classIndex`), or a target function `(output, examples) => Tensor1D` (the
   * target builders, e.g. `semanticSegmentationTarget`). Default: the arg-max class of the model's
   * prediction on the unmodified input.
   */
  target?: number | readonly number[] | tf.Tensor | ((output: tf.Tensor, examples: tf.Tensor1D) => tf.Tensor1D) | undefined;
  /**
   * For class targets, how the output becomes a score: `'auto'` (default) a probability (softmax,
   * or sigmoid for one unit, unless the scored output already ends in one), `true` softmax over the
   * classes (pytorch-grad-cam's `ClassifierOutputSoftmaxTarget`), `false` the output as it is
   * (`ClassifierOutputTarget`). Target functions get the output as it is.
   */
  softmax?: 'auto' | boolean | undefined;
  /**
   * Score the output before its final softmax/sigmoid (as the CAM methods' `logits`; default
   * false: the output as `model.predict` gives it). With `softmax: false` this scores logits.
   */
  logits?: boolean | undefined;
  /** For multi-output models, which output to score (default 0). */
  outputIndex?: number | undefined;
  /** Images per forward pass (default 32). */
  batchSize?: number | undefined;
  /** Check the input for NaN/Infinity (default: true on cpu, wasm and tfjs-node). */
  validate?: boolean | undefined;
}

/** The `target` of these metrics, parsed. */
export type MetricTarget =
  | { kind: 'argmax' }
  | { kind: 'indices'; indices: number[] }
  | { kind: 'tensor'; tensor: tf.Tensor }
  | { kind: 'function'; fn: TargetFunction };

const targetSpec: OptionSpec<MetricTarget> = {
  accepts: 'a class index, an array of class indices, an int32 tensor, or a function (output, examples) => Tensor1D',
  default: { kind: 'argmax' },
  check(value, ctx) {
    if (typeof value === 'function') return { kind: 'function', fn: value as TargetFunction };
    if (isTensor(value)) return { kind: 'tensor', tensor: value };
    if (typeof value === 'number' || Array.isArray(value))
      return { kind: 'indices', indices: typeof value === 'number' ? [value] : [...(value as number[])] };
    throw new TargetError({
      fn: ctx.fn,
      argument: 'target',
      expected: 'must be a class index, an array of them, an int32 tensor or a target function',
      got: describeValue(value),
      fix: 'For example target: 3, or target: classProbabilityTarget(3).',
    });
  },
};

const softmaxSpec: OptionSpec<'auto' | boolean> = {
  accepts: "'auto', true or false",
  default: 'auto',
  check: (v) => (v === 'auto' || typeof v === 'boolean' ? v : INVALID),
};

/** The schema of {@link TargetScoringOptions}. */
export const TARGET_SCORING_OPTIONS = schemaFor<TargetScoringOptions>()({
  target: targetSpec,
  softmax: softmaxSpec,
  logits: booleanOption(false),
  outputIndex: outputIndexOption,
  batchSize: integerOption(32, 1, 1 << 20),
  validate: validateOption,
});

/** A checked call of such a metric. */
export interface TargetScoringCall<S extends Schema> {
  readonly fn: string;
  readonly model: ExplainableModel;
  readonly options: ParsedOptions<S>;
  readonly input: CheckedInput;
  readonly split: Split;
  readonly squash: 'softmax' | 'sigmoid' | null;
}

/** Checks the model (one image input), the options, the input and class targets. Makes no tensor. */
export function checkTargetScoringCall<S extends Schema & typeof TARGET_SCORING_OPTIONS>(
  fn: string,
  schema: S,
  modelArg: unknown,
  input: unknown,
  options: unknown,
): TargetScoringCall<S> {
  const model = explainableModel(fn, modelArg);
  if (model.inputs.length !== 1 || (model.inputs[0]?.shape.length ?? 0) !== 4) {
    throw new UnsupportedError({
      fn,
      argument: 'model',
      expected: 'must have one image input [batch, height, width, channels]',
      got: `a model with ${model.inputs.length} input(s) of shape ${model.inputs.map((t) => `[${t.shape.map((d) => d ?? 'any').join(', ')}]`).join(', ')}`,
      fix: 'These metrics perturb pixels of the image input; wrap other inputs as constants.',
    });
  }
  const o = parseOptions(schema, options, optionContext(fn, model));
  const checked = checkInput(fn, model.inputs, input);
  const outShape = model.outputs[o.outputIndex]?.shape ?? [];
  const numClasses = numClassesOf(outShape);
  const target = o.target as MetricTarget;
  if (target.kind !== 'function' && outShape.length !== 2) {
    throw new TargetError({
      fn,
      argument: 'target',
      expected: 'must be a target function when the output is not [batch, classes]',
      got: `class targets for an output of shape [${outShape.map((d) => d ?? 'any').join(', ')}]`,
      fix: 'Pass a target builder, e.g. target: semanticSegmentationTarget(c, mask).',
    });
  }
  if (target.kind === 'indices') {
    resolveTarget(
      fn,
      { kind: 'indices', indices: target.indices.length === 1 ? (target.indices[0] as number) : target.indices },
      checked.batchSize,
      numClasses,
    );
  }
  if (target.kind === 'tensor') {
    const t = target.tensor;
    if (t.isDisposed || t.rank > 1 || (t.rank === 1 && t.shape[0] !== checked.batchSize)) {
      throw new TargetError({
        fn,
        argument: 'target',
        expected: `as a tensor must hold ${checked.batchSize} class indices`,
        got: describeValue(t),
        fix: "Pass a CAM result's classIndex.",
      });
    }
  }
  const squashed = !o.logits && model.outputSquashing(o.outputIndex) !== null;
  const sm = o.softmax;
  const squash =
    target.kind === 'function'
      ? null
      : sm === true
        ? 'softmax'
        : sm === false || squashed
          ? null
          : numClasses === 1
            ? 'sigmoid'
            : 'softmax';
  const split = model.split(fn, model.resolveInput(0), o.outputIndex);
  return { fn, model, options: o, input: checked, split, squash };
}

/** What a metric scores with, inside its tidy. */
export interface TargetScoring {
  /** The input batch, `[B, H, W, C]` float32. */
  readonly images: tf.Tensor4D;
  /** Scores of images whose rows are copies of examples `examples` (host indices): `[n]`. */
  score(images: tf.Tensor4D, examples: readonly number[]): tf.Tensor1D;
  /** Scores of the unmodified input, `[B]`. */
  readonly original: tf.Tensor1D;
}

/** The scorer of a checked call (prepares the input, resolves arg-max classes). In a tidy. */
export function targetScoring<S extends Schema & typeof TARGET_SCORING_OPTIONS>(call: TargetScoringCall<S>): TargetScoring {
  const { fn, options: o, squash } = call;
  const prepared = prepareInput(fn, call.input, o.validate);
  const images = prepared.tensors[0] as tf.Tensor4D;
  const b = images.shape[0];
  const outputOf = (batch: tf.Tensor4D): tf.Tensor =>
    tf.tidy(() => {
      const t = forwardPass(call.split, [batch], o.logits);
      return squash === 'softmax' ? tf.softmax(t, -1) : squash === 'sigmoid' ? tf.sigmoid(t) : t;
    });
  const target = o.target as MetricTarget;
  let classes: tf.Tensor1D | null = null;
  if (target.kind === 'indices')
    classes = tf.tensor1d(target.indices.length === 1 ? new Array<number>(b).fill(target.indices[0] as number) : target.indices, 'int32');
  else if (target.kind === 'tensor') {
    const t = tf.reshape(tf.cast(target.tensor, 'int32'), [-1]) as tf.Tensor1D;
    classes = t.shape[0] === b ? t : (tf.tile(t, [b]) as tf.Tensor1D);
  }
  const scoreChunk = (batch: tf.Tensor4D, examples: readonly number[]): tf.Tensor1D =>
    tf.tidy(() => {
      const out = outputOf(batch);
      const ex = tf.tensor1d([...examples], 'int32');
      if (target.kind === 'function') {
        const s = target.fn(out, ex);
        return (s.dtype === 'float32' ? s : tf.cast(s, 'float32')) as tf.Tensor1D;
      }
      return pickColumn(out as tf.Tensor2D, tf.gather(classes as tf.Tensor1D, ex) as tf.Tensor1D);
    });
  const size = o.batchSize;
  const score = (batch: tf.Tensor4D, examples: readonly number[]): tf.Tensor1D =>
    tf.tidy(() => {
      const n = batch.shape[0];
      const parts: tf.Tensor1D[] = [];
      for (let start = 0; start < n; start += size) {
        const count = Math.min(size, n - start);
        const rows = count === n ? batch : (tf.slice(batch, [start], [count]) as tf.Tensor4D);
        parts.push(scoreChunk(rows, examples.slice(start, start + count)));
      }
      return (parts.length === 1 ? parts[0] : tf.concat(parts)) as tf.Tensor1D;
    });
  if (target.kind === 'argmax') {
    const out = outputOf(images);
    classes = tf.cast(tf.argMax(tf.reshape(out, [b, -1]), 1), 'int32') as tf.Tensor1D;
  }
  const all = Array.from({ length: b }, (_, i) => i);
  return { images, score, original: score(images, all) };
}
