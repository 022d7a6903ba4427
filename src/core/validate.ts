/**
 * Argument checking shared by every public function: the model, the input tensors and the options.
 * Each failure is a typed {@link TfcamError} naming the argument, what was expected and how to fix it.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError, ModelError, OptionError, describeValue } from '../errors.js';
import type { ContainerLike } from '../models/layers/keras-types.js';
import { isTensor } from './tensor.js';
import { isContainer } from '../models/layers/keras-types.js';

/** Checks that `model` is a built `tf.LayersModel` (or Sequential) and returns it typed. */
export function checkModel(fn: string, model: unknown): ContainerLike {
  if (!isContainer(model) || typeof (model as { predict?: unknown }).predict !== 'function') {
    throw new ModelError({
      fn,
      argument: 'model',
      expected: 'must be a tf.LayersModel (from tf.model, tf.sequential or tf.loadLayersModel)',
      got: describeValue(model),
      fix: 'Graph models from tf.loadGraphModel have no layers to explain; convert the model as a Keras (layers) model.',
    });
  }
  if (model.inputs.length === 0 || model.outputs.length === 0) {
    throw new ModelError({
      fn,
      argument: 'model',
      expected: 'must be built (have inputs and outputs)',
      got: `an unbuilt ${model.getClassName()} '${model.name}'`,
      fix: 'Give the first layer an inputShape (or call model.build([null, H, W, C])) before explaining it.',
    });
  }
  return model;
}

/** Input tensors prepared for the runner. */
export interface PreparedInput {
  /** One float tensor per model input, always batched (`[B, ...]`). */
  tensors: tf.Tensor[];
  /** False when the caller passed unbatched tensors (one image); results are then squeezed. */
  batched: boolean;
  batchSize: number;
  /** Spatial size `[H, W]` of the first rank-4 model input, or null if there is none. */
  imageSize: [number, number] | null;
}

const shapeText = (dims: ReadonlyArray<number | null>): string =>
  `[${dims.map((d) => (d === null ? 'any' : String(d))).join(', ')}]`;

/**
 * Checks the input(s) against the model's input shapes. Integer and boolean tensors are cast to
 * float32 (the cast tensors belong to the caller's tidy scope). Must run inside `tf.tidy`.
 */
