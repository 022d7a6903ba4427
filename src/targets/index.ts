/**
 * Target builders: functions for the `target` option of every method (pytorch-grad-cam's
 * `model_targets`), for classifiers, binary and multi-label classifiers, regressors, segmentation,
 * detection and embedding models. Each takes one value for the whole batch or one per example.
 *
 * @module
 */
export {
  binaryClassifierTarget,
  classProbabilityTarget,
  classReSTTarget,
  classTarget,
  multiLabelTarget,
  regressionTarget,
} from './classification.js';
export type { TargetFn } from './classification.js';
export { semanticSegmentationTarget, similarityToConceptTarget } from './dense.js';
export type { SimilarityToConceptOptions } from './dense.js';
export { boxScoreTarget } from './detection.js';
export type { BoxScoreOptions, DetectionBox, DetectionReference, Detections } from './detection.js';
export { finerTarget } from './finer.js';
export type { FinerTargetOptions } from './finer.js';
export type { PerExample } from './common.js';
