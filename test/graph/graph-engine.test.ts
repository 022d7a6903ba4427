/**
 * The GraphModel engine beyond twin equality: node names (full, `:0`, short names and their
 * ambiguity), listLayers, the refusals (no gradient above the layer, control flow, bad options),
 * StopGradient, nodes tfcam does not replay (run through `execute` on the node alone), metrics, no
 * leaks and a bit-identical model on success and error paths.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LayerError,
  ModelError,
  OptionError,
  UnsupportedError,
  activationsAndGradients,
  averageDrop,
  confidenceChange,
  createExplainer,
  deletion,
  gradCam,
  gradCamCallback,
  guidedBackprop,
  increaseInConfidence,
  insertion,
  listLayers,
  sanityCheck,
  scoreCam,
  type CamModel,
} from '../../src/index.js';
import { GraphBuilder, attr, buildGraphTestModel, graphTestInput, loadGraph, type GraphTestModel } from '../helpers/graph-models.js';
import { expectNoLeak, expectThrowsClean } from '../helpers/integrity.js';

/** Everything of a graph model tfcam must leave as it is: weight bytes and the topology. */
function snapshotGraph(model: { weights: Record<string, tf.Tensor[]> }): { weights: Map<string, Buffer>; topology: string } {
  const weights = new Map<string, Buffer>();
  for (const [k, ts] of Object.entries(model.weights)) weights.set(k, Buffer.from((ts[0] as tf.Tensor).dataSync().slice().buffer));
  const topology = JSON.stringify((model as unknown as { artifacts: { modelTopology: unknown } }).artifacts.modelTopology);
  return { weights, topology };
}

function expectGraphUnchanged(model: { weights: Record<string, tf.Tensor[]> }, before: ReturnType<typeof snapshotGraph>): void {
  const after = snapshotGraph(model);
  expect([...after.weights.keys()]).toEqual([...before.weights.keys()]);
  for (const [k, b] of before.weights) expect(after.weights.get(k)?.equals(b), `weight ${k}`).toBe(true);
  expect(after.topology).toBe(before.topology);
}

const maxAbs = (t: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0] as number);
const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);

