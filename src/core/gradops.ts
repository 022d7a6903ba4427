/**
 * Ops with hand-written input gradients, used by the head applier. Each is a forward op wrapped in
 * `tf.customGrad`, so only the input gradient is ever computed (no filter gradient), nothing is
 * registered globally, and the gradient is right and lean on every backend.
 *
 * Convolutions: the input gradient is computed with forward convolutions.
 *
 * The input gradient of a convolution is a "full" correlation of the upstream gradient with the
 * kernel flipped in space (and, for a regular convolution, with its in/out channels swapped). For a
 * strided convolution the upstream gradient is first dilated with zeros. Written this way it needs
 * only the forward `Conv2D` / `DepthwiseConv2dNative` kernels, which every backend has and optimises:
 * wasm has no `DepthwiseConv2dNativeBackpropInput` at all and a scalar-loop `Conv2DBackpropInput`.
 *
 * The functions here wrap the forward op in `tf.customGrad`, so only the input gradient is ever
 * computed: no filter gradient, no kernel registration, nothing global.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { capabilities } from './capabilities.js';
import type { KernelCache } from './kernel-cache.js';

type Pair = [number, number];

/** `tf.customGrad` for a function of one tensor, typed for that case. */
export function unaryCustomGrad(
  f: (x: tf.Tensor, save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor },
): (x: tf.Tensor) => tf.Tensor {
  const op = tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]);
  return (x) => op(x);
}

/** Padding the forward op applies before the first row/column, as TensorFlow computes it. */
export function leadingPad(size: number, kernel: number, stride: number, dilation: number, padding: 'same' | 'valid'): number {
  if (padding === 'valid') return 0;
  const kEff = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kEff - size, 0);
  return Math.floor(total / 2);
}

/** Inserts `stride - 1` zeros between rows/columns of `dy` ([B,H,W,C]). */
export function dilateWithZeros(dy: tf.Tensor4D, strides: Pair): tf.Tensor4D {
  const [sh, sw] = strides;
  const [b, h, w, c] = dy.shape;
  let x = dy;
  if (sh > 1) {
    const r = tf.reshape(x, [b, h, 1, w * c]);
    x = tf.reshape(
      tf.pad(r, [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
      ]),
      [b, h * sh, w, c],
    );
    x = tf.slice(x, [0, 0, 0, 0], [b, (h - 1) * sh + 1, w, c]);
  }
  if (sw > 1) {
    const hh = x.shape[1];
    const r = tf.reshape(x, [b * hh, w, 1, c]);
    x = tf.reshape(
      tf.pad(r, [
        [0, 0],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ]),
      [b, hh, w * sw, c],
    );
    x = tf.slice(x, [0, 0, 0, 0], [b, hh, (w - 1) * sw + 1, c]);
  }
  return x;
}

/** Pads (positive amounts) or crops (negative amounts) the two spatial axes of `x`. */
function padOrCrop(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  let y = x;
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    y = tf.pad(y, [
      [0, 0],
      [Math.max(top, 0), Math.max(bottom, 0)],
      [Math.max(left, 0), Math.max(right, 0)],
      [0, 0],
    ]);
  }
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [b, h, w, c] = y.shape;
    const t = Math.max(-top, 0);
    const l = Math.max(-left, 0);
    y = tf.slice(y, [0, t, l, 0], [b, h - t - Math.max(-bottom, 0), w - l - Math.max(-right, 0), c]);
  }
  return y;
}

/** Geometry of a 2-D convolution, enough to invert it. */
export interface ConvGeometry {
  inputShape: [number, number, number, number];
  kernelSize: Pair;
  strides: Pair;
  dilations: Pair;
  padding: 'same' | 'valid';
}

/**
 * Prepares `dy` for a stride-1 'valid' correlation with a flipped kernel whose result is the input
 * gradient: dilate by the stride, then pad so the output has the input's spatial size.
 */
function prepareUpstream(dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const [, h, w] = g.inputShape;
  const [kh, kw] = g.kernelSize;
  const [dh, dw] = g.dilations;
  const khEff = (kh - 1) * dh + 1;
  const kwEff = (kw - 1) * dw + 1;
  const padTop = leadingPad(h, kh, g.strides[0], dh, g.padding);
  const padLeft = leadingPad(w, kw, g.strides[1], dw, g.padding);
  const dil = dilateWithZeros(dy, g.strides);
  const top = khEff - 1 - padTop;
  const left = kwEff - 1 - padLeft;
  const bottom = h + khEff - 1 - top - dil.shape[1];
  const right = w + kwEff - 1 - left - dil.shape[2];
  return padOrCrop(dil, top, bottom, left, right);
}

