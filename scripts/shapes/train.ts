/**
 * Trains the shapes CNN on freshly generated synthetic images and writes it to models/shapes/
 * (model.json + weights.bin + metadata.json), plus sample images with their classes and boxes to
 * examples/images/.
 *
 *   npm run train:shapes -- [--epochs 6] [--per-epoch 4000] [--seed 1] [--out models/shapes]
 *   npm run train:shapes -- --samples-only     # rewrite examples/images from the saved model
 *
 * Runs on the wasm backend with the training kernels of ./wasm-training.ts (the cpu backend works but
 * is ~80x slower). Deterministic: every image comes from seeded generators, batches are not shuffled
 * beyond the generator's own order, weights are initialised from seeds and wasm runs single-threaded.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadLayersModelFromFile } from '../load-model.js';
import { PNG } from 'pngjs';
import { IMAGE_SIZE, SHAPE_CLASSES, SPLIT_SEEDS, generateShapes } from './dataset.js';
import type { ShapesData } from './dataset.js';
import { buildShapesModel } from './model.js';
import { registerWasmTrainingKernels } from './wasm-training.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '6' },
    'per-epoch': { type: 'string', default: '4000' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: join(root, 'models', 'shapes') },
    samples: { type: 'string', default: join(root, 'examples', 'images') },
    'samples-only': { type: 'boolean', default: false },
  },
});

const TRAIN_SEED = SPLIT_SEEDS.train;
const VALIDATION_SEED = SPLIT_SEEDS.validation;
const EVAL_SEED = SPLIT_SEEDS.eval;
const SAMPLE_SEED = SPLIT_SEEDS.samples;

function tensors(d: ShapesData): { x: tf.Tensor4D; y: tf.Tensor2D } {
  return tf.tidy(() => ({
    x: tf.tensor4d(d.images, [d.count, d.size, d.size, 3]),
    y: tf.cast(tf.oneHot(tf.tensor1d(d.labels, 'int32'), SHAPE_CLASSES.length), 'float32') as tf.Tensor2D,
  }));
}

function accuracy(model: tfl.LayersModel, d: ShapesData): number {
  return tf.tidy(() => {
    const { x } = tensors(d);
    const pred = tf.argMax(model.predict(x, { batchSize: 100 }) as tf.Tensor, 1);
    return tf.mean(tf.cast(tf.equal(pred, tf.tensor1d(d.labels, 'int32')), 'float32')).dataSync()[0] as number;
  });
}

/**
 * Sets every BatchNormalization layer's moving mean and variance to the exact statistics of its input
 * over `data` under the final weights (layer by layer, in inference mode). Moving averages lag behind
 * in a short training run; exact statistics make inference match what the model learned.
 */
function recalibrateBatchNorm(model: tfl.LayersModel, data: ShapesData): void {
  const layers = model.layers;
  layers.forEach((layer, i) => {
    if (layer.getClassName() !== 'BatchNormalization') return;
    const channels = (layer.getWeights()[0] as tf.Tensor).shape[0] as number;
    let sum = tf.zeros([channels]);
    let sumSq = tf.zeros([channels]);
    let count = 0;
    for (let start = 0; start < data.count; start += 100) {
      const n = Math.min(100, data.count - start);
      const [s, q] = tf.tidy(() => {
        const px = data.size * data.size * 3;
        let a: tf.Tensor = tf.tensor4d(data.images.subarray(start * px, (start + n) * px), [n, data.size, data.size, 3]);
        for (let k = 0; k < i; k++) a = layers[k]?.apply(a, { training: false }) as tf.Tensor;
        return [tf.add(sum, tf.sum(a, [0, 1, 2])), tf.add(sumSq, tf.sum(tf.square(a), [0, 1, 2]))];
      }) as [tf.Tensor, tf.Tensor];
      tf.dispose([sum, sumSq]);
      sum = s;
      sumSq = q;
      const shape = (layers[i - 1] as (typeof layers)[number]).outputShape as number[];
      count += n * (shape[1] as number) * (shape[2] as number);
    }
    const [gamma, beta] = layer.getWeights();
    const stats = tf.tidy(() => {
      const mean = tf.div(sum, count);
      return [mean, tf.sub(tf.div(sumSq, count), tf.square(mean))];
    });
    layer.setWeights([gamma as tf.Tensor, beta as tf.Tensor, ...stats]);
    tf.dispose([sum, sumSq, ...stats]);
  });
}

