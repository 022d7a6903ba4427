/**
 * Gradients of tfcam's GraphModel engine on a real converted model (nsfwjs 4.4.0 mobilenet_v2_mid:
 * MobileNetV2 from TF Hub + dense, uint8-quantized weights), against central finite differences of
 * the model's own `execute` (tfjs' kernels, fed at the node: an independent forward reference), at
 * the last conv block (the default layer) and at a node inside the last residual branch
 * (`expanded_conv_15/depthwise`, which needs a cut feed). Skipped, with the reason, when the model
 * cannot be fetched from the npm registry.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activationsAndGradients, type CamModel } from '../../src/index.js';
import { cutFeeds, graphNodeDefs } from '../helpers/graph-models.js';
import { loadTestGraphModel, testModelInputShape, testModelsSkipReason } from '../helpers/graph-test-models.js';

const skip = await testModelsSkipReason(['mobilenet_v2_mid']);

/** A seeded standard normal sample (Box-Muller over mulberry32). */
function normals(n: number, seed: number): Float64Array {
  let a = seed >>> 0;
  const u = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

describe.skipIf(skip !== undefined)(`real graph model gradients (mobilenet_v2_mid)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let model: Awaited<ReturnType<typeof loadTestGraphModel>>;
  let x: tf.Tensor4D;
  let logitsNode: string;

  beforeAll(async () => {
    model = await loadTestGraphModel('mobilenet_v2_mid');
    x = tf.randomUniform([1, ...testModelInputShape('mobilenet_v2_mid')], 0, 1, 'float32', 21) as tf.Tensor4D;
    const softmax = graphNodeDefs(model).find((n) => n.op === 'Softmax');
    logitsNode = (softmax?.input?.[0] ?? '').split(':')[0] as string;
  });
  afterAll(() => {
    model?.dispose();
    x?.dispose();
  });

  it.each([
    ['the last conv block (default layer)', undefined],
    ['a node inside the last residual branch', 'expanded_conv_15/depthwise'],
  ])('dS/dA at %s agrees with central differences of model.execute', (_label, layer) => {
    const before = tf.memory().numTensors;
    const target = 2;
    const r = activationsAndGradients(model as unknown as CamModel, x, { target, ...(layer === undefined ? {} : { layer }) });
    const node = r.layer;
    if (layer !== undefined) expect(node).toMatch(/expanded_conv_15\/depthwise\//);
    const nodes = graphNodeDefs(model);
    const cuts = cutFeeds(nodes, node, [logitsNode]);
    expect(cuts.length).toBe(layer === undefined ? 0 : 1);
    const fetched = cuts.length === 0 ? [] : model.execute(x, cuts);
    const cutValues: tf.Tensor[] = Array.isArray(fetched) ? fetched : [fetched];
    // The independent reference: tfjs' own kernels through execute, fed at the node (and the cut).
    const score = (a: tf.Tensor): number =>
      tf.tidy(() => {
        const feeds: tf.NamedTensorMap = { [node]: a };
        cuts.forEach((c, i) => (feeds[c] = cutValues[i] as tf.Tensor));
        return (model.execute(feeds, logitsNode) as tf.Tensor).dataSync()[target] as number;
      });
    const s0 = score(r.activations);
    expect(Math.abs(s0 - (r.scores.dataSync()[0] as number))).toBeLessThan(1e-3 * Math.max(1, Math.abs(s0)));
    const aData = r.activations.dataSync() as Float32Array;
    const gData = r.gradients.dataSync() as Float32Array;
    const rms = Math.sqrt(aData.reduce((s: number, v: number) => s + v * v, 0) / aData.length);
    const lines: string[] = [];
    let worst = 0;
    // Two random directions (on half of the coordinates, none on a ReLU6 kink: exact 0 and 6),
    // central differences at two steps. The head above the branch node is piecewise linear with
    // many ReLU6 kinks and S is float32, so a difference is judged against the scale of g.d for a
    // normal direction, ||g|| over the perturbed coordinates: a wrong rule (a lost skip
    // connection, a wrong pooling or padding gradient) is off by a sizeable fraction of it.
    for (let k = 0; k < 2; k++) {
      const d = normals(aData.length, 100 + k);
      const keep = normals(aData.length, 200 + k);
      for (let i = 0; i < d.length; i++) if (aData[i] === 0 || aData[i] === 6 || (keep[i] as number) < 0) d[i] = 0;
      let gd = 0;
      let gNorm = 0;
      for (let i = 0; i < d.length; i++) {
        gd += (gData[i] as number) * (d[i] as number);
        if (d[i] !== 0) gNorm += (gData[i] as number) ** 2;
      }
      gNorm = Math.sqrt(gNorm);
      let best = Infinity;
      for (const scale of [1e-2, 2e-3]) {
        const eps = scale * rms;
        const shifted = (sign: number): number => {
          const t = tf.tensor(
            Float32Array.from(aData, (v, i) => v + sign * eps * (d[i] as number)),
            r.activations.shape,
          );
          const s = score(t);
          t.dispose();
          return s;
        };
        const fd = (shifted(1) - shifted(-1)) / (2 * eps);
        const err = Math.abs(fd - gd) / gNorm;
        best = Math.min(best, err);
        lines.push(`dir ${k} eps ${scale}: fd ${fd.toExponential(4)} g.d ${gd.toExponential(4)} |fd - g.d|/||g|| ${err.toExponential(2)}`);
      }
      worst = Math.max(worst, best);
    }
    console.info(`[real-gradients ${tf.getBackend()}] ${node.split('/').slice(-3).join('/')}: ${lines.join('; ')}`);
    expect(worst, lines.join('\n')).toBeLessThan(layer === undefined ? 5e-3 : 2e-2);
    tf.dispose([r.activations, r.gradients, r.scores, r.classIndex, ...cutValues]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
