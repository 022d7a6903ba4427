/**
 * Tiny models covering every model shape tfcam must handle, each with a hand-written split into
 * `features` (input -> A) and `head` (A -> output) for the reference implementation.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { avgPoolSameReference, chain } from './reference.js';

type L = tfl.layers.Layer;

/** Deterministic, non-degenerate weights (the default initialisers are random per run). */
export function seedWeights(model: tfl.LayersModel, seed = 7): void {
  let s = seed;
  const weights = model.weights.map((w) => {
    s += 1;
    const shape = w.shape as number[];
    const isVar = /moving_variance/.test(w.name);
    const isGammaLike = /gamma/.test(w.name);
    return tf.tidy(() => {
      const r = tf.randomUniform(shape, -1, 1, 'float32', s);
      if (isVar) return tf.add(tf.abs(r), 0.5);
      if (isGammaLike) return tf.add(tf.mul(r, 0.2), 1);
      const fanIn = shape.length > 1 ? shape.slice(0, -1).reduce((a, b) => a * b, 1) : 4;
      return tf.mul(r, Math.sqrt(3 / fanIn));
    });
  });
  model.setWeights(weights);
  tf.dispose(weights);
}

export interface TestModel {
  model: tfl.LayersModel;
  /** A fixed input batch. */
  input: tf.Tensor;
  features: (x: tf.Tensor) => tf.Tensor;
  head: (a: tf.Tensor) => tf.Tensor;
  layer: string;
}

export function image(batch: number, size: number, channels = 3, seed = 1): tf.Tensor4D {
  return tf.randomUniform([batch, size, size, channels], 0, 1, 'float32', seed) as tf.Tensor4D;
}

/** Sequential: conv relu, max-pool, conv relu (`last_conv`), GAP, dense softmax. */
export function sequentialModel(): TestModel {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [16, 16, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }),
      tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
      tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'last_conv' }),
      tfl.layers.globalAveragePooling2d({ name: 'gap' }),
      tfl.layers.dense({ units: 5, activation: 'softmax', name: 'out' }),
    ],
  });
  seedWeights(model);
  const ls = model.layers as L[];
  const dense = model.getLayer('out') as L & { kernel: { read(): tf.Tensor }; bias: { read(): tf.Tensor } };
  return {
    model,
    input: image(2, 16),
    features: chain(ls.slice(0, 3)),
    // logits of the softmax dense
    head: (a) => tf.add(tf.matMul(ls[3]?.apply(a) as tf.Tensor2D, dense.kernel.read() as tf.Tensor2D), dense.bias.read()),
    layer: 'last_conv',
  };
}

/**
 * Functional DAG: conv, BatchNorm, depthwise, separable, residual add, a branch pair (1x1 conv and
 * 'same' average pooling) concatenated, conv, max-pool, flatten, dropout, dense logits.
 */
