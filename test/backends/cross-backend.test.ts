/**
 * The cross-backend suite (test/backends/suite.ts) on the Node projects' backend: cpu, wasm, or
 * tfjs-node's `tensorflow` (the `node` project, skipped with the reason when tfjs-node is not
 * installed). The browser project runs the same suite on webgl, cpu and wasm in Chromium.
 */
import { defineBackendSuite } from './suite.js';

const backend = process.env['TFCAM_BACKEND'] ?? 'cpu';
defineBackendSuite(backend, { skip: process.env['TFCAM_BACKEND_SKIP'] || undefined });
