/**
 * What a CAM method is ({@link CamMethod}) and what it sees ({@link CamContext}).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OptionSpec } from '../core/options.js';
import type { NormalizedTarget } from '../core/targets.js';
import { scoreRows } from '../core/targets.js';
import { repeatRow } from '../core/tensor.js';
import type { CamInput, CamModel, CamOptions, CamResult, CamResultBatch, CamResultSingle } from '../core/types.js';
import { UnsupportedError } from '../errors.js';
import type { ExplainableModel } from '../models/explainable.js';
import type { Pass } from './pass.js';
import { forwardPass } from './pass.js';

/** The keys a method's options type adds to {@link CamOptions}. */
export type MethodOptionKeys<O> = Exclude<keyof O, keyof CamOptions>;

/** A method's own options as it reads them: every key present, defaults filled in. */
export type MethodOptions<O> = { readonly [K in MethodOptionKeys<O>]-?: Exclude<O[K], undefined> };

/** The schema of a method's own options: one {@link OptionSpec} per key its options type adds. */
export type MethodSchema<O> = { readonly [K in MethodOptionKeys<O>]-?: OptionSpec<Exclude<O[K], undefined>> };

/**
 * What a CAM method sees: the target layer's activations, the gradients of the explained score,
 * the scores, its own options, and functions to re-score modified activations or inputs. All tensors
 * are owned by the pipeline (do not dispose them); everything a method creates is freed when it
 * returns.
 *
 * @typeParam O - the method's options type
 */
export interface CamContext<O extends CamOptions = CamOptions> {
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
  /** The method's own options (its schema's keys), checked, defaults filled in. */
  readonly options: MethodOptions<O>;
  /**
   * Runs the layers above the target, forward only, on `activations` (`[n, h, w, C]`: modified
   * copies of example `example`'s activations; the example's other inputs to those layers are
   * repeated) and returns the explained score of each row, `[n]`, for example `example`'s target.
   */
  scoreActivations(activations: tf.Tensor4D, example: number): tf.Tensor1D;
  /**
   * Like {@link CamContext.scoreActivations}, but under the gradient: returns the gradient of each
   * row's explained score with respect to its activations, `[n, h, w, C]` (rows are independent).
   */
  gradientsAt(activations: tf.Tensor4D, example: number): tf.Tensor4D;
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
  /** Reports progress to the caller's `onProgress` option, if the method has one. */
  progress(done: number, total: number): void;
}

/** The computation of a method: exactly one of `weights`, `elementwise` or `map`. */
export interface CamMethodBase<O extends CamOptions = CamOptions> {
  /** The public function name, used in error messages. */
  readonly name: string;
  /** Whether the method needs dS/dA (default true). Gradient-free methods skip the backward pass. */
  readonly usesGradients?: boolean | undefined;
  /** Per-channel weights `[B, C]`; the raw map is `sum_k w_k A_k`. */
  readonly weights?: ((ctx: CamContext<O>) => tf.Tensor2D) | undefined;
  /** Per-channel maps `[B, h, w, C]`; the raw map is their sum over channels. */
  readonly elementwise?: ((ctx: CamContext<O>) => tf.Tensor4D) | undefined;
  /** The raw map `[B, h, w]` itself. */
  readonly map?: ((ctx: CamContext<O>) => tf.Tensor3D) | undefined;
}

/**
 * A CAM method: exactly one of `weights`, `elementwise` or `map`, plus the schema of its own options
 * (required when its options type adds keys to {@link CamOptions}).
 * - `weights(ctx)`: per-channel weights `[B, C]`; the map is `sum_k w_k A_k` (Grad-CAM style);
 * - `elementwise(ctx)`: per-channel maps `[B, h, w, C]`; the map is their channel sum (HiResCAM style);
 * - `map(ctx)`: the raw map `[B, h, w]` directly (EigenCAM style).
 * With `eigenSmooth`, the first two are replaced by the principal component of the per-channel maps.
 *
 * @typeParam O - the options type of the function made from it
 */
