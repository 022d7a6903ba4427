/**
 * The cross-backend suite: every public function of tfcam, run on one backend and compared with the
 * same call on the cpu backend (in the same process or page), within 1e-4.
 *
 * It runs in the Node projects (cpu, wasm, and tfjs-node's `tensorflow` when installed; see
 * test/backends/cross-backend.test.ts) and in Chromium (webgl, cpu, wasm; see *.browser.test.ts).
 * Each test also proves, on its backend, the claims tfcam makes about backends:
 * - `tf.getBackend()` is the backend under test, before and after the call;
 * - no kernel that tfcam promises not to need is dispatched (filter gradients, segment sums; on
 *   wasm also the missing / slow convolution input gradients), and every dispatched kernel is
 *   registered for the backend;
 * - no tensor leaks;
 * and a last test checks that the kernel and gradient registries and the tfjs flags are exactly as
 * they were before the suite ran (tfcam registers nothing globally).
 *
 * To cover a new public function, add one line to {@link CASES}.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tfcam from '../../src/index.js';
import {
  CAM_METHODS,
  activationsAndGradients,
  applyColormap,
  combineChannels,
  createCam,
  createExplainer,
  deprocessGradients,
  gradCam,
  gradCamCallback,
  guidedBackprop,
  guidedGradCam,
  listLayers,
  normalizeMaps,
  overlay,
  postprocessMaps,
  principalProjection,
  resizeMaps,
  averageDrop,
  centerPrior,
  confidenceChange,
  deletion,
  energyInBox,
  increaseInConfidence,
  insertion,
  pointingGame,
  sanityCheck,
  spearman,
  ssim,
  arcc,
  camMultImageConfidenceChange,
  coherency,
  complexity,
  noisyLinearImpute,
  road,
  sobelCam,
  binaryClassifierTarget,
  boxScoreTarget,
  classProbabilityTarget,
  classReSTTarget,
  classTarget,
  deepFeatureFactorization,
  finerTarget,
  multiLabelTarget,
  randomCam,
  regressionTarget,
  semanticSegmentationTarget,
  shapleyCam,
  similarityToConceptTarget,
} from '../../src/index.js';
import * as tfc from '@tensorflow/tfjs-converter';
import { buildMobileNetV2 } from '../helpers/architectures.js';
import { graphTestInput, graphTestSpec, type GraphTestModelKind } from '../helpers/graph-models.js';
import { dagModel, nestedModel, seedWeights, sequentialModel } from '../helpers/models.js';
import { activateBackend, registrySnapshot, traceKernels, type RegistrySnapshot } from './tools.js';

/** A model and fixed inputs the cases run on (created once, so a case calls tfcam and nothing else). */
export interface Subject {
  model: tfl.LayersModel;
  /** `[B, H, W, C]` float32 input batch. */
  input: tf.Tensor4D;
  /** The first image, `[H, W, C]`. */
  image: tf.Tensor3D;
  /** The batch as int32 levels 0..255. */
  levels: tf.Tensor4D;
  /** A fixed map batch `[B, H, W]` in [0, 1]. */
  heatmap: tf.Tensor3D;
  /** Signed values shaped like the input (stand-in activations or gradients). */
  signed: tf.Tensor4D;
  /** Signed per-channel weights for `signed`, `[B, C]`. */
  channelWeights: tf.Tensor2D;
  /** A signed raw map batch at a layer-like resolution, `[B, 5, 7]`. */
  rawMap: tf.Tensor3D;
}

function subject(model: tfl.LayersModel, input: tf.Tensor4D): Subject {
  const [b, h, w] = input.shape;
  return {
    model,
    input,
    image: tf.tidy(() => tf.squeeze(tf.slice(input, [0], [1]), [0])) as tf.Tensor3D,
    levels: tf.tidy(() => tf.cast(tf.round(tf.mul(tf.clipByValue(input, 0, 1), 255)), 'int32')) as tf.Tensor4D,
    heatmap: tf.randomUniform([b, h, w], 0, 1, 'float32', 42) as tf.Tensor3D,
    signed: tf.randomNormal(input.shape, 0, 1, 'float32', 43) as tf.Tensor4D,
    channelWeights: tf.randomNormal([b, input.shape[3]], 0, 1, 'float32', 44) as tf.Tensor2D,
    rawMap: tf.randomNormal([b, 5, 7], 0, 1, 'float32', 45) as tf.Tensor3D,
  };
}

