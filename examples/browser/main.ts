/**
 * tfcam browser example: an explainer you can point at an image, a camera or a video.
 *
 * - Image: pick a sample, choose a file or drop one on the page; see the original, the heatmap and
 *   the overlay side by side with the model's top classes (which come from the same call as the
 *   map: `result.output`); click a class to explain it.
 * - Compare: every CAM method on the current image, in a grid, with its time.
 * - Live: a camera (getUserMedia) or a video file, every frame explained and painted as it plays
 *   (live.ts), with the frame rate; untick "Explain" to see the rate of prediction alone.
 * - Model: any model.json URL: a LayersModel, or a GraphModel (told apart by the file's `format`);
 *   the layer list comes from tfcam's `listLayers` (layer names, or graph node names).
 *
 * Runs on WebGL, falling back to wasm, then cpu (`useBackend` from tfcam/backend throws a
 * BackendError when a backend cannot start here). It imports only tfcam, tfjs and Vite's `?url`
 * imports of the wasm binaries, so it can be copied into any Vite app:
 * `npm install tfcam @tensorflow/tfjs @tensorflow/tfjs-backend-wasm`.
 */
import * as tf from '@tensorflow/tfjs';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import {
  applyColormap,
  CAM_METHODS,
  COLORMAP_NAMES,
  createExplainer,
  listLayers,
  overlay,
  type CamMethodName,
  type ColormapName,
  type Explainer,
  type ExplainerCam,
} from 'tfcam';
import { BackendError, useBackend, type BackendName, type UseBackendOptions } from 'tfcam/backend';
import { LiveSession, centreSquare, toModelRange, type LiveStats, type PixelRange } from './live.ts';

// ?model=/path/to/model.json explains another model.
const DEFAULT_MODEL = new URLSearchParams(location.search).get('model') ?? '/models/shapes/model.json';
const SAMPLES_URL = '/images/shapes.json';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const status = (text: string, error = false): void => {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
};
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

interface Sample {
  file: string;
  class?: string;
}

/** What the automated test reads (window.tfcamLive.state()). */
interface LiveProbe {
  state(): LiveStats & { numTensors: number; mode: 'explain' | 'predict' | 'stopped' };
}

