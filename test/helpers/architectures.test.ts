import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { buildInceptionV3, buildMobileNetV2, correctPad, makeDivisible } from './architectures.js';

// Reference numbers, from Keras itself (not from this builder):
// - keras.io/api/applications table and `model.summary()` of tf.keras: MobileNetV2 (alpha 1.0)
//   3,538,984 params (34,112 non-trainable), InceptionV3 23,851,784 (34,432 non-trainable);
//   158 and 190 trainable weight tensors; `len(model.layers)` 156 and 313.
// - MobileNetV2 alpha 0.35: 1,691,208 params, 156 layers (summary of a Keras-built
//   mobilenetv2_0.35 model); alpha 1.4: 6,156,712 params (Keras MobileNetV2(1.4) benchmark table).
//   These two exercise Keras' `_make_divisible` rounding.

/** Builds, runs the body, and always disposes the model. */
function withModel<T>(model: tfl.LayersModel, body: (m: tfl.LayersModel) => T): T {
  try {
    return body(model);
  } finally {
    model.dispose();
  }
}

function classCounts(model: tfl.LayersModel): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const l of model.layers) counts[l.getClassName()] = (counts[l.getClassName()] ?? 0) + 1;
  return counts;
}

function layersOf(model: tfl.LayersModel, className: string): tfl.layers.Layer[] {
  return model.layers.filter((l) => l.getClassName() === className);
}

function nonTrainableParams(model: tfl.LayersModel): number {
  return model.nonTrainableWeights.reduce((s, w) => s + w.shape.reduce<number>((a, b) => a * (b ?? 0), 1), 0);
}

function inbound(model: tfl.LayersModel, name: string): string[] {
  const node = model.getLayer(name).inboundNodes[0];
  if (node === undefined) throw new Error(`${name} has no inbound node`);
  return node.inboundLayers.map((l) => l.name);
}

function outShape(model: tfl.LayersModel, name: string): Array<number | null> {
  return (model.getLayer(name).output as tfl.SymbolicTensor).shape;
}

/** Every layer name of Keras' MobileNetV2, written out from the Keras source. */
function kerasMobileNetV2Names(): string[] {
  const names = ['input_1', 'Conv1', 'bn_Conv1', 'Conv1_relu'];
  for (const s of ['depthwise', 'depthwise_BN', 'depthwise_relu', 'project', 'project_BN']) {
    names.push(`expanded_conv_${s}`);
  }
  for (let b = 1; b <= 16; b++) {
    names.push(`block_${b}_expand`, `block_${b}_expand_BN`, `block_${b}_expand_relu`);
    if ([1, 3, 6, 13].includes(b)) names.push(`block_${b}_pad`);
    names.push(`block_${b}_depthwise`, `block_${b}_depthwise_BN`, `block_${b}_depthwise_relu`);
    names.push(`block_${b}_project`, `block_${b}_project_BN`);
    if ([2, 4, 5, 7, 8, 9, 11, 12, 14, 15].includes(b)) names.push(`block_${b}_add`);
  }
  names.push('Conv_1', 'Conv_1_bn', 'out_relu', 'global_average_pooling2d', 'predictions');
  return names;
}

/** Keras' auto-names in a fresh session: `prefix`, `prefix_1`, ..., `prefix_{n-1}`. */
function series(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => (i === 0 ? prefix : `${prefix}_${i}`));
}

function kerasInceptionV3Names(): string[] {
  return [
    'input_1',
    ...series('conv2d', 94),
    ...series('batch_normalization', 94),
    ...series('activation', 94),
    ...series('max_pooling2d', 4),
    ...series('average_pooling2d', 9),
    ...Array.from({ length: 11 }, (_, i) => `mixed${i}`),
    'mixed9_0',
    'mixed9_1',
    'concatenate',
    'concatenate_1',
    'avg_pool',
    'predictions',
  ];
}

const sorted = (xs: string[]): string[] => [...xs].sort();

