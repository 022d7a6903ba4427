/**
 * Resolving the `layer` option to a value of the flattened graph.
 *
 * @internal
 * @module
 */
import { LayerError, UnsupportedError, describeValue } from '../../errors.js';
import type { LayerInfo } from '../explainable.js';
import type { FlatGraph } from './graph.js';
import { ancestorsOf, hierarchyPaths } from './graph.js';
import type { ContainerLike, LayerLike, LayerWith } from './keras-types.js';
import { isContainer, isLayer } from './keras-types.js';

/** A resolved target: one value of the flattened graph. */
export interface ResolvedLayer {
  /** Value id of the layer output (A). */
  value: number;
  /** Path of the layer, e.g. `'base/last_conv'`. */
  path: string;
  /** Static output shape, batch axis `null`. */
  shape: ReadonlyArray<number | null>;
  layer: LayerLike;
}

interface Occurrence extends ResolvedLayer {
  /** Order of the call in the flattened graph (topological). */
  order: number;
}

/** Every place a layer (or nested model) produces a value, in topological order. */
function occurrences(model: ContainerLike, graph: FlatGraph): Occurrence[] {
  const out: Occurrence[] = [];
  for (const s of graph.steps) {
    out.push({
      value: s.outputs[0] as number,
      path: s.path,
      shape: s.outputShapes[0] ?? [],
      layer: s.layer,
      order: s.outputs[0] as number,
    });
  }
  for (const c of graph.containerCalls) {
    out.push({
      value: c.outputs[0] as number,
      path: c.path,
      shape: c.outputShapes[0] ?? [],
      layer: c.layer,
      order: c.outputs[0] as number,
    });
  }
  // Nested models tfjs-layers inlined (the first layer of a Sequential): no call of their own, but
  // their output is a value of the graph.
  const called = new Set<LayerLike>(graph.containerCalls.map((c) => c.layer));
  for (const [layer, path] of hierarchyPaths(model)) {
    if (!isContainer(layer) || called.has(layer)) continue;
    const st = layer.outputs[0];
    const value = st === undefined ? undefined : graph.tensorValues.get(st.id);
    if (st !== undefined && value !== undefined) out.push({ value, path, shape: st.shape, layer, order: value });
  }
  return out.sort((a, b) => a.order - b.order);
}

const isSpatial = (shape: ReadonlyArray<number | null>): boolean => shape.length === 4;

function spatialSize(shape: ReadonlyArray<number | null>): number {
  const h = shape[1];
  const w = shape[2];
  if (h === null || w === null || h === undefined || w === undefined) return Infinity;
  return h * w;
}

/** Paths of layers with a rank-4 output, for "use one of" hints. */
function candidateList(model: ContainerLike, graph: FlatGraph, needed: boolean[] | null): string {
  const names = occurrences(model, graph)
    .filter((o) => isSpatial(o.shape) && (needed === null || isNeeded(graph, o.value, needed)))
    .map((o) => o.path);
  const unique = [...new Set(names)];
  if (unique.length === 0) return '(the model has no layer with a rank-4 output)';
  const shown = unique.slice(-12);
  return (unique.length > shown.length ? '..., ' : '') + shown.join(', ');
}

function isNeeded(graph: FlatGraph, value: number, needed: boolean[]): boolean {
  const p = graph.producer[value] ?? -1;
  return p >= 0 && needed[p] === true;
}

/**
 * Every layer (or nested model) with a rank-4 output, in execution order, once per path: what
 * `listLayers` reports.
 */
export function candidateLayers(model: ContainerLike, graph: FlatGraph): LayerInfo[] {
  const seen = new Set<string>();
  const out: LayerInfo[] = [];
  for (const o of occurrences(model, graph)) {
    if (!isSpatial(o.shape) || seen.has(o.path)) continue;
    seen.add(o.path);
    out.push({ name: o.path, op: o.layer.getClassName(), shape: o.shape });
  }
  return out;
}

/**
 * Resolves the `layer` option (name, path, index, Layer object, or undefined for the default) to a
 * value of the graph that the chosen output depends on.
 */
