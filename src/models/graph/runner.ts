/**
 * The two-phase runner for graph models (DESIGN.md, "Core mechanism"):
 *
 * 1. Body, outside any tape: one `model.execute(inputs, [A, ...cuts])`. The tfjs executor runs the
 *    fused kernels and frees every intermediate after its last use, so only A and the cut feeds (the
 *    values the head reads from outside the head: skip connections) survive.
 * 2. Head, under the tape: the nodes from A to the explained output are replayed by tfcam's node
 *    applier (applier.ts) from A; the cut feeds are constants. Nodes the applier does not cover run
 *    through `model.execute` on that node alone (its inputs fed, its output fetched), which records
 *    the node's tfjs ops on the tape.
 * Forward-only heads (`headForward`: Score-CAM, Ablation-CAM, metrics) run `model.execute` fed at A
 * and the cuts, with the model's own fused kernels.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { TfcamError, UnsupportedError } from '../../errors.js';
import type { HeadResult } from '../explainable.js';
import type { HeadTape, TapSlot } from '../head-tape.js';
import { headPass, tapSlot } from '../head-tape.js';
import type { NodeContext, NodeInputs } from './applier.js';
import { FUSED_OPS, applyNode, replays } from './applier.js';
import type { GraphPlan } from './plan.js';
import type { GraphNode, NodeRef, Topology } from './topology.js';
import { hostConst, weightOf } from './topology.js';
import type { GraphModelLike } from './types.js';

/** The key of a node output in value maps. */
export const refKey = (r: NodeRef): string => `${r.node}:${r.output}`;

/** A head node as the runner runs it. */
export interface HeadStep {
  readonly node: GraphNode;
  /** Replayed by tfcam's applier (else run through `model.execute` on the node alone). */
  readonly replay: boolean;
  /** Output indices read by later steps or by the explained output. */
  readonly outputs: readonly number[];
}

/** A split ready to run: the plan and how each head node runs. */
export interface HeadProgram {
  readonly model: GraphModelLike;
  readonly plan: GraphPlan;
  readonly steps: readonly HeadStep[];
  /** The frontier has two outputs of one node: `execute` cannot be fed both, so forward passes replay. */
  readonly feedCollision: boolean;
}

/** Name of a node output as `execute` takes it. */
export function refName(topology: Topology, r: NodeRef): string {
  return `${(topology.nodes[r.node] as GraphNode).name}:${r.output}`;
}

/** Whether input slot `slot` of `node` is a small host constant. */
export function isHostParam(model: GraphModelLike, topology: Topology, node: GraphNode, slot: number): boolean {
  const r = node.inputs[slot];
  return r !== undefined && hostConst(model, topology, r.node) !== null;
}

/** Prepares the head of `plan`: which nodes tfcam replays and which outputs each must produce. */
export function headProgram(model: GraphModelLike, plan: GraphPlan): HeadProgram {
  const { topology } = plan;
  const wanted = new Map<number, Set<number>>();
  const want = (r: NodeRef): void => {
    const s = wanted.get(r.node) ?? new Set<number>();
    s.add(r.output);
    wanted.set(r.node, s);
  };
  want(plan.output);
  if (plan.logits !== null) want(plan.logits);
  for (const i of plan.head) for (const r of (topology.nodes[i] as GraphNode).inputs) want(r);
  const steps = plan.head.map((i) => {
    const node = topology.nodes[i] as GraphNode;
    return {
      node,
      replay: replays(node, (slot) => isHostParam(model, topology, node, slot)),
      outputs: [...(wanted.get(i) ?? new Set([0]))].sort((a, b) => a - b),
    };
  });
  const byNode = new Map<number, number>();
  let feedCollision = false;
  for (const r of plan.frontier) {
    const prev = byNode.get(r.node);
    if (prev !== undefined && prev !== r.output) feedCollision = true;
    byNode.set(r.node, r.output);
  }
  return { model, plan, steps, feedCollision };
}