function disposeSubject(s: Subject): void {
  s.model.dispose();
  tf.dispose([s.input, s.image, s.levels, s.heatmap, s.signed, s.channelWeights, s.rawMap]);
}

/**
 * conv 'first' (channels-last) -> Permute to NCHW -> Conv2D (stride 2), DepthwiseConv2D (ReLU) and
 * GAP in channels-first format -> Dense. Seeded weights.
 */
export function channelsFirstModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3] });
  const layers = [
    tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'first' }),
    tfl.layers.permute({ dims: [3, 1, 2], name: 'to_nchw' }),
    tfl.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', dataFormat: 'channelsFirst', name: 'cf_conv' }),
    tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'valid', dataFormat: 'channelsFirst', activation: 'relu', name: 'cf_dw' }),
    tfl.layers.globalAveragePooling2d({ dataFormat: 'channelsFirst', name: 'cf_gap' }),
    tfl.layers.dense({ units: 3, name: 'logits' }),
  ];
  const output = layers.reduce<tfl.SymbolicTensor>((t, l) => l.apply(t) as tfl.SymbolicTensor, input);
  const model = tfl.model({ inputs: input, outputs: output, name: 'channels_first' });
  seedWeights(model, 11);
  return model;
}

/**
 * A `tf.GraphModel` built in code (test/helpers/graph-models.ts: GraphDef JSON with converter-style
 * nodes), loaded synchronously; typed as the suite's model (every case that runs on it takes either
 * kind of model).
 */
function graphSubject(kind: GraphTestModelKind): Subject {
  const spec = graphTestSpec(kind);
  // The spec builds its LayersModel twin's layers too: free their weights.
  spec.makeTwin().dispose();
  return subject(tfc.loadGraphModelSync(spec.artifacts) as unknown as tfl.LayersModel, graphTestInput(spec, 2));
}

/** The subjects, built lazily (and once) per suite. */
export const SUBJECTS = {
  /** conv + ReLU, max-pool, conv + ReLU, GAP, Dense(softmax). */
  sequential: (): Subject => {
    const m = sequentialModel();
    return subject(m.model, m.input as tf.Tensor4D);
  },
  /** strided conv, BatchNorm, depthwise, separable, residual add, 1x1 conv, 'same' avg-pool, concat, max-pool, flatten, dense. */
  dag: (): Subject => {
    const m = dagModel();
    return subject(m.model, m.input as tf.Tensor4D);
  },
  /** a functional model used as a layer, the target inside it. */
  nested: (): Subject => {
    const m = nestedModel();
    return subject(m.model, m.input as tf.Tensor4D);
  },
  /** channels-first Conv2D and DepthwiseConv2D (tfjs-layers transposes around NHWC kernels) above 'first'. */
  channelsFirst: (): Subject => subject(channelsFirstModel(), tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 8) as tf.Tensor4D),
  /** Keras MobileNetV2 topology at 32 px, alpha 0.35: 17 depthwise convs, ReLU6, zero padding, adds. */
  mobilenet: (): Subject =>
    subject(
      buildMobileNetV2({ inputSize: 32, alpha: 0.35, classes: 10, classifierActivation: 'linear', seed: 4 }),
      tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 6) as tf.Tensor4D,
    ),
  /** tf.GraphModel, MobileNetV2-like: folded and standalone BatchNorm, Relu6, depthwise convs, a residual add, AvgPool, _FusedMatMul. */
  graphResidual: (): Subject => graphSubject('residual'),
  /** tf.GraphModel, Inception-like: branches, AvgPool 'SAME', ConcatV2, Mean, softmax. */
  graphInception: (): Subject => graphSubject('inception'),
} as const satisfies Record<string, () => Subject>;

export type SubjectName = keyof typeof SUBJECTS;

/** What a case returns: a tensor, or a record of tensors and plain values (strings, numbers). */
export type CaseResult = tf.Tensor | Record<string, tf.Tensor | string | number | boolean>;

/** One call of a public function. */
export interface Case {
  /** The public function it covers (a name exported by src/index.ts). */
  fn: string;
  /** Test name; defaults to `fn`. */
  name?: string;
  /** Subjects it runs on (default: sequential and dag). */
  subjects?: readonly SubjectName[];
  /**
   * Exempt from the webgl no-read check: the function reads values back by design (sanityCheck
   * reports numbers) or through a tfjs kernel (webgl's TopK, used to rank pixels, reads on the CPU).
   */
  reads?: true;
  run(subject: Subject): CaseResult | Promise<CaseResult>;
}

