/**
 * Faithful tfjs-layers builders of the Keras MobileNetV2 and InceptionV3 architectures
 * (`keras.applications.MobileNetV2` / `InceptionV3`, include_top=True, channels_last).
 *
 * Layer classes, layer names, layer configs and connection order follow the Keras sources
 * (keras/src/applications/mobilenet_v2.py and inception_v3.py). Layers Keras leaves unnamed get
 * the names Keras gives them in a fresh session (`conv2d`, `conv2d_1`, ..., `concatenate`,
 * `global_average_pooling2d`), so every layer here carries an explicit `name`: tfjs would
 * otherwise invent its own (`conv2d_Conv2D1`, ...).
 *
 * Weights are random (Keras' `weights=None`), but initialised so that a forward pass on inputs in
 * [-1, 1] (Keras' `preprocess_input` range for both models) neither explodes nor vanishes:
 * He-style kernels, and BatchNormalization statistics set to mild random values (moving variance
 * in [0.75, 1.25], moving mean / beta in [-0.1, 0.1], gamma in [0.75, 1.25]). Pass `seed` for
 * deterministic weights; each weight gets its own seed derived from the base seed.
 *
 * Width reduction for fast tests: MobileNetV2's `alpha` follows Keras' own rounding rules
 * (`_make_divisible`, which also decides where residual adds appear, exactly as in Keras);
 * InceptionV3's `filtersScale` multiplies every Conv2D filter count (rounded, at least 1) and
 * keeps topology and names unchanged.
 */
import * as tfl from '@tensorflow/tfjs-layers';

type Initializer = ReturnType<typeof tfl.initializers.zeros>;
type ClassifierActivation = 'softmax' | 'linear';

export interface MobileNetV2Options {
  /** Square input size in pixels (Keras' minimum is 32). Default 224. */
  inputSize?: number;
  /** Width multiplier. Default 1.0. */
  alpha?: number;
  /** Number of classes of the `predictions` layer. Default 1000. */
  classes?: number;
  /** Activation of `predictions`. Default 'softmax' ('linear' = Keras' `None`). */
  classifierActivation?: ClassifierActivation;
  /** Base seed: same seed, same weights. Omitted: unseeded random weights. */
  seed?: number;
}

export interface InceptionV3Options {
  /** Square input size in pixels (Keras' minimum is 75). Default 299. */
  inputSize?: number;
  /** Multiplies every Conv2D filter count (rounded, min 1). Default 1 = exact Keras widths. */
  filtersScale?: number;
  /** Number of classes of the `predictions` layer. Default 1000. */
  classes?: number;
  /** Activation of `predictions`. Default 'softmax' ('linear' = Keras' `None`). */
  classifierActivation?: ClassifierActivation;
  /** Base seed: same seed, same weights. Omitted: unseeded random weights. */
  seed?: number;
}

/** Name of the input layer: tf.keras 2.x calls the first unnamed Input of a session `input_1`. */
export const INPUT_LAYER_NAME = 'input_1';

// ---------------------------------------------------------------------------------------------
// Seeded initialisers

/** Hands out initialisers, each with its own seed derived from the base seed (if any). */
class InitFactory {
  private counter = 0;

  constructor(private readonly baseSeed: number | undefined) {}

  /** Next per-weight seed, or undefined when the builder is unseeded. */
  private nextSeed(): number | undefined {
    if (this.baseSeed === undefined) return undefined;
    this.counter += 1;
    // splitmix-like integer hash of (baseSeed, counter), kept in [0, 2^31).
    let h = (Math.imul(Math.trunc(this.baseSeed) | 0, 0x9e3779b1) ^ Math.imul(this.counter, 0x85ebca6b)) | 0;
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    h ^= h >>> 16;
    return h >>> 1;
  }

  private withSeed<T extends object>(args: T): T & { seed?: number } {
    const seed = this.nextSeed();
    return seed === undefined ? args : { ...args, seed };
  }

  /** VarianceScaling(scale, mode, uniform). */
  varianceScaling(scale: number, mode: 'fanIn' | 'fanOut' | 'fanAvg'): Initializer {
    return tfl.initializers.varianceScaling(this.withSeed({ scale, mode, distribution: 'uniform' as const }));
  }

