/**
 * Evaluates tfcam's explanation methods on the shapes CNN (models/shapes) and held-out synthetic
 * images with known object boxes, and writes docs/evaluation.md.
 *
 *   npm run eval -- [--backend wasm|cpu] [--images 400] [--curve-images 100] [--road-images 50]
 *                   [--steps 16] [--sanity-images 32] [--methods gradCam,hiResCam]
 *                   [--out docs/evaluation.md] [--chart docs/images/evaluation.png]
 *
 * Per method: pointing game and energy in the box (against a centre-prior, a random map, RandomCAM
 * and the Sobel edge map), Average Drop and Increase in Confidence, deletion and insertion AUC,
 * ROAD (combined, pytorch-grad-cam's), and the cascading model-parameter randomisation test
 * (Spearman rank correlation with the original map as the network is randomised from the top).
 * Every method explains the true class of each image. Adding a method is one line in METHODS. The
 * localisation and ROAD numbers are also drawn as a bar chart (PNG, scripts/chart.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import * as tfcam from '../src/index.js';
import {
  averageDrop,
  centerPrior,
  deletion,
  energyInBox,
  increaseInConfidence,
  insertion,
  pointingGame,
  road,
  sanityCheck,
  sobelCam,
} from '../src/metrics/index.js';
import { barChart } from './chart.js';
import { loadLayersModelFromFile } from './load-model.js';
import { SHAPE_CLASSES, SPLIT_SEEDS, generateShapes } from './shapes/dataset.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    images: { type: 'string', default: '400' },
    'curve-images': { type: 'string', default: '100' },
    'road-images': { type: 'string', default: '50' },
    steps: { type: 'string', default: '16' },
    'sanity-images': { type: 'string', default: '32' },
    methods: { type: 'string' },
    model: { type: 'string', default: join(root, 'models', 'shapes', 'model.json') },
    out: { type: 'string', default: join(root, 'docs', 'evaluation.md') },
    chart: { type: 'string', default: join(root, 'docs', 'images', 'evaluation.png') },
  },
});

/** What every evaluated method returns: `[B,H,W]` maps in [0, 1] and the explained class. */
interface Explanation {
  heatmap: tf.Tensor;
  classIndex?: tf.Tensor;
}
type Explain = (model: LayersModel, input: tf.Tensor4D, options?: Record<string, unknown>) => Explanation;

interface MethodEntry {
  name: string;
  fn: Explain;
  /** Takes the `layer` option (CAM methods); pixel-gradient methods do not. */
  usesLayer: boolean;
  /** The `layer` option when it is not the default layer of the CNN methods (`relu4`). */
  layer?: unknown;
  /** Options the method always gets (e.g. a seed). */
  extra?: Record<string, unknown>;
  /** Not a method: a fixed map, shown for comparison (no sanity check). */
  baseline?: boolean;
}

/** A CAM method of tfcam's public API, looked up by name (absent names are skipped). */
function cam(name: string, more: Partial<MethodEntry> = {}): MethodEntry | null {
  const fn = (tfcam as unknown as Record<string, unknown>)[name];
  return typeof fn === 'function' ? { name, fn: fn as Explain, usesLayer: true, ...more } : null;
}

/** The options a method gets for `target` (the CNN methods' layer is `relu4`). */
function optionsFor(entry: MethodEntry, target: number[]): Record<string, unknown> {
  return { target, ...(entry.usesLayer ? { layer: entry.layer ?? 'relu4' } : {}), ...(entry.extra ?? {}) };
}

/** A pixel-space method (guided backprop): the map is |gradients| summed over channels, min-max normalised. */
function pixelMethod(name: string, usesLayer: boolean): MethodEntry | null {
  const fn = (tfcam as unknown as Record<string, unknown>)[name];
  if (typeof fn !== 'function') return null;
  const explain = fn as (m: LayersModel, x: tf.Tensor4D, o: object) => { gradients: tf.Tensor4D; classIndex: tf.Tensor1D };
  return {
    name,
    usesLayer,
    fn: (model, input, options) =>
      tf.tidy(() => {
        const r = explain(model, input, options ?? {});
        return { heatmap: tfcam.normalizeMaps(tf.sum(tf.abs(r.gradients), -1)), classIndex: r.classIndex };
      }),
  };
}

