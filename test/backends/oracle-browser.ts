/**
 * The pytorch-grad-cam reference fixtures (test/fixtures/cam-oracle) for browser tests: Vite serves
 * the files (`import.meta.glob` with `?url` gives their URLs at build time), the tests fetch them.
 * The Node tests read the same files with node:fs (test/helpers/fixtures.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { OracleCase, OracleInputs } from '../helpers/fixtures.js';

type Urls = Record<string, string>;
const glob = {
  model: import.meta.glob('../fixtures/cam-oracle/*/model.json', { query: '?url', import: 'default', eager: true }) as Urls,
  weights: import.meta.glob('../fixtures/cam-oracle/*/*.bin', { query: '?url', import: 'default', eager: true }) as Urls,
  inputs: import.meta.glob('../fixtures/cam-oracle/*/inputs.json', { query: '?url', import: 'default', eager: true }) as Urls,
  cams: import.meta.glob('../fixtures/cam-oracle/*/cams/*.json', { query: '?url', import: 'default', eager: true }) as Urls,
};
const DIR = '../fixtures/cam-oracle';

function url(table: Urls, path: string): string {
  const u = table[`${DIR}/${path}`];
  if (u === undefined) throw new Error(`fixture ${path} is not served (known: ${Object.keys(table).join(', ')})`);
  return u;
}

async function fetchJson<T>(href: string): Promise<T> {
  const r = await fetch(href);
  if (!r.ok) throw new Error(`GET ${href}: ${r.status}`);
  return (await r.json()) as T;
}

/** One reference case: model folder and case file, e.g. `['a_sequential', 'in0_probs_c2.json']`. */
export const BROWSER_ORACLE_CASES: Array<[string, string]> = Object.keys(glob.cams)
  .map((k) => k.slice(DIR.length + 1).split('/cams/') as [string, string])
  .sort((a, b) => `${a[0]}/${a[1]}`.localeCompare(`${b[0]}/${b[1]}`));

/** Loads an oracle model with tf.loadLayersModel from the served model.json and weight files. */
export async function loadOracleModelOverHttp(name: string): Promise<tfl.LayersModel> {
  const json = await fetchJson<{
    modelTopology: object;
    weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  }>(url(glob.model, `${name}/model.json`));
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers = await Promise.all(
    json.weightsManifest.flatMap((g) => g.paths.map(async (p) => (await fetch(url(glob.weights, `${name}/${p}`))).arrayBuffer())),
  );
  const all = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  let offset = 0;
  for (const b of buffers) {
    all.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData: all.buffer }));
}

export function oracleInputsOverHttp(name: string): Promise<OracleInputs> {
  return fetchJson<OracleInputs>(url(glob.inputs, `${name}/inputs.json`));
}

export async function oracleCaseOverHttp(name: string, file: string): Promise<OracleCase> {
  return { file, ...(await fetchJson<Omit<OracleCase, 'file'>>(url(glob.cams, `${name}/cams/${file}`))) };
}
