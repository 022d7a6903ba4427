/**
 * tfcam quickstart in Node: explain one image with Grad-CAM and write the overlay as a PNG.
 *
 *   npm run build && node --import tsx examples/node/quickstart.ts [image.png] [model.json] [out.png]
 *
 * Imports 'tfcam' by package name, i.e. the built package (dist/), exactly as an app would.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { gradCam, overlay } from 'tfcam';
import { loadLayersModelFromFile } from '../../scripts/load-model.js';
import { decodePng, encodePng } from '../../scripts/png.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const [imagePath = join(repo, 'examples', 'images', 'star-1.png'), modelPath = join(repo, 'models', 'shapes', 'model.json'), outPath = 'overlay.png'] =
  process.argv.slice(2);

await tf.setBackend('cpu');
const model = await loadLayersModelFromFile(modelPath);
const [, height, width] = model.inputs[0]!.shape as number[];

// Decode, resize to the model's input size, scale to [0, 1].
const png = decodePng(readFileSync(imagePath));
const pixels = tf.tensor3d(png.rgb, [png.height, png.width, 3], 'int32');
const input = tf.tidy(() => tf.div(tf.image.resizeBilinear(pixels, [height!, width!]), 255) as tf.Tensor3D);

const { heatmap, classIndex, score, layer } = gradCam(model, input);
const painted = overlay(input, heatmap, { alpha: 0.5 });
writeFileSync(outPath, encodePng(await painted.data(), width!, height!, 3));
console.log(`class ${(await classIndex.data())[0]} (logit ${(await score.data())[0]!.toFixed(3)}) explained at '${layer}' -> ${outPath}`);
tf.dispose([pixels, input, heatmap, classIndex, score, painted]);
