/**
 * Evaluation metrics for saliency maps: faithfulness (average drop, increase in confidence,
 * deletion/insertion), localisation (pointing game, energy in the box) and sanity checks
 * (model-parameter randomisation).
 *
 * @module
 */
export { averageDrop, confidenceChange, deletion, increaseInConfidence, insertion } from './faithfulness.js';
export type {
  ConfidenceChange,
  PerturbationBaseline,
  PerturbationCurve,
  PerturbationCurveOptions,
  ScoringOptions,
} from './faithfulness.js';
export { centerPrior, energyInBox, pointingGame } from './localisation.js';
export type { Box, CenterPriorOptions, PointingGameOptions, Regions } from './localisation.js';
export { sanityCheck, spearman, ssim } from './sanity.js';
export type { ExplanationLike, ExplanationMethod, SanityCheckOptions, SanityCheckResult, SanityStep, SsimOptions } from './sanity.js';
export { noisyLinearImpute, road } from './road.js';
export type { NoisyLinearImputeOptions, RoadOptions, RoadResult } from './road.js';
export { arcc, camMultImageConfidenceChange, coherency, complexity } from './arcc.js';
export type { ArccOptions, ArccResult, CamMultImageResult, CoherencyOptions } from './arcc.js';
export type { TargetScoringOptions } from './target-scoring.js';
export { sobelCam } from './sobel.js';