export function dagModel(): TestModel & { layers: Record<string, L>; apply: (l: L, x: tf.Tensor | tf.Tensor[]) => tf.Tensor } {
  const input = tfl.input({ shape: [16, 16, 3], name: 'img' });
  const mk = {
    c1: tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', name: 'c1' }),
    bn: tfl.layers.batchNormalization({ name: 'bn' }),
    dw: tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu', name: 'dw' }),
    sep: tfl.layers.separableConv2d({ filters: 6, kernelSize: 3, padding: 'same', name: 'sep' }),
    add: tfl.layers.add({ name: 'add' }),
    relu: tfl.layers.reLU({ name: 'relu' }),
    b1: tfl.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'relu', name: 'b1' }),
    ap: tfl.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same', name: 'ap' }),
    cat: tfl.layers.concatenate({ name: 'cat' }),
    last: tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'valid', activation: 'relu', name: 'last_conv' }),
    pool: tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
    flat: tfl.layers.flatten({ name: 'flat' }),
    drop: tfl.layers.dropout({ rate: 0.5, name: 'drop' }),
    out: tfl.layers.dense({ units: 4, name: 'logits' }),
  };
  const bn = mk.bn.apply(mk.c1.apply(input)) as tfl.SymbolicTensor;
  const sep = mk.sep.apply(mk.dw.apply(bn)) as tfl.SymbolicTensor;
  const r = mk.relu.apply(mk.add.apply([bn, sep])) as tfl.SymbolicTensor;
  const cat = mk.cat.apply([mk.b1.apply(r) as tfl.SymbolicTensor, mk.ap.apply(r) as tfl.SymbolicTensor]) as tfl.SymbolicTensor;
  const out = chain([mk.last, mk.pool, mk.flat, mk.drop, mk.out] as L[]);
  const output = [mk.last, mk.pool, mk.flat, mk.drop, mk.out].reduce<tfl.SymbolicTensor>((t, l) => l.apply(t) as tfl.SymbolicTensor, cat);
  const model = tfl.model({ inputs: input, outputs: output, name: 'dag' });
  seedWeights(model);
  // The reference applies the 'same' average pooling with its true gradient (see avgPoolSameReference).
  const apply = (l: L, x: tf.Tensor | tf.Tensor[]): tf.Tensor =>
    l === mk.ap ? avgPoolSameReference(x as tf.Tensor4D, 3, 1) : (l.apply(x, { training: false }) as tf.Tensor);
  // Default split at 'bn': the head contains the residual add (a skip), both branches and the concat.
  return {
    model,
    input: image(2, 16, 3, 3),
    features: (x) => apply(mk.bn, apply(mk.c1, x)),
    head: (a) => {
      const s = apply(mk.sep, apply(mk.dw, a));
      const rr = apply(mk.relu, apply(mk.add, [a, s]));
      return out(apply(mk.cat, [apply(mk.b1, rr), apply(mk.ap, rr)]));
    },
    layer: 'bn',
    layers: mk as unknown as Record<string, L>,
    apply,
  };
}

/** A functional base model ('base') used as a layer of an outer model; the target is inside the base. */
export function nestedModel(): TestModel & { base: tfl.LayersModel } {
  const bi = tfl.input({ shape: [16, 16, 3] });
  const c1 = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' });
  const c2 = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'c2' });
  const add = tfl.layers.add({ name: 'add' });
  const last = tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'last_conv' });
  const h1 = c1.apply(bi) as tfl.SymbolicTensor;
  const base = tfl.model({
    inputs: bi,
    outputs: last.apply(add.apply([h1, c2.apply(h1) as tfl.SymbolicTensor])) as tfl.SymbolicTensor,
    name: 'base',
  });
  const oi = tfl.input({ shape: [16, 16, 3] });
  const gap = tfl.layers.globalAveragePooling2d({ name: 'gap' });
  const dense = tfl.layers.dense({ units: 3, activation: 'softmax', name: 'out' });
  const model = tfl.model({ inputs: oi, outputs: dense.apply(gap.apply(base.apply(oi))) as tfl.SymbolicTensor, name: 'outer' });
  seedWeights(model);
  const dk = dense as unknown as { kernel: { read(): tf.Tensor }; bias: { read(): tf.Tensor } };
  return {
    model,
    base,
    input: image(2, 16, 3, 5),
    features: (x) => {
      const a = c1.apply(x) as tf.Tensor;
      return last.apply(add.apply([a, c2.apply(a) as tf.Tensor])) as tf.Tensor;
    },
    head: (a) => tf.add(tf.matMul(gap.apply(a) as tf.Tensor2D, dk.kernel.read() as tf.Tensor2D), dk.bias.read()),
    layer: 'base/last_conv',
  };
}