/** The evaluated methods, in table order: adding one is one line. */
const METHODS: MethodEntry[] = [
  cam('gradCam'),
  cam('gradCamPlusPlus'),
  cam('hiResCam'),
  cam('gradCamElementWise'),
  cam('xGradCam'),
  cam('layerCam'),
  cam('scoreCam'),
  cam('ablationCam'),
  cam('eigenCam'),
  cam('eigenGradCam'),
  cam('kpcaCam'),
  cam('fem'),
  cam('segEigenCam'),
  cam('shapleyCam'),
  cam('finerCam'),
  cam('refineCam', { layer: ['relu2', 'relu3', 'relu4'] }),
  cam('fullGrad', { usesLayer: false }),
  pixelMethod('guidedGradCam', true),
  pixelMethod('guidedBackprop', false),
].filter((m): m is MethodEntry => m !== null);

const BASELINES: MethodEntry[] = [
  {
    name: 'centre prior',
    baseline: true,
    usesLayer: false,
    fn: (_model, input) => ({ heatmap: centerPrior(input.shape[1], input.shape[2], { batch: input.shape[0] }) }),
  },
  {
    name: 'random map',
    baseline: true,
    usesLayer: false,
    fn: (_model, input) => ({ heatmap: tf.randomUniform([input.shape[0], input.shape[1], input.shape[2]], 0, 1, 'float32', 12345) }),
  },
  ...[cam('randomCam', { baseline: true, extra: { seed: 7 } })].filter((m): m is MethodEntry => m !== null),
  { name: 'sobelCam', baseline: true, usesLayer: false, fn: (_model, input) => ({ heatmap: sobelCam(input) }) },
];

interface Row {
  name: string;
  baseline: boolean;
  pointing: number;
  energy: number;
  drop: number;
  increase: number;
  deletion: number;
  insertion: number;
  /** pytorch-grad-cam's ROADCombined (percentiles 10..90, softmax probability), mean. */
  road: number;
  msPerImage: number;
}

const mean = (t: tf.Tensor): number => tf.tidy(() => tf.mean(t).dataSync()[0] as number);

function evaluate(
  entry: MethodEntry,
  model: LayersModel,
  images: tf.Tensor4D,
  labels: number[],
  boxes: Array<[number, number, number, number]>,
  curveImages: number,
  roadImages: number,
  steps: number,
): Row {
  const chunk = 50;
  const sums = { pointing: 0, energy: 0, drop: 0, increase: 0, deletion: 0, insertion: 0, road: 0 };
  let ms = 0;
  const n = images.shape[0];
  for (let start = 0; start < n; start += chunk) {
    const size = Math.min(chunk, n - start);
    const target = labels.slice(start, start + size);
    tf.tidy(() => {
      const x = tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1]) as tf.Tensor4D;
      const options = optionsFor(entry, target);
      const t0 = performance.now();
      const r = entry.fn(model, x, options);
      const heatmap = r.heatmap as tf.Tensor3D;
      heatmap.dataSync();
      ms += performance.now() - t0;
      const b = boxes.slice(start, start + size);
      sums.pointing += mean(pointingGame(heatmap, b)) * size;
      sums.energy += mean(energyInBox(heatmap, b)) * size;
      sums.drop += mean(averageDrop(model, x, heatmap, { target })) * size;
      sums.increase += mean(increaseInConfidence(model, x, heatmap, { target })) * size;
      const curveCount = Math.max(0, Math.min(size, curveImages - start));
      if (curveCount > 0) {
        const cx = tf.slice(x, [0, 0, 0, 0], [curveCount, -1, -1, -1]) as tf.Tensor4D;
        const cm = tf.slice(heatmap, [0, 0, 0], [curveCount, -1, -1]) as tf.Tensor3D;
        const ct = target.slice(0, curveCount);
        sums.deletion += mean(deletion(model, cx, cm, { target: ct, steps, batchSize: 136 }).auc) * curveCount;
        sums.insertion += mean(insertion(model, cx, cm, { target: ct, steps, batchSize: 136 }).auc) * curveCount;
      }
      const roadCount = Math.max(0, Math.min(size, roadImages - start));
      if (roadCount > 0) {
        const rx = tf.slice(x, [0, 0, 0, 0], [roadCount, -1, -1, -1]) as tf.Tensor4D;
        const rm = tf.slice(heatmap, [0, 0, 0], [roadCount, -1, -1]) as tf.Tensor3D;
        sums.road += mean(road(model, rx, rm, { target: target.slice(0, roadCount), softmax: true, batchSize: 144 }).combined) * roadCount;
      }
    });
  }
  const curveN = Math.min(n, curveImages);
  const roadN = Math.min(n, roadImages);
  return {
    name: entry.name,
    baseline: entry.baseline === true,
    pointing: sums.pointing / n,
    energy: sums.energy / n,
    drop: (100 * sums.drop) / n,
    increase: (100 * sums.increase) / n,
    deletion: sums.deletion / curveN,
    insertion: sums.insertion / curveN,
    road: sums.road / roadN,
    msPerImage: ms / n,
  };
}