export function prepareInput(
  fn: string,
  model: ContainerLike,
  input: unknown,
  validateValues: boolean,
): PreparedInput {
  const n = model.inputs.length;
  let list: unknown[];
  if (Array.isArray(input) && n === 1 && !input.every(isTensor)) {
    // A nested JS array (raw pixels) passed to a one-input model.
    const inner = (model.inputs[0] as { shape: ReadonlyArray<number | null> }).shape.slice(1);
    throw new InputError({
      fn,
      argument: 'input',
      expected: `must be a tf.Tensor of shape [batch, ${inner.map((d) => (d === null ? 'any' : String(d))).join(', ')}] or ${shapeText(inner)}`,
      got: describeValue(input),
      fix: 'Convert the data first, e.g. tf.tensor(data) or tf.browser.fromPixels(img).',
    });
  }
  if (Array.isArray(input)) {
    list = input;
    if (list.length !== n) {
      throw new InputError({
        fn,
        argument: 'input',
        expected: `must hold one tensor per model input (${n})`,
        got: `an array of ${list.length}`,
        fix:
          n === 1
            ? 'Pass the image tensor itself, [H, W, C] or [B, H, W, C].'
            : `Pass [${model.inputs.map((t) => t.name).join(', ')}] in model.inputs order.`,
      });
    }
  } else {
    if (n !== 1) {
      throw new InputError({
        fn,
        argument: 'input',
        expected: `must be an array of ${n} tensors (the model has ${n} inputs)`,
        got: describeValue(input),
        fix: `Pass [${model.inputs.map((t) => t.name).join(', ')}] in model.inputs order.`,
      });
    }
    list = [input];
  }

  let batched: boolean | null = null;
  let batchSize = -1;
  let imageSize: [number, number] | null = null;
  const tensors: tf.Tensor[] = [];
  list.forEach((x, i) => {
    const arg = n === 1 && !Array.isArray(input) ? 'input' : `input[${i}]`;
    const expectedShape = (model.inputs[i] as { shape: ReadonlyArray<number | null> }).shape;
    const inner = expectedShape.slice(1);
    const wanted = `[batch, ${inner.map((d) => (d === null ? 'any' : String(d))).join(', ')}]`;
    if (!isTensor(x)) {
      throw new InputError({
        fn,
        argument: arg,
        expected: `must be a tf.Tensor of shape ${wanted} or ${shapeText(inner)}`,
        got: describeValue(x),
        fix: 'Convert the image first, e.g. tf.browser.fromPixels(img) or tf.tensor(data, shape).',
      });
    }
    if (x.isDisposed) {
      throw new InputError({
        fn,
        argument: arg,
        expected: 'must be a live tensor',
        got: 'a disposed tensor',
        fix: 'Do not dispose the input (or call outside the tf.tidy that disposed it).',
      });
    }
    const isBatched = x.rank === expectedShape.length;
    const isSingle = x.rank === expectedShape.length - 1;
    if (!isBatched && !isSingle) {
      throw new InputError({
        fn,
        argument: arg,
        expected: `must have rank ${expectedShape.length} ${wanted} or ${expectedShape.length - 1} ${shapeText(inner)}`,
        got: describeValue(x),
        fix:
          x.rank < expectedShape.length - 1
            ? 'Add the missing axes, e.g. tf.expandDims(x, -1) for a grayscale image.'
            : 'Remove extra axes (tf.squeeze) or pass a single batch.',
      });
    }
    if (batched !== null && batched !== isBatched) {
      throw new InputError({
        fn,
        argument: arg,
        expected: 'must be batched like the other inputs (all with a batch axis, or none)',
        got: describeValue(x),
        fix: 'Add or remove the batch axis so every input agrees.',
      });
    }
    batched = isBatched;
    const dims = isBatched ? x.shape.slice(1) : x.shape;
    const bad = inner.findIndex((d, k) => d !== null && d !== dims[k]);
    if (bad >= 0) {
      const isImage = inner.length === 3;
      const what = isImage ? (['height', 'width', 'channels'][bad] as string) : `axis ${bad + 1}`;
      throw new InputError({
        fn,
        argument: arg,
        expected: `must have shape ${wanted} or ${shapeText(inner)} (${what} ${inner[bad]})`,
        got: describeValue(x),
        fix:
          isImage && bad < 2
            ? `Resize the image to ${inner[0]}x${inner[1]}, e.g. tf.image.resizeBilinear(x, [${inner[0]}, ${inner[1]}]).`
            : isImage && bad === 2
              ? `Convert the image to ${inner[2]} channel(s) (e.g. tf.tile a grayscale image, or drop alpha with tf.slice).`
              : 'Reshape the tensor to the model input shape.',
      });
    }
    const b = isBatched ? (x.shape[0] as number) : 1;
    if (b === 0) {
      throw new InputError({
        fn,
        argument: arg,
        expected: 'must hold at least one example',
        got: describeValue(x),
        fix: 'Pass a non-empty batch.',
      });
    }
    if (batchSize >= 0 && b !== batchSize) {
      throw new InputError({
        fn,
        argument: arg,
        expected: `must have the same batch size as input[0] (${batchSize})`,
        got: describeValue(x),
        fix: 'Give every input the same number of examples.',
      });
    }
    batchSize = b;
    if (x.dtype === 'string' || x.dtype === 'complex64') {
      throw new InputError({
        fn,
        argument: arg,
        expected: 'must be a numeric tensor (float32, int32 or bool)',
        got: describeValue(x),
        fix: 'Decode the data to numbers first.',
      });
    }
    let t: tf.Tensor = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
    if (!isBatched) t = tf.expandDims(t, 0);
    if (imageSize === null && t.rank === 4) imageSize = [t.shape[1] as number, t.shape[2] as number];
    tensors.push(t);
  });

  if (validateValues) {
    tensors.forEach((t, i) => {
      const bad = tf.tidy(() => tf.any(tf.logicalNot(tf.isFinite(t))).dataSync()[0]);
      if (bad) {
        throw new InputError({
          fn,
          argument: n === 1 && !Array.isArray(input) ? 'input' : `input[${i}]`,
          expected: 'must hold finite numbers',
          got: 'a tensor containing NaN or Infinity',
          fix: 'Clean the input (tf.where(tf.isNaN(x), 0, x)), or pass validate: false to skip this check.',
        });
      }
    });
  }
  return { tensors, batched: batched ?? true, batchSize, imageSize };
}

/** Backends on which reading one value back is cheap, so `validate` defaults to true. */
const CHEAP_READ_BACKENDS = new Set(['cpu', 'wasm', 'tensorflow']);

/** The default of the `validate` option on the active backend. */
export function defaultValidate(): boolean {
  return CHEAP_READ_BACKENDS.has(tf.getBackend());
}

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0] as number;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j] as number;
      dp[j] = Math.min((dp[j] as number) + 1, (dp[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length] as number;
}

/** Rejects unknown option keys (with a spelling hint) and non-object options. */
export function checkOptionKeys(fn: string, options: unknown, known: readonly string[]): Record<string, unknown> {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new OptionError({
      fn,
      argument: 'options',
      expected: 'must be an object',
      got: describeValue(options),
      fix: `Pass e.g. { layer: 'last_conv' }. Known options: ${known.join(', ')}.`,
    });
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) {
      const near = known
        .map((k) => [k, distance(key.toLowerCase(), k.toLowerCase())] as const)
        .sort((a, b) => a[1] - b[1])[0];
      const hint = near !== undefined && near[1] <= 3 ? `Did you mean '${near[0]}'? ` : '';
      throw new OptionError({
        fn,
        argument: `options.${key}`,
        expected: 'is not a known option',
        got: describeValue(o[key]),
        fix: `${hint}Known options: ${known.join(', ')}.`,
      });
    }
  }
  return o;
}

/** Reads a boolean option with a default. */
export function boolOption(fn: string, o: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') {
    throw new OptionError({
      fn,
      argument: `options.${key}`,
      expected: 'must be true or false',
      got: describeValue(v),
      fix: `Omit it for the default (${dflt}).`,
    });
  }
  return v;
}

/** Reads an integer option within [min, max]. */
export function intOption(
  fn: string,
  o: Record<string, unknown>,
  key: string,
  dflt: number,
  min: number,
  max: number,
): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new OptionError({
      fn,
      argument: `options.${key}`,
      expected: `must be an integer in [${min}, ${max}]`,
      got: describeValue(v),
      fix: `Omit it for the default (${dflt}).`,
    });
  }
  return v;
}
