/**
 * A reusable explainer: every CAM function bound to one model, planned once, with what can be
 * reused between calls kept until `dispose()`.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import { KernelCache } from '../core/kernel-cache.js';
import type { Schema } from '../core/options.js';
import { parseOptions, schemaFor } from '../core/options.js';
import type { CamInput, CamModel, CamOptions, CamResult, CamResultBatch, CamResultSingle } from '../core/types.js';
import type { TfcamErrorDetails } from '../errors.js';
import { UnsupportedError } from '../errors.js';
import type { GuidedGradCamOptions, GuidedGradCamResult, GuidedOptions, GuidedResult } from '../guided/guided.js';
import { GUIDED_SCHEMAS, guidedBackpropIn, guidedGradCamIn } from '../guided/guided.js';
import type { CamMethodFunctions, CamMethodName } from '../methods/registry.js';
import { CAM_METHODS } from '../methods/registry.js';
import type { ExplainableModel, LayerInfo, ResolvedLayer, Split } from '../models/explainable.js';
import { explainableModel } from '../models/index.js';
import type { ActivationsAndGradientsOptions, ActivationsAndGradientsResult } from '../pipeline/activations.js';
import { ACTIVATIONS_AND_GRADIENTS_OPTIONS, activationsAndGradientsIn } from '../pipeline/activations.js';
import { camRunnerOf } from '../pipeline/cam.js';
import { CAM_OPTIONS, inputIndexOption } from '../pipeline/cam-options.js';
import { optionContext } from '../pipeline/call.js';
import type { CamFunction } from '../pipeline/method.js';
import type { Session } from '../pipeline/session.js';

/**
 * Options of {@link createExplainer}: defaults for every call of the explainer. Each function takes
 * the defaults it has options for (`guidedBackprop` takes `target`, `logits`, `outputIndex`,
 * `inputIndex` and `validate`, and no `layer`), and a call's own options override them (an option a
 * call leaves `undefined` keeps the default).
 */
export interface ExplainerOptions extends CamOptions {
  /** For multi-input models, the input `guidedBackprop` and `guidedGradCam` differentiate. */
  inputIndex?: number | undefined;
}

const EXPLAINER_OPTIONS = schemaFor<ExplainerOptions>()({ ...CAM_OPTIONS, inputIndex: inputIndexOption });

/** A CAM function bound to an explainer's model: `(input, options?) => CamResult`. */
export interface ExplainerCam<O extends CamOptions = CamOptions> {
  (input: tf.Tensor3D, options?: O): CamResultSingle;
  (input: tf.Tensor4D, options?: O): CamResultBatch;
  (input: CamInput, options?: O): CamResult;
}

/**
 * Every built-in CAM method ({@link CAM_METHODS}), bound to the explainer's model, each with its own
 * options type: `explainer.gradCam(input, options?)` is `gradCam(model, input, options?)`.
 */
export type ExplainerMethods = {
  readonly [K in CamMethodName]: ExplainerCam<CamMethodFunctions[K] extends CamFunction<infer O> ? O : CamOptions>;
};

/** What an explainer holds between calls: tensors (counted in `tf.memory()`) and their bytes. */
export interface ExplainerMemory {
  /** Tensors it keeps alive between calls. */
  readonly numTensors: number;
  /** Bytes of tensor data they add to `tf.memory().numBytes`. */
  readonly numBytes: number;
}

/**
 * The object {@link createExplainer} returns: every CAM method of {@link CAM_METHODS}
 * ({@link ExplainerMethods}) and the functions below, bound to one model (their signatures minus
 * the model), and `dispose()`.
 */
export type Explainer = ExplainerBase & ExplainerMethods;

/** The members of an {@link Explainer} besides the CAM methods. */
export interface ExplainerBase {
  /** The model it explains. */
  readonly model: CamModel;
  /** True once {@link Explainer.dispose} has run: every call then throws a {@link DisposedError}. */
  readonly disposed: boolean;
  /** {@link guidedBackprop}, bound to the model. */
  guidedBackprop(input: tf.Tensor3D, options?: GuidedOptions): GuidedResult<tf.Tensor3D, tf.Scalar>;
  /** {@link guidedBackprop}, bound to the model. */
  guidedBackprop(input: tf.Tensor4D, options?: GuidedOptions): GuidedResult<tf.Tensor4D, tf.Tensor1D>;
  /** {@link guidedBackprop}, bound to the model. */
  guidedBackprop(input: CamInput, options?: GuidedOptions): GuidedResult;
  /** {@link guidedGradCam}, bound to the model. */
  guidedGradCam(input: tf.Tensor3D, options?: GuidedGradCamOptions): GuidedGradCamResult<tf.Tensor3D, tf.Tensor2D, tf.Scalar>;
  /** {@link guidedGradCam}, bound to the model. */
  guidedGradCam(input: tf.Tensor4D, options?: GuidedGradCamOptions): GuidedGradCamResult<tf.Tensor4D, tf.Tensor3D, tf.Tensor1D>;
  /** {@link guidedGradCam}, bound to the model. */
  guidedGradCam(input: CamInput, options?: GuidedGradCamOptions): GuidedGradCamResult;
  /** {@link activationsAndGradients}, bound to the model. */
  activationsAndGradients(input: CamInput, options?: ActivationsAndGradientsOptions): ActivationsAndGradientsResult;
  /** The tensors it holds between calls now (zero after `dispose()`). */
  memory(): ExplainerMemory;
  /** Frees every tensor it holds; later calls throw a {@link DisposedError}. Idempotent. */
  dispose(): void;
}