/** Two inputs: an image and a feature vector; the vector joins after pooling. */
export function multiInputModel(): TestModel & { inputs: tf.Tensor[] } {
  const img = tfl.input({ shape: [16, 16, 3], name: 'image' });
  const meta = tfl.input({ shape: [4], name: 'meta' });
  const c1 = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' });
  const last = tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'last_conv' });
  const gap = tfl.layers.globalAveragePooling2d({ name: 'gap' });
  const m = tfl.layers.dense({ units: 3, activation: 'relu', name: 'm' });
  const cat = tfl.layers.concatenate({ name: 'cat' });
  const out = tfl.layers.dense({ units: 3, name: 'out' });
  const y = out.apply(cat.apply([gap.apply(last.apply(c1.apply(img))) as tfl.SymbolicTensor, m.apply(meta) as tfl.SymbolicTensor]));
  const model = tfl.model({ inputs: [img, meta], outputs: y as tfl.SymbolicTensor, name: 'multi_in' });
  seedWeights(model);
  const inputs = [image(2, 16, 3, 11), tf.randomUniform([2, 4], -1, 1, 'float32', 12)];
  const metaFeatures = (): tf.Tensor => m.apply(inputs[1] as tf.Tensor) as tf.Tensor;
  return {
    model,
    inputs,
    input: inputs[0] as tf.Tensor,
    features: (x) => last.apply(c1.apply(x)) as tf.Tensor,
    head: (a) => out.apply(cat.apply([gap.apply(a) as tf.Tensor, metaFeatures()])) as tf.Tensor,
    layer: 'last_conv',
  };
}

/** Two outputs reading one trunk: a 4-class softmax head and a 2-unit sigmoid head. */
export function multiOutputModel(): {
  model: tfl.LayersModel;
  input: tf.Tensor;
  features: (x: tf.Tensor) => tf.Tensor;
  heads: Array<(a: tf.Tensor) => tf.Tensor>;
} {
  const inp = tfl.input({ shape: [16, 16, 3] });
  const c1 = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' });
  const trunk = tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'trunk' });
  const gap1 = tfl.layers.globalAveragePooling2d({ name: 'gap1' });
  const cls = tfl.layers.dense({ units: 4, name: 'cls' });
  const c2 = tfl.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c2' });
  const gap2 = tfl.layers.globalAveragePooling2d({ name: 'gap2' });
  const aux = tfl.layers.dense({ units: 2, name: 'aux' });
  const t = trunk.apply(c1.apply(inp)) as tfl.SymbolicTensor;
  const o1 = cls.apply(gap1.apply(t)) as tfl.SymbolicTensor;
  const o2 = aux.apply(gap2.apply(c2.apply(t))) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: inp, outputs: [o1, o2], name: 'multi_out' });
  seedWeights(model);
  return {
    model,
    input: image(2, 16, 3, 21),
    features: (x) => trunk.apply(c1.apply(x)) as tf.Tensor,
    heads: [chain([gap1, cls] as L[]), chain([c2, gap2, aux] as L[])],
  };
}

/**
 * The same classifier ending in softmax three ways (Dense(softmax), Activation('softmax'), Softmax
 * layer), plus the linear-logits twin, all with identical weights.
 */
export function softmaxVariants(): Record<'denseSoftmax' | 'activation' | 'softmaxLayer' | 'linear', tfl.LayersModel> {
  const build = (kind: string): tfl.LayersModel => {
    const inp = tfl.input({ shape: [16, 16, 3] });
    let x = tfl.layers
      .conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' })
      .apply(inp) as tfl.SymbolicTensor;
    x = tfl.layers
      .conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'last_conv' })
      .apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers
      .dense({ units: 5, activation: kind === 'denseSoftmax' ? 'softmax' : 'linear', name: 'fc' })
      .apply(x) as tfl.SymbolicTensor;
    if (kind === 'activation') x = tfl.layers.activation({ activation: 'softmax', name: 'probs' }).apply(x) as tfl.SymbolicTensor;
    if (kind === 'softmaxLayer') x = tfl.layers.softmax({ name: 'probs' }).apply(x) as tfl.SymbolicTensor;
    const m = tfl.model({ inputs: inp, outputs: x, name: kind });
    seedWeights(m, 99);
    return m;
  };
  return {
    denseSoftmax: build('denseSoftmax'),
    activation: build('activation'),
    softmaxLayer: build('softmaxLayer'),
    linear: build('linear'),
  };
}
