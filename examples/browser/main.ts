/**
 * tfcam browser example: pick an image, see the model's top classes, explain one with any CAM
 * method at any layer, painted over the image. Runs on WebGL, falling back to wasm, then cpu
 * (`useBackend` from tfcam/backend throws a BackendError when a backend cannot start here).
 *
 * It imports only tfcam, tfjs and Vite's `?url` imports of the wasm binaries, so it can be copied
 * into any Vite app: `npm install tfcam @tensorflow/tfjs @tensorflow/tfjs-backend-wasm`.
 */
import * as tf from '@tensorflow/tfjs';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { CAM_METHODS, overlay, type CamMethodName } from 'tfcam';
import { BackendError, useBackend, type BackendName, type UseBackendOptions } from 'tfcam/backend';

// ?model=/path/to/model.json explains another layers model.
const MODEL_URL = new URLSearchParams(location.search).get('model') ?? '/models/shapes/model.json';
const SAMPLES_URL = '/images/shapes.json';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const status = (text: string): void => {
  $('status').textContent = text;
};

interface Sample {
  file: string;
  class?: string;
}

declare global {
  interface Window {
    /** For the automated test: resolves once the page can explain. */
    tfcamReady: Promise<void>;
    /** For the automated test: the last explanation, or an error message. */
    tfcamLast?: { classIndex: number; layer: string; method: string; backend: string } | { error: string };
  }
}

/** The backends to try, best first. wasm is loaded only when webgl cannot start (a separate chunk). */
const BACKENDS: ReadonlyArray<readonly [BackendName, UseBackendOptions?]> = [
  ['webgl'],
  [
    'wasm',
    {
      load: () => import('@tensorflow/tfjs-backend-wasm'),
      wasmPaths: {
        'tfjs-backend-wasm.wasm': wasmUrl,
        'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
        'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
      },
    },
  ],
  ['cpu'],
];

async function pickBackend(): Promise<string> {
  const failures: string[] = [];
  for (const [name, options] of BACKENDS) {
    try {
      return await useBackend(name, options);
    } catch (e) {
      if (!(e instanceof BackendError)) throw e;
      console.warn(`tfcam example: ${e.message}`);
      failures.push(e.message);
    }
  }
  throw new Error(`no tfjs backend available:\n${failures.join('\n')}`);
}

async function main(): Promise<void> {
  const backend = await pickBackend();
  const model = await tf.loadLayersModel(MODEL_URL);
  const [, height, width] = model.inputs[0]!.shape as number[];
  // Class names from the model's metadata.json, when it has one.
  const labels: string[] = await fetch(MODEL_URL.replace('model.json', 'metadata.json'))
    .then((r) => (r.ok ? r.json() : {}))
    .then((m: { classes?: string[] }) => m.classes ?? [])
    .catch(() => []);
  const samples: Sample[] = await fetch(SAMPLES_URL)
    .then((r) => (r.ok ? r.json() : {}))
    .then((j: { images?: Sample[] }) => j.images ?? [])
    .catch(() => []);

  const method = $<HTMLSelectElement>('method');
  for (const name of Object.keys(CAM_METHODS)) method.add(new Option(name, name));
  const layer = $<HTMLSelectElement>('layer');
  layer.add(new Option('(automatic)', ''));
  for (const l of model.layers) {
    const shape = (l.outputShape ?? []) as unknown[];
    if (Array.isArray(shape) && shape.length === 4) layer.add(new Option(l.name, l.name));
  }
  const sampleSelect = $<HTMLSelectElement>('sample');
  for (const s of samples) sampleSelect.add(new Option(s.class ? `${s.file} (${s.class})` : s.file, s.file));

  const inputCanvas = $<HTMLCanvasElement>('input');
  const overlayCanvas = $<HTMLCanvasElement>('overlay');
  inputCanvas.width = overlayCanvas.width = width!;
  inputCanvas.height = overlayCanvas.height = height!;
  let image: tf.Tensor3D | null = null;
  let chosenClass = -1;

  const showImage = async (source: HTMLImageElement): Promise<void> => {
    const ctx = inputCanvas.getContext('2d')!;
    ctx.drawImage(source, 0, 0, width!, height!);
    if (image !== null) image.dispose();
    image = tf.tidy(() => tf.div(tf.browser.fromPixels(inputCanvas), 255) as tf.Tensor3D);
    const probs = tf.tidy(() => tf.squeeze(model.predict(tf.expandDims(image!, 0)) as tf.Tensor2D, [0]));
    const values = Array.from(await probs.data());
    probs.dispose();
    const order = values.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 5);
    chosenClass = order[0]![1];
    const list = $('classes');
    list.innerHTML = '';
    for (const [p, i] of order) {
      const li = document.createElement('li');
      li.textContent = `${labels[i] ?? `class ${i}`}: ${(p * 100).toFixed(1)}%`;
      li.dataset['index'] = String(i);
      if (i === chosenClass) li.className = 'chosen';
      li.onclick = () => {
        chosenClass = i;
        for (const el of Array.from(list.children)) el.classList.toggle('chosen', el === li);
        void explain();
      };
      list.appendChild(li);
    }
  };

  const loadUrl = (url: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => void showImage(img).then(resolve, reject);
      img.onerror = () => reject(new Error(`cannot load ${url}`));
      img.src = url;
    });

  const explain = async (): Promise<void> => {
    if (image === null) return;
    const name = method.value as CamMethodName;
    status(`Explaining class ${chosenClass} with ${name} on ${backend}…`);
    try {
      const cam = CAM_METHODS[name](model, image, {
        target: chosenClass,
        ...(layer.value ? { layer: layer.value } : {}),
        validate: false,
      });
      const painted = overlay(image, cam.heatmap, { alpha: Number($<HTMLInputElement>('alpha').value) });
      await tf.browser.toPixels(painted as tf.Tensor3D, overlayCanvas);
      $('caption').textContent = `${name} at ${cam.layer}, class ${labels[chosenClass] ?? chosenClass}`;
      window.tfcamLast = { classIndex: chosenClass, layer: cam.layer, method: name, backend };
      tf.dispose([cam, painted]);
      status(`Done on ${backend}. Click a class to explain it.`);
    } catch (e) {
      window.tfcamLast = { error: e instanceof Error ? e.message : String(e) };
      status(`Error: ${window.tfcamLast.error}`);
    }
  };

  $<HTMLInputElement>('file').onchange = (ev) => {
    const file = (ev.target as HTMLInputElement).files?.[0];
    if (file) void loadUrl(URL.createObjectURL(file)).then(explain);
  };
  sampleSelect.onchange = () => void loadUrl(`/images/${sampleSelect.value}`).then(explain);
  $('explain').onclick = () => void explain();
  $<HTMLInputElement>('alpha').oninput = () => void explain();
  method.onchange = () => void explain();
  layer.onchange = () => void explain();

  if (samples.length > 0) await loadUrl(`/images/${samples[0]!.file}`);
  status(`Ready on ${backend}: ${model.name}, input ${width}x${height}.`);
}

window.tfcamReady = main().catch((e: unknown) => {
  status(`Error: ${e instanceof Error ? e.message : String(e)}`);
  throw e;
});