/** tfjs' message of an error, shortened for quoting. */
function quote(e: unknown): string {
  const raw = e instanceof Error ? e.message : String(e);
  const brief = raw.replace(/\s+/g, ' ').trim();
  return brief.length > 160 ? `${brief.slice(0, 157)}...` : brief;
}

/**
 * Runs `run`; a tfjs error becomes an {@link UnsupportedError} that names `where` and quotes tfjs
 * (tfcam's own errors pass unchanged): no raw tfjs message reaches the caller.
 */
function guarded<T>(fn: string, where: string, run: () => T, fix: string): T {
  try {
    return run();
  } catch (e) {
    if (e instanceof TfcamError) throw e;
    const kernel = e instanceof Error ? /Kernel '([^']+)' not registered for backend '([^']+)'/.exec(e.message) : null;
    if (kernel !== null) {
      throw new UnsupportedError({
        fn,
        argument: 'model',
        expected: `must use only kernels the '${kernel[2]}' backend provides`,
        got: `${where}, which needs kernel '${kernel[1]}'`,
        fix: `Run on the cpu or webgl backend (tf.setBackend('cpu')), or ${fix}`,
      });
    }
    throw new UnsupportedError({
      fn,
      argument: 'model',
      expected: 'must be a graph tfcam can run',
      got: `${where}, which failed in TensorFlow.js: "${quote(e)}"`,
      fix: `Check that model.execute runs on this input; if it does, ${fix}`,
    });
  }
}

/** `execute` with a list of fetches, always returning a list. */
function executeList(model: GraphModelLike, feeds: tf.NamedTensorMap, fetches: string[]): tf.Tensor[] {
  const out = model.execute(feeds, fetches);
  return Array.isArray(out) ? out : [out];
}

/**
 * Runs the body: the model inputs fed, A and the cut feeds fetched. Model inputs in the frontier are
 * taken as they are. Returns the frontier values by {@link refKey}.
 */
export function runBody(fn: string, program: HeadProgram, inputs: readonly tf.Tensor[]): Map<string, tf.Tensor> {
  const { model, plan } = program;
  const { topology } = plan;
  const values = new Map<string, tf.Tensor>();
  const feeds: tf.NamedTensorMap = {};
  topology.inputs.forEach((n, i) => {
    const x = inputs[i] as tf.Tensor;
    const dtype = model.inputs[i]?.dtype;
    feeds[(topology.nodes[n] as GraphNode).name] = dtype !== undefined && dtype !== x.dtype && dtype !== 'string' ? tf.cast(x, dtype) : x;
  });
  const fetch: NodeRef[] = [];
  for (const r of plan.frontier) {
    const at = topology.inputs.indexOf(r.node);
    if (at >= 0 && r.output === 0) values.set(refKey(r), inputs[at] as tf.Tensor);
    else fetch.push(r);
  }
  if (fetch.length > 0) {
    const target = (topology.nodes[plan.target] as GraphNode).name;
    const outs = guarded(
      fn,
      `the graph below node '${target}'`,
      () =>
        executeList(
          model,
          feeds,
          fetch.map((r) => refName(topology, r)),
        ),
      'choose another layer.',
    );
    fetch.forEach((r, i) => values.set(refKey(r), outs[i] as tf.Tensor));
  }
  return values;
}

/** The explained value of a head pass: the softmax input when explaining logits, else the output. */
export function explainedRef(plan: GraphPlan, logits: boolean): NodeRef {
  return logits && plan.logits !== null && !plan.tail.has(plan.target) ? plan.logits : plan.output;
}

/** The inputs of `node` from the values computed so far (weights from `model.weights`). */
function nodeInputs(program: HeadProgram, node: GraphNode, values: ReadonlyMap<string, tf.Tensor>): NodeInputs {
  const { model, plan } = program;
  const { topology } = plan;
  return {
    tensors: node.inputs.map((r) => weightOf(model, topology, r.node) ?? values.get(refKey(r))),
    host: (i) => {
      const r = node.inputs[i];
      return r === undefined ? null : hostConst(model, topology, r.node);
    },
    isWeight: (i) => {
      const r = node.inputs[i];
      return r !== undefined && (topology.nodes[r.node] as GraphNode).isConst;
    },
  };
}