/**
 * `kernel` ([kh, kw, ...]) reversed along both spatial axes without `tf.reverse` (a per-element
 * JavaScript loop on wasm: ~100 ms for a 3x3x384x384 kernel): a 1x1 kernel is its own flip; others are
 * kh*kw contiguous slices concatenated in reverse order.
 */
export function flipSpatial(kernel: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, a, b] = kernel.shape;
  if (kh * kw === 1) return kernel;
  return tf.tidy(() => {
    const taps = tf.reshape(kernel, [kh * kw, a * b]) as tf.Tensor2D;
    const parts: tf.Tensor2D[] = [];
    for (let i = kh * kw - 1; i >= 0; i--) parts.push(tf.slice(taps, [i, 0], [1, a * b]));
    const joined = tf.concat(parts, 0);
    // Free the slices now: at most two copies of the kernel are alive at once.
    for (const p of parts) p.dispose();
    return tf.reshape(joined, [kh, kw, a, b]) as tf.Tensor4D;
  });
}

/**
 * How a convolution's input gradient is computed on the forward-convolution path:
 * - `'conv'`: one forward convolution of the prepared upstream gradient with the flipped,
 *   channel-transposed kernel (a new filter tensor in every call, which tfjs-wasm's XNNPACK packs
 *   before it convolves: a fixed cost of the kernel's size);
 * - `'taps'`: one matrix product per kernel tap, `W[tap] . window(dy)^T`, summed: no flipped or
 *   transposed copy of the kernel, so nothing to pack; costs grow with the number of positions.
 * `'auto'` picks `'taps'` when the positions are few compared with the kernel's channels (the last
 * blocks of a CNN at batch 1), `'conv'` otherwise.
 */
export type InputGradStrategy = 'conv' | 'taps' | 'auto';

/**
 * `'taps'` pays off when positions * (in + out channels) is well below the kernel's in * out
 * channels, and only when the flipped kernel would be made (and packed) in every call: with a kernel
 * cache (an explainer's), the convolution's prepared kernel is made and packed once.
 */
function useTaps(positions: number, inChannels: number, outChannels: number, strategy: InputGradStrategy, cached: boolean): boolean {
  if (strategy !== 'auto') return strategy === 'taps';
  return !cached && 2 * positions * (inChannels + outChannels) < inChannels * outChannels;
}

/**
 * Input gradient of a conv2d as a sum over kernel taps of matrix products (see
 * {@link InputGradStrategy}). (One batched product over all taps is slower on wasm: measured.)
 */
function conv2dInputGradTaps(dy: tf.Tensor4D, kernel: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, cin, cout] = kernel.shape;
    const [b, h, w] = g.inputShape;
    const up = prepareUpstream(dy, g);
    const taps = tf.reshape(kernel, [kh * kw, cin, cout]);
    // A 1x1 stride-1 kernel's only window is the whole upstream gradient.
    const whole = up.shape[1] === h && up.shape[2] === w;
    let acc: tf.Tensor | null = null;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        // The correlation with the flipped kernel pairs window (i, j) with tap (kh-1-i, kw-1-j).
        const t = (kh - 1 - i) * kw + (kw - 1 - j);
        const next: tf.Tensor = tf.tidy(() => {
          // Window (i, j) of the stride-1 'valid' correlation that yields [B, H, W, .].
          const window = whole ? up : tf.slice(up, [0, i * g.dilations[0], j * g.dilations[1], 0], [b, h, w, cout]);
          const win = tf.transpose(tf.reshape(window, [b * h * w, cout]));
          const tap = kh * kw === 1 ? tf.reshape(taps, [cin, cout]) : tf.reshape(tf.slice(taps, [t, 0, 0], [1, cin, cout]), [cin, cout]);
          const term = tf.matMul(tap, win);
          return acc === null ? term : tf.add(acc, term);
        });
        acc?.dispose();
        acc = next;
      }
    }
    return tf.reshape(tf.transpose(acc as tf.Tensor), [b, h, w, cin]) as tf.Tensor4D;
  });
}

