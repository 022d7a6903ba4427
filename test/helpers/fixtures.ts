import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Folder of the pytorch-grad-cam reference fixtures copied into the repo. */
export const ORACLE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'cam-oracle');

export const ORACLE_MODELS = ['a_sequential', 'b_residual', 'c_separable'] as const;
export type OracleModel = (typeof ORACLE_MODELS)[number];

/** Loads an oracle model through tf.loadLayersModel (from memory: same JSON + weights). */
export async function loadOracleModel(name: string): Promise<tfl.LayersModel> {
  const dir = join(ORACLE_DIR, name);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as {
    modelTopology: object;
    weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  };
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p))));
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
}

export interface OracleInputs {
  ids: string[];
  shape: number[];
  data: number[][][][];
}

export function oracleInputs(name: string): OracleInputs {
  return JSON.parse(readFileSync(join(ORACLE_DIR, name, 'inputs.json'), 'utf8')) as OracleInputs;
}

export interface OracleMethod {
  raw: number[][];
  raw_relu: number[][];
  final: number[][];
  weights?: number[];
  all_zero_after_relu: boolean;
  f64_max_abs_diff: { raw: number; final: number };
}

export interface OracleCase {
  file: string;
  model: string;
  input_id: string;
  input_index: number;
  variant: 'probs' | 'logits_of_softmax' | 'logits';
  class_index: number;
  score: number;
  output: number[];
  gradients_hwc: number[][][];
  guided_backprop_hwc: number[][][];
  guided_gradcam_hwc: number[][][];
  methods: Record<string, OracleMethod>;
}

/** Every reference case of a model (one per input, variant and class). */
export function oracleCases(name: string): OracleCase[] {
  const dir = join(ORACLE_DIR, name, 'cams');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f, ...(JSON.parse(readFileSync(join(dir, f), 'utf8')) as Omit<OracleCase, 'file'>) }));
}
