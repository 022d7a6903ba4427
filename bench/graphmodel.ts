/**
 * The GraphModel section of `npm run bench`: tfcam's `gradCam` on a `tf.GraphModel` at its last conv
 * block, against a hand-written two-phase optimum on the same graph and against `model.execute`.
 *
 * The model is MobileNetV2 (alpha 1.0, 224 px, 1000 classes, random weights) written as the GraphDef
 * the TF.js converter produces from a TF-Hub / Keras SavedModel (test/helpers/graph-models.ts'
 * GraphBuilder, no converter): `_FusedConv2D` with folded BatchNorm and `BiasAdd, Relu6`,
 * `FusedDepthwiseConv2dNative`, linear `_FusedConv2D` projections, `AddV2` residuals, `AvgPool` over
 * the 7x7 map, `Squeeze`, `_FusedMatMul`, `Softmax`, `Identity`. Same shapes as the LayersModel
 * MobileNetV2 of the other sections.
 *
 * Contenders (no Node-only imports here):
 * - `predict`: `model.execute(x)` (the graph's fused kernels, forward only);
 * - `optimum@L`: the hand-written optimum: the body is `model.execute(x, L)` outside any tape, the head
 *   written by hand for this graph (spatial mean with a one-broadcast gradient, `matMul`, bias, the
 *   arg-max logit picked with a one-hot product) under `tf.valueAndGrad`, then the vectorised
 *   combination of bench/optimum.ts. It reads the classifier weights from the graph by hand, with no
 *   tfcam code;
 * - `gradCam@L`: tfcam's `gradCam(model, x, { layer: L })`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfc from '@tensorflow/tfjs-converter';
import { GraphBuilder, attr, type GraphNodeDef } from '../test/helpers/graph-models.js';
import type { ContenderSpec, Instance, Sample } from './measure.js';
import { measureAll } from './measure.js';
import { argmaxScore, combine } from './optimum.js';
import type { Section } from './table.js';

/** The graph models the section knows (run.ts `--model`). */
export const GRAPH_MODELS = ['mobilenetv2graph'] as const;

const P = 'StatefulPartitionedCall/sequential/keras_layer/MobilenetV2';
/** The last conv block (the default layer). */
export const GRAPH_LAST_BLOCK = `${P}/Conv_1/Relu6`;

/** mulberry32 (the weights are random but the same on every run). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes MobileNetV2 (alpha 1, `size` px, 1000 classes) as a converter-style GraphDef; returns the artifacts. */
export function mobileNetV2Graph(size = 224, classes = 1000, seed = 1): tf.io.ModelArtifacts {
  const g = new GraphBuilder();
  const next = rng(seed);
  const uniform = (n: number, scale: number): Float32Array => Float32Array.from({ length: n }, () => scale * (2 * next() - 1));
  const convAttrs = (strides: number, depthwise: boolean, act: 'Relu6' | null): Record<string, ReturnType<typeof attr.int>> => ({
    T: attr.type(),
    strides: attr.ints([1, strides, strides, 1]),
    padding: attr.str('SAME'),
    data_format: attr.str('NHWC'),
    dilations: attr.ints([1, 1, 1, 1]),
    explicit_paddings: attr.emptyList(),
    num_args: attr.int(1),
    fused_ops: attr.strs(act === null ? ['BiasAdd'] : ['BiasAdd', act]),
    ...(depthwise ? {} : { epsilon: attr.float(0), use_cudnn_on_gpu: attr.bool(true) }),
  });
  const conv = (x: string, scope: string, cin: number, cout: number, k: number, strides: number, act: 'Relu6' | null): string => {
    const w = g.constant(`${scope}/Conv2D_weights`, [k, k, cin, cout], uniform(k * k * cin * cout, Math.sqrt(6 / (k * k * cin))));
    const b = g.constant(`${scope}/Conv2D_bn_offset`, [cout], uniform(cout, 0.1));
    return g.node(
      act === null ? `${scope}/BatchNorm/FusedBatchNormV3` : `${scope}/Relu6`,
      '_FusedConv2D',
      [x, w, b],
      convAttrs(strides, false, act),
    );
  };
  const depthwise = (x: string, scope: string, c: number, strides: number): string => {
    const w = g.constant(`${scope}/depthwise_weights`, [3, 3, c, 1], uniform(9 * c, Math.sqrt(6 / 9)));
    const b = g.constant(`${scope}/depthwise_bn_offset`, [c], uniform(c, 0.1));
    return g.node(`${scope}/Relu6`, 'FusedDepthwiseConv2dNative', [x, w, b], convAttrs(strides, true, 'Relu6'));
  };
  const input = g.placeholder('input', [-1, size, size, 3]);
  let x = conv(input, `${P}/Conv`, 3, 32, 3, 2, 'Relu6');
  x = depthwise(x, `${P}/expanded_conv/depthwise`, 32, 1);
  x = conv(x, `${P}/expanded_conv/project`, 32, 16, 1, 1, null);
  let c = 16;
  let block = 1;
  for (const [t, cout, n, s] of [
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
  ] as const) {
    for (let i = 0; i < n; i++) {
      const scope = `${P}/expanded_conv_${block}`;
      const stride = i === 0 ? s : 1;
      let y = conv(x, `${scope}/expand`, c, c * t, 1, 1, 'Relu6');
      y = depthwise(y, `${scope}/depthwise`, c * t, stride);
      y = conv(y, `${scope}/project`, c * t, cout, 1, 1, null);
      x = stride === 1 && c === cout ? g.node(`${scope}/add`, 'AddV2', [x, y], { T: attr.type() }) : y;
      c = cout;
      block++;
    }
  }
  x = conv(x, `${P}/Conv_1`, c, 1280, 1, 1, 'Relu6');
  const pool = g.node(`${P}/Logits/AvgPool`, 'AvgPool', [x], {
    T: attr.type(),
    ksize: attr.ints([1, size / 32, size / 32, 1]),
    strides: attr.ints([1, 1, 1, 1]),
    padding: attr.str('VALID'),
    data_format: attr.str('NHWC'),
  });
  const squeeze = g.node(`${P}/Logits/Squeeze`, 'Squeeze', [pool], { T: attr.type(), squeeze_dims: attr.ints([1, 2]) });
  const w = g.constant(
    'StatefulPartitionedCall/sequential/dense/MatMul/ReadVariableOp',
    [1280, classes],
    uniform(1280 * classes, Math.sqrt(6 / 1280)),
  );
  const b = g.constant('StatefulPartitionedCall/sequential/dense/BiasAdd/ReadVariableOp', [classes], uniform(classes, 0.1));
  const logits = g.node('StatefulPartitionedCall/sequential/dense/BiasAdd', '_FusedMatMul', [squeeze, w, b], {
    T: attr.type(),
    transpose_a: attr.bool(false),
    transpose_b: attr.bool(false),
    num_args: attr.int(1),
    epsilon: attr.float(0),
    fused_ops: attr.strs(['BiasAdd']),
  });
  const softmax = g.node('StatefulPartitionedCall/sequential/dense/Softmax', 'Softmax', [logits], { T: attr.type() });
  g.output(g.node('Identity', 'Identity', [softmax], { T: attr.type() }));
  return g.artifacts();
}