/** The flipped, channel-transposed kernel of a conv2d's input gradient. */
function flipTranspose(kernel: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const spatial = flipSpatial(kernel);
    const flipped = tf.transpose(spatial, [0, 1, 3, 2]) as tf.Tensor4D;
    if (spatial !== kernel) spatial.dispose();
    return flipped;
  });
}

/**
 * Input gradient of `conv2d(x, kernel)` computed with forward ops only (see {@link InputGradStrategy}).
 * With `cache` (an explainer's), the prepared kernel is taken from it (made once per weight value).
 */
export function conv2dInputGrad(
  dy: tf.Tensor4D,
  kernel: tf.Tensor4D,
  g: ConvGeometry,
  strategy: InputGradStrategy = 'auto',
  cache?: KernelCache,
): tf.Tensor4D {
  const [b, h, w, cin] = g.inputShape;
  if (useTaps(b * h * w, cin, kernel.shape[3], strategy, cache !== undefined)) return conv2dInputGradTaps(dy, kernel, g);
  return tf.tidy(() => {
    const flipped =
      cache === undefined ? flipTranspose(kernel) : (cache.get(kernel, 'conv2d-input-grad', () => flipTranspose(kernel)) as tf.Tensor4D);
    return tf.conv2d(prepareUpstream(dy, g), flipped, 1, 'valid', 'NHWC', g.dilations);
  });
}

/**
 * Input gradient of `depthwiseConv2d(x, kernel)` ([kh,kw,C,M] kernel) with one forward depthwise
 * conv. (Per-tap products lose here: a depthwise kernel is small, so packing it costs little.)
 * With `cache` (an explainer's; `kernel` must then be a model weight), the flipped kernel is taken
 * from it.
 */
export function depthwiseInputGrad(dy: tf.Tensor4D, kernel: tf.Tensor4D, g: ConvGeometry, cache?: KernelCache): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, c, m] = kernel.shape;
    const flip = (): tf.Tensor4D => tf.reshape(flipSpatial(kernel), [kh, kw, c * m, 1]) as tf.Tensor4D;
    const flipped = cache === undefined ? flip() : (cache.get(kernel, 'depthwise-input-grad', flip) as tf.Tensor4D);
    const full = tf.depthwiseConv2d(prepareUpstream(dy, g), flipped, 1, 'valid', 'NHWC', g.dilations);
    if (m === 1) return full;
    const [b, h, w] = full.shape;
    return tf.sum(tf.reshape(full, [b, h, w, c, m]), -1) as tf.Tensor4D;
  });
}

/**
 * Wraps a forward convolution so that its gradient (input only) is `inputGrad` of the upstream
 * gradient: shared by {@link conv2dForwardGrad} and {@link depthwiseForwardGrad}.
 */
function withForwardGrad(
  forward: (x: tf.Tensor4D) => tf.Tensor4D,
  inputGrad: (dy: tf.Tensor4D, kernel: tf.Tensor4D, g: ConvGeometry) => tf.Tensor4D,
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  strides: Pair,
  padding: 'same' | 'valid',
  dilations: Pair,
): tf.Tensor4D {
  const geometry: ConvGeometry = {
    inputShape: x.shape,
    kernelSize: [kernel.shape[0], kernel.shape[1]],
    strides,
    dilations,
    padding,
  };
  const op = unaryCustomGrad((input: tf.Tensor) => ({
    value: forward(input as tf.Tensor4D),
    gradFunc: (dy: tf.Tensor) => inputGrad(dy as tf.Tensor4D, kernel, geometry),
  }));
  return op(x) as tf.Tensor4D;
}

/**
 * `tf.conv2d` whose gradient (input only) is computed by {@link conv2dInputGrad}. `cache`: an
 * explainer's prepared kernels (`kernel` must then be a model weight).
 */
