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
  /**
   * `Tile` (and `broadcastTo`, which runs it) is a per-element loop, 20 to 50x slower than a
   * broadcasting multiply (wasm: 10 ms against 0.3 ms for `[1, 7, 7, 1280]`): broadcasts are products
   * with ones. (On cpu the product is the slower one.)
   */
  readonly slowTile: boolean;
  /**
   * A matrix product with a transposed right operand is slow (wasm: XNNPACK packs the right operand,
   * transposed, again in every call; a classifier's `dy . W^T` takes 5 to 13 ms, against 1 to 3 ms for
   * `(W . dy^T)^T`): Dense input gradients are computed in the second form.
   */
  readonly slowTransposedMatMul: boolean;
}

/** The capabilities of the active backend. */
export function capabilities(): Capabilities {
  const backend = tf.getBackend();
  return {
    forwardConvGrad: backend === 'wasm',
    cheapRead: backend === 'cpu' || backend === 'wasm' || backend === 'tensorflow',
    firstMaxPoolGrad: backend === 'cpu',
    slowComparisons: backend === 'wasm',
    slowTile: backend === 'wasm',
    slowTransposedMatMul: backend === 'wasm',
  };
}
