/**
 * Makes the tfjs wasm backend able to train convolutional networks in Node, for the training script
 * only (tfcam itself never registers kernels).
 *
 * - `Conv2DBackpropFilter` is not registered on wasm (tfjs 4.22): it is added here as a forward
 *   convolution of the transposed input with the transposed output gradient (dilated by the stride).
 * - `Conv2DBackpropInput` on wasm is a scalar loop: for stride 1 it is replaced by a forward
 *   convolution of the padded output gradient with the flipped, transposed kernel.
 * - `Tile` where every tiled axis has size 1 (BatchNormalization's gradient) becomes a broadcast add.
 * - `MaxPoolGrad` for 2x2 windows with stride 2 routes the gradient with an equality mask (ties share
 *   it; after a ReLU, tied zeros get no gradient anyway).
 *
 * The cpu backend is correct but about 80x slower at training the shapes CNN (1.7 s per image).
 */
import * as tf from '@tensorflow/tfjs-core';

type KernelFn = (args: { inputs: object; backend: unknown; attrs: object }) => tf.TensorInfo;

function kernel(name: string): KernelFn {
  const k = tf.getKernel(name, 'wasm');
  if (k === undefined) throw new Error(`wasm kernel ${name} is missing`);
  return k.kernelFunc as unknown as KernelFn;
}

