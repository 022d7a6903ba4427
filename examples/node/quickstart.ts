/**
 * tfcam quickstart in Node: explain one image with Grad-CAM and write the overlay as a PNG.
 *
 *   npm install tfcam @tensorflow/tfjs-core @tensorflow/tfjs-layers @tensorflow/tfjs-backend-cpu pngjs
 *   node --import tsx quickstart.ts image.png model.json [out.png]
 *
 * In this repository (`npm run build` first; the image and model default to the shipped ones):
 *
 *   node --import tsx examples/node/quickstart.ts [image.png] [model.json] [out.png]
 *
 * It imports only 'tfcam' (by package name: the built package, exactly as an app would), tfjs and
 * pngjs, so it can be copied out of the repository as it is.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { PNG } from 'pngjs';
import { gradCam, overlay } from 'tfcam';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const [
  imagePath = join(repo, 'examples', 'images', 'star-1.png'),
  modelPath = join(repo, 'models', 'shapes', 'model.json'),
  outPath = 'overlay.png',
] = process.argv.slice(2);

/**
 * Loads a tfjs layers model (model.json and its weight files) from disk without tfjs-node: tfjs'
 * own HTTP loader, with a `fetch` that reads file: URLs.
 */
function loadLayersModelFromFile(path: string): Promise<tfl.LayersModel> {
  const fetchFile = async (url: RequestInfo | URL): Promise<Response> => new Response(await readFile(new URL(String(url))));
  return tfl.loadLayersModel(tf.io.http(pathToFileURL(resolve(path)).href, { fetchFunc: fetchFile }));
}

/** Reads a PNG file as an int32 [H, W, 3] RGB tensor (pngjs decodes every PNG to 8-bit RGBA). */
function readPng(path: string): tf.Tensor3D {
  const png = PNG.sync.read(readFileSync(path));
  return tf.tidy(() => tf.slice(tf.tensor3d(png.data, [png.height, png.width, 4], 'int32'), [0, 0, 0], [-1, -1, 3]));
}

/** Writes an int32 [H, W, 3] RGB tensor (values 0..255) as a PNG file. */
async function writePng(path: string, rgb: tf.Tensor3D): Promise<void> {
  const [height, width] = rgb.shape;
  const png = new PNG({ width, height });
  png.data = Buffer.from(Uint8ClampedArray.from(await rgb.data()).buffer);
  writeFileSync(path, PNG.sync.write(png, { colorType: 2, inputColorType: 2 }));
}

await tf.setBackend('cpu');
const model = await loadLayersModelFromFile(modelPath);
const [, height, width] = model.inputs[0]!.shape as number[];

// Decode, resize to the model's input size, scale to [0, 1].
const pixels = readPng(imagePath);
const input = tf.tidy(() => tf.div(tf.image.resizeBilinear(pixels, [height!, width!]), 255) as tf.Tensor3D);

const { heatmap, classIndex, score, layer } = gradCam(model, input);
const painted = overlay(input, heatmap, { alpha: 0.5 }) as tf.Tensor3D;
await writePng(outPath, painted);
console.log(`class ${(await classIndex.data())[0]} (logit ${(await score.data())[0]!.toFixed(3)}) explained at '${layer}' -> ${outPath}`);
tf.dispose([pixels, input, heatmap, classIndex, score, painted]);
model.dispose();
