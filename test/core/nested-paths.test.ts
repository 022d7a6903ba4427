/**
 * Layer paths of nested models as the user sees them in `model.layers`, wherever tfjs-layers puts
 * them in the graph: a model added as the first layer of a Sequential is inlined into the
 * Sequential's graph (no call of its own), yet its layers are `'base/...'` to the user.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerError, activationsAndGradients, gradCam } from '../../src/index.js';
import { expectThrowsClean } from '../helpers/integrity.js';
import { seedWeights } from '../helpers/models.js';

function convBase(name: string, size = 12): tfl.LayersModel {
  const x = tfl.input({ shape: [size, size, 3], name: `${name}_in` });
  const c1 = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1' })
    .apply(x) as tfl.SymbolicTensor;
  const c2 = tfl.layers
    .conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu', name: 'last_conv' })
    .apply(c1) as tfl.SymbolicTensor;
  return tfl.model({ inputs: x, outputs: c2, name });
}

function head(): tfl.layers.Layer[] {
  return [tfl.layers.globalAveragePooling2d({ name: 'gap' }), tfl.layers.dense({ units: 3, name: 'out' })];
}

const models: tfl.LayersModel[] = [];
function keep(m: tfl.LayersModel): tfl.LayersModel {
  seedWeights(m);
  models.push(m);
  return m;
}

let x: tf.Tensor4D;
beforeAll(() => {
  x = tf.randomUniform([2, 12, 12, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
});
afterAll(() => {
  for (const m of models) m.dispose();
  x.dispose();
});

/** Grad-CAM of the same network at the same layer, given a reference path, must agree. */
function expectSameMap(a: tfl.LayersModel, aLayer: string, b: tfl.LayersModel, bLayer: string): void {
  const ra = gradCam(a, x, { layer: aLayer, target: 1 });
  const rb = gradCam(b, x, { layer: bLayer, target: 1 });
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(ra.heatmap, rb.heatmap))).dataSync()[0] as number);
  expect(diff).toBeLessThan(1e-6);
  tf.dispose([ra, rb]);
}

describe('a functional model as the first layer of a Sequential (inlined by tfjs-layers)', () => {
  let model: tfl.LayersModel;
  beforeAll(() => {
    model = keep(tfl.sequential({ layers: [convBase('base'), ...head()] }));
  });

  it("is known as 'base/last_conv', and 'last_conv' resolves to it", () => {
    expect(model.layers[0]?.name).toBe('base');
    for (const layer of ['base/last_conv', 'last_conv', undefined]) {
      const r = gradCam(model, x, layer === undefined ? {} : { layer });
      expect(r.layer).toBe('base/last_conv');
      expect(r.heatmap.shape).toEqual([2, 12, 12]);
      tf.dispose(r);
    }
  });

  it("resolves 'base' itself to the nested model's output", () => {
    const byModel = activationsAndGradients(model, x, { layer: 'base', target: 0 });
    const byLayer = activationsAndGradients(model, x, { layer: 'base/last_conv', target: 0 });
    expect(byModel.layer).toBe('base');
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(byModel.gradients, byLayer.gradients))).dataSync()[0])).toBe(0);
    tf.dispose([byModel, byLayer]);
  });

  it('lists only paths that resolve when a name is wrong', () => {
    const e = expectThrowsClean(
      () => gradCam(model, x, { layer: 'nope' }),
      LayerError,
      /'layer' must name a layer of the model, but got 'nope'\. Use one of: /,
    );
    const listed = /Use one of: (.*) \(nested layers/.exec(e.message)?.[1]?.split(', ') ?? [];
    expect(listed).toEqual(expect.arrayContaining(['base/conv1', 'base/last_conv', 'base']));
    for (const path of listed) {
      const r = activationsAndGradients(model, x, { layer: path, target: 0 });
      expect(r.layer).toBe(path);
      tf.dispose(r);
    }
  });
});

describe('other nestings', () => {
  it('a Sequential inside a Sequential, as the first layer', () => {
    const inner = tfl.sequential({
      name: 'inner',
      layers: [
        tfl.layers.conv2d({ inputShape: [12, 12, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_a' }),
        tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_b' }),
      ],
    });
    const model = keep(tfl.sequential({ layers: [inner, ...head()] }));
    const r = gradCam(model, x, { layer: 'inner/conv_a', target: 2 });
    expect(r.layer).toBe('inner/conv_a');
    tf.dispose(r);
    const d = gradCam(model, x);
    expect(d.layer).toBe('inner/conv_b');
    tf.dispose(d);
  });

  it('a model nested two deep, first layer at both levels', () => {
    const deep = convBase('deep');
    const middle = tfl.sequential({ name: 'middle', layers: [deep, tfl.layers.conv2d({ filters: 3, kernelSize: 1, name: 'mix' })] });
    const model = keep(tfl.sequential({ layers: [middle, ...head()] }));
    for (const [ref, path] of [
      ['middle/deep/last_conv', 'middle/deep/last_conv'],
      ['last_conv', 'middle/deep/last_conv'],
      ['middle/mix', 'middle/mix'],
      ['middle/deep', 'middle/deep'],
    ] as const) {
      const r = activationsAndGradients(model, x, { layer: ref, target: 0 });
      expect(r.layer).toBe(path);
      tf.dispose(r);
    }
  });

  it('a nested model that is not the first layer (called, not inlined) gives the same maps', () => {
    const inlined = keep(tfl.sequential({ layers: [convBase('base'), ...head()] }));
    const called = keep(
      tfl.sequential({
        layers: [
          tfl.layers.reshape({ inputShape: [12, 12, 3], targetShape: [12, 12, 3], name: 'same_shape' }),
          convBase('base'),
          ...head(),
        ],
      }),
    );
    called.setWeights(inlined.getWeights());
    const r = gradCam(called, x, { layer: 'base/last_conv' });
    expect(r.layer).toBe('base/last_conv');
    tf.dispose(r);
    expectSameMap(inlined, 'base/last_conv', called, 'base/last_conv');
    expectSameMap(inlined, 'last_conv', called, 'last_conv');
  });
});
