/**
 * Targets of dense-prediction and embedding models: a class inside a mask of a segmentation output,
 * and the similarity of an embedding to a concept.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { isTensor } from '../core/tensor.js';
import type { TargetFn } from './classification.js';
import type { PerExample } from './common.js';
import { checkClasses, classIndices, classOfRows, oneHot, rowsOf, targetError } from './common.js';

/** A mask or vector given as nested arrays or a tensor: its flat values and shape, checked. */
interface HostOrTensor {
  readonly tensor: tf.Tensor | null;
  readonly values: Float32Array | null;
  readonly shape: number[];
}

/** Flattens a rectangular nested array of finite numbers, or returns null. */
function flattenNested(x: unknown): { values: number[]; shape: number[] } | null {
  if (typeof x === 'number') return Number.isFinite(x) ? { values: [x], shape: [] } : null;
  if (!Array.isArray(x) || x.length === 0) return null;
  const parts = x.map(flattenNested);
  if (parts.some((p) => p === null)) return null;
  const first = (parts[0] as { shape: number[] }).shape;
  if (!parts.every((p) => (p as { shape: number[] }).shape.join() === first.join())) return null;
  return { values: parts.flatMap((p) => (p as { values: number[] }).values), shape: [x.length, ...first] };
}

/** A nested array or live tensor of one of `ranks`. */
function hostOrTensor(fn: string, argument: string, x: unknown, ranks: readonly number[], what: string, fix: string): HostOrTensor {
  if (isTensor(x)) {
    if (x.isDisposed || !ranks.includes(x.rank) || x.dtype === 'string' || x.dtype === 'complex64') {
      targetError(fn, argument, `must be ${what}`, x, fix);
    }
    return { tensor: x, values: null, shape: [...x.shape] };
  }
  const flat = flattenNested(x);
  if (flat === null || !ranks.includes(flat.shape.length)) return targetError(fn, argument, `must be ${what}`, x, fix);
  return { tensor: null, values: Float32Array.from(flat.values), shape: flat.shape };
}

/** The value as a float32 tensor (made now for host values: call inside the target's tidy). */
function materialise(v: HostOrTensor): tf.Tensor {
  if (v.tensor !== null) return v.tensor.dtype === 'float32' ? v.tensor : tf.cast(v.tensor, 'float32');
  return tf.tensor(v.values as Float32Array, v.shape, 'float32');
}

/**
 * The semantic-segmentation target (pytorch-grad-cam's `SemanticSegmentationTarget`): the sum of
 * category c's per-pixel scores inside a mask, `sum_yx output[y, x, c] * mask[y, x]`, for models
 * whose output is `[batch, H, W, classes]` (per-pixel logits, NHWC).
 *
 * Same as pytorch-grad-cam's (which reads `[classes, H, W]` NCHW outputs); the mask is usually the
 * pixels the model assigns to c (`argmax == c`), or a region of interest. With `logits: true` (the
 * default) a model ending in a per-pixel softmax is explained from its logits.
 *
 * @param category - the class, for the whole batch or one per example
 * @param mask - `[H, W]` weights (0/1 or soft) at the output's resolution, for the whole batch, or
 *   `[B, H, W]` one per example; nested arrays or a tensor (not disposed; keep it alive while the
 *   target is used)
 * @returns a target function for the `target` option
 * @throws {@link TargetError} for a bad category or mask (when building); an output that is not
 *   rank 4, a mask of another size or a category out of range (when called)
 *
 * @example
 * ```ts
 * const logits = model.predict(image.expandDims(0)) as tf.Tensor4D;           // [1, H, W, K]
 * const mask = tf.cast(tf.equal(tf.argMax(logits, -1), 2), 'float32').squeeze([0]) as tf.Tensor2D;
 * const { heatmap } = gradCam(model, image, { target: semanticSegmentationTarget(2, mask) });
 * ```
 */