declare global {
  interface Window {
    /** For the automated tests: resolves once the page can explain. */
    tfcamReady: Promise<void>;
    /** For the automated tests: the last explanation, or an error message. */
    tfcamLast?: { classIndex: number; layer: string; method: string; backend: string } | { error: string };
    /** For the automated tests: the live session's counters and the tensor count. */
    tfcamLive: LiveProbe;
    /** For the automated tests: the methods of the last comparison and their times. */
    tfcamCompare?: Array<{ method: string; ms: number } | { method: string; error: string }>;
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

type AnyModel = tf.LayersModel | tf.GraphModel;
type ExplainableArg = Parameters<typeof createExplainer>[0];

/** A loaded model with what the page needs to know about it. */
interface Loaded {
  model: AnyModel;
  kind: 'layers' | 'graph';
  url: string;
  size: [number, number];
  labels: string[];
  layers: string[];
  /** The pixel range from the model's metadata.json (`input.range`), if it says. */
  range: PixelRange | null;
  explainer: Explainer;
}

/**
 * Loads a model.json: the `format` field tells a GraphModel ('graph-model', from the TensorFlow
 * converter) from a LayersModel ('layers-model', or older files with a Keras `modelTopology`).
 */
async function loadModel(url: string): Promise<Omit<Loaded, 'explainer'>> {
  const json = (await fetch(url).then((r) => {
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r.json();
  })) as { format?: string; modelTopology?: { node?: unknown } };
  const graph = json.format === 'graph-model' || (json.format === undefined && Array.isArray(json.modelTopology?.node));
  const model: AnyModel = graph ? await tf.loadGraphModel(url) : await tf.loadLayersModel(url);
  const shape = (model.inputs[0]?.shape ?? []) as Array<number | null>;
  const dim = (d: number | null | undefined): number => (typeof d === 'number' && d > 0 ? d : 224);
  const meta = (await fetch(url.replace(/model\.json(\?.*)?$/, 'metadata.json'))
    .then((r) => (r.ok ? r.json() : {}))
    .catch(() => ({}))) as { classes?: string[]; labels?: string[]; input?: { range?: number[] } };
  const labels = meta.classes ?? meta.labels ?? [];
  const r = meta.input?.range;
  const range: PixelRange | null = r === undefined ? null : r[0] === -1 ? '-1-1' : r[1] === 255 ? '0-255' : '0-1';
  // The layers (or graph nodes) a map can be made at: rank 4, more than one position.
  const layers = listLayers(model as ExplainableArg)
    .filter((l) => l.shape === null || typeof l.shape[1] !== 'number' || l.shape[1] > 1)
    .map((l) => l.name);
  return { model, kind: graph ? 'graph' : 'layers', url, size: [dim(shape[1]), dim(shape[2])], labels, layers, range };
}

async function main(): Promise<void> {
  const backend = await pickBackend();
  const samples: Sample[] = await fetch(SAMPLES_URL)
    .then((r) => (r.ok ? r.json() : {}))
    .then((j: { images?: Sample[] }) => j.images ?? [])
    .catch(() => []);

  const methodSelect = $<HTMLSelectElement>('method');
  for (const name of Object.keys(CAM_METHODS)) methodSelect.add(new Option(name, name));
  const colormapSelect = $<HTMLSelectElement>('colormap');
  for (const name of COLORMAP_NAMES) colormapSelect.add(new Option(name, name));
  const layerSelect = $<HTMLSelectElement>('layer');
  const rangeSelect = $<HTMLSelectElement>('range');
  const sampleSelect = $<HTMLSelectElement>('sample');
  for (const s of samples) sampleSelect.add(new Option(s.class ? `${s.file} (${s.class})` : s.file, s.file));
  const modelUrl = $<HTMLInputElement>('model-url');
  modelUrl.value = DEFAULT_MODEL;

  const views = ['input', 'heatmap', 'overlay'].map((id) => $<HTMLCanvasElement>(id));
  let loaded: Loaded | null = null;
  /** The current image, float32 [H, W, 3] 0..255 at the model's input size. */
  let image: tf.Tensor3D | null = null;
  let chosenClass: number | null = null;
  let live: LiveSession | null = null;
  let stream: MediaStream | null = null;
  let videoUrl: string | null = null;

  const settings = () => ({
    method: methodSelect.value as CamMethodName,
    layer: layerSelect.value,
    alpha: Number($<HTMLInputElement>('alpha').value),
    colormap: colormapSelect.value as ColormapName,
    range: rangeSelect.value as PixelRange,
  });
  const label = (i: number): string => loaded?.labels[i] ?? `class ${i}`;
  const camOptions = (target: number | null) => ({
    validate: false,
    ...(settings().layer === '' ? {} : { layer: settings().layer }),
    ...(target === null ? {} : { target }),
  });
  const bound = (name: CamMethodName): ExplainerCam => (loaded as Loaded).explainer[name] as ExplainerCam;

  const useModel = async (url: string): Promise<void> => {
    status(`Loading ${url}…`);
    const next = await loadModel(url);
    await stopLive();
    let explainer: Explainer;
    try {
      explainer = createExplainer(next.model as ExplainableArg);
    } catch (e) {
      next.model.dispose();
      throw e;
    }
    if (loaded !== null) {
      loaded.explainer.dispose();
      loaded.model.dispose();
    }
    loaded = { ...next, explainer };
    if (next.range !== null) rangeSelect.value = next.range;
    for (const v of views) {
      v.height = next.size[0];
      v.width = next.size[1];
    }
    layerSelect.innerHTML = '';
    layerSelect.add(new Option('(automatic)', ''));
    for (const l of next.layers) layerSelect.add(new Option(l, l));
    $('model-info').textContent =
      `${next.kind === 'graph' ? 'GraphModel' : 'LayersModel'}, input ${next.size[0]}×${next.size[1]}, ${next.labels.length || 'unnamed'} classes, on ${backend}`;
    if (image !== null) {
      const previous = image;
      image = tf.tidy(() => tf.image.resizeBilinear(previous, next.size, false, true));
      previous.dispose();
    }
  };

  /** Shows `source` as the current image (resized to the model's input) and explains it. */
  const showImage = async (source: HTMLImageElement): Promise<void> => {
    if (loaded === null) return;
    const size = loaded.size;
    const next = tf.tidy(() => centreSquare(tf.browser.fromPixels(source), size));
    image?.dispose();
    image = next;
    chosenClass = null;
    const pixels = tf.cast(next, 'int32') as tf.Tensor3D;
    await tf.browser.toPixels(pixels, views[0] as HTMLCanvasElement);
    pixels.dispose();
    await explain();
  };

  const loadImageUrl = (url: string): Promise<HTMLImageElement> =>
    new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(`cannot load ${url}`));
      img.src = url;
    });

  const showClasses = (probs: Float32Array | Int32Array | Uint8Array, explained: number): void => {
    const order = Array.from(probs, (p, i) => [p, i] as const)
      .sort((a, b) => b[0] - a[0])
      .slice(0, 5);
    const list = $('classes');
    list.innerHTML = '';
    for (const [p, i] of order) {
      const li = document.createElement('li');
      li.innerHTML = `<span></span><div class="bar"></div>`;
      (li.firstChild as HTMLElement).textContent = `${label(i)} · ${(p * 100).toFixed(1)}%`;
      (li.lastChild as HTMLElement).style.width = `${Math.max(2, p * 100)}%`;
      li.dataset['index'] = String(i);
      if (i === explained) li.className = 'chosen';
      li.onclick = () => {
        chosenClass = i;
        void explain();
      };
      list.appendChild(li);
    }
  };

  /** One call gives the map and the prediction: no separate model.predict. */
  const explain = async (): Promise<void> => {
    if (image === null || loaded === null) return;
    const name = settings().method;
    status(`Explaining with ${name} on ${backend}…`);
    try {
      const input = tf.tidy(() => toModelRange(image as tf.Tensor3D, settings().range)) as tf.Tensor3D;
      const t0 = performance.now();
      const cam = bound(name)(input, camOptions(chosenClass));
      const painted = tf.tidy(() => [
        applyColormap(cam.heatmap, settings().colormap),
        overlay(image as tf.Tensor3D, cam.heatmap, {
          alpha: settings().alpha,
          colormap: settings().colormap,
          imageRange: '0-255',
          validate: false,
        }),
      ]);
      await tf.browser.toPixels(painted[0] as tf.Tensor3D, views[1] as HTMLCanvasElement);
      await tf.browser.toPixels(painted[1] as tf.Tensor3D, views[2] as HTMLCanvasElement);
      const [probs, classIndex] = await Promise.all([cam.output.data(), cam.classIndex.data()]);
      const ms = performance.now() - t0;
      const explained = classIndex[0] ?? -1;
      showClasses(probs, explained);
      $('caption').textContent = `${name} at ${cam.layer}, ${label(explained)} · ${ms.toFixed(0)} ms`;
      window.tfcamLast = { classIndex: explained, layer: cam.layer, method: name, backend };
      tf.dispose([cam, input, ...painted]);
      status(`Done on ${backend}. Click a class to explain it, or compare all methods.`);
    } catch (e) {
      window.tfcamLast = { error: message(e) };
      status(`Error: ${message(e)}`, true);
    }
  };

  /** Every method on the current image, one after another (the page stays responsive between them). */
  const compare = async (): Promise<void> => {
    if (image === null || loaded === null) return;
    const grid = $('grid');
    grid.innerHTML = '';
    const report: NonNullable<Window['tfcamCompare']> = [];
    const input = tf.tidy(() => toModelRange(image as tf.Tensor3D, settings().range)) as tf.Tensor3D;
    $('compare-caption').textContent = `on the current image, ${chosenClass === null ? 'its predicted class' : label(chosenClass)}`;
    for (const name of Object.keys(CAM_METHODS) as CamMethodName[]) {
      const figure = document.createElement('figure');
      const canvas = document.createElement('canvas');
      const caption = document.createElement('figcaption');
      [canvas.height, canvas.width] = loaded.size;
      caption.textContent = `${name} …`;
      figure.append(canvas, caption);
      grid.appendChild(figure);
      status(`Comparing: ${name}…`);
      await tf.nextFrame();
      try {
        const t0 = performance.now();
        const cam = bound(name)(input, camOptions(chosenClass));
        const painted = overlay(image, cam.heatmap, {
          alpha: settings().alpha,
          colormap: settings().colormap,
          imageRange: '0-255',
          validate: false,
        });
        await tf.browser.toPixels(painted, canvas);
        const ms = performance.now() - t0;
        caption.textContent = `${name} · ${ms.toFixed(0)} ms`;
        report.push({ method: name, ms });
        tf.dispose([cam, painted]);
      } catch (e) {
        caption.textContent = `${name}: ${message(e)}`;
        report.push({ method: name, error: message(e) });
      }
    }
    input.dispose();
    window.tfcamCompare = report;
    status(`Compared ${report.length} methods on ${backend}.`);
  };

  // ---- Live -----------------------------------------------------------------------------------
  const video = $<HTMLVideoElement>('video');
  const liveExplain = $<HTMLInputElement>('live-explain');
  const showLive = (s: Readonly<LiveStats>): void => {
    $('live-fps').textContent = s.fps.toFixed(1);
    $('live-latency').textContent = `${s.latencyMs.toFixed(0)} ms`;
    $('live-frames').textContent = String(s.frames);
    $('live-dropped').textContent = String(s.dropped);
    $('live-label').textContent = s.classIndex < 0 ? '–' : `${label(s.classIndex)} · ${(s.probability * 100).toFixed(0)}%`;
  };

  async function stopLive(): Promise<void> {
    const session = live;
    live = null;
    if (session !== null) await session.stop();
    for (const track of stream?.getTracks() ?? []) track.stop();
    stream = null;
    video.pause();
    video.srcObject = null;
    video.removeAttribute('src');
    if (videoUrl !== null) URL.revokeObjectURL(videoUrl);
    videoUrl = null;
    $('live-mode').textContent = 'stopped';
    $<HTMLButtonElement>('live-stop').disabled = true;
  }

  const startLive = async (source: { stream: MediaStream } | { file: File }): Promise<void> => {
    if (loaded === null) return;
    await stopLive();
    if ('stream' in source) {
      stream = source.stream;
      video.srcObject = stream;
    } else {
      videoUrl = URL.createObjectURL(source.file);
      video.src = videoUrl;
      video.loop = true;
    }
    await video.play();
    const model = loaded.model;
    const predict = (x: tf.Tensor4D): tf.Tensor => {
      const out = model.predict(x) as tf.Tensor | tf.Tensor[];
      return Array.isArray(out) ? (out[0] as tf.Tensor) : out;
    };
    // Its own explainer: stop() disposes it with everything else the session made.
    const explainer = createExplainer(model as ExplainableArg);
    live = new LiveSession(
      video,
      $<HTMLCanvasElement>('live'),
      explainer,
      predict,
      loaded.size,
      settings().range,
      () => ({ ...settings(), explain: liveExplain.checked }),
      showLive,
    );
    live.start();
    $('live-mode').textContent = liveExplain.checked ? `explain (${settings().method})` : 'predict only';
    $<HTMLButtonElement>('live-stop').disabled = false;
    status(`Live on ${backend}: ${liveExplain.checked ? settings().method : 'predict only'}.`);
  };

  window.tfcamLive = {
    state: () => ({
      ...(live?.current() ?? { running: false, frames: 0, dropped: 0, fps: 0, latencyMs: 0, classIndex: -1, probability: 0 }),
      numTensors: tf.memory().numTensors,
      mode: live === null ? 'stopped' : liveExplain.checked ? 'explain' : 'predict',
    }),
  };

  $('camera-start').onclick = () =>
    void navigator.mediaDevices
      .getUserMedia({ video: { width: 640, height: 480 }, audio: false })
      .then((s) => startLive({ stream: s }))
      .catch((e: unknown) => status(`Camera: ${message(e)}`, true));
  $<HTMLInputElement>('video-file').onchange = (ev) => {
    const file = (ev.target as HTMLInputElement).files?.[0];
    if (file) void startLive({ file }).catch((e: unknown) => status(`Video: ${message(e)}`, true));
  };
  $('live-stop').onclick = () => void stopLive().then(() => status(`Stopped. ${tf.memory().numTensors} tensors alive.`));
  liveExplain.onchange = () => {
    live?.resetStats();
    $('live-mode').textContent = liveExplain.checked ? `explain (${settings().method})` : 'predict only';
  };

  // ---- Image sources and controls ---------------------------------------------------------------
  const openImage = (url: string): Promise<void> =>
    loadImageUrl(url)
      .then(showImage)
      .catch((e: unknown) => status(`Error: ${message(e)}`, true));
  $<HTMLInputElement>('file').onchange = (ev) => {
    const file = (ev.target as HTMLInputElement).files?.[0];
    if (file) void openImage(URL.createObjectURL(file));
  };
  sampleSelect.onchange = () => void openImage(`/images/${sampleSelect.value}`);
  document.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', (ev) => {
    if (ev.relatedTarget === null) document.body.classList.remove('dragging');
  });
  document.addEventListener('drop', (ev) => {
    ev.preventDefault();
    document.body.classList.remove('dragging');
    const file = Array.from(ev.dataTransfer?.files ?? []).find((f) => f.type.startsWith('image/'));
    if (file) void openImage(URL.createObjectURL(file));
  });
  $('explain').onclick = () => void explain();
  $('compare').onclick = () => void compare();
  for (const id of ['alpha', 'method', 'layer', 'colormap']) $(id).addEventListener('change', () => void explain());
  $('load-model').onclick = () =>
    void useModel(modelUrl.value.trim())
      .then(explain)
      .catch((e: unknown) => status(`Model: ${message(e)}`, true));

  await useModel(DEFAULT_MODEL);
  if (samples.length > 0) await openImage(`/images/${samples[0]!.file}`);
  status(`Ready on ${backend}: drop an image, start the camera, or compare all methods.`);
}

window.tfcamReady = main().catch((e: unknown) => {
  status(`Error: ${message(e)}`, true);
  throw e;
});