const MODEL_FREE = ['sequential'] as const;

/** One box per example, inside the subject's maps: `[y0, x0, y1, x1]`. */
function boxesFor(s: Subject): Array<[number, number, number, number]> {
  const [b, h, w] = s.heatmap.shape;
  return Array.from({ length: b }, (_, i) => [i % h, 1, Math.min(h, i + h / 2), Math.max(2, w - 1)] as [number, number, number, number]);
}

/** What a gradCamCallback hands to onCams after epoch 0 (copied: the callback disposes its tensors). */
async function camsAfterOneEpoch(s: Subject): Promise<CaseResult> {
  let kept: CaseResult = {};
  const callback = gradCamCallback({
    model: s.model,
    images: s.input,
    onCams: (_epoch, r) => {
      kept = { heatmap: tf.clone(r.heatmap), classIndex: tf.clone(r.classIndex), score: tf.clone(r.score), layer: r.layer };
    },
  });
  await callback.onEpochEnd(0);
  return kept;
}

/** A method made with createCam (the docs' example): weights are the mean absolute gradient. */
const absGradCam = createCam({
  name: 'absGradCam',
  weights: ({ gradients }) => tf.mean(tf.abs(gradients), [1, 2]) as tf.Tensor2D,
});

/** A target's value and its gradient with respect to the output `make` returns (rows = the examples in order). */
function targetGradient(target: (output: tf.Tensor, examples: tf.Tensor1D) => tf.Tensor1D, make: () => tf.Tensor): CaseResult {
  return tf.tidy(() => {
    const output = make();
    const examples = tf.range(0, output.shape[0] as number, 1, 'int32') as tf.Tensor1D;
    return { value: target(output, examples), gradient: tf.grad((o: tf.Tensor) => tf.sum(target(o, examples)))(output) };
  });
}

/** Detections `[B, 4, 6]` (x1, y1, x2, y2, score, label) made from the subject's signed values. */
function detections(s: Subject): tf.Tensor {
  return tf.tidy(() => {
    const b = s.signed.shape[0];
    const v = tf.reshape(tf.slice(s.signed, [0, 0, 0, 0], [-1, 2, 2, -1]), [b, 4, -1]);
    const corner = tf.add(tf.slice(v, [0, 0, 0], [-1, -1, 2]), 2);
    const boxes = tf.concat([corner, tf.add(corner, tf.add(tf.abs(tf.slice(v, [0, 0, 0], [-1, -1, 2])), 3))], 2);
    const labels = tf.tile(tf.reshape(tf.tensor1d([2, 1, 2, 0]), [1, 4, 1]), [b, 1, 1]);
    return tf.concat([boxes, tf.sigmoid(tf.slice(v, [0, 0, 2], [-1, -1, 1])), labels], 2);
  });
}

/**
 * Every public function, one line per call; `run` calls tfcam only (its arguments come from the
 * subject). Adding a CAM method: `{ fn: 'hiResCam', run: (s) => hiResCam(s.model, s.input) },`.
 */
