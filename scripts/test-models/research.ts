/**
 * Measurements behind docs/dev/graphmodel-research.md: how tfjs-converter 4.22 GraphModels can be
 * inspected, fed, differentiated and replayed, on real models (scripts/test-models/) and on the
 * code-built ones (test/helpers/graph-models.ts).
 *
 *   node --import tsx scripts/test-models/research.ts [cpu|wasm] [section...]
 *
 * Sections: inventory shapes feeds compile gradcam weights leaks (default: all). Prints plain text.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// Registers every gradient (tfjs-core's CommonJS build registers none by itself in Node).
import '@tensorflow/tfjs-layers';
import type * as tfc from '@tensorflow/tfjs-converter';
import { ancestors, buildGraphTestModel, cutFeeds, graphNodeDefs, type GraphNodeDef } from '../../test/helpers/graph-models.js';
import { loadTestGraphModel, testModelInputShape } from '../../test/helpers/graph-test-models.js';
import { TEST_MODEL_NAMES, TEST_MODELS, type TestModelName } from './models.js';

const backend = process.argv[2] ?? 'cpu';
const sections = new Set(process.argv.slice(3));
const want = (s: string): boolean => sections.size === 0 || sections.has(s);

const MN =
  'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/MobilenetV2';
const short = (s: string): string => s.replace(MN, '~MobilenetV2').replace('StatefulPartitionedCall/sequential/', '~seq/');

/** Mapped nodes of the executor (private: `model.executor.graph.nodes`). */
interface MappedNode {
  name: string;
  op: string;
  inputs: MappedNode[];
  children: MappedNode[];
  inputNames: string[];
  attrParams: Record<string, { value: unknown; type: string }>;
  rawAttrs?: Record<string, unknown>;
}
const mapped = (m: tfc.GraphModel): Record<string, MappedNode> =>
  (m as unknown as { executor: { graph: { nodes: Record<string, MappedNode> } } }).executor.graph.nodes;

function ms(t0: number): string {
  return `${(performance.now() - t0).toFixed(0)} ms`;
}

function time<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const r = f();
  return [r, performance.now() - t0];
}

function inputFor(name: TestModelName, batch = 1): tf.Tensor4D {
  return tf.randomUniform([batch, ...testModelInputShape(name)], 0, 1, 'float32', 7) as tf.Tensor4D;
}

/** Nodes in topological order (the GraphDef order of converted models is topological; checked). */
function topo(nodes: readonly GraphNodeDef[]): GraphNodeDef[] {
  const pos = new Map(nodes.map((n, i) => [n.name, i]));
  const ok = nodes.every((n, i) => (n.input ?? []).every((inp) => (pos.get(inp.replace(/^\^/, '').split(':')[0] as string) ?? -1) < i));
  if (!ok) throw new Error('GraphDef order is not topological');
  return [...nodes];
}

