/**
 * Stands in for the browser project when no Chromium is installed (see vitest.config.ts): one test,
 * skipped with the reason, or failing where TFCAM_REQUIRE_BROWSER=1 (CI must not pass without it).
 */
import { expect, it } from 'vitest';

const reason = process.env['TFCAM_BROWSER_SKIP'] ?? 'Chromium not found';
const required = process.env['TFCAM_REQUIRE_BROWSER'] === '1';

it.skipIf(!required)(reason, () => {
  expect.fail(`${reason} (TFCAM_REQUIRE_BROWSER=1)`);
});
