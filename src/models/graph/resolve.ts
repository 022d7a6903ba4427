/**
 * Resolving the `layer` option to a node of a graph model, and the candidate list.
 *
 * Rules (docs/graph-models.md):
 * - the full node name, with or without `':0'`, names that node;
 * - otherwise a *short name* (`'mixed7'`, `'block_16_project'`, `'expanded_conv_1/depthwise'`) is a
 *   run of whole `/`-separated name components. Every node whose name contains it is grouped by its
 *   scope (the name up to the end of the match); a scope stands for its last node in execution
 *   order that is computed from the input (a Keras layer's output: `'mixed7'` ->
 *   `'.../mixed7/concat'`, `'conv2d_3'` -> `'.../conv2d_3/Relu'`). One scope resolves; several are a
 *   `LayerError` that lists each scope's node;
 * - the default layer is the last node on the explained output's path whose static output is rank 4
 *   with spatial size > 1 (unknown sizes count as > 1).
 *
 * @internal
 * @module
 */
import { LayerError, describeValue } from '../../errors.js';
import type { LayerInfo } from '../explainable.js';
import { ancestorsOf } from './plan.js';
import type { Shape } from './shapes.js';
import type { GraphNode, Topology } from './topology.js';

/** What resolution needs: the topology and the static shapes. */
export interface GraphIndex {
  readonly topology: Topology;
  readonly shapes: ReadonlyArray<Shape | null>;
}

/** A node tfcam can explain: computed from the input, not a Placeholder. */
function isValueNode(index: GraphIndex, n: GraphNode): boolean {
  return !n.isConst && index.topology.dependsOnInput[n.index] === true && !n.op.startsWith('Placeholder');
}

const isRank4 = (s: Shape | null | undefined): boolean => s !== null && s !== undefined && s.length === 4;

function spatialSize(s: Shape): number {
  const h = s[1];
  const w = s[2];
  return h === null || w === null || h === undefined || w === undefined ? Infinity : h * w;
}

const dims = (s: Shape | null | undefined): string =>
  s === null || s === undefined ? 'unknown' : `[${s.map((d) => (d === null ? 'null' : String(d))).join(', ')}]`;

/** The nodes with a rank-4 output, in execution order: what `listLayers` reports. */
export function candidateNodes(index: GraphIndex): LayerInfo[] {
  return index.topology.nodes
    .filter((n) => isValueNode(index, n) && isRank4(index.shapes[n.index]))
    .map((n) => ({ name: n.name, op: n.op, shape: index.shapes[n.index] as Shape }));
}

/** Candidate names on the path to `output` (the last 12), for "use one of" hints. */
export function candidateHint(index: GraphIndex, needed: readonly boolean[]): string {
  const names = candidateNodes(index)
    .filter((c) => needed[(index.topology.byName.get(c.name) as GraphNode).index] === true)
    .filter((c) => spatialSize(c.shape as Shape) > 1)
    .map((c) => c.name);
  if (names.length === 0) return '(the model has no node with a rank-4 output on the path to this output)';
  const shown = names.slice(-12);
  return (names.length > shown.length ? '..., ' : '') + shown.map((n) => `'${n}'`).join(', ');
}

/** Nodes matched by a short name, one per scope (see the module notes). */
function shortMatches(index: GraphIndex, ref: string): GraphNode[] {
  const want = ref.split('/').filter((p) => p !== '');
  if (want.length === 0) return [];
  const scopes = new Map<string, GraphNode>();
  for (const n of index.topology.nodes) {
    if (!isValueNode(index, n)) continue;
    const parts = n.name.split('/');
    for (let i = 0; i + want.length <= parts.length; i++) {
      if (want.every((w, k) => parts[i + k] === w)) {
        // Topological order: a later node of the same scope replaces the earlier one.
        scopes.set(parts.slice(0, i + want.length).join('/'), n);
        break;
      }
    }
  }
  return [...scopes.values()].sort((a, b) => a.index - b.index);
}

