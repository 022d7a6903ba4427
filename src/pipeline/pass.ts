/**
 * One pass through a split model: the body outside the tape, then the head under the gradient of
 * the explained scores (or forward only, for gradient-free methods).
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NormalizedTarget } from '../core/targets.js';
import { pickScores } from '../core/targets.js';
import type { Cut, HeadOptions, ResolvedLayer, Split, Tapped } from '../models/explainable.js';

/** The activations and gradients of one pass, with the scores. Tensors belong to the caller's tidy. */
export interface Pass {
  readonly split: Split;
  /** The body's values (null for a pass reconstructed from another pass's tap). */
  readonly cut: Cut | null;
  /** The split layer's activations A, `[B, ...]`. */
  readonly activations: tf.Tensor;
  /** dS/dA, shaped like A; null for a forward-only pass. */
  readonly gradients: tf.Tensor | null;
  /** S per example, `[B]`. */
  readonly scores: tf.Tensor1D;
  /** The explained class per example (int32, -1 for target functions), `[B]`. */
  readonly classIndex: tf.Tensor1D;
  /** The explained model output (pre-activation when logits are explained). */
  readonly output: tf.Tensor;
  /** With `tap`: the tapped value and its gradient, from the same backward pass. */
  readonly tapped: { readonly activation: tf.Tensor; readonly gradient: tf.Tensor } | null;
  /** With `taps`: one entry per request (see {@link HeadResult.taps}); undefined otherwise. */
  readonly taps?: ReadonlyArray<Tapped | null> | undefined;
}

/** How a pass runs. */
export interface PassOptions extends HeadOptions {
  /** Compute dS/dA (false: forward only). */
  readonly gradients: boolean;
}

/** Runs one pass for `target` on batched, prepared `inputs`. In a tidy. */
export function runPass(fn: string, split: Split, inputs: readonly tf.Tensor[], target: NormalizedTarget, options: PassOptions): Pass {
  const batch = inputs[0]?.shape[0] as number;
  const cut = split.body(inputs);
  if (!options.gradients) {
    const output = split.headForward(cut, options);
    const picked = pickScores(fn, target, output, batch);
    return { split, cut, activations: cut.activations, gradients: null, ...picked, output, tapped: null };
  }
  const head = split.head(cut, options, (output) => {
    const picked = pickScores(fn, target, output, batch);
    return { scores: picked.scores, extras: { classIndex: picked.classIndex } };
  });
  return {
    split,
    cut,
    activations: cut.activations,
    gradients: head.gradients,
    scores: head.scores,
    classIndex: head.extras.classIndex,
    output: head.output,
    tapped: head.tapped,
    taps: head.taps,
  };
}

/** A pass at a tapped layer, reconstructed from a pass that tapped it (same scores and output). */
export function passAtTap(pass: Pass, split: Split, layer: ResolvedLayer): Pass | null {
  const tapped = pass.tapped;
  if (tapped === null || tapped.activation.rank !== layer.shape.length) return null;
  return { ...pass, split, cut: null, activations: tapped.activation, gradients: tapped.gradient, tapped: null };
}

/**
 * The whole model forward, output `outputIndex` (pre-activation when `logits`), on `inputs` (one
 * batched tensor per model input): what `model.predict` gives, through tfcam's runner. In a tidy.
 */
export function forwardPass(split: Split, inputs: readonly tf.Tensor[], logits: boolean): tf.Tensor {
  return tf.tidy(() => split.headForward(split.body(inputs), { logits, guided: false }));
}