  uniform(minval: number, maxval: number): Initializer {
    return tfl.initializers.randomUniform(this.withSeed({ minval, maxval }));
  }

  glorotUniform(): Initializer {
    return tfl.initializers.glorotUniform(this.withSeed({}));
  }

  /** Mild random BatchNormalization parameters and statistics (variance stays > 0). */
  batchNorm(scale: boolean): {
    gammaInitializer?: Initializer;
    betaInitializer: Initializer;
    movingMeanInitializer: Initializer;
    movingVarianceInitializer: Initializer;
  } {
    const gamma = scale ? { gammaInitializer: this.uniform(0.75, 1.25) } : {};
    return {
      ...gamma,
      betaInitializer: this.uniform(-0.1, 0.1),
      movingMeanInitializer: this.uniform(-0.1, 0.1),
      movingVarianceInitializer: this.uniform(0.75, 1.25),
    };
  }
}

function applyOne(layer: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]): tfl.SymbolicTensor {
  return layer.apply(x) as tfl.SymbolicTensor;
}

function channels(x: tfl.SymbolicTensor): number {
  const c = x.shape[x.shape.length - 1];
  if (c == null) throw new Error('channel dimension is unknown');
  return c;
}

function checkSize(name: string, size: number, min: number): void {
  if (!Number.isInteger(size) || size < min) {
    throw new Error(`${name}: inputSize must be an integer >= ${min} (got ${size})`);
  }
}

/** Python's `f"{alpha:0.2f}"`. */
function format2(v: number): string {
  return v.toFixed(2);
}

// ---------------------------------------------------------------------------------------------
// MobileNetV2

