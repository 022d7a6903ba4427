/**
 * Finer-CAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CamInput, CamModel, CamOptions, CamResult, CamResultBatch, CamResultSingle } from '../core/types.js';
import { OptionError, describeValue } from '../errors.js';
import type { CamFunction } from '../pipeline/method.js';
import { finerTarget } from '../targets/finer.js';
import { gradCam } from './gradcam.js';

/** Options of {@link finerCam}: the base method's options plus Finer-CAM's own. */
export type FinerCamOptions<O extends CamOptions = CamOptions> = O & {
  /** The method whose map is computed for the contrastive score (default {@link gradCam}). */
  baseMethod?: CamFunction<O> | undefined;
  /** Weight of the compared classes' scores (default 1; pytorch-grad-cam's `alpha`). */
  alpha?: number | undefined;
  /**
   * Which classes are compared: ranks in the order of closeness to the explained class's score
   * (default `[1, 2, 3]`, the three closest; pytorch-grad-cam's `comparison_categories`).
   */
  comparisonRanks?: readonly number[] | undefined;
};

/** The base method's function, checked. */
function baseOf(fn: string, base: unknown): CamFunction {
  if (base === undefined) return gradCam as CamFunction;
  if (typeof base !== 'function') {
    throw new OptionError({
      fn,
      argument: 'options.baseMethod',
      expected: 'must be a CAM method (e.g. gradCam, layerCam)',
      got: describeValue(base),
      fix: 'Omit it for gradCam.',
    });
  }
  return base as CamFunction;
}

/**
 * Finer-CAM (Zhang et al., "Finer-CAM: Spotting the Difference Reveals Finer Details for Visual
 * Explanation", CVPR 2025; pytorch-grad-cam's `FinerCAM`): explains what sets the class apart from
 * the classes it is most easily confused with, by running a base method (Grad-CAM by default, any
 * tfcam CAM method) on the contrastive score of {@link finerTarget}: the class's score minus the
 * scores of the classes closest to it, weighted by their softmax probabilities. For fine-grained
 * classes (bird species...) it highlights the distinguishing details rather than the whole object.
 *
 * Numerics match pytorch-grad-cam's `FinerCAM` with its defaults (Grad-CAM base,
 * `comparison_categories=[1, 2, 3]`, alpha 1; tested against its outputs), including its notion of
 * comparison categories: ranks in the order of `|o - o[explained]|`, not class indices (see
 * {@link finerTarget}). `target` gives the explained class (pytorch-grad-cam's `target_idx`), for the
 * batch or per example; by default the arg-max class. pytorch-grad-cam uses a `targets` list as is
 * (no contrast at all); here a target function is refused (use it with the base method directly).
 * The result's `classIndex` is the explained class and `score` the contrastive score. Cost: the base
 * method's.
 *
 * @param model - a `tf.LayersModel` or `tf.GraphModel` with a `[batch, classes]` output; never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link FinerCamOptions}: Finer-CAM's own and the base method's
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam}; the caller owns the tensors
 * @throws as the base method; {@link OptionError} for a bad `baseMethod` or a target function;
 *   {@link TargetError} for a bad `alpha`, `comparisonRanks`, class, or a model with fewer classes
 *   than the ranks need
 *
 * @example
 * ```ts
 * const { heatmap } = finerCam(model, image, { alpha: 0.6 });            // Grad-CAM base
 * const lc = finerCam(model, image, { baseMethod: layerCam, target: 12 });
 * ```
 */
export function finerCam<O extends CamOptions = CamOptions>(
  model: CamModel,
  input: tf.Tensor3D,
  options?: FinerCamOptions<O>,
): CamResultSingle;
export function finerCam<O extends CamOptions = CamOptions>(
  model: CamModel,
  input: tf.Tensor4D,
  options?: FinerCamOptions<O>,
): CamResultBatch;
export function finerCam<O extends CamOptions = CamOptions>(model: CamModel, input: CamInput, options?: FinerCamOptions<O>): CamResult;
export function finerCam(model: CamModel, input: CamInput, options?: FinerCamOptions): CamResult {
  const fn = 'finerCam';
  const { baseMethod, alpha, comparisonRanks, target, ...rest } = (options ?? {}) as FinerCamOptions & Record<string, unknown>;
  const base = baseOf(fn, baseMethod);
  if (typeof target === 'function') {
    throw new OptionError({
      fn,
      argument: 'options.target',
      expected: 'must be a class index or one per example (the class to contrast)',
      got: 'a function',
      fix: 'Pass the class index, or call the base method with your target function.',
    });
  }
  const classIndex = target as number | readonly number[] | undefined;
  const contrast = finerTarget({ alpha, comparisonRanks, classIndex });
  return tf.tidy(() => {
    const r = base(model, input, { ...rest, target: contrast });
    const batched = r.heatmap.rank === 3;
    let cls: tf.Tensor;
    if (classIndex === undefined) {
      // The arg-max of the output the map was made from (the squashing does not move it).
      const out = batched ? r.output : tf.expandDims(r.output, 0);
      const best = tf.cast(tf.argMax(tf.reshape(out, [out.shape[0] as number, -1]), 1), 'int32');
      cls = batched ? best : tf.squeeze(best, [0]);
    } else if (typeof classIndex === 'number')
      cls = batched ? tf.fill([r.heatmap.shape[0] as number], classIndex, 'int32') : tf.scalar(classIndex, 'int32');
    else cls = batched ? tf.tensor1d([...classIndex], 'int32') : tf.scalar(classIndex[0] as number, 'int32');
    return { ...r, classIndex: cls } as unknown as tf.TensorContainer;
  }) as unknown as CamResult;
}
