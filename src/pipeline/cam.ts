/**
 * The path of every CAM call, in order (pytorch-grad-cam's `BaseCAM.forward`, one way through):
 *
 * 1. check the model, parse all options from one schema, check input and target, resolve the
 *    layers (call.ts; no tensor exists yet);
 * 2. prepare the input (cast, batch; optional NaN check) and, with `augSmooth`, augment it;
 * 3. per layer: split the model there, run the body outside the tape and the head under it
 *    (pass.ts, through the model's own runner and applier);
 * 4. the method's weighting, per-channel maps or map (method.ts);
 * 5. post-processing (ReLU, min-max, resize), fusion of several layers, de-augmentation;
 * 6. the result, unbatched for one image.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { prepareInput } from '../core/input.js';
import { normalizeMaps, postprocessMaps, resizeMaps } from '../core/postprocess.js';
import { principalProjection } from '../core/projection.js';
import { channelSum, weightedChannelSum } from '../core/reduce.js';
import type { ParsedOptions, Schema } from '../core/options.js';
import type { NormalizedTarget } from '../core/targets.js';
import type { CamInput, CamOptions, CamResult } from '../core/types.js';
import { OptionError } from '../errors.js';
import type { ResolvedLayer } from '../models/explainable.js';
import type { Call } from './call.js';
import { checkCall, mapSize, resolveLayers } from './call.js';
import type { ParsedCamOptions } from './cam-options.js';
import { CAM_OPTIONS } from './cam-options.js';
import type { CamFunction, CamMethod } from './method.js';
import { camContext } from './method.js';
import type { Pass } from './pass.js';
import { runPass } from './pass.js';
import type { Session } from './session.js';

/** The CAM options a pipeline needs (`resize` may be absent: then maps are resized to the input). */
export type CamSchema = Schema & Omit<typeof CAM_OPTIONS, 'resize'>;

/** A checked CAM call: the layers resolved and the map size decided. */
export interface CamCall<S extends CamSchema = CamSchema> extends Call<S> {
  readonly layers: readonly ResolvedLayer[];
  /** Size maps are resized to, or null for the layer's resolution. */
  readonly size: readonly [number, number] | null;
}

/** Step 1: everything a CAM call can refuse, refused before any tensor exists. */
export function checkCamCall<S extends CamSchema>(
  fn: string,
  schema: S,
  model: unknown,
  input: unknown,
  options: unknown,
  session: Session | null = null,
): CamCall<S> {
  const call = checkCall(fn, schema, model, input, options, session);
  const o = call.options as ParsedOptions<CamSchema> & { resize?: ParsedCamOptions['resize'] };
  const layers = resolveLayers(call, o.layer, o.node, o.outputIndex);
  for (const layer of layers) call.model.split(fn, layer, o.outputIndex);
  return { ...call, layers, size: mapSize(fn, o.resize ?? true, call.input, layers) };
}

/** A batch of maps with what they explain, before unbatching. */
export interface BatchResult {
  heatmap: tf.Tensor;
  classIndex: tf.Tensor;
  score: tf.Tensor;
  /** The explained output of the pass (pre-activation when logits are explained). */
  output: tf.Tensor;
  layer: string;
}

/** Step 6: the batch axis squeezed away when the caller passed one unbatched image. */
export function unbatchResult(r: BatchResult, batched: boolean): BatchResult {
  if (batched) return r;
  const squeeze = (t: tf.Tensor): tf.Tensor => tf.squeeze(t, [0]);
  return {
    heatmap: squeeze(r.heatmap),
    classIndex: squeeze(r.classIndex),
    score: squeeze(r.score),
    output: squeeze(r.output),
    layer: r.layer,
  };
}

/**
 * The explained output as `model.predict` returns it: when logits were explained, the softmax or
 * sigmoid the pass skipped is applied here, outside the tape. In a tidy.
 */
export function predictedOutput(call: Call<CamSchema>, output: tf.Tensor): tf.Tensor {
  const o = call.options;
  const squashing = o.logits ? call.model.outputSquashing(o.outputIndex) : null;
  return squashing === 'softmax' ? tf.softmax(output) : squashing === 'sigmoid' ? tf.sigmoid(output) : output;
}

/** Test-time augmentations of pytorch-grad-cam's aug_smooth: flip x brightness. */
const AUGMENTATIONS: ReadonlyArray<{ flip: boolean; factor: number }> = [false, true].flatMap((flip) =>
  [0.9, 1, 1.1].map((factor) => ({ flip, factor })),
);
/** The augmentation that leaves the image as it is (its class and score are reported). */
const IDENTITY_AUGMENTATION = 1;

