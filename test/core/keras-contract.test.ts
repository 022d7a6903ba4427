/**
 * tfcam replays some tfjs-layers classes itself, reading their fields (src/models/layers/keras-types.ts,
 * LAYER_FIELDS). This pins that coupling: every field tfcam reads exists, with the type tfcam expects,
 * on the real class of the installed tfjs-layers. A release that renames or retypes one fails here,
 * instead of tfcam silently falling back to the stock layer (and its slow or wrong gradient).
 */
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import type { KerasFields, ReplayedClass } from '../../src/models/layers/keras-types.js';
import { LAYER_FIELDS } from '../../src/models/layers/keras-types.js';

type Kind = 'variable' | 'variable?' | 'boolean' | 'number' | 'number?' | 'string' | 'ints' | 'ints?' | 'activation' | 'variables';

/** What each field must hold on a real layer (built with every option that makes it meaningful). */
const KINDS: { readonly [K in keyof KerasFields]: Kind } = {
  kernel: 'variable',
  bias: 'variable?',
  depthwiseKernel: 'variable',
  pointwiseKernel: 'variable',
  movingMean: 'variable',
  movingVariance: 'variable',
  gamma: 'variable?',
  beta: 'variable?',
  useBias: 'boolean',
  strides: 'ints?',
  padding: 'string',
  dilationRate: 'ints',
  dataFormat: 'string',
  activation: 'activation',
  rank: 'number',
  scale: 'boolean',
  center: 'boolean',
  epsilon: 'number',
  axis: 'ints',
  poolSize: 'ints',
  size: 'ints',
  interpolation: 'string',
  theta: 'number',
  maxValue: 'number?',
  weights: 'variables',
};

/** A real, built layer of each replayed class, and the input rank it takes. */
const LAYERS: { readonly [C in ReplayedClass]: () => [tfl.layers.Layer, number[]] } = {
  Conv2D: () => [tfl.layers.conv2d({ filters: 2, kernelSize: 3, strides: 2, dilationRate: 1, activation: 'relu' }), [8, 8, 3]],
  DepthwiseConv2D: () => [tfl.layers.depthwiseConv2d({ kernelSize: 3, activation: 'relu6' }), [8, 8, 3]],
  SeparableConv2D: () => [tfl.layers.separableConv2d({ filters: 2, kernelSize: 3 }), [8, 8, 3]],
  Dense: () => [tfl.layers.dense({ units: 2, activation: 'softmax' }), [5]],
  BatchNormalization: () => [tfl.layers.batchNormalization({}), [4, 4, 3]],
  AveragePooling2D: () => [tfl.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }), [4, 4, 3]],
  MaxPooling2D: () => [tfl.layers.maxPooling2d({ poolSize: 2, strides: 1 }), [4, 4, 3]],
  AveragePooling1D: () => [tfl.layers.averagePooling1d({ poolSize: 2, strides: 1, padding: 'same' }), [6, 3]],
  MaxPooling1D: () => [tfl.layers.maxPooling1d({ poolSize: 2, strides: 1 }), [6, 3]],
  GlobalAveragePooling2D: () => [tfl.layers.globalAveragePooling2d({}), [4, 4, 3]],
  GlobalMaxPooling2D: () => [tfl.layers.globalMaxPooling2d({}), [4, 4, 3]],
  GlobalMaxPooling1D: () => [tfl.layers.globalMaxPooling1d({}), [6, 3]],
  UpSampling2D: () => [tfl.layers.upSampling2d({ size: [2, 3], interpolation: 'bilinear' }), [4, 4, 3]],
  ThresholdedReLU: () => [tfl.layers.thresholdedReLU({ theta: 0.5 }), [4]],
  Activation: () => [tfl.layers.activation({ activation: 'sigmoid' }), [4]],
  ReLU: () => [tfl.layers.reLU({ maxValue: 6 }), [4]],
  Softmax: () => [tfl.layers.softmax({}), [4]],
};

function holds(kind: Kind, v: unknown): boolean {
  const isVar = (x: unknown): boolean => x !== null && typeof x === 'object' && typeof (x as { read?: unknown }).read === 'function';
  const ints = (x: unknown): boolean => typeof x === 'number' || (Array.isArray(x) && x.every((d) => typeof d === 'number'));
  switch (kind) {
    case 'variable':
      return isVar(v);
    case 'variable?':
      return v === null || isVar(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'number':
      return typeof v === 'number';
    case 'number?':
      return v === null || typeof v === 'number';
    case 'string':
      return typeof v === 'string';
    case 'ints':
      return ints(v);
    case 'ints?':
      return v === null || ints(v);
    case 'activation':
      return (
        v !== null &&
        typeof v === 'object' &&
        typeof (v as { getClassName?: unknown }).getClassName === 'function' &&
        typeof (v as { apply?: unknown }).apply === 'function'
      );
    case 'variables':
      return Array.isArray(v) && v.every(isVar);
  }
}

describe(`tfjs-layers ${tfl.version_layers}: the fields tfcam reads exist, with the types it expects`, () => {
  it('every class in LAYER_FIELDS has a real layer here', () => {
    expect(Object.keys(LAYERS).sort()).toEqual(Object.keys(LAYER_FIELDS).sort());
  });

  it.each(Object.keys(LAYER_FIELDS) as ReplayedClass[])('%s', (cls) => {
    const [layer, shape] = LAYERS[cls]();
    layer.apply(tfl.input({ shape }));
    expect(layer.getClassName()).toBe(cls);
    const fields = [...LAYER_FIELDS[cls], 'weights' as const];
    const record = layer as unknown as Record<string, unknown>;
    const wrong = fields.filter((f) => !(f in record) || !holds(KINDS[f], record[f])).map((f) => `${f}: ${String(record[f])}`);
    expect(wrong).toEqual([]);
    // The variables read through read() are tensors of the layer's weights.
    for (const f of fields) {
      const v = record[f] as { read?: () => tf.Tensor } | null;
      if (KINDS[f].startsWith('variable') && v !== null && typeof v.read === 'function') expect(Array.isArray(v.read().shape)).toBe(true);
    }
    layer.dispose();
  });
});
