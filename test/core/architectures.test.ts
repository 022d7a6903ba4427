/**
 * Grad-CAM on real Keras architectures (MobileNetV2, InceptionV3), built at small size with their
 * exact topology. Correctness is checked against an independent reference: the layers above the
 * target replayed with their *stock* tfjs implementations under plain `tf.grad` (on the cpu
 * backend), except for two layers stock tfjs cannot differentiate correctly, which the reference
 * writes its own way: BatchNormalization(scale: false) as `tf.batchNorm` with an explicit unit scale
 * (tfjs#2868 crashes otherwise) and 'same' AveragePooling2D as a depthwise sum over a count map
 * (tfjs' AvgPoolGrad is wrong at the borders). None of tfcam's applier code is used by the reference.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStock } from '../../src/models/layers/applier.js';
import type { Step } from '../../src/models/layers/graph.js';
import type { ContainerLike } from '../../src/models/layers/keras-types.js';
import { layersExplainable } from '../../src/models/layers/model.js';
import type { Plan } from '../../src/models/layers/plan.js';
import { planOf } from '../../src/models/layers/plan.js';
import { runBody } from '../../src/models/layers/runner.js';
import { activationsAndGradients, gradCam } from '../../src/index.js';
import { buildInceptionV3, buildMobileNetV2 } from '../helpers/architectures.js';
import { avgPoolSameReference, onCpu } from '../helpers/reference.js';

type Weighted = { read(): tf.Tensor };

/** tfcam's body/head split of the model at `layer` (its plan). */
function planAt(m: ContainerLike, layer: string): Plan {
  const resolved = layersExplainable('t', m).resolveLayer('t', layer, undefined, 0);
  return planOf(m, resolved.id as number, 0) as Plan;
}

/** One layer of the reference head. */
function referenceApply(step: Step, ins: tf.Tensor[], correctAvgPool: boolean): tf.Tensor[] {
  const layer = step.layer as unknown as Record<string, unknown> & { getClassName(): string };
  const cls = layer.getClassName();
  if (cls === 'BatchNormalization' && layer['scale'] === false) {
    const x = ins[0] as tf.Tensor4D;
    const mean = (layer['movingMean'] as Weighted).read() as tf.Tensor1D;
    const variance = (layer['movingVariance'] as Weighted).read() as tf.Tensor1D;
    const beta = layer['center'] === false ? undefined : ((layer['beta'] as Weighted).read() as tf.Tensor1D);
    return [tf.batchNorm(x, mean, variance, beta, tf.onesLike(mean), layer['epsilon'] as number)];
  }
  if (correctAvgPool && cls === 'AveragePooling2D' && layer['padding'] === 'same') {
    const pool = (layer['poolSize'] as number[])[0] as number;
    const stride = (layer['strides'] as number[])[0] as number;
    return [avgPoolSameReference(ins[0] as tf.Tensor4D, pool, stride)];
  }
  return applyStock(step, ins);
}

/** Reference Grad-CAM weights (mean over space of dS/dA) for one image, computed on cpu. */
async function referenceWeights(
  model: tfl.LayersModel,
  x: tf.Tensor4D,
  layer: string,
  cls: number,
  correctAvgPool = true,
): Promise<number[]> {
  return onCpu(() =>
    tf.tidy(() => {
      const m = model as unknown as ContainerLike;
      const plan = planAt(m, layer);
      const frontier = runBody(plan, [x]);
      const g = tf.grad((a: tf.Tensor) => {
        const values = new Map<number, tf.Tensor>(frontier);
        values.set(plan.targetValue, a);
        for (const step of plan.head) {
          const outs = referenceApply(
            step,
            step.inputs.map((v) => values.get(v) as tf.Tensor),
            correctAvgPool,
          );
          step.outputs.forEach((v, k) => values.set(v, outs[k] as tf.Tensor));
        }
        return tf.sum(tf.slice(values.get(plan.outputValue) as tf.Tensor2D, [0, cls], [1, 1]));
      })(frontier.get(plan.targetValue) as tf.Tensor);
      return Array.from(tf.mean(g, [0, 1, 2]).dataSync());
    }),
  );
}

/** Grad-CAM weights as tfcam computes them (mean of dS/dA over space). */
function tfcamWeights(model: tfl.LayersModel, x: tf.Tensor4D, layer: string, cls: number): number[] {
  return tf.tidy(() => {
    const ag = activationsAndGradients(model, x, { layer, target: cls });
    return Array.from(tf.mean(ag.gradients, [0, 1, 2]).dataSync());
  });
}

