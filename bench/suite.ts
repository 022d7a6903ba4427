/**
 * The benchmark suite, without Node-only imports: the models, the contenders and the measuring loop
 * for the active backend. `bench/run.ts` drives it in Node (cpu, wasm); `bench/webgl/webgl.bench.ts`
 * drives it in Chromium (webgl).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { buildInceptionV3, buildMobileNetV2 } from '../test/helpers/architectures.js';
import type { ContenderSpec, Instance, Sample } from './measure.js';
import { measureAll } from './measure.js';
import { prepareKerasSplit, prepareProbe } from './naive.js';
import { headHasConv, prepareInputGradient, prepareOptimumGradCam } from './optimum.js';
import type { Section } from './table.js';

export interface ModelConfig {
  key: string;
  label: string;
  inputSize: number;
  lastBlock: string;
  layers: string[];
  /** Where scoreCam is measured (it costs one forward pass per channel of this layer). */
  scoreCamLayer: string;
  build(): tfl.LayersModel;
}

export function modelConfigs(small: boolean): Record<string, ModelConfig> {
  const seed = 1;
  return {
    mobilenetv2: small
      ? {
          key: 'mobilenetv2',
          label: 'MobileNetV2 96 px alpha 0.35',
          inputSize: 96,
          lastBlock: 'out_relu',
          layers: ['out_relu', 'block_14_expand_relu'],
          // 8 channels instead of out_relu's 1280 (8 forward passes): keeps the smoke run short.
          scoreCamLayer: 'block_1_project_BN',
          build: () => buildMobileNetV2({ inputSize: 96, alpha: 0.35, seed }),
        }
      : {
          key: 'mobilenetv2',
          label: 'MobileNetV2 224 px',
          inputSize: 224,
          lastBlock: 'out_relu',
          layers: ['out_relu', 'block_14_expand_relu'],
          scoreCamLayer: 'out_relu',
          build: () => buildMobileNetV2({ seed }),
        },
    inceptionv3: small
      ? {
          key: 'inceptionv3',
          label: 'InceptionV3 107 px x0.25',
          inputSize: 107,
          lastBlock: 'mixed10',
          layers: ['mixed10', 'mixed7'],
          scoreCamLayer: 'mixed10',
          build: () => buildInceptionV3({ inputSize: 107, filtersScale: 0.25, seed }),
        }
      : {
          key: 'inceptionv3',
          label: 'InceptionV3 299 px',
          inputSize: 299,
          lastBlock: 'mixed10',
          layers: ['mixed10', 'mixed7'],
          scoreCamLayer: 'mixed10',
          build: () => buildInceptionV3({ seed }),
        },
  };
}

/** Peak tensor bytes above which a wasm contender is not attempted (the heap also holds weights, fragmentation). */
export const WASM_HEAP_BUDGET = 3.25 * 2 ** 30;

/** tfcam's public API, loaded at run time so that functions still being written are optional. */
export type CamFn = (model: tfl.LayersModel, input: tf.Tensor, options?: Record<string, unknown>) => tf.TensorContainer;

function camContender(
  tfcam: Record<string, unknown>,
  name: string,
  model: tfl.LayersModel,
  layer: string,
  note: string,
): ContenderSpec | null {
  if (!(name in tfcam) || typeof tfcam[name] !== 'function') return null;
  const fn = tfcam[name] as CamFn;
  return {
    id: `${name}@${layer}`,
    name,
    group: 'tfcam',
    layer,
    mayFail: false,
    note,
    make: (): Instance => ({ run: (x) => fn(model, x, { layer, validate: false }) }),
  };
}

/**
 * `explainer@L`: a tfcam explainer created for `L` (outside the clock: `make`), its `gradCam` called
 * with the layer as default; disposed after the contender's last call.
 */
function explainerContender(tfcam: Record<string, unknown>, model: tfl.LayersModel, layer: string): ContenderSpec | null {
  if (typeof tfcam['createExplainer'] !== 'function') return null;
  type Bound = { gradCam(x: tf.Tensor): tf.TensorContainer; dispose(): void };
  const create = tfcam['createExplainer'] as (m: tfl.LayersModel, o: Record<string, unknown>) => Bound;
  return {
    id: `explainer@${layer}`,
    name: 'explainer',
    group: 'tfcam',
    layer,
    mayFail: false,
    note: 'tfcam createExplainer(model, { layer }).gradCam: prepared kernels kept between calls',
    make: (): Instance => {
      const explainer = create(model, { layer, validate: false });
      return { run: (x) => explainer.gradCam(x), dispose: () => explainer.dispose() };
    },
  };
}

