/**
 * From the caller's `model` argument to an {@link ExplainableModel}.
 *
 * @internal
 * @module
 */
import { ModelError, describeValue } from '../errors.js';
import type { ExplainableModel } from './explainable.js';
import { graphExplainable, isGraphModel } from './graph/model.js';
import { isLayersModel, layersExplainable } from './layers/model.js';

/**
 * The explainable view of `model`: a `tf.LayersModel` (Sequential, functional, nested, loaded) or a
 * `tf.GraphModel` (duck-typed; `@tensorflow/tfjs-converter` is never imported). Throws a
 * {@link ModelError} for anything else, for a LayersModel that is not built, or for a GraphModel
 * whose topology tfcam cannot read.
 */
export function explainableModel(fn: string, model: unknown): ExplainableModel {
  if (isLayersModel(model)) return layersExplainable(fn, model);
  if (isGraphModel(model)) return graphExplainable(fn, model);
  throw new ModelError({
    fn,
    argument: 'model',
    expected: 'must be a tf.LayersModel (tf.model, tf.sequential, tf.loadLayersModel) or a tf.GraphModel (tf.loadGraphModel)',
    got: describeValue(model),
    fix: 'Pass the model object itself (await the loader first).',
  });
}
