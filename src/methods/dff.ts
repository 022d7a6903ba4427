/**
 * Deep Feature Factorization.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkInput, prepareInput } from '../core/input.js';
import type { OptionSpec } from '../core/options.js';
import { INVALID, integerOption, numberOption, parseOptions, schemaFor } from '../core/options.js';
import { normalizeMaps, resizeMaps } from '../core/postprocess.js';
import type { CamInput, CamModel, LayerRef } from '../core/types.js';
import { OptionError } from '../errors.js';
import { explainableModel } from '../models/index.js';
import { mapSize, optionContext } from '../pipeline/call.js';
import { CAM_OPTIONS, singleLayerOption } from '../pipeline/cam-options.js';
import { nmfCoordinateDescent, randomInit } from './nmf.js';

/** Options of {@link deepFeatureFactorization}. */
export interface DeepFeatureFactorizationOptions {
  /** The layer whose activations are factorised (one); default as in {@link CamOptions.layer}. */
  layer?: LayerRef | undefined;
  /** Which call of a shared layer (as in {@link CamOptions.node}). */
  node?: number | undefined;
  /** For multi-output models, the output the layer must feed (default 0). */
  outputIndex?: number | undefined;
  /**
   * Number of concepts k (default 16, pytorch-grad-cam's `DeepFeatureFactorization.__call__`; its
   * `dff()` and `run_dff_on_image` default to 5).
   */
  components?: number | undefined;
  /** Coordinate-descent iterations at most (default 200, scikit-learn's `max_iter`). */
  maxIterations?: number | undefined;
  /** Stopping tolerance on the violation relative to the first iteration's (default 1e-4). */
  tolerance?: number | undefined;
  /**
   * Size of the concept maps: `true` (default) the input's, `false` the layer's, or `[h, w]`. Maps
   * are min-max normalised per concept at the layer's resolution, then resized (no second min-max,
   * as pytorch-grad-cam's `scale_cam_image`).
   */
  resize?: boolean | readonly [number, number] | undefined;
  /**
   * What to compute on the concepts (pytorch-grad-cam's `computation_on_concepts`), e.g. the
   * classifier head: called with the concept vectors `[k, C]`, its result is returned as
   * `conceptOutputs`. Runs inside the call's `tf.tidy`; it must not dispose its argument.
   */
  computeOnConcepts?: ((concepts: tf.Tensor2D) => tf.Tensor) | undefined;
  /** Check the input for NaN/Infinity (as in {@link CamOptions.validate}). */
  validate?: boolean | undefined;
}

/** The result of {@link deepFeatureFactorization}. The caller owns the tensors. */
export type DeepFeatureFactorizationResult = {
  /**
   * The concepts, `[k, C]`: each row a channel vector (NMF's W, transposed, plus the per-channel
   * offset subtracted to make the activations non-negative). pytorch-grad-cam returns its
   * transpose, `[C, k]`.
   */
  concepts: tf.Tensor2D;
  /**
   * Where each concept is, `[B, k, H, W]` (`[k, H, W]` for one image): NMF's H per image, each map
   * min-max normalised and resized. float32 in [0, 1].
   */
  explanations: tf.Tensor;
  /** `computeOnConcepts(concepts)`, or undefined without that option. */
  conceptOutputs: tf.Tensor | undefined;
  /** Coordinate-descent iterations run (int32 scalar; `maxIterations` when it did not converge). */
  iterations: tf.Scalar;
  /** `|X - W H|_F` of the factorisation (float32 scalar), scikit-learn's `reconstruction_err_`. */
  reconstructionError: tf.Scalar;
  /** The factorised layer's path. */
  layer: string;
};

/** `computeOnConcepts`: a function, or undefined. */
const computeOption = {
  accepts: 'a function (concepts: Tensor2D) => Tensor',
  default: undefined,
  fix: 'Pass a function of the concepts, or omit it.',
  check: (v: unknown) => (typeof v === 'function' ? (v as (c: tf.Tensor2D) => tf.Tensor) : INVALID),
} as OptionSpec<((concepts: tf.Tensor2D) => tf.Tensor) | undefined>;

const OPTIONS = schemaFor<DeepFeatureFactorizationOptions>()({
  layer: singleLayerOption,
  node: CAM_OPTIONS.node,
  outputIndex: CAM_OPTIONS.outputIndex,
  components: integerOption(16, 1),
  maxIterations: integerOption(200, 1),
  tolerance: numberOption(1e-4, 0, false),
  resize: CAM_OPTIONS.resize,
  computeOnConcepts: computeOption,
  validate: CAM_OPTIONS.validate,
});