export function conv2dForwardGrad(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  strides: Pair,
  padding: 'same' | 'valid',
  dilations: Pair,
  cache?: KernelCache,
): tf.Tensor4D {
  const forward = (v: tf.Tensor4D): tf.Tensor4D => tf.conv2d(v, kernel, strides, padding, 'NHWC', dilations);
  const inputGrad = (dy: tf.Tensor4D, k: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D => conv2dInputGrad(dy, k, g, 'auto', cache);
  return withForwardGrad(forward, inputGrad, x, kernel, strides, padding, dilations);
}

/**
 * `tf.depthwiseConv2d` whose gradient (input only) is computed by {@link depthwiseInputGrad}.
 * `cache`: an explainer's prepared kernels (`kernel` must then be a model weight).
 */
export function depthwiseForwardGrad(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  strides: Pair,
  padding: 'same' | 'valid',
  dilations: Pair,
  cache?: KernelCache,
): tf.Tensor4D {
  const forward = (v: tf.Tensor4D): tf.Tensor4D => tf.depthwiseConv2d(v, kernel, strides, padding, 'NHWC', dilations);
  const inputGrad = (dy: tf.Tensor4D, k: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D => depthwiseInputGrad(dy, k, g, cache);
  return withForwardGrad(forward, inputGrad, x, kernel, strides, padding, dilations);
}

/**
 * Average pooling with TensorFlow/Keras semantics (padded cells excluded from each average) *and* a
 * gradient that honours them. tfjs' `AvgPoolGrad` divides by the full window size at the borders of
 * a 'same' pooling, which is wrong; here the gradient is `dy / count` spread back over each window.
 */
export function avgPoolSame(x: tf.Tensor4D, poolSize: Pair, strides: Pair): tf.Tensor4D {
  const [, h, w, c] = x.shape;
  const geometry: ConvGeometry = {
    inputShape: x.shape,
    kernelSize: poolSize,
    strides,
    dilations: [1, 1],
    padding: 'same',
  };
  const op = unaryCustomGrad((input: tf.Tensor) => ({
    value: tf.avgPool(input as tf.Tensor4D, poolSize, strides, 'same'),
    gradFunc: (dy: tf.Tensor) =>
      tf.tidy(() => {
        const ones = tf.ones([poolSize[0], poolSize[1], 1, 1]) as tf.Tensor4D;
        const counts = tf.depthwiseConv2d(tf.ones([1, h, w, 1]) as tf.Tensor4D, ones, strides, 'same');
        const scaled = tf.div(dy, counts) as tf.Tensor4D;
        // Stride 1, odd window ('same' pads symmetrically): the window sum is self-adjoint and equals
        // counts * avgPool, so the gradient is one more average pooling (no kernel to flip).
        if (strides[0] === 1 && strides[1] === 1 && poolSize[0] % 2 === 1 && poolSize[1] % 2 === 1) {
          return tf.mul(tf.avgPool(scaled, poolSize, 1, 'same'), counts);
        }
        const sumKernel = tf.ones([poolSize[0], poolSize[1], c, 1]) as tf.Tensor4D;
        return depthwiseInputGrad(scaled, sumKernel, geometry);
      }),
  }));
  return op(x) as tf.Tensor4D;
}

/**
 * The gradient of a max pooling for upstream `dy`, routed to the *first* maximum of each window
 * (row-major). `y = maxPool(x)`.
 *
 * Built from cheap forward kernels only (tfjs-wasm's StridedSlice, rank > 4 Slice and comparison
 * kernels are per-element loops): the padded input is split once into its `sh * sw` stride phases
 * (`xp[:, ra::sh, rq::sw, :]`, by rank-4 reshapes and contiguous slices), so that each of the `kh * kw`
 * window offsets is one contiguous slice of a phase; the masks use float kernels
 * (`y >= win`, so `1 - step(y - win)` is 1 exactly where `win` is the maximum); contributions are
 * accumulated per phase and the phases interleaved once at the end.
 */
function firstMaxGradient(
  xs: tf.Tensor4D,
  y: tf.Tensor4D,
  dy: tf.Tensor4D,
  poolSize: Pair,
  strides: Pair,
  padding: 'same' | 'valid',
): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = xs.shape;
    const [kh, kw] = poolSize;
    const [sh, sw] = strides;
    const [, oh, ow] = y.shape;
    const top = leadingPad(h, kh, sh, 1, padding);
    const left = leadingPad(w, kw, sw, 1, padding);
    // Padded extent: a multiple of the strides that covers every window.
    const rows = sh * (Math.floor((kh - 1) / sh) + oh);
    const cols = sw * (Math.floor((kw - 1) / sw) + ow);
    const bottom = rows - h - top;
    const right = cols - w - left;
    let xp = tf.pad(
      xs,
      [
        [0, 0],
        [top, Math.max(bottom, 0)],
        [left, Math.max(right, 0)],
        [0, 0],
      ],
      -Infinity,
    ) as tf.Tensor4D;
    if (bottom < 0 || right < 0) xp = tf.slice(xp, [0, 0, 0, 0], [b, rows, cols, c]);
    const pr = rows / sh;
    const pc = cols / sw;
    const phase = (ra: number, rq: number): tf.Tensor4D =>
      tf.tidy(() => {
        const r = tf.slice(tf.reshape(xp, [b * pr, sh, cols, c]), [0, ra, 0, 0], [b * pr, 1, cols, c]);
        return tf.reshape(tf.slice(tf.reshape(r, [b * pr, pc, sw * c]), [0, 0, rq * c], [b * pr, pc, c]), [b, pr, pc, c]) as tf.Tensor4D;
      });
    const phases: tf.Tensor4D[][] = [];
    const acc: Array<Array<tf.Tensor4D | null>> = [];
    for (let ra = 0; ra < sh; ra++) {
      phases.push(Array.from({ length: sw }, (_, rq) => phase(ra, rq)));
      acc.push(Array.from({ length: sw }, () => null));
    }
    xp.dispose();
    let taken: tf.Tensor = tf.zerosLike(y);
    for (let a = 0; a < kh; a++) {
      for (let q = 0; q < kw; q++) {
        const ra = a % sh;
        const qa = Math.floor(a / sh);
        const rq = q % sw;
        const qq = Math.floor(q / sw);
        const phaseAcc = acc[ra] as Array<tf.Tensor4D | null>;
        const prev = phaseAcc[rq] ?? null;
        // One tidy per window offset: only `taken` and the phase's accumulator survive it.
        const [nextTaken, nextAcc] = tf.tidy(() => {
          const win = tf.slice((phases[ra] as tf.Tensor4D[])[rq] as tf.Tensor4D, [0, qa, qq, 0], [b, oh, ow, c]);
          const hit = tf.mul(tf.sub(1, tf.step(tf.sub(y, win))), tf.sub(1, taken));
          const placed = tf.pad(tf.mul(dy, hit), [
            [0, 0],
            [qa, pr - qa - oh],
            [qq, pc - qq - ow],
            [0, 0],
          ]);
          return [tf.add(taken, hit), prev === null ? placed : tf.add(prev, placed)];
        });
        taken.dispose();
        prev?.dispose();
        taken = nextTaken as tf.Tensor;
        phaseAcc[rq] = nextAcc as tf.Tensor4D;
      }
    }
    // Interleave: the column phases within each row phase, then the row phases.
    const rowPhase = (ra: number): tf.Tensor =>
      tf.reshape(
        tf.stack(
          (acc[ra] as Array<tf.Tensor4D | null>).map((g) => g ?? tf.zeros([b, pr, pc, c])),
          3,
        ),
        [b, pr, cols, c],
      );
    let full = tf.reshape(
      tf.stack(
        Array.from({ length: sh }, (_, ra) => rowPhase(ra)),
        2,
      ),
      [b, rows, cols, c],
    ) as tf.Tensor4D;
    // Input rows and columns past the last window get no gradient.
    if (bottom < 0 || right < 0)
      full = tf.pad(full, [
        [0, 0],
        [0, Math.max(-bottom, 0)],
        [0, Math.max(-right, 0)],
        [0, 0],
      ]);
    return tf.slice(full, [0, top, left, 0], [b, h, w, c]);
  });
}

