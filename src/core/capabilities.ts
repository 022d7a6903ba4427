/**
 * What the active tfjs backend can do, decided in one place. Every backend-dependent choice tfcam
 * makes reads these flags; nothing else consults `tf.getBackend()`.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/** Backend-dependent choices. */
export interface Capabilities {
  /**
   * Compute convolution input gradients with forward ops (flipped kernels, per-tap products): wasm
   * has no `DepthwiseConv2dNativeBackpropInput` and a slow scalar `Conv2DBackpropInput`.
   */
  readonly forwardConvGrad: boolean;
  /** Reading one value back is cheap (no GPU pipeline to stall): `validate` defaults to true. */
  readonly cheapRead: boolean;
  /** The stock `MaxPoolGrad` routes ties to the first maximum (cpu); elsewhere tfcam's own gradient does. */
  readonly firstMaxPoolGrad: boolean;
  /**
   * Comparison kernels are much slower than float ones (wasm): gradient masks are built from
   * `tf.step` instead of `greater`/`where`.
   */
  readonly slowComparisons: boolean;
}

/** The capabilities of the active backend. */
export function capabilities(): Capabilities {
  const backend = tf.getBackend();
  return {
    forwardConvGrad: backend === 'wasm',
    cheapRead: backend === 'cpu' || backend === 'wasm' || backend === 'tensorflow',
    firstMaxPoolGrad: backend === 'cpu',
    slowComparisons: backend === 'wasm',
  };
}
