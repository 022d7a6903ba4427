/**
 * RefineCAM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { normalizeMaps } from '../core/postprocess.js';
import type { CamInput, CamModel, CamOptions, CamResult, CamResultBatch, CamResultSingle, LayerRef } from '../core/types.js';
import { OptionError, describeValue } from '../errors.js';
import type { CamFunction } from '../pipeline/method.js';
import { gradCamPlusPlus } from './gradcam-plusplus.js';

/** Options of {@link refineCam}: the base method's options plus RefineCAM's own. */
export type RefineCamOptions<O extends CamOptions = CamOptions> = O & {
  /** The method run at each layer (default {@link gradCamPlusPlus}, pytorch-grad-cam's default). */
  baseMethod?: CamFunction<O> | undefined;
  /**
   * `'pytorch-grad-cam'` (default): the per-layer maps are multiplied as the base method returns them
   * (pytorch-grad-cam's normalisation loop is a no-op). `'paper'`: each map is first made
   * non-negative and divided by its maximum (`max(m, 0) / (max + 1e-8)`), what that loop intends.
   */
  normalization?: 'pytorch-grad-cam' | 'paper' | undefined;
};

/**
 * RefineCAM (arXiv 2605.14641; pytorch-grad-cam's `RefineCAM`): the element-wise product of the maps
 * of a base method (Grad-CAM++ by default) at several layers, min-max normalised. Shallow layers
 * contribute resolution, deep layers class-specificity: a pixel stays bright only where every layer
 * agrees. Pass the layers in `layer` (e.g. one per block).
 *
 * Numerics match pytorch-grad-cam's `RefineCAM` (tested against its outputs): each layer's map is
 * the base method's final map (ReLU, normalised, resized to the input, normalised), their product is
 * min-max normalised with eps 1e-7 (no ReLU, no resize). pytorch-grad-cam's loop meant to put each
 * map in [0, 1] (`cam = np.maximum(cam, 0); cam = cam / (np.max(cam) + 1e-8)`) rebinds its loop
 * variable and changes nothing; that is the default here too (`normalization: 'pytorch-grad-cam'`),
 * and `normalization: 'paper'` applies it (it matters only with `relu: false` or `normalize: false`,
 * where the base maps are not already in [0, 1]). Options other than RefineCAM's go to the base
 * method; `classIndex` and `score` are those of the first layer's call (the same for every layer).
 * Cost: one base-method call per layer.
 *
 * @param model - a `tf.LayersModel` or `tf.GraphModel` the base method takes; never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link RefineCamOptions}; `layer` lists the layers (default: the default layer only)
 * @returns `{ heatmap, classIndex, score, layer }` as {@link gradCam} (`layer` lists the layers,
 *   comma-separated); the caller owns the tensors
 * @throws as the base method; {@link OptionError} for a bad `baseMethod` or `normalization`, or
 *   per-layer maps of different sizes (`resize: false` with layers of different resolutions)
 *
 * @example
 * ```ts
 * const { heatmap } = refineCam(model, image, { layer: ['block3_conv3', 'block4_conv3', 'block5_conv3'] });
 * ```
 */
export function refineCam<O extends CamOptions = CamOptions>(
  model: CamModel,
  input: tf.Tensor3D,
  options?: RefineCamOptions<O>,
): CamResultSingle;
export function refineCam<O extends CamOptions = CamOptions>(
  model: CamModel,
  input: tf.Tensor4D,
  options?: RefineCamOptions<O>,
): CamResultBatch;
export function refineCam<O extends CamOptions = CamOptions>(model: CamModel, input: CamInput, options?: RefineCamOptions<O>): CamResult;
export function refineCam(model: CamModel, input: CamInput, options?: RefineCamOptions): CamResult {
  const fn = 'refineCam';
  const { baseMethod, normalization, layer, ...rest } = (options ?? {}) as RefineCamOptions & Record<string, unknown>;
  if (baseMethod !== undefined && typeof baseMethod !== 'function') {
    throw new OptionError({
      fn,
      argument: 'options.baseMethod',
      expected: 'must be a CAM method (e.g. gradCamPlusPlus, gradCam)',
      got: describeValue(baseMethod),
      fix: 'Omit it for gradCamPlusPlus.',
    });
  }
  if (normalization !== undefined && normalization !== 'pytorch-grad-cam' && normalization !== 'paper') {
    throw new OptionError({
      fn,
      argument: 'options.normalization',
      expected: "must be 'pytorch-grad-cam' or 'paper'",
      got: describeValue(normalization),
      fix: "Omit it for 'pytorch-grad-cam'.",
    });
  }
  const base = (baseMethod ?? gradCamPlusPlus) as CamFunction;
  const layers: Array<LayerRef | undefined> = Array.isArray(layer) ? [...(layer as LayerRef[])] : [layer as LayerRef | undefined];
  return tf.tidy(() => {
    const results = layers.map((l) => base(model, input, { ...rest, ...(l === undefined ? {} : { layer: l }) }));
    const first = results[0] as CamResult;
    const shape = first.heatmap.shape.join('x');
    const other = results.find((r) => r.heatmap.shape.join('x') !== shape);
    if (other !== undefined) {
      throw new OptionError({
        fn,
        argument: 'options.resize',
        expected: 'must give maps of one size at every layer',
        got: `maps of ${shape} and ${other.heatmap.shape.join('x')}`,
        fix: 'Omit resize (maps are resized to the input) or pass resize: [height, width].',
      });
    }
    const batched = first.heatmap.rank === 3;
    const maps = results.map((r) => {
      const m = batched ? r.heatmap : tf.expandDims(r.heatmap, 0);
      if (normalization !== 'paper') return m;
      const pos = tf.relu(m);
      return tf.div(pos, tf.add(tf.max(pos, [1, 2], true), 1e-8));
    });
    const product = maps.slice(1).reduce((p, m) => tf.mul(p, m), maps[0] as tf.Tensor);
    const out = rest['normalize'] === false ? product : normalizeMaps(product);
    return {
      ...first,
      heatmap: batched ? out : tf.squeeze(out, [0]),
      layer: results.map((r) => r.layer).join(','),
    } as unknown as tf.TensorContainer;
  }) as unknown as CamResult;
}