describe('GraphModel layer names', () => {
  let residual: GraphTestModel;
  let inception: GraphTestModel;
  let x: tf.Tensor4D;
  let xi: tf.Tensor4D;
  const P = 'StatefulPartitionedCall/model/MobilenetV2';

  beforeAll(async () => {
    residual = await buildGraphTestModel('residual');
    inception = await buildGraphTestModel('inception');
    x = graphTestInput(residual, 2);
    xi = graphTestInput(inception, 2);
  });
  afterAll(() => {
    residual.dispose();
    inception.dispose();
    tf.dispose([x, xi]);
  });

  const layerOf = (m: GraphTestModel, input: tf.Tensor, layer: unknown): string => {
    const r = gradCam(m.graph as unknown as CamModel, input, { layer: layer as string });
    tf.dispose(r as unknown as tf.TensorContainer);
    return r.layer;
  };

  it('takes full node names with or without :0', () => {
    expect(layerOf(residual, x, `${P}/Conv/Relu6`)).toBe(`${P}/Conv/Relu6`);
    expect(layerOf(residual, x, `${P}/Conv/Relu6:0`)).toBe(`${P}/Conv/Relu6`);
  });

  it('resolves a short name to the last node of its scope', () => {
    // A Keras layer scope: its output is the last node of the scope.
    expect(layerOf(residual, x, 'expanded_conv_1')).toBe(`${P}/expanded_conv_1/add`);
    expect(layerOf(residual, x, 'Conv_1')).toBe(`${P}/Conv_1/Relu6`);
    expect(layerOf(residual, x, 'expanded_conv_2/depthwise')).toBe(`${P}/expanded_conv_2/depthwise/Relu6`);
    expect(layerOf(inception, xi, 'mixed0')).toBe('StatefulPartitionedCall/model/mixed0/concat');
    // A run of components, not a substring: 'expanded' is no component.
    expectThrowsClean(
      () => gradCam(residual.graph as unknown as CamModel, x, { layer: 'expanded' }),
      LayerError,
      /must name a node of the graph/,
    );
  });

  it('refuses an ambiguous short name, listing one full name per scope', () => {
    const e = expectThrowsClean(
      () => gradCam(residual.graph as unknown as CamModel, x, { layer: 'project' }),
      LayerError,
      /matches 3 scopes/,
    );
    for (const block of ['expanded_conv', 'expanded_conv_1', 'expanded_conv_2']) expect(e.message).toContain(`'${P}/${block}/project/`);
    expect(e.message).toMatch(/Pass one of these full names/);
    // Each listed name resolves.
    const listed = [...e.message.matchAll(/'([^']+\/project\/[^']+)'/g)].map((m) => m[1] as string);
    expect(listed.length).toBe(3);
    for (const n of listed) expect(layerOf(residual, x, n)).toBe(n);
  });

  it('refuses an unknown name, listing candidates that resolve', () => {
    const e = expectThrowsClean(
      () => gradCam(residual.graph as unknown as CamModel, x, { layer: 'conv9' }),
      LayerError,
      /'layer' must name a node of the graph.*but got 'conv9'/,
    );
    const listed = [...e.message.matchAll(/'(StatefulPartitionedCall[^']+)'/g)].map((m) => m[1] as string);
    expect(listed.length).toBeGreaterThan(3);
    for (const n of listed) expect(layerOf(residual, x, n)).toBe(n);
  });

  it('refuses other kinds of layer references, outputs other than :0, non-spatial nodes and constants', () => {
    const g = residual.graph as unknown as CamModel;
    expectThrowsClean(() => gradCam(g, x, { layer: 3 }), LayerError, /must be a node name for a GraphModel/);
    expectThrowsClean(() => gradCam(g, x, { layer: `${P}/Conv/Relu6:1` }), LayerError, /first output/);
    expectThrowsClean(() => gradCam(g, x, { layer: `${P}/dense/BiasAdd` }), LayerError, /rank-4 output.*\[null, 5\]/);
    expectThrowsClean(() => gradCam(g, x, { layer: `${P}/Conv/Conv2D_weights` }), LayerError, /not a constant/);
    expectThrowsClean(() => gradCam(g, x, { layer: 'input_1' }), LayerError, /not a constant or an input/);
  });

  it('listLayers lists the rank-4 nodes in execution order with the twin layers\u2019 shapes', () => {
    const list = listLayers(residual.graph as unknown as CamModel);
    const names = list.map((l) => l.name);
    // Every node with a twin layer, in order, among the listed nodes (which also hold the
    // intermediate nodes of unfused forms: Conv2D before its FusedBatchNormV3...).
    expect(names.filter((n) => residual.nodes.spatial.includes(n))).toEqual(residual.nodes.spatial);
    expect(names).toContain(`${P}/expanded_conv_2/expand/Conv2D`);
    for (const l of list) {
      const layer = residual.pairs[l.name];
      if (layer !== undefined) expect(l.shape).toEqual((residual.twin.getLayer(layer).output as { shape: number[] }).shape);
    }
    expect(list.find((l) => l.name === `${P}/Logits/AvgPool`)?.shape).toEqual([null, 1, 1, 24]);
    expect(list.find((l) => l.name === `${P}/Conv/Relu6`)?.op).toBe('_FusedConv2D');
    // LayersModels too.
    const twin = listLayers(residual.twin);
    expect(twin.length).toBeGreaterThan(5);
    expect(twin.every((l) => l.shape.length === 4)).toBe(true);
    expect(listLayers(inception.graph as unknown as CamModel).map((l) => l.name)).toEqual(inception.nodes.spatial);
    // The default layer is the last listed node with spatial size > 1 on the output's path.
    expect(list.at(-2)?.name).toBe(residual.nodes.lastConv);
  });
});