function relativeError(ours: number[], ref: number[]): number {
  const scale = Math.max(...ref.map(Math.abs));
  expect(scale).toBeGreaterThan(0);
  return Math.max(...ours.map((v, i) => Math.abs(v - (ref[i] as number)))) / scale;
}

describe('InceptionV3 (Keras topology, 107 px, widths x0.25)', () => {
  let model: tfl.LayersModel;
  let x: tf.Tensor4D;
  beforeAll(() => {
    model = buildInceptionV3({ inputSize: 107, filtersScale: 0.25, classes: 10, classifierActivation: 'linear', seed: 3 });
    x = tf.randomUniform([1, 107, 107, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
  });
  afterAll(() => {
    model.dispose();
    x.dispose();
  });

  it('explains mixed7 and the last block (mixed10, the default layer)', () => {
    const r7 = gradCam(model, x, { layer: 'mixed7' });
    const rd = gradCam(model, x);
    expect(r7.layer).toBe('mixed7');
    expect(rd.layer).toBe('mixed10');
    expect(r7.heatmap.shape).toEqual([1, 107, 107]);
    for (const r of [r7, rd]) {
      const v = Array.from(r.heatmap.dataSync());
      expect(v.every(Number.isFinite)).toBe(true);
      expect(Math.max(...v)).toBeGreaterThan(0.99);
    }
    tf.dispose([r7, rd]);
  });

  it("does not let tfjs' BatchNormalization(scale: false) tape crash (tfjs#2868) reach the user", () => {
    // The crash is real: stock tfjs cannot differentiate through these BN layers.
    const bn = model.getLayer('batch_normalization_93');
    const probe = tf.ones([1, 2, 2, bn.getWeights()[0]?.shape[0] as number]);
    expect(() => tf.grad((t: tf.Tensor) => tf.sum(bn.apply(t, { training: false }) as tf.Tensor))(probe)).toThrow();
    // mixed7's head holds 20+ such layers; gradCam goes through them.
    const r = gradCam(model, x, { layer: 'mixed7', target: 2 });
    expect(Array.from(r.heatmap.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([probe, r]);
  });

  it("has the reference Grad-CAM weights at mixed7, through 'same' average pooling", async () => {
    const ours = tfcamWeights(model, x, 'mixed7', 4);
    expect(relativeError(ours, await referenceWeights(model, x, 'mixed7', 4))).toBeLessThan(1e-4);
    // With tfjs' stock AvgPoolGrad the weights are measurably wrong: what tfcam avoids.
    expect(relativeError(ours, await referenceWeights(model, x, 'mixed7', 4, false))).toBeGreaterThan(1e-2);
  });

  it('has the reference Grad-CAM weights at mixed2 (a deeper head: mixed3 to mixed10, 6 same-pooling layers)', async () => {
    const ours = tfcamWeights(model, x, 'mixed2', 1);
    expect(relativeError(ours, await referenceWeights(model, x, 'mixed2', 1))).toBeLessThan(1e-4);
  });
});

describe('MobileNetV2 (Keras topology, 64 px, alpha 0.35)', () => {
  let model: tfl.LayersModel;
  let x: tf.Tensor4D;
  beforeAll(() => {
    model = buildMobileNetV2({ inputSize: 64, alpha: 0.35, classes: 10, classifierActivation: 'linear', seed: 4 });
    x = tf.randomUniform([1, 64, 64, 3], -1, 1, 'float32', 6) as tf.Tensor4D;
  });
  afterAll(() => {
    model.dispose();
    x.dispose();
  });

  it('explains the last block (out_relu, the default) and a mid-network block', () => {
    const rd = gradCam(model, x);
    expect(rd.layer).toBe('out_relu');
    const rm = gradCam(model, x, { layer: 'block_6_expand_relu' });
    for (const r of [rd, rm]) expect(Array.from(r.heatmap.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([rd, rm]);
  });

  it.each(['block_3_pad', 'block_6_expand_relu', 'block_12_add'])(
    'has the reference Grad-CAM weights at %s (ReLU6, depthwise, zero padding, adds in the head)',
    async (layer) => {
      const ours = tfcamWeights(model, x, layer, 3);
      expect(relativeError(ours, await referenceWeights(model, x, layer, 3))).toBeLessThan(1e-4);
    },
  );
});
