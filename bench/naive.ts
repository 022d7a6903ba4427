/**
 * The naive ways of computing Grad-CAM in tfjs, kept as reference points (they are what tfcam must
 * beat, and they show why tfcam runs the graph itself):
 *
 * - `kerasSplit`: the Keras Grad-CAM example (keras.io/examples/vision/grad_cam, first version): a
 *   "features" model from the input to the target layer, then the layers *after* the target in
 *   `model.layers` order re-applied one after the other as the "classifier", under `tf.grad`, with
 *   the stock layers (fused convolutions). It only works when the head is a chain: on a branching
 *   head (InceptionV3 `mixed7`, a MobileNetV2 block with its residual add) re-applying the layers in
 *   sequence is not the model any more, and it throws.
 * - `probe`: the whole model under the tape, the target layer patched to add a zero "probe" tensor
 *   whose gradient is dS/dA (the Keras example's second version, `Model(inputs, [A, output])` under
 *   `GradientTape`, has the same cost). Works on any graph, but every activation of the forward pass
 *   stays on the tape and the head's fused convolutions compute filter gradients; on wasm, whose
 *   `Conv2DBackpropFilter` is not registered, it throws as soon as the head has a convolution.
 *
 * `BatchNormalization({scale: false})` (all of Keras InceptionV3) throws under any tape in tfjs 4.22
 * (tfjs#2868); both recipes get the smallest possible workaround (`withBatchNormWorkaround`) so that
 * they fail, where they fail, for their own reasons.
 *
 * Both explain the pre-softmax logit the way those recipes do, by switching the classifier's activation
 * to linear for the duration of the call (`model.layers[-1].activation = None` in the Keras example;
 * restored afterwards here), so their maps are comparable with tfcam's and the optimum's. Both use the
 * same vectorised combination as the optimum.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Prepared } from './optimum.js';
import { argmaxScore, combine } from './optimum.js';

type NaiveCam = { heatmap: tf.Tensor3D; classIndex: tf.Tensor1D };

/**
 * tfjs keeps the tensors each recorded op saved for its backward pass until the backward pass frees
 * them; when the gradient computation throws they would leak and distort every later memory figure.
 * Release them the way the engine does after a backward pass (only when no outer tape is active).
 */
export function releaseTapeAfterError(): void {
  const state = (
    tf.engine() as unknown as {
      state?: { gradientDepth?: number; activeTape?: Array<{ saved?: tf.Tensor[] }> | null };
    }
  ).state;
  if (state === undefined || state.gradientDepth !== 0 || !Array.isArray(state.activeTape)) return;
  for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
  state.activeTape = null;
}

/** Runs `f` with the output layer's activation switched to linear (restored afterwards). */
function withLinearOutput<T>(model: tfl.LayersModel, f: () => T): T {
  const out = model.outputLayers[0] as unknown as { activation?: unknown };
  const had = Object.getOwnPropertyDescriptor(out, 'activation');
  if (had === undefined) return f();
  // A Linear activation object as tfjs-layers makes it (its class is not exported).
  const linear = (tfl.layers.dense({ units: 1, activation: 'linear' }) as unknown as { activation: unknown }).activation;
  out.activation = linear;
  try {
    return f();
  } finally {
    Object.defineProperty(out, 'activation', had);
  }
}

/**
 * Runs `f` with every `BatchNormalization({scale: false})` layer computing `tf.batchNorm` with an
 * explicit unit scale: tfjs 4.22's batchNorm with no scale throws under any gradient tape (it saves
 * the missing scale for the backward pass: "Cannot read properties of undefined (reading 'dtype')",
 * tfjs#2868), so without this neither naive recipe runs on Keras InceptionV3 at all. Restored after.
 */