function histogram(xs: string[]): string {
  const h: Record<string, number> = {};
  for (const x of xs) h[x] = (h[x] ?? 0) + 1;
  return Object.entries(h)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

/** Kernels whose gradient comes from customGrad (not the registry) in tfjs-core 4.22. */
const CUSTOM_GRAD = new Set([
  'FusedConv2D',
  'FusedDepthwiseConv2D',
  '_FusedMatMul',
  'fusedConv2d__op',
  'fusedDepthwiseConv2d__op',
  'fusedMatMul__op',
]);

const models = new Map<TestModelName, tfc.GraphModel>();
async function model(name: TestModelName): Promise<tfc.GraphModel> {
  let m = models.get(name);
  if (m === undefined) {
    m = await loadTestGraphModel(name);
    models.set(name, m);
  }
  return m;
}

function candidates(nodes: readonly GraphNodeDef[]): string[] {
  return nodes.filter((n) => n.op !== 'Const' && !n.op.startsWith('Placeholder')).map((n) => n.name);
}

function outputNodeNames(m: tfc.GraphModel): string[] {
  // outputNodes may be signature keys (antispoof: 'activation_4'): map them back to node names.
  const sig = (m as unknown as { signature?: { outputs?: Record<string, { name: string }> } }).signature?.outputs ?? {};
  return m.outputNodes.map((o) => (sig[o]?.name ?? o).split(':')[0] as string);
}

// ---------------------------------------------------------------------------------------------

async function inventory(): Promise<void> {
  console.log(`\n## inventory (${backend})`);
  for (const name of TEST_MODEL_NAMES) {
    const m = await model(name);
    const nodes = graphNodeDefs(m);
    topo(nodes);
    const art = (m as unknown as { artifacts: tf.io.ModelArtifacts }).artifacts;
    const quant = histogram((art.weightSpecs ?? []).map((w) => w.quantization?.dtype ?? `plain ${w.dtype}`));
    const loaded = histogram(Object.values(m.weights).map((ts) => (ts[0] as tf.Tensor).dtype));
    const withShapes = nodes.filter((n) => n.attr?.['_output_shapes'] !== undefined).length;
    console.log(`- ${name}: ${nodes.length} nodes; ops: ${histogram(nodes.map((n) => n.op))}`);
    console.log(
      `  inputNodes ${JSON.stringify(m.inputNodes)} inputs ${JSON.stringify(m.inputs)} outputNodes ${JSON.stringify(m.outputNodes)}`,
    );
    console.log(
      `  weight specs: ${quant}; loaded weights: ${Object.keys(m.weights).length} tensors (${loaded}); _output_shapes attrs: ${withShapes}`,
    );
  }
}

async function shapes(): Promise<void> {
  console.log(`\n## shapes, last block, softmax, gradients (${backend})`);
  for (const name of TEST_MODEL_NAMES) {
    const m = await model(name);
    const nodes = graphNodeDefs(m);
    const x = inputFor(name);
    const cands = candidates(nodes);
    tf.dispose(m.execute(x)); // warm-up
    const [, tFwd] = time(() => tf.dispose(m.execute(x)));
    const b0 = tf.memory().numBytes;
    const t0 = performance.now();
    const outs = m.execute(x, cands) as tf.Tensor[];
    const tAll = performance.now() - t0;
    const bytes = tf.memory().numBytes - b0;
    const shp = new Map(cands.map((n, i) => [n, (outs[i] as tf.Tensor).shape]));
    tf.dispose(outs);
    const outsN = outputNodeNames(m);
    const anc = ancestors(nodes, outsN[0] as string);
    const spatial = cands.filter((n) => {
      const s = shp.get(n) as number[];
      return s.length === 4 && ((s[1] as number) > 1 || (s[2] as number) > 1);
    });
    const last = [...spatial].reverse().find((n) => anc.has(n)) as string;
    // Path ops from the last block to the first output.
    const between = cands.filter((n) => anc.has(n) && ancestors(nodes, n).has(last) && n !== last);
    const byName = new Map(nodes.map((n) => [n.name, n]));
    const out = byName.get(outsN[0] as string) as GraphNodeDef;
    const beforeOut = out.op === 'Identity' ? byName.get(((out.input ?? [])[0] as string).split(':')[0] as string) : out;
    const act = beforeOut?.op ?? '?';
    const pre = act === 'Softmax' || act === 'Sigmoid' ? (beforeOut?.input?.[0] as string) : undefined;
    console.log(
      `- ${name}: execute(x) ${tFwd.toFixed(0)} ms; execute(x, all ${cands.length} nodes) ${tAll.toFixed(0)} ms, ${(bytes / 2 ** 20).toFixed(1)} MiB held`,
    );
    console.log(
      `  4-D nodes with spatial > 1: ${spatial.length} (of ${cands.length}); last on the output path: ${short(last)} ${JSON.stringify(shp.get(last))} (${byName.get(last)?.op})`,
    );
    console.log(
      `  output ${short(out.name)} <- ${short(beforeOut?.name ?? '?')} (${act}); pre-activation node: ${pre ? short(pre) : 'none'}`,
    );
    console.log(`  ops between last block and output: ${between.map((n) => byName.get(n)?.op).join(' > ')}`);
    // Forward kernels and their gradients.
    const prof = await tf.profile(() => tf.dispose(m.execute(x)));
    const kernels = [...new Set(prof.kernels.map((k) => k.name))];
    const noGrad = kernels.filter((k) => tf.getGradient(k) == null && !CUSTOM_GRAD.has(k));
    console.log(`  forward kernels: ${kernels.join(', ')}; without a registered gradient: ${noGrad.join(', ') || 'none'}`);
    if (name !== 'mobilenet_v2_mid') {
      // Whole-model gradient w.r.t. the input: the first missing gradient, as tfjs reports it.
      const before = tf.memory().numTensors;
      try {
        const g = tf.grad((xx: tf.Tensor) => tf.sum(m.execute(xx, outsN[0]) as tf.Tensor))(x);
        console.log(`  tf.grad to the input: ok ${JSON.stringify(g.shape)}`);
        g.dispose();
      } catch (e) {
        console.log(`  tf.grad to the input: ${(e as Error).message.split('\n')[0]} (leaked ${tf.memory().numTensors - before} tensors)`);
      }
    }
    x.dispose();
  }
}

async function feeds(): Promise<void> {
  console.log(`\n## execute feeds (${backend})`);
  const m = await model('mobilenet_v2_mid');
  const nodes = graphNodeDefs(m);
  const x = inputFor('mobilenet_v2_mid');
  const outN = outputNodeNames(m)[0] as string;
  const lastConv = `${MN}/Conv_1/Relu6`;
  const inBranch = `${MN}/expanded_conv_15/depthwise/depthwise`;
  const kernelsOf = async (f: () => tf.Tensor | tf.Tensor[]): Promise<number> => (await tf.profile(() => tf.dispose(f()))).kernels.length;
  const full = await kernelsOf(() => m.execute(x) as tf.Tensor);
  const a = m.execute(x, lastConv) as tf.Tensor;
  const head = await kernelsOf(() => m.execute({ [lastConv]: a }, outN) as tf.Tensor);
  const d0 = tf.tidy(
    () => tf.max(tf.abs(tf.sub(m.execute({ [lastConv]: a }, outN) as tf.Tensor, m.execute(x) as tf.Tensor))).dataSync()[0],
  );
  console.log(`- kernels: full ${full}; fed at Conv_1/Relu6 ${head}; max |diff| of the output ${d0}`);
  const a0 = m.execute(x, `${lastConv}:0`) as tf.Tensor;
  const d1 = tf.tidy(() => tf.max(tf.abs(tf.sub(a0, a))).dataSync()[0]);
  const d2 = tf.tidy(
    () =>
      tf
        .max(tf.abs(tf.sub(m.execute({ [`${lastConv}:0`]: a }, outN) as tf.Tensor, m.execute({ [lastConv]: a }, outN) as tf.Tensor)))
        .dataSync()[0],
  );
  console.log(`- fetch 'node:0' vs 'node': diff ${d1}; feed 'node:0' vs 'node': diff ${d2}`);
  for (const probe of [() => m.execute(x, `${lastConv}:1`) as tf.Tensor, () => m.execute({ [`${lastConv}:1`]: a }, outN) as tf.Tensor]) {
    try {
      const r = probe();
      console.log(`- ':1' of a one-output node: returned ${r === undefined ? 'undefined' : JSON.stringify(r.shape)}`);
      if (r !== undefined) r.dispose();
    } catch (e) {
      console.log(`- ':1' of a one-output node: throws ${(e as Error).message.split('\n')[0]?.slice(0, 160)}`);
    }
  }
  const ab = m.execute(x, inBranch) as tf.Tensor;
  try {
    tf.dispose(m.execute({ [inBranch]: ab }, outN));
  } catch (e) {
    console.log(`- fed inside a residual branch: ${short((e as Error).message).slice(0, 200)}`);
  }
  const cuts = cutFeeds(nodes, inBranch, [outN]);
  const cutVals = m.execute(x, cuts) as tf.Tensor | tf.Tensor[];
  const cv = Array.isArray(cutVals) ? cutVals : [cutVals];
  const feedsMap: tf.NamedTensorMap = { [inBranch]: ab };
  cuts.forEach((c, i) => (feedsMap[c] = cv[i] as tf.Tensor));
  const d3 = tf.tidy(() => tf.max(tf.abs(tf.sub(m.execute(feedsMap, outN) as tf.Tensor, m.execute(x) as tf.Tensor))).dataSync()[0]);
  const headB = await kernelsOf(() => m.execute(feedsMap, outN) as tf.Tensor);
  console.log(`- cut feeds for expanded_conv_15/depthwise: ${cuts.map(short).join(', ')}; output diff ${d3}; kernels ${headB}`);
  const withInput = await kernelsOf(() => m.execute({ [m.inputNodes[0] as string]: x, [inBranch]: ab }, outN) as tf.Tensor);
  console.log(`- feeding the input too instead of cuts: kernels ${withInput}`);
  tf.dispose([x, a, a0, ab, ...cv]);
}

async function compile(): Promise<void> {
  console.log(`\n## per-call compilation (${backend})`);
  const m = await model('mobilenet_v2_mid');
  const nodes = graphNodeDefs(m);
  const x = inputFor('mobilenet_v2_mid');
  const outN = outputNodeNames(m)[0] as string;
  // Late nodes: the head is 3-4 small kernels, so a first call is mostly compilation.
  const late = [`${MN}/Conv_1/Relu6`, `${MN}/Logits/AvgPool`, `${MN}/../feature_vector/SpatialSqueeze`].filter((n) =>
    nodes.some((d) => d.name === n),
  );
  const feedsAt = late.length > 1 ? late : [`${MN}/Conv_1/Relu6`, `${MN}/Logits/AvgPool`];
  const acts = m.execute(x, feedsAt) as tf.Tensor[];
  const compiled = (m as unknown as { executor: { compiledMap: Map<string, unknown> } }).executor.compiledMap;
  for (let i = 0; i < feedsAt.length; i++) {
    const n = feedsAt[i] as string;
    const A = acts[i] as tf.Tensor;
    const sizeBefore = compiled.size;
    const [, first] = time(() => tf.dispose(m.execute({ [n]: A }, outN)));
    const rep: number[] = [];
    for (let k = 0; k < 5; k++) rep.push(time(() => tf.dispose(m.execute({ [n]: A }, outN)))[1]);
    console.log(
      `- feed ${short(n)}: first call ${first.toFixed(2)} ms, repeated ${(rep.reduce((s, v) => s + v, 0) / rep.length).toFixed(2)} ms; compiledMap ${sizeBefore} -> ${compiled.size}`,
    );
  }
  // The compilation itself (private GraphExecutor.compile: getExecutionSubgraph + topological order).
  const ex = (
    m as unknown as { executor: { compile(i: tf.NamedTensorMap, o: unknown[]): unknown; graph: { nodes: Record<string, unknown> } } }
  ).executor;
  const outNode = ex.graph.nodes[outN];
  for (const [label, feed] of [
    ['whole graph (input -> output)', { [m.inputNodes[0] as string]: x }],
    ['head from Conv_1/Relu6', { [`${MN}/Conv_1/Relu6`]: acts[0] as tf.Tensor }],
  ] as const) {
    ex.compile(feed, [outNode]);
    const [, t] = time(() => {
      for (let k = 0; k < 20; k++) ex.compile(feed, [outNode]);
    });
    console.log(`- compile, ${label}: ${(t / 20).toFixed(2)} ms per call (${Object.keys(ex.graph.nodes).length} nodes in the graph)`);
  }
  tf.dispose([x, ...acts]);
}

/** Body of a Grad-CAM: the activations at `node` and at the cut feeds (outside any tape). */
function body(m: tfc.GraphModel, x: tf.Tensor, node: string, cuts: string[]): { A: tf.Tensor; extra: tf.NamedTensorMap; all: tf.Tensor[] } {
  const r = m.execute(x, [node, ...cuts]);
  const all = Array.isArray(r) ? r : [r as tf.Tensor];
  const extra: tf.NamedTensorMap = {};
  cuts.forEach((c, i) => (extra[c] = all[i + 1] as tf.Tensor));
  return { A: all[0] as tf.Tensor, extra, all };
}

/** Head of a Grad-CAM: gradient of the `cls` logit w.r.t. A through execute({node: A, ...cuts}, logitsNode), then the map. */
function head(m: tfc.GraphModel, node: string, logitsNode: string, A: tf.Tensor, extra: tf.NamedTensorMap, cls: number): tf.Tensor {
  return tf.tidy(() => {
    const score = (a: tf.Tensor): tf.Tensor =>
      tf.sum(tf.slice(m.execute({ [node]: a, ...extra }, logitsNode) as tf.Tensor, [0, cls], [-1, 1]));
    const g = tf.grad(score)(A);
    const w = tf.mean(g, [1, 2], true);
    return tf.relu(tf.sum(tf.mul(A, w), -1));
  });
}

function gradCam(
  m: tfc.GraphModel,
  x: tf.Tensor,
  node: string,
  logitsNode: string,
  cuts: string[],
  cls: number,
): { body: number; head: number; cam: tf.Tensor } {
  const [b, tb] = time(() => body(m, x, node, cuts));
  const [cam, th] = time(() => {
    const c = head(m, node, logitsNode, b.A, b.extra, cls);
    c.dataSync();
    return c;
  });
  tf.dispose(b.all);
  return { body: tb, head: th, cam };
}

/** Kernel time per kernel name, without the op-scope entries (`fusedConv2d__op` wraps `FusedConv2D`). */
function kernelTimes(prof: Awaited<ReturnType<typeof tf.profile>>): Map<string, number> {
  const byKernel = new Map<string, number>();
  for (const k of prof.kernels)
    if (!k.name.endsWith('__op')) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (Number(k.kernelTimeMs) || 0));
  return byKernel;
}

