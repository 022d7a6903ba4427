/**
 * Loading test/fixtures/cam-oracle-extra (pytorch-grad-cam's FullGrad, KPCA_CAM, FEM, FinerCAM,
 * ShapleyCAM, SegEigenCAM, RefineCAM, DFF, targets and metrics; see its README).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect } from 'vitest';
import { ORACLE_DIR, loadOracleModel, oracleInputs } from './fixtures.js';

export const EXTRA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'cam-oracle-extra');

type Nested = number | Nested[];

/** Reads a JSON file of the extra fixtures (path relative to its folder). */
export function extra<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(join(EXTRA_DIR, path), 'utf8')) as T;
}

/** Loads a model: a cam-oracle model (a_sequential, b_residual, c_separable) or a new one (d_binary, e_embedding, f_segmentation). */
export async function loadAnyOracleModel(name: string): Promise<tfl.LayersModel> {
  if (['a_sequential', 'b_residual', 'c_separable'].includes(name)) return loadOracleModel(name);
  const dir = join(EXTRA_DIR, 'models', name);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as {
    modelTopology: object;
    weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  };
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const all = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p)))));
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
}

/** The two oracle images `[2, 32, 32, 3]` (the same for every model, same generator seed). */
export function oracleImages(): tf.Tensor4D {
  return tf.tensor4d(oracleInputs('a_sequential').data);
}

/** Image `i` as a `[1, H, W, C]` batch. */
export function imageAt(images: tf.Tensor4D, index: number): tf.Tensor4D {
  return tf.slice(images, [index], [1]);
}

/** cam-oracle activations of a model (HWC per image). */
export function oracleActivations(name: string): { layer: string; data: number[][][][] } {
  return JSON.parse(readFileSync(join(ORACLE_DIR, name, 'activations.json'), 'utf8')) as { layer: string; data: number[][][][] };
}

function flat(x: Nested | tf.Tensor): number[] {
  if (typeof x === 'object' && x !== null && !Array.isArray(x)) return Array.from((x as tf.Tensor).dataSync());
  return Array.isArray(x) ? x.flatMap((v) => flat(v)) : [x];
}

/** Max |a - b|. */
export function maxDiff(actual: tf.Tensor | Nested, expected: Nested): number {
  const a = flat(actual);
  const e = flat(expected);
  expect(a.length).toBe(e.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (e[i] as number)));
  return Number.isNaN(m) ? Infinity : m;
}

/** Max |x|. */
export function maxAbsOf(x: Nested): number {
  return flat(x).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

/** Largest error seen per label (printed by the tests that fill it, for the report). */
export const measured = new Map<string, number>();

/** Records an error under `label` (keeps the largest). */
export function record(label: string, value: number): number {
  measured.set(label, Math.max(measured.get(label) ?? 0, value));
  return value;
}

/** Prints the recorded errors, one line per label. */
export function printMeasured(title: string): void {
  const lines = [...measured.entries()].sort().map(([k, v]) => `${k}: ${v.toExponential(2)}`);
  console.info(`[${title} on ${tf.getBackend()}] ${lines.join('; ')}`);
}

/**
 * The raw-map check of the oracle tests: max |ours - ref| relative to max |ref|, within
 * max(1e-5, 10 x the reference's float32-vs-float64 difference / scale). Returns the relative error.
 */
export function expectRawClose(label: string, ours: tf.Tensor, ref: Nested, f64Raw = 0, floor = 1e-5): number {
  const scale = Math.max(maxAbsOf(ref), 1e-30);
  const err = maxDiff(ours, ref) / scale;
  record(label, err);
  expect(err, label).toBeLessThan(Math.max(floor, (10 * f64Raw) / scale));
  return err;
}

/** The final-map check: max |ours - ref| below 1e-4. Returns the error. */
export function expectFinalClose(label: string, ours: tf.Tensor, ref: Nested, tol = 1e-4): number {
  const err = maxDiff(ours, ref);
  record(label, err);
  expect(err, label).toBeLessThan(tol);
  return err;
}