/** Keras' `_make_divisible(v, divisor, min_value=None)`. */
export function makeDivisible(v: number, divisor: number, minValue?: number): number {
  const min = minValue ?? divisor;
  let newV = Math.max(min, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
  // Make sure that rounding down does not go down by more than 10%.
  if (newV < 0.9 * v) newV += divisor;
  return newV;
}

/** Keras' `imagenet_utils.correct_pad(inputs, kernel_size)` for a known spatial size. */
export function correctPad(height: number, width: number, kernel: number): [[number, number], [number, number]] {
  const adjust = [1 - (height % 2), 1 - (width % 2)] as const;
  const correct = Math.floor(kernel / 2);
  return [
    [correct - adjust[0], correct],
    [correct - adjust[1], correct],
  ];
}

/**
 * `keras.applications.MobileNetV2(input_shape=(s, s, 3), alpha, include_top=True, weights=None,
 * classes, classifier_activation)`.
 */
export function buildMobileNetV2(options: MobileNetV2Options = {}): tfl.LayersModel {
  const inputSize = options.inputSize ?? 224;
  const alpha = options.alpha ?? 1.0;
  const classes = options.classes ?? 1000;
  const classifierActivation = options.classifierActivation ?? 'softmax';
  checkSize('buildMobileNetV2', inputSize, 32);
  if (!(alpha > 0)) throw new Error(`buildMobileNetV2: alpha must be > 0 (got ${alpha})`);
  const init = new InitFactory(options.seed);

  const bn = (name: string): tfl.layers.Layer =>
    tfl.layers.batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.999, name, ...init.batchNorm(true) });
  const relu6 = (name: string): tfl.layers.Layer => tfl.layers.reLU({ maxValue: 6, name });
  // Kernels: He scaling where a ReLU follows, variance-preserving (scale 1) on linear paths.
  const conv = (filters: number, kernelSize: number, name: string, scale: number, strides = 1): tfl.layers.Layer =>
    tfl.layers.conv2d({
      filters,
      kernelSize,
      strides,
      padding: 'same',
      useBias: false,
      name,
      kernelInitializer: init.varianceScaling(scale, 'fanIn'),
    });

  const inverted = (inputs: tfl.SymbolicTensor, expansion: number, stride: 1 | 2, filters: number, blockId: number): tfl.SymbolicTensor => {
    const inChannels = channels(inputs);
    const pointwiseFilters = makeDivisible(Math.trunc(filters * alpha), 8);
    let x = inputs;
    let prefix = `block_${blockId}_`;
    if (blockId) {
      // Expand with a pointwise 1x1 convolution (its input is linear: scale 1).
      x = applyOne(conv(expansion * inChannels, 1, `${prefix}expand`, 1), x);
      x = applyOne(bn(`${prefix}expand_BN`), x);
      x = applyOne(relu6(`${prefix}expand_relu`), x);
    } else {
      prefix = 'expanded_conv_';
    }
    if (stride === 2) {
      const [, h, w] = x.shape;
      if (h == null || w == null) throw new Error('spatial size is unknown');
      x = applyOne(tfl.layers.zeroPadding2d({ padding: correctPad(h, w, 3), name: `${prefix}pad` }), x);
    }
    x = applyOne(
      tfl.layers.depthwiseConv2d({
        kernelSize: 3,
        strides: stride,
        activation: 'linear',
        useBias: false,
        padding: stride === 1 ? 'same' : 'valid',
        name: `${prefix}depthwise`,
        // Depthwise kernel [3, 3, C, 1]: tfjs' fanOut is 9 * depth_multiplier = the true
        // per-channel fan-in, so this is He scaling per channel.
        depthwiseInitializer: init.varianceScaling(2, 'fanOut'),
      }),
      x,
    );
    x = applyOne(bn(`${prefix}depthwise_BN`), x);
    x = applyOne(relu6(`${prefix}depthwise_relu`), x);
    // Project with a pointwise 1x1 convolution (linear bottleneck).
    x = applyOne(conv(pointwiseFilters, 1, `${prefix}project`, 1), x);
    x = applyOne(bn(`${prefix}project_BN`), x);
    if (inChannels === pointwiseFilters && stride === 1) {
      return applyOne(tfl.layers.add({ name: `${prefix}add` }), [inputs, x]);
    }
    return x;
  };

  const input = tfl.input({ shape: [inputSize, inputSize, 3], name: INPUT_LAYER_NAME });
  const firstBlockFilters = makeDivisible(32 * alpha, 8);
  let x = applyOne(
    tfl.layers.conv2d({
      filters: firstBlockFilters,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      name: 'Conv1',
      kernelInitializer: init.varianceScaling(2, 'fanIn'),
    }),
    input,
  );
  x = applyOne(bn('bn_Conv1'), x);
  x = applyOne(relu6('Conv1_relu'), x);

  // [filters, stride, expansion] for block_id 0..16, as in Keras.
  const blocks: ReadonlyArray<readonly [number, 1 | 2, number]> = [
    [16, 1, 1],
    [24, 2, 6],
    [24, 1, 6],
    [32, 2, 6],
    [32, 1, 6],
    [32, 1, 6],
    [64, 2, 6],
    [64, 1, 6],
    [64, 1, 6],
    [64, 1, 6],
    [96, 1, 6],
    [96, 1, 6],
    [96, 1, 6],
    [160, 2, 6],
    [160, 1, 6],
    [160, 1, 6],
    [320, 1, 6],
  ];
  blocks.forEach(([filters, stride, expansion], blockId) => {
    x = inverted(x, expansion, stride, filters, blockId);
  });

  // No alpha on the last conv unless alpha > 1 (as in the paper and Keras).
  const lastBlockFilters = alpha > 1.0 ? makeDivisible(1280 * alpha, 8) : 1280;
  x = applyOne(
    tfl.layers.conv2d({
      filters: lastBlockFilters,
      kernelSize: 1,
      useBias: false,
      name: 'Conv_1',
      kernelInitializer: init.varianceScaling(1, 'fanIn'),
    }),
    x,
  );
  x = applyOne(bn('Conv_1_bn'), x);
  x = applyOne(relu6('out_relu'), x);

  x = applyOne(tfl.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }), x);
  const output = applyOne(
    tfl.layers.dense({
      units: classes,
      activation: classifierActivation,
      name: 'predictions',
      kernelInitializer: init.glorotUniform(),
      biasInitializer: 'zeros',
    }),
    x,
  );
  return tfl.model({ inputs: input, outputs: output, name: `mobilenetv2_${format2(alpha)}_${inputSize}` });
}

// ---------------------------------------------------------------------------------------------
// InceptionV3

/** Keras' per-session layer-name counters: `conv2d`, `conv2d_1`, `conv2d_2`, ... */
class KerasNames {
  private readonly counts = new Map<string, number>();

