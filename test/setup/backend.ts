import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// Gradients are registered by tfjs-layers' entry point, as in any app that has a LayersModel.
import '@tensorflow/tfjs-layers';
import { beforeAll, beforeEach, expect } from 'vitest';

// Set per project by vitest.config.ts: 'cpu', 'wasm', or 'tensorflow' (tfjs-node). TFCAM_BACKEND_SKIP
// (the node project without a loadable tfjs-node) means the tests are skipped, and nothing is activated.
const wanted = process.env['TFCAM_BACKEND'] ?? 'cpu';
const skipped = (process.env['TFCAM_BACKEND_SKIP'] ?? '') !== '';

/** tfjs-node registers the 'tensorflow' backend; it is optional, so it is imported only when asked for. */
async function register(backend: string): Promise<void> {
  if (backend !== 'tensorflow' || tf.findBackendFactory('tensorflow') != null) return;
  const specifier = '@tensorflow/tfjs-node';
  await import(/* @vite-ignore */ specifier);
}

beforeAll(async () => {
  if (skipped) return;
  await register(wanted);
  // tf.setBackend falls back silently on failure: assert the result.
  const ok = await tf.setBackend(wanted);
  await tf.ready();
  if (!ok || tf.getBackend() !== wanted) {
    throw new Error(`could not activate the ${wanted} backend (active: ${tf.getBackend()})`);
  }
});

beforeEach(() => {
  if (skipped) return;
  expect(tf.getBackend()).toBe(wanted);
});
