/**
 * Public types shared by every CAM method.
 * @module
 */
import type { Scalar, Tensor, Tensor1D, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { GraphModelLike } from '../models/graph/types.js';

/**
 * A model tfcam explains: a `tf.LayersModel` (`tf.model`, `tf.sequential`, `tf.loadLayersModel`) or a
 * `tf.GraphModel` (`tf.loadGraphModel`: TF Hub and Kaggle models, converted SavedModels), typed
 * structurally as {@link GraphModelLike} so that apps without `@tensorflow/tfjs-converter` type-check.
 * Every function that runs a model takes either kind, with the same options and results, except
 * `gradCamCallback` and `sanityCheck` (LayersModel only: they train or randomise weights).
 */
export type CamModel = LayersModel | GraphModelLike;

/**
 * A layer of the model, as accepted by the `layer` option:
 * - a name (`'last_conv'`), or a path through nested models (`'base/last_conv'`);
 * - an index into `model.layers` (negative counts from the end, like Python);
 * - the `Layer` object itself (`model.getLayer('last_conv')`, or a layer of a nested model).
 */
export type LayerRef = string | number | LayerObject;

/** A tfjs-layers `Layer` (or model used as a layer), as far as `layer` options need it. */
export interface LayerObject {
  /** The layer's name. */
  readonly name: string;
  /** The layer's class name, e.g. `'Conv2D'`. */
  getClassName(): string;
}

/**
 * Which score to explain, per example:
 * - one class index for the whole batch;
 * - one class index per example (length must equal the batch size);
 * - a function of the model output (`[B, ...]`, pre-softmax when `logits` is true) returning one
 *   score per row (`[B]`). It runs under the gradient tape; use tensor ops only. Its second
 *   argument, int32 `[rows]`, is the example of the caller's batch each row belongs to (methods
 *   that re-score modified copies of one example pass that example's index for every copy): use
 *   it to pick per-example data. The target builders (`classProbabilityTarget`,
 *   `semanticSegmentationTarget`, ...) make such functions.
 */
export type Target = number | readonly number[] | ((output: Tensor, examples: Tensor1D) => Tensor1D);

/** Options shared by every CAM method (same names everywhere). */
export interface CamOptions {
  /**
   * The layer whose activations are weighted. Default: the last layer whose output is rank 4 with
   * spatial size greater than 1, searching inside nested models (in residual networks that is the
   * layer after the last `add`, not the last convolution). An array of layers computes one map per
   * layer and fuses them (see `fuse`); `result.layer` then lists their paths, comma-separated.
   */
  layer?: LayerRef | readonly LayerRef[] | undefined;
  /**
   * For a layer used more than once in the model (a shared layer), which call to explain, counting
   * calls in execution order from 0. Required for shared layers, ignored otherwise.
   */
  node?: number | undefined;
  /** The score to explain. Default: the arg-max class of each example. */
  target?: Target | undefined;
  /**
   * When the model output ends in softmax/sigmoid, explain the pre-activation score (default true).
   * Softmax saturation otherwise yields blank maps. The model itself is never modified.
   */
  logits?: boolean | undefined;
  /** Apply ReLU to the map before normalising (default true). */
  relu?: boolean | undefined;
  /**
   * Min-max normalise each map to [0, 1] (default true), as `(x - min) / (1e-7 + max(x - min))`,
   * at layer resolution and again after resizing (pytorch-grad-cam's `scale_cam_image`).
   */
  normalize?: boolean | undefined;
  /**
   * Resize the map to the input's height and width with bilinear interpolation, half-pixel centres
   * (default true). `false` keeps the layer's resolution; `[height, width]` resizes to that size.
   */
  resize?: boolean | readonly [number, number] | undefined;
  /** For multi-output models, which output to explain (default 0). */
  outputIndex?: number | undefined;
  /**
   * Check the input for NaN/Infinity before running (one device-to-host read). Default: true on
   * cpu, wasm and tfjs-node, where the read is cheap; false on GPU backends (webgl, webgpu), where
   * it would stall the pipeline.
   */
  validate?: boolean | undefined;
  /**
   * How per-layer maps are fused when `layer` is an array: `'mean'` (default, pytorch-grad-cam's
   * `aggregate_multi_layers`: each map ReLU'd, normalised and resized, then averaged and normalised)
   * or `'max'` (element-wise maximum of the per-layer maps, as torch-cam offers).
   */
  fuse?: 'mean' | 'max' | undefined;
  /**
   * Test-time augmentation smoothing (pytorch-grad-cam's `aug_smooth`): the map is averaged over
   * the image and its horizontal flip, each at brightness x0.9, x1 and x1.1 (6 variants, run as one
   * batch, maps flipped back before averaging). As in pytorch-grad-cam, with the default target each
   * variant explains its own arg-max class; `classIndex` and `score` are the unaugmented image's.
   */
  augSmooth?: boolean | undefined;
  /**
   * Replace the channel sum by the first principal component of the per-channel maps (pytorch-grad-cam's
   * `eigen_smooth`): less noise, sign oriented as in {@link principalProjection}.
   */
  eigenSmooth?: boolean | undefined;
}

/** A model input: one image `[H,W,C]`, a batch `[B,H,W,C]`, or one tensor per model input. */
export type CamInput = Tensor | readonly Tensor[];

/**
 * The result of a CAM method. The caller owns the tensors: `tf.dispose(result)` frees them all.
 *
 * `H` is `Tensor2D` for one image (`[H,W,C]` input) and `Tensor3D` for a batch.
 */
// A type alias (not an interface) so that results are assignable to tfjs' TensorContainer and
// `tf.dispose(result)` type-checks.
export type CamResult<H extends Tensor = Tensor, I extends Tensor = Tensor> = {
  /** The map, float32 in [0, 1] when normalised: `[H,W]` for one image, `[B,H,W]` for a batch. */
  heatmap: H;
  /** Explained class per example, int32 (`-1` when `target` is a function); scalar for one image. */
  classIndex: I;
  /** The explained score per example (a logit when `logits` is in effect), float32. */
  score: I;
  /**
   * The explained model output (output `outputIndex`) exactly as `model.predict` returns it, from the
   * same forward pass as the map: probabilities for a softmax/sigmoid classifier even when the logit
   * is explained (the squashing is applied to the logits outside the gradient tape), float32,
   * `[B, ...]` for a batch and without the batch axis for one image (`[classes]` for a classifier).
   * With `augSmooth`, the output of the unaugmented input. So a CAM call replaces `model.predict`:
   * an app that shows predictions and maps pays for one forward pass, not two.
   */
  output: Tensor;
  /** The resolved target layer's path, e.g. `'last_conv'` or `'base/last_conv'`. */
  layer: string;
};

/** {@link CamResult} for one image. */
export type CamResultSingle = CamResult<Tensor2D, Scalar>;
/** {@link CamResult} for a batch. */
export type CamResultBatch = CamResult<Tensor3D, Tensor1D>;
