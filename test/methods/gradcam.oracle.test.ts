import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradCam } from '../../src/index.js';
import { expectCloseAbsolute, expectCloseRelative } from '../helpers/close.js';
import { ORACLE_MODELS, loadOracleModel, oracleCases, oracleInputs } from '../helpers/fixtures.js';

describe.each(ORACLE_MODELS)('gradCam matches pytorch-grad-cam on %s', (name) => {
  let model: tfl.LayersModel;
  let inputs: tf.Tensor4D;
  const cases = oracleCases(name);

  beforeAll(async () => {
    model = await loadOracleModel(name);
    inputs = tf.tensor4d(oracleInputs(name).data);
  });
  afterAll(() => {
    model.dispose();
    inputs.dispose();
  });

  it.each(cases.map((c) => [c.file, c] as const))('%s', (_file, c) => {
    const x = tf.slice(inputs, [c.input_index], [1]);
    const logits = c.variant !== 'probs';
    const ref = c.methods['GradCAM'];
    expect(ref).toBeDefined();
    if (ref === undefined) return;
    const common = { layer: 'last_conv', target: c.class_index, logits } as const;

    const raw = gradCam(model, x, { ...common, relu: false, normalize: false, resize: false });
    expect(raw.layer).toBe('last_conv');
    expect(raw.classIndex.dataSync()[0]).toBe(c.class_index);
    expect(Math.abs((raw.score.dataSync()[0] as number) - c.score)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(c.score)));
    expectCloseRelative(tf.squeeze(raw.heatmap, [0]), ref.raw, 1e-5);

    const rawRelu = gradCam(model, x, { ...common, normalize: false, resize: false });
    expectCloseRelative(tf.squeeze(rawRelu.heatmap, [0]), ref.raw_relu, 1e-5);

    const final = gradCam(model, x, common);
    expect(final.heatmap.shape).toEqual([1, inputs.shape[1], inputs.shape[2]]);
    expectCloseAbsolute(tf.squeeze(final.heatmap, [0]), ref.final, 1e-4);
    tf.dispose([x, raw, rawRelu, final]);
  });
});