async function gradcam(): Promise<void> {
  console.log(`\n## Grad-CAM through execute (${backend})`);
  const m = await model('mobilenet_v2_mid');
  const nodes = graphNodeDefs(m);
  const x = inputFor('mobilenet_v2_mid');
  const logitsNode = 'StatefulPartitionedCall/sequential/dense/BiasAdd';
  tf.dispose(m.execute(x));
  const fwds: number[] = [];
  for (let k = 0; k < 2; k++) fwds.push(time(() => tf.dispose(m.execute(x)))[1]);
  console.log(`- forward execute(x), batch 1: ${Math.min(...fwds).toFixed(0)} ms (min of 2)`);
  for (const node of [
    `${MN}/Conv_1/Relu6`,
    `${MN}/expanded_conv_16/project/BatchNorm/FusedBatchNormV3`,
    `${MN}/expanded_conv_15/add`,
    `${MN}/expanded_conv_15/depthwise/depthwise`,
  ]) {
    const cuts = cutFeeds(nodes, node, [logitsNode]);
    const before = tf.memory().numTensors;
    try {
      const b = body(m, x, node, cuts);
      head(m, node, logitsNode, b.A, b.extra, 0).dispose(); // warm-up
      const [, th] = time(() => {
        const c = head(m, node, logitsNode, b.A, b.extra, 0);
        c.dataSync();
        c.dispose();
      });
      // tf.profile returns the engine's one activeProfile object, reset by the next profile call
      // (engine.js:756-772): read each result before profiling again.
      const prof = await tf.profile(() => head(m, node, logitsNode, b.A, b.extra, 0).dispose());
      const times = kernelTimes(prof);
      const nHead = prof.kernels.filter((k) => !k.name.endsWith('__op')).length;
      const fwdProf = await tf.profile(() => tf.dispose(m.execute({ [node]: b.A, ...b.extra }, logitsNode)));
      const nFwd = fwdProf.kernels.filter((k) => !k.name.endsWith('__op')).length;
      tf.dispose(b.all);
      const top = [...times.entries()]
        .sort((p, q) => q[1] - p[1])
        .slice(0, 6)
        .map(([k, t]) => `${k} ${t.toFixed(0)}`)
        .join(', ');
      const wasmMissing = [...times.keys()].filter((k) => tf.getKernel(k, 'wasm') === undefined);
      console.log(
        `- ${short(node)} (cuts ${cuts.length}): head fwd ${nFwd} kernels; head+grad ${th.toFixed(0)} ms, ${nHead} kernels, top kernel ms: ${top}; not registered on wasm: ${wasmMissing.join(', ') || 'none'}; leaked ${tf.memory().numTensors - before}`,
      );
    } catch (e) {
      console.log(
        `- ${short(node)}: FAILS: ${(e as Error).message.split('\n')[0]?.slice(0, 200)} (leaked ${tf.memory().numTensors - before} tensors)`,
      );
    }
  }
  const gradKernels = [
    'Conv2DBackpropInput',
    'Conv2DBackpropFilter',
    'DepthwiseConv2dNativeBackpropInput',
    'DepthwiseConv2dNativeBackpropFilter',
    'AvgPoolGrad',
    'MaxPoolGrad',
    'FusedBatchNorm',
    'Step',
    'LessEqual',
    'BatchMatMul',
    'Conv2D',
    'DepthwiseConv2dNative',
    'StridedSlice',
    'StridedSliceGrad',
  ];
  console.log(
    `- gradient-side kernels not registered on wasm: ${gradKernels.filter((k) => tf.getKernel(k, 'wasm') === undefined).join(', ')}`,
  );
  // Which kernels fused ops run under a tape (shouldFuse): forward of the Conv_1 head, under tf.grad.
  const n16 = `${MN}/expanded_conv_16/project/BatchNorm/FusedBatchNormV3`;
  const A = m.execute(x, n16) as tf.Tensor;
  const taped = await tf.profile(() => {
    const g = tf.grad((a: tf.Tensor) => tf.sum(m.execute({ [n16]: a }, logitsNode) as tf.Tensor))(A);
    g.dispose();
  });
  console.log(
    `- kernels of tf.grad over the head Conv_1(_FusedConv2D BiasAdd+Relu6) > AvgPool > Squeeze > _FusedMatMul(BiasAdd): ${taped.kernels
      .map((k) => k.name)
      .filter((k) => k !== 'Identity')
      .join(' ')}`,
  );
  tf.dispose([x, A]);
}