export const CASES: readonly Case[] = [
  { fn: 'gradCam', run: (s) => gradCam(s.model, s.input), subjects: ['sequential', 'dag', 'nested'] },
  {
    fn: 'gradCam',
    name: 'gradCam (one image, class 1, raw map)',
    run: (s) => gradCam(s.model, s.image, { target: 1, relu: false, normalize: false, resize: false }),
  },
  {
    fn: 'gradCam',
    name: "gradCam (layer 'bn': depthwise, separable, 'same' avg-pool in the head)",
    run: (s) => gradCam(s.model, s.input, { layer: 'bn' }),
    subjects: ['dag'],
  },
  {
    fn: 'gradCam',
    name: 'gradCam (mid-network block: 12 depthwise convs in the head)',
    run: (s) => gradCam(s.model, s.input, { layer: 'block_3_expand_relu' }),
    subjects: ['mobilenet'],
  },
  {
    fn: 'gradCam',
    name: "gradCam (layer 'first': channels-first convs in the head)",
    run: (s) => gradCam(s.model, s.input, { layer: 'first' }),
    subjects: ['channelsFirst'],
  },
  {
    fn: 'gradCam',
    name: 'gradCam (two layers fused, augSmooth)',
    run: (s) => gradCam(s.model, s.input, { layer: ['c1', 'last_conv'], augSmooth: true }),
    subjects: ['sequential'],
  },
  // Every other built-in method of the registry, with its defaults (a new method there is covered here).
  ...Object.entries(CAM_METHODS)
    .filter(([fn]) => fn !== 'gradCam')
    .map(([fn, cam]): Case => ({ fn, run: (s) => cam(s.model, s.input) })),
  {
    fn: 'gradCamPlusPlus',
    name: 'gradCamPlusPlus (eigenSmooth)',
    run: (s) => CAM_METHODS.gradCamPlusPlus(s.model, s.input, { eigenSmooth: true }),
    subjects: ['dag'],
  },
  { fn: 'createCam', run: (s) => absGradCam(s.model, s.input) },
  { fn: 'gradCamCallback', name: 'gradCamCallback (onEpochEnd)', run: (s) => camsAfterOneEpoch(s), subjects: ['sequential'] },
  {
    fn: 'activationsAndGradients',
    run: (s) => activationsAndGradients(s.model, s.input, { target: 1 }),
    subjects: ['sequential', 'dag', 'nested'],
  },
  { fn: 'combineChannels', run: (s) => combineChannels(s.signed, s.channelWeights), subjects: MODEL_FREE },
  { fn: 'guidedBackprop', run: (s) => guidedBackprop(s.model, s.input), subjects: ['sequential', 'dag', 'mobilenet', 'channelsFirst'] },
  { fn: 'guidedGradCam', run: (s) => guidedGradCam(s.model, s.input, { target: 2 }) },
  { fn: 'deprocessGradients', run: (s) => deprocessGradients(s.signed), subjects: MODEL_FREE },
  { fn: 'principalProjection', run: (s) => principalProjection(s.signed), subjects: MODEL_FREE },
  { fn: 'overlay', run: (s) => overlay(s.input, s.heatmap), subjects: MODEL_FREE },
  {
    fn: 'overlay',
    name: "overlay (int32 image, 'viridis', alpha 0.3)",
    run: (s) => overlay(s.levels, s.heatmap, { colormap: 'viridis', alpha: 0.3 }),
    subjects: MODEL_FREE,
  },
  { fn: 'applyColormap', run: (s) => applyColormap(s.heatmap, 'turbo'), subjects: MODEL_FREE },
  { fn: 'normalizeMaps', run: (s) => normalizeMaps(s.signed), subjects: MODEL_FREE },
  { fn: 'resizeMaps', run: (s) => resizeMaps(s.heatmap, [23, 9]), subjects: MODEL_FREE },
  { fn: 'pointingGame', run: (s) => pointingGame(s.heatmap, boxesFor(s)), subjects: MODEL_FREE },
  { fn: 'energyInBox', run: (s) => energyInBox(s.heatmap, boxesFor(s)), subjects: MODEL_FREE },
  {
    fn: 'centerPrior',
    run: (s) => centerPrior(s.heatmap.shape[1], s.heatmap.shape[2], { batch: s.heatmap.shape[0] }),
    subjects: MODEL_FREE,
  },
  {
    fn: 'spearman',
    reads: true,
    run: (s) => tf.tidy(() => spearman(s.heatmap, tf.reverse(s.heatmap, 2) as tf.Tensor3D)),
    subjects: MODEL_FREE,
  },
  { fn: 'ssim', run: (s) => tf.tidy(() => ssim(s.heatmap, tf.reverse(s.heatmap, 2) as tf.Tensor3D)), subjects: MODEL_FREE },
  { fn: 'confidenceChange', run: (s) => confidenceChange(s.model, s.input, s.heatmap, { target: 1 }), subjects: ['sequential'] },
  { fn: 'averageDrop', run: (s) => averageDrop(s.model, s.input, s.heatmap, { target: 1 }), subjects: ['sequential'] },
  { fn: 'increaseInConfidence', run: (s) => increaseInConfidence(s.model, s.input, s.heatmap, { target: 1 }), subjects: ['sequential'] },
  { fn: 'deletion', reads: true, run: (s) => deletion(s.model, s.input, s.heatmap, { target: 1, steps: 4 }), subjects: ['sequential'] },
  {
    fn: 'insertion',
    reads: true,
    run: (s) => insertion(s.model, s.input, s.heatmap, { target: 1, steps: 4, baseline: 'zeros' }),
    subjects: ['sequential'],
  },
  {
    fn: 'sanityCheck',
    reads: true,
    // Its numbers compared within the suite's tolerance (plain values would be compared exactly).
    run: (s) => {
      const r = sanityCheck(s.model, s.input, gradCam, { seed: 3 });
      return {
        layers: r.steps.map((st) => st.layers.join(',')).join(';'),
        spearman: tf.tensor(r.steps.flatMap((st) => st.spearmanPerExample)),
        ssim: tf.tensor(r.steps.flatMap((st) => st.ssimPerExample)),
      };
    },
    subjects: ['sequential'],
  },
  { fn: 'postprocessMaps', run: (s) => postprocessMaps(s.rawMap, { relu: true, normalize: true, size: [16, 16] }), subjects: MODEL_FREE },
  {
    fn: 'listLayers',
    run: (s) => ({
      layers: listLayers(s.model)
        .map((l) => `${l.name} ${l.op} [${l.shape.join(',')}]`)
        .join(';'),
    }),
    subjects: ['dag', 'graphResidual'],
  },
  {
    fn: 'createExplainer',
    name: "createExplainer (gradCam at 'bn', second call: prepared kernels reused; scoreCam)",
    run: (s) => {
      const explainer = createExplainer(s.model, { layer: 'bn' });
      try {
        tf.dispose(explainer.gradCam(s.input));
        const { heatmap, output, score, classIndex } = explainer.gradCam(s.input);
        const scored = explainer.scoreCam(s.input, { target: 1 });
        const result = { heatmap, output, score, classIndex, scoreCamHeatmap: scored.heatmap };
        tf.dispose([scored.output, scored.score, scored.classIndex]);
        return result;
      } finally {
        explainer.dispose();
      }
    },
    subjects: ['dag'],
  },
  {
    fn: 'createExplainer',
    name: 'createExplainer (tf.GraphModel, node inside a residual branch, second call)',
    reads: true,
    run: (s) => {
      const explainer = createExplainer(s.model, { layer: 'expanded_conv_1/depthwise' });
      try {
        tf.dispose(explainer.gradCam(s.input));
        const { heatmap, output, score, classIndex } = explainer.gradCam(s.input);
        return { heatmap, output, score, classIndex };
      } finally {
        explainer.dispose();
      }
    },
    subjects: ['graphResidual'],
  },
  // tf.GraphModels. `reads`: tfjs' graph executor reads its number parameters (axes, shapes) from
  // small constants on every execute, and tfcam reads the same constants once per model to plan.
  ...(
    [
      ['gradCam', (s) => gradCam(s.model, s.input)],
      ['scoreCam', (s) => CAM_METHODS.scoreCam(s.model, s.input)],
      ['guidedBackprop', (s) => guidedBackprop(s.model, s.input)],
      ['guidedGradCam', (s) => guidedGradCam(s.model, s.input, { target: 2 })],
    ] as Array<[string, Case['run']]>
  ).map(([fn, run]): Case => ({ fn, name: `${fn} (tf.GraphModel)`, reads: true, run, subjects: ['graphResidual', 'graphInception'] })),
  {
    fn: 'gradCam',
    name: 'gradCam (tf.GraphModel, node inside a residual branch: cut feed, depthwise convs in the head)',
    reads: true,
    run: (s) => gradCam(s.model, s.input, { layer: 'expanded_conv_1/depthwise' }),
    subjects: ['graphResidual'],
  },
  {
    fn: 'activationsAndGradients',
    name: 'activationsAndGradients (tf.GraphModel, node inside an Inception branch)',
    reads: true,
    run: (s) => activationsAndGradients(s.model, s.input, { layer: 'conv2d_3', target: 1 }),
    subjects: ['graphInception'],
  },
  {
    fn: 'confidenceChange',
    name: 'confidenceChange (tf.GraphModel)',
    reads: true,
    run: (s) => confidenceChange(s.model, s.input, s.heatmap, { target: 1 }),
    subjects: ['graphInception'],
  },
  // Issue 14: target builders (through gradCam where the subject fits; else value and gradient on a
  // tensor of the output's shape), the RandomCAM baseline, Shapley-CAM on probabilities, SegEigenCAM's
  // projection.
  { fn: 'classTarget', run: (s) => gradCam(s.model, s.input, { target: classTarget([1, 2]) }), subjects: ['sequential'] },
  { fn: 'classProbabilityTarget', run: (s) => gradCam(s.model, s.input, { target: classProbabilityTarget(1) }) },
  { fn: 'classReSTTarget', run: (s) => gradCam(s.model, s.input, { target: classReSTTarget(2) }), subjects: ['sequential'] },
  {
    fn: 'multiLabelTarget',
    run: (s) => gradCam(s.model, s.input, { target: multiLabelTarget([0, 2], [1, 0.5]) }),
    subjects: ['sequential'],
  },
  { fn: 'regressionTarget', run: (s) => gradCam(s.model, s.input, { target: regressionTarget(3) }), subjects: ['sequential'] },
  { fn: 'finerTarget', run: (s) => gradCam(s.model, s.input, { target: finerTarget({ alpha: 0.5 }) }) },
  {
    fn: 'binaryClassifierTarget',
    run: (s) => targetGradient(binaryClassifierTarget([1, 0]), () => tf.reshape(tf.slice(s.signed, [0, 0, 0, 0], [-1, 1, 1, 1]), [-1, 1])),
    subjects: MODEL_FREE,
  },
  {
    fn: 'semanticSegmentationTarget',
    run: (s) => targetGradient(semanticSegmentationTarget(1, s.heatmap), () => s.signed),
    subjects: MODEL_FREE,
  },
  {
    fn: 'similarityToConceptTarget',
    run: (s) => targetGradient(similarityToConceptTarget([0.5, -1, 2]), () => tf.mean(s.signed, [1, 2])),
    subjects: MODEL_FREE,
  },
  {
    fn: 'boxScoreTarget',
    run: (s) => targetGradient(boxScoreTarget([{ box: [1, 1, 6, 6], label: 2 }], { iouThreshold: 0.1 }), () => detections(s)),
    subjects: MODEL_FREE,
  },
  { fn: 'randomCam', run: (s) => randomCam(s.model, s.input, { seed: 1 }) },
  {
    fn: 'shapleyCam',
    name: 'shapleyCam (probabilities: second-order term)',
    run: (s) => shapleyCam(s.model, s.input, { logits: false }),
    subjects: ['sequential'],
  },
  {
    fn: 'principalProjection',
    name: "principalProjection (orientation 'extremum')",
    run: (s) => principalProjection(s.signed, { orientation: 'extremum' }),
    subjects: MODEL_FREE,
  },
  {
    fn: 'deepFeatureFactorization',
    run: (s) => {
      const r = deepFeatureFactorization(s.model, s.input, { components: 3, maxIterations: 30 });
      return { concepts: r.concepts, explanations: r.explanations, iterations: r.iterations, reconstructionError: r.reconstructionError };
    },
    subjects: ['sequential'],
  },
  {
    fn: 'road',
    reads: true,
    run: (s) => road(s.model, s.input, s.heatmap, { target: 1, percentiles: [30, 70], seed: 1 }),
    subjects: ['sequential'],
  },
  {
    fn: 'noisyLinearImpute',
    reads: true,
    run: (s) => tf.tidy(() => noisyLinearImpute(s.input, tf.cast(tf.less(s.heatmap, 0.5), 'float32') as tf.Tensor3D, { seed: 2 })),
    subjects: MODEL_FREE,
  },
  {
    fn: 'arcc',
    reads: true,
    run: (s) => arcc(s.model, s.input, s.heatmap, { target: 1, percentiles: [50], noise: 0 }),
    subjects: ['sequential'],
  },
  {
    fn: 'camMultImageConfidenceChange',
    run: (s) => camMultImageConfidenceChange(s.model, s.input, s.heatmap, { target: 1, softmax: true }),
    subjects: ['sequential'],
  },
  { fn: 'coherency', run: (s) => coherency(s.model, s.input, s.heatmap, { target: 1 }), subjects: ['sequential'] },
  { fn: 'complexity', run: (s) => complexity(s.heatmap), subjects: MODEL_FREE },
  { fn: 'sobelCam', run: (s) => sobelCam(s.levels), subjects: MODEL_FREE },
];

