/**
 * The code-built graph models (test/helpers/graph-models.ts): each `tf.GraphModel` equals its
 * LayersModel twin (same weights), node by node, and `execute` behaves as the GraphModel engine
 * will rely on (intermediate outputs, feeding a node, cut feeds for nodes in a branch).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ancestors,
  attr,
  buildGraphTestModel,
  cutFeeds,
  decodeStringAttr,
  GRAPH_TEST_MODEL_KINDS,
  GraphBuilder,
  graphNodeDefs,
  graphTestInput,
  graphTestSpec,
  loadGraph,
  type GraphTestModel,
  type GraphTestModelKind,
} from '../helpers/graph-models.js';

const TOL = 1e-5;

function list(t: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap): tf.Tensor[] {
  if (t instanceof tf.Tensor) return [t];
  return Array.isArray(t) ? t : Object.values(t);
}

/** max |a - b| (shapes must match). */
function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

/** The output of one twin layer (a sub-model sharing the twin's layers). */
function twinLayerOutput(twin: tfl.LayersModel, layer: string, x: tf.Tensor): tf.Tensor {
  const sub = tfl.model({ inputs: twin.inputs, outputs: twin.getLayer(layer).output as tfl.SymbolicTensor });
  return sub.predict(x) as tf.Tensor;
}

describe.each(GRAPH_TEST_MODEL_KINDS.map((k) => [k]))('graph test model %s', (kind: GraphTestModelKind) => {
  let m: GraphTestModel;
  let x: tf.Tensor4D;

  beforeAll(async () => {
    m = await buildGraphTestModel(kind);
    x = graphTestInput(m);
  });
  afterAll(() => {
    m.dispose();
    x.dispose();
  });

  it('equals its LayersModel twin on every output', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const g = list(m.graph.execute(x) as tf.Tensor | tf.Tensor[]);
      const t = list(m.twin.predict(x) as tf.Tensor | tf.Tensor[]);
      expect(g.length).toBe(m.outputNodes.length);
      expect(t.length).toBe(g.length);
      g.forEach((gi, i) => expect(maxDiff(gi, t[i] as tf.Tensor)).toBeLessThanOrEqual(TOL));
      // Not degenerate: the examples and the classes differ.
      for (const gi of g) expect(tf.moments(gi).variance.dataSync()[0]).toBeGreaterThan(1e-6);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('equals the twin at every paired node (graph node output = twin layer output)', () => {
    expect(Object.keys(m.pairs).length).toBeGreaterThan(3);
    tf.tidy(() => {
      for (const [node, layer] of Object.entries(m.pairs)) {
        const a = m.graph.execute(x, node) as tf.Tensor;
        const b = twinLayerOutput(m.twin, layer, x);
        const d = maxDiff(a, b);
        if (d > TOL) throw new Error(`${node} vs twin layer ${layer}: max diff ${d}`);
      }
    });
  });

  it('has converter-style names and attrs (prefixed nodes, Identity outputs, base64 strings)', () => {
    const nodes = graphNodeDefs(m.graph);
    expect(nodes.filter((n) => n.op === 'Placeholder').map((n) => n.name)).toEqual(['input_1']);
    expect(m.graph.inputNodes).toEqual(['input_1:0']);
    expect(m.graph.outputNodes).toEqual(m.outputNodes.map((o) => `${o}:0`));
    for (const n of nodes) {
      if (n.op === 'Placeholder' || n.op === 'Identity') continue;
      expect(n.name.startsWith('StatefulPartitionedCall/model/')).toBe(true);
    }
    for (const n of nodes.filter((n) => n.op === '_FusedConv2D' || n.op === 'FusedDepthwiseConv2dNative')) {
      expect(decodeStringAttr(n.attr?.['padding'])).toMatch(/^(SAME|VALID)$/);
      expect(n.attr?.['num_args']).toEqual({ i: '1' });
    }
    expect(Object.keys(m.pairs)).toContain(m.nodes.lastConv);
  });

  it('returns intermediates with execute(x, [node, out]) and the same output as execute(x)', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const out = m.outputNodes[0] as string;
      const [a, y] = m.graph.execute(x, [m.nodes.lastConv, out]) as tf.Tensor[];
      expect(a?.rank).toBe(4);
      expect(maxDiff(y as tf.Tensor, list(m.graph.execute(x) as tf.Tensor)[0] as tf.Tensor)).toBe(0);
      // `:0` names the first output of a node; execute accepts both forms.
      const a0 = m.graph.execute(x, `${m.nodes.lastConv}:0`) as tf.Tensor;
      expect(maxDiff(a0, a as tf.Tensor)).toBe(0);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reproduces each output above the last conv block with execute({[node]: A}, output)', () => {
    const nodes = graphNodeDefs(m.graph);
    const above = m.outputNodes.filter((o) => ancestors(nodes, o).has(m.nodes.lastConv));
    // twoOutputs: the last conv block belongs to the second head only.
    expect(above).toEqual(kind === 'twoOutputs' ? ['Identity_1'] : m.outputNodes);
    tf.tidy(() => {
      const a = m.graph.execute(x, m.nodes.lastConv) as tf.Tensor;
      const ys = list(m.graph.execute(x, above) as tf.Tensor | tf.Tensor[]);
      expect(cutFeeds(nodes, m.nodes.lastConv, above)).toEqual([]);
      const fed = list(m.graph.execute({ [m.nodes.lastConv]: a }, above) as tf.Tensor | tf.Tensor[]);
      fed.forEach((f, i) => expect(maxDiff(f, ys[i] as tf.Tensor)).toBe(0));
      // The logits (pre-softmax) node is a node like any other.
      const logits = m.graph.execute({ [m.nodes.lastConv]: a }, m.nodes.logits.at(-1) as string) as tf.Tensor;
      expect(logits.rank).toBe(2);
    });
    if (kind === 'twoOutputs') {
      expect(() => cutFeeds(nodes, m.nodes.lastConv, ['Identity'])).toThrow(/not below the output 'Identity'/);
    }
  });
});