export function contenders(cfg: ModelConfig, model: tfl.LayersModel, tfcam: Record<string, unknown>, backend: string): ContenderSpec[] {
  const fwdDefault = backend === 'wasm';
  const specs: ContenderSpec[] = [
    {
      id: 'predict',
      name: 'predict',
      group: 'reference',
      layer: null,
      mayFail: false,
      note: 'model.predict (forward only, fused kernels)',
      make: () => ({ run: (x) => model.predict(x) as tf.Tensor }),
    },
  ];
  for (const layer of cfg.layers) {
    specs.push({
      id: `optimum@${layer}`,
      name: 'optimum',
      group: 'optimum',
      layer,
      mayFail: false,
      note: `hand-written optimum (conv input gradients: ${fwdDefault ? 'forward convs, flipped kernels' : 'stock kernels'})`,
      make: () => prepareOptimumGradCam(model, layer, { forwardConvGrad: fwdDefault }),
    });
    const g = camContender(tfcam, 'gradCam', model, layer, 'tfcam gradCam');
    if (g !== null) specs.push(g);
    const e = explainerContender(tfcam, model, layer);
    if (e !== null) specs.push(e);
    if (headHasConv(model, layer) && fwdDefault) {
      specs.push({
        id: `optimumPerCall@${layer}`,
        name: 'optimumPerCall',
        group: 'optimum',
        layer,
        mayFail: false,
        note: 'the optimum flipping its kernels in every call, as a function that keeps nothing between calls must',
        make: () => prepareOptimumGradCam(model, layer, { forwardConvGrad: true, perCallKernels: true }),
      });
    }
    if (headHasConv(model, layer)) {
      specs.push({
        id: `optimumAlt@${layer}`,
        name: 'optimumAlt',
        group: 'optimum',
        layer,
        mayFail: true,
        note: `optimum with the other conv-gradient strategy (${fwdDefault ? 'stock kernels' : 'forward convs, flipped kernels'})`,
        make: () => prepareOptimumGradCam(model, layer, { forwardConvGrad: !fwdDefault }),
      });
    }
    specs.push({
      id: `kerasSplit@${layer}`,
      name: 'kerasSplit',
      group: 'naive',
      layer,
      mayFail: true,
      note: 'Keras-example split: features model + following layers re-applied in sequence (stock layers under tf.grad)',
      make: () => prepareKerasSplit(model, layer),
    });
    specs.push({
      id: `probe@${layer}`,
      name: 'probe',
      group: 'naive',
      layer,
      mayFail: true,
      note: 'whole model under the tape, zero probe added at the layer',
      make: () => prepareProbe(model, layer),
    });
  }
  specs.push({
    id: 'inputGradient',
    name: 'inputGradient',
    group: 'reference',
    layer: null,
    mayFail: false,
    note: 'one input-gradient pass (forward under the tape + backward to the image), optimum ops',
    make: () => prepareInputGradient(model, { forwardConvGrad: fwdDefault }),
  });
  // Issue 14's methods, at the last block (batched as every CAM method): fullGrad has no target
  // layer (the whole model), refineCam multiplies Grad-CAM++ at the configured layers.
  for (const name of ['kpcaCam', 'fem', 'segEigenCam', 'shapleyCam', 'finerCam']) {
    const c = camContender(tfcam, name, model, cfg.lastBlock, `tfcam ${name}`);
    if (c !== null) specs.push(c);
  }
  const method = (name: string, layer: string | null, options: Record<string, unknown>, note: string): void => {
    if (typeof tfcam[name] !== 'function') return;
    const fn = tfcam[name] as CamFn;
    specs.push({
      id: layer === null ? name : `${name}@${layer}`,
      name,
      group: 'tfcam',
      layer,
      mayFail: false,
      note,
      make: () => ({ run: (x) => fn(model, x, { ...options, validate: false }) }),
    });
  };
  method('refineCam', cfg.layers.join('+'), { layer: cfg.layers }, `tfcam refineCam (Grad-CAM++ at ${cfg.layers.join(', ')}, product)`);
  method('fullGrad', null, {}, 'tfcam fullGrad (input gradient and every biased layer, one backward pass of the whole model)');
  method(
    'deepFeatureFactorization',
    cfg.lastBlock,
    { layer: cfg.lastBlock, components: 5 },
    'tfcam deepFeatureFactorization (NMF, 5 concepts, 200 iterations)',
  );
  const guided = camContender(tfcam, 'guidedGradCam', model, cfg.lastBlock, 'tfcam guidedGradCam');
  if (guided !== null) specs.push(guided);
  const score = camContender(tfcam, 'scoreCam', model, cfg.scoreCamLayer, 'tfcam scoreCam (one forward pass per channel, batches of 32)');
  if (score !== null) specs.push(score);
  return specs;
}

