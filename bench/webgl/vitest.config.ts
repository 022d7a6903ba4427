/**
 * `npm run bench -- --backend webgl`: runs the suite in Chromium (vitest browser mode, playwright,
 * Debian's /usr/bin/chromium or $TFCAM_CHROMIUM) on the webgl backend. bench/run.ts starts it with
 * the options in $TFCAM_BENCH_BROWSER and reads the results file the page writes.
 */
import { existsSync } from 'node:fs';
import { chromiumPath, chromiumProvider } from '../../test/setup/chromium.js';
import { defineConfig } from 'vitest/config';

if (!existsSync(chromiumPath))
  throw new Error(`bench --backend webgl needs Chromium at ${chromiumPath} (apt-get install chromium, or set TFCAM_CHROMIUM)`);
const options = process.env['TFCAM_BENCH_BROWSER'];
if (options === undefined) throw new Error('bench/webgl/vitest.config.ts is started by `npm run bench -- --backend webgl`');
// A GPU is used where the browser finds one; `--swiftshader` (in the options) forces software WebGL2.
const swiftshader = (JSON.parse(options) as { swiftshader?: boolean }).swiftshader === true;

export default defineConfig({
  define: { __TFCAM_BENCH_OPTIONS__: options },
  optimizeDeps: {
    include: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-webgl'],
  },
  test: {
    globals: false,
    include: ['bench/webgl/webgl-runner.ts'],
    testTimeout: 24 * 3600_000,
    hookTimeout: 600_000,
    // The page's progress lines, as they come, without vitest's per-line headers.
    onConsoleLog: (line: string) => {
      process.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
      return false;
    },
    browser: {
      enabled: true,
      headless: true,
      screenshotFailures: false,
      provider: chromiumProvider(swiftshader),
      instances: [{ browser: 'chromium' }],
    },
  },
});
