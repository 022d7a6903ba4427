/**
 * The two-phase graph runner (DESIGN.md, "Core mechanism").
 *
 * 1. Body, outside any tape: the steps below the target run with the layers' own (fused) kernels,
 *    and every intermediate is freed as soon as its last consumer has run, so only the frontier
 *    (the target activation plus any skip tensors the head reads) survives.
 * 2. Head, under the tape: only the steps downstream of the target are replayed, through the
 *    applier, from the target activation A; the frontier's other tensors are constants. The
 *    backward pass therefore covers the head only and computes no weight gradients.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ApplyContext } from './applier.js';
import { applyStep, applyStock } from './applier.js';
import type { Step } from './graph.js';
import type { Plan } from './plan.js';
import { TfcamError, UnsupportedError } from '../../errors.js';
import type { HeadResult } from '../explainable.js';
import type { HeadTape, TapSlot } from '../head-tape.js';
import { headPass, tapSlot } from '../head-tape.js';

/** `[kernel, backend]` when `e` is tfjs' "Kernel 'X' not registered for backend 'Y'" error. */
function missingKernel(e: unknown): [string, string] | null {
  const m = e instanceof Error ? /Kernel '([^']+)' not registered for backend '([^']+)'/.exec(e.message) : null;
  return m === null ? null : [m[1] as string, m[2] as string];
}

/** Runs `run`; a missing-kernel error becomes the {@link UnsupportedError} `explain` describes. */
function withKernelCheck<T>(
  fn: string,
  run: () => T,
  explain: (kernel: string, backend: string) => { expected: string; got: string; fix: string },
): T {
  try {
    return run();
  } catch (e) {
    const missing = missingKernel(e);
    if (missing === null) throw e;
    throw new UnsupportedError({ fn, argument: 'model', ...explain(missing[0], missing[1]) });
  }
}

/**
 * Runs one step. No raw tfjs error escapes: tfjs' "Kernel 'X' not registered for backend 'Y'" becomes
 * an {@link UnsupportedError} that names the layer, the kernel, the backend and what to do; any other
 * error that is not already a {@link TfcamError} becomes an {@link UnsupportedError} that names the
 * layer (path and class) and quotes tfjs' message. tfcam's own errors pass through unchanged.
 */
function guarded(fn: string, step: Step, run: () => tf.Tensor[]): tf.Tensor[] {
  const where = `layer '${step.path}' (${step.layer.getClassName()})`;
  try {
    return withKernelCheck(fn, run, (kernel, backend) => ({
      expected: `must use only kernels the '${backend}' backend provides`,
      got: `${where}, which needs kernel '${kernel}'`,
      fix: `Run on the cpu or webgl backend (tf.setBackend('cpu')), or choose a target layer above '${step.path}' so it is not differentiated.`,
    }));
  } catch (e) {
    if (e instanceof TfcamError) throw e;
    const raw = e instanceof Error ? e.message : String(e);
    const brief = raw.replace(/\s+/g, ' ').trim();
    const quoted = brief.length > 160 ? `${brief.slice(0, 157)}...` : brief;
    throw new UnsupportedError({
      fn,
      argument: 'model',
      expected: 'must have layers tfcam can run',
      got: `${where}, which failed in TensorFlow.js: "${quoted}"`,
      fix: `Check that model.predict runs on this input; if it does, choose a target layer above '${step.path}' (closer to the output) so tfcam does not replay it.`,
    });
  }
}

/**
 * Runs the body steps of `plan` on `inputs` (one batched tensor per model input) and returns the
 * frontier values. Tensors not in the frontier are disposed as soon as they are dead; the input
 * tensors are never disposed.
 */
export function runBody(plan: Plan, inputs: readonly tf.Tensor[], fn = 'tfcam'): Map<number, tf.Tensor> {
  const values = new Map<number, tf.Tensor>();
  plan.graph.inputValues.forEach((v, i) => values.set(v, inputs[i] as tf.Tensor));
  const protectedTensors = new Set<tf.Tensor>(inputs);
  plan.body.forEach((step, i) => {
    const args = step.inputs.map((v) => values.get(v) as tf.Tensor);
    // A tidy per step: intermediates a layer creates and does not free (tfjs-layers' ReLU with
    // maxValue leaks its relu(x)) die here instead of at the end of the call.
    const outs = guarded(fn, step, () => tf.tidy(() => applyStock(step, args)));
    step.outputs.forEach((v, k) => values.set(v, outs[k] as tf.Tensor));
    for (const v of plan.freeAfter[i] ?? []) {
      const t = values.get(v);
      values.delete(v);
      if (t === undefined || protectedTensors.has(t)) continue;
      let aliased = false;
      for (const other of values.values()) {
        if (other === t) {
          aliased = true;
          break;
        }
      }
      if (!aliased) t.dispose();
    }
  });
  const frontier = new Map<number, tf.Tensor>();
  for (const v of plan.frontier) frontier.set(v, values.get(v) as tf.Tensor);
  return frontier;
}

/** A tap of {@link runHead}: a value, or (with `step`) the pre-activation value of that step. */
export interface RunnerTap {
  readonly value: number;
  readonly step: Step | null;
}

/**
 * Replays the head under the tape from A and returns dScore/dA with the scores.
 *
 * `score(output)` must return the per-example score vector and any extra tensors to carry out
 * (they are cloned out of the tape's scope; the caller owns the clones through its tidy).
 *
 * `tap`, a value of the head (or of the frontier), is also returned with the gradient of the scores
 * with respect to it, from the same backward pass. So are `taps`: values, or the pre-activation
 * values of steps (through the applier's `preActivation` hook), one result per request.
 */
export function runHead<S extends Record<string, tf.Tensor>>(
  plan: Plan,
  frontier: ReadonlyMap<number, tf.Tensor>,
  ctx: ApplyContext,
  score: (output: tf.Tensor) => { scores: tf.Tensor1D; extras: S },
  tap?: number,
  taps?: readonly RunnerTap[],
): HeadResult<S> {
  const fn = ctx.fn ?? 'tfcam';
  const tapped = tapSlot();
  // Several taps: a slot per request; value taps wrap the value when it appears, pre-activation
  // taps get the applier's hook for their step.
  const slots = taps?.map(tapSlot);
  const stepTaps = new Map<Step, TapSlot>();
  taps?.forEach((r, i) => {
    if (r.step !== null) stepTaps.set(r.step, slots?.[i] as TapSlot);
  });
  const contextOf = (tape: HeadTape, step: Step): ApplyContext => {
    const slot = stepTaps.get(step);
    return slot === undefined ? ctx : { ...ctx, preActivation: (z) => tape.tap(slot, z) };
  };
  const tapValues = (tape: HeadTape, values: Map<number, tf.Tensor>): void => {
    const t = tap === undefined ? undefined : values.get(tap);
    if (t !== undefined) values.set(tap as number, tape.tap(tapped, t));
    taps?.forEach((r, i) => {
      const v = r.step === null ? values.get(r.value) : undefined;
      if (v !== undefined) values.set(r.value, tape.tap(slots?.[i] as TapSlot, v));
    });
  };
  const replay = (tape: HeadTape): tf.Tensor => {
    const values = new Map<number, tf.Tensor>(frontier);
    tapValues(tape, values);
    for (const step of plan.head) {
      const args = step.inputs.map((v) => values.get(v) as tf.Tensor);
      const stepCtx = contextOf(tape, step);
      const outs = guarded(fn, step, () => applyStep(step, args, stepCtx));
      step.outputs.forEach((v, k) => values.set(v, outs[k] as tf.Tensor));
      tapValues(tape, values);
    }
    return values.get(plan.outputValue) as tf.Tensor;
  };
  return headPass(frontier.get(plan.targetValue) as tf.Tensor, replay, score, tapped, slots, (run) => guardedBackward(fn, plan, run));
}

/** Layers replayed through the applier even in forward-only runs (for accuracy, not gradients). */
const FORWARD_VIA_APPLIER = new Set(['GlobalAveragePooling2D']);

/**
 * Replays the head forward only (no tape) from the given frontier values and returns the output.
 * Layers run with their stock (fused, fastest) kernels, except the step whose output activation is
 * stripped and global average pooling (two-stage sum), which go through the applier.
 */
export function runHeadForward(plan: Plan, frontier: ReadonlyMap<number, tf.Tensor>, ctx: ApplyContext): tf.Tensor {
  return tf.tidy(() => {
    const values = new Map<number, tf.Tensor>(frontier);
    for (const step of plan.head) {
      const args = step.inputs.map((v) => values.get(v) as tf.Tensor);
      const viaApplier = step === ctx.stripActivationOf || FORWARD_VIA_APPLIER.has(step.layer.getClassName());
      const outs = guarded(ctx.fn ?? 'tfcam', step, () =>
        tf.tidy(() => (viaApplier ? applyStep(step, args, ctx) : applyStock(step, args))),
      );
      step.outputs.forEach((v, k) => values.set(v, outs[k] as tf.Tensor));
    }
    return values.get(plan.outputValue) as tf.Tensor;
  });
}

/**
 * The backward pass. No raw tfjs error escapes: a missing gradient kernel, or an op tfjs cannot
 * differentiate ("gradient function not found"), becomes an {@link UnsupportedError} that names the
 * target and the layers above it.
 */
function guardedBackward<T>(fn: string, plan: Plan, run: () => T): T {
  const target = plan.target === null ? 'the input' : `'${plan.target.path}'`;
  const classes = [...new Set(plan.head.map((s) => s.layer.getClassName()))];
  const above = `the layers above ${target} (${classes.slice(0, 8).join(', ')}${classes.length > 8 ? ', ...' : ''})`;
  try {
    return withKernelCheck(fn, run, (kernel, backend) => ({
      expected: `must be differentiable with the kernels the '${backend}' backend provides`,
      got: `${above}, whose gradient needs kernel '${kernel}'`,
      fix: "Run on the cpu or webgl backend (tf.setBackend('cpu')), or choose a target layer closer to the output.",
    }));
  } catch (e) {
    if (e instanceof TfcamError) throw e;
    const raw = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim();
    throw new UnsupportedError({
      fn,
      argument: 'layer',
      expected: 'must have a differentiable model above it',
      got: `${above}, whose backward pass failed in TensorFlow.js: "${raw.length > 160 ? `${raw.slice(0, 157)}...` : raw}"`,
      fix: 'Choose a target layer above the one whose op has no gradient (closer to the output).',
    });
  }
}
