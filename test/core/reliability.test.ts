import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { gradCam } from '../../src/index.js';
import { expectModelUnchanged, snapshotModel } from '../helpers/integrity.js';
import { dagModel, image, multiInputModel, multiOutputModel, nestedModel, sequentialModel, seedWeights } from '../helpers/models.js';

describe('gradCam leaves no trace', () => {
  const cases: Array<[string, () => { model: tfl.LayersModel; input: tf.Tensor | tf.Tensor[]; options?: object }]> = [
    ['sequential', () => sequentialModel()],
    ['functional DAG', () => ({ ...dagModel(), options: { layer: 'bn' } })],
    ['nested', () => ({ ...nestedModel(), options: { layer: 'base/last_conv' } })],
    [
      'multi-input',
      () => {
        const t = multiInputModel();
        return { model: t.model, input: t.inputs };
      },
    ],
    ['multi-output', () => ({ ...multiOutputModel(), options: { layer: 'trunk', outputIndex: 1 } })],
  ];

  it.each(cases)('frees every intermediate and leaves the %s model bit-identical', (_name, make) => {
    const t = make();
    const before = snapshotModel(t.model, t.input);
    const start = tf.memory().numTensors;
    const r = gradCam(t.model, t.input as tf.Tensor4D, t.options as object);
    // Exactly the result's four tensors survive (heatmap, classIndex, score, output).
    expect(tf.memory().numTensors).toBe(start + 4);
    tf.dispose(r);
    expect(tf.memory().numTensors).toBe(start);
    expectModelUnchanged(t.model, t.input, before);
    // The input is neither disposed nor modified.
    for (const x of Array.isArray(t.input) ? t.input : [t.input]) expect(x.isDisposed).toBe(false);
    tf.dispose(t.input);
    t.model.dispose();
  });

  it('is safe inside a caller tf.tidy', () => {
    const t = sequentialModel();
    const start = tf.memory().numTensors;
    const kept = tf.tidy(() => gradCam(t.model, t.input as tf.Tensor4D).heatmap);
    expect(tf.memory().numTensors).toBe(start + 1);
    kept.dispose();
    t.model.dispose();
    t.input.dispose();
  });

  it('shows no growth over 1000 repeated calls (tensors and bytes)', () => {
    const t = sequentialModel();
    const x = tf.slice(t.input, [0], [1]) as tf.Tensor4D;
    const warm = gradCam(t.model, x);
    tf.dispose(warm);
    const start = tf.memory();
    for (let i = 0; i < 1000; i++) tf.dispose(gradCam(t.model, x, { target: i % 5 }));
    const end = tf.memory();
    expect(end.numTensors).toBe(start.numTensors);
    expect(end.numBytes).toBe(start.numBytes);
    tf.dispose([x, t.input]);
    t.model.dispose();
  });

  it('reads nothing back from the device with validate: false', () => {
    const t = dagModel();
    const backend = tf.backend() as unknown as { readSync: (id: unknown) => unknown; read: (id: unknown) => unknown };
    const origSync = backend.readSync;
    const orig = backend.read;
    let reads = 0;
    backend.readSync = function (this: unknown, id: unknown) {
      reads++;
      return origSync.call(this, id);
    };
    backend.read = function (this: unknown, id: unknown) {
      reads++;
      return orig.call(this, id);
    };
    try {
      const r = gradCam(t.model, t.input as tf.Tensor4D, { validate: false });
      expect(reads).toBe(0);
      // With validation on (the cpu/wasm default), exactly one value is read back.
      const r2 = gradCam(t.model, t.input as tf.Tensor4D);
      expect(reads).toBe(1);
      tf.dispose([r, r2]);
    } finally {
      backend.readSync = origSync;
      backend.read = orig;
    }
    t.model.dispose();
    t.input.dispose();
  });
});

describe('gradCam memory stays at the floor', () => {
  /** Deep body (10 wide 3x3 convs at 48x48), small head (GAP + Dense). */
  function deepBodyModel(): tfl.LayersModel {
    const inp = tfl.input({ shape: [48, 48, 3] });
    let x = inp as tfl.SymbolicTensor;
    for (let i = 0; i < 10; i++) {
      x = tfl.layers
        .conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', name: `conv${i}` })
        .apply(x) as tfl.SymbolicTensor;
    }
    const y = tfl.layers.dense({ units: 10, name: 'fc' }).apply(tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x));
    const m = tfl.model({ inputs: inp, outputs: y as tfl.SymbolicTensor });
    seedWeights(m, 3);
    return m;
  }

  it('peaks within 1.3x of the largest activation set of the body, far below the whole network', async () => {
    const model = deepBodyModel();
    const x = image(4, 48, 3, 9);
    const base = tf.memory().numBytes;
    // The floor: the body layers run one at a time, each input freed after use.
    const floor = await tf.profile(() => {
      let t: tf.Tensor = x;
      for (let i = 0; i < 10; i++) {
        const next = model.getLayer(`conv${i}`).apply(t) as tf.Tensor;
        if (t !== x) t.dispose();
        t = next;
      }
      t.dispose();
    });
    const floorPeak = floor.peakBytes - base;
    const ours = await tf.profile(() => {
      tf.dispose(gradCam(model, x, { layer: 'conv9' }));
    });
    const oursPeak = ours.peakBytes - base;
    // Whole model under the tape (the naive "probe" approach): every activation stays alive.
    const naive = await tf.profile(() => {
      tf.dispose(tf.grad((t: tf.Tensor) => tf.sum(model.apply(t) as tf.Tensor))(x));
    });
    const naivePeak = naive.peakBytes - base;
    const oneActivation = 4 * 48 * 48 * 32 * 4;
    expect(floorPeak).toBeGreaterThanOrEqual(2 * oneActivation);
    expect(oursPeak / floorPeak).toBeLessThanOrEqual(1.3);
    expect(naivePeak / floorPeak).toBeGreaterThan(3);
    x.dispose();
    model.dispose();
  });
});