/**
 * Thrown by an explainer's functions after its `dispose()`: the kernels it prepared are gone.
 */
export class DisposedError extends UnsupportedError {
  /**
   * Creates the error; see {@link TfcamError} for the message format.
   * @param details - the parts the message is assembled from
   */
  constructor(details: TfcamErrorDetails) {
    super(details);
  }
}

/**
 * The model's explainable view with layer resolutions and splits memoised: an explainer resolves
 * each layer reference and plans each split once.
 */
class PlannedModel implements ExplainableModel {
  readonly kind: ExplainableModel['kind'];
  readonly inputs: ExplainableModel['inputs'];
  readonly outputs: ExplainableModel['outputs'];
  readonly imageInput: number;
  private readonly layers = new Map<unknown, Map<string, ResolvedLayer>>();
  private readonly modelInputs = new Map<number, ResolvedLayer>();
  private readonly splits = new Map<string, Split>();

  constructor(readonly inner: ExplainableModel) {
    this.kind = inner.kind;
    this.inputs = inner.inputs;
    this.outputs = inner.outputs;
    this.imageInput = inner.imageInput;
  }

  outputSquashing(outputIndex: number): 'softmax' | 'sigmoid' | null {
    return this.inner.outputSquashing(outputIndex);
  }

  resolveLayer(fn: string, ref: unknown, node: number | undefined, outputIndex: number): ResolvedLayer {
    let byRef = this.layers.get(ref);
    const key = `${node ?? ''}|${outputIndex}`;
    const known = byRef?.get(key);
    if (known !== undefined) return known;
    const layer = this.inner.resolveLayer(fn, ref, node, outputIndex);
    if (byRef === undefined) {
      byRef = new Map();
      this.layers.set(ref, byRef);
    }
    byRef.set(key, layer);
    return layer;
  }

  resolveInput(index: number): ResolvedLayer {
    let layer = this.modelInputs.get(index);
    if (layer === undefined) {
      layer = this.inner.resolveInput(index);
      this.modelInputs.set(index, layer);
    }
    return layer;
  }

  split(fn: string, layer: ResolvedLayer, outputIndex: number): Split {
    const key = `${fn}|${typeof layer.id}:${layer.id}|${outputIndex}`;
    let split = this.splits.get(key);
    if (split === undefined) {
      split = this.inner.split(fn, layer, outputIndex);
      this.splits.set(key, split);
    }
    return split;
  }

  listLayers(): LayerInfo[] {
    return this.inner.listLayers();
  }
}

/** The defaults a function takes: the keys of its schema. */
function defaultsFor(defaults: Readonly<Record<string, unknown>>, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(defaults)) if (k in schema && v !== undefined) out[k] = v;
  return out;
}