const SANITY_GROUPS: Array<{ label: string; layers: string[] }> = [
  { label: 'predictions', layers: ['predictions'] },
  { label: '+ block 4', layers: ['bn4', 'conv4'] },
  { label: '+ block 3', layers: ['bn3', 'conv3'] },
  { label: '+ block 2', layers: ['bn2', 'conv2'] },
  { label: '+ block 1', layers: ['bn1', 'conv1'] },
];

async function main(): Promise<void> {
  const backend = values.backend as string;
  if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend)
    throw new Error(`backend '${backend}' is not available (use wasm or cpu)`);
  const nImages = Number(values.images);
  const curveImages = Number(values['curve-images']);
  const roadImages = Number(values['road-images']);
  const steps = Number(values.steps);
  const sanityImages = Number(values['sanity-images']);
  const only = values.methods?.split(',').map((s) => s.trim());
  const methods = only ? METHODS.filter((m) => only.includes(m.name)) : METHODS;

  const model = await loadLayersModelFromFile(resolve(values.model as string));
  const data = generateShapes(nImages, SPLIT_SEEDS.eval);
  const images = tf.tensor4d(data.images, [data.count, data.size, data.size, 3]);
  const labels = Array.from(data.labels);
  const accuracy = tf.tidy(() => {
    const pred = tf.argMax(model.predict(images, { batchSize: 100 }) as tf.Tensor, 1);
    return mean(tf.cast(tf.equal(pred, tf.tensor1d(labels, 'int32')), 'float32'));
  });
  console.log(`model accuracy on ${nImages} held-out images: ${(100 * accuracy).toFixed(1)}% (${tf.getBackend()})`);

  const rows: Row[] = [];
  for (const entry of [...methods, ...BASELINES]) {
    const t0 = performance.now();
    const row = evaluate(entry, model, images, labels, data.boxes, curveImages, roadImages, steps);
    rows.push(row);
    console.log(
      `${entry.name.padEnd(18)} pointing ${row.pointing.toFixed(3)}  energy ${row.energy.toFixed(3)}  drop ${row.drop.toFixed(1)}%  ` +
        `increase ${row.increase.toFixed(1)}%  del ${row.deletion.toFixed(3)}  ins ${row.insertion.toFixed(3)}  road ${row.road.toFixed(3)}  (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
    );
  }

  const sanityInput = tf.slice(images, [0, 0, 0, 0], [sanityImages, -1, -1, -1]) as tf.Tensor4D;
  const sanityTarget = labels.slice(0, sanityImages);
  const sanity: Array<{ name: string; spearman: number[]; ssim: number[] }> = [];
  for (const entry of methods) {
    const options = optionsFor(entry, sanityTarget);
    const report = sanityCheck(model, sanityInput, entry.fn, { methodOptions: options, layers: SANITY_GROUPS.map((g) => g.layers) });
    sanity.push({ name: entry.name, spearman: report.steps.map((s) => s.spearman), ssim: report.steps.map((s) => s.ssim) });
    console.log(`sanity ${entry.name.padEnd(18)} spearman ${report.steps.map((s) => s.spearman.toFixed(3)).join(' ')}`);
  }

  const f3 = (v: number): string => v.toFixed(3);
  const f1 = (v: number): string => v.toFixed(1);
  const centre = rows.find((r) => r.name === 'centre prior');
  const lines: string[] = [];
  lines.push(
    '# Evaluation on the shapes data set',
    '',
    '<!-- Written by `npm run eval` (scripts/eval.ts). Do not edit by hand. -->',
    '',
    `tfcam's methods explaining the shapes CNN (\`models/shapes\`, ${model.countParams().toLocaleString('en-US')} parameters,` +
      ` trained by \`npm run train:shapes\`) on ${nImages} held-out synthetic images (\`scripts/shapes/dataset.ts\`, seed` +
      ` ${SPLIT_SEEDS.eval}): one shape (${SHAPE_CLASSES.join(', ')}) per 64x64 image on a cluttered background, with its` +
      ' bounding box known. Every method explains the true class at the default layer of the CNN methods (`relu4`, 8x8).',
    '',
    `**Model accuracy on these images: ${(100 * accuracy).toFixed(1)}%.** Backend: \`${tf.getBackend()}\`.`,
    '',
    '## Localisation and faithfulness',
    '',
    '| Method | Pointing game ↑ | Energy in box ↑ | Average drop % ↓ | Increase in confidence % ↑ | Deletion AUC ↓ | Insertion AUC ↑ | ROAD ↑ | ms / image † |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of rows) {
    const name = r.baseline ? `*${r.name}* (baseline)` : `\`${r.name}\``;
    lines.push(
      `| ${name} | ${f3(r.pointing)} | ${f3(r.energy)} | ${f1(r.drop)} | ${f1(r.increase)} | ${f3(r.deletion)} | ${f3(r.insertion)} | ${f3(r.road)} | ${r.baseline ? '' : f1(r.msPerImage)} |`,
    );
  }
  lines.push(
    '',
    `- **Pointing game** (Zhang et al. 2016): share of images whose map maximum lies in the object box (tolerance 0).` +
      (centre ? ` The centre prior scores ${f3(centre.pointing)}: objects are placed uniformly at random.` : ''),
    "- **Energy in box** (Score-CAM, Wang et al. 2020): share of the map's mass inside the box.",
    '- **Average drop / Increase in confidence** (Chattopadhay et al. 2018): the softmax probability of the class on `image * map` vs the image.',
    `- **Deletion / insertion AUC** (Petsiuk et al. 2018): probability of the class while the most salient pixels are removed (to zero) or revealed (from a blur, sigma 5), ${steps} steps, on the first ${Math.min(curveImages, nImages)} images.`,
    `- **ROAD** (Rong et al. 2022, pytorch-grad-cam's \`ROADCombined\`): \`(mean LeRF - mean MoRF) / 2\` over percentiles 10..90 of the change of the class probability when the most (MoRF) or least (LeRF) relevant pixels are removed and filled by noisy linear imputation (noise 0.01, seed 0), on the first ${Math.min(roadImages, nImages)} images. Higher is better.`,
    '- Guided methods give pixel-level gradients; their map is `|gradients|` summed over channels and min-max normalised.',
    '- `refineCam` multiplies Grad-CAM++ maps of `relu2`, `relu3` and `relu4`; `fullGrad` uses every biased layer (no target layer); `finerCam` contrasts the class with the three closest; `randomCam` (seed 7) and `sobelCam` (edges of the image) are baselines that know nothing of the class.',
    `- † Time to compute the maps, batches of 50, on ${tf.getBackend()} in Node on the machine that ran the evaluation (indicative only).`,
    '',
    `![Pointing game, energy in the box and ROAD of every method (bars), baselines in grey](${relative(
      dirname(resolve(values.out as string)),
      resolve(values.chart as string),
    )
      .split('\\')
      .join('/')})`,
    '',
    '## Sanity check: cascading model-parameter randomisation',
    '',
    `Spearman rank correlation between each method's map and its map after randomising the network from the top` +
      ` (Adebayo et al. 2018), mean over ${sanityImages} images; \`sanityCheck\` with seed 0, weights redrawn from a truncated normal matched to each weight tensor's mean and spread.` +
      ' A method that explains the model should lose its correlation as layers are randomised.',
    '',
    `| Method | none | ${SANITY_GROUPS.map((g) => g.label).join(' | ')} |`,
    `|---|---:|${SANITY_GROUPS.map(() => '---:').join('|')}|`,
  );
  for (const s of sanity) lines.push(`| \`${s.name}\` | 1.000 | ${s.spearman.map(f3).join(' | ')} |`);
  lines.push(
    '',
    'SSIM between the original and the randomised maps:',
    '',
    `| Method | ${SANITY_GROUPS.map((g) => g.label).join(' | ')} |`,
    `|---|${SANITY_GROUPS.map(() => '---:').join('|')}|`,
  );
  for (const s of sanity) lines.push(`| \`${s.name}\` | ${s.ssim.map(f3).join(' | ')} |`);
  // Reading notes computed from the numbers above (so they stay true when the numbers change).
  const byName = new Map(rows.map((r) => [r.name, r]));
  const gc = byName.get('gradCam');
  const notes: string[] = [];
  if (gc && centre) {
    notes.push(
      `- Grad-CAM's maximum falls on the object in ${(100 * gc.pointing).toFixed(1)}% of the images, against ${(100 * centre.pointing).toFixed(1)}% for the centre prior` +
        ` and ${(100 * (byName.get('random map')?.pointing ?? 0)).toFixed(1)}% for a random map.`,
    );
  }
  const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-4;
  const same = rows.filter(
    (r) =>
      !r.baseline &&
      r.name !== 'gradCam' &&
      gc !== undefined &&
      (['pointing', 'energy', 'drop', 'increase', 'deletion', 'insertion'] as const).every((k) => close(r[k], gc[k])),
  );
  if (same.length > 0) {
    notes.push(
      `- ${same.map((r) => `\`${r.name}\``).join(', ')} give${same.length === 1 ? 's' : ''} the same maps as Grad-CAM here: behind global average pooling and one dense layer,` +
        " dS/dA is the same at every position of the 8x8 grid, so HiResCAM's element-wise product and XGradCAM's activation-weighted" +
        " average reduce to Grad-CAM's channel weights" +
        (same.some((r) => r.name === 'shapleyCam')
          ? ", and Shapley-CAM's second-order term is zero (the explained logit is linear in the activations)."
          : '.'),
    );
  }
  const unmoved = sanity.filter((s) => (s.spearman[0] ?? 0) > 0.9).map((s) => `\`${s.name}\``);
  if (unmoved.length > 0) {
    notes.push(
      `- ${unmoved.join(', ')} keep${unmoved.length === 1 ? 's' : ''} a rank correlation above 0.9 when the classifier is randomised:` +
        ` ${unmoved.length === 1 ? 'its maps are' : 'their maps are'} driven by where activations are large, not by the class weights` +
        `${unmoved.includes('`eigenCam`') ? ' (EigenCAM, KPCA-CAM and FEM do not read the classifier at all)' : ''}.` +
        ' Adebayo et al. report the same insensitivity for guided backpropagation.',
    );
  }
  if (gc) {
    const g = sanity.find((s) => s.name === 'gradCam');
    if (g) {
      notes.push(
        `- Grad-CAM's correlation drops from 1 to ${f3(g.spearman[0] as number)} once the classifier is random and to ${f3(g.spearman[g.spearman.length - 1] as number)}` +
          ' with every layer random. In between it need not fall monotonically: random convolutions still respond to the one high-contrast object, so maps of a' +
          ' partly random network keep some overlap with the object.',
      );
    }
  }
  const drops = rows.filter((r) => !r.baseline).map((r) => r.drop);
  if (drops.length > 0 && centre) {
    notes.push(
      `- Average drop is high for every map (${f1(Math.min(...drops))}-${f1(Math.max(...drops))}%, centre prior ${f1(centre.drop)}%): \`image * map\` turns the background black,` +
        " which the model never saw in training. Compare methods with each other and with the baselines, not with the papers' ImageNet numbers.",
    );
  }
  const roads = rows.filter((r) => !r.baseline).map((r) => r.road);
  const baseRoads = rows.filter((r) => r.baseline).map((r) => r.road);
  if (roads.length > 0 && baseRoads.length > 0) {
    notes.push(
      `- ROAD separates the methods (${f3(Math.min(...roads))}-${f3(Math.max(...roads))}) from the baselines (${f3(Math.min(...baseRoads))}-${f3(Math.max(...baseRoads))}),` +
        ' but ranks the methods close together: on this one-object data set removing the object hurts the class whichever good map chose the pixels.',
    );
  }
  if (notes.length > 0) lines.push('', '## Reading the results', '', ...notes);
  lines.push(
    '',
    '## Reproduce',
    '',
    '```sh',
    `npm run eval -- --backend ${tf.getBackend()} --images ${nImages} --curve-images ${curveImages} --road-images ${roadImages} --steps ${steps} --sanity-images ${sanityImages}` +
      (only ? ` --methods ${methods.map((m) => m.name).join(',')}` : ''),
    '```',
    '',
    'Everything is seeded; numbers can differ in the last digits between backends.',
    '',
  );
  const chart = resolve(values.chart as string);
  mkdirSync(dirname(chart), { recursive: true });
  barChart(
    rows.map((r) => r.name),
    rows.map((r) => r.baseline),
    [
      { title: 'Pointing game ^', values: rows.map((r) => r.pointing), min: 0, max: 1 },
      { title: 'Energy in box ^', values: rows.map((r) => r.energy), min: 0, max: 1 },
      {
        title: 'ROAD combined ^',
        values: rows.map((r) => r.road),
        min: Math.min(0, ...rows.map((r) => r.road)),
        max: Math.max(0.05, ...rows.map((r) => r.road)),
        digits: 3,
      },
    ],
    chart,
  );
  console.log(`wrote ${relative(process.cwd(), chart)}`);
  const out = resolve(values.out as string);
  writeFileSync(out, lines.join('\n'));
  console.log(`wrote ${relative(process.cwd(), out)}`);
  tf.dispose([images, sanityInput]);
  model.dispose();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
