/**
 * The one narrow interface through which every tfcam function reaches a model.
 *
 * The pipeline (options, inputs, targets, methods, fusion, smoothing, post-processing, metrics)
 * never asks which kind of model it holds. A kind of model implements {@link ExplainableModel}:
 * resolve a layer to a place in the graph, split the graph there, run the part below outside any
 * gradient tape (the *body*), and run the part above from the activations, under the tape or forward
 * only (the *head*).
 *
 * @internal
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { KernelCache } from '../core/kernel-cache.js';

/** A model input or output: its name and static shape (`null` for unknown sizes, batch included). */
export interface TensorInfo {
  readonly name: string;
  readonly shape: ReadonlyArray<number | null>;
}

/** A place in the model whose value is explained (the `layer` option, resolved). */
export interface ResolvedLayer {
  /** The model kind's own id of the value (a value id, a node name). */
  readonly id: number | string;
  /** What `result.layer` reports, e.g. `'base/last_conv'` or a graph node name. */
  readonly path: string;
  /** Static shape, batch axis `null`. */
  readonly shape: ReadonlyArray<number | null>;
}

/** One candidate layer, as {@link ExplainableModel.listLayers} reports it. */
export interface LayerInfo {
  /** The name to pass as `layer` (a path through nested models, or a graph node name). */
  readonly name: string;
  /** The layer's class (`'Conv2D'`) or the node's op (`'_FusedConv2D'`). */
  readonly op: string;
  /** Static output shape, batch axis `null`; `null` where unknown. */
  readonly shape: ReadonlyArray<number | null> | null;
}

/** How the head is run. */
export interface HeadOptions {
  /** Skip the explained output's softmax/sigmoid (explain the pre-activation score). */
  readonly logits: boolean;
  /** Replace ReLU-like units by guided ReLUs (guided backpropagation). */
  readonly guided: boolean;
  /** A value above the split to return too, with the gradient of the scores with respect to it. */
  readonly tap?: ResolvedLayer | undefined;
  /**
   * Several values above the split to return too, each with the gradient of the scores with respect
   * to it, from the same backward pass (FullGrad). Optional for a model kind: one that does not
   * implement it leaves {@link HeadResult.taps} undefined, and FullGrad refuses the model.
   */
  readonly taps?: readonly TapRequest[] | undefined;
  /**
   * Prepared kernels kept between calls (an explainer's), for the head's convolution input
   * gradients; absent for one-shot calls, which prepare them in every call and keep nothing.
   */
  readonly kernels?: KernelCache | undefined;
}

/** A value whose gradient a head pass also returns (see {@link HeadOptions.taps}). */
export interface TapRequest {
  /** The layer whose output is tapped (a value of the head). */
  readonly layer: ResolvedLayer;
  /**
   * Tap the layer's value before its fused activation instead of its output: `conv + bias` of a
   * convolution, the output of a BatchNormalization (which has none), always channels-last.
   */
  readonly preActivation?: boolean | undefined;
}

/** A tapped value and the gradient of the scores with respect to it. */
export interface Tapped {
  readonly activation: tf.Tensor;
  readonly gradient: tf.Tensor;
}

/**
 * A layer with a bias, for FullGrad: a convolution whose bias is added before its activation, or a
 * BatchNormalization (effective bias `beta - mean * gamma / sqrt(var + eps)`).
 */
export interface BiasLayer {
  /** Where it is: its output value (tap it with `preActivation: true`). */
  readonly layer: ResolvedLayer;
  /** The layer's class (`'Conv2D'`, `'BatchNormalization'`, ...) or op. */
  readonly op: string;
  /** The (effective) bias, `[C]`, a new tensor in the caller's scope. */
  bias(): tf.Tensor1D;
}

/** What the head pass returns. All tensors belong to the caller's tidy scope. */
export interface HeadResult<S> {
  /** d(sum of scores) / dA, shaped like A. */
  readonly gradients: tf.Tensor;
  /** The explained model output (pre-activation when `logits`). */
  readonly output: tf.Tensor;
  readonly scores: tf.Tensor1D;
  /** Whatever the score function returned besides the scores (class indices...). */
  readonly extras: S;
  /** With a tap: the tapped value and its gradient; null when the pass did not reach it. */
  readonly tapped: { readonly activation: tf.Tensor; readonly gradient: tf.Tensor } | null;
  /**
   * With `taps`: one entry per request, in order, null when the pass did not reach it (a zero
   * gradient when the value does not reach the output); undefined when the model kind does not
   * implement taps.
   */
  readonly taps?: ReadonlyArray<Tapped | null> | undefined;
}

/** The score function of a head pass: per-example scores from the output, plus extras to carry out. */
export type ScoreFn<S extends Record<string, tf.Tensor>> = (output: tf.Tensor) => { scores: tf.Tensor1D; extras: S };

/** The values crossing from body to head: the activations A and what else the head reads. */
export interface Cut {
  /** The activations A of the split's layer, `[B, ...]`. */
  readonly activations: tf.Tensor;
  /**
   * The same cut for `activations.shape[0]` rows of example `example`: A replaced by `activations`,
   * the head's other inputs repeated.
   */
  rows(example: number, activations: tf.Tensor): Cut;
}

/** The model split at one layer, for one output. Pure and cached: no tensors are held. */
export interface Split {
  readonly layer: ResolvedLayer;
  readonly outputIndex: number;
  /** True when the guided ReLU rule may change a gradient above the layer. */
  readonly guidedRuleAbove: boolean;
  /** Runs the part below the layer outside any tape; only the cut survives. In a tidy. */
  body(inputs: readonly tf.Tensor[]): Cut;
  /** Runs the part above under the gradient of `score` with respect to A. In a tidy. */
  head<S extends Record<string, tf.Tensor>>(cut: Cut, options: HeadOptions, score: ScoreFn<S>): HeadResult<S>;
  /** Runs the part above forward only and returns the output. In a tidy. */
  headForward(cut: Cut, options: HeadOptions): tf.Tensor;
}

/** A model tfcam can explain. */
export interface ExplainableModel {
  /** Which kind of model this is. */
  readonly kind: 'layers' | 'graph';
  /** The model inputs, in the order the model takes them. */
  readonly inputs: readonly TensorInfo[];
  /** The model outputs, in the order the model returns them. */
  readonly outputs: readonly TensorInfo[];
  /** Index of the image input maps refer to (the first rank-4 input, else 0). */
  readonly imageInput: number;
  /** Whether output `outputIndex` ends in softmax or sigmoid (what `logits` strips), or neither. */
  outputSquashing(outputIndex: number): 'softmax' | 'sigmoid' | null;
  /**
   * Resolves the `layer` option (undefined: the default layer) for output `outputIndex`; throws a
   * `LayerError` naming candidates when it does not resolve.
   */
  resolveLayer(fn: string, ref: unknown, node: number | undefined, outputIndex: number): ResolvedLayer;
  /** Model input `index` as a place to explain (for input gradients). */
  resolveInput(index: number): ResolvedLayer;
  /** Splits the model at `layer` for output `outputIndex`; throws a `LayerError` when unconnected. */
  split(fn: string, layer: ResolvedLayer, outputIndex: number): Split;
  /** The layers (or nodes) with a rank-4 output, in execution order. */
  listLayers(): LayerInfo[];
  /**
   * The layers with a bias that FullGrad sums over: every biased 2-D convolution and
   * BatchNormalization with a rank-4 output between the image input and output `outputIndex`, in
   * execution order. Optional: a model kind without it is refused by FullGrad.
   */
  biasLayers?(outputIndex: number): BiasLayer[];
}