async function saveModel(model: tfl.LayersModel, dir: string, metadata: object): Promise<number> {
  mkdirSync(dir, { recursive: true });
  let bytes = 0;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = Buffer.from(artifacts.weightData as ArrayBuffer);
      bytes = weights.byteLength;
      writeFileSync(join(dir, 'weights.bin'), weights);
      const json = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      writeFileSync(join(dir, 'model.json'), `${JSON.stringify(json)}\n`);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: bytes } };
    }),
  );
  // Arrays of numbers on one line.
  const text = JSON.stringify(metadata, null, 2).replace(
    /\[\s+([-\d.,\s]+?)\s+\]/g,
    (_, inner: string) => `[${inner.split(/,\s*/).join(', ')}]`,
  );
  writeFileSync(join(dir, 'metadata.json'), `${text}\n`);
  return bytes;
}

/** Writes two sample images per class as PNG with a JSON index of their classes and boxes. */
function writeSamples(dir: string, model: tfl.LayersModel): void {
  mkdirSync(dir, { recursive: true });
  const d = generateShapes(40, SAMPLE_SEED);
  const predicted = tf.tidy(() => Array.from(tf.argMax(model.predict(tensors(d).x) as tf.Tensor, 1).dataSync()));
  const index: Array<{ file: string; class: string; classIndex: number; box: number[]; predicted: string }> = [];
  const perClass = new Map<number, number>();
  const px = IMAGE_SIZE * IMAGE_SIZE * 3;
  for (let n = 0; n < d.count; n++) {
    const label = d.labels[n] as number;
    const k = perClass.get(label) ?? 0;
    if (k >= 2) continue;
    perClass.set(label, k + 1);
    const name = SHAPE_CLASSES[label] as string;
    const file = `${name}-${k + 1}.png`;
    const png = new PNG({ width: IMAGE_SIZE, height: IMAGE_SIZE });
    png.data = Buffer.from(Uint8ClampedArray.from(d.images.subarray(n * px, (n + 1) * px), (v) => v * 255).buffer);
    writeFileSync(join(dir, file), PNG.sync.write(png, { colorType: 2, inputColorType: 2 }));
    index.push({
      file,
      class: name,
      classIndex: label,
      box: [...(d.boxes[n] as number[])],
      predicted: SHAPE_CLASSES[predicted[n] as number] as string,
    });
  }
  index.sort((a, b) => a.classIndex - b.classIndex || a.file.localeCompare(b.file));
  // One line per image keeps the index readable.
  const json = [
    '{',
    `  "description": "Sample images of the synthetic shapes data set (scripts/shapes/dataset.ts, seed ${SAMPLE_SEED}) for the model in models/shapes. 64x64 RGB PNG; the model takes pixels / 255.",`,
    '  "boxFormat": "[y0, x0, y1, x1] in pixels, bottom/right exclusive (tfcam Box)",',
    `  "classes": ${JSON.stringify(SHAPE_CLASSES)},`,
    '  "images": [',
    index.map((e) => `    ${JSON.stringify(e)}`).join(',\n'),
    '  ]',
    '}',
    '',
  ];
  writeFileSync(join(dir, 'shapes.json'), json.join('\n'));
}