/**
 * Max pooling whose gradient goes to the *first* maximum of each window (row-major), on every
 * backend. That is what PyTorch and TensorFlow do, and what tfjs' cpu backend does; tfjs' wasm
 * `MaxPoolGrad` routes ties to the last maximum instead. Ties are common after a ReLU (windows of
 * zeros), and Grad-CAM averages gradients over every position, so the rule matters.
 */
export function maxPoolFirstMax(x: tf.Tensor4D, poolSize: Pair, strides: Pair, padding: 'same' | 'valid'): tf.Tensor4D {
  // The cpu backend's own MaxPoolGrad already routes ties to the first maximum.
  if (capabilities().firstMaxPoolGrad) return tf.maxPool(x, poolSize, strides, padding);
  const op = unaryCustomGrad((input: tf.Tensor, save: tf.GradSaveFunc) => {
    const value = tf.maxPool(input as tf.Tensor4D, poolSize, strides, padding);
    save([input, value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        firstMaxGradient(saved[0] as tf.Tensor4D, saved[1] as tf.Tensor4D, dy as tf.Tensor4D, poolSize, strides, padding),
    };
  });
  return op(x) as tf.Tensor4D;
}

/**
 * Global average pooling over the spatial axes of `[B, H, W, C]` (Keras `GlobalAveragePooling2D`).
 * tfjs' `Mean` gradient materialises three input-sized tensors (`ones`, a product, a quotient); here the
 * gradient is one broadcast of `dy / (H*W)`, which keeps the head's backward at ~2x the activation.
 * The forward sums columns, then rows (see reduce.ts on float32 accumulation).
 */
export function globalAveragePool(x: tf.Tensor4D): tf.Tensor2D {
  const [b, h, w, c] = x.shape;
  const slowTile = capabilities().slowTile;
  const op = unaryCustomGrad((input: tf.Tensor) => ({
    // Columns then rows: a two-stage sum keeps float32 backends (wasm) within ~1e-7 of float64.
    value: tf.div(tf.sum(tf.sum(input, 2), 1), h * w),
    gradFunc: (dy: tf.Tensor) =>
      tf.tidy(() => {
        const g = tf.reshape(tf.div(dy, h * w), [b, 1, 1, c]);
        // (A product with ones where Tile is a per-element loop: the same values.)
        return slowTile ? tf.mul(tf.ones([b, h, w, 1]), g) : tf.broadcastTo(g, [b, h, w, c]);
      }),
  }));
  return op(x) as tf.Tensor2D;
}

/**
 * `x . kernel` (a Dense layer's product, `[N, K]` by `[K, M]`) whose input gradient is
 * `(kernel . dy^T)^T` instead of tfjs' `dy . kernel^T`: the same numbers, but on wasm a product with a
 * transposed right operand makes XNNPACK pack that operand again in every call (the classifier's
 * kernel, alternately plain for the forward product and transposed for the gradient): 5 to 18 ms for
 * a `[2048, 1000]` kernel at batch 1, against 1 to 3 ms with the right operand the small `dy^T`.
 * No kernel gradient is computed.
 */
export function denseForwardGrad(x: tf.Tensor2D, kernel: tf.Tensor2D): tf.Tensor2D {
  const op = unaryCustomGrad((input: tf.Tensor) => ({
    value: tf.matMul(input as tf.Tensor2D, kernel),
    gradFunc: (dy: tf.Tensor) => tf.tidy(() => tf.transpose(tf.matMul(kernel, tf.transpose(dy as tf.Tensor2D)))),
  }));
  return op(x) as tf.Tensor2D;
}

/**
 * Max over axis 1 of `[B, N, C]` (global max pooling over N positions) whose gradient goes to the
 * *first* maximum of each `(b, c)` column (row-major position order), on every backend.
 *
 * tfjs' `Max` gradient gives the full upstream gradient to *every* element equal to the maximum, so
 * a column with `n` tied maxima gets `n` times the gradient. Ties are structural in real networks:
 * global max pooling after `UpSampling2D`, after a stride-1 'same' `MaxPooling2D` (the maximum is
 * copied into every window that holds it), or over a constant channel. Routing to one maximum is
 * PyTorch's rule (and tfcam's rule for `MaxPooling2D`); it makes `GMP(A)` and `GMP(maxPool(A))`,
 * the same function, get the same gradient.
 *
 * The gradient is one `ArgMax` (first maximum on the cpu, wasm and webgl backends) and one
 * `ScatterNd` of the `B * C` upstream values into zeros: no activation-sized mask.
 */
export function maxFirstMax(x: tf.Tensor3D): tf.Tensor2D {
  const [b, n, c] = x.shape;
  const op = unaryCustomGrad((input: tf.Tensor, save: tf.GradSaveFunc) => {
    save([input]);
    return {
      value: tf.max(input, 1),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const at = tf.argMax(saved[0] as tf.Tensor, 1) as tf.Tensor2D;
          const rows = tf.broadcastTo(tf.reshape(tf.range(0, b, 1, 'int32'), [b, 1]), [b, c]);
          const cols = tf.broadcastTo(tf.reshape(tf.range(0, c, 1, 'int32'), [1, c]), [b, c]);
          const indices = tf.reshape(tf.stack([rows, at, cols], -1), [b * c, 3]);
          return tf.scatterND(indices, tf.reshape(dy, [b * c]), [b, n, c]);
        }),
    };
  });
  return op(x) as tf.Tensor2D;
}