/** Exports of src/index.ts that are not functions to cover (classes). */
const NOT_FUNCTIONS = /Error$/;

/** The public functions of src/index.ts. */
export function publicFunctions(): string[] {
  return Object.entries(tfcam)
    .filter(([name, value]) => typeof value === 'function' && !NOT_FUNCTIONS.test(name))
    .map(([name]) => name)
    .sort();
}

/** Kernels tfcam never needs on any backend (it computes input gradients only). */
export const NEVER_DISPATCHED = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'UnsortedSegmentSum'];

/**
 * Kernels that must not run on a backend: missing on wasm (`DepthwiseConv2dNativeBackpropInput`,
 * `Conv2DBackpropFilter`, `UnsortedSegmentSum`) or a scalar loop there (`Conv2DBackpropInput`).
 */
export function forbiddenKernels(backend: string): string[] {
  return backend === 'wasm' ? [...NEVER_DISPATCHED, 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropInput'] : NEVER_DISPATCHED;
}

interface Flat {
  key: string;
  value: tf.Tensor | string | number | boolean;
}

function flatten(result: CaseResult): Flat[] {
  if (isTensorLike(result)) return [{ key: '', value: result }];
  return Object.keys(result)
    .sort()
    .map((key) => ({ key, value: result[key] as Flat['value'] }));
}

function isTensorLike(v: unknown): v is tf.Tensor {
  return typeof v === 'object' && v !== null && 'dataId' in v && 'shape' in v && 'dtype' in v;
}

/** A result read back to the host. */
export interface HostValue {
  key: string;
  dtype?: string;
  shape?: number[];
  values?: Float64Array;
  plain?: string | number | boolean;
}

async function readResult(result: CaseResult): Promise<HostValue[]> {
  const out: HostValue[] = [];
  for (const { key, value } of flatten(result)) {
    if (isTensorLike(value)) {
      out.push({ key, dtype: value.dtype, shape: [...value.shape], values: Float64Array.from(await value.data()) });
    } else {
      out.push({ key, plain: value });
    }
  }
  return out;
}

/** Max |a - b| and the tolerance 1e-4 * max(1, max |cpu|) for one tensor. */
export function compare(actual: Float64Array, expected: Float64Array): { diff: number; tol: number } {
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    const a = actual[i] as number;
    scale = Math.max(scale, Math.abs(e));
    const d = Math.abs(a - e);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
  }
  return { diff, tol: 1e-4 * scale };
}