/** Steps 2-6 for a prepared batch: the maps of `method` at the call's layers. In a tidy. */
export function camBatch(method: CamMethod<CamOptions>, call: CamCall, inputs: readonly tf.Tensor[]): BatchResult {
  const passAt =
    (batch: readonly tf.Tensor[], target: NormalizedTarget) =>
    (layer: ResolvedLayer): Pass =>
      runPass(call.fn, call.model.split(call.fn, layer, call.options.outputIndex), batch, target, {
        gradients: method.usesGradients !== false,
        logits: call.options.logits,
        guided: false,
        kernels: call.session?.kernels,
      });
  if (!call.options.augSmooth) return layerMaps(method, call, inputs, passAt(inputs, call.target));
  // aug_smooth: every augmentation of the batch in one batch, maps de-augmented and averaged.
  const augmented = inputs.map((t) =>
    t.rank === 4
      ? tf.concat(
          AUGMENTATIONS.map((a) => tf.mul(a.flip ? tf.reverse(t, 2) : t, a.factor)),
          0,
        )
      : tf.concat(
          AUGMENTATIONS.map(() => t),
          0,
        ),
  );
  const b0 = call.input.batchSize;
  const t0 = call.target;
  // Augmented row r is a copy of example r mod B (for target functions with per-example data).
  const target: NormalizedTarget =
    t0.kind === 'indices'
      ? { kind: 'indices', indices: AUGMENTATIONS.flatMap(() => t0.indices) }
      : t0.kind === 'function'
        ? { kind: 'function', fn: (out, examples) => t0.fn(out, tf.mod(examples, b0) as tf.Tensor1D) }
        : t0;
  const r = layerMaps(method, call, augmented, passAt(augmented, target));
  const b = call.input.batchSize;
  const maps = AUGMENTATIONS.map((a, i) => {
    const part = tf.slice(r.heatmap, [i * b], [b]);
    return a.flip ? tf.reverse(part, 2) : part;
  });
  return {
    heatmap: tf.mean(tf.stack(maps, 0), 0),
    classIndex: tf.slice(r.classIndex, [IDENTITY_AUGMENTATION * b], [b]),
    score: tf.slice(r.score, [IDENTITY_AUGMENTATION * b], [b]),
    output: tf.slice(r.output, [IDENTITY_AUGMENTATION * b], [b]),
    layer: r.layer,
  };
}

/**
 * Steps 3-5 for the call's layers: a pass per layer (from `passAt`), the method's raw map, its
 * post-processing, and the fusion of several layers (pytorch-grad-cam's `aggregate_multi_layers`,
 * or the maximum). In a tidy.
 */
export function layerMaps(
  method: CamMethod<CamOptions>,
  call: CamCall,
  inputs: readonly tf.Tensor[],
  passAt: (layer: ResolvedLayer) => Pass,
): BatchResult {
  const o = call.options;
  const maps: tf.Tensor3D[] = [];
  let first: Pass | null = null;
  for (const layer of call.layers) {
    const pass = passAt(layer);
    first ??= pass;
    const ctx = camContext<CamOptions>(
      {
        fn: call.fn,
        model: call.model,
        inputs,
        target: call.target,
        outputIndex: o.outputIndex,
        logits: o.logits,
        options: o,
        layer: layer.path,
      },
      pass,
    );
    const raw = rawMap(method, ctx, pass, o.eigenSmooth);
    maps.push(
      call.layers.length === 1
        ? postprocessMaps(raw, { relu: o.relu, normalize: o.normalize, size: call.size })
        : perLayer(raw, o, call.size),
    );
  }
  const base = first as Pass;
  const paths = call.layers.map((l) => l.path).join(',');
  if (maps.length === 1)
    return { heatmap: maps[0] as tf.Tensor3D, classIndex: base.classIndex, score: base.scores, output: base.output, layer: paths };
  const stacked = tf.stack(maps, 0);
  const positive = o.relu ? tf.relu(stacked) : stacked;
  const fused = (o.fuse === 'max' ? tf.max(positive, 0) : tf.mean(positive, 0)) as tf.Tensor3D;
  return {
    heatmap: o.normalize ? normalizeMaps(fused) : fused,
    classIndex: base.classIndex,
    score: base.scores,
    output: base.output,
    layer: paths,
  };
}

/** Per-layer processing before fusion (pytorch-grad-cam's `compute_cam_per_layer`). */
function perLayer(raw: tf.Tensor3D, o: ParsedOptions<CamSchema>, size: readonly [number, number] | null): tf.Tensor3D {
  let x = o.relu ? tf.relu(raw) : raw;
  if (o.normalize) x = normalizeMaps(x);
  return size === null ? x : resizeMaps(x, size);
}