/**
 * `GlobalMaxPooling2D` of `[B, H, W, C]` with the first-maximum gradient of {@link maxFirstMax}.
 */
export function globalMaxPoolFirstMax(x: tf.Tensor4D): tf.Tensor2D {
  const [b, h, w, c] = x.shape;
  return maxFirstMax(tf.reshape(x, [b, h * w, c]) as tf.Tensor3D);
}

/** The upsampled size of `[B, H, W, C]` by integer factors. */
function upsampledSize(x: tf.Tensor4D, size: Pair): Pair {
  return [x.shape[1] * size[0], x.shape[2] * size[1]];
}

/**
 * Keras `UpSampling2D({interpolation: 'nearest'})` (each pixel repeated `size` times along each
 * spatial axis), computed as tfjs-layers does (`tf.image.resizeNearestNeighbor` to `[H*fh, W*fw]`),
 * with the gradient of what it computes: the sum of each `fh x fw` block of the upstream gradient,
 * one `AvgPool` scaled by `fh * fw`.
 *
 * tfjs-backend-cpu's `ResizeNearestNeighborGrad` offsets the upstream gradient by the input's batch
 * stride instead of the output's, so every example but the first gets a wrong gradient (batch >= 2).
 */
export function upsampleNearest(x: tf.Tensor4D, size: Pair): tf.Tensor4D {
  const [fh, fw] = size;
  const out = upsampledSize(x, size);
  const op = unaryCustomGrad((input: tf.Tensor) => ({
    value: tf.image.resizeNearestNeighbor(input as tf.Tensor4D, out),
    gradFunc: (dy: tf.Tensor) =>
      tf.tidy(() => (fh * fw === 1 ? tf.clone(dy) : tf.mul(tf.avgPool(dy as tf.Tensor4D, [fh, fw], [fh, fw], 'valid'), fh * fw))),
  }));
  return op(x) as tf.Tensor4D;
}

