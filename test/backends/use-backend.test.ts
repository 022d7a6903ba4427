/**
 * `useBackend` (the `tfcam/backend` entry point) in Node: activates installed backends and checks
 * them, names the npm package to install when one is missing, and leaves the caller's backend
 * active when a backend cannot start.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_PACKAGES, BackendError, useBackend } from '../../src/backend.js';
import { TfcamError } from '../../src/errors.js';

const skip = process.env['TFCAM_BACKEND_SKIP'] || undefined;

describe.skipIf(skip !== undefined)(skip ?? 'useBackend (tfcam/backend) in Node', () => {
  let original: string;
  beforeAll(() => {
    original = tf.getBackend();
  });
  afterEach(async () => {
    // Put the project's backend back for the next test (and the setup's assertion).
    await tf.setBackend(original);
    await tf.ready();
    expect(tf.getBackend()).toBe(original);
  });

  it.each(['cpu', 'wasm'] as const)('activates %s, awaits tf.ready() and returns the active name', async (name) => {
    await expect(useBackend(name)).resolves.toBe(name);
    expect(tf.getBackend()).toBe(name);
    const y = tf.add(tf.scalar(1), tf.scalar(2));
    expect(y.dataSync()[0]).toBe(3);
    y.dispose();
  });

  it('accepts a load function (what a bundler needs)', async () => {
    let loaded = false;
    const load = async (): Promise<unknown> => {
      loaded = true;
      return import('@tensorflow/tfjs-backend-cpu');
    };
    await expect(useBackend('cpu', { load })).resolves.toBe('cpu');
    expect(loaded).toBe(true);
    expect(tf.getBackend()).toBe('cpu');
  });

  it('names the npm package to install when the backend package is missing', async () => {
    // @tensorflow/tfjs-backend-webgpu is not a dependency of this repository.
    const error = await useBackend('webgpu').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toBeInstanceOf(TfcamError);
    expect((error as BackendError).code).toBe('BACKEND_UNAVAILABLE');
    expect((error as Error).message).toMatch(/^useBackend: 'name' must be a backend whose npm package is installed, but got 'webgpu'/);
    expect((error as Error).message).toContain('npm install @tensorflow/tfjs-backend-webgpu');
    expect(tf.getBackend()).toBe(original);
  });

  it("maps 'node' to tfjs-node's 'tensorflow' backend, or names @tensorflow/tfjs-node when it is missing", async () => {
    const result = await useBackend('node').catch((e: unknown) => e);
    if (typeof result === 'string') {
      expect(result).toBe('tensorflow');
      expect(tf.getBackend()).toBe('tensorflow');
    } else {
      expect(result).toBeInstanceOf(BackendError);
      expect((result as Error).message).toContain('npm install @tensorflow/tfjs-node');
      expect(tf.getBackend()).toBe(original);
    }
  });

  it('explains that webgl exists only in browsers, and keeps the previous backend active', async () => {
    const error = await useBackend('webgl').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toBe(
      "useBackend: 'name' must be a backend available in this environment, but got 'webgl', which @tensorflow/tfjs-backend-webgl registers only in a browser (this is not one). Outside a browser use 'cpu', 'wasm' or 'tensorflow' (tfjs-node).",
    );
    expect(tf.getBackend()).toBe(original);
  });

  it('throws, and puts the previous backend back, when a registered backend fails to initialise', async () => {
    // A stand-in 'webgpu' backend whose initialisation fails (tf.setBackend would then leave no usable backend).
    tf.registerBackend('webgpu', () => {
      throw new Error('no adapter');
    });
    try {
      const error = await useBackend('webgpu').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendError);
      expect((error as Error).message).toBe(
        `useBackend: 'name' must be a backend that initialises here, but got a 'webgpu' backend that failed to initialise; '${original}' is active again. webgpu needs a browser with navigator.gpu.`,
      );
      expect(tf.getBackend()).toBe(original);
    } finally {
      tf.removeBackend('webgpu');
    }
  });

  it('rejects an unknown name, listing the known ones', async () => {
    const error = await useBackend('gpu' as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toBe(
      "useBackend: 'name' must be one of 'cpu', 'wasm', 'webgl', 'webgpu', 'tensorflow' (or 'node'), but got 'gpu'. Use the name tf.getBackend() reports for the backend.",
    );
  });

  it('reports a failing load function with the package to install', async () => {
    const error = await useBackend('wasm', { load: () => Promise.reject(new Error('boom')) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toContain('boom');
    expect((error as Error).message).toContain('npm install @tensorflow/tfjs-backend-wasm');
  });

  it('lists one package per official backend', () => {
    expect(Object.keys(BACKEND_PACKAGES).sort()).toEqual(['cpu', 'tensorflow', 'wasm', 'webgl', 'webgpu']);
    expect(BACKEND_PACKAGES.tensorflow[0]).toBe('@tensorflow/tfjs-node');
  });
});