describe('GraphModel refusals, StopGradient, no leaks, model unchanged', () => {
  let ss: GraphTestModel;
  let two: GraphTestModel;
  let x: tf.Tensor4D;

  beforeAll(async () => {
    ss = await buildGraphTestModel('stridedSlice');
    two = await buildGraphTestModel('twoOutputs');
    x = graphTestInput(ss, 2);
  });
  afterAll(() => {
    ss.dispose();
    two.dispose();
    x.dispose();
  });

  it('refuses a layer below a StridedSlice at split time, naming the op and node and a later layer', () => {
    const before = snapshotGraph(ss.graph);
    const sg = ss.nodes.spatial[1] as string; // the StopGradient node, below the StridedSlice
    const e = expectThrowsClean(
      () => gradCam(ss.graph as unknown as CamModel, x, { layer: sg }),
      UnsupportedError,
      /'layer' must have only differentiable ops/,
    );
    expect(e.message).toContain(`node '${ss.nodes.stridedSlice}' (StridedSlice)`);
    expect(e.message).toContain(`e.g. '${ss.nodes.lastConv}'`);
    expect(e.message).not.toMatch(/gradient function not found/);
    // The suggested layer works.
    expectNoLeak(() => gradCam(ss.graph as unknown as CamModel, x, { layer: ss.nodes.lastConv }));
    expectGraphUnchanged(ss.graph, before);
  });

  it('StopGradient stops the gradient (TensorFlow semantics; tfjs would let it through)', () => {
    const below = ss.nodes.spatial[0] as string; // conv1/Relu, under StopGradient
    const r = activationsAndGradients(ss.graph as unknown as CamModel, x, { layer: below });
    expect(maxAbs(r.activations)).toBeGreaterThan(0);
    expect(maxAbs(r.gradients)).toBe(0);
    // Above the StopGradient and the slice, gradients flow.
    const above = activationsAndGradients(ss.graph as unknown as CamModel, x, { layer: ss.nodes.stridedSlice as string });
    expect(maxAbs(above.gradients)).toBeGreaterThan(0);
    tf.dispose([r.activations, r.gradients, r.scores, r.classIndex, above.activations, above.gradients, above.scores, above.classIndex]);
  });

  it('refuses bad outputIndex and options before any tensor exists', () => {
    expectThrowsClean(
      () => gradCam(two.graph as unknown as CamModel, x, { outputIndex: 2 }),
      OptionError,
      /outputIndex.*\[0, 1\].*Identity, Identity_1/,
    );
    // The last conv block feeds output 1 only.
    expectThrowsClean(
      () => gradCam(two.graph as unknown as CamModel, x, { layer: two.nodes.lastConv }),
      LayerError,
      /must be connected to the explained model output/,
    );
    expectNoLeak(() => gradCam(two.graph as unknown as CamModel, x, { layer: two.nodes.lastConv, outputIndex: 1 }));
    expectThrowsClean(() => gradCam(two.graph as unknown as CamModel, x, { target: 3 }), Error, /target/);
  });

  it('keeps the model bit-identical and leaks nothing on success and error paths', () => {
    const before = snapshotGraph(two.graph);
    const g = two.graph as unknown as CamModel;
    expectNoLeak(() => gradCam(g, x));
    expectNoLeak(() => scoreCam(g, x, { outputIndex: 1 }));
    expectNoLeak(() => guidedBackprop(g, x, { outputIndex: 1 }));
    expectThrowsClean(() => gradCam(g, x, { layer: 'nope' }), LayerError, /nope/);
    const small = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
    expectThrowsClean(() => gradCam(g, small, {}), Error, /height 16/);
    small.dispose();
    expectGraphUnchanged(two.graph, before);
  });

  it('LayersModel-only functions say so for a GraphModel', () => {
    const g = two.graph as unknown as CamModel;
    expectThrowsClean(() => sanityCheck(g as never, x, gradCam), ModelError, /LayersModel only/);
    expectThrowsClean(() => gradCamCallback({ model: g as never, images: x, onCams: () => undefined }), ModelError, /LayersModel only/);
  });
});

