/**
 * Listing the layers (or graph nodes) a CAM can explain.
 * @module
 */
import type { CamModel } from '../core/types.js';
import { explainableModel } from './index.js';

/** One candidate layer of a model, as {@link listLayers} reports it. */
export interface CandidateLayer {
  /**
   * What to pass as the `layer` option: a layer path (`'block_16_project'`, `'base/last_conv'`) for a
   * `tf.LayersModel`, a full node name (`'StatefulPartitionedCall/model/conv2d_5/Relu'`) for a
   * `tf.GraphModel`.
   */
  readonly name: string;
  /** The layer's class (`'Conv2D'`, `'Add'`) or the graph node's op (`'_FusedConv2D'`, `'AddV2'`). */
  readonly op: string;
  /**
   * The static output shape, batch axis `null` (`[null, 7, 7, 1280]`); other unknown sizes are
   * `null` too (a graph whose input takes any image size).
   */
  readonly shape: ReadonlyArray<number | null>;
}

/**
 * The layers of `model` a CAM can be computed at: every layer (for a `tf.LayersModel`, nested models
 * included, once per path) or graph node (for a `tf.GraphModel`) whose output is rank 4
 * (`[batch, height, width, channels]`), in execution order. GraphModels have no public node listing:
 * this is how to find the node names their `layer` option takes.
 *
 * For a GraphModel, the list holds the nodes computed from the input whose static shape tfcam
 * infers from the ops (convolutions, pooling, concatenation, element-wise ops, padding, reshapes...);
 * a node after an op tfcam has no shape rule for is left out. Constants, inputs and nodes of unknown
 * rank are never listed. tfcam's default layer is the last listed node (layer) on the explained
 * output's path with spatial size > 1.
 *
 * pytorch-grad-cam has no equivalent (PyTorch modules are listed with `model.named_modules()`).
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel`; never modified
 * @returns `{ name, op, shape }` per candidate, in execution order (a new array; no tensors)
 * @throws {@link ModelError} if `model` is neither a built LayersModel nor a GraphModel tfcam can read
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs';
 * import { gradCam, listLayers } from 'tfcam';
 *
 * const model = await tf.loadGraphModel('https://example.com/mobilenet/model.json');
 * for (const { name, op, shape } of listLayers(model)) console.log(name, op, shape);
 * const { heatmap } = gradCam(model, tf.zeros([224, 224, 3]) as tf.Tensor3D, { layer: 'Conv_1' });
 * ```
 */
export function listLayers(model: CamModel): CandidateLayer[] {
  return explainableModel('listLayers', model)
    .listLayers()
    .filter((l) => l.shape !== null)
    .map((l) => ({ name: l.name, op: l.op, shape: l.shape as ReadonlyArray<number | null> }));
}