/**
 * Resolves the `layer` option (undefined: the default) to a node for model output `outputIndex`.
 * Throws a {@link LayerError} naming candidates that resolve.
 */
export function resolveNode(fn: string, index: GraphIndex, ref: unknown, outputIndex: number): GraphNode {
  const { topology, shapes } = index;
  const output = topology.outputs[outputIndex];
  const needed = ancestorsOf(topology, output === undefined ? [] : [output.node]);

  if (ref === undefined) {
    for (let i = topology.nodes.length - 1; i >= 0; i--) {
      const n = topology.nodes[i] as GraphNode;
      const s = shapes[i];
      if (needed[i] && isValueNode(index, n) && isRank4(s) && spatialSize(s as Shape) > 1) return n;
    }
    throw new LayerError({
      fn,
      argument: 'layer',
      expected: 'could not be chosen automatically: no node on the path to the output has a known rank-4 shape with spatial size > 1',
      got: 'none',
      fix: 'Pass options.layer with a node name (listLayers(model) lists the candidates); Grad-CAM needs a [batch, height, width, channels] activation.',
    });
  }
  if (typeof ref !== 'string') {
    throw new LayerError({
      fn,
      argument: 'layer',
      expected: 'must be a node name for a GraphModel (a full node name or a short name such as a Keras layer name)',
      got: describeValue(ref),
      fix: `Use one of: ${candidateHint(index, needed)}.`,
    });
  }
  const colon = /^(.*):(\d+)$/.exec(ref);
  const name = colon === null ? ref : (colon[1] as string);
  if (colon !== null && colon[2] !== '0') {
    throw new LayerError({
      fn,
      argument: 'layer',
      expected: "must name a node's first output (':0')",
      got: `'${ref}'`,
      fix: `Use '${name}' (output 0), or a node that outputs the activations you want.`,
    });
  }
  let node = topology.byName.get(name);
  if (node === undefined) {
    const matches = shortMatches(index, name);
    if (matches.length > 1) {
      throw new LayerError({
        fn,
        argument: 'layer',
        expected: 'must name exactly one node (as a full name, or a short name matching one scope)',
        got: `'${ref}', which matches ${matches.length} scopes: ${matches
          .slice(0, 12)
          .map((m) => `'${m.name}'`)
          .join(', ')}${matches.length > 12 ? ', ...' : ''}`,
        fix: 'Pass one of these full names (or a longer part of it, e.g. the parent scope too).',
      });
    }
    node = matches[0];
  }
  if (node === undefined) {
    throw new LayerError({
      fn,
      argument: 'layer',
      expected: 'must name a node of the graph (full name or short name)',
      got: `'${ref}'`,
      fix: `Use one of: ${candidateHint(index, needed)} (listLayers(model) lists them all).`,
    });
  }
  const label = node.name === ref ? `'${ref}'` : `'${ref}' (node '${node.name}')`;
  if (!isValueNode(index, node)) {
    throw new LayerError({
      fn,
      argument: 'layer',
      expected: 'must name a node computed from the model input (not a constant or an input)',
      got: `${label}, a ${node.op} node`,
      fix: `Use one of: ${candidateHint(index, needed)}.`,
    });
  }
  const shape = shapes[node.index];
  if (!isRank4(shape)) {
    throw new LayerError({
      fn,
      argument: 'layer',
      expected: 'must have a rank-4 output [batch, height, width, channels] of a shape tfcam can infer',
      got: `${label}, a ${node.op} node with output shape ${dims(shape)}`,
      fix: `Pick a convolutional block instead, e.g. one of: ${candidateHint(index, needed)}.`,
    });
  }
  if (!needed[node.index]) {
    throw new LayerError({
      fn,
      argument: 'layer',
      expected: 'must be connected to the explained model output',
      got: `${label}, which output ${outputIndex} does not depend on`,
      fix: `Pick a node on the path to the output (or set outputIndex), e.g. one of: ${candidateHint(index, needed)}.`,
    });
  }
  return node;
}
