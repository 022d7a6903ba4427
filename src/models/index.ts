/**
 * From the caller's `model` argument to an {@link ExplainableModel}.
 *
 * @internal
 * @module
 */
import { ModelError, describeValue } from '../errors.js';
import type { ExplainableModel } from './explainable.js';
import { isLayersModel, layersExplainable } from './layers/model.js';

/**
 * The explainable view of `model`: a `tf.LayersModel` (Sequential, functional, nested, loaded).
 * Throws a {@link ModelError} for anything else, or for a model that is not built.
 */
export function explainableModel(fn: string, model: unknown): ExplainableModel {
  if (isLayersModel(model)) return layersExplainable(fn, model);
  throw new ModelError({
    fn,
    argument: 'model',
    expected: 'must be a tf.LayersModel (from tf.model, tf.sequential or tf.loadLayersModel)',
    got: describeValue(model),
    fix: 'Graph models from tf.loadGraphModel have no layers to explain; convert the model as a Keras (layers) model.',
  });
}
