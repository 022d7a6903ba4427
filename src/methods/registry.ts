/**
 * Every built-in CAM method by name: adding a method is one file plus one line here.
 * @module
 */
import type { CamFunction } from '../pipeline/method.js';
import { ablationCam } from './ablationcam.js';
import { eigenCam, eigenGradCam } from './eigencam.js';
import { gradCam } from './gradcam.js';
import { gradCamPlusPlus } from './gradcam-plusplus.js';
import { gradCamElementWise, hiResCam } from './hirescam.js';
import { layerCam } from './layercam.js';
import { scoreCam } from './scorecam.js';
import { xGradCam } from './xgradcam.js';
import { fem } from './fem.js';
import { finerCam } from './finercam.js';
import { fullGrad } from './fullgrad.js';
import { kpcaCam } from './kpcacam.js';
import { refineCam } from './refinecam.js';
import { segEigenCam } from './segeigencam.js';
import { shapleyCam } from './shapleycam.js';

const METHODS = {
  gradCam,
  gradCamPlusPlus,
  hiResCam,
  xGradCam,
  layerCam,
  gradCamElementWise,
  scoreCam,
  ablationCam,
  eigenCam,
  eigenGradCam,
  kpcaCam,
  fem,
  segEigenCam,
  shapleyCam,
  finerCam,
  refineCam,
  fullGrad,
} as const;

/** The names of the built-in CAM methods (the keys of {@link CAM_METHODS}). */
export type CamMethodName = keyof typeof METHODS;

/** Each built-in CAM method's function, with its own options type (keyed like {@link CAM_METHODS}). */
export type CamMethodFunctions = typeof METHODS;

/**
 * The built-in CAM methods by name (same signature, options and result for all), e.g. to pick one
 * from a command-line flag: `CAM_METHODS[name](model, image)`.
 */
export const CAM_METHODS: Readonly<Record<CamMethodName, CamFunction>> = METHODS as unknown as Readonly<Record<CamMethodName, CamFunction>>;
