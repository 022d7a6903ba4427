/**
 * The `input` argument: checked against the model's inputs (no tensor made), then prepared for the
 * runner (batched float32 tensors).
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError, describeValue } from '../errors.js';
import type { TensorInfo } from '../models/explainable.js';
import { isTensor } from './tensor.js';

/** The caller's input, checked: one live numeric tensor per model input, agreeing on the batch. */
export interface CheckedInput {
  /** The caller's tensors, in model-input order (not owned, never disposed). */
  readonly tensors: readonly tf.Tensor[];
  /** False when the caller passed unbatched tensors (one image); results are then squeezed. */
  readonly batched: boolean;
  readonly batchSize: number;
  /** Spatial size `[H, W]` of the first rank-4 model input, or null if there is none. */
  readonly imageSize: [number, number] | null;
  /** How each tensor is named in messages: `'input'` or `'input[i]'`. */
  readonly argumentNames: readonly string[];
}

/** Input tensors prepared for the runner: one float32 tensor per model input, always batched. */
export interface PreparedInput extends CheckedInput {
  /** Batched float32 tensors (the caller's own where no cast or reshape was needed). */
  readonly tensors: readonly tf.Tensor[];
}

const dims = (shape: ReadonlyArray<number | null>): string => `[${shape.map((d) => (d === null ? 'any' : String(d))).join(', ')}]`;

const namesOf = (inputs: readonly TensorInfo[]): string => inputs.map((t) => t.name).join(', ');

/** Splits the argument into one entry per model input (or throws). */
function inputList(fn: string, inputs: readonly TensorInfo[], input: unknown): { list: unknown[]; arg: (i: number) => string } {
  const n = inputs.length;
  if (Array.isArray(input) && n === 1 && !input.every(isTensor)) {
    // A nested JS array (raw pixels) passed to a one-input model.
    const inner = (inputs[0] as TensorInfo).shape.slice(1);
    throw new InputError({
      fn,
      argument: 'input',
      expected: `must be a tf.Tensor of shape [batch, ${dims(inner).slice(1)} or ${dims(inner)}`,
      got: describeValue(input),
      fix: 'Convert the data first, e.g. tf.tensor(data) or tf.browser.fromPixels(img).',
    });
  }
  if (!Array.isArray(input)) {
    if (n !== 1) {
      throw new InputError({
        fn,
        argument: 'input',
        expected: `must be an array of ${n} tensors (the model has ${n} inputs)`,
        got: describeValue(input),
        fix: `Pass [${namesOf(inputs)}] in model.inputs order.`,
      });
    }
    return { list: [input], arg: () => 'input' };
  }
  if (input.length !== n) {
    throw new InputError({
      fn,
      argument: 'input',
      expected: `must hold one tensor per model input (${n})`,
      got: `an array of ${input.length}`,
      fix: n === 1 ? 'Pass the image tensor itself, [H, W, C] or [B, H, W, C].' : `Pass [${namesOf(inputs)}] in model.inputs order.`,
    });
  }
  return { list: input, arg: (i) => `input[${i}]` };
}

