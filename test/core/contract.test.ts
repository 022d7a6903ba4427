/**
 * The API contract that must not drift: every key of every exported options type is accepted at run
 * time; every error a caller can see is a TfcamError; a failed head pass (forward or backward)
 * leaves no tensor behind, without tfcam touching the engine on the forward path.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ActivationsAndGradientsOptions,
  BatchedCamOptions,
  CamOptions,
  CenterPriorOptions,
  GradCamOptions,
  GradCamPlusPlusOptions,
  GuidedGradCamOptions,
  GuidedOptions,
  OverlayOptions,
  PerturbationCurveOptions,
  PointingGameOptions,
  SanityCheckOptions,
  ScoreCamOptions,
  ScoringOptions,
  SsimOptions,
} from '../../src/index.js';
import * as tfcam from '../../src/index.js';
import { OptionError, TfcamError, UnsupportedError, createCam, gradCam, guidedGradCam } from '../../src/index.js';
import { expectThrowsClean } from '../helpers/integrity.js';
import { sequentialModel } from '../helpers/models.js';

/** One valid value for every key of an options type: the compiler checks that none is missing. */
type Samples<O> = { readonly [K in keyof Required<O>]: Exclude<O[K], undefined> };

const cam: Samples<CamOptions> = {
  layer: 'last_conv',
  node: 0,
  target: 1,
  logits: true,
  relu: true,
  normalize: true,
  resize: [16, 16],
  outputIndex: 0,
  validate: true,
  fuse: 'max',
  augSmooth: false,
  eigenSmooth: false,
};
const batched: Samples<BatchedCamOptions> = { ...cam, batchSize: 4, onProgress: () => undefined };
const { resize: _resize, ...camWithoutResize } = cam;
const scoring: Samples<ScoringOptions> = { target: 1, softmax: 'auto', outputIndex: 0, batchSize: 4, validate: true };

/** Each public function with options: how to call it with one option set, and a value per key. */
const CASES: Array<{ fn: string; samples: Record<string, unknown>; call: (t: Subject, options: Record<string, unknown>) => unknown }> = [
  {
    fn: 'gradCam',
    samples: { ...cam, guidedGrads: true } satisfies Samples<GradCamOptions>,
    call: (t, o) => tfcam.gradCam(t.model, t.x, o),
  },
  {
    fn: 'gradCamPlusPlus',
    samples: { ...cam, variant: 'paper' } satisfies Samples<GradCamPlusPlusOptions>,
    call: (t, o) => tfcam.gradCamPlusPlus(t.model, t.x, o),
  },
  { fn: 'hiResCam', samples: cam, call: (t, o) => tfcam.hiResCam(t.model, t.x, o) },
  { fn: 'eigenCam', samples: cam, call: (t, o) => tfcam.eigenCam(t.model, t.x, o) },
  {
    fn: 'scoreCam',
    samples: { ...batched, softmax: 'classes' } satisfies Samples<ScoreCamOptions>,
    call: (t, o) => tfcam.scoreCam(t.model, t.x, o),
  },
  { fn: 'ablationCam', samples: batched, call: (t, o) => tfcam.ablationCam(t.model, t.x, o) },
  {
    fn: 'activationsAndGradients',
    samples: {
      layer: 'last_conv',
      node: 0,
      target: 1,
      logits: true,
      outputIndex: 0,
      validate: true,
    } satisfies Samples<ActivationsAndGradientsOptions>,
    call: (t, o) => tfcam.activationsAndGradients(t.model, t.x, o),
  },
  {
    fn: 'guidedBackprop',
    samples: { target: 1, logits: true, outputIndex: 0, inputIndex: 0, validate: true } satisfies Samples<GuidedOptions>,
    call: (t, o) => tfcam.guidedBackprop(t.model, t.x, o),
  },
  {
    fn: 'guidedGradCam',
    samples: { ...camWithoutResize, guidedGrads: true, inputIndex: 0 } satisfies Samples<GuidedGradCamOptions>,
    call: (t, o) => tfcam.guidedGradCam(t.model, t.x, o),
  },
  { fn: 'averageDrop', samples: scoring, call: (t, o) => tfcam.averageDrop(t.model, t.x, t.map, o) },
  {
    fn: 'deletion',
    samples: { ...scoring, steps: 4, baseline: 'mean', blurSigma: 2 } satisfies Samples<PerturbationCurveOptions>,
    call: (t, o) => tfcam.deletion(t.model, t.x, t.map, o),
  },
  {
    fn: 'pointingGame',
    samples: { tolerance: 1 } satisfies Samples<PointingGameOptions>,
    call: (t, o) =>
      tfcam.pointingGame(
        t.map,
        [
          [0, 0, 4, 4],
          [0, 0, 4, 4],
        ],
        o,
      ),
  },
  {
    fn: 'centerPrior',
    samples: { batch: 2, sigma: 3 } satisfies Samples<CenterPriorOptions>,
    call: (_t, o) => tfcam.centerPrior(16, 16, o),
  },
  {
    fn: 'ssim',
    samples: { windowSize: 3, sigma: 1, dataRange: 1 } satisfies Samples<SsimOptions>,
    call: (t, o) => tfcam.ssim(t.map, t.map, o),
  },
  {
    fn: 'sanityCheck',
    samples: {
      methodOptions: { layer: 'last_conv' },
      mode: 'independent',
      layers: ['out'],
      seed: 3,
      pinTarget: false,
      keepMaps: false,
    } satisfies Samples<SanityCheckOptions>,
    call: (t, o) => tfcam.sanityCheck(t.model, t.x, tfcam.gradCam, o),
  },
  {
    fn: 'overlay',
    samples: { colormap: 'turbo', alpha: 0.3, imageRange: '0-1', rescale: false, validate: true } satisfies Samples<OverlayOptions>,
    call: (t, o) => tfcam.overlay(t.image, t.map, o),
  },
];

