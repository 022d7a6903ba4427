/**
 * The gradient pass of a head, for every model kind: the tape around a replay, the values tapped on
 * the way (with their gradients from the same backward pass), and the clean-up on every error path.
 * The runners (layers/runner.ts, graph/runner.ts) supply the replay itself and how a failed backward
 * pass is described.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { unaryCustomGrad } from '../core/gradops.js';
import type { HeadResult, ScoreFn, Tapped } from './explainable.js';

/** A value of the head whose gradient the pass also returns: filled by {@link HeadTape.tap}. */
export interface TapSlot {
  activation: tf.Tensor | null;
  gradient: tf.Tensor | null;
}

/** An empty {@link TapSlot}. */
export const tapSlot = (): TapSlot => ({ activation: null, gradient: null });

/** What a replay under {@link headPass} uses to tap values. */
export interface HeadTape {
  /**
   * Records `x` in `slot` and returns it wrapped so that the backward pass records its gradient
   * there too. A slot is filled once: later calls return `x` unchanged.
   */
  tap(slot: TapSlot, x: tf.Tensor): tf.Tensor;
}

/**
 * Runs one head pass under the tape and returns dScore/dA with the output, scores and extras (see
 * `Split.head`).
 *
 * @param a - the activations A, the variable of the pass
 * @param replay - replays the head from A (tapping values through the tape) and returns the output
 * @param score - the per-example scores of the output, and extras to carry out
 * @param tapped - the single tap's slot (`HeadResult.tapped`: null unless the pass filled both halves)
 * @param taps - the slots of `HeadOptions.taps`, or undefined (`HeadResult.taps` is then undefined)
 * @param guardBackward - runs the engine's gradient computation, turning a failure of the backward
 *   pass into the runner's typed error
 */
export function headPass<S extends Record<string, tf.Tensor>>(
  a: tf.Tensor,
  replay: (tape: HeadTape) => tf.Tensor,
  score: ScoreFn<S>,
  tapped: TapSlot,
  taps: readonly TapSlot[] | undefined,
  guardBackward: <T>(run: () => T) => T,
): HeadResult<S> {
  const kept: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(x: T): T => {
    const c = tf.keep(tf.clone(x));
    kept.push(c);
    return c;
  };
  const tape: HeadTape = {
    tap(slot, x) {
      if (slot.activation !== null) return x;
      slot.activation = keep(x);
      return tapGradient(x, (dy) => {
        slot.gradient = keep(dy);
      });
    },
  };
  let captured: { output: tf.Tensor; scores: tf.Tensor1D; extras: S } | null = null;
  // An error in the forward part must not leave the tape's saved tensors behind. Rather than reach
  // into the engine, the forward function catches it and returns a scalar of A: the engine then runs
  // its (tiny) backward pass and frees everything the recorded ops saved, and the error is rethrown
  // once the engine is clean.
  let failure: { error: unknown } | null = null;
  try {
    const { grads } = guardBackward(() =>
      tf.engine().gradients(
        () => {
          try {
            const output = replay(tape);
            const { scores, extras } = score(output);
            const keptExtras = {} as Record<string, tf.Tensor>;
            for (const [k, v] of Object.entries(extras)) keptExtras[k] = keep(v);
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
    for (const [k, v] of Object.entries(c.extras)) extras[k] = tf.clone(v);
    const { activation, gradient } = tapped;
    return {
      gradients: grads[0] ?? tf.zerosLike(a),
      output: tf.clone(c.output),
      scores: tf.clone(c.scores),
      extras: extras as S,
      tapped: activation === null || gradient === null ? null : { activation: tf.clone(activation), gradient: tf.clone(gradient) },
      // A tapped value the scores do not depend on gets no gradient call: its gradient is zero.
      taps: taps?.map((s): Tapped | null =>
        s.activation === null
          ? null
          : { activation: tf.clone(s.activation), gradient: s.gradient === null ? tf.zerosLike(s.activation) : tf.clone(s.gradient) },
      ),
    };
  } catch (e) {
    if (failure === null) releaseTapeAfterBackwardError();
    throw e;
  } finally {
    for (const k of kept) k.dispose();
  }
}

/** Identity whose backward pass hands the upstream gradient to `record` (which must keep it). */
function tapGradient(x: tf.Tensor, record: (dy: tf.Tensor) => void): tf.Tensor {
  return unaryCustomGrad((input: tf.Tensor) => ({
    value: tf.clone(input),
    gradFunc: (dy: tf.Tensor) => {
      record(dy);
      return dy;
    },
  }))(x);
}

/**
 * An error thrown by a gradient function (an op's backward pass, e.g. a kernel the backend lacks)
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