function disposeAll(backend: unknown, infos: tf.TensorInfo[]): void {
  for (const t of new Set(infos)) (backend as { disposeData(id: object): void }).disposeData(t.dataId);
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Registers the training kernels on the wasm backend (idempotent). Call after `tf.setBackend('wasm')`. */
export function registerWasmTrainingKernels(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm') === undefined) {
    tf.registerKernel({
      kernelName: 'Conv2DBackpropFilter',
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
        const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
        if (a.dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter (wasm, training script): NHWC only');
        const info = tf.backend_util.computeConv2DInfo(
          x.shape as [number, number, number, number],
          a.filterShape,
          a.strides,
          1,
          a.pad,
          a.dimRoundingMode,
          false,
          'channelsLast',
        );
        const { top, bottom, left, right } = info.padInfo;
        // dW[kh, kw, ci, co] = sum_{b,i,j} x[b, i*s + kh - top, j*s + kw - left, ci] dy[b, i, j, co]:
        // a convolution over (i, j) of x as [ci, H, W, b] with dy as the filter [Ho, Wo, b, co].
        const xT = kernel('Transpose')({ inputs: { x }, backend, attrs: { perm: [3, 1, 2, 0] } });
        const xP = kernel('PadV2')({
          inputs: { x: xT },
          backend,
          attrs: {
            paddings: [
              [0, 0],
              [top, bottom],
              [left, right],
              [0, 0],
            ],
            constantValue: 0,
          },
        });
        const dyT = kernel('Transpose')({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } });
        const conv = kernel('Conv2D')({
          inputs: { x: xP, filter: dyT },
          backend,
          attrs: { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [info.strideHeight, info.strideWidth] },
        });
        const [kh, kw] = a.filterShape;
        const sliced =
          conv.shape[1] === kh && conv.shape[2] === kw
            ? conv
            : kernel('Slice')({
                inputs: { x: conv },
                backend,
                attrs: { begin: [0, 0, 0, 0], size: [conv.shape[0], kh, kw, conv.shape[3]] },
              });
        const out = kernel('Transpose')({ inputs: { x: sliced }, backend, attrs: { perm: [1, 2, 0, 3] } });
        disposeAll(backend, [xT, xP, dyT, conv, sliced]);
        return out;
      },
    });
  }
  const marker = tf.getKernel('Conv2DBackpropInput', 'wasm') as unknown as { tfcamTraining?: boolean } | undefined;
  if (marker !== undefined && marker.tfcamTraining !== true) {
    const stockInput = kernel('Conv2DBackpropInput');
    const stockTile = kernel('Tile');
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.unregisterKernel('Tile', 'wasm');
    const inputConfig = {
      kernelName: 'Conv2DBackpropInput',
      backendName: 'wasm',
      tfcamTraining: true,
      kernelFunc: (args: { inputs: object; backend: unknown; attrs: object }) => {
        const { inputs, backend, attrs } = args;
        const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
        const a = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
        const fs = filter.shape as [number, number, number, number];
        const info = tf.backend_util.computeConv2DInfo(a.inputShape, fs, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
        if (info.strideHeight !== 1 || info.strideWidth !== 1 || a.dataFormat !== 'NHWC') return stockInput(args);
        const [kh, kw] = fs;
        const [, h, w] = a.inputShape;
        const [, ho, wo] = dy.shape as number[];
        const pt = kh - 1 - info.padInfo.top;
        const pl = kw - 1 - info.padInfo.left;
        const pb = h - (ho as number) + kh - 1 - pt;
        const pr = w - (wo as number) + kw - 1 - pl;
        const rev = kernel('Reverse')({ inputs: { x: filter }, backend, attrs: { dims: [0, 1] } });
        const fT = kernel('Transpose')({ inputs: { x: rev }, backend, attrs: { perm: [0, 1, 3, 2] } });
        const dyP = kernel('PadV2')({
          inputs: { x: dy },
          backend,
          attrs: {
            paddings: [
              [0, 0],
              [pt, pb],
              [pl, pr],
              [0, 0],
            ],
            constantValue: 0,
          },
        });
        const out = kernel('Conv2D')({
          inputs: { x: dyP, filter: fT },
          backend,
          attrs: { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] },
        });
        disposeAll(backend, [rev, fT, dyP]);
        return out;
      },
    };
    tf.registerKernel(inputConfig as unknown as tf.KernelConfig);
    const stockMaxPoolGrad = kernel('MaxPoolGrad');
    tf.unregisterKernel('MaxPoolGrad', 'wasm');
    tf.registerKernel({
      kernelName: 'MaxPoolGrad',
      backendName: 'wasm',
      kernelFunc: (args) => {
        const { inputs, backend, attrs } = args as unknown as {
          inputs: { dy: tf.TensorInfo; input: tf.TensorInfo; output: tf.TensorInfo };
          backend: unknown;
          attrs: { filterSize: number | number[]; strides: number | number[]; pad: unknown };
        };
        const { dy, input, output } = inputs;
        const two = (v: number | number[]): boolean => (Array.isArray(v) ? v.every((d) => d === 2) : v === 2);
        const [, h, w] = input.shape as [number, number, number, number];
        if (!two(attrs.filterSize) || !two(attrs.strides) || attrs.pad !== 'valid' || h % 2 !== 0 || w % 2 !== 0) {
          return stockMaxPoolGrad(args as never);
        }
        // 2x2/2 windows: route dy to the window cells equal to the window's maximum (nearest-neighbour
        // upsampling of the pooled output and of dy lines each cell up with its window).
        const up = (t: tf.TensorInfo): tf.TensorInfo =>
          kernel('ResizeNearestNeighbor')({
            inputs: { images: t },
            backend,
            attrs: { size: [h, w], alignCorners: false, halfPixelCenters: false },
          });
        const yUp = up(output);
        const dyUp = up(dy);
        const eq = kernel('Equal')({ inputs: { a: input, b: yUp }, backend, attrs: {} });
        const mask = kernel('Cast')({ inputs: { x: eq }, backend, attrs: { dtype: 'float32' } });
        const dx = kernel('Multiply')({ inputs: { a: mask, b: dyUp }, backend, attrs: {} });
        disposeAll(backend, [yUp, dyUp, eq, mask]);
        return dx;
      },
    });
    tf.registerKernel({
      kernelName: 'Tile',
      backendName: 'wasm',
      kernelFunc: (args) => {
        const { inputs, backend, attrs } = args as unknown as { inputs: { x: tf.TensorInfo }; backend: unknown; attrs: { reps: number[] } };
        const { x } = inputs;
        if (x.dtype !== 'float32' || !attrs.reps.every((r, i) => r === 1 || x.shape[i] === 1)) return stockTile(args as never);
        const shape = x.shape.map((d, i) => d * (attrs.reps[i] as number));
        const zeros = kernel('Fill')({ inputs: {}, backend, attrs: { shape, value: 0, dtype: 'float32' } });
        const out = kernel('Add')({ inputs: { a: zeros, b: x }, backend, attrs: {} });
        disposeAll(backend, [zeros]);
        return out;
      },
    });
  }
}