describe('graph test models: nodes inside a branch', () => {
  it.each([['residual' as const], ['inception' as const]])(
    '%s: feeding a branch node alone fails; with the cut feeds the output is exact',
    async (kind) => {
      const m = await buildGraphTestModel(kind);
      const x = graphTestInput(m);
      try {
        const before = tf.memory().numTensors;
        const node = m.nodes.inBranch as string;
        const cuts = cutFeeds(graphNodeDefs(m.graph), node, m.outputNodes);
        expect(cuts.length).toBeGreaterThan(0);
        tf.tidy(() => {
          const [a, ...cutValues] = m.graph.execute(x, [node, ...cuts]) as tf.Tensor[];
          const y = m.graph.execute(x) as tf.Tensor;
          expect(() => m.graph.execute({ [node]: a as tf.Tensor }, m.outputNodes)).toThrow(/Missing the following inputs: \[input_1\]/);
          const feeds: tf.NamedTensorMap = { [node]: a as tf.Tensor };
          cuts.forEach((c, i) => (feeds[c] = cutValues[i] as tf.Tensor));
          expect(maxDiff(m.graph.execute(feeds, m.outputNodes) as tf.Tensor, y)).toBe(0);
          // Feeding the model input as well also works (the skip path is recomputed from the input).
          expect(maxDiff(m.graph.execute({ [m.inputNode]: x, [node]: a as tf.Tensor }, m.outputNodes) as tf.Tensor, y)).toBe(0);
        });
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        m.dispose();
        x.dispose();
      }
    },
  );

  it('residual: the cut of a branch node is the skip connection (the block input)', () => {
    const spec = graphTestSpec('residual');
    const nodes = (spec.artifacts.modelTopology as { node: Parameters<typeof cutFeeds>[0] }).node;
    expect(cutFeeds(nodes, spec.nodes.inBranch as string, spec.outputNodes)).toEqual([
      'StatefulPartitionedCall/model/MobilenetV2/expanded_conv/project/BatchNorm/FusedBatchNormV3',
    ]);
    // Above the add, nothing is cut.
    expect(cutFeeds(nodes, 'StatefulPartitionedCall/model/MobilenetV2/expanded_conv_1/add', spec.outputNodes)).toEqual([]);
  });
});

describe('graph test models: gradients', () => {
  it('stridedSlice: tf.grad through execute fails below the StridedSlice and works above it', async () => {
    const m = await buildGraphTestModel('stridedSlice');
    const x = graphTestInput(m);
    try {
      const below = m.nodes.spatial[0] as string; // conv1/Relu, under StopGradient + StridedSlice
      const head = (node: string) => (a: tf.Tensor) => tf.sum(m.graph.execute({ [node]: a }, m.nodes.logits[0] as string) as tf.Tensor);
      const aBelow = m.graph.execute(x, below) as tf.Tensor;
      const aAbove = m.graph.execute(x, m.nodes.lastConv) as tf.Tensor;
      expect(() => tf.grad(head(below))(aBelow)).toThrow(/gradient function not found for StridedSlice/i);
      const g = tf.grad(head(m.nodes.lastConv))(aAbove);
      expect(g.shape).toEqual(aAbove.shape);
      tf.dispose([aBelow, aAbove, g]);
    } finally {
      m.dispose();
      x.dispose();
    }
  });
});

describe('GraphBuilder', () => {
  it('rejects duplicate names and unknown inputs', () => {
    const b = new GraphBuilder();
    b.placeholder('x', [-1, 2]);
    expect(() => b.placeholder('x', [-1, 2])).toThrow(/duplicate/);
    expect(() => b.node('y', 'Relu', ['nope'])).toThrow(/unknown input 'nope'/);
  });

  it('writes a graph the converter loads without a signature (Placeholders in, childless nodes out)', async () => {
    const b = new GraphBuilder();
    const x = b.placeholder('x', [-1, 3]);
    const w = b.constant('dense/MatMul/ReadVariableOp', [3, 2], [1, 2, 3, 4, 5, 6]);
    const y = b.node('dense/MatMul', 'MatMul', [x, w], { T: attr.type(), transpose_a: attr.bool(false), transpose_b: attr.bool(false) });
    b.node('Identity', 'Identity', [y], { T: attr.type() });
    const g = await loadGraph(b.artifacts({ signature: false }));
    try {
      expect(g.inputNodes).toEqual(['x']);
      expect(g.outputNodes).toEqual(['Identity']);
      const out = tf.tidy(() => Array.from((g.execute(tf.tensor2d([[1, 1, 1]])) as tf.Tensor).dataSync()));
      expect(out).toEqual([9, 12]);
    } finally {
      g.dispose();
    }
  });

  it('without a signature, the test networks name their input without :0', async () => {
    const m = await buildGraphTestModel('plain', { signature: false });
    try {
      expect(m.inputNode).toBe('input_1');
      expect(m.graph.inputNodes).toEqual(['input_1']);
      expect(m.graph.outputNodes).toEqual(['Identity']);
    } finally {
      m.dispose();
    }
  });
});
