import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { InputError, ModelError, OptionError, gradCam, gradCamCallback, layerCam } from '../../src/index.js';
import { maxAbsDiff } from '../helpers/close.js';
import { expectThrowsClean } from '../helpers/integrity.js';
import { image, seedWeights } from '../helpers/models.js';

function tinyClassifier(): tfl.LayersModel {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [12, 12, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }),
      tfl.layers.batchNormalization({ name: 'bn' }),
      tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'last_conv' }),
      tfl.layers.dropout({ rate: 0.3 }),
      tfl.layers.globalAveragePooling2d({}),
      tfl.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  seedWeights(model, 21);
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
  return model;
}

/** Dropout draws its masks from Math.random during fit: both runs get the same seeded stream. */
async function train(model: tfl.LayersModel, xs: tf.Tensor, ys: tf.Tensor, callbacks: object[]): Promise<void> {
  const original = Math.random;
  let seed = 1;
  Math.random = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  try {
    await model.fit(xs, ys, { epochs: 4, batchSize: 4, shuffle: false, callbacks, verbose: 0 });
  } finally {
    Math.random = original;
  }
}

// model.fit needs Conv2DBackpropFilter, which the wasm backend does not have: training runs on cpu.
const onCpu = process.env['TFCAM_BACKEND'] === 'cpu';

describe('gradCamCallback', () => {
  it.skipIf(!onCpu)(
    'explains fixed images every n-th epoch of a real model.fit, without changing the training (cpu: wasm cannot train convs)',
    async () => {
      const xs = image(8, 12, 3, 31);
      const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3);
      const sample = image(2, 12, 3, 32);

      const plain = tinyClassifier();
      await train(plain, xs, ys, []);

      const watched = tinyClassifier();
      const seen: Array<{ epoch: number; shape: number[]; maps: Float32Array; layer: string }> = [];
      const callback = gradCamCallback({
        model: watched,
        images: sample,
        every: 2,
        layer: 'last_conv',
        target: 1,
        onCams: async (epoch, r) => {
          seen.push({ epoch, shape: r.heatmap.shape, maps: (await r.heatmap.data()) as Float32Array, layer: r.layer });
        },
      });
      const before = tf.memory().numTensors;
      await train(watched, xs, ys, [callback]);
      // Called after epochs 2 and 4 (0-based 1 and 3), with its own result each time.
      expect(seen.map((s) => s.epoch)).toEqual([1, 3]);
      expect(seen[0]?.shape).toEqual([2, 12, 12]);
      expect(seen[0]?.layer).toBe('last_conv');
      // The last map equals Grad-CAM of the trained model: the callback saw the model as trained so far.
      const final = gradCam(watched, sample, { layer: 'last_conv', target: 1 });
      expect(maxAbsDiff(final.heatmap, Array.from(seen[1]?.maps ?? []))).toBeLessThan(1e-6);
      final.heatmap.dispose();
      tf.dispose([final.classIndex, final.score]);
      // The training is unchanged: same weights as the run without the callback.
      const a = plain.getWeights();
      const b = watched.getWeights();
      a.forEach((w, i) => expect(maxAbsDiff(w, (b[i] as tf.Tensor).arraySync() as number[])).toBe(0));
      // The callback's tensors are all freed (fit's own bookkeeping aside, nothing accumulates).
      expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 2);
      tf.dispose([xs, ys, sample]);
      plain.dispose();
      watched.dispose();
    },
  );

  it('uses the chosen method and disposes the result after onCams settles', async () => {
    const model = tinyClassifier();
    const sample = image(1, 12, 3, 33);
    let kept: tf.Tensor | null = null;
    const start = tf.memory().numTensors;
    const cb = gradCamCallback({
      model,
      images: sample,
      method: layerCam,
      onCams: (_e, r) => {
        kept = r.heatmap;
      },
    });
    await cb.onEpochEnd(0);
    expect(kept).not.toBeNull();
    expect((kept as unknown as tf.Tensor).isDisposed).toBe(true);
    expect(tf.memory().numTensors).toBe(start);
    sample.dispose();
    model.dispose();
  });

  it('rejects bad options up front', () => {
    const model = tinyClassifier();
    const sample = image(1, 12, 3, 34);
    const onCams = (): void => undefined;
    expectThrowsClean(
      () => gradCamCallback({ model: {} as never, images: sample, onCams }),
      ModelError,
      /^gradCamCallback: 'options\.model' must be the tf\.LayersModel being trained/,
    );
    expectThrowsClean(
      () => gradCamCallback({ model, images: [1] as never, onCams }),
      InputError,
      /'options\.images' must be a \[B, H, W, C\]/,
    );
    expectThrowsClean(
      () => gradCamCallback({ model, images: sample, onCams: 3 as never }),
      OptionError,
      /'options\.onCams' must be a function/,
    );
    expectThrowsClean(
      () => gradCamCallback({ model, images: sample, onCams, every: 0 }),
      OptionError,
      /'options\.every' must be a positive integer, but got 0/,
    );
    sample.dispose();
    model.dispose();
  });
});
