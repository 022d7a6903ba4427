/**
 * Deep Feature Factorization against pytorch-grad-cam / scikit-learn 1.2
 * (test/fixtures/cam-oracle-extra/dff): numpy's legacy normals, scikit-learn's random NMF
 * initialisation, its coordinate-descent solver on the stored float32 input and initialisation,
 * and the whole function on the oracle models (concepts, explanations, concept outputs). W and H
 * within 1e-4 (scikit-learn's own sensitivity to a 1-ulp change of its initialisation after 200
 * iterations is up to 8.3e-5, float64 vs float32 up to 8.9e-5; 1.5e-4 when X comes through the
 * model's layers), explanations within 2e-4.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import { OptionError, deepFeatureFactorization } from '../../src/index.js';
import { legacyStandardNormal, nmfCoordinateDescent, randomInit } from '../../src/methods/nmf.js';
import { extra, loadAnyOracleModel, maxDiff, printMeasured, record } from '../helpers/extra-fixtures.js';
import { oracleInputs } from '../helpers/fixtures.js';
import { expectModelUnchanged, expectNoLeak, expectThrowsClean, snapshotModel } from '../helpers/integrity.js';

type Nested = number | Nested[];
interface DffCase {
  model: string;
  input_ids: string[];
  n_components: number;
  offset: number[];
  X?: number[][];
  W0?: number[][];
  H0?: number[][];
  W: number[][];
  H: number[][];
  n_iter: number;
  reconstruction_err: number;
  concept_outputs: number[][];
  explanations?: number[][][][];
}

afterAll(() => printMeasured('DFF vs scikit-learn'));

describe('the NMF pieces', () => {
  const f = extra<DffCase>('dff/a_sequential_in0_k5.json');

  it("draws numpy's legacy RandomState(0).standard_normal exactly (first values)", () => {
    // numpy: np.random.RandomState(0).standard_normal(4)
    const ref = [1.764052345967664, 0.4001572083672233, 0.9787379841057392, 2.240893199201458];
    const ours = Array.from(legacyStandardNormal(0, 4));
    ours.forEach((v, i) => expect(v).toBe(ref[i]));
  });

  it("makes scikit-learn's random initialisation from the stored X", () => {
    const x = tf.tensor2d(f.X as number[][]);
    const { w, h } = randomInit(x, 5, 0);
    const ew = record('init W0', maxDiff(w, f.W0 as Nested));
    const eh = record('init H0', maxDiff(h, f.H0 as Nested));
    // float32 mean on the device vs numpy's pairwise float32 mean: a few ulps of avg (values < 1).
    expect(ew).toBeLessThan(5e-7);
    expect(eh).toBeLessThan(5e-7);
    tf.dispose([x, w, h]);
  });

  it("reproduces scikit-learn's coordinate descent from the stored X, W0, H0 (200 iterations)", () => {
    const x = tf.tensor2d(f.X as number[][]);
    const w0 = tf.tensor2d(f.W0 as number[][]);
    const h0 = tf.tensor2d(f.H0 as number[][]);
    const r = nmfCoordinateDescent(x, w0, h0);
    expect(r.iterations.dataSync()[0]).toBe(f.n_iter);
    expect(record('NMF W (stored input)', maxDiff(r.w, f.W))).toBeLessThan(1e-4);
    expect(record('NMF H (stored input)', maxDiff(r.h, f.H))).toBeLessThan(1e-4);
    tf.dispose([x, w0, h0, r.w, r.h, r.iterations]);
  });
});

describe('deepFeatureFactorization', () => {
  const files = extra<string[]>('dff/index.json');
  it.each(files.map((file) => [file] as const))('%s', async (file) => {
    const f = extra<DffCase>(file);
    const model = await loadAnyOracleModel(f.model);
    const all = tf.tensor4d(oracleInputs(f.model).data);
    const input = f.input_ids.length === 2 ? all : (tf.slice(all, [f.input_ids[0] === 'in0' ? 0 : 1], [1]) as tf.Tensor4D);
    const head = model.getLayer(f.model === 'b_residual' ? 'logits' : 'predictions');
    const r = deepFeatureFactorization(model, input, {
      layer: 'last_conv',
      components: f.n_components,
      computeOnConcepts: (c) => head.apply(c) as tf.Tensor,
    });
    const k = f.n_components;
    if (f.n_iter === 200) expect(r.iterations.dataSync()[0]).toBe(200);
    else expect(Math.abs((r.iterations.dataSync()[0] as number) - f.n_iter)).toBeLessThanOrEqual(2);
    // concepts = W^T + offset
    const w = tf.tidy(() => tf.sub(tf.transpose(r.concepts), tf.reshape(tf.tensor1d(f.offset), [-1, 1])));
    // Through the model's layers (their rounding moves X by ~1e-7 before 200 iterations): 1.5e-4.
    expect(record(`W k${k}`, maxDiff(w, f.W))).toBeLessThan(1.5e-4);
    expect(record(`concept outputs k${k}`, maxDiff(r.conceptOutputs as tf.Tensor, f.concept_outputs))).toBeLessThan(1.5e-4);
    expect(Math.abs((r.reconstructionError.dataSync()[0] as number) - f.reconstruction_err)).toBeLessThan(
      1e-4 * Math.max(1, f.reconstruction_err),
    );
    if (f.explanations !== undefined) {
      expect(record(`explanations k${k}`, maxDiff(r.explanations, f.explanations as Nested))).toBeLessThan(2e-4);
    }
    expect(r.explanations.shape).toEqual([input.shape[0], k, all.shape[1], all.shape[2]]);
    expect(r.layer).toBe('last_conv');
    tf.dispose([r.concepts, r.explanations, r.conceptOutputs as tf.Tensor, r.iterations, r.reconstructionError, w, all, input]);
    model.dispose();
  });

  it('leaks nothing, leaves the model unchanged, refuses bad options cleanly', async () => {
    const model: tfl.LayersModel = await loadAnyOracleModel('a_sequential');
    const x = tf.tensor4d(oracleInputs('a_sequential').data);
    const before = snapshotModel(model, x);
    expectNoLeak(() => {
      const r = deepFeatureFactorization(model, x, { components: 3, maxIterations: 20, resize: false });
      expect(r.explanations.shape).toEqual([2, 3, 16, 16]);
      expect(r.conceptOutputs).toBeUndefined();
      return r as unknown as tf.TensorContainer;
    });
    expectModelUnchanged(model, x, before);
    expectThrowsClean(() => deepFeatureFactorization(model, x, { components: 0 }), OptionError, /components/);
    expectThrowsClean(() => deepFeatureFactorization(model, x, { computeOnConcepts: 3 as never }), OptionError, /computeOnConcepts/);
    x.dispose();
    model.dispose();
  });
});