/**
 * Keras `UpSampling2D({interpolation: 'bilinear'})` computed as tfjs-layers does
 * (`tf.image.resizeBilinear(x, [H*fh, W*fw])`, `alignCorners` and `halfPixelCenters` false), with a
 * gradient that is right on every backend: the backend's own `ResizeBilinearGrad` kernel, its result
 * reshaped to the input's shape.
 *
 * tfjs-backend-cpu's kernel computes the right values in the input's layout but labels its result
 * `[B, W, H, C]`, so tfjs' stock gradient throws on every non-square map ("the gradient ... has shape
 * 2,4,3,2, which does not match the shape of the input 2,3,4,2"). The reshape relabels it (a no-op
 * where the shape is already right, on the other backends and in any tfjs that fixes it); the test
 * suite checks the result against the brute-force adjoint of the layer on cpu and wasm.
 */
export function upsampleBilinear(x: tf.Tensor4D, size: Pair): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const out = upsampledSize(x, size);
  const op = unaryCustomGrad((input: tf.Tensor, save: tf.GradSaveFunc) => {
    save([input]);
    return {
      value: tf.image.resizeBilinear(input as tf.Tensor4D, out),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const attrs = { alignCorners: false, halfPixelCenters: false };
          const grad = tf.engine().runKernel('ResizeBilinearGrad', { images: saved[0] as tf.Tensor, dy }, attrs) as tf.Tensor;
          return tf.reshape(grad, [b, h, w, c]);
        }),
    };
  });
  return op(x) as tf.Tensor4D;
}

/**
 * Keras `ThresholdedReLU`: `x * [x > theta]`, computed as tfjs-layers does, with its gradient
 * `dy * [x > theta]` (tfjs has no gradient for the `Greater` it is built from, so the stock layer
 * cannot be differentiated at all).
 */
export function thresholdedRelu(x: tf.Tensor, theta: number): tf.Tensor {
  const op = unaryCustomGrad((input: tf.Tensor, save: tf.GradSaveFunc) => {
    const mask = tf.cast(tf.greater(input, theta), 'float32');
    save([mask]);
    return {
      value: tf.mul(input, mask),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0] as tf.Tensor),
    };
  });
  return op(x);
}