  next(prefix: string): string {
    const n = this.counts.get(prefix) ?? 0;
    this.counts.set(prefix, n + 1);
    return n === 0 ? prefix : `${prefix}_${n}`;
  }
}

/**
 * `keras.applications.InceptionV3(input_shape=(s, s, 3), include_top=True, weights=None, classes,
 * classifier_activation)`; `filtersScale` < 1 shrinks every Conv2D's filter count.
 */
export function buildInceptionV3(options: InceptionV3Options = {}): tfl.LayersModel {
  const inputSize = options.inputSize ?? 299;
  const filtersScale = options.filtersScale ?? 1;
  const classes = options.classes ?? 1000;
  const classifierActivation = options.classifierActivation ?? 'softmax';
  checkSize('buildInceptionV3', inputSize, 75);
  if (!(filtersScale > 0)) throw new Error(`buildInceptionV3: filtersScale must be > 0 (got ${filtersScale})`);
  const init = new InitFactory(options.seed);
  const names = new KerasNames();
  const channelAxis = 3;
  const f = (filters: number): number => Math.max(1, Math.round(filters * filtersScale));

  /** Keras' `conv2d_bn`: Conv2D(use_bias=False) + BatchNormalization(axis=3, scale=False) + ReLU. */
  const conv2dBn = (
    x: tfl.SymbolicTensor,
    filters: number,
    numRow: number,
    numCol: number,
    padding: 'same' | 'valid' = 'same',
    strides: 1 | 2 = 1,
  ): tfl.SymbolicTensor => {
    let y = applyOne(
      tfl.layers.conv2d({
        filters: f(filters),
        kernelSize: [numRow, numCol],
        strides: [strides, strides],
        padding,
        useBias: false,
        name: names.next('conv2d'),
        kernelInitializer: init.varianceScaling(2, 'fanIn'),
      }),
      x,
    );
    y = applyOne(
      tfl.layers.batchNormalization({
        axis: channelAxis,
        scale: false,
        epsilon: 1e-3,
        momentum: 0.99,
        name: names.next('batch_normalization'),
        ...init.batchNorm(false),
      }),
      y,
    );
    return applyOne(tfl.layers.activation({ activation: 'relu', name: names.next('activation') }), y);
  };
  const maxPool = (x: tfl.SymbolicTensor): tfl.SymbolicTensor =>
    applyOne(
      tfl.layers.maxPooling2d({
        poolSize: [3, 3],
        strides: [2, 2],
        padding: 'valid',
        name: names.next('max_pooling2d'),
      }),
      x,
    );
  const avgPool = (x: tfl.SymbolicTensor): tfl.SymbolicTensor =>
    applyOne(
      tfl.layers.averagePooling2d({
        poolSize: [3, 3],
        strides: [1, 1],
        padding: 'same',
        name: names.next('average_pooling2d'),
      }),
      x,
    );
  const concat = (xs: tfl.SymbolicTensor[], name?: string): tfl.SymbolicTensor =>
    applyOne(tfl.layers.concatenate({ axis: channelAxis, name: name ?? names.next('concatenate') }), xs);

  const input = tfl.input({ shape: [inputSize, inputSize, 3], name: INPUT_LAYER_NAME });

  let x = conv2dBn(input, 32, 3, 3, 'valid', 2);
  x = conv2dBn(x, 32, 3, 3, 'valid');
  x = conv2dBn(x, 64, 3, 3);
  x = maxPool(x);

  x = conv2dBn(x, 80, 1, 1, 'valid');
  x = conv2dBn(x, 192, 3, 3, 'valid');
  x = maxPool(x);

  // mixed 0, 1, 2: 35 x 35 x 256 / 288 / 288 (at 299 px). Pool branch: 32, 64, 64 filters.
  for (const [i, poolFilters] of [32, 64, 64].entries()) {
    const branch1x1 = conv2dBn(x, 64, 1, 1);

    let branch5x5 = conv2dBn(x, 48, 1, 1);
    branch5x5 = conv2dBn(branch5x5, 64, 5, 5);

    let branch3x3dbl = conv2dBn(x, 64, 1, 1);
    branch3x3dbl = conv2dBn(branch3x3dbl, 96, 3, 3);
    branch3x3dbl = conv2dBn(branch3x3dbl, 96, 3, 3);

    let branchPool = avgPool(x);
    branchPool = conv2dBn(branchPool, poolFilters, 1, 1);
    x = concat([branch1x1, branch5x5, branch3x3dbl, branchPool], `mixed${i}`);
  }

  // mixed 3: 17 x 17 x 768
  {
    const branch3x3 = conv2dBn(x, 384, 3, 3, 'valid', 2);

    let branch3x3dbl = conv2dBn(x, 64, 1, 1);
    branch3x3dbl = conv2dBn(branch3x3dbl, 96, 3, 3);
    branch3x3dbl = conv2dBn(branch3x3dbl, 96, 3, 3, 'valid', 2);

    const branchPool = maxPool(x);
    x = concat([branch3x3, branch3x3dbl, branchPool], 'mixed3');
  }

  // mixed 4, 5, 6, 7: 17 x 17 x 768; the 7x7 branches have 128, 160, 160, 192 filters.
  for (const [i, c7] of [128, 160, 160, 192].entries()) {
    const branch1x1 = conv2dBn(x, 192, 1, 1);

    let branch7x7 = conv2dBn(x, c7, 1, 1);
    branch7x7 = conv2dBn(branch7x7, c7, 1, 7);
    branch7x7 = conv2dBn(branch7x7, 192, 7, 1);

    let branch7x7dbl = conv2dBn(x, c7, 1, 1);
    branch7x7dbl = conv2dBn(branch7x7dbl, c7, 7, 1);
    branch7x7dbl = conv2dBn(branch7x7dbl, c7, 1, 7);
    branch7x7dbl = conv2dBn(branch7x7dbl, c7, 7, 1);
    branch7x7dbl = conv2dBn(branch7x7dbl, 192, 1, 7);

    let branchPool = avgPool(x);
    branchPool = conv2dBn(branchPool, 192, 1, 1);
    x = concat([branch1x1, branch7x7, branch7x7dbl, branchPool], `mixed${4 + i}`);
  }

  // mixed 8: 8 x 8 x 1280
  {
    let branch3x3 = conv2dBn(x, 192, 1, 1);
    branch3x3 = conv2dBn(branch3x3, 320, 3, 3, 'valid', 2);

    let branch7x7x3 = conv2dBn(x, 192, 1, 1);
    branch7x7x3 = conv2dBn(branch7x7x3, 192, 1, 7);
    branch7x7x3 = conv2dBn(branch7x7x3, 192, 7, 1);
    branch7x7x3 = conv2dBn(branch7x7x3, 192, 3, 3, 'valid', 2);

    const branchPool = maxPool(x);
    x = concat([branch3x3, branch7x7x3, branchPool], 'mixed8');
  }

  // mixed 9, 10: 8 x 8 x 2048
  for (let i = 0; i < 2; i++) {
    const branch1x1 = conv2dBn(x, 320, 1, 1);

    const branch3x3 = conv2dBn(x, 384, 1, 1);
    const branch3x3a = conv2dBn(branch3x3, 384, 1, 3);
    const branch3x3b = conv2dBn(branch3x3, 384, 3, 1);
    const branch3x3cat = concat([branch3x3a, branch3x3b], `mixed9_${i}`);

    let branch3x3dbl = conv2dBn(x, 448, 1, 1);
    branch3x3dbl = conv2dBn(branch3x3dbl, 384, 3, 3);
    const branch3x3dblA = conv2dBn(branch3x3dbl, 384, 1, 3);
    const branch3x3dblB = conv2dBn(branch3x3dbl, 384, 3, 1);
    const branch3x3dblCat = concat([branch3x3dblA, branch3x3dblB]);

    let branchPool = avgPool(x);
    branchPool = conv2dBn(branchPool, 192, 1, 1);
    x = concat([branch1x1, branch3x3cat, branch3x3dblCat, branchPool], `mixed${9 + i}`);
  }

  x = applyOne(tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
  const output = applyOne(
    tfl.layers.dense({
      units: classes,
      activation: classifierActivation,
      name: 'predictions',
      kernelInitializer: init.glorotUniform(),
      biasInitializer: 'zeros',
    }),
    x,
  );
  return tfl.model({ inputs: input, outputs: output, name: 'inception_v3' });
}