function expectFiniteProbabilities(y: tf.Tensor, rows: number, classes: number): void {
  expect(y.shape).toEqual([rows, classes]);
  const data = y.dataSync();
  for (const v of data) expect(Number.isFinite(v)).toBe(true);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < classes; c++) s += data[r * classes + c] as number;
    expect(Math.abs(s - 1)).toBeLessThan(1e-4);
  }
}

describe('Keras helpers', () => {
  it('_make_divisible follows Keras (incl. the 10% rule)', () => {
    expect(makeDivisible(32, 8)).toBe(32);
    expect(makeDivisible(32 * 0.35, 8)).toBe(16); // 11.2 -> 8 is > 10% down -> 16
    expect(makeDivisible(5, 8)).toBe(8); // min_value = divisor
    expect(makeDivisible(22, 8)).toBe(24);
    expect(makeDivisible(33, 8)).toBe(32);
    expect(makeDivisible(1280 * 1.4, 8)).toBe(1792);
  });

  it('correct_pad pads (0,1) on even sizes and (1,1) on odd ones', () => {
    expect(correctPad(112, 112, 3)).toEqual([
      [0, 1],
      [0, 1],
    ]);
    expect(correctPad(17, 16, 3)).toEqual([
      [1, 1],
      [0, 1],
    ]);
  });
});

