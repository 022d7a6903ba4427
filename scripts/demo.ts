/**
 * tfcam demo: explains a small CNN that ships with the repository and writes the maps as PNG files.
 *
 *   npm run demo -- [--backend cpu|wasm] [--layer NAME] [--out DIR]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { gradCam, overlay } from '../src/index.js';
import { loadLayersModelFromFile } from './load-model.js';
import { encodePng } from './png.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'cpu' },
    layer: { type: 'string' },
    out: { type: 'string', default: 'out' },
  },
});

async function main(): Promise<void> {
  const backend = values.backend as string;
  if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend) {
    throw new Error(`backend '${backend}' is not available (use cpu or wasm)`);
  }
  const modelDir = join(root, 'test', 'fixtures', 'cam-oracle', 'c_separable');
  const model = await loadLayersModelFromFile(join(modelDir, 'model.json'));
  const inputs = JSON.parse(readFileSync(join(modelDir, 'inputs.json'), 'utf8')) as { data: number[][][][]; ids: string[] };
  const images = tf.tensor4d(inputs.data);
  const outDir = resolve(values.out as string);
  mkdirSync(outDir, { recursive: true });

  const t0 = performance.now();
  const result = gradCam(model, images, values.layer === undefined ? {} : { layer: values.layer });
  const painted = overlay(images, result.heatmap);
  const ms = performance.now() - t0;

  const [b, h, w] = result.heatmap.shape;
  const heat = await result.heatmap.data();
  const rgb = await painted.data();
  const classes = await result.classIndex.data();
  const scores = await result.score.data();
  console.log(`tfcam demo on ${tf.getBackend()}: model c_separable (${model.layers.length} layers), ${b} images ${h}x${w}`);
  console.log(`Grad-CAM at layer '${result.layer}' in ${ms.toFixed(0)} ms`);
  for (let i = 0; i < b; i++) {
    const heatPath = join(outDir, `heatmap_${inputs.ids[i]}.png`);
    const overlayPath = join(outDir, `overlay_${inputs.ids[i]}.png`);
    writeFileSync(heatPath, encodePng(Array.from(heat.subarray(i * h * w, (i + 1) * h * w), (v) => v * 255), w, h, 1));
    writeFileSync(overlayPath, encodePng(rgb.subarray(i * h * w * 3, (i + 1) * h * w * 3), w, h, 3));
    console.log(`  image ${inputs.ids[i]}: class ${classes[i]} (logit ${(scores[i] as number).toFixed(4)}) -> ${heatPath}, ${overlayPath}`);
  }
  tf.dispose([images, result, painted]);
  model.dispose();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
