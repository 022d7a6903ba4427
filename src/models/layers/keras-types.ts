/**
 * Structural (duck) types for the parts of tfjs-layers tfcam reads.
 *
 * tfcam never uses `instanceof` against tfjs classes: an app may load two copies of tfjs (a bundler
 * quirk, or tfjs-node next to tfjs-core), and `instanceof` fails across copies. These interfaces name
 * only the members tfcam touches.
 *
 * @internal
 * @module
 */
import type { Tensor } from '@tensorflow/tfjs-core';

/** A symbolic tensor of the Keras graph (`layer.output`, `model.inputs[i]`). */
export interface SymbolicTensorLike {
  readonly id: number;
  readonly name: string;
  readonly shape: ReadonlyArray<number | null>;
  readonly sourceLayer: LayerLike;
  readonly nodeIndex: number;
  readonly tensorIndex: number;
}

/** One call of a layer in the Keras graph. */
export interface NodeLike {
  readonly inputTensors: readonly SymbolicTensorLike[];
  readonly outputTensors: readonly SymbolicTensorLike[];
  readonly callArgs?: Record<string, unknown> | null;
}

/** An activation function object of tfjs-layers (`layer.activation`). */
export interface ActivationLike {
  getClassName(): string;
  apply(x: Tensor, axis?: number): Tensor;
}

/** A tfjs-layers `Layer` (including models used as layers). */
export interface LayerLike {
  readonly name: string;
  getClassName(): string;
  readonly inboundNodes: readonly NodeLike[];
  apply(inputs: Tensor | Tensor[], kwargs?: Record<string, unknown>): Tensor | Tensor[];
}

/** The members of tfjs-layers layer classes tfcam reads, by name, with the types it expects. */
export interface KerasFields {
  readonly kernel: LayerVariableLike | null;
  readonly bias: LayerVariableLike | null;
  readonly depthwiseKernel: LayerVariableLike | null;
  readonly pointwiseKernel: LayerVariableLike | null;
  readonly movingMean: LayerVariableLike | null;
  readonly movingVariance: LayerVariableLike | null;
  readonly gamma: LayerVariableLike | null;
  readonly beta: LayerVariableLike | null;
  readonly useBias: boolean;
  readonly strides: number | readonly number[] | null;
  readonly padding: string;
  readonly dilationRate: number | readonly number[];
  readonly dataFormat: string;
  readonly activation: ActivationLike | null;
  readonly rank: number;
  readonly scale: boolean;
  readonly center: boolean;
  readonly epsilon: number;
  readonly axis: number | readonly number[];
  readonly poolSize: number | readonly number[];
  readonly size: readonly number[];
  readonly interpolation: string;
  readonly theta: number;
  readonly maxValue: number | null;
  readonly weights: readonly LayerVariableLike[];
}

/** A layer as far as fields `K` of {@link KerasFields} go (each may be absent on other classes). */
export type LayerWith<K extends keyof KerasFields> = LayerLike & { readonly [P in K]?: KerasFields[P] | undefined };

/**
 * The fields tfcam reads, per tfjs-layers class the applier replays (its functions are typed by
 * these lists, so reading anything else does not compile). test/core/keras-contract.test.ts checks
 * each against the real class of the installed tfjs-layers, so a tfjs release that renames one fails
 * the suite instead of silently falling back. Read on any layer: `activation`, `dataFormat` (layer
 * resolution, guided and logits rules) and `weights` (sanityCheck).
 */
export const LAYER_FIELDS = {
  Conv2D: ['kernel', 'bias', 'useBias', 'strides', 'padding', 'dilationRate', 'dataFormat', 'activation', 'rank'],
  DepthwiseConv2D: ['depthwiseKernel', 'bias', 'useBias', 'strides', 'padding', 'dataFormat', 'activation'],
  SeparableConv2D: [
    'depthwiseKernel',
    'pointwiseKernel',
    'bias',
    'useBias',
    'strides',
    'padding',
    'dilationRate',
    'dataFormat',
    'activation',
    'rank',
  ],
  Dense: ['kernel', 'bias', 'useBias', 'activation'],
  BatchNormalization: ['movingMean', 'movingVariance', 'gamma', 'beta', 'scale', 'center', 'epsilon', 'axis'],
  AveragePooling2D: ['poolSize', 'strides', 'padding', 'dataFormat'],
  MaxPooling2D: ['poolSize', 'strides', 'padding', 'dataFormat'],
  AveragePooling1D: ['poolSize', 'strides', 'padding'],
  MaxPooling1D: ['poolSize', 'strides', 'padding'],
  GlobalAveragePooling2D: ['dataFormat'],
  GlobalMaxPooling2D: ['dataFormat'],
  GlobalMaxPooling1D: [],
  UpSampling2D: ['size', 'interpolation', 'dataFormat'],
  ThresholdedReLU: ['theta'],
  Activation: ['activation'],
  ReLU: ['maxValue'],
  Softmax: [],
} as const satisfies Readonly<Record<string, readonly (keyof KerasFields)[]>>;

/** A tfjs-layers class tfcam replays itself. */
export type ReplayedClass = keyof typeof LAYER_FIELDS;

/** A layer of class `C`, typed by the fields tfcam reads from it. */
export type LayerOf<C extends ReplayedClass> = LayerWith<(typeof LAYER_FIELDS)[C][number]>;

/** A tfjs-layers container: `tf.LayersModel`, `tf.Sequential` or a functional model used as a layer. */
export interface ContainerLike extends LayerLike {
  readonly layers: readonly LayerLike[];
  readonly inputs: readonly SymbolicTensorLike[];
  readonly outputs: readonly SymbolicTensorLike[];
}

/** A tfjs variable as held by a layer (`layer.kernel`). */
export interface LayerVariableLike {
  read(): Tensor;
}

/** True when `x` looks like a tfjs-layers `Layer`. */
export function isLayer(x: unknown): x is LayerLike {
  if (x === null || typeof x !== 'object') return false;
  const l = x as { name?: unknown; getClassName?: unknown; inboundNodes?: unknown; apply?: unknown };
  return (
    typeof l.name === 'string' && typeof l.getClassName === 'function' && Array.isArray(l.inboundNodes) && typeof l.apply === 'function'
  );
}

/** True when `x` looks like a tfjs-layers container (a model, possibly used as a layer). */
export function isContainer(x: unknown): x is ContainerLike {
  if (!isLayer(x)) return false;
  const c = x as { layers?: unknown; inputs?: unknown; outputs?: unknown };
  return Array.isArray(c.layers) && Array.isArray(c.inputs) && Array.isArray(c.outputs);
}

/** The value of a layer weight (`layer.kernel`, `layer.bias`, ...), or null when absent. */
export function readWeight(v: LayerVariableLike | null | undefined): Tensor | null {
  return v == null || typeof v.read !== 'function' ? null : v.read();
}