/**
 * Deep Feature Factorization (Collins et al., "Deep Feature Factorization for Concept Discovery",
 * ECCV 2018; pytorch-grad-cam's `DeepFeatureFactorization`): factorises a layer's activations into
 * k concepts with non-negative matrix factorisation, `A - offset ~ W H` (rows = channels, columns =
 * the pixels of every image of the batch), so each concept is a channel vector (W's column) and a
 * map of where it is (H's row per image). Unsupervised: no class, no gradients. Pass the classifier
 * head as `computeOnConcepts` to see which classes each concept stands for.
 *
 * Numerics follow pytorch-grad-cam and scikit-learn 1.2's `NMF(init='random', random_state=0)`
 * (coordinate descent, Frobenius loss, tol 1e-4, at most 200 iterations): the same initialisation
 * (numpy's legacy MT19937 normals, reproduced bit for bit), the same column-by-column updates and
 * stopping rule, the per-channel offset (minimum) subtracted first, a batch factorised jointly, each
 * concept map min-max normalised and resized to the input. tfjs has no NMF: it runs on the device in
 * float32 (no values read back; iterations after convergence run but change nothing). Tested
 * against scikit-learn's W and H within 1e-4: the solver usually stops at the 200-iteration cap
 * before converging, where a 1-ulp change of the initialisation or float64 instead of float32 moves
 * W and H by up to ~1e-4 (scikit-learn's own sensitivity), so results agree to that, not bit for bit.
 * Cost: `maxIterations` x (4 matrix products of `[C, N]` by `[N, k]` + ~30 k small ops), N = B h w.
 *
 * @param model - a `tf.LayersModel` or `tf.GraphModel`; never modified
 * @param input - `[H,W,C]`, `[B,H,W,C]`, or one tensor per model input; not disposed
 * @param options - {@link DeepFeatureFactorizationOptions}
 * @returns `{ concepts, explanations, conceptOutputs, iterations, reconstructionError, layer }` (see
 *   {@link DeepFeatureFactorizationResult}); the caller owns the tensors
 * @throws {@link ModelError}, {@link InputError}, {@link LayerError} as {@link gradCam};
 *   {@link OptionError} for bad options
 *
 * @example
 * ```ts
 * const head = model.getLayer('predictions');
 * const dff = deepFeatureFactorization(model, image, {
 *   components: 5,
 *   computeOnConcepts: (c) => head.apply(c) as tf.Tensor,
 * });
 * // dff.explanations: [5, H, W]; dff.conceptOutputs: [5, classes]
 * tf.dispose(dff);
 * ```
 */
export function deepFeatureFactorization(
  model: CamModel,
  input: CamInput,
  options?: DeepFeatureFactorizationOptions,
): DeepFeatureFactorizationResult {
  const fn = 'deepFeatureFactorization';
  const m = explainableModel(fn, model);
  const o = parseOptions(OPTIONS, options, optionContext(fn, m));
  const checked = checkInput(fn, m.inputs, input);
  const layer = m.resolveLayer(fn, (o.layer ?? [undefined])[0], o.node, o.outputIndex);
  const split = m.split(fn, layer, o.outputIndex);
  const size = mapSize(fn, o.resize, checked, [layer]);
  if (layer.shape.length !== 4) {
    throw new OptionError({
      fn,
      argument: 'options.layer',
      expected: 'must be a rank-4 layer [B, h, w, C]',
      got: `a layer of shape [${layer.shape.join(', ')}]`,
      fix: 'Pick a convolutional layer.',
    });
  }
  const k = o.components;
  const result = tf.tidy(() => {
    const prepared = prepareInput(fn, checked, o.validate);
    const a = split.body(prepared.tensors).activations as tf.Tensor4D; // [B, h, w, C]
    const [b, h, w, c] = a.shape;
    const finite = tf.where(tf.isNaN(a), tf.zerosLike(a), a);
    const cols = tf.transpose(tf.reshape(finite, [b * h * w, c])) as tf.Tensor2D; // [C, B h w]
    const offset = tf.min(cols, 1, true); // [C, 1]
    const x = tf.sub(cols, offset) as tf.Tensor2D;
    const init = randomInit(x, k, 0);
    const nmf = nmfCoordinateDescent(x, init.w, init.h, o.maxIterations, o.tolerance);
    const concepts = tf.transpose(tf.add(nmf.w, offset)) as tf.Tensor2D; // [k, C]
    // H [k, B h w] -> [B, k, h, w]; per map min-max, then resize.
    const maps = tf.reshape(tf.transpose(tf.reshape(nmf.h, [k, b, h, w]), [1, 0, 2, 3]), [b * k, h, w]) as tf.Tensor3D;
    let expl = normalizeMaps(maps);
    if (size !== null) expl = resizeMaps(expl, size);
    const explanations = tf.reshape(expl, [b, k, expl.shape[1], expl.shape[2]]);
    const residual = tf.sub(x, tf.matMul(nmf.w, nmf.h));
    const reconstructionError = tf.sqrt(tf.sum(tf.square(residual))) as tf.Scalar;
    const conceptOutputs = o.computeOnConcepts === undefined ? undefined : o.computeOnConcepts(concepts);
    return {
      concepts,
      explanations: checked.batched ? explanations : tf.squeeze(explanations, [0]),
      conceptOutputs,
      iterations: nmf.iterations,
      reconstructionError,
    } as unknown as tf.TensorContainer;
  }) as unknown as Omit<DeepFeatureFactorizationResult, 'layer'>;
  return { ...result, layer: layer.path };
}
