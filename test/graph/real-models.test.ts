/**
 * Smoke test on a real converted graph model (nsfwjs mobilenet_v2_mid, fetched from the npm
 * registry into node_modules/.cache/tfcam-test-models by scripts/test-models/). Skipped, with the
 * reason, when the model cannot be had. More real models run only with TFCAM_REAL_MODELS=1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  loadTestGraphModel,
  TEST_MODEL_NAMES,
  TEST_MODELS,
  testModelInputShape,
  testModelsSkipReason,
  type TestModelName,
} from '../helpers/graph-test-models.js';

const skip = await testModelsSkipReason(['mobilenet_v2_mid']);

describe.skipIf(skip !== undefined)(`real graph model mobilenet_v2_mid${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('loads from the npm bundle and execute gives a [1, 5] softmax', async () => {
    const before = tf.memory().numTensors;
    const model = await loadTestGraphModel('mobilenet_v2_mid');
    try {
      expect(model.inputNodes).toEqual(['input:0']);
      expect(model.outputNodes).toEqual(['Identity:0']);
      const p = tf.tidy(() => {
        const x = tf.randomUniform([1, ...testModelInputShape('mobilenet_v2_mid')], 0, 1, 'float32', 5);
        const y = model.execute(x) as tf.Tensor;
        expect(y.shape).toEqual([1, 5]);
        return Array.from(y.dataSync());
      });
      expect(p.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    } finally {
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

const extra = process.env['TFCAM_REAL_MODELS'] === '1';
const others = TEST_MODEL_NAMES.filter((n) => n !== 'mobilenet_v2_mid');
const extraSkip = extra ? await testModelsSkipReason(others) : 'opt-in: set TFCAM_REAL_MODELS=1';

describe.skipIf(extraSkip !== undefined)(`more real graph models${extraSkip ? ` (skipped: ${extraSkip})` : ''}`, () => {
  it.each(others.map((n) => [n]))('%s loads and executes on its input shape', async (name: TestModelName) => {
    const model = await loadTestGraphModel(name);
    try {
      tf.tidy(() => {
        const x = tf.randomUniform([2, ...testModelInputShape(name)], 0, 1, 'float32', 5);
        const ys = model.execute(x);
        for (const y of Array.isArray(ys) ? ys : [ys as tf.Tensor]) {
          expect(y.shape[0]).toBe(2);
          expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
        }
      });
    } finally {
      model.dispose();
    }
    expect(TEST_MODELS[name].about.length).toBeGreaterThan(0);
  });
});