async function main(): Promise<void> {
  if (!(await tf.setBackend('wasm')) || tf.getBackend() !== 'wasm') throw new Error('the wasm backend is not available');
  registerWasmTrainingKernels();
  if (values['samples-only']) {
    const saved = await loadLayersModelFromFile(join(resolve(values.out as string), 'model.json'));
    writeSamples(resolve(values.samples as string), saved);
    console.log(`wrote sample images to ${resolve(values.samples as string)}`);
    saved.dispose();
    return;
  }
  const epochs = Number(values.epochs);
  const perEpoch = Number(values['per-epoch']);
  const seed = Number(values.seed);
  const chunk = 500;
  const model = buildShapesModel(seed);
  const optimizer = tf.train.adam(0.003);
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const validation = generateShapes(1000, VALIDATION_SEED);
  const t0 = performance.now();
  const log: Array<{ epoch: number; loss: number; trainAccuracy: number; validationAccuracy: number; seconds: number }> = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    // Step decay: 3e-3, then 1e-3 for the second half, 3e-4 for the last epoch.
    (optimizer as unknown as { learningRate: number }).learningRate =
      epoch === epochs - 1 && epochs > 2 ? 3e-4 : epoch >= epochs / 2 ? 1e-3 : 3e-3;
    let lossSum = 0;
    let accSum = 0;
    let n = 0;
    for (let start = 0; start < perEpoch; start += chunk) {
      const count = Math.min(chunk, perEpoch - start);
      const d = generateShapes(count, TRAIN_SEED + seed * 100_000 + epoch * 1000 + start / chunk);
      const { x, y } = tensors(d);
      const h = await model.fit(x, y, { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 });
      lossSum += (h.history['loss']?.[0] as number) * count;
      accSum += ((h.history['acc'] ?? h.history['accuracy'])?.[0] as number) * count;
      n += count;
      tf.dispose([x, y]);
    }
    const validationAccuracy = accuracy(model, validation);
    const seconds = (performance.now() - t0) / 1000;
    const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;
    log.push({
      epoch: epoch + 1,
      loss: r4(lossSum / n),
      trainAccuracy: r4(accSum / n),
      validationAccuracy: r4(validationAccuracy),
      seconds: Math.round(seconds),
    });
    console.log(
      `epoch ${epoch + 1}/${epochs}: loss ${(lossSum / n).toFixed(4)}, train acc ${(accSum / n).toFixed(4)}, ` +
        `held-out acc ${validationAccuracy.toFixed(4)} (${seconds.toFixed(0)} s)`,
    );
  }
  const beforeRecalibration = accuracy(model, validation);
  recalibrateBatchNorm(model, generateShapes(1000, TRAIN_SEED + seed * 100_000 + 999));
  const recalibrated = accuracy(model, validation);
  console.log(
    `BatchNorm statistics recalibrated on 1000 training images: held-out acc ${beforeRecalibration.toFixed(4)} -> ${recalibrated.toFixed(4)}`,
  );
  const evalAccuracy = accuracy(model, generateShapes(1000, EVAL_SEED));
  const seconds = (performance.now() - t0) / 1000;
  const out = resolve(values.out as string);
  const bytes = await saveModel(model, out, {
    name: 'shapes_cnn',
    description:
      'A small CNN classifying one shape on a cluttered background; trained by scripts/shapes/train.ts on the synthetic data of scripts/shapes/dataset.ts.',
    classes: SHAPE_CLASSES,
    input: { shape: [IMAGE_SIZE, IMAGE_SIZE, 3], range: [0, 1], preprocessing: 'RGB pixels / 255' },
    output: 'softmax probabilities over classes',
    defaultCamLayer: 'relu4',
    training: {
      backend: 'wasm',
      seed,
      epochs,
      imagesPerEpoch: perEpoch,
      seconds: Math.round(seconds),
      validationSeed: VALIDATION_SEED,
      log,
      batchNorm: 'moving statistics recalibrated exactly on 1000 training images after training',
    },
    heldOutAccuracy: {
      validation: Math.round(recalibrated * 1e4) / 1e4,
      eval: Math.round(evalAccuracy * 1e4) / 1e4,
      evalSeed: EVAL_SEED,
      images: 1000,
    },
  });
  console.log(`held-out accuracy (eval split, 1000 images): ${evalAccuracy.toFixed(4)}`);
  console.log(`saved ${out} (${model.countParams()} parameters, ${(bytes / 1024).toFixed(0)} KiB of weights) in ${seconds.toFixed(0)} s`);
  writeSamples(resolve(values.samples as string), model);
  console.log(`wrote sample images to ${resolve(values.samples as string)}`);
  model.dispose();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
