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
  // Optional members of specific layer classes, read by the applier.
  readonly [key: string]: unknown;
}

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
    typeof l.name === 'string' &&
    typeof l.getClassName === 'function' &&
    Array.isArray(l.inboundNodes) &&
    typeof l.apply === 'function'
  );
}

/** True when `x` looks like a tfjs-layers container (a model, possibly used as a layer). */
export function isContainer(x: unknown): x is ContainerLike {
  if (!isLayer(x)) return false;
  const c = x as { layers?: unknown; inputs?: unknown; outputs?: unknown };
  return Array.isArray(c.layers) && Array.isArray(c.inputs) && Array.isArray(c.outputs);
}

/** Reads a layer weight (`layer.kernel`, `layer.bias`, ...) if present. */
export function readWeight(layer: LayerLike, key: string): Tensor | null {
  const v = layer[key] as LayerVariableLike | null | undefined;
  if (v == null || typeof v.read !== 'function') return null;
  return v.read();
}