/** A call's options over the defaults; anything but a plain object is passed on for the function to refuse. */
function merged(defaults: Record<string, unknown>, options: unknown): unknown {
  if (options === undefined) return defaults;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return options;
  const out = { ...defaults };
  for (const [k, v] of Object.entries(options as Record<string, unknown>)) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * Creates an explainer: every CAM function of tfcam bound to `model`, planned once, keeping what can
 * be reused between calls until `dispose()`. Use it where a model is explained again and again: a
 * live video, a gallery, an evaluation loop. `explainer.gradCam(input, options)` takes and returns
 * what `gradCam(model, input, options)` does, with the same numbers, and so does every method of
 * {@link CAM_METHODS}, `guidedBackprop`, `guidedGradCam` and `activationsAndGradients`.
 *
 * What it keeps: the model's flattened graph, each layer reference resolved and each split planned
 * once (the one-shot functions cache the graph and the plans too, but resolve the layer in every
 * call), the folded constants of the BatchNormalization layers above the explained layer (two
 * vectors per layer, which a one-shot call recomputes on its gradient tape), and the prepared kernels
 * of the convolutions above it that the backward pass reuses. On wasm, tfcam computes those input gradients with forward convolutions: a one-shot
 * call makes the flipped, channel-transposed kernels in every call (and tfjs-wasm's XNNPACK packs
 * every new filter tensor again), or avoids that with slower per-tap matrix products where few
 * positions make it pay; an explainer makes each kernel once, by the first call that needs it, and
 * convolves with it from then on. (Methods composed from other CAM functions rather than made by
 * {@link createCam}, such as `finerCam` and `refineCam`, run as their one-shot functions.)
 *
 * Memory: unlike the one-shot functions, whose calls leave `tf.memory().numTensors` unchanged, an
 * explainer holds tensors between calls: `tf.memory()` grows by {@link Explainer.memory} (on wasm,
 * about one copy of the kernels above the explained layer, 48.8 MiB at InceptionV3 `mixed7`; on cpu
 * and webgl, whose backward pass uses tfjs' own input gradients, only the BatchNormalization
 * constants (and the kernels of dilated convolutions); nothing at a last conv block, whose head is
 * pooling and the classifier), and the wasm heap by XNNPACK's packed copy of the kernels. Calls on a warm
 * explainer leave the count unchanged; `dispose()` frees everything it holds.
 *
 * Weights: the explainer notices when the model's weights change under it (`model.fit`,
 * `setWeights`, an optimizer step: tfjs gives the weight variable a new `dataId`, which the explainer
 * compares without reading any data) and prepares the kernels again from the new values, freeing the
 * old ones, so its results always equal the one-shot functions' on the model as it is now. It does
 * not refuse: explaining a model while it trains (e.g. every few batches) is a use case.
 *
 * Why this name: like {@link createCam}, it *creates* something the caller owns and must dispose; an
 * explainer is the object that explains one model.
 *
 * Differences from pytorch-grad-cam: its `BaseCAM` object is also bound to a model and a layer and
 * reused, but keeps hooks on the model (released with `__exit__`); an explainer never touches the
 * model, and the layer is a default that each call may override.
 *
 * @param model - a `tf.LayersModel` or a `tf.GraphModel` ({@link CamModel}); never modified (the
 *   explainer keeps a reference to it)
 * @param options - defaults for every call ({@link ExplainerOptions}: the CAM options and
 *   `inputIndex`); checked now, and a `layer` given here is resolved now
 * @returns an {@link Explainer}; the caller owns it and must call `dispose()` to free its tensors
 * @throws {@link ModelError} if `model` is not a model tfcam can explain; {@link OptionError} for unknown or
 *   ill-typed options; {@link LayerError} when `layer` does not resolve; {@link TargetError} for an
 *   ill-typed `target`. Its functions throw what the one-shot ones do, and {@link DisposedError}
 *   after `dispose()`.
 *
 * @example
 * ```ts
 * const explainer = createExplainer(model, { layer: 'last_conv' });
 * const { heatmap, output } = explainer.gradCam(image);      // the map, and the prediction
 * const probabilities = await output.data();
 * tf.dispose([heatmap, output]);
 * explainer.dispose();                                      // frees the prepared kernels
 * ```
 */
export function createExplainer(model: CamModel, options?: ExplainerOptions): Explainer {
  const fn = 'createExplainer';
  let planned = new PlannedModel(explainableModel(fn, model));
  const parsed = parseOptions(EXPLAINER_OPTIONS, options, optionContext(fn, planned));
  for (const ref of parsed.layer ?? [undefined]) {
    planned.split(fn, planned.resolveLayer(fn, ref, parsed.node, parsed.outputIndex), parsed.outputIndex);
  }
  const defaults: Readonly<Record<string, unknown>> = { ...(options ?? {}) };
  const kernels = new KernelCache();
  let disposed = false;

  /** Before each call: refuse after dispose; follow a change of the model's structure; free stale kernels. */
  const session = (name: string): Session => {
    if (disposed) {
      throw new DisposedError({
        fn: name,
        argument: 'explainer',
        expected: 'must not be disposed',
        got: 'an explainer whose dispose() has run',
        fix: 'Create a new explainer with createExplainer(model), and dispose it when you are done.',
      });
    }
    const current = explainableModel(name, model);
    if (current !== planned.inner) planned = new PlannedModel(current);
    kernels.prune();
    return { model: planned, kernels };
  };

  const bind = <R>(name: string, schema: Schema, run: (s: Session, m: unknown, input: unknown, o: unknown) => R) => {
    const own = defaultsFor(defaults, schema);
    return (input: unknown, o?: unknown): R => run(session(name), model, input, merged(own, o));
  };

  const methods: Record<string, unknown> = {};
  for (const [name, cam] of Object.entries(CAM_METHODS)) {
    const runner = camRunnerOf(cam);
    // A method composed from other CAM functions (not made by createCam) runs as its one-shot
    // function, with the shared CAM options as defaults.
    const run =
      runner?.run ?? ((_s: Session, m: unknown, input: unknown, o: unknown) => (cam as (...args: unknown[]) => unknown)(m, input, o));
    methods[name] = bind(name, runner?.schema ?? CAM_OPTIONS, run);
  }
  const explainer = {
    ...methods,
    model,
    get disposed(): boolean {
      return disposed;
    },
    guidedBackprop: bind('guidedBackprop', GUIDED_SCHEMAS.guidedBackprop, guidedBackpropIn),
    guidedGradCam: bind('guidedGradCam', GUIDED_SCHEMAS.guidedGradCam, guidedGradCamIn),
    activationsAndGradients: bind('activationsAndGradients', ACTIVATIONS_AND_GRADIENTS_OPTIONS, activationsAndGradientsIn),
    memory: (): ExplainerMemory => kernels.memory(),
    dispose(): void {
      kernels.dispose();
      disposed = true;
    },
  };
  return explainer as unknown as Explainer;
}
