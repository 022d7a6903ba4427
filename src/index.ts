/**
 * tfcam: Grad-CAM and friends for TensorFlow.js.
 *
 * @packageDocumentation
 */
export { gradCam } from './methods/gradcam.js';
export { guidedBackprop, guidedGradCam, deprocessGradients } from './guided/guided.js';
export type { GuidedOptions, GuidedGradCamOptions, GuidedResult, GuidedGradCamResult } from './guided/guided.js';
export { normalizeMaps, resizeMaps, NORMALIZE_EPS } from './core/postprocess.js';
export { applyColormap, overlay } from './overlay/overlay.js';
export type { Colormap, ImageRange, OverlayOptions } from './overlay/overlay.js';
export { COLORMAPS, COLORMAP_NAMES } from './overlay/colormaps.js';
export type { ColormapName, ColormapTable } from './overlay/colormaps.js';
export type {
  CamInput,
  CamOptions,
  CamResult,
  CamResultBatch,
  CamResultSingle,
  LayerRef,
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