async function weights(): Promise<void> {
  console.log(`\n## weights and attrs (${backend})`);
  const m = await model('mobilenet_v2_mid');
  const nodes = graphNodeDefs(m);
  const art = (m as unknown as { artifacts: tf.io.ModelArtifacts }).artifacts;
  const spec = (art.weightSpecs ?? []).find((w) => w.name.endsWith('Conv_1/Conv2D_weights')) as tf.io.WeightsManifestEntry;
  const w = (m.weights[spec.name] as tf.Tensor[])[0] as tf.Tensor;
  const vals = w.dataSync();
  const q = spec.quantization as { min: number; scale: number; dtype: string };
  const codes = new Set<number>();
  for (const v of vals.slice(0, 5000)) codes.add(Math.round((v - q.min) / q.scale));
  console.log(
    `- ${short(spec.name)}: spec dtype ${spec.dtype}, quantization ${JSON.stringify(q)}; loaded ${w.dtype} ${JSON.stringify(w.shape)}; distinct codes in first 5000 values: ${codes.size} (<= 256)`,
  );
  const constNodes = nodes.filter((n) => n.op === 'Const').length;
  console.log(
    `- model.weights keys: ${Object.keys(m.weights).length}; Const nodes: ${constNodes}; each value is an array of ${(m.weights[spec.name] as tf.Tensor[]).length} tensor`,
  );
  const mp = mapped(m);
  for (const op of ['_FusedConv2D', 'FusedDepthwiseConv2dNative', '_FusedMatMul', 'AvgPool', 'Mean']) {
    const n = Object.values(mp).find((d) => d.op === op);
    if (n === undefined) continue;
    const params = Object.fromEntries(Object.entries(n.attrParams).map(([k, v]) => [k, v.value]));
    console.log(`- ${op} ${short(n.name)}: inputNames ${JSON.stringify(n.inputNames.map(short))}; attrParams ${JSON.stringify(params)}`);
  }
  const em = await model('emotion');
  const emNode = Object.values(mapped(em)).find((d) => d.op === 'Mean');
  if (emNode)
    console.log(
      `- emotion Mean: attrParams ${JSON.stringify(Object.fromEntries(Object.entries(emNode.attrParams).map(([k, v]) => [k, v.value])))}; axis is an input (Const ${short(emNode.inputNames[1] as string)}) read with dataSync at every execute`,
    );
  const as = await model('antispoof');
  const f16 = Object.values(as.weights).map((t) => (t[0] as tf.Tensor).dtype);
  console.log(`- antispoof (float16 weights): loaded dtypes ${histogram(f16)}`);
}

