/**
 * Downloads (npm pack) and extracts the real graph models used by tests and research into
 * node_modules/.cache/tfcam-test-models/ (see ./models.ts). Skips what is already cached.
 *
 *   node --import tsx scripts/test-models/fetch.ts            # all models
 *   node --import tsx scripts/test-models/fetch.ts emotion age
 */
import { statSync } from 'node:fs';
import { ensureTestModels, TEST_MODEL_NAMES, TEST_MODELS, type TestModelName } from './models.js';

const asked = process.argv.slice(2);
const unknown = asked.filter((n) => !(TEST_MODEL_NAMES as string[]).includes(n));
if (unknown.length > 0) {
  console.error(`unknown model(s): ${unknown.join(', ')}; known: ${TEST_MODEL_NAMES.join(', ')}`);
  process.exit(2);
}
const names = (asked.length > 0 ? asked : TEST_MODEL_NAMES) as TestModelName[];
const paths = await ensureTestModels(names, (line) => console.log(line));
names.forEach((n, i) =>
  console.log(
    `${n.padEnd(18)} ${(statSync(paths[i] as string).size / 1024).toFixed(0).padStart(5)} KiB model.json  ${TEST_MODELS[n].about}\n${''.padEnd(19)}${paths[i]}`,
  ),
);