/** Runs one node through `model.execute`, its (non-constant) inputs fed. */
function executeNode(fn: string, program: HeadProgram, step: HeadStep, values: ReadonlyMap<string, tf.Tensor>): tf.Tensor[] {
  const { model, plan } = program;
  const { topology } = plan;
  const feeds: tf.NamedTensorMap = {};
  for (const r of step.node.inputs) {
    if ((topology.nodes[r.node] as GraphNode).isConst) continue;
    feeds[refName(topology, r)] = values.get(refKey(r)) as tf.Tensor;
  }
  const where = `node '${step.node.name}' (${step.node.op})`;
  const outs = guarded(
    fn,
    where,
    () =>
      executeList(
        model,
        feeds,
        step.outputs.map((k) => `${step.node.name}:${k}`),
      ),
    `choose a layer above '${step.node.name}'.`,
  );
  const all: tf.Tensor[] = [];
  step.outputs.forEach((k, i) => (all[k] = outs[i] as tf.Tensor));
  return all;
}

/**
 * Replays the head from `frontier` (forward, or the forward part of the gradient pass) and returns
 * the value of `until`. `onValue` sees each node's outputs (for taps).
 */
function replayHead(
  fn: string,
  program: HeadProgram,
  frontier: ReadonlyMap<string, tf.Tensor>,
  ctx: NodeContext,
  until: NodeRef,
  onValue: (node: number, values: Map<string, tf.Tensor>) => void,
): tf.Tensor {
  const { plan } = program;
  const values = new Map(frontier);
  onValue(plan.target, values);
  const skip = until === plan.output ? new Set<number>() : plan.tail;
  const stopped = new Set(plan.stopped);
  for (const step of program.steps) {
    const i = step.node.index;
    if (skip.has(i)) continue;
    // The gradient pass takes a StopGradient's value from the body: a constant, so the gradient stops.
    if (ctx.mode === 'gradient' && stopped.has(i)) continue;
    const outs = step.replay
      ? guarded(
          fn,
          `node '${step.node.name}' (${step.node.op})`,
          () => applyNode(step.node, nodeInputs(program, step.node, values), ctx),
          `choose a layer above '${step.node.name}'.`,
        )
      : executeNode(fn, program, step, values);
    outs.forEach((o, k) => {
      if (o !== undefined) values.set(`${i}:${k}`, o);
    });
    onValue(i, values);
  }
  const out = values.get(refKey(until));
  if (out === undefined) {
    // The plan orders every node the output depends on before it: only a graph tfcam misread gets here.
    throw new UnsupportedError({
      fn,
      argument: 'model',
      expected: 'must be a graph whose output depends only on nodes tfcam can order',
      got: `a head that did not produce node '${refName(plan.topology, until)}'`,
      fix: 'Choose another layer, and report the model at https://github.com/tfcam/tfcam/issues.',
    });
  }
  return out;
}

/** A value of the head whose gradient a pass also returns (FullGrad: several, before activations). */
export interface NodeTap {
  readonly node: number;
  /** Before the node's fused activation (convolutions and matrix products); else its output. */
  readonly preActivation: boolean;
}

/**
 * Replays the head under the tape from A and returns dScore/dA with the scores (see
 * `Split.head`). `tap`, a node of the head, is returned too, with the gradient of the scores with
 * respect to it; so is each of `taps` (null where the pass does not reach it; a zero gradient where
 * the value does not reach the output).
 */