async function leaks(): Promise<void> {
  console.log(`\n## leaks (${backend})`);
  const m = await buildGraphTestModel('stridedSlice');
  const x = tf.randomUniform([2, ...m.inputShape], 0, 1, 'float32', 1);
  const n0 = tf.memory().numTensors;
  const outs = m.graph.execute(x, [m.nodes.spatial[0] as string, m.nodes.lastConv, m.outputNodes[0] as string]) as tf.Tensor[];
  const n1 = tf.memory().numTensors;
  tf.dispose(outs);
  console.log(`- execute(x, [3 nodes]): +${n1 - n0} tensors (the 3 results); after disposing them ${tf.memory().numTensors - n0}`);
  const below = m.nodes.spatial[0] as string;
  const A = m.graph.execute(x, below) as tf.Tensor;
  for (const wrap of ['plain', 'tidy'] as const) {
    const b0 = tf.memory().numTensors;
    const bytes0 = tf.memory().numBytes;
    try {
      const f = (): tf.Tensor =>
        tf.grad((a: tf.Tensor) => tf.sum(m.graph.execute({ [below]: a }, m.nodes.logits[0] as string) as tf.Tensor))(A);
      (wrap === 'tidy' ? tf.tidy(f) : f()).dispose();
    } catch (e) {
      const leaked = tf.memory().numTensors - b0;
      // The leak is the tape's saved tensors (kept clones, engine.js:566), disposed only on success (engine.js:887-896).
      const state = (tf.engine() as unknown as { state: { activeTape: Array<{ saved: tf.Tensor[] }> | null } }).state;
      let saved = 0;
      for (const node of state.activeTape ?? []) {
        for (const t of node.saved) {
          saved++;
          t.dispose();
        }
      }
      state.activeTape = null;
      console.log(
        `- failed tf.grad (${wrap}): "${(e as Error).message.split('\n')[0]?.slice(0, 90)}": leaked ${leaked} tensors, ${tf.memory().numBytes - bytes0 > 0 ? '' : ''}${leaked > 0 ? `of which ${saved} tape-saved; after disposing those: ${tf.memory().numTensors - b0}` : ''}`,
      );
    }
  }
  tf.dispose([A, x]);
  m.dispose();
  // Real model: age (StridedSlice in both streams).
  const age = await model('age');
  const xa = inputFor('age');
  const b0 = tf.memory().numTensors;
  const bytes0 = tf.memory().numBytes;
  try {
    tf.grad((xx: tf.Tensor) => tf.sum(age.execute(xx) as tf.Tensor))(xa).dispose();
  } catch (e) {
    console.log(
      `- age, failed tf.grad to the input: leaked ${tf.memory().numTensors - b0} tensors, ${((tf.memory().numBytes - bytes0) / 1024).toFixed(0)} KiB (${(e as Error).message.split('\n')[0]?.slice(0, 80)})`,
    );
  }
  // Code-built residual net: a fed node inside the branch, under tf.grad, with the cuts.
  const r = await buildGraphTestModel('residual');
  const xr = tf.randomUniform([2, ...r.inputShape], 0, 1, 'float32', 1);
  const cuts = cutFeeds(graphNodeDefs(r.graph), r.nodes.inBranch as string, [r.nodes.logits[0] as string]);
  const c0 = tf.memory().numTensors;
  try {
    const res = gradCam(r.graph, xr, r.nodes.inBranch as string, r.nodes.logits[0] as string, cuts, 1);
    res.cam.dispose();
    console.log(
      `- residual test net, Grad-CAM inside the branch with ${cuts.length} cut feed(s): leaked ${tf.memory().numTensors - c0} tensors`,
    );
  } catch (e) {
    console.log(
      `- residual test net, Grad-CAM inside the branch: FAILS: ${(e as Error).message.split('\n')[0]?.slice(0, 120)} (leaked ${tf.memory().numTensors - c0} tensors)`,
    );
  }
  tf.dispose(xr);
  r.dispose();
  xa.dispose();
}

async function main(): Promise<void> {
  await tf.setBackend(backend);
  await tf.ready();
  console.log(`# tfcam GraphModel research, backend ${tf.getBackend()}, tfjs-core ${tf.version_core}`);
  console.log(
    Object.entries(TEST_MODELS)
      .map(([n, s]) => `- ${n}: ${s.about}`)
      .join('\n'),
  );
  if (want('inventory')) await inventory();
  if (want('shapes')) await shapes();
  if (want('feeds')) await feeds();
  if (want('compile')) await compile();
  if (want('gradcam')) await gradcam();
  if (want('weights')) await weights();
  if (want('leaks')) await leaks();
  for (const m of models.values()) m.dispose();
  console.log(`\ndone, ${ms(0)} since start`);
}

await main();
