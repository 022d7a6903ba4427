/**
 * A minimal layer-level view of a Keras functional model, written for the benchmark only (it does not
 * use tfcam's graph code, so the hand-written anchors stay independent of the library they measure).
 *
 * It supports models in which every layer is called exactly once (one inbound node, one output
 * tensor), which is the case of the MobileNetV2 and InceptionV3 builders the benchmark uses.
 */
import type * as tfl from '@tensorflow/tfjs-layers';

/** One layer call: the layer and the names of the layers whose outputs it consumes, in order. */
export interface LayerCall {
  readonly name: string;
  readonly layer: tfl.layers.Layer;
  readonly className: string;
  readonly inputs: readonly string[];
}

interface NodeLike {
  inboundLayers: Array<{ name: string }>;
  tensorIndices: number[];
}

/** The model's layers in topological order with their producers. Throws on shared/multi-output layers. */
export function layerCalls(model: tfl.LayersModel): LayerCall[] {
  return model.layers.map((layer) => {
    const nodes = (layer as unknown as { inboundNodes: NodeLike[] }).inboundNodes;
    if (nodes.length !== 1) {
      throw new Error(`bench graph: layer '${layer.name}' has ${nodes.length} inbound nodes (shared layers are not supported)`);
    }
    const node = nodes[0] as NodeLike;
    if (node.tensorIndices.some((i) => i !== 0)) {
      throw new Error(`bench graph: layer '${layer.name}' consumes a non-first output of a layer`);
    }
    return {
      name: layer.name,
      layer,
      className: layer.getClassName(),
      inputs: node.inboundLayers.map((l) => l.name),
    };
  });
}

/** Splits the calls at `target`: the head is every call downstream of it (it excluded). */
export function splitAt(calls: readonly LayerCall[], target: string): { body: LayerCall[]; head: LayerCall[]; frontier: string[] } {
  if (!calls.some((c) => c.name === target)) throw new Error(`bench graph: no layer named '${target}'`);
  const downstream = new Set<string>([target]);
  for (const c of calls) {
    if (c.inputs.some((i) => downstream.has(i))) downstream.add(c.name);
  }
  const head = calls.filter((c) => c.name !== target && downstream.has(c.name));
  const body = calls.filter((c) => !downstream.has(c.name) || c.name === target);
  // Everything the head reads from outside itself: the target plus skip connections.
  const frontier = new Set<string>([target]);
  for (const c of head) for (const i of c.inputs) if (!downstream.has(i) || i === target) frontier.add(i);
  // The body only needs the ancestors of the frontier.
  const needed = new Set<string>(frontier);
  for (let k = body.length - 1; k >= 0; k--) {
    const c = body[k] as LayerCall;
    if (needed.has(c.name)) for (const i of c.inputs) needed.add(i);
  }
  return { body: body.filter((c) => needed.has(c.name)), head, frontier: [...frontier] };
}

/** For each call index, the names whose last consumer it is (so they can be freed after it). */
export function lastUses(calls: readonly LayerCall[], keep: ReadonlySet<string>): string[][] {
  const last = new Map<string, number>();
  calls.forEach((c, i) => c.inputs.forEach((n) => last.set(n, i)));
  const out: string[][] = calls.map(() => []);
  for (const [name, i] of last) if (!keep.has(name)) out[i]?.push(name);
  return out;
}
