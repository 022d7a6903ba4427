/**
 * A training callback that explains fixed images as a model learns.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { CamFunction } from '../pipeline/method.js';
import { isTensor } from '../core/tensor.js';
import { isLayersModel } from '../models/layers/model.js';
import type { CamOptions, CamResult } from '../core/types.js';
import { InputError, ModelError, OptionError, describeValue } from '../errors.js';
import { gradCam } from '../methods/gradcam.js';

/** Options of {@link gradCamCallback}: what to explain, how often, and where the maps go. */
export interface GradCamCallbackOptions extends CamOptions {
  /** The model being trained (the same object passed to `model.fit`): a `tf.LayersModel` (GraphModels cannot be trained). */
  model: LayersModel;
  /** Fixed images to explain, `[B,H,W,C]` (or one `[H,W,C]`); not disposed. */
  images: tf.Tensor;
  /**
   * Receives the maps at the end of every `every`-th epoch (`epoch` counts from 0, as in tfjs
   * callbacks). The result's tensors are disposed when the returned promise settles: copy what you
   * keep (`await result.heatmap.data()`, or `tf.clone`).
   */
  onCams: (epoch: number, result: CamResult) => void | Promise<void>;
  /** Explain after every `every` epochs (default 1). */
  every?: number | undefined;
  /** The CAM method (default {@link gradCam}); any function made by {@link createCam}. */
  method?: CamFunction | undefined;
}

/** What {@link gradCamCallback} returns: a callback object `model.fit` accepts. */
export interface GradCamCallback {
  /** Called by `model.fit` after each epoch; explains the images on every `every`-th one. */
  onEpochEnd: (epoch: number, logs?: unknown) => Promise<void>;
}

/**
 * A `model.fit` callback that computes Grad-CAM (or any CAM method) of fixed images at the end of
 * every `every`-th epoch and hands the maps to `onCams(epoch, result)`: watch where the model looks
 * as it learns.
 *
 * It runs the CAM in inference mode (`training: false`: dropout off, BatchNorm moving statistics read,
 * not updated), disposes everything it made once `onCams` settles, and changes neither the model
 * nor the training: a fit with the callback ends with the same weights as one without. The model must
 * be passed explicitly (tfjs hands callback objects no model), which also works when the app and
 * tfcam see different copies of tfjs.
 *
 * LayersModel only: `tf.GraphModel`s have no `fit` (explain them with the CAM functions directly).
 *
 * pytorch-grad-cam has no equivalent; tf-keras-vis offers similar Keras callbacks.
 *
 * @param options - `model`, `images`, `onCams`, `every`, `method`, plus any CAM options (`layer`, `target`, ...)
 * @returns an object for `model.fit(x, y, { callbacks: [it] })`
 * @throws {@link ModelError} / {@link InputError} / {@link OptionError} immediately for a bad
 *   `model`, `images`, `onCams`, `every` or `method`; CAM errors surface from `model.fit` at the first
 *   explained epoch
 *
 * @example
 * ```ts
 * const callback = gradCamCallback({
 *   model, images, every: 2, layer: 'last_conv',
 *   onCams: async (epoch, { heatmap }) => console.log(epoch, await heatmap.data()),
 * });
 * await model.fit(xs, ys, { epochs: 10, callbacks: [callback] });
 * ```
 */
export function gradCamCallback(options: GradCamCallbackOptions): GradCamCallback {
  const fn = 'gradCamCallback';
  if (options === null || typeof options !== 'object') {
    throw new OptionError({
      fn,
      argument: 'options',
      expected: 'must be an object',
      got: describeValue(options),
      fix: 'Pass { model, images, onCams }.',
    });
  }
  const { model, images, onCams, every = 1, method = gradCam, ...camOptions } = options;
  if (!isLayersModel(model)) {
    throw new ModelError({
      fn,
      argument: 'options.model',
      expected: 'must be the tf.LayersModel being trained (LayersModel only)',
      got: describeValue(model),
      fix: 'Pass the model you call fit on; a tf.GraphModel cannot be trained, so it has no callback: call gradCam on it directly.',
    });
  }
  if (!isTensor(images) || (images.rank !== 3 && images.rank !== 4)) {
    throw new InputError({
      fn,
      argument: 'options.images',
      expected: 'must be a [B, H, W, C] (or [H, W, C]) tensor',
      got: describeValue(images),
      fix: 'Stack the sample images into one tensor.',
    });
  }
  if (typeof onCams !== 'function') {
    throw new OptionError({
      fn,
      argument: 'options.onCams',
      expected: 'must be a function (epoch, result) => void',
      got: describeValue(onCams),
      fix: 'Pass a callback that uses the maps.',
    });
  }
  if (typeof every !== 'number' || !Number.isInteger(every) || every < 1) {
    throw new OptionError({
      fn,
      argument: 'options.every',
      expected: 'must be a positive integer',
      got: describeValue(every),
      fix: 'Omit it to explain after every epoch.',
    });
  }
  if (typeof method !== 'function') {
    throw new OptionError({
      fn,
      argument: 'options.method',
      expected: 'must be a CAM function such as gradCam',
      got: describeValue(method),
      fix: 'Pass e.g. gradCamPlusPlus, or omit it.',
    });
  }
  return {
    onEpochEnd: async (epoch: number): Promise<void> => {
      if ((epoch + 1) % every !== 0) return;
      const result = method(model, images as tf.Tensor4D, camOptions as CamOptions);
      try {
        await onCams(epoch, result);
      } finally {
        tf.dispose(result);
      }
    },
  };
}
