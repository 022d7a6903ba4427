/**
 * The error family thrown by tfcam.
 *
 * Every error tfcam throws on bad input is a {@link TfcamError} with a message of one shape:
 *
 * ```text
 * gradCam: 'layer' must name a layer of the model, but got 'conv9'. Use one of: conv1, conv2, ...
 * ```
 *
 * i.e. `<function>: '<argument>' <what was expected>, but got <what came>. <how to fix>`. The
 * subclasses let callers branch on the kind of mistake without parsing messages.
 *
 * @module
 */

/** Machine-readable category of a {@link TfcamError}. */
export type TfcamErrorCode =
  | 'INVALID_MODEL'
  | 'INVALID_INPUT'
  | 'INVALID_LAYER'
  | 'INVALID_TARGET'
  | 'INVALID_OPTION'
  | 'UNSUPPORTED'
  | 'BACKEND_UNAVAILABLE';

/** Fields shared by every tfcam error. */
export interface TfcamErrorDetails {
  /** The public function that was called, e.g. `'gradCam'`. */
  fn: string;
  /** The argument or option at fault, e.g. `'layer'`, `'input[1]'`, `'options.target'`. */
  argument: string;
  /** What the function expected, phrased to follow the argument name. */
  expected: string;
  /** A short description of what it got instead. */
  got: string;
  /** How to fix the call. */
  fix: string;
}

/**
 * Base class of every error tfcam throws on purpose.
 *
 * @example
 * ```ts
 * try {
 *   gradCam(model, image, { layer: 'nope' });
 * } catch (e) {
 *   if (e instanceof TfcamError && e.argument === 'layer') console.log(e.message);
 * }
 * ```
 */
export class TfcamError extends Error {
  /** Machine-readable category. */
  readonly code: TfcamErrorCode;
  /** The public function that threw. */
  readonly fn: string;
  /** The argument or option at fault. */
  readonly argument: string;

  /**
   * Creates an error with the standard message `fn: 'argument' expected, but got got. fix`.
   * @param code - category of the error
   * @param details - the parts the message is assembled from
   */
  constructor(code: TfcamErrorCode, details: TfcamErrorDetails) {
    super(`${details.fn}: '${details.argument}' ${details.expected}, but got ${details.got}.${details.fix ? ` ${details.fix}` : ''}`);
    this.name = new.target.name;
    this.code = code;
    this.fn = details.fn;
    this.argument = details.argument;
  }
}

/** The model is not a usable `tf.LayersModel` (not a model, not built, unsupported structure). */
export class ModelError extends TfcamError {
  /**
   * Creates the error; see {@link TfcamError} for the message format.
   * @param details - the parts the message is assembled from
   */
  constructor(details: TfcamErrorDetails) {
    super('INVALID_MODEL', details);
  }
}

/** The input tensor(s) do not fit the model (type, rank, shape, values, batch size). */
export class InputError extends TfcamError {
  /**
   * Creates the error; see {@link TfcamError} for the message format.
   * @param details - the parts the message is assembled from
   */
  constructor(details: TfcamErrorDetails) {
    super('INVALID_INPUT', details);
  }
}

/** The `layer` option does not resolve to a usable target layer. */
export class LayerError extends TfcamError {
  /**
   * Creates the error; see {@link TfcamError} for the message format.
   * @param details - the parts the message is assembled from
   */
  constructor(details: TfcamErrorDetails) {
    super('INVALID_LAYER', details);
  }
}

/** The `target` option (class indices or score function) is invalid for this model and batch. */
export class TargetError extends TfcamError {
  /**
   * Creates the error; see {@link TfcamError} for the message format.
   * @param details - the parts the message is assembled from
   */
  constructor(details: TfcamErrorDetails) {
    super('INVALID_TARGET', details);
  }
}

/** An option is unknown or has a value of the wrong type or range. */
export class OptionError extends TfcamError {
  /**
   * Creates the error; see {@link TfcamError} for the message format.
   * @param details - the parts the message is assembled from
   */
  constructor(details: TfcamErrorDetails) {
    super('INVALID_OPTION', details);
  }
}

/** The model uses something tfcam cannot run (a layer type, a data format, a missing kernel). */
export class UnsupportedError extends TfcamError {
  /**
   * Creates the error; see {@link TfcamError} for the message format.
   * @param details - the parts the message is assembled from
   */
  constructor(details: TfcamErrorDetails) {
    super('UNSUPPORTED', details);
  }
}

/**
 * A TensorFlow.js backend cannot be used: its npm package is not installed, it failed to initialise
 * (e.g. no WebGL2 context), or it registered itself with another copy of `@tensorflow/tfjs-core`.
 * Thrown by `useBackend` (the `tfcam/backend` entry point).
 */
export class BackendError extends TfcamError {
  /**
   * Creates the error; its message is assembled from `details`.
   * @param details - the parts the message is assembled from
   */
  constructor(details: TfcamErrorDetails) {
    super('BACKEND_UNAVAILABLE', details);
  }
}

/**
 * Describes a value for the "but got ..." part of an error message, without reading tensor data.
 * @internal
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) {
    if (value.length <= 8 && value.every((v) => typeof v === 'number')) {
      return `[${value.join(', ')}]`;
    }
    return `an array of length ${value.length}`;
  }
  if (typeof value === 'object') {
    const v = value as { shape?: unknown; dtype?: unknown; rank?: unknown; dataId?: unknown };
    if (Array.isArray(v.shape) && typeof v.dtype === 'string' && v.dataId !== undefined) {
      const article = /^[aeiou]/.test(v.dtype) ? 'an' : 'a';
      return `${article} ${v.dtype} tensor of shape [${(v.shape as number[]).join(', ')}]`;
    }
    const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
    return ctor && ctor !== 'Object' ? `an object of class ${ctor}` : 'a plain object';
  }
  return typeof value;
}
