/**
 * FullGrad.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { prepareInput } from '../core/input.js';
import { schemaFor } from '../core/options.js';
import { NORMALIZE_EPS, normalizeMaps, resizeMaps } from '../core/postprocess.js';
import type { CamInput, CamModel, CamOptions, CamResult, CamResultBatch, CamResultSingle } from '../core/types.js';
import { UnsupportedError } from '../errors.js';
import type { Tapped } from '../models/explainable.js';
import { checkCall, mapSize } from '../pipeline/call.js';
import { CAM_OPTIONS } from '../pipeline/cam-options.js';
import { predictedOutput, unbatchResult } from '../pipeline/cam.js';
import { runPass } from '../pipeline/pass.js';

/** Options of {@link fullGrad}: the CAM options that apply (FullGrad has no target layer). */
export type FullGradOptions = Pick<CamOptions, 'target' | 'logits' | 'normalize' | 'resize' | 'outputIndex' | 'validate'>;

const OPTIONS = schemaFor<FullGradOptions>()({
  target: CAM_OPTIONS.target,
  logits: CAM_OPTIONS.logits,
  normalize: CAM_OPTIONS.normalize,
  resize: CAM_OPTIONS.resize,
  outputIndex: CAM_OPTIONS.outputIndex,
  validate: CAM_OPTIONS.validate,
});

/** Min-max of each channel map of `[B, h, w, C]` over h and w (pytorch-grad-cam's eps 1e-7). */
function normalizeChannels(x: tf.Tensor4D): tf.Tensor4D {
  const shifted = tf.sub(x, tf.min(x, [1, 2], true));
  return tf.div(shifted, tf.add(tf.max(shifted, [1, 2], true), NORMALIZE_EPS)) as tf.Tensor4D;
}

/**
 * FullGrad (Srinivas & Fleuret, "Full-Gradient Representation for Neural Network Visualization",
 * NeurIPS 2019; pytorch-grad-cam's `FullGrad`): the input-gradient term plus the bias-gradient term of
 * every biased convolution and BatchNormalization of the network, so the map accounts for the whole
 * output (completeness), not just one layer. No target layer: all of them, from one backward pass.
 *
 * Algorithm, as pytorch-grad-cam computes it (tested against its outputs): with S the explained
 * score, x the input and, for every layer l with bias b_l, g_l = dS/dz_l at its pre-activation output
 * z_l (`conv + bias` before a fused activation; BatchNormalization's output, whose effective bias is
 * `beta - mean * gamma / sqrt(var + eps)`): the map is the sum of `|x * dS/dx|` per input channel and,
 * per layer, `|b_l * g_l|` per channel, each channel map min-max normalised (eps 1e-7) and resized
 * bilinearly to the input; then min-max normalised once more (no ReLU: every term is >= 0).
 *
 * Differences from pytorch-grad-cam: layers are paired with their gradients by layer (pytorch-grad-cam
 * pairs them by list order, which mismatches on branching graphs where the backward pass reaches
 * layers out of registration order); layers between another model input and the output are not
 * counted (only those the image reaches). From the reference implementation (idiap/fullgrad-saliency),
 * pytorch-grad-cam and tfcam differ in normalising each channel separately rather than each term
 * jointly. `eigenSmooth` and `augSmooth` are not offered. Cost: one forward and one backward pass of
 * the whole model (nothing runs outside the tape), with every biased layer's gradient kept.
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}) whose biased layers tfcam replays; never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link FullGradOptions}
 * @returns `{ heatmap, classIndex, score, output, layer }` as {@link gradCam} (`layer` lists the biased
 *   layers used, comma-separated); the heatmap is at the input's size (or `resize`'s); the caller
 *   owns the tensors
 * @throws as {@link gradCam}; {@link UnsupportedError} for a model kind without bias layers
 *   support (GraphModels) or a biased layer tfcam cannot tap (e.g. a channels-first separable
 *   convolution)
 *
 * @example
 * ```ts
 * const { heatmap } = fullGrad(model, image, { target: 281 });
 * ```
 */
export function fullGrad(model: CamModel, input: tf.Tensor3D, options?: FullGradOptions): CamResultSingle;
export function fullGrad(model: CamModel, input: tf.Tensor4D, options?: FullGradOptions): CamResultBatch;
export function fullGrad(model: CamModel, input: CamInput, options?: FullGradOptions): CamResult;
export function fullGrad(model: CamModel, input: CamInput, options?: FullGradOptions): CamResult {
  const fn = 'fullGrad';
  const call = checkCall(fn, OPTIONS, model, input, options);
  const m = call.model;
  const o = call.options;
  if (m.biasLayers === undefined) {
    throw new UnsupportedError({
      fn,
      argument: 'model',
      expected: "must be a model whose layers' biases tfcam can read (a tf.LayersModel)",
      got: `a model of kind '${m.kind}'`,
      fix: 'Use another method (e.g. gradCam) with this model.',
    });
  }
  const biased = m.biasLayers(o.outputIndex);
  const imageLayer = m.resolveInput(m.imageInput);
  const split = m.split(fn, imageLayer, o.outputIndex);
  const size = mapSize(fn, o.resize, call.input, [imageLayer]);
  return tf.tidy(() => {
    const prepared = prepareInput(fn, call.input, o.validate);
    const pass = runPass(fn, split, prepared.tensors, call.target, {
      gradients: true,
      logits: o.logits,
      guided: false,
      taps: biased.map((b) => ({ layer: b.layer, preActivation: true })),
    });
    const x = prepared.tensors[m.imageInput] as tf.Tensor4D;
    const [, hh, ww] = x.shape;
    // Input term: |x * dS/dx|, each input channel normalised, summed.
    let raw: tf.Tensor = tf.sum(normalizeChannels(tf.abs(tf.mul(x, pass.gradients as tf.Tensor4D)) as tf.Tensor4D), -1);
    biased.forEach((b, i) => {
      const t = pass.taps?.[i] as Tapped | null | undefined;
      if (t == null) {
        throw new UnsupportedError({
          fn,
          argument: 'model',
          expected: 'must have biased layers tfcam can tap before their activation',
          got: `layer '${b.layer.path}' (${b.op}), which tfcam runs with its stock implementation`,
          fix: 'Use another method (e.g. gradCam) with this model.',
        });
      }
      const term = tf.tidy(() => {
        const g = t.gradient as tf.Tensor4D;
        const scaled = normalizeChannels(tf.abs(tf.mul(g, b.bias())) as tf.Tensor4D);
        const up = scaled.shape[1] === hh && scaled.shape[2] === ww ? scaled : tf.image.resizeBilinear(scaled, [hh, ww], false, true);
        return tf.sum(up, -1);
      });
      raw = tf.add(raw, term);
    });
    let maps = raw as tf.Tensor3D;
    if (size !== null && (size[0] !== hh || size[1] !== ww)) maps = resizeMaps(maps, size);
    const heatmap = o.normalize ? normalizeMaps(maps) : maps;
    const r = {
      heatmap,
      classIndex: pass.classIndex,
      score: pass.scores,
      output: predictedOutput(call as unknown as Parameters<typeof predictedOutput>[0], pass.output),
      layer: biased.map((b) => b.layer.path).join(','),
    };
    return unbatchResult(r, call.input.batched) as unknown as tf.TensorContainer;
  }) as unknown as CamResult;
}
