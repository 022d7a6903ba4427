/**
 * tfcam demo: explains the small shape classifier that ships with the repository (models/shapes) on
 * its sample images (examples/images), or your own model and image, and writes PNGs: the heatmap,
 * the heatmap painted over the image, and the Guided Grad-CAM detail. `--model` takes a layers model
 * or a graph model (TF Hub, converted SavedModel): the kind is read from model.json (`format`, or the
 * shape of `modelTopology`). `--layers` lists the layers a CAM can be computed at.
 *
 *   npm run demo -- [--image FILE.png] [--model model.json] [--layer NAME] [--method NAME]
 *                   [--class INDEX|NAME] [--size PIXELS] [--backend cpu|wasm|node] [--out DIR] [--layers]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfc from '@tensorflow/tfjs-converter';
import { PNG } from 'pngjs';
import { useBackend } from '../src/backend.js';
import type { CamMethodName, CamModel, CamOptions } from '../src/index.js';
import { CAM_METHODS, deprocessGradients, guidedGradCam, listLayers, overlay } from '../src/index.js';
import { loadLayersModelFromFile } from './load-model.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = `usage: npm run demo -- [--image FILE.png] [--model model.json] [--layer NAME]
                     [--method ${Object.keys(CAM_METHODS).join('|')}]
                     [--class INDEX|NAME] [--size PIXELS] [--backend cpu|wasm|node] [--out DIR] [--layers]
  --model takes a layers model or a graph model (tf.loadGraphModel format: TF Hub, converted SavedModels);
  --size is the image size for a graph model whose input takes any size (default 224);
  --layers lists the layers (graph nodes) a CAM can be computed at, and exits`;

const { values } = parseArgs({
  options: {
    image: { type: 'string', multiple: true },
    model: { type: 'string', default: join(root, 'models', 'shapes', 'model.json') },
    layer: { type: 'string' },
    method: { type: 'string', default: 'gradCam' },
    class: { type: 'string' },
    backend: { type: 'string', default: 'cpu' },
    out: { type: 'string', default: 'out/demo' },
    size: { type: 'string', default: '224' },
    layers: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  console.error(`demo: ${message}\n${USAGE}`);
  process.exit(2);
}

/** Reads class names from a metadata.json next to the model, if there is one. */
function classNames(modelPath: string): string[] {
  const meta = join(dirname(modelPath), 'metadata.json');
  if (!existsSync(meta)) return [];
  return (JSON.parse(readFileSync(meta, 'utf8')) as { classes?: string[] }).classes ?? [];
}

/** A model on disk: a layers model or a graph model, told apart by its model.json. */
interface LoadedModel {
  model: CamModel;
  kind: 'layers' | 'graph';
  /** What to print about it. */
  about: string;
  /** The image input's static shape, -1 / null for any size. */
  inputShape: ReadonlyArray<number | null>;
  dispose(): void;
}

/** True when model.json holds a graph model (`format`, else a GraphDef `node` list in `modelTopology`). */
function isGraphModelJson(json: { format?: unknown; modelTopology?: unknown }): boolean {
  if (json.format === 'graph-model') return true;
  if (json.format === 'layers-model') return false;
  const topology = json.modelTopology as { node?: unknown } | undefined;
  return topology !== undefined && Array.isArray(topology.node);
}

/** Loads model.json (+ its weight files, next to it) from disk as a tf.LayersModel or a tf.GraphModel. */
async function loadModel(modelPath: string): Promise<LoadedModel> {
  const json = JSON.parse(readFileSync(modelPath, 'utf8')) as tf.io.ModelJSON & { format?: unknown };
  if (!isGraphModelJson(json)) {
    const model = await loadLayersModelFromFile(modelPath);
    return {
      model,
      kind: 'layers',
      about: `${model.name} (${model.layers.length} layers)`,
      inputShape: model.inputs[0]?.shape ?? [],
      dispose: () => model.dispose(),
    };
  }
  const dir = dirname(modelPath);
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const all = Buffer.concat(manifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p)))));
    return [manifest.flatMap((g) => g.weights), all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
  });
  const model = await tfc.loadGraphModel(tf.io.fromMemory(artifacts));
  const shape = (model.inputs[0]?.shape ?? []).map((d) => (d < 0 ? null : d));
  return {
    model,
    kind: 'graph',
    about: `a graph model (${listLayers(model).length} candidate layers)`,
    inputShape: shape,
    dispose: () => model.dispose(),
  };
}

function defaultImages(): string[] {
  const index = join(root, 'examples', 'images', 'shapes.json');
  const { images } = JSON.parse(readFileSync(index, 'utf8')) as { images: Array<{ file: string }> };
  return images.map((i) => join(root, 'examples', 'images', i.file));
}

/** Reads a PNG file (any PNG: pngjs decodes it to 8-bit RGBA) as an int32 [H, W, 3] RGB tensor. */
function readPng(file: string): tf.Tensor3D {
  const png = PNG.sync.read(readFileSync(file));
  return tf.tidy(() => tf.slice(tf.tensor3d(png.data, [png.height, png.width, 4], 'int32'), [0, 0, 0], [-1, -1, 3]));
}

