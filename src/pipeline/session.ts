/**
 * What an explainer (`createExplainer`) keeps between the calls it makes, as the pipeline sees it:
 * the model's explainable view with its resolved layers and splits memoised, and the prepared tensors
 * the head's input gradients may reuse. A one-shot function runs without a session (`null`) and
 * keeps nothing.
 *
 * @internal
 * @module
 */
import type { KernelCache } from '../core/kernel-cache.js';
import type { ExplainableModel } from '../models/explainable.js';

/** The state a call may reuse from earlier calls on the same model. */
export interface Session {
  /** The model as the explainer resolved it (layer resolutions and splits memoised). */
  readonly model: ExplainableModel;
  /** Prepared convolution kernels kept between calls, consulted by the head's input gradients. */
  readonly kernels: KernelCache | undefined;
}