export function resolveLayer(
  fn: string,
  model: ContainerLike,
  graph: FlatGraph,
  ref: unknown,
  node: number | undefined,
  outputIndex: number,
): ResolvedLayer {
  const outputValue = graph.outputValues[outputIndex] as number;
  const needed = ancestorsOf(graph, [outputValue]);

  if (ref === undefined) {
    for (let i = graph.steps.length - 1; i >= 0; i--) {
      const s = graph.steps[i];
      if (s === undefined || !needed[i]) continue;
      const shape = s.outputShapes[0] ?? [];
      if (isSpatial(shape) && spatialSize(shape) > 1 && (s.layer as LayerWith<'dataFormat'>).dataFormat !== 'channelsFirst') {
        return pick(
          fn,
          model,
          graph,
          [{ value: s.outputs[0] as number, path: s.path, shape, layer: s.layer, order: i }],
          node,
          s.path,
          needed,
        );
      }
    }
    throw new LayerError({
      fn,
      argument: 'layer',
      expected: 'could not be chosen automatically: no layer has a rank-4 output with spatial size > 1',
      got: 'none',
      fix: 'Pass options.layer explicitly; Grad-CAM needs a [batch, height, width, channels] activation.',
    });
  }

  const all = occurrences(model, graph);
  let matches: Occurrence[];
  let label: string;
  if (typeof ref === 'string') {
    label = `'${ref}'`;
    matches = all.filter((o) => o.path === ref);
    if (matches.length === 0) matches = all.filter((o) => o.layer.name === ref);
    if (matches.length === 0) {
      throw new LayerError({
        fn,
        argument: 'layer',
        expected: 'must name a layer of the model',
        got: label,
        fix: `Use one of: ${candidateList(model, graph, needed)} (nested layers as 'model/layer').`,
      });
    }
    const layers = new Set(matches.map((m) => m.layer));
    if (layers.size > 1) {
      throw new LayerError({
        fn,
        argument: 'layer',
        expected: 'must name exactly one layer',
        got: `${label}, which matches ${[...new Set(matches.map((m) => m.path))].join(', ')}`,
        fix: 'Use the full path (model/layer) or pass the Layer object.',
      });
    }
  } else if (typeof ref === 'number') {
    const n = model.layers.length;
    if (!Number.isInteger(ref) || ref < -n || ref >= n) {
      throw new LayerError({
        fn,
        argument: 'layer',
        expected: `as an index must be an integer in [${-n}, ${n - 1}] (model.layers has ${n} layers)`,
        got: describeValue(ref),
        fix: 'Use a valid index, or a layer name.',
      });
    }
    const layer = model.layers[ref < 0 ? n + ref : ref] as LayerLike;
    label = `index ${ref} ('${layer.name}')`;
    matches = all.filter((o) => o.layer === layer);
    if (matches.length === 0) {
      throw new LayerError({
        fn,
        argument: 'layer',
        expected: 'must select a layer with an output tensor (not an input layer)',
        got: `${label}, a ${layer.getClassName()}`,
        fix: `Use one of: ${candidateList(model, graph, needed)}.`,
      });
    }
  } else if (isLayer(ref)) {
    label = `layer '${ref.name}'`;
    matches = all.filter((o) => o.layer === ref);
    if (matches.length === 0) {
      throw new LayerError({
        fn,
        argument: 'layer',
        expected: 'must be a layer of this model (or of a model nested in it)',
        got: `${label}, which is not part of it`,
        fix: `Use one of: ${candidateList(model, graph, needed)}.`,
      });
    }
  } else {
    throw new LayerError({
      fn,
      argument: 'layer',
      expected: 'must be a layer name, an index into model.layers, or a Layer object',
      got: describeValue(ref),
      fix: `Use one of: ${candidateList(model, graph, needed)}.`,
    });
  }
  return pick(fn, model, graph, matches, node, label, needed);
}

function pick(
  fn: string,
  model: ContainerLike,
  graph: FlatGraph,
  matches: Occurrence[],
  node: number | undefined,
  label: string,
  needed: boolean[],
): ResolvedLayer {
  let chosen: Occurrence;
  if (matches.length > 1) {
    if (node === undefined) {
      throw new LayerError({
        fn,
        argument: 'layer',
        expected: 'must be called once in the model, or the call must be chosen',
        got: `${label}, a shared layer called ${matches.length} times`,
        fix: `Pass options.node (0 to ${matches.length - 1}) to pick the call, in execution order.`,
      });
    }
    if (node < 0 || node >= matches.length) {
      throw new LayerError({
        fn,
        argument: 'node',
        expected: `must be in [0, ${matches.length - 1}] for ${label}`,
        got: describeValue(node),
        fix: 'Count the calls of the shared layer in execution order, from 0.',
      });
    }
    chosen = matches[node] as Occurrence;
  } else {
    chosen = matches[0] as Occurrence;
  }
  if (!isSpatial(chosen.shape)) {
    throw new LayerError({
      fn,
      argument: 'layer',
      expected: 'must have a rank-4 output [batch, height, width, channels]',
      got: `${label} with output shape [${chosen.shape.map((d) => (d === null ? 'null' : d)).join(', ')}]`,
      fix: `Pick a convolutional block instead, e.g. one of: ${candidateList(model, graph, needed)}.`,
    });
  }
  if ((chosen.layer as LayerWith<'dataFormat'>).dataFormat === 'channelsFirst') {
    throw new UnsupportedError({
      fn,
      argument: 'layer',
      expected: 'must produce channels-last (NHWC) activations',
      got: `${label} with dataFormat 'channelsFirst'`,
      fix: 'Pick a channels-last layer; tfcam weights channels on the last axis.',
    });
  }
  if (!isNeeded(graph, chosen.value, needed)) {
    throw new LayerError({
      fn,
      argument: 'layer',
      expected: 'must be connected to the explained model output',
      got: `${label}, which the output does not depend on`,
      fix: `Pick a layer on the path to the output (or set outputIndex), e.g. one of: ${candidateList(model, graph, needed)}.`,
    });
  }
  return { value: chosen.value, path: chosen.path, shape: chosen.shape, layer: chosen.layer };
}