function withBatchNormWorkaround<T>(model: tfl.LayersModel, f: () => T): T {
  const patched: Array<{ layer: Record<string, unknown>; own: PropertyDescriptor | undefined }> = [];
  for (const l of model.layers) {
    if (l.getClassName() !== 'BatchNormalization') continue;
    const cfg = l.getConfig() as Record<string, unknown>;
    if (cfg['scale'] !== false) continue;
    const layer = l as unknown as Record<string, unknown>;
    const read = (suffix: string): tf.Tensor | undefined => l.weights.find((w) => w.originalName.endsWith(`/${suffix}`))?.read();
    const eps = typeof cfg['epsilon'] === 'number' ? cfg['epsilon'] : 1e-3;
    patched.push({ layer, own: Object.getOwnPropertyDescriptor(layer, 'call') });
    layer['call'] = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => {
      const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
      const mean = read('moving_mean') as tf.Tensor1D;
      return tf.batchNorm(x, mean, read('moving_variance') as tf.Tensor1D, read('beta'), tf.onesLike(mean), eps);
    };
  }
  try {
    return f();
  } finally {
    for (const { layer, own } of patched) {
      if (own === undefined) delete layer['call'];
      else Object.defineProperty(layer, 'call', own);
    }
  }
}

/** The Keras-example split (features model + the following layers re-applied in sequence). */
export function prepareKerasSplit(model: tfl.LayersModel, target: string): Prepared<NaiveCam> {
  const layer = model.getLayer(target);
  const features = tfl.model({ inputs: model.inputs, outputs: layer.output as tfl.SymbolicTensor });
  const rest = model.layers.slice(model.layers.indexOf(layer) + 1);
  return {
    run(x) {
      try {
        return withBatchNormWorkaround(model, () =>
          withLinearOutput(model, () =>
            tf.tidy(() => {
              const a = features.predict(x) as tf.Tensor4D;
              const kept: tf.Tensor[] = [];
              const g = tf.grad((t: tf.Tensor) => {
                const out = rest.reduce<tf.Tensor>((acc, l) => l.apply(acc, { training: false }) as tf.Tensor, t);
                const picked = argmaxScore(out);
                kept.push(tf.keep(picked.classIndex));
                return picked.total;
              })(a);
              const weights = tf.mean(g, [1, 2]) as tf.Tensor2D;
              g.dispose();
              return { heatmap: combine(a, weights, [x.shape[1], x.shape[2]]), classIndex: kept[0] as tf.Tensor1D };
            }),
          ),
        );
      } catch (e) {
        releaseTapeAfterError();
        const msg = e instanceof Error ? e.message : String(e);
        throw new Error(`re-applying the layers after '${target}' in sequence fails (the head is not a chain): ${msg}`);
      }
    },
    dispose() {
      // The features model shares the layers (and weights) of `model`: nothing of its own to free.
    },
  };
}

/** The whole model under the tape, with a zero probe added to the target layer's output. */
export function prepareProbe(model: tfl.LayersModel, target: string): Prepared<NaiveCam> {
  const layer = model.getLayer(target) as unknown as {
    call: (inputs: unknown, kwargs: unknown) => tf.Tensor;
  };
  return {
    run(x) {
      let probe: tf.Tensor | null = null;
      let activation: tf.Tensor | null = null;
      const original = layer.call;
      const own = Object.getOwnPropertyDescriptor(layer, 'call');
      // The patch: an own property shadowing the prototype's call, undone in `finally`.
      layer.call = function patched(this: unknown, inputs: unknown, kwargs: unknown): tf.Tensor {
        const y = original.call(this, inputs, kwargs);
        activation = tf.keep(y);
        return tf.add(y, probe as tf.Tensor);
      };
      try {
        return withBatchNormWorkaround(model, () =>
          withLinearOutput(model, () =>
            tf.tidy(() => {
              const shape = [x.shape[0], ...(model.getLayer(target).outputShape as number[]).slice(1)];
              const kept: tf.Tensor[] = [];
              const g = tf.grad((p: tf.Tensor) => {
                probe = p;
                const picked = argmaxScore(model.apply(x, { training: false }) as tf.Tensor);
                kept.push(tf.keep(picked.classIndex));
                return picked.total;
              })(tf.zeros(shape));
              const a = activation as unknown as tf.Tensor4D;
              const weights = tf.mean(g, [1, 2]) as tf.Tensor2D;
              g.dispose();
              const heatmap = combine(a, weights, [x.shape[1], x.shape[2]]);
              a.dispose();
              return { heatmap, classIndex: kept[0] as tf.Tensor1D };
            }),
          ),
        );
      } catch (e) {
        releaseTapeAfterError();
        if (activation !== null) (activation as tf.Tensor).dispose();
        throw e;
      } finally {
        if (own === undefined) delete (layer as { call?: unknown }).call;
        else Object.defineProperty(layer, 'call', own);
      }
    },
    dispose() {},
  };
}