describe('GraphModel with control flow', () => {
  it('is refused at split time (the model needs executeAsync), naming the node', async () => {
    const b = new GraphBuilder();
    const x = b.placeholder('input_1', [-1, 8, 8, 3]);
    const k = b.constant(
      'conv/kernel',
      [3, 3, 3, 4],
      Array.from({ length: 108 }, (_, i) => Math.sin(i)),
    );
    const conv = b.node('conv/Relu', '_FusedConv2D', [x, k, b.constant('conv/bias', [4], [0.1, 0, -0.1, 0])], {
      T: attr.type(),
      strides: attr.ints([1, 1, 1, 1]),
      padding: attr.str('SAME'),
      data_format: attr.str('NHWC'),
      dilations: attr.ints([1, 1, 1, 1]),
      num_args: attr.int(1),
      fused_ops: attr.strs(['BiasAdd', 'Relu']),
      epsilon: attr.float(0),
    });
    const pred = b.constant('cond/pred', [], [1], 'int32');
    const sw = b.node('cond/Switch', 'Switch', [conv, pred], { T: attr.type() });
    const merge = b.node('cond/Merge', 'Merge', [`${sw}:1`, `${sw}:0`], { T: attr.type(), N: attr.int(2) });
    const mean = b.node('gap/Mean', 'Mean', [merge, b.constant('gap/axes', [2], [1, 2], 'int32')], {
      T: attr.type(),
      Tidx: attr.type('DT_INT32'),
      keep_dims: attr.bool(false),
    });
    b.output(b.node('Identity', 'Identity', [mean], { T: attr.type() }));
    const model = await loadGraph(b.artifacts());
    const input = tf.ones([1, 8, 8, 3]) as tf.Tensor4D;
    try {
      const e = expectThrowsClean(
        () => gradCam(model as unknown as CamModel, input, { layer: conv, target: 0 }),
        UnsupportedError,
        /executeAsync/,
      );
      expect(e.message).toMatch(/node 'cond\/(Switch|Merge)' \((Switch|Merge)\)/);
    } finally {
      model.dispose();
      input.dispose();
    }
  });
});

