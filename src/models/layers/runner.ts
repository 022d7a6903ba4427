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
import { unaryCustomGrad } from '../../core/gradops.js';
import type { Step } from './graph.js';
import type { Plan } from './plan.js';
import { TfcamError, UnsupportedError } from '../../errors.js';
import type { HeadResult } from '../explainable.js';

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
 * Identity whose backward pass hands the upstream gradient to `record` (which must keep it).
 */
function tapGradient(x: tf.Tensor, record: (dy: tf.Tensor) => void): tf.Tensor {
  const op = unaryCustomGrad((input: tf.Tensor) => ({
    value: tf.clone(input),
    gradFunc: (dy: tf.Tensor) => {
      record(dy);
      return dy;
    },
  }));
  return op(x);
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
  const a = frontier.get(plan.targetValue) as tf.Tensor;
  const kept: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    const c = tf.keep(tf.clone(t));
    kept.push(c);
    return c;
  };
  let captured: { output: tf.Tensor; scores: tf.Tensor1D; extras: S } | null = null;
  let tappedActivation: tf.Tensor | null = null;
  let tappedGradient: tf.Tensor | null = null;
  const tapIn = (values: Map<number, tf.Tensor>): void => {
    const t = tap === undefined ? undefined : values.get(tap);
    if (t === undefined || tappedActivation !== null) return;
    tappedActivation = keep(t);
    values.set(
      tap as number,
      tapGradient(t, (dy) => {
        tappedGradient = keep(dy);
      }),
    );
  };
  // Several taps: a slot per request; value taps wrap the value when it appears, pre-activation
  // taps get the applier's hook for their step.
  const slots = (taps ?? []).map(() => ({ activation: null as tf.Tensor | null, gradient: null as tf.Tensor | null }));
  const tapInto = (slot: number, t: tf.Tensor): tf.Tensor => {
    const entry = slots[slot] as { activation: tf.Tensor | null; gradient: tf.Tensor | null };
    if (entry.activation !== null) return t;
    entry.activation = keep(t);
    return tapGradient(t, (dy) => {
      entry.gradient = keep(dy);
    });
  };
  const valueTaps = (values: Map<number, tf.Tensor>): void => {
    (taps ?? []).forEach((r, i) => {
      const t = r.step === null ? values.get(r.value) : undefined;
      if (t !== undefined && (slots[i] as { activation: tf.Tensor | null }).activation === null) values.set(r.value, tapInto(i, t));
    });
  };
  const stepTaps = new Map<Step, number>();
  (taps ?? []).forEach((r, i) => {
    if (r.step !== null) stepTaps.set(r.step, i);
  });
  const contextFor = (step: Step): ApplyContext => {
    const slot = stepTaps.get(step);
    return slot === undefined ? ctx : { ...ctx, preActivation: (z) => tapInto(slot, z) };
  };
  // An error in the forward part must not leave the tape's saved tensors behind. Rather than reach
  // into the engine, the forward function catches it and returns a scalar of A: the engine then
  // runs its (tiny) backward pass and frees everything the recorded ops saved, and the error is
  // rethrown once the engine is clean.
  let failure: { error: unknown } | null = null;
  try {
    const { grads } = guardedBackward(fn, plan, () =>
      tf.engine().gradients(
        () => {
          try {
            const values = new Map<number, tf.Tensor>(frontier);
            tapIn(values);
            valueTaps(values);
            for (const step of plan.head) {
              const args = step.inputs.map((v) => values.get(v) as tf.Tensor);
              const stepCtx = contextFor(step);
              const outs = guarded(fn, step, () => applyStep(step, args, stepCtx));
              step.outputs.forEach((v, k) => values.set(v, outs[k] as tf.Tensor));
              tapIn(values);
              valueTaps(values);
            }
            const output = values.get(plan.outputValue) as tf.Tensor;
            const { scores, extras } = score(output);
            const keptExtras = {} as Record<string, tf.Tensor>;
            for (const [k, t] of Object.entries(extras)) keptExtras[k] = keep(t);
            captured = { output: keep(output), scores: keep(scores), extras: keptExtras as S };
            return tf.sum(scores) as tf.Scalar;
          } catch (e) {
            failure = { error: e };
            return tf.sum(tf.mul(a, 0)) as tf.Scalar;
          }
        },
        [a],
        undefined,
        true,
      ),
    );
    if (failure !== null) {
      grads.forEach((g) => g?.dispose());
      throw (failure as { error: unknown }).error;
    }
    const c = captured as unknown as { output: tf.Tensor; scores: tf.Tensor1D; extras: S };
    const extras = {} as Record<string, tf.Tensor>;
    for (const [k, t] of Object.entries(c.extras)) extras[k] = tf.clone(t);
    const ta = tappedActivation as tf.Tensor | null;
    const tg = tappedGradient as tf.Tensor | null;
    return {
      gradients: grads[0] ?? tf.zerosLike(a),
      output: tf.clone(c.output),
      scores: tf.clone(c.scores),
      extras: extras as S,
      tapped: ta === null || tg === null ? null : { activation: tf.clone(ta), gradient: tf.clone(tg) },
      // A tapped value the scores do not depend on gets no gradient call: its gradient is zero.
      taps:
        taps === undefined
          ? undefined
          : slots.map((e) =>
              e.activation === null
                ? null
                : { activation: tf.clone(e.activation), gradient: e.gradient === null ? tf.zerosLike(e.activation) : tf.clone(e.gradient) },
            ),
    };
  } catch (e) {
    if (failure === null) releaseTapeAfterBackwardError();
    throw e;
  } finally {
    for (const t of kept) t.dispose();
  }
}

/**
 * An error thrown by a gradient function (a layer's backward pass, e.g. a kernel the backend lacks)
 * leaves the tape's saved tensors allocated: tfjs frees them only at the end of a successful backward
 * pass, and offers no public way to do it. This frees them the way the engine does, through its
 * `state` (tfjs-core 4.x: `gradientDepth`, `activeTape[].saved`), only when that state has the
 * expected shape and no outer gradient computation is running (whose tape is not ours to touch).
 * test/core/reliability.test.ts fails if a tfjs release changes this state.
 */
function releaseTapeAfterBackwardError(): void {
  const state = (tf.engine() as unknown as { state?: { gradientDepth?: unknown; activeTape?: unknown } }).state;
  if (state === undefined || state.gradientDepth !== 0 || !Array.isArray(state.activeTape)) return;
  for (const node of state.activeTape as Array<{ saved?: unknown }>) {
    if (Array.isArray(node.saved)) for (const t of node.saved as tf.Tensor[]) t.dispose();
  }
  state.activeTape = null;
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
