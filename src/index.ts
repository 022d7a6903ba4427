/**
 * tfcam: Grad-CAM and friends for TensorFlow.js.
 *
 * @packageDocumentation
 * @module tfcam
 */
export { gradCam } from './methods/gradcam.js';
export type { GradCamOptions } from './methods/gradcam.js';
export { gradCamPlusPlus } from './methods/gradcam-plusplus.js';
export type { GradCamPlusPlusOptions } from './methods/gradcam-plusplus.js';
export { hiResCam, gradCamElementWise } from './methods/hirescam.js';
export { xGradCam } from './methods/xgradcam.js';
export { layerCam } from './methods/layercam.js';
export { scoreCam } from './methods/scorecam.js';
export type { ScoreCamOptions } from './methods/scorecam.js';
export { ablationCam } from './methods/ablationcam.js';
export type { AblationCamOptions } from './methods/ablationcam.js';
export type { BatchedCamOptions } from './methods/batched.js';
export { eigenCam, eigenGradCam } from './methods/eigencam.js';
export { kpcaCam } from './methods/kpcacam.js';
export type { KpcaCamOptions } from './methods/kpcacam.js';
export { fem } from './methods/fem.js';
export type { FemOptions } from './methods/fem.js';
export { segEigenCam } from './methods/segeigencam.js';
export { shapleyCam } from './methods/shapleycam.js';
export type { ShapleyCamOptions } from './methods/shapleycam.js';
export { finerCam } from './methods/finercam.js';
export type { FinerCamOptions } from './methods/finercam.js';
export { refineCam } from './methods/refinecam.js';
export type { RefineCamOptions } from './methods/refinecam.js';
export { randomCam } from './methods/randomcam.js';
export type { RandomCamOptions } from './methods/randomcam.js';
export { fullGrad } from './methods/fullgrad.js';
export type { FullGradOptions } from './methods/fullgrad.js';
export { deepFeatureFactorization } from './methods/dff.js';
export type { DeepFeatureFactorizationOptions, DeepFeatureFactorizationResult } from './methods/dff.js';
export { CAM_METHODS } from './methods/registry.js';
export type { CamMethodFunctions, CamMethodName } from './methods/registry.js';
export { createCam } from './pipeline/cam.js';
export { createExplainer, DisposedError } from './explainer/explainer.js';
export type { Explainer, ExplainerBase, ExplainerCam, ExplainerMemory, ExplainerMethods, ExplainerOptions } from './explainer/explainer.js';
export type {
  CamContext,
  CamFunction,
  CamMethod,
  CamMethodBase,
  MethodOptions,
  MethodSchema,
  MethodOptionKeys,
} from './pipeline/method.js';
export { INVALID } from './core/options.js';
export type { OptionContext, OptionSpec } from './core/options.js';
export { principalProjection } from './core/projection.js';
export type { ProjectionOptions } from './core/projection.js';
export { activationsAndGradients, combineChannels } from './pipeline/activations.js';
export { listLayers } from './models/list-layers.js';
export type { CandidateLayer } from './models/list-layers.js';
export type { GraphModelLike, GraphTensorInfoLike } from './models/graph/types.js';
export type { ActivationsAndGradientsOptions, ActivationsAndGradientsResult } from './pipeline/activations.js';
export { gradCamCallback } from './callbacks/gradcam-callback.js';
export type { GradCamCallback, GradCamCallbackOptions } from './callbacks/gradcam-callback.js';
export {
  averageDrop,
  confidenceChange,
  deletion,
  increaseInConfidence,
  insertion,
  centerPrior,
  energyInBox,
  pointingGame,
  sanityCheck,
  spearman,
  ssim,
  road,
  noisyLinearImpute,
  arcc,
  camMultImageConfidenceChange,
  coherency,
  complexity,
  sobelCam,
} from './metrics/index.js';
export type {
  Box,
  CenterPriorOptions,
  ConfidenceChange,
  ExplanationLike,
  ExplanationMethod,
  PerturbationBaseline,
  PerturbationCurve,
  PerturbationCurveOptions,
  PointingGameOptions,
  Regions,
  SanityCheckOptions,
  SanityCheckResult,
  SanityStep,
  ScoringOptions,
  SsimOptions,
  ArccOptions,
  ArccResult,
  CamMultImageResult,
  CoherencyOptions,
  NoisyLinearImputeOptions,
  RoadOptions,
  RoadResult,
  TargetScoringOptions,
} from './metrics/index.js';
export {
  binaryClassifierTarget,
  boxScoreTarget,
  classProbabilityTarget,
  classReSTTarget,
  classTarget,
  finerTarget,
  multiLabelTarget,
  regressionTarget,
  semanticSegmentationTarget,
  similarityToConceptTarget,
} from './targets/index.js';
export type {
  BoxScoreOptions,
  DetectionBox,
  DetectionReference,
  Detections,
  FinerTargetOptions,
  PerExample,
  SimilarityToConceptOptions,
  TargetFn,
} from './targets/index.js';
export { guidedBackprop, guidedGradCam, deprocessGradients } from './guided/guided.js';
export type { GuidedOptions, GuidedGradCamOptions, GuidedResult, GuidedGradCamResult } from './guided/guided.js';
export { normalizeMaps, resizeMaps, postprocessMaps, NORMALIZE_EPS } from './core/postprocess.js';
export type { PostprocessOptions } from './core/postprocess.js';
export { applyColormap, overlay } from './overlay/overlay.js';
export type { Colormap, ImageRange, OverlayOptions } from './overlay/overlay.js';
export { COLORMAPS, COLORMAP_NAMES } from './overlay/colormaps.js';
export type { ColormapName, ColormapTable } from './overlay/colormaps.js';
export type {
  CamInput,
  CamModel,
  CamOptions,
  CamResult,
  CamResultBatch,
  CamResultSingle,
  LayerRef,
  LayerObject,
  Target,
} from './core/types.js';
export {
  TfcamError,
  ModelError,
  InputError,
  LayerError,
  TargetError,
  OptionError,
  UnsupportedError,
} from './errors.js';
export type { TfcamErrorCode, TfcamErrorDetails } from './errors.js';