export function semanticSegmentationTarget(
  category: PerExample<number>,
  mask: tf.Tensor | PerExample<ReadonlyArray<readonly number[]>>,
): TargetFn {
  const fn = 'semanticSegmentationTarget';
  const { values } = classIndices(fn, 'category', category);
  const m = hostOrTensor(
    fn,
    'mask',
    mask,
    [2, 3],
    'an [H, W] mask or one [H, W] mask per example ([B, H, W]), as nested arrays or a tensor',
    'For example the 0/1 mask of the pixels predicted as the category.',
  );
  return (output, examples) => {
    if (output.rank !== 4) {
      targetError(
        fn,
        'output',
        'must be [batch, H, W, classes] for a segmentation target',
        `an output of shape [${output.shape.join(', ')}]`,
        'Pick the per-pixel output with outputIndex.',
      );
    }
    const [, h, w, k] = output.shape as [number, number, number, number];
    checkClasses(fn, 'category', values, k);
    const mh = m.shape[m.shape.length - 2];
    const mw = m.shape[m.shape.length - 1];
    if (mh !== h || mw !== w) {
      targetError(
        fn,
        'mask',
        `must be ${h}x${w}, the output's size`,
        `a mask of ${mh}x${mw}`,
        'Resize the mask to the output (nearest neighbour keeps it 0/1).',
      );
    }
    const t = materialise(m);
    const masks = rowsOf(t.rank === 2 ? tf.expandDims(t, 0) : t, examples); // [rows, H, W]
    const hot = tf.reshape(oneHot(classOfRows(values, examples), k), [-1, 1, 1, k]);
    const perPixel = tf.sum(tf.mul(output, hot), -1); // [rows, H, W]
    return tf.sum(tf.mul(perPixel, masks), [1, 2]) as tf.Tensor1D;
  };
}

/** Options of {@link similarityToConceptTarget}. */
export interface SimilarityToConceptOptions {
  /** Lower bound of each norm (default 1e-8, torch's `CosineSimilarity`). */
  eps?: number | undefined;
}

/**
 * Similarity of an embedding to a concept (pytorch-grad-cam's embeddings tutorial,
 * `SimilarityToConceptTarget`): the cosine similarity `o . v / (max(|o|, eps) max(|v|, eps))` of the
 * explained output (an embedding, `[batch, E]`; higher ranks are flattened) to a concept vector v,
 * e.g. the embedding of another image: "which pixels make this image look like that one".
 *
 * Same as the tutorial's `torch.nn.CosineSimilarity(dim=0)(output, concept)` (norms clamped at
 * eps = 1e-8 as torch 1.13 does).
 *
 * @param concept - the concept vector `[E]` for the whole batch, or `[B, E]` one per example; an
 *   array or a tensor (not disposed; keep it alive while the target is used)
 * @param options - {@link SimilarityToConceptOptions}
 * @returns a target function for the `target` option
 * @throws {@link TargetError} for a bad concept or eps (when building), or an output whose
 *   size differs from the concept's (when called)
 *
 * @example
 * ```ts
 * const concept = (model.predict(images) as tf.Tensor2D).slice([1], [1]).squeeze([0]) as tf.Tensor1D;
 * const { heatmap } = gradCam(model, image, { target: similarityToConceptTarget(concept) });
 * ```
 */
export function similarityToConceptTarget(
  concept: tf.Tensor | PerExample<readonly number[]>,
  options?: SimilarityToConceptOptions,
): TargetFn {
  const fn = 'similarityToConceptTarget';
  const c = hostOrTensor(
    fn,
    'concept',
    concept,
    [1, 2],
    'a vector [E] or one vector per example [B, E], as arrays or a tensor',
    'Pass the embedding of the concept, e.g. of another image.',
  );
  const eps = options?.eps ?? 1e-8;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0)
    targetError(fn, 'options.eps', 'must be a finite number > 0', eps, 'Omit it for 1e-8.');
  return (output, examples) => {
    const rows = output.shape[0] as number;
    const o = tf.reshape(output, [rows, -1]) as tf.Tensor2D;
    const e = c.shape[c.shape.length - 1] as number;
    if (o.shape[1] !== e) {
      targetError(
        fn,
        'concept',
        `must have the size of the output (${o.shape[1]} values per example)`,
        `a concept of ${e} values`,
        'Take the concept from the same model output (outputIndex).',
      );
    }
    const t = materialise(c);
    const v = rowsOf(t.rank === 1 ? tf.expandDims(t, 0) : t, examples); // [rows, E]
    const on = tf.maximum(tf.norm(o, 'euclidean', 1, true), eps);
    const vn = tf.maximum(tf.norm(v, 'euclidean', 1, true), eps);
    return tf.sum(tf.mul(tf.div(o, on), tf.div(v, vn)), 1) as tf.Tensor1D;
  };
}