interface Subject {
  model: tfl.LayersModel;
  x: tf.Tensor4D;
  map: tf.Tensor3D;
  image: tf.Tensor3D;
}

describe('options: every key of every exported options type is accepted at run time', () => {
  let t: Subject;
  beforeAll(() => {
    const m = sequentialModel();
    const map = tf.randomUniform([2, 16, 16], 0, 1, 'float32', 3) as tf.Tensor3D;
    t = { model: m.model, x: m.input as tf.Tensor4D, map, image: tf.squeeze(tf.slice(m.input, [0], [1]), [0]) as tf.Tensor3D };
  });
  afterAll(() => {
    tf.dispose([t.x, t.map, t.image]);
    t.model.dispose();
  });

  it.each(CASES.map((c) => [c.fn, c] as const))('%s', (_fn, c) => {
    for (const [key, value] of Object.entries(c.samples)) {
      const start = tf.memory().numTensors;
      let result: unknown;
      try {
        result = c.call(t, { [key]: value });
      } catch (e) {
        throw new Error(`${c.fn} refused { ${key}: ${String(value)} }: ${(e as Error).message}`);
      }
      tf.dispose(result as tf.TensorContainer);
      expect(tf.memory().numTensors, `${c.fn} { ${key} } leaked`).toBe(start);
    }
    // And an unknown key is refused, naming the known ones: exactly the type's keys.
    const e = expectThrowsClean(() => c.call(t, { notAnOption: 1 }), OptionError, /'options\.notAnOption' is not a known option/);
    const known = /Known options: (.*)\.$/.exec(e.message)?.[1]?.split(', ') ?? [];
    expect(new Set(known)).toEqual(new Set(Object.keys(c.samples)));
  });
});

describe('guidedGradCam composes Grad-CAM with every Grad-CAM option', () => {
  it.each([
    ['layers fused by max', { layer: ['c1', 'last_conv'], fuse: 'max' }],
    ['augSmooth', { augSmooth: true }],
    ['eigenSmooth', { eigenSmooth: true }],
    ['guidedGrads', { guidedGrads: true }],
  ] as const)("%s: its heatmap is gradCam's with the same options", (_name, options) => {
    const m = sequentialModel();
    const g = guidedGradCam(m.model, m.input as tf.Tensor4D, options);
    const c = gradCam(m.model, m.input as tf.Tensor4D, options);
    expect(g.layer).toBe(c.layer);
    // Same computation, separate runs: float32 noise only (the eigen projection iterates).
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(g.heatmap, c.heatmap))).dataSync()[0])).toBeLessThan(1e-5);
    // gradients = guided backprop x the map, broadcast over channels.
    const gb = tfcam.guidedBackprop(m.model, m.input as tf.Tensor4D);
    const product = tf.mul(gb.gradients, tf.expandDims(c.heatmap, -1));
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(g.gradients, product))).dataSync()[0])).toBeLessThan(1e-6);
    tf.dispose([g, c, gb, product, m.input]);
    m.model.dispose();
  });
});

