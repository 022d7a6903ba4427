/**
 * `useBackend` (the `tfcam/backend` entry point) in Chromium: the backends the page imported are
 * activated without importing anything, and a package the page cannot load is named in the error.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BackendError, useBackend } from '../../src/backend.js';

describe('useBackend (tfcam/backend) in Chromium', () => {
  it.each(['webgl', 'wasm', 'cpu'] as const)('activates %s, which the page has imported', async (name) => {
    await expect(useBackend(name)).resolves.toBe(name);
    expect(tf.getBackend()).toBe(name);
    const y = tf.add(tf.scalar(1), tf.scalar(2));
    expect((await y.data())[0]).toBe(3);
    y.dispose();
  });

  it('names the npm package when the page cannot import it, and keeps the active backend', async () => {
    await useBackend('cpu');
    const error = await useBackend('webgpu').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toMatch(/^useBackend: 'name' must be a backend whose npm package is installed, but got 'webgpu'/);
    expect((error as Error).message).toContain('npm install @tensorflow/tfjs-backend-webgpu');
    expect((error as Error).message).toContain("pass { load: () => import('@tensorflow/tfjs-backend-webgpu') }");
    expect(tf.getBackend()).toBe('cpu');
  });

  it('refuses tfjs-node in a browser with the package name', async () => {
    const error = await useBackend('node').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toContain('@tensorflow/tfjs-node');
    expect(tf.getBackend()).toBe('cpu');
  });
});
