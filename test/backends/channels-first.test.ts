/**
 * Channels-first Conv2D / DepthwiseConv2D above the target layer: tfcam replays them (transposed
 * around its NHWC convolutions) instead of tfjs-layers' fused kernels, whose gradients need
 * `Conv2DBackpropFilter` / `DepthwiseConv2dNativeBackpropInput` (missing on wasm). Checked on the
 * project's backend against a stock-gradient reference computed on cpu.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradCam } from '../../src/index.js';
import { maxAbsDiff } from '../helpers/close.js';
import { onCpu, referenceGradCam } from '../helpers/reference.js';
import { channelsFirstModel } from './suite.js';
import { traceKernels } from './tools.js';

const skip = process.env['TFCAM_BACKEND_SKIP'] || undefined;

describe.skipIf(skip !== undefined)(skip ?? 'channels-first convolutions in the head', () => {
  let model: tfl.LayersModel;
  let x: tf.Tensor4D;
  beforeAll(() => {
    model = channelsFirstModel();
    x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
  });
  afterAll(() => {
    model.dispose();
    x.dispose();
  });

  it('gives the stock-gradient Grad-CAM, without filter-gradient kernels', async () => {
    const backend = tf.getBackend();
    const layers = model.layers.slice(1);
    const reference = await onCpu(() => {
      const first = model.getLayer('first');
      const r = referenceGradCam(
        (v) => first.apply(v) as tf.Tensor,
        (a) => layers.slice(1).reduce<tf.Tensor>((t, l) => l.apply(t) as tf.Tensor, a),
        x,
        [0, 2],
        { size: [8, 8] },
      );
      const map = r.map.arraySync();
      tf.dispose(r);
      return map;
    });
    expect(tf.getBackend()).toBe(backend);
    const { value, kernels } = await traceKernels(() => gradCam(model, x, { layer: 'first', target: [0, 2] }));
    expect(maxAbsDiff(value.heatmap, reference)).toBeLessThanOrEqual(1e-4);
    expect(
      [...kernels].filter((k) => /BackpropFilter|DepthwiseConv2dNativeBackpropInput/.test(k) && (backend === 'wasm' || /Filter/.test(k))),
    ).toEqual([]);
    tf.dispose(value);
  });
});