describe('errors a caller can see', () => {
  function sources(dir: string): string[] {
    return readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
    });
  }

  it('are TfcamErrors: src/ throws no plain Error', () => {
    const offenders = sources(join(__dirname, '..', '..', 'src')).flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .map((line, i) => [line, i + 1] as const)
        // GraphStructureError is internal: turned into a ModelError before it reaches a caller.
        .filter(([line]) => /throw new (Error|TypeError|RangeError)\(/.test(line))
        .map(([, n]) => `${file}:${n}`),
    );
    expect(offenders).toEqual([]);
  });

  it('a method that reads gradients it did not ask for gets an UnsupportedError', () => {
    const m = sequentialModel();
    const bad = createCam({ name: 'bad', usesGradients: false, weights: ({ gradients }) => tf.mean(gradients, [1, 2]) as tf.Tensor2D });
    expectThrowsClean(() => bad(m.model, m.input as tf.Tensor4D), UnsupportedError, /^bad: 'method\.usesGradients' must be true/);
    m.input.dispose();
    m.model.dispose();
  });
});

describe('a failed head pass leaves no tensor behind', () => {
  it('when the score function throws (forward): no engine state is touched', () => {
    const m = sequentialModel();
    const state = (tf.engine() as unknown as { state: { activeTape: unknown } }).state;
    const e = expectThrowsClean(
      () =>
        gradCam(m.model, m.input as tf.Tensor4D, {
          target: () => {
            throw new TypeError('boom');
          },
        }),
      TypeError,
      /boom/,
    );
    expect(e).not.toBeInstanceOf(TfcamError);
    // The engine cleaned its own tape (it ran a backward pass on the failure path).
    expect(state.activeTape).toBeNull();
    m.input.dispose();
    m.model.dispose();
  });

  it('when a layer gradient throws (backward): a typed error, nothing leaked (fails if tfjs changes its tape state)', () => {
    // A layer whose backward pass fails, as a kernel missing on a backend would.
    class Brittle extends tfl.layers.Layer {
      static className = 'Brittle';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
        const op = tf.customGrad(((v: tf.Tensor) => ({
          value: tf.relu(v),
          gradFunc: () => {
            throw new Error("Kernel 'Imaginary' not registered for backend 'cpu'");
          },
        })) as never);
        return op(x) as tf.Tensor;
      }
    }
    const inp = tfl.input({ shape: [8, 8, 2] });
    const conv = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'conv' }).apply(inp) as tfl.SymbolicTensor;
    const brittle = new Brittle({ name: 'brittle' }).apply(conv) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 2 }).apply(tfl.layers.globalAveragePooling2d({}).apply(brittle)) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: inp, outputs: out });
    const x = tf.ones([1, 8, 8, 2]);
    expectThrowsClean(() => gradCam(model, x as tf.Tensor4D, { layer: 'conv' }), UnsupportedError, /kernel 'Imaginary'/);
    expect((tf.engine() as unknown as { state: { activeTape: unknown } }).state.activeTape).toBeNull();
    x.dispose();
    model.dispose();
  });

  it('when an op above the layer has no gradient in tfjs: a typed error naming the layers above, nothing leaked', () => {
    // TopK has no registered gradient: the backward pass fails with tfjs' "gradient function not found".
    class SortChannels extends tfl.layers.Layer {
      static className = 'SortChannels';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
        return tf.topk(x, x.shape[x.rank - 1] as number).values;
      }
    }
    const inp = tfl.input({ shape: [6, 6, 2] });
    const conv = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'conv' }).apply(inp) as tfl.SymbolicTensor;
    const sorted = new SortChannels({ name: 'sort' }).apply(conv) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 2 }).apply(tfl.layers.globalAveragePooling2d({}).apply(sorted)) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: inp, outputs: out });
    const x = tf.ones([1, 6, 6, 2]);
    expectThrowsClean(
      () => gradCam(model, x as tf.Tensor4D, { layer: 'conv' }),
      UnsupportedError,
      /^gradCam: 'layer' must have a differentiable model above it, but got the layers above 'conv' \(SortChannels, GlobalAveragePooling2D, Dense\), whose backward pass failed in TensorFlow\.js: ".*TopK/,
    );
    // Above the op, the map is computed.
    const r = gradCam(model, x as tf.Tensor4D, { layer: 'sort' });
    expect(r.layer).toBe('sort');
    tf.dispose([r, x]);
    model.dispose();
  });
});
