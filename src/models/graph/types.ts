/**
 * The structural type of a `tf.GraphModel` as far as tfcam reads it.
 *
 * tfcam never imports `@tensorflow/tfjs-converter`: a LayersModel-only app neither installs nor
 * bundles it. This interface names only the public members tfcam calls, so that a real
 * `tf.GraphModel` (from `tf.loadGraphModel`, TF Hub, Kaggle Models or a converted SavedModel) is
 * assignable to it, whichever copy of tfjs loaded it.
 *
 * @module
 */
import type { DataType, NamedTensorMap, Tensor } from '@tensorflow/tfjs-core';

/** A model input or output as a `tf.GraphModel` describes it (`model.inputs[i]`, `model.outputs[i]`). */
export interface GraphTensorInfoLike {
  /** The graph node's name (not the signature key). */
  readonly name: string;
  /** Static shape with `-1` for unknown sizes (inputs only; outputs have none). */
  readonly shape?: readonly number[] | undefined;
  /** Data type, when known. */
  readonly dtype?: DataType | undefined;
}

/**
 * A `tf.GraphModel` (from `@tensorflow/tfjs-converter`: `tf.loadGraphModel`, TF Hub and Kaggle
 * models, converted SavedModels and frozen graphs), described by the members tfcam uses: `execute`
 * (to run the part of the graph below the explained node, and to read intermediate nodes), the
 * input and output descriptions, and the weights. tfcam also reads the loaded GraphDef topology
 * (`model.artifacts.modelTopology.node`: no public API lists a graph's nodes) and refuses, with a
 * `ModelError`, a model whose topology is not what tfjs-converter 4.x produces.
 *
 * Declared structurally so that TypeScript apps that explain only `tf.LayersModel`s do not need
 * `@tensorflow/tfjs-converter` installed; a `tf.GraphModel` is assignable to it.
 */
export interface GraphModelLike {
  /** Runs the graph synchronously and returns the requested node outputs. */
  execute(inputs: Tensor | Tensor[] | NamedTensorMap, outputs?: string | string[]): Tensor | Tensor[];
  /** Runs the graph asynchronously (models with control flow or dynamic shapes need it). */
  executeAsync(inputs: Tensor | Tensor[] | NamedTensorMap, outputs?: string | string[]): Promise<Tensor | Tensor[]>;
  /** Input names (signature keys when the model has a signature). */
  readonly inputNodes: readonly string[];
  /** Output names (signature keys when the model has a signature). */
  readonly outputNodes: readonly string[];
  /** The model inputs (Placeholder nodes), in the order `execute` takes them. */
  readonly inputs: readonly GraphTensorInfoLike[];
  /** The model outputs, in the order `execute` returns them. */
  readonly outputs: readonly GraphTensorInfoLike[];
  /** The weights: Const node name to its value (a one-element array). */
  readonly weights: { readonly [name: string]: Tensor[] };
}