export type CamMethod<O extends CamOptions = CamOptions> = CamMethodBase<O> &
  ([MethodOptionKeys<O>] extends [never]
    ? {
        /** No schema: the method has no options of its own. */
        readonly options?: undefined;
      }
    : {
        /** The schema of the method's own options: one spec per key its options type adds. */
        readonly options: MethodSchema<O>;
      });

/** The signature of every CAM method made by `createCam`. */
export interface CamFunction<O extends CamOptions = CamOptions> {
  (model: CamModel, input: tf.Tensor3D, options?: O): CamResultSingle;
  (model: CamModel, input: tf.Tensor4D, options?: O): CamResultBatch;
  (model: CamModel, input: CamInput, options?: O): CamResult;
}

/** Everything a {@link CamContext} is built from. */
export interface ContextSource {
  readonly fn: string;
  readonly model: ExplainableModel;
  readonly inputs: readonly tf.Tensor[];
  readonly target: NormalizedTarget;
  readonly outputIndex: number;
  readonly logits: boolean;
  readonly options: Readonly<Record<string, unknown>>;
  readonly layer: string;
}

/** The context a method's function is called with, for one pass. */
export function camContext<O extends CamOptions>(src: ContextSource, pass: Pass): CamContext<O> {
  const { fn, model, inputs, target } = src;
  const imageInput = model.imageInput;
  const onProgress = src.options['onProgress'];
  const classRow = (example: number): tf.Tensor => tf.slice(pass.classIndex, [example], [1]);
  const forwardInputs = (images: tf.Tensor4D, example: number): tf.Tensor =>
    tf.tidy(() => {
      const n = images.shape[0];
      const rows = inputs.map((t, i) => (i === imageInput ? images : repeatRow(t, example, n)));
      const split = model.split(fn, model.resolveInput(imageInput), src.outputIndex);
      return forwardPass(split, rows, src.logits);
    });
  return {
    fn,
    activations: pass.activations as tf.Tensor4D,
    get gradients(): tf.Tensor4D {
      if (pass.gradients === null) {
        throw new UnsupportedError({
          fn,
          argument: 'method.usesGradients',
          expected: 'must be true (the default) for a method that reads ctx.gradients',
          got: 'false',
          fix: 'Remove usesGradients: false from the method, or do not read gradients.',
        });
      }
      return pass.gradients as tf.Tensor4D;
    },
    scores: pass.scores,
    classIndex: pass.classIndex,
    output: pass.output,
    inputs,
    imageInput,
    layer: src.layer,
    options: src.options as MethodOptions<O>,
    scoreActivations(activations: tf.Tensor4D, example: number): tf.Tensor1D {
      return tf.tidy(() => {
        if (pass.cut === null) {
          throw new UnsupportedError({
            fn,
            argument: 'method',
            expected: 'must not re-score activations in a pass taken from another pass',
            got: 'a call of ctx.scoreActivations',
            fix: 'Use the method through its own function (e.g. scoreCam, ablationCam).',
          });
        }
        const output = pass.split.headForward(pass.cut.rows(example, activations), { logits: src.logits, guided: false });
        return scoreRows(fn, target, output, classRow(example), example);
      });
    },
    gradientsAt(activations: tf.Tensor4D, example: number): tf.Tensor4D {
      return tf.tidy(() => {
        if (pass.cut === null) {
          throw new UnsupportedError({
            fn,
            argument: 'method',
            expected: 'must not take gradients at other activations in a pass taken from another pass',
            got: 'a call of ctx.gradientsAt',
            fix: 'Use the method through its own function (e.g. shapleyCam).',
          });
        }
        const cut = pass.cut.rows(example, activations);
        const head = pass.split.head(cut, { logits: src.logits, guided: false }, (output) => ({
          scores: scoreRows(fn, target, output, classRow(example), example),
          extras: {},
        }));
        return head.gradients as tf.Tensor4D;
      });
    },
    forwardInputs,
    scoreInputs(images: tf.Tensor4D, example: number): tf.Tensor1D {
      return tf.tidy(() => scoreRows(fn, target, forwardInputs(images, example), classRow(example), example));
    },
    progress(done: number, total: number): void {
      if (typeof onProgress === 'function') (onProgress as (d: number, t: number) => void)(done, total);
    },
  };
}
