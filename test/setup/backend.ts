import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// Gradients are registered by tfjs-layers' entry point, as in any app that has a LayersModel.
import '@tensorflow/tfjs-layers';
import { beforeAll, beforeEach, expect } from 'vitest';

const wanted = process.env['TFCAM_BACKEND'] ?? 'cpu';

beforeAll(async () => {
  // tf.setBackend falls back silently on failure: assert the result.
  const ok = await tf.setBackend(wanted);
  await tf.ready();
  if (!ok || tf.getBackend() !== wanted) {
    throw new Error(`could not activate the ${wanted} backend (active: ${tf.getBackend()})`);
  }
});

beforeEach(() => {
  expect(tf.getBackend()).toBe(wanted);
});