/** A loaded graph model and what the contenders need. */
export interface GraphSubject {
  model: tfc.GraphModel<tf.io.IOHandlerSync>;
  inputSize: number;
  label: string;
}

export function loadGraphSubject(small: boolean): GraphSubject {
  const inputSize = small ? 96 : 224;
  const model = tfc.loadGraphModelSync(mobileNetV2Graph(inputSize));
  return { model, inputSize, label: `MobileNetV2 ${inputSize} px (tf.GraphModel, converter layout)` };
}

/**
 * The hand-written optimum at the last block of this graph. The head above `Conv_1/Relu6` is
 * `AvgPool` over the whole map, `Squeeze`, `_FusedMatMul(W, b)`, `Softmax` (skipped: the logit is
 * explained): written as a spatial mean with a one-broadcast gradient, a plain `matMul` and an add.
 */
function prepareGraphOptimum(model: GraphSubject['model'], layer: string): Instance {
  const nodes = (model as unknown as { artifacts: { modelTopology: { node: GraphNodeDef[] } } }).artifacts.modelTopology.node;
  const matmul = nodes.find((n) => n.op === '_FusedMatMul');
  const pool = nodes.find((n) => n.op === 'AvgPool');
  if (matmul === undefined || pool === undefined || pool.input?.[0] !== layer) {
    throw new Error('bench graph optimum: the head above the layer is not AvgPool -> Squeeze -> _FusedMatMul');
  }
  const weightOf = (name: string): tf.Tensor => (model.weights[name.split(':')[0] as string] as tf.Tensor[])[0] as tf.Tensor;
  const w = weightOf(matmul.input?.[1] as string) as tf.Tensor2D;
  const bias = weightOf(matmul.input?.[2] as string);
  const gap = tf.customGrad(((a: tf.Tensor) => {
    const [bs, h, wd, c] = a.shape as [number, number, number, number];
    return {
      value: tf.mean(a, [1, 2]),
      gradFunc: (dy: tf.Tensor) => tf.broadcastTo(tf.reshape(tf.div(dy, h * wd), [bs, 1, 1, c]), [bs, h, wd, c]),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor) => tf.Tensor2D;
  return {
    run: (x) =>
      tf.tidy(() => {
        const a = model.execute(x, layer) as tf.Tensor4D;
        const kept: tf.Tensor[] = [];
        const { grad } = tf.valueAndGrad((t: tf.Tensor) => {
          const picked = argmaxScore(tf.add(tf.matMul(gap(t), w), bias));
          kept.push(tf.keep(picked.classIndex), tf.keep(picked.scores));
          return picked.total;
        })(a);
        const weights = tf.mean(grad, [1, 2]) as tf.Tensor2D;
        grad.dispose();
        const heatmap = combine(a, weights, [x.shape[1], x.shape[2]]);
        return { heatmap, classIndex: kept[0] as tf.Tensor1D, score: kept[1] as tf.Tensor1D };
      }),
  };
}

/** The contenders of the GraphModel section. */
export function graphContenders(subject: GraphSubject, tfcam: Record<string, unknown>): ContenderSpec[] {
  const { model } = subject;
  const layer = GRAPH_LAST_BLOCK;
  const specs: ContenderSpec[] = [
    {
      id: 'predict',
      name: 'predict',
      group: 'reference',
      layer: null,
      mayFail: false,
      note: 'model.execute (forward only, the graph\u2019s fused kernels)',
      make: () => ({ run: (x) => model.execute(x) as tf.Tensor }),
    },
    {
      id: `optimum@${layer}`,
      name: 'optimum',
      group: 'optimum',
      layer,
      mayFail: false,
      note: 'hand-written two-phase optimum on the graph (body: model.execute; head by hand under tf.valueAndGrad)',
      make: () => prepareGraphOptimum(model, layer),
    },
  ];
  if (typeof tfcam['gradCam'] === 'function') {
    const gradCam = tfcam['gradCam'] as (m: unknown, x: tf.Tensor, o: Record<string, unknown>) => tf.TensorContainer;
    specs.push({
      id: `gradCam@${layer}`,
      name: 'gradCam',
      group: 'tfcam',
      layer,
      mayFail: false,
      note: 'tfcam gradCam on the tf.GraphModel',
      make: () => ({ run: (x) => gradCam(model, x, { layer, validate: false }) }),
    });
  }
  return specs;
}

/** What the GraphModel section measures (the backend is already active). */
export interface GraphSuiteOptions {
  backend: string;
  small: boolean;
  batches: number[];
  runs: number;
  warmup: number;
  maxTimeMs: number;
  /** Contender filter (see bench/suite.ts `selected`). */
  selected: (id: string) => boolean;
  tfcam: Record<string, unknown>;
  commit: string;
  command: string;
  log: (msg: string) => void;
  onSection?: ((section: Section) => void) | undefined;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Measures the GraphModel section on every batch; returns the sections and the count of unexpected failures. */
export async function runGraphSuite(o: GraphSuiteOptions): Promise<{ sections: Section[]; failures: number }> {
  const { backend, log } = o;
  const subject = loadGraphSubject(o.small);
  const specs = graphContenders(subject, o.tfcam).filter((s) => o.selected(s.id));
  const sections: Section[] = [];
  let failures = 0;
  log(`[${backend}] ${subject.label}`);
  for (const batch of o.batches) {
    const start = performance.now();
    const section: Section = {
      backend,
      model: GRAPH_MODELS[0],
      modelLabel: subject.label,
      inputSize: subject.inputSize,
      batch,
      lastBlock: GRAPH_LAST_BLOCK,
      layers: [GRAPH_LAST_BLOCK],
      runs: o.runs,
      warmup: o.warmup,
      startedAt: new Date().toISOString(),
      tfcam: o.commit,
      command: o.command,
      wallMs: 0,
      rows: [],
      checks: [],
    };
    // The graph takes images in [0, 1] (TF Hub convention).
    const x = tf.tidy(() => tf.randomUniform([batch, subject.inputSize, subject.inputSize, 3], 0, 1, 'float32', 42)) as tf.Tensor4D;
    const measured = await measureAll(specs, x, {
      runs: o.runs,
      warmup: o.warmup,
      maxTimeMs: o.maxTimeMs,
      log,
      onStart: (spec) => log(`[${backend} ${subject.label} b${batch}] ${spec.id}`),
    });
    const samples = new Map<string, Sample>();
    for (const { m, sample } of measured) {
      section.rows.push(m);
      samples.set(m.id, sample);
      if (m.status === 'error') failures++;
    }
    const a = samples.get(`gradCam@${GRAPH_LAST_BLOCK}`)?.heatmap;
    const b = samples.get(`optimum@${GRAPH_LAST_BLOCK}`)?.heatmap;
    if (a != null && b != null)
      section.checks.push({ id: `gradCam@${GRAPH_LAST_BLOCK}`, vs: `optimum@${GRAPH_LAST_BLOCK}`, maxAbsDiff: maxAbsDiff(a, b) });
    x.dispose();
    section.wallMs = performance.now() - start;
    sections.push(section);
    o.onSection?.(section);
  }
  subject.model.dispose();
  return { sections, failures };
}
