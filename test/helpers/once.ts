/**
 * Tests that do not depend on the tfjs backend (documentation, packaging) run in one vitest project
 * only: `cpu` (or when no backend project is selected, e.g. a plain `vitest run` without projects).
 */
const backend = process.env['TFCAM_BACKEND'];

/** Whether backend-independent tests run in this project. */
export const runOnce = backend === undefined || backend === 'cpu';

/** Why they are skipped elsewhere. */
export const ONCE_REASON = `backend-independent: runs in the cpu project only (this is ${backend ?? 'no'} project)`;