export function runHead<S extends Record<string, tf.Tensor>>(
  fn: string,
  program: HeadProgram,
  frontier: ReadonlyMap<string, tf.Tensor>,
  ctx: NodeContext,
  logits: boolean,
  score: (output: tf.Tensor) => { scores: tf.Tensor1D; extras: S },
  tap: number | undefined,
  taps: readonly NodeTap[] = [],
): HeadResult<S> {
  const { plan } = program;
  const until = explainedRef(plan, logits);
  const tapped = tapSlot();
  // Several taps (FullGrad): values before a fused activation come from the applier's hook,
  // the others from the node's output.
  const slots = taps.map(tapSlot);
  const beforeActivation = (t: NodeTap): boolean => t.preActivation && FUSED_OPS.has((plan.topology.nodes[t.node] as GraphNode).op);
  const replay = (tape: HeadTape): tf.Tensor => {
    const onValue = (node: number, values: Map<string, tf.Tensor>): void => {
      const key = `${node}:0`;
      taps.forEach((t, i) => {
        const v = values.get(key);
        if (t.node === node && !beforeActivation(t) && v !== undefined) values.set(key, tape.tap(slots[i] as TapSlot, v));
      });
      const v = node === tap ? values.get(key) : undefined;
      if (v !== undefined) values.set(key, tape.tap(tapped, v));
    };
    const hooked: NodeContext = taps.some(beforeActivation)
      ? {
          ...ctx,
          preActivation: (node, value) => {
            let v = value;
            taps.forEach((t, i) => {
              if (t.node === node.index && beforeActivation(t)) v = tape.tap(slots[i] as TapSlot, v);
            });
            return v;
          },
        }
      : ctx;
    return replayHead(fn, program, frontier, hooked, until, onValue);
  };
  return headPass(
    frontier.get(refKey({ node: plan.target, output: 0 })) as tf.Tensor,
    replay,
    score,
    tapped,
    taps.length === 0 ? undefined : slots,
    (run) => {
      try {
        return run();
      } catch (e) {
        if (e instanceof TfcamError) throw e;
        throw backwardError(fn, program, e);
      }
    },
  );
}

/** A backward-pass failure as an {@link UnsupportedError} naming what tfcam knows. */
function backwardError(fn: string, program: HeadProgram, e: unknown): UnsupportedError {
  const executed = program.steps
    .filter((s) => !s.replay && program.plan.onPath[s.node.index])
    .map((s) => `'${s.node.name}' (${s.node.op})`);
  const via = executed.length > 0 ? `; nodes run through model.execute on the gradient path: ${executed.slice(0, 6).join(', ')}` : '';
  const kernel = e instanceof Error ? /Kernel '([^']+)' not registered for backend '([^']+)'/.exec(e.message) : null;
  return new UnsupportedError({
    fn,
    argument: 'model',
    expected:
      kernel !== null
        ? `must be differentiable with the kernels the '${kernel[2]}' backend provides`
        : 'must be differentiable above the layer',
    got: `a backward pass that failed in TensorFlow.js ("${quote(e)}")${via}`,
    fix:
      kernel !== null
        ? "Run on the cpu or webgl backend (tf.setBackend('cpu')), or choose a layer closer to the output."
        : 'Choose a layer closer to the output (listLayers(model) lists them).',
  });
}

/**
 * Runs the head forward only from `frontier` and returns the explained output (pre-activation with
 * `logits`): `model.execute` fed at A and the cut feeds (the model's fused kernels), or a replay
 * when the frontier holds two outputs of one node.
 */
export function runHeadForward(
  fn: string,
  program: HeadProgram,
  frontier: ReadonlyMap<string, tf.Tensor>,
  ctx: NodeContext,
  logits: boolean,
): tf.Tensor {
  const { model, plan } = program;
  const { topology } = plan;
  const until = explainedRef(plan, logits);
  if (until.node === plan.target) return frontier.get(refKey(until)) as tf.Tensor;
  if (program.feedCollision) return replayHead(fn, program, frontier, { ...ctx, mode: 'forward' }, until, () => undefined);
  const stopped = new Set(plan.stopped);
  const feeds: tf.NamedTensorMap = {};
  for (const r of plan.frontier) {
    if (stopped.has(r.node)) continue;
    feeds[refName(topology, r)] = frontier.get(refKey(r)) as tf.Tensor;
  }
  const target = (topology.nodes[plan.target] as GraphNode).name;
  return guarded(
    fn,
    `the graph above node '${target}'`,
    () => executeList(model, feeds, [refName(topology, until)])[0] as tf.Tensor,
    'choose another layer.',
  );
}
