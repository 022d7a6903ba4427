import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * A hand-written Grad-CAM, independent of tfcam's runner: the caller splits the model into a
 * `features` function (input -> A) and a `head` function (A -> output) by applying the model's own
 * layers in order, as in the Keras Grad-CAM example. The whole head runs under plain `tf.grad` with
 * the stock layers.
 */
export function referenceGradCam(
  features: (x: tf.Tensor) => tf.Tensor,
  head: (a: tf.Tensor) => tf.Tensor,
  x: tf.Tensor,
  classIndex: number[],
  post: { relu?: boolean; normalize?: boolean; size?: [number, number] | null } = {},
): { raw: tf.Tensor3D; map: tf.Tensor3D; scores: tf.Tensor1D } {
  return tf.tidy(() => {
    const a = features(x) as tf.Tensor4D;
    const n = head(a).shape[1] as number;
    const mask = tf.tensor2d(classIndex.map((c) => Array.from({ length: n }, (_, k) => (k === c ? 1 : 0))));
    const score = (t: tf.Tensor): tf.Tensor => tf.sum(tf.mul(head(t), mask), 1);
    const g = tf.grad((t: tf.Tensor) => tf.sum(score(t)))(a) as tf.Tensor4D;
    const w = tf.mean(g, [1, 2]);
    const raw = tf.sum(tf.mul(a, tf.reshape(w, [w.shape[0] as number, 1, 1, w.shape[1] as number])), -1) as tf.Tensor3D;
    let map = raw;
    if (post.relu !== false) map = tf.relu(map);
    const norm = (m: tf.Tensor3D): tf.Tensor3D => {
      const s = tf.sub(m, tf.min(m, [1, 2], true));
      return tf.div(s, tf.add(tf.max(s, [1, 2], true), 1e-7)) as tf.Tensor3D;
    };
    if (post.normalize !== false) map = norm(map);
    if (post.size) {
      const r = tf.image.resizeBilinear(tf.expandDims(map, -1) as tf.Tensor4D, post.size, false, true);
      map = tf.squeeze(r, [3]) as tf.Tensor3D;
      if (post.normalize !== false) map = norm(tf.relu(map));
    }
    return { raw, map, scores: score(a) as tf.Tensor1D };
  });
}

/** Applies layers in sequence (each with training: false). */
export function chain(layers: tfl.layers.Layer[]): (x: tf.Tensor) => tf.Tensor {
  return (x) => layers.reduce<tf.Tensor>((t, l) => l.apply(t, { training: false }) as tf.Tensor, x);
}

/**
 * 'same' average pooling with Keras semantics (padded cells excluded), written as a depthwise sum
 * divided by the per-position count, so that plain autodiff gives its true gradient (tfjs' own
 * AvgPoolGrad is wrong at the borders of a 'same' pooling).
 */
export function avgPoolSameReference(x: tf.Tensor4D, pool: number, stride: number): tf.Tensor4D {
  return tf.tidy(() => {
    const c = x.shape[3];
    const sums = tf.depthwiseConv2d(x, tf.ones([pool, pool, c, 1]) as tf.Tensor4D, stride, 'same');
    const counts = tf.depthwiseConv2d(
      tf.ones([1, x.shape[1], x.shape[2], 1]) as tf.Tensor4D,
      tf.ones([pool, pool, 1, 1]) as tf.Tensor4D,
      stride,
      'same',
    );
    return tf.div(sums, counts) as tf.Tensor4D;
  });
}

/**
 * Runs `fn` on the cpu backend and returns plain arrays, then restores the active backend. The
 * reference uses stock tfjs gradients, some of which (depthwise input gradient) do not exist on wasm.
 */
export async function onCpu<T>(fn: () => T): Promise<T> {
  const prev = tf.getBackend();
  if (prev === 'cpu') return fn();
  await tf.setBackend('cpu');
  try {
    return fn();
  } finally {
    await tf.setBackend(prev);
  }
}