describe('GraphModel nodes tfcam does not replay', () => {
  /**
   * conv -> Atan (no tfcam rule: run through execute) -> Reshape to [batch, -1] whose shape is
   * computed at run time (Shape -> StridedSlice -> Pack: the pattern of a converted Flatten with a
   * dynamic batch) -> MatMul.
   */
  async function build(): Promise<{ model: Awaited<ReturnType<typeof loadGraph>>; conv: string; logits: string }> {
    const b = new GraphBuilder();
    const x = b.placeholder('input_1', [-1, 6, 6, 2]);
    const k = b.constant(
      'conv/kernel',
      [3, 3, 2, 3],
      Array.from({ length: 54 }, (_, i) => Math.cos(1.7 * i) * 0.5),
    );
    const conv = b.node('conv/BiasAdd', '_FusedConv2D', [x, k, b.constant('conv/bias', [3], [0.1, -0.2, 0.05])], {
      T: attr.type(),
      strides: attr.ints([1, 1, 1, 1]),
      padding: attr.str('SAME'),
      data_format: attr.str('NHWC'),
      dilations: attr.ints([1, 1, 1, 1]),
      num_args: attr.int(1),
      fused_ops: attr.strs(['BiasAdd']),
      epsilon: attr.float(0),
    });
    const atan = b.node('act/Atan', 'Atan', [conv], { T: attr.type() });
    const shape = b.node('flatten/Shape', 'Shape', [atan], { T: attr.type(), out_type: attr.type('DT_INT32') });
    const i32 = (name: string, v: number[]) => b.constant(name, [v.length], v, 'int32');
    const batch = b.node(
      'flatten/strided_slice',
      'StridedSlice',
      [shape, i32('flatten/s0', [0]), i32('flatten/s1', [1]), i32('flatten/s2', [1])],
      {
        T: attr.type('DT_INT32'),
        Index: attr.type('DT_INT32'),
        begin_mask: attr.int(0),
        end_mask: attr.int(0),
        ellipsis_mask: attr.int(0),
        new_axis_mask: attr.int(0),
        shrink_axis_mask: attr.int(1),
      },
    );
    const pack = b.node('flatten/Reshape/shape', 'Pack', [batch, b.constant('flatten/minus1', [], [-1], 'int32')], {
      T: attr.type('DT_INT32'),
      N: attr.int(2),
      axis: attr.int(0),
    });
    const flat = b.node('flatten/Reshape', 'Reshape', [atan, pack], { T: attr.type(), Tshape: attr.type('DT_INT32') });
    const w = b.constant(
      'dense/kernel',
      [108, 4],
      Array.from({ length: 432 }, (_, i) => Math.sin(0.37 * i) * 0.2),
    );
    const logits = b.node('dense/MatMul', 'MatMul', [flat, w], {
      T: attr.type(),
      transpose_a: attr.bool(false),
      transpose_b: attr.bool(false),
    });
    b.output(b.node('Identity', 'Identity', [logits], { T: attr.type() }));
    return { model: await loadGraph(b.artifacts()), conv, logits };
  }

  it('runs them through execute under the tape: the gradient equals tf.grad through the model itself', async () => {
    const { model, conv, logits } = await build();
    const x = tf.randomUniform([2, 6, 6, 2], -1, 1, 'float32', 9) as tf.Tensor4D;
    try {
      const before = snapshotGraph(model);
      const r = activationsAndGradients(model as unknown as CamModel, x, { layer: conv, target: [1, 3] });
      const a = model.execute(x, conv) as tf.Tensor;
      const pick = tf.oneHot(tf.tensor1d([1, 3], 'int32'), 4);
      const reference = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(model.execute({ [conv]: v }, logits) as tf.Tensor, pick)))(a);
      expect(maxDiff(r.activations, a)).toBe(0);
      expect(maxDiff(r.gradients, reference)).toBeLessThan(1e-6);
      expect(maxAbs(reference)).toBeGreaterThan(1e-3);
      expect(listLayers(model as unknown as CamModel).map((l) => l.name)).toEqual([conv, 'act/Atan']);
      tf.dispose([r.activations, r.gradients, r.scores, r.classIndex, a, pick, reference]);
      expectNoLeak(() => gradCam(model as unknown as CamModel, x));
      expectNoLeak(() => scoreCam(model as unknown as CamModel, x, { layer: conv }));
      expectGraphUnchanged(model, before);
    } finally {
      model.dispose();
      x.dispose();
    }
  });
});

const isTensorValue = (v: unknown): v is tf.Tensor => typeof v === 'object' && v !== null && 'dataId' in v;