describe('buildMobileNetV2', () => {
  it('full size (alpha 1, 224, 1000 classes) has Keras parameter counts', () => {
    withModel(buildMobileNetV2({ seed: 1 }), (m) => {
      expect(m.countParams()).toBe(3_538_984);
      expect(nonTrainableParams(m)).toBe(34_112);
      expect(m.trainableWeights.length).toBe(158);
      expect(m.layers.length).toBe(156);
      expect(m.name).toBe('mobilenetv2_1.00_224');
      expect(outShape(m, 'out_relu')).toEqual([null, 7, 7, 1280]);
      expect(outShape(m, 'block_16_project_BN')).toEqual([null, 7, 7, 320]);
      expect(m.getLayer('block_1_pad').getConfig()['padding']).toEqual([
        [0, 1],
        [0, 1],
      ]);
    });
  });

  it('alpha 0.35 and 1.4 match Keras parameter counts (_make_divisible rounding)', () => {
    withModel(buildMobileNetV2({ alpha: 0.35, seed: 1 }), (m) => {
      expect(m.countParams()).toBe(1_691_208);
      expect(m.layers.length).toBe(156);
    });
    withModel(buildMobileNetV2({ alpha: 1.4, seed: 1 }), (m) => {
      expect(m.countParams()).toBe(6_156_712);
      expect(outShape(m, 'out_relu')).toEqual([null, 7, 7, 1792]);
    });
  });

  it('has exactly the Keras layer names and classes', () => {
    withModel(buildMobileNetV2({ inputSize: 64, alpha: 0.35, seed: 1 }), (m) => {
      expect(sorted(m.layers.map((l) => l.name))).toEqual(sorted(kerasMobileNetV2Names()));
      expect(classCounts(m)).toEqual({
        InputLayer: 1,
        Conv2D: 35,
        BatchNormalization: 52,
        ReLU: 35,
        DepthwiseConv2D: 17,
        ZeroPadding2D: 4,
        Add: 10,
        GlobalAveragePooling2D: 1,
        Dense: 1,
      });
      const cls = (n: string): string => m.getLayer(n).getClassName();
      expect(cls('Conv1')).toBe('Conv2D');
      expect(cls('bn_Conv1')).toBe('BatchNormalization');
      expect(cls('Conv1_relu')).toBe('ReLU');
      expect(cls('expanded_conv_depthwise')).toBe('DepthwiseConv2D');
      expect(cls('block_1_pad')).toBe('ZeroPadding2D');
      expect(cls('block_15_add')).toBe('Add');
      expect(cls('global_average_pooling2d')).toBe('GlobalAveragePooling2D');
      expect(cls('predictions')).toBe('Dense');
      expect(inbound(m, 'block_2_add')).toEqual(['block_1_project_BN', 'block_2_project_BN']);
      expect(inbound(m, 'block_15_add')).toEqual(['block_14_add', 'block_15_project_BN']);
      expect(inbound(m, 'block_1_pad')).toEqual(['block_1_expand_relu']);
      expect(inbound(m, 'block_1_depthwise')).toEqual(['block_1_pad']);
    });
  });

  it('layer configs follow Keras (ReLU6, BN eps/momentum, no conv bias, paddings, strides)', () => {
    withModel(buildMobileNetV2({ inputSize: 33, alpha: 0.35, seed: 1 }), (m) => {
      for (const l of layersOf(m, 'ReLU')) expect(l.getConfig()['maxValue']).toBe(6);
      for (const l of layersOf(m, 'BatchNormalization')) {
        const c = l.getConfig();
        expect(c['epsilon']).toBe(1e-3);
        expect(c['momentum']).toBe(0.999);
        expect(c['scale']).toBe(true);
        expect(c['center']).toBe(true);
      }
      for (const l of [...layersOf(m, 'Conv2D'), ...layersOf(m, 'DepthwiseConv2D')]) {
        expect(l.getConfig()['useBias']).toBe(false);
      }
      for (const l of layersOf(m, 'DepthwiseConv2D')) {
        const c = l.getConfig();
        expect(c['kernelSize']).toEqual([3, 3]);
        expect(c['depthMultiplier']).toBe(1);
        const down = /^block_(1|3|6|13)_/.test(l.name);
        expect(c['strides']).toEqual(down ? [2, 2] : [1, 1]);
        expect(c['padding']).toBe(down ? 'valid' : 'same');
      }
      expect(m.getLayer('Conv1').getConfig()['strides']).toEqual([2, 2]);
      expect(m.getLayer('Conv1').getConfig()['padding']).toBe('same');
      // 33 -> Conv1 (same, /2) 17: odd, so correct_pad gives ((1,1),(1,1)); 17 -> 9 -> 5 -> 3.
      expect(m.getLayer('block_1_pad').getConfig()['padding']).toEqual([
        [1, 1],
        [1, 1],
      ]);
      expect(outShape(m, 'block_1_depthwise')).toEqual([null, 9, 9, 48]);
      expect(outShape(m, 'out_relu')).toEqual([null, 2, 2, 1280]);
      // alpha 0.35 widths from Keras' rounding rules.
      expect(outShape(m, 'Conv1')[3]).toBe(16);
      expect(outShape(m, 'expanded_conv_project')[3]).toBe(8);
      expect(outShape(m, 'block_3_project')[3]).toBe(16);
      expect(outShape(m, 'block_6_project')[3]).toBe(24);
      expect(outShape(m, 'block_10_project')[3]).toBe(32);
      expect(outShape(m, 'block_16_project')[3]).toBe(112);
      expect(m.getLayer('predictions').getConfig()['activation']).toBe('softmax');
    });
  });

  it('runs at 64 px: out_relu is 2x2x1280, outputs are finite probabilities', () => {
    withModel(buildMobileNetV2({ inputSize: 64, alpha: 0.35, classes: 10, seed: 2 }), (m) => {
      expect(outShape(m, 'out_relu')).toEqual([null, 2, 2, 1280]);
      expect(m.outputs[0]?.shape).toEqual([null, 10]);
      tf.tidy(() => {
        const x = tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 11);
        const y = m.predict(x) as tf.Tensor;
        expectFiniteProbabilities(y, 2, 10);
        // Not degenerate: the two inputs give different outputs.
        const [a, b] = tf.unstack(y);
        expect(tf.max(tf.abs(tf.sub(a as tf.Tensor, b as tf.Tensor))).dataSync()[0]).toBeGreaterThan(1e-6);
      });
    });
  });

  it('smallest Keras input (32 px) works', () => {
    withModel(buildMobileNetV2({ inputSize: 32, alpha: 0.35, classes: 5, seed: 2 }), (m) => {
      expect(outShape(m, 'out_relu')).toEqual([null, 1, 1, 1280]);
      tf.tidy(() => expectFiniteProbabilities(m.predict(tf.zeros([1, 32, 32, 3])) as tf.Tensor, 1, 5));
    });
    expect(() => buildMobileNetV2({ inputSize: 31 })).toThrow();
  });
});

