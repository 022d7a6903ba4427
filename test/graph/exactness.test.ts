/**
 * The exactness test of the GraphModel engine: one network built both as a `tf.GraphModel` (GraphDef
 * JSON, test/helpers/graph-models.ts) and as a `tf.LayersModel` twin with the same weights gives the
 * same results through tfcam (1e-5): every CAM method of CAM_METHODS, guidedBackprop, guidedGradCam
 * and activationsAndGradients, at the default layer and at inner nodes (one inside a residual branch,
 * one inside an Inception branch: both need cut feeds), for a batch of 2, with per-example targets,
 * a target function, and logits on and off. Runs on every backend project (cpu and wasm in Node).
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAM_METHODS, activationsAndGradients, guidedBackprop, guidedGradCam, type CamMethodName, type CamModel } from '../../src/index.js';
import { buildGraphTestModel, graphTestInput, type GraphTestModel, type GraphTestModelKind } from '../helpers/graph-models.js';

const TOL = 1e-5;

/** max |a - b| over two tensors of one shape. */
function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(tf.cast(a, 'float32'), tf.cast(b, 'float32')))).dataSync()[0] as number);
}

/** The largest difference seen per method (printed once, for the report). */
const worst = new Map<string, number>();
function record(name: string, d: number): void {
  worst.set(name, Math.max(worst.get(name) ?? 0, d));
}

/** Compares the tensors two results hold under the same keys, and the layer reported. */
function compare(name: string, g: Record<string, unknown>, t: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of keys) {
    const d = maxDiff(g[k] as tf.Tensor, t[k] as tf.Tensor);
    record(`${name}.${k}`, d);
    expect(d, `${name}: ${k}`).toBeLessThanOrEqual(TOL);
  }
}

interface Case {
  kind: GraphTestModelKind;
  outputIndex: number;
  /** Inner nodes explained besides the default layer. */
  inner: (m: GraphTestModel) => string[];
}

const CASES: Case[] = [
  { kind: 'plain', outputIndex: 0, inner: (m) => [m.nodes.spatial[0] as string] },
  { kind: 'residual', outputIndex: 0, inner: (m) => [m.nodes.inBranch as string, m.nodes.spatial[8] as string] },
  { kind: 'inception', outputIndex: 0, inner: (m) => [m.nodes.inBranch as string, m.nodes.spatial[0] as string] },
  { kind: 'twoOutputs', outputIndex: 0, inner: (m) => [m.nodes.spatial[0] as string] },
  { kind: 'twoOutputs', outputIndex: 1, inner: (m) => [m.nodes.spatial[2] as string] },
  { kind: 'logits', outputIndex: 0, inner: (m) => [m.nodes.spatial[0] as string] },
];

const METHOD_NAMES = Object.keys(CAM_METHODS) as CamMethodName[];