/** Writes row-major 8-bit values (rounded and clamped to 0..255) as a gray (1 channel) or RGB (3) PNG. */
function writePng(path: string, values: ArrayLike<number>, width: number, height: number, channels: 1 | 3): void {
  const png = new PNG({ width, height });
  png.data = Buffer.from(Uint8ClampedArray.from(values).buffer);
  const colorType = channels === 3 ? 2 : 0;
  writeFileSync(path, PNG.sync.write(png, { colorType, inputColorType: colorType }));
}

function progressBar(done: number, total: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stderr.write(`\r  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} batched passes`);
  if (done === total) process.stderr.write('\n');
}

async function main(): Promise<void> {
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const methodName = values.method as string;
  if (!(methodName in CAM_METHODS)) fail(`unknown method '${methodName}'`);
  const backend = values.backend as string;
  if (!['cpu', 'wasm', 'node', 'tensorflow'].includes(backend))
    fail(`backend '${backend}' is not available in Node (use cpu, wasm or node)`);
  const active = await useBackend(backend as 'cpu');

  const modelPath = resolve(values.model as string);
  if (!existsSync(modelPath)) fail(`no model at ${modelPath}`);
  const loaded = await loadModel(modelPath);
  const model = loaded.model;
  const names = classNames(modelPath);
  if (values.layers) {
    for (const l of listLayers(model)) console.log(`${l.name}  ${l.op}  [${l.shape.map((d) => d ?? 'null').join(', ')}]`);
    loaded.dispose();
    return;
  }
  const size = Number(values.size);
  if (!Number.isInteger(size) || size < 1) fail(`--size must be a positive integer, got '${values.size}'`);
  const [, h, w, channels] = loaded.inputShape;
  const height = h ?? size;
  const width = w ?? size;
  if (loaded.inputShape.length !== 4 || channels !== 3) {
    fail(`the demo needs a model with one [H, W, 3] image input; this one has ${JSON.stringify(loaded.inputShape)}`);
  }

  let target: number | undefined;
  if (values.class !== undefined) {
    const byName = names.indexOf(values.class);
    target = byName >= 0 ? byName : Number(values.class);
    if (!Number.isInteger(target)) fail(`--class must be a class index or one of: ${names.join(', ')}`);
  }

  const files = values.image ?? defaultImages();
  const images = tf.tidy(() =>
    tf.stack(
      files.map((f) => {
        if (!existsSync(f)) fail(`no image at ${f}`);
        let pixels: tf.Tensor3D;
        try {
          pixels = readPng(f);
        } catch (e) {
          fail(`cannot read ${f} as a PNG image (${e instanceof Error ? e.message : String(e)})`);
        }
        return tf.div(tf.image.resizeBilinear(pixels, [height, width]), 255);
      }),
    ),
  ) as tf.Tensor4D;

  const outDir = resolve(values.out as string);
  mkdirSync(outDir, { recursive: true });
  console.log(`tfcam demo on ${active}: ${loaded.about} from ${modelPath}`);
  console.log(
    `explaining ${files.length} image(s) of ${width}x${height} with ${methodName}${target === undefined ? '' : `, class ${target}`}`,
  );

  const options: CamOptions & { onProgress?: (d: number, t: number) => void } = {
    ...(values.layer === undefined ? {} : { layer: values.layer }),
    ...(target === undefined ? {} : { target }),
  };
  if (methodName === 'scoreCam' || methodName === 'ablationCam') options.onProgress = progressBar;

  const t0 = performance.now();
  const cam = CAM_METHODS[methodName as CamMethodName](model, images, options);
  const { gradients } = guidedGradCam(model, images, {
    ...(values.layer === undefined ? {} : { layer: values.layer }),
    target: target ?? Array.from(await cam.classIndex.data()),
  });
  const painted = overlay(images, cam.heatmap);
  const guided = deprocessGradients(gradients);
  const heat = await cam.heatmap.data();
  const rgb = await painted.data();
  const detail = await guided.data();
  const classes = await cam.classIndex.data();
  const scores = await cam.score.data();
  const ms = performance.now() - t0;
  console.log(`layer '${cam.layer}', ${ms.toFixed(0)} ms for ${methodName} + Guided Grad-CAM + overlay`);

  const plane = height * width;
  files.forEach((file, i) => {
    const stem = basename(file).replace(/\.png$/i, '');
    const paths = {
      heatmap: join(outDir, `${stem}.heatmap.png`),
      overlay: join(outDir, `${stem}.overlay.png`),
      guided: join(outDir, `${stem}.guided.png`),
    };
    writePng(
      paths.heatmap,
      heat.subarray(i * plane, (i + 1) * plane).map((v) => v * 255),
      width,
      height,
      1,
    );
    writePng(paths.overlay, rgb.subarray(i * plane * 3, (i + 1) * plane * 3), width, height, 3);
    writePng(paths.guided, detail.subarray(i * plane * 3, (i + 1) * plane * 3), width, height, 3);
    const c = classes[i] as number;
    const label = names[c] === undefined ? `class ${c}` : `${names[c]} (class ${c})`;
    console.log(`  ${basename(file)}: ${label}, logit ${(scores[i] as number).toFixed(3)}`);
    console.log(`    -> ${paths.heatmap}\n       ${paths.overlay}\n       ${paths.guided}`);
  });
  tf.dispose([images, cam, gradients, painted, guided]);
  loaded.dispose();
}

main().catch((e: unknown) => {
  console.error(`demo: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