describe('buildInceptionV3', () => {
  it('full size (299, 1000 classes) has Keras parameter counts and shapes', () => {
    withModel(buildInceptionV3({ seed: 1 }), (m) => {
      expect(m.countParams()).toBe(23_851_784);
      expect(nonTrainableParams(m)).toBe(34_432);
      expect(m.trainableWeights.length).toBe(190);
      expect(m.weights.length).toBe(378);
      expect(m.layers.length).toBe(313);
      expect(m.name).toBe('inception_v3');
      const mixed: Array<[string, number, number]> = [
        ['mixed0', 35, 256],
        ['mixed1', 35, 288],
        ['mixed2', 35, 288],
        ['mixed3', 17, 768],
        ['mixed4', 17, 768],
        ['mixed5', 17, 768],
        ['mixed6', 17, 768],
        ['mixed7', 17, 768],
        ['mixed8', 8, 1280],
        ['mixed9', 8, 2048],
        ['mixed10', 8, 2048],
      ];
      for (const [name, hw, c] of mixed) expect(outShape(m, name)).toEqual([null, hw, hw, c]);
    });
  });

  it('has exactly the Keras layer names, classes and wiring', () => {
    withModel(buildInceptionV3({ inputSize: 75, filtersScale: 0.125, seed: 1 }), (m) => {
      expect(sorted(m.layers.map((l) => l.name))).toEqual(sorted(kerasInceptionV3Names()));
      expect(classCounts(m)).toEqual({
        InputLayer: 1,
        Conv2D: 94,
        BatchNormalization: 94,
        Activation: 94,
        MaxPooling2D: 4,
        AveragePooling2D: 9,
        Concatenate: 15,
        GlobalAveragePooling2D: 1,
        Dense: 1,
      });
      for (let i = 0; i <= 10; i++) expect(m.getLayer(`mixed${i}`).getClassName()).toBe('Concatenate');
      expect(m.getLayer('avg_pool').getClassName()).toBe('GlobalAveragePooling2D');
      // Wiring as printed by Keras' model.summary().
      expect(inbound(m, 'conv2d')).toEqual(['input_1']);
      expect(inbound(m, 'batch_normalization')).toEqual(['conv2d']);
      expect(inbound(m, 'activation')).toEqual(['batch_normalization']);
      expect(inbound(m, 'mixed0')).toEqual(['activation_5', 'activation_7', 'activation_10', 'activation_11']);
      expect(inbound(m, 'mixed3')).toEqual(['activation_26', 'activation_29', 'max_pooling2d_2']);
      expect(inbound(m, 'mixed4')).toEqual(['activation_30', 'activation_33', 'activation_38', 'activation_39']);
      expect(inbound(m, 'mixed7')).toEqual(['activation_60', 'activation_63', 'activation_68', 'activation_69']);
      expect(inbound(m, 'mixed8')).toEqual(['activation_71', 'activation_75', 'max_pooling2d_3']);
      expect(inbound(m, 'mixed9_0')).toEqual(['activation_78', 'activation_79']);
      expect(inbound(m, 'concatenate')).toEqual(['activation_82', 'activation_83']);
      expect(inbound(m, 'mixed9')).toEqual(['activation_76', 'mixed9_0', 'concatenate', 'activation_84']);
      expect(inbound(m, 'mixed10')).toEqual(['activation_85', 'mixed9_1', 'concatenate_1', 'activation_93']);
      expect(inbound(m, 'average_pooling2d')).toEqual(['max_pooling2d_1']);
      expect(inbound(m, 'avg_pool')).toEqual(['mixed10']);
      expect(inbound(m, 'predictions')).toEqual(['avg_pool']);
    });
  });

  it('layer configs follow Keras (BN scale=False, pools, conv kernels)', () => {
    withModel(buildInceptionV3({ inputSize: 75, filtersScale: 0.125, seed: 1 }), (m) => {
      for (const l of layersOf(m, 'BatchNormalization')) {
        const c = l.getConfig();
        expect(c['scale']).toBe(false);
        expect(c['center']).toBe(true);
        expect(c['axis']).toBe(3);
        expect(c['epsilon']).toBe(1e-3);
        expect(c['momentum']).toBe(0.99);
      }
      for (const l of layersOf(m, 'Conv2D')) expect(l.getConfig()['useBias']).toBe(false);
      for (const l of layersOf(m, 'Activation')) expect(l.getConfig()['activation']).toBe('relu');
      const avg = layersOf(m, 'AveragePooling2D');
      expect(avg).toHaveLength(9);
      for (const l of avg) {
        const c = l.getConfig();
        expect(c['padding']).toBe('same');
        expect(c['poolSize']).toEqual([3, 3]);
        expect(c['strides']).toEqual([1, 1]);
      }
      for (const l of layersOf(m, 'MaxPooling2D')) {
        const c = l.getConfig();
        expect(c['padding']).toBe('valid');
        expect(c['poolSize']).toEqual([3, 3]);
        expect(c['strides']).toEqual([2, 2]);
      }
      for (const l of layersOf(m, 'Concatenate')) expect(l.getConfig()['axis']).toBe(3);
      const conv = (n: string): tf.serialization.ConfigDict => m.getLayer(n).getConfig();
      expect(conv('conv2d')['strides']).toEqual([2, 2]);
      expect(conv('conv2d')['padding']).toBe('valid');
      expect(conv('conv2d_2')['padding']).toBe('same');
      expect(conv('conv2d_7')['kernelSize']).toEqual([5, 5]);
      expect(conv('conv2d_32')['kernelSize']).toEqual([1, 7]);
      expect(conv('conv2d_33')['kernelSize']).toEqual([7, 1]);
      expect(conv('conv2d_78')['kernelSize']).toEqual([1, 3]);
      expect(conv('conv2d_79')['kernelSize']).toEqual([3, 1]);
      // Smallest Keras input: mixed3 is 3x3 and mixed8..10 1x1.
      expect(outShape(m, 'mixed3').slice(1, 3)).toEqual([3, 3]);
      expect(outShape(m, 'mixed10').slice(1, 3)).toEqual([1, 1]);
    });
    expect(() => buildInceptionV3({ inputSize: 74 })).toThrow();
  });

  it('filtersScale shrinks every conv (rounded, min 1) and keeps the topology', () => {
    withModel(buildInceptionV3({ inputSize: 75, filtersScale: 0.001, classes: 3 }), (m) => {
      expect(m.layers.length).toBe(313);
      for (const l of layersOf(m, 'Conv2D')) expect(l.getConfig()['filters']).toBe(1);
      expect(outShape(m, 'mixed0')[3]).toBe(4);
      expect(outShape(m, 'mixed3')[3]).toBe(1 + 1 + 4); // two conv branches + max-pool of mixed2
    });
  });

  it('runs at 107 px: mixed7 is 5x5, mixed10 2x2, outputs are finite probabilities', () => {
    const scale = 0.25;
    const s = (n: number): number => Math.max(1, Math.round(n * scale));
    withModel(buildInceptionV3({ inputSize: 107, filtersScale: scale, classes: 7, seed: 3 }), (m) => {
      expect(outShape(m, 'mixed7')).toEqual([null, 5, 5, 4 * s(192)]);
      expect(outShape(m, 'mixed10')).toEqual([null, 2, 2, s(320) + 4 * s(384) + s(192)]);
      expect(m.getLayer('conv2d').getConfig()['filters']).toBe(s(32));
      tf.tidy(() => {
        const x = tf.randomUniform([2, 107, 107, 3], -1, 1, 'float32', 12);
        const y = m.predict(x) as tf.Tensor;
        expectFiniteProbabilities(y, 2, 7);
        const [a, b] = tf.unstack(y);
        expect(tf.max(tf.abs(tf.sub(a as tf.Tensor, b as tf.Tensor))).dataSync()[0]).toBeGreaterThan(1e-6);
      });
    });
  });
});

