import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { expect } from 'vitest';

interface LayerState {
  path: string;
  keys: string[];
  values: unknown[];
  inboundNodes: number;
  outboundNodes: number;
}

export interface ModelSnapshot {
  weights: Float32Array[];
  weightNames: string[];
  prediction: Float32Array[];
  layers: LayerState[];
}

function allLayers(model: tfl.LayersModel, prefix = ''): Array<{ path: string; layer: tfl.layers.Layer }> {
  const out: Array<{ path: string; layer: tfl.layers.Layer }> = [
    { path: prefix || model.name, layer: model as unknown as tfl.layers.Layer },
  ];
  for (const l of model.layers) {
    const path = `${prefix}${l.name}`;
    const maybe = l as unknown as { layers?: unknown };
    if (Array.isArray(maybe.layers)) out.push(...allLayers(l as unknown as tfl.LayersModel, `${path}/`));
    else out.push({ path, layer: l });
  }
  return out;
}

/** Everything that must not change when tfcam explains a model. */
export function snapshotModel(model: tfl.LayersModel, probe: tf.Tensor | tf.Tensor[]): ModelSnapshot {
  const weights = model.weights.map((w) => Float32Array.from(w.read().dataSync()));
  const weightNames = model.weights.map((w) => w.name);
  const pred = tf.tidy(() => {
    const p = model.predict(probe);
    return (Array.isArray(p) ? p : [p]).map((t) => Float32Array.from(t.dataSync()));
  });
  const layers = allLayers(model).map(({ path, layer }) => {
    const keys = Object.keys(layer).sort();
    const rec = layer as unknown as Record<string, unknown>;
    return {
      path,
      keys,
      values: keys.map((k) => rec[k]),
      inboundNodes: layer.inboundNodes.length,
      outboundNodes: layer.outboundNodes.length,
    };
  });
  return { weights, weightNames, prediction: pred, layers };
}

/** Asserts the model is bit-identical to the snapshot: weights, predictions, layer own properties. */
export function expectModelUnchanged(model: tfl.LayersModel, probe: tf.Tensor | tf.Tensor[], before: ModelSnapshot): void {
  const after = snapshotModel(model, probe);
  expect(after.weightNames).toEqual(before.weightNames);
  after.weights.forEach((w, i) => expect(Buffer.from(w.buffer).equals(Buffer.from((before.weights[i] as Float32Array).buffer))).toBe(true));
  after.prediction.forEach((p, i) =>
    expect(Buffer.from(p.buffer).equals(Buffer.from((before.prediction[i] as Float32Array).buffer))).toBe(true),
  );
  expect(after.layers.map((l) => l.path)).toEqual(before.layers.map((l) => l.path));
  after.layers.forEach((l, i) => {
    const b = before.layers[i] as LayerState;
    expect(l.keys, `own properties of ${l.path}`).toEqual(b.keys);
    l.values.forEach((v, k) => expect(Object.is(v, b.values[k]), `${l.path}.${l.keys[k]} replaced`).toBe(true));
    expect(l.inboundNodes, `inbound nodes of ${l.path}`).toBe(b.inboundNodes);
    expect(l.outboundNodes, `outbound nodes of ${l.path}`).toBe(b.outboundNodes);
  });
}

/** Runs `fn` and asserts it leaves the tensor count unchanged (disposing what it returns first). */
export function expectNoLeak(fn: () => unknown): void {
  const before = tf.memory().numTensors;
  let result: unknown;
  try {
    result = fn();
  } catch {
    // Error paths are checked for leaks too.
  }
  tf.dispose(result as tf.TensorContainer);
  expect(tf.memory().numTensors).toBe(before);
}

/** Asserts `fn` throws an error of class `cls` whose message matches `pattern`, leaking nothing. */
export function expectThrowsClean(fn: () => unknown, cls: new (...args: never[]) => Error, pattern: RegExp): Error {
  const before = tf.memory().numTensors;
  let caught: unknown = null;
  try {
    tf.dispose(fn() as tf.TensorContainer);
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an error').toBeInstanceOf(cls);
  expect((caught as Error).message).toMatch(pattern);
  expect(tf.memory().numTensors, 'tensors leaked on the error path').toBe(before);
  return caught as Error;
}
