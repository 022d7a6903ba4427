/**
 * Options shared by the methods that re-run the model on batches of modified inputs/activations.
 * @module
 */
import type { CamOptions } from '../core/types.js';
import { OptionError, describeValue } from '../errors.js';

/** Options of {@link scoreCam} and {@link ablationCam}. */
export interface BatchedCamOptions extends CamOptions {
  /** Modified copies run per forward pass (default 32). Larger is faster and uses more memory. */
  batchSize?: number | undefined;
  /**
   * Called after each batched forward pass with the passes done and the total
   * (`B * ceil(C / batchSize)`), synchronously: use it for a progress bar.
   */
  onProgress?: ((done: number, total: number) => void) | undefined;
}

/** Default `batchSize`. */
export const DEFAULT_BATCH_SIZE = 32;

/** Checks `batchSize` and `onProgress`. */
export function checkBatchedOptions(options: Readonly<Record<string, unknown>>, fn: string): void {
  const bs = options['batchSize'];
  if (bs !== undefined && (typeof bs !== 'number' || !Number.isInteger(bs) || bs < 1)) {
    throw new OptionError({ fn, argument: 'options.batchSize', expected: 'must be a positive integer', got: describeValue(bs), fix: `Omit it for ${DEFAULT_BATCH_SIZE}.` });
  }
  const p = options['onProgress'];
  if (p !== undefined && typeof p !== 'function') {
    throw new OptionError({ fn, argument: 'options.onProgress', expected: 'must be a function (done, total) => void', got: describeValue(p), fix: 'Pass a callback or omit it.' });
  }
}

/** The batch size in effect. */
export function batchSizeOf(options: Readonly<Record<string, unknown>>): number {
  return (options['batchSize'] as number | undefined) ?? DEFAULT_BATCH_SIZE;
}