/** Largest difference to cpu measured per test, for the report printed after the suite. */
export type Measured = Map<string, number>;

export interface SuiteOptions {
  /** Skip the whole suite with this reason (shown as the suite's name). */
  skip?: string | undefined;
  /** Subjects not to run on this backend. */
  excludeSubjects?: readonly SubjectName[];
}

/**
 * Defines the cross-backend suite for one backend. The backend must be registered (imported) by
 * the project's setup file; the suite activates cpu to compute the references, then `backend`.
 */
export function defineBackendSuite(backend: string, options: SuiteOptions = {}): void {
  const skip = options.skip;
  const title = skip ?? `every public function on ${backend} matches cpu within 1e-4`;
  describe.skipIf(skip !== undefined)(title, () => {
    const excluded = new Set(options.excludeSubjects ?? []);
    const runs = CASES.flatMap((c) =>
      (c.subjects ?? (['sequential', 'dag'] as const))
        .filter((s) => !excluded.has(s))
        .map((subject) => ({ c, subject, title: `${c.name ?? c.fn} on ${subject}` })),
    );
    const subjects = new Map<SubjectName, Subject>();
    const references = new Map<string, HostValue[]>();
    const measured: Measured = new Map();
    let before: RegistrySnapshot;

    beforeAll(async () => {
      await activateBackend('cpu');
      before = registrySnapshot();
      for (const r of runs) {
        let s = subjects.get(r.subject);
        if (s === undefined) {
          s = SUBJECTS[r.subject]();
          subjects.set(r.subject, s);
        }
        const result = await r.c.run(s);
        references.set(r.title, await readResult(result));
        tf.dispose(result as tf.TensorContainer);
      }
      await activateBackend(backend);
    });

    afterAll(() => {
      for (const s of subjects.values()) disposeSubject(s);
      const worst = [...measured.entries()].sort((a, b) => b[1] - a[1]);
      // One line per backend: the largest difference to cpu per test (for the backend report).
      console.info(`[${backend} vs cpu] ${worst.map(([t, d]) => `${t}: ${d.toExponential(1)}`).join('; ')}`);
    });

    it('covers every public function of src/index.ts', () => {
      expect(tf.getBackend()).toBe(backend);
      const covered = new Set(CASES.map((c) => c.fn));
      expect(publicFunctions().filter((f) => !covered.has(f))).toEqual([]);
    });

    it('records backward kernels (self-check of the kernel tracer)', async () => {
      expect(tf.getBackend()).toBe(backend);
      const { value, kernels } = await traceKernels(() =>
        tf.tidy(() => {
          const k = tf.ones([3, 3, 2, 2]) as tf.Tensor4D;
          return tf.grad((x: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, k, 1, 'same')))(tf.ones([1, 4, 4, 2]));
        }),
      );
      value.dispose();
      expect([...kernels]).toEqual(expect.arrayContaining(['Conv2D', 'Conv2DBackpropInput']));
      expect(kernels.has('Conv2DBackpropFilter')).toBe(false);
    });

    it.each(runs.map((r) => [r.title, r] as const))('%s', async (_title, r) => {
      expect(tf.getBackend()).toBe(backend);
      const s = subjects.get(r.subject) as Subject;
      const tensorsBefore = tf.memory().numTensors;
      const { value: result, kernels } = await traceKernels(() => r.c.run(s));
      expect(tf.getBackend()).toBe(backend);
      const got = await readResult(result);
      tf.dispose(result as tf.TensorContainer);
      expect(tf.memory().numTensors).toBe(tensorsBefore);

      const forbidden = forbiddenKernels(backend).filter((k) => kernels.has(k));
      expect(forbidden, `kernels dispatched on ${backend}`).toEqual([]);
      const unregistered = [...kernels].filter((k) => tf.getKernel(k, backend) === undefined);
      expect(unregistered, `kernels not registered for ${backend}`).toEqual([]);

      const want = references.get(r.title) as HostValue[];
      expect(got.map((g) => g.key)).toEqual(want.map((w) => w.key));
      // Measure every tensor first (the report lists failures too), then assert.
      const checks = got.map((g, i) => {
        const w = want[i] as HostValue;
        if (w.values === undefined || g.values === undefined || g.values.length !== w.values.length) return null;
        return { key: g.key, ...compare(g.values, w.values) };
      });
      measured.set(r.title, Math.max(0, ...checks.map((c) => c?.diff ?? 0)));
      got.forEach((g, i) => {
        const w = want[i] as HostValue;
        if (w.values === undefined) {
          expect(g.plain, g.key).toEqual(w.plain);
          return;
        }
        expect(g.dtype, g.key).toBe(w.dtype);
        expect(g.shape, g.key).toEqual(w.shape);
        const c = checks[i];
        expect(c, g.key).not.toBeNull();
        if (c != null) expect(c.diff, `max |${backend} - cpu| of ${g.key || 'result'}`).toBeLessThanOrEqual(c.tol);
      });
    });

    it.runIf(backend === 'wasm')('computes depthwise-conv input gradients with forward depthwise convs on wasm', async () => {
      expect(tf.getBackend()).toBe('wasm');
      const s = subjects.get('mobilenet') ?? SUBJECTS.mobilenet();
      const { value, kernels } = await traceKernels(() => guidedBackprop(s.model, s.input));
      const g = value.gradients;
      expect(g.shape).toEqual(s.input.shape);
      // The backward pass ran through forward depthwise convolutions, never the missing kernel.
      expect(kernels.has('DepthwiseConv2dNative')).toBe(true);
      expect(kernels.has('DepthwiseConv2dNativeBackpropInput')).toBe(false);
      expect(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm')).toBeUndefined();
      expect(Array.from(g.dataSync()).some((v) => v !== 0)).toBe(true);
      tf.dispose(value);
      if (!subjects.has('mobilenet')) disposeSubject(s);
    });

    it('leaves the kernel and gradient registries, the flags and the backend unchanged', () => {
      expect(tf.getBackend()).toBe(backend);
      const after = registrySnapshot();
      expect(after.backends).toEqual(before.backends);
      expect(after.kernels).toEqual(before.kernels);
      expect(after.gradients).toEqual(before.gradients);
      expect(after.kernelConfigsChanged(before)).toEqual([]);
      expect(after.gradientsChanged(before)).toEqual([]);
      expect(after.flagsChanged(before)).toEqual([]);
    });
  });
}