/** Checks one tensor against one model input; returns whether it has a batch axis and its batch. */
function checkOne(
  fn: string,
  argument: string,
  expectedShape: ReadonlyArray<number | null>,
  x: unknown,
): { batched: boolean; batch: number } {
  const inner = expectedShape.slice(1);
  const wanted = `[batch, ${dims(inner).slice(1)}`;
  if (!isTensor(x)) {
    throw new InputError({
      fn,
      argument,
      expected: `must be a tf.Tensor of shape ${wanted} or ${dims(inner)}`,
      got: describeValue(x),
      fix: 'Convert the image first, e.g. tf.browser.fromPixels(img) or tf.tensor(data, shape).',
    });
  }
  if (x.isDisposed) {
    throw new InputError({
      fn,
      argument,
      expected: 'must be a live tensor',
      got: 'a disposed tensor',
      fix: 'Do not dispose the input (or call outside the tf.tidy that disposed it).',
    });
  }
  const batched = x.rank === expectedShape.length;
  if (!batched && x.rank !== expectedShape.length - 1) {
    throw new InputError({
      fn,
      argument,
      expected: `must have rank ${expectedShape.length} ${wanted} or ${expectedShape.length - 1} ${dims(inner)}`,
      got: describeValue(x),
      fix:
        x.rank < expectedShape.length - 1
          ? 'Add the missing axes, e.g. tf.expandDims(x, -1) for a grayscale image.'
          : 'Remove extra axes (tf.squeeze) or pass a single batch.',
    });
  }
  const actual = batched ? x.shape.slice(1) : x.shape;
  const bad = inner.findIndex((d, k) => d !== null && d !== actual[k]);
  if (bad >= 0) {
    const isImage = inner.length === 3;
    const what = isImage ? (['height', 'width', 'channels'][bad] as string) : `axis ${bad + 1}`;
    throw new InputError({
      fn,
      argument,
      expected: `must have shape ${wanted} or ${dims(inner)} (${what} ${inner[bad]})`,
      got: describeValue(x),
      fix:
        isImage && bad < 2
          ? `Resize the image to ${inner[0]}x${inner[1]}, e.g. tf.image.resizeBilinear(x, [${inner[0]}, ${inner[1]}]).`
          : isImage && bad === 2
            ? `Convert the image to ${inner[2]} channel(s) (e.g. tf.tile a grayscale image, or drop alpha with tf.slice).`
            : 'Reshape the tensor to the model input shape.',
    });
  }
  const batch = batched ? (x.shape[0] as number) : 1;
  if (batch === 0) {
    throw new InputError({
      fn,
      argument,
      expected: 'must hold at least one example',
      got: describeValue(x),
      fix: 'Pass a non-empty batch.',
    });
  }
  if (x.dtype === 'string' || x.dtype === 'complex64') {
    throw new InputError({
      fn,
      argument,
      expected: 'must be a numeric tensor (float32, int32 or bool)',
      got: describeValue(x),
      fix: 'Decode the data to numbers first.',
    });
  }
  return { batched, batch };
}

/**
 * Checks the input(s) against the model's inputs: one live numeric tensor per input, of the right
 * rank and shape, all batched (or all unbatched) with one batch size. Makes no tensor.
 */
export function checkInput(fn: string, inputs: readonly TensorInfo[], input: unknown): CheckedInput {
  const { list, arg } = inputList(fn, inputs, input);
  let batched: boolean | null = null;
  let batchSize = -1;
  let imageSize: [number, number] | null = null;
  list.forEach((x, i) => {
    const expectedShape = (inputs[i] as TensorInfo).shape;
    const one = checkOne(fn, arg(i), expectedShape, x);
    if (batched !== null && batched !== one.batched) {
      throw new InputError({
        fn,
        argument: arg(i),
        expected: 'must be batched like the other inputs (all with a batch axis, or none)',
        got: describeValue(x),
        fix: 'Add or remove the batch axis so every input agrees.',
      });
    }
    if (batchSize >= 0 && one.batch !== batchSize) {
      throw new InputError({
        fn,
        argument: arg(i),
        expected: `must have the same batch size as input[0] (${batchSize})`,
        got: describeValue(x),
        fix: 'Give every input the same number of examples.',
      });
    }
    batched = one.batched;
    batchSize = one.batch;
    const t = x as tf.Tensor;
    if (imageSize === null && expectedShape.length === 4) {
      const offset = one.batched ? 1 : 0;
      imageSize = [t.shape[offset] as number, t.shape[offset + 1] as number];
    }
  });
  return { tensors: list as tf.Tensor[], batched: batched ?? true, batchSize, imageSize, argumentNames: list.map((_, i) => arg(i)) };
}

/**
 * Prepares checked input for the runner: int32/bool tensors cast to float32, unbatched ones given a
 * batch axis (the new tensors belong to the caller's tidy). With `validate`, reads back one value
 * per tensor to refuse NaN and Infinity. Must run inside `tf.tidy`.
 */
export function prepareInput(fn: string, checked: CheckedInput, validate: boolean): PreparedInput {
  const tensors = checked.tensors.map((x) => {
    const t = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
    return checked.batched ? t : tf.expandDims(t, 0);
  });
  if (validate) {
    tensors.forEach((t, i) => {
      // sum(x * 0) is NaN exactly when some value is NaN or infinite: one reduction, one value read,
      // and no IsFinite kernel (absent from older tfjs-backend-wasm releases).
      const probe = tf.tidy(() => tf.sum(tf.mul(t, 0)).dataSync()[0] as number);
      if (!Number.isFinite(probe)) {
        throw new InputError({
          fn,
          argument: checked.argumentNames[i] as string,
          expected: 'must hold finite numbers',
          got: 'a tensor containing NaN or Infinity',
          fix: 'Clean the input (tf.where(tf.isNaN(x), 0, x)), or pass validate: false to skip this check.',
        });
      }
    });
  }
  return { ...checked, tensors };
}
