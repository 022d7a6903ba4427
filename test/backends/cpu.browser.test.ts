/** cpu in Chromium: the cross-backend suite. */
import { defineBackendSuite } from './suite.js';

defineBackendSuite('cpu');
