/**
 * Prepared tensors kept between calls: the flipped, channel-transposed kernels and per-tap kernel
 * slices of the forward-convolution input gradients (gradops.ts), made once per weight value.
 *
 * A one-shot tfcam function never holds one (nothing outlives its call). An explainer
 * (`createExplainer`) owns one and hands it to the model's applier through the head options; the
 * applier passes it to the input-gradient functions, which ask it for their prepared kernel instead
 * of computing it. On tfjs-wasm that also keeps XNNPACK's packed copy of the kernel valid between
 * calls (it packs every filter tensor it has not seen before).
 *
 * Entries are keyed by the weight tensor (its identity) and a string naming the preparation, and
 * remember the weight's `dataId`: tfjs gives a variable a new `dataId` whenever its value is
 * assigned (`model.fit`, an optimizer step, `setWeights`, `layer.setWeights`), so an entry made from
 * an older value is disposed and made again, without reading any data back. Only model weights may
 * be used as keys (a tensor made in every call would add an entry per call).
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

interface Entry {
  /** The weights it was made from, with their `dataId` when it was made. */
  readonly sources: ReadonlyArray<{ readonly weight: tf.Tensor; readonly dataId: object }>;
  readonly tensor: tf.Tensor;
}

/** True while every weight an entry was made from still holds the value it was made from. */
const current = (e: Entry): boolean => e.sources.every((s) => !s.weight.isDisposed && s.weight.dataId === s.dataId);

/** Prepared tensors per weight, kept (outside every `tf.tidy`) until {@link KernelCache.dispose}. */
export class KernelCache {
  private readonly entries = new Map<tf.Tensor, Map<string, Entry>>();
  private disposed = false;

  /**
   * The tensor `make()` prepares from `weight` (and the weights in `also`), named `key` (e.g.
   * `'conv2d-input-grad'`), made once per value of those weights. The caller must not dispose it.
   * Safe inside a tidy and inside a gradient function: the tensor is kept out of every scope.
   */
  get(weight: tf.Tensor, key: string, make: () => tf.Tensor, also: readonly tf.Tensor[] = []): tf.Tensor {
    let byKey = this.entries.get(weight);
    const hit = byKey?.get(key);
    if (hit !== undefined && current(hit)) return hit.tensor;
    if (this.disposed) return make();
    // (A clone when the preparation is the identity: disposing the entry must not free the weight.)
    const tensor = tf.keep(
      tf.tidy(() => {
        const t = make();
        return t === weight ? tf.clone(t) : t;
      }),
    );
    if (hit !== undefined) hit.tensor.dispose();
    if (byKey === undefined) {
      byKey = new Map();
      this.entries.set(weight, byKey);
    }
    byKey.set(key, { sources: [weight, ...also].map((w) => ({ weight: w, dataId: w.dataId })), tensor });
    return tensor;
  }

  /**
   * Frees the entries made from values the weights no longer hold (after a `fit`, or a weight
   * disposed with its model). Reads no data.
   */
  prune(): void {
    for (const [weight, byKey] of this.entries) {
      for (const [key, entry] of byKey) {
        if (weight.isDisposed || !current(entry)) {
          entry.tensor.dispose();
          byKey.delete(key);
        }
      }
      if (byKey.size === 0) this.entries.delete(weight);
    }
  }

  /**
   * The tensors held, and the bytes they add to `tf.memory()` (data shared with a weight, as a
   * reshape of it shares it, is not counted).
   */
  memory(): { numTensors: number; numBytes: number } {
    let numTensors = 0;
    let numBytes = 0;
    const seen = new Set<object>();
    for (const [weight, byKey] of this.entries) {
      for (const { tensor } of byKey.values()) {
        numTensors++;
        if (tensor.dataId === weight.dataId || seen.has(tensor.dataId)) continue;
        seen.add(tensor.dataId);
        numBytes += tensor.size * 4;
      }
    }
    return { numTensors, numBytes };
  }

  /** Frees every entry; later `get` calls prepare without keeping. */
  dispose(): void {
    for (const byKey of this.entries.values()) for (const { tensor } of byKey.values()) tensor.dispose();
    this.entries.clear();
    this.disposed = true;
  }
}
