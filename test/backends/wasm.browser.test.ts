/** wasm in Chromium (binaries served by Vite from node_modules, see test/setup/browser.ts): the cross-backend suite. */
import { defineBackendSuite } from './suite.js';

defineBackendSuite('wasm');