describe('GraphModel metrics', () => {
  let m: GraphTestModel;
  let x: tf.Tensor4D;
  let maps: tf.Tensor3D;

  beforeAll(async () => {
    m = await buildGraphTestModel('plain');
    x = graphTestInput(m, 2);
    maps = tf.randomUniform([2, 16, 16], 0, 1, 'float32', 4) as tf.Tensor3D;
  });
  afterAll(() => {
    m.dispose();
    tf.dispose([x, maps]);
  });

  it('confidenceChange, averageDrop, increaseInConfidence, deletion and insertion equal the twin\u2019s', () => {
    const g = m.graph as unknown as CamModel;
    const before = tf.memory().numTensors;
    const pairs: Array<[string, (model: CamModel) => tf.Tensor[]]> = [
      ['confidenceChange', (model) => Object.values(confidenceChange(model, x, maps)) as tf.Tensor[]],
      ['averageDrop', (model) => [averageDrop(model, x, maps)]],
      ['increaseInConfidence', (model) => [increaseInConfidence(model, x, maps)]],
      ['deletion', (model) => Object.values(deletion(model, x, maps, { steps: 4 })).filter(isTensorValue)],
      ['insertion', (model) => Object.values(insertion(model, x, maps, { steps: 4 })).filter(isTensorValue)],
    ];
    for (const [name, run] of pairs) {
      const a = run(g);
      const b = run(m.twin);
      expect(a.length, name).toBe(b.length);
      a.forEach((t, i) => expect(maxDiff(t, b[i] as tf.Tensor), name).toBeLessThan(1e-5));
      tf.dispose([...a, ...b]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('GraphModel upsampling and global max pooling', () => {
  /**
   * conv(relu) -> ResizeNearestNeighbor / ResizeBilinear x2 -> conv(relu) -> Max over [1, 2] ->
   * MatMul, and the same network as Keras layers (Conv2D, UpSampling2D, Conv2D, GlobalMaxPooling2D,
   * Dense). Both are replayed by tfcam with gradops' rules (tfjs-cpu's nearest-resize gradient is
   * wrong past the first example; tfjs' Max gradient counts tied maxima several times).
   */
  async function build(nearest: boolean): Promise<{ graph: Awaited<ReturnType<typeof loadGraph>>; twin: tfl.LayersModel; conv: string }> {
    const k1 = Array.from({ length: 3 * 3 * 2 * 4 }, (_, i) => Math.sin(1.3 * i) * 0.5);
    const b1 = [0.1, -0.05, 0.02, 0];
    const k2 = Array.from({ length: 3 * 3 * 4 * 5 }, (_, i) => Math.cos(0.7 * i) * 0.4);
    const b2 = [0.05, 0, -0.1, 0.02, 0.03];
    const wd = Array.from({ length: 5 * 3 }, (_, i) => Math.sin(0.9 * i + 1));
    const b = new GraphBuilder();
    const x = b.placeholder('input_1', [-1, 5, 7, 2]);
    const convAttrs = {
      T: attr.type(),
      strides: attr.ints([1, 1, 1, 1]),
      padding: attr.str('SAME'),
      data_format: attr.str('NHWC'),
      dilations: attr.ints([1, 1, 1, 1]),
      num_args: attr.int(1),
      fused_ops: attr.strs(['BiasAdd', 'Relu']),
      epsilon: attr.float(0),
    };
    const c1 = b.node(
      'conv1/Relu',
      '_FusedConv2D',
      [x, b.constant('conv1/k', [3, 3, 2, 4], k1), b.constant('conv1/b', [4], b1)],
      convAttrs,
    );
    const size = b.constant('up/size', [2], [10, 14], 'int32');
    const up = b.node('up/resize', nearest ? 'ResizeNearestNeighbor' : 'ResizeBilinear', [c1, size], {
      T: attr.type(),
      align_corners: attr.bool(false),
      half_pixel_centers: attr.bool(false),
    });
    const c2 = b.node(
      'conv2/Relu',
      '_FusedConv2D',
      [up, b.constant('conv2/k', [3, 3, 4, 5], k2), b.constant('conv2/b', [5], b2)],
      convAttrs,
    );
    const gmp = b.node('gmp/Max', 'Max', [c2, b.constant('gmp/axes', [2], [1, 2], 'int32')], {
      T: attr.type(),
      Tidx: attr.type('DT_INT32'),
      keep_dims: attr.bool(false),
    });
    const logits = b.node('dense/MatMul', 'MatMul', [gmp, b.constant('dense/k', [5, 3], wd)], {
      T: attr.type(),
      transpose_a: attr.bool(false),
      transpose_b: attr.bool(false),
    });
    b.output(b.node('Identity', 'Identity', [logits], { T: attr.type() }));
    const graph = await loadGraph(b.artifacts());
    const input = tfl.input({ shape: [5, 7, 2] });
    const l1 = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1' });
    const l2 = tfl.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv2' });
    const l3 = tfl.layers.dense({ units: 3, useBias: false, name: 'dense' });
    let y = l1.apply(input) as tfl.SymbolicTensor;
    y = tfl.layers
      .upSampling2d({ size: [2, 2], interpolation: nearest ? 'nearest' : 'bilinear', name: 'up' })
      .apply(y) as tfl.SymbolicTensor;
    y = tfl.layers.globalMaxPooling2d({ name: 'gmp' }).apply(l2.apply(y)) as tfl.SymbolicTensor;
    const twin = tfl.model({ inputs: input, outputs: l3.apply(y) as tfl.SymbolicTensor });
    tf.tidy(() => {
      l1.setWeights([tf.tensor4d(k1, [3, 3, 2, 4]), tf.tensor1d(b1)]);
      l2.setWeights([tf.tensor4d(k2, [3, 3, 4, 5]), tf.tensor1d(b2)]);
      l3.setWeights([tf.tensor2d(wd, [5, 3])]);
    });
    return { graph, twin, conv: c1 };
  }

  it.each([['nearest'], ['bilinear']])('%s: gradients and maps equal the LayersModel twin (batch 2)', async (kind) => {
    const { graph, twin, conv } = await build(kind === 'nearest');
    const x = tf.randomUniform([2, 5, 7, 2], -1, 1, 'float32', 17) as tf.Tensor4D;
    try {
      const g = activationsAndGradients(graph as unknown as CamModel, x, { layer: conv, target: [0, 2] });
      const t = activationsAndGradients(twin, x, { layer: 'conv1', target: [0, 2] });
      expect(maxAbs(g.gradients)).toBeGreaterThan(1e-4);
      expect(maxDiff(g.activations, t.activations)).toBeLessThan(1e-5);
      expect(maxDiff(g.gradients, t.gradients)).toBeLessThan(1e-6);
      const gc = gradCam(graph as unknown as CamModel, x, { layer: conv });
      const tc = gradCam(twin, x, { layer: 'conv1' });
      expect(maxDiff(gc.heatmap, tc.heatmap)).toBeLessThan(1e-5);
      tf.dispose([g.activations, g.gradients, g.scores, g.classIndex, t.activations, t.gradients, t.scores, t.classIndex]);
      tf.dispose([gc, tc] as unknown as tf.TensorContainer);
    } finally {
      graph.dispose();
      twin.dispose();
      x.dispose();
    }
  });
});

describe('GraphModel through an explainer', () => {
  it('gives gradCam\u2019s numbers, call after call, and holds only its prepared kernels', async () => {
    const m = await buildGraphTestModel('residual');
    const x = graphTestInput(m, 2);
    try {
      const g = m.graph as unknown as CamModel;
      const layer = m.nodes.inBranch as string;
      const once = gradCam(g, x, { layer });
      const explainer = createExplainer(g, { layer });
      for (let i = 0; i < 3; i++) {
        const before = tf.memory().numTensors;
        const r = explainer.gradCam(x);
        expect(r.layer).toBe(layer);
        expect(maxDiff(r.heatmap, once.heatmap)).toBeLessThan(1e-6);
        tf.dispose(r as unknown as tf.TensorContainer);
        // The first call may prepare kernels (kept); later calls add nothing.
        if (i > 0) expect(tf.memory().numTensors).toBe(before);
      }
      explainer.dispose();
      tf.dispose(once as unknown as tf.TensorContainer);
    } finally {
      m.dispose();
      x.dispose();
    }
  });
});