/** Step 4: the raw `[B, h, w]` map of one layer. */
function rawMap(method: CamMethod<CamOptions>, ctx: ReturnType<typeof camContext>, pass: Pass, eigenSmooth: boolean): tf.Tensor3D {
  if (method.map !== undefined) return method.map(ctx);
  if (method.weights !== undefined) {
    const w = method.weights(ctx);
    // dS/dA is no longer needed: free it before the combination (peak stays ~2x the activation).
    pass.gradients?.dispose();
    const a = pass.activations as tf.Tensor4D;
    if (!eigenSmooth) return weightedChannelSum(a, w);
    const [b, , , c] = a.shape;
    return principalProjection(tf.mul(a, tf.reshape(w, [b, 1, 1, c])) as tf.Tensor4D);
  }
  const e = (method.elementwise as NonNullable<typeof method.elementwise>)(ctx);
  return eigenSmooth ? principalProjection(e) : channelSum(e);
}

/**
 * Builds a CAM method with the same signature, options and result as {@link gradCam} from a
 * channel weighting (or per-channel maps, or a raw map). Every built-in method is made this way.
 *
 * The returned function checks its arguments (typed errors, before any tensor is made), runs the
 * model through tfcam's two-phase runner (layers below the target outside the gradient tape;
 * gradient-free methods skip the backward pass entirely), calls the method, and post-processes like
 * pytorch-grad-cam. It also supports, for every method: `layer: [a, b, ...]` (per-layer maps fused
 * with `fuse: 'mean'`, as pytorch-grad-cam, or `'max'`), `augSmooth: true` (pytorch-grad-cam's
 * test-time augmentation: horizontal flip x brightness {0.9, 1, 1.1}, de-augmented and averaged, run
 * as one batch) and `eigenSmooth: true` (the principal component of the per-channel maps instead of
 * their sum). A method with options of its own declares them in `options`, one {@link OptionSpec}
 * per key (what it accepts, its default, a `check` returning the parsed value or {@link INVALID});
 * it reads them, checked and defaulted, from `ctx.options`.
 *
 * @param method - the weighting; see {@link CamMethod}
 * @returns a function `(model, input, options?) => CamResult`
 * @throws {@link OptionError} when `method` does not define exactly one of weights, elementwise or
 *   map; (when called) the same errors as {@link gradCam}
 *
 * @example
 * ```ts
 * // "Absolute Grad-CAM": weights are the mean absolute gradient.
 * const absGradCam = createCam({
 *   name: 'absGradCam',
 *   weights: ({ gradients }) => tf.mean(tf.abs(gradients), [1, 2]) as tf.Tensor2D,
 * });
 * const { heatmap } = absGradCam(model, image);
 * ```
 */
export function createCam<O extends CamOptions = CamOptions>(method: CamMethod<O>): CamFunction<O> {
  const defined = [method.weights, method.elementwise, method.map].filter((f) => f !== undefined).length;
  if (defined !== 1) {
    throw new OptionError({
      fn: 'createCam',
      argument: 'method',
      expected: 'must define exactly one of weights, elementwise or map',
      got: `${defined} of them`,
      fix: 'Return per-channel weights [B, C] from weights(ctx), for example.',
    });
  }
  const schema: CamSchema = { ...CAM_OPTIONS, ...(method.options ?? {}) };
  const m = method as unknown as CamMethod<CamOptions>;
  const run = (session: Session | null, model: unknown, input: unknown, options: unknown): CamResult => {
    const call = checkCamCall(method.name, schema, model, input, options, session);
    return tf.tidy(() => {
      const prepared = prepareInput(call.fn, call.input, call.options.validate);
      const r = camBatch(m, call, prepared.tensors);
      return unbatchResult({ ...r, output: predictedOutput(call, r.output) }, call.input.batched) as unknown as tf.TensorContainer;
    }) as unknown as CamResult;
  };
  const cam = (model: unknown, input: CamInput, options?: O): CamResult => run(null, model, input, options);
  CAM_RUNNERS.set(cam, { schema, run });
  return cam as CamFunction<O>;
}

/** How an explainer runs a function made by {@link createCam}: its schema, and its call with a session. */
export interface CamRunner {
  readonly schema: Schema;
  run(session: Session | null, model: unknown, input: unknown, options: unknown): CamResult;
}

const CAM_RUNNERS = new WeakMap<object, CamRunner>();

/** The runner behind a function made by {@link createCam} (or registered), or undefined for any other value. */
export function camRunnerOf(fn: unknown): CamRunner | undefined {
  return typeof fn === 'function' ? CAM_RUNNERS.get(fn) : undefined;
}

/**
 * Declares how an explainer runs a CAM function that is not made by {@link createCam} (a method
 * composed from others, or with its own pipeline): the schema of its options (the explainer passes
 * it the defaults it has keys for) and its call with a session (`null` for the one-shot call).
 * Without it an explainer calls the one-shot function with the defaults of the shared CAM options.
 */
export function registerCamRunner(fn: object, runner: CamRunner): void {
  CAM_RUNNERS.set(fn, runner);
}
