/**
 * The webgl half of `npm run bench -- --backend webgl`: runs in Chromium (see vitest.config.ts next
 * to it), measures the suite on the webgl backend and writes the sections to the file bench/run.ts
 * reads. Not part of `npm test`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgl';
// tfjs-layers registers the gradients of the ops, as in any app that has a LayersModel.
import '@tensorflow/tfjs-layers';
import { expect, it } from 'vitest';
import { commands } from 'vitest/browser';
import * as tfcam from '../../src/index.js';
import { runSuite } from '../suite.js';

interface BrowserOptions {
  models: string[];
  small: boolean;
  batches: number[];
  runs: number;
  warmup: number;
  maxTimeMs: number | null;
  only: string[];
  skip: string[];
  smoke: boolean;
  commit: string;
  command: string;
  /** Where to write the results (absolute path). */
  out: string;
}

declare const __TFCAM_BENCH_OPTIONS__: BrowserOptions;

it('measures the benchmark suite on webgl', async () => {
  const o = __TFCAM_BENCH_OPTIONS__;
  await tf.setBackend('webgl');
  await tf.ready();
  // setBackend falls back silently: a cpu run reported as webgl would be worse than none.
  expect(tf.getBackend()).toBe('webgl');
  const gl = document.createElement('canvas').getContext('webgl2');
  const debug = gl?.getExtension('WEBGL_debug_renderer_info');
  const renderer =
    gl === null || gl === undefined ? 'no WebGL2' : String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  const run = await runSuite({
    ...o,
    backend: 'webgl',
    maxTimeMs: o.maxTimeMs ?? Number.POSITIVE_INFINITY,
    tfcam: tfcam as unknown as Record<string, unknown>,
    log: (msg) => console.log(msg),
  });
  await commands.writeFile(
    o.out,
    JSON.stringify({
      sections: run.sections,
      failures: run.failures,
      meta: { userAgent: navigator.userAgent, renderer, webglVersion: tf.env().getNumber('WEBGL_VERSION') },
    }),
  );
});