describe('weights', () => {
  it('same seed gives the same weights, another seed different ones', () => {
    const a = buildInceptionV3({ inputSize: 75, filtersScale: 0.125, classes: 4, seed: 42 });
    const b = buildInceptionV3({ inputSize: 75, filtersScale: 0.125, classes: 4, seed: 42 });
    const c = buildInceptionV3({ inputSize: 75, filtersScale: 0.125, classes: 4, seed: 43 });
    try {
      const wa = a.getWeights();
      const wb = b.getWeights();
      const wc = c.getWeights();
      expect(wa.length).toBe(wb.length);
      let differentFromC = 0;
      for (let i = 0; i < wa.length; i++) {
        const x = wa[i] as tf.Tensor;
        expect(Array.from(x.dataSync())).toEqual(Array.from((wb[i] as tf.Tensor).dataSync()));
        if (tf.tidy(() => tf.max(tf.abs(tf.sub(x, wc[i] as tf.Tensor))).dataSync()[0] as number) > 0) differentFromC++;
      }
      // Every weight but the Dense bias (zeros, as in Keras) depends on the seed.
      expect(differentFromC).toBe(wa.length - 1);
      // Two kernels of one model are not copies of each other (per-layer seeds).
      const k0 = Array.from(a.getLayer('conv2d_5').getWeights()[0]?.dataSync() ?? []);
      const k1 = Array.from(a.getLayer('conv2d_6').getWeights()[0]?.dataSync() ?? []);
      expect(k0.slice(0, 4)).not.toEqual(k1.slice(0, 4));
    } finally {
      a.dispose();
      b.dispose();
      c.dispose();
    }
  });

  it('BatchNormalization statistics are mild and random (variance > 0)', () => {
    withModel(buildMobileNetV2({ inputSize: 32, alpha: 0.35, seed: 5 }), (m) => {
      const bn = m.getLayer('block_5_project_BN');
      const names = bn.weights.map((w) => w.originalName ?? w.name);
      expect(names.map((n) => n.split('/').pop())).toEqual(['gamma', 'beta', 'moving_mean', 'moving_variance']);
      const [gamma, beta, mean, variance] = bn.getWeights().map((w) => Array.from(w.dataSync()));
      for (const v of variance ?? []) expect(v).toBeGreaterThan(0.5);
      for (const v of gamma ?? []) expect(v).toBeGreaterThan(0.5);
      const spread = (xs: number[] | undefined): number => Math.max(...(xs ?? [0])) - Math.min(...(xs ?? [0]));
      for (const xs of [gamma, beta, mean, variance]) expect(spread(xs)).toBeGreaterThan(1e-3);
    });
  });

  it("'linear' gives the logits of the 'softmax' model with the same seed", () => {
    const probs = buildMobileNetV2({ inputSize: 32, alpha: 0.35, classes: 6, seed: 9 });
    const logits = buildMobileNetV2({
      inputSize: 32,
      alpha: 0.35,
      classes: 6,
      seed: 9,
      classifierActivation: 'linear',
    });
    try {
      expect(logits.getLayer('predictions').getConfig()['activation']).toBe('linear');
      tf.tidy(() => {
        const x = tf.randomUniform([3, 32, 32, 3], -1, 1, 'float32', 4);
        const p = probs.predict(x) as tf.Tensor;
        const z = logits.predict(x) as tf.Tensor;
        const diff = tf.max(tf.abs(tf.sub(tf.softmax(z), p))).dataSync()[0] as number;
        expect(diff).toBeLessThan(1e-5);
        expect(Math.abs((tf.sum(z).dataSync()[0] as number) - 3)).toBeGreaterThan(1e-3);
      });
    } finally {
      probs.dispose();
      logits.dispose();
    }
  });

  it('building and disposing leaks no tensors', () => {
    const before = tf.memory().numTensors;
    buildMobileNetV2({ inputSize: 32, alpha: 0.35, seed: 1 }).dispose();
    buildInceptionV3({ inputSize: 75, filtersScale: 0.05, seed: 1 }).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
