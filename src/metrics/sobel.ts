/**
 * The Sobel edge baseline.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkTensor } from '../core/tensor.js';
import { InputError, describeValue } from '../errors.js';

/**
 * An edge map of the image, as a baseline "explanation" that knows nothing of the model
 * (pytorch-grad-cam's `sobel_cam`): a method that does not beat it on a metric explains edges, not
 * the model. Grayscale (OpenCV 4's 15-bit fixed-point RGB to gray), horizontal and vertical 3x3 Sobel
 * derivatives with reflected borders (OpenCV's `BORDER_REFLECT_101`), each made absolute and
 * saturated to 0..255, and averaged with OpenCV's rounding (`addWeighted(|gx|, 0.5, |gy|, 0.5, 0)`).
 *
 * Same as pytorch-grad-cam's `sobel_cam(np.uint8(img * 255))` bit for bit (tested against it): a
 * float image in [0, 1] is first truncated to `uint8(img * 255)` as its tutorial does; an int32
 * image is taken as 0..255 levels. The result is the uint8 map divided by 255, so it can be used as
 * a heatmap (multiply by 255 for pytorch-grad-cam's values).
 *
 * @param image - RGB `[H, W, 3]` or `[B, H, W, 3]`: float32 in [0, 1] or int32 in 0..255; not disposed
 * @returns float32 `[H, W]` (or `[B, H, W]`) in [0, 1], owned by the caller
 * @throws {@link InputError} for a tensor that is not an RGB image or batch
 *
 * @example
 * ```ts
 * const edges = sobelCam(image);   // [224, 224]
 * const score = energyInBox(edges, [[40, 40, 120, 120]]);
 * ```
 */
export function sobelCam(image: tf.Tensor3D): tf.Tensor2D;
export function sobelCam(image: tf.Tensor4D): tf.Tensor3D;
export function sobelCam(image: tf.Tensor): tf.Tensor;
export function sobelCam(image: tf.Tensor): tf.Tensor {
  const fn = 'sobelCam';
  checkTensor(fn, 'image', image, { ranks: [3, 4], shapes: '[H, W, 3] or [B, H, W, 3]', fix: 'Pass an RGB image.', floatOrInt: true });
  if (image.shape[image.rank - 1] !== 3) {
    throw new InputError({
      fn,
      argument: 'image',
      expected: 'must have 3 (RGB) channels',
      got: describeValue(image),
      fix: 'Convert the image to RGB first.',
    });
  }
  return tf.tidy(() => {
    const batched = image.rank === 4;
    const x = (batched ? image : tf.expandDims(image, 0)) as tf.Tensor4D;
    // uint8 levels: truncation of img * 255 for floats (numpy's uint8 cast), clipped.
    const levels = x.dtype === 'int32' ? tf.cast(x, 'float32') : tf.floor(tf.clipByValue(tf.mul(x, 255), 0, 255));
    // OpenCV 4's RGB2GRAY for 8 bits: (R*9798 + G*19235 + B*3735 + 2^14) >> 15 (exact in float32).
    const weights = tf.reshape(tf.tensor1d([9798, 19235, 3735]), [1, 1, 1, 3]);
    const gray = tf.floor(tf.div(tf.add(tf.sum(tf.mul(levels, weights), -1, true), 16384), 32768)) as tf.Tensor4D;
    const padded = tf.mirrorPad(
      gray,
      [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ],
      'reflect',
    );
    const kx = tf.reshape(
      tf.tensor2d([
        [-1, 0, 1],
        [-2, 0, 2],
        [-1, 0, 1],
      ]),
      [3, 3, 1, 1],
    ) as tf.Tensor4D;
    const ky = tf.reshape(
      tf.tensor2d([
        [-1, -2, -1],
        [0, 0, 0],
        [1, 2, 1],
      ]),
      [3, 3, 1, 1],
    ) as tf.Tensor4D;
    const ax = tf.minimum(tf.abs(tf.conv2d(padded, kx, 1, 'valid')), 255);
    const ay = tf.minimum(tf.abs(tf.conv2d(padded, ky, 1, 'valid')), 255);
    // addWeighted rounds half to even (cvRound); tf.round does too.
    const edges = tf.div(tf.round(tf.mul(tf.add(ax, ay), 0.5)), 255);
    const maps = tf.squeeze(edges, [3]);
    return batched ? maps : tf.squeeze(maps, [0]);
  });
}