describe.each(CASES.map((c) => [`${c.kind} output ${c.outputIndex}`, c] as const))(
  'GraphModel equals its LayersModel twin: %s',
  (_label, c: Case) => {
    let m: GraphTestModel;
    let x: tf.Tensor4D;
    let graph: CamModel;
    /** Graph layer option -> twin layer option (undefined: the default layer on both). */
    let layers: Array<[string | undefined, string | undefined]>;
    let classes: number;

    beforeAll(async () => {
      m = await buildGraphTestModel(c.kind);
      x = graphTestInput(m, 2);
      graph = m.graph as unknown as CamModel;
      layers = [[undefined, undefined], ...c.inner(m).map((n): [string, string] => [n, m.pairs[n] as string])];
      classes = (m.twin.outputs[c.outputIndex]?.shape[1] as number) ?? 1;
    });
    afterAll(() => {
      m.dispose();
      x.dispose();
    });

    it('resolves the same default layer', () => {
      const g = activationsAndGradients(graph, x, { outputIndex: c.outputIndex });
      const t = activationsAndGradients(m.twin, x, { outputIndex: c.outputIndex });
      expect(m.pairs[g.layer]).toBe(t.layer);
      tf.dispose([g.activations, g.gradients, g.scores, g.classIndex, t.activations, t.gradients, t.scores, t.classIndex]);
    });

    it('activationsAndGradients: same activations, gradients, scores and classes (default targets, indices, functions, logits on/off)', () => {
      const before = tf.memory().numTensors;
      const weights = tf.tensor2d([[0.5, -1, 2, 0.25, 1, -0.5].slice(0, classes), [1, 1, -1, 0.5, 0, 2].slice(0, classes)]);
      const targets = [undefined, [classes - 1, 0], (out: tf.Tensor) => tf.sum(tf.mul(out, weights), 1) as tf.Tensor1D];
      for (const [gl, tl] of layers) {
        for (const target of targets) {
          for (const logits of [true, false]) {
            const o = { outputIndex: c.outputIndex, logits, ...(target === undefined ? {} : { target }) };
            const g = activationsAndGradients(graph, x, { ...o, ...(gl === undefined ? {} : { layer: gl }) });
            const t = activationsAndGradients(m.twin, x, { ...o, ...(tl === undefined ? {} : { layer: tl }) });
            // Not degenerate: the gradients are not all zero.
            expect(tf.tidy(() => tf.max(tf.abs(g.gradients)).dataSync()[0] as number)).toBeGreaterThan(1e-6);
            compare('activationsAndGradients', g, t, ['activations', 'gradients', 'scores', 'classIndex']);
            tf.dispose([g.activations, g.gradients, g.scores, g.classIndex, t.activations, t.gradients, t.scores, t.classIndex]);
          }
        }
      }
      weights.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });

    it.each(METHOD_NAMES.map((n) => [n]))(
      '%s: same maps, classes and scores at every layer (or the same refusal)',
      (name: CamMethodName) => {
        const before = tf.memory().numTensors;
        const method = CAM_METHODS[name];
        /** Both calls give the same result, or both refuse the options alike (a method's own limits). */
        const both = (graphOptions: object, twinOptions: object, sameLayer: boolean): void => {
          let t: ReturnType<typeof method> | null = null;
          try {
            t = method(m.twin, x, { outputIndex: c.outputIndex, ...twinOptions });
          } catch (e) {
            const err = e as { constructor: { name: string }; argument?: string };
            expect(
              () => method(graph, x, { outputIndex: c.outputIndex, ...graphOptions }),
              `${name} refuses the twin: ${String(e)}`,
            ).toThrow(expect.objectContaining({ name: err.constructor.name, argument: err.argument }) as unknown as Error);
            return;
          }
          const g = method(graph, x, { outputIndex: c.outputIndex, ...graphOptions });
          // One layer: the twin's layer of the graph's node. Several (FullGrad's biased layers): as many.
          if (sameLayer && !t.layer.includes(',')) expect(m.pairs[g.layer]).toBe(t.layer);
          else expect(g.layer.split(',').length).toBe(t.layer.split(',').length);
          compare(name, g, t, ['heatmap', 'classIndex', 'score']);
          tf.dispose([g, t] as unknown as tf.TensorContainer);
        };
        for (const [gl, tl] of layers) both(gl === undefined ? {} : { layer: gl }, tl === undefined ? {} : { layer: tl }, true);
        // Per-example targets without logits, and a target function, at the default layer.
        const weights = tf.tensor1d([1, -0.5, 0.25, 2, -1, 0.5].slice(0, classes));
        const fnTarget = (out: tf.Tensor): tf.Tensor1D => tf.sum(tf.mul(out, weights), 1) as tf.Tensor1D;
        for (const o of [{ target: [0, classes - 1], logits: false }, { target: fnTarget }]) both(o, o, false);
        weights.dispose();
        expect(tf.memory().numTensors).toBe(before);
      },
    );

    it('guidedBackprop and guidedGradCam: same gradients and maps', () => {
      const before = tf.memory().numTensors;
      for (const logits of [true, false]) {
        const g = guidedBackprop(graph, x, { outputIndex: c.outputIndex, logits, target: [classes - 1, 0] });
        const t = guidedBackprop(m.twin, x, { outputIndex: c.outputIndex, logits, target: [classes - 1, 0] });
        compare('guidedBackprop', g, t, ['gradients', 'classIndex', 'score']);
        tf.dispose([g, t] as unknown as tf.TensorContainer);
      }
      for (const [gl, tl] of layers) {
        const g = guidedGradCam(graph, x, { outputIndex: c.outputIndex, ...(gl === undefined ? {} : { layer: gl }) });
        const t = guidedGradCam(m.twin, x, { outputIndex: c.outputIndex, ...(tl === undefined ? {} : { layer: tl }) });
        compare('guidedGradCam', g, t, ['gradients', 'heatmap', 'classIndex', 'score']);
        tf.dispose([g, t] as unknown as tf.TensorContainer);
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  },
);

afterAll(() => {
  const lines = [...worst.entries()].sort().map(([k, v]) => `${k} ${v.toExponential(2)}`);
  console.info(`[exactness ${tf.getBackend()}] max |graph - twin|: ${lines.join('; ')}`);
});