/**
 * Contenders that run only when named in --only (or in --smoke): scoreCam costs C forward passes,
 * deepFeatureFactorization 200 NMF iterations.
 */
export const OPT_IN = ['scoreCam', 'deepFeatureFactorization'];

export function selected(id: string, only: string[], skip: string[], smoke: boolean): boolean {
  const matches = (p: string): boolean => id === p || id.startsWith(`${p}@`);
  if (only.length > 0 && !only.some(matches)) return false;
  if (!smoke && only.length === 0 && OPT_IN.some(matches)) return false;
  return !skip.some(matches);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** What one suite run measures (the backend is already active). */
export interface SuiteOptions {
  backend: string;
  /** Keys of {@link modelConfigs}. */
  models: string[];
  small: boolean;
  batches: number[];
  runs: number;
  warmup: number;
  maxTimeMs: number;
  only: string[];
  skip: string[];
  smoke: boolean;
  /** tfcam's exports (src/ or another build). */
  tfcam: Record<string, unknown>;
  /** The tfcam commit measured, recorded in each section. */
  commit: string;
  /** The benchmark's command line, recorded in each section. */
  command: string;
  log: (msg: string) => void;
  onSection?: ((section: Section) => void) | undefined;
}

/** Measures every selected contender on every model and batch; returns the sections and the count of unexpected failures. */
export async function runSuite(o: SuiteOptions): Promise<{ sections: Section[]; failures: number }> {
  const { backend, batches, runs, warmup, maxTimeMs, only, skip, smoke, tfcam, log } = o;
  const configs = modelConfigs(o.small);
  const sections: Section[] = [];
  let failures = 0;
  for (const key of o.models) {
    const cfg = configs[key] as ModelConfig;
    log(`[${backend}] building ${cfg.label}`);
    const model = cfg.build();
    const specs = contenders(cfg, model, tfcam, backend).filter((s) => selected(s.id, only, skip, smoke));
    const peaks = new Map<string, { bytes: number; batch: number }>();
    for (const batch of batches) {
      const sectionStart = performance.now();
      const section: Section = {
        backend,
        model: cfg.key,
        modelLabel: cfg.label,
        inputSize: cfg.inputSize,
        batch,
        lastBlock: cfg.lastBlock,
        layers: cfg.layers,
        runs,
        warmup,
        startedAt: new Date().toISOString(),
        tfcam: o.commit,
        command: o.command,
        wallMs: 0,
        rows: [],
        checks: [],
      };
      const x = tf.tidy(() => tf.randomUniform([batch, cfg.inputSize, cfg.inputSize, 3], -1, 1, 'float32', 42)) as tf.Tensor4D;
      const samples = new Map<string, Sample>();
      const measured = await measureAll(specs, x, {
        runs,
        warmup,
        maxTimeMs,
        log,
        onStart: (spec) => log(`[${backend} ${cfg.label} b${batch}] ${spec.id}`),
        precheck: (spec) => {
          // wasm's heap cannot grow past 4 GiB, and a kernel that runs out of it traps and leaves
          // the module corrupt: skip what the smallest batch measured says will not fit.
          const known = peaks.get(spec.id);
          if (backend !== 'wasm' || known === undefined) return null;
          const estimate = (known.bytes / known.batch) * batch;
          return estimate > WASM_HEAP_BUDGET
            ? `estimated peak ${(estimate / 2 ** 30).toFixed(1)} GiB (${(known.bytes / 2 ** 20).toFixed(0)} MiB at batch ${known.batch}) exceeds what wasm's 4 GiB heap can hold`
            : null;
        },
      });
      for (const { m } of measured) {
        if (m.peakBytes !== null && !peaks.has(m.id)) peaks.set(m.id, { bytes: m.peakBytes, batch });
      }
      for (const { m, sample } of measured) {
        section.rows.push(m);
        samples.set(m.id, sample);
        if (m.status === 'error') failures++;
      }
      for (const m of section.rows) {
        if (m.layer === null || m.name === 'optimum' || m.status !== 'ok') continue;
        const a = samples.get(m.id)?.heatmap;
        const b = samples.get(`optimum@${m.layer}`)?.heatmap;
        if (a != null && b != null) section.checks.push({ id: m.id, vs: `optimum@${m.layer}`, maxAbsDiff: maxAbsDiff(a, b) });
      }
      x.dispose();
      section.wallMs = performance.now() - sectionStart;
      sections.push(section);
      o.onSection?.(section);
    }
    model.dispose();
  }
  return { sections, failures };
}
