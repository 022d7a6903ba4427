/**
 * The prologue of every public function that runs a model: check the model, parse all options from
 * the function's schema, check the input and the target, resolve the layers. No tensor is made
 * here; everything the call can refuse is refused before the first one.
 *
 * @internal
 * @module
 */
import type { CheckedInput } from '../core/input.js';
import { checkInput } from '../core/input.js';
import type { OptionContext, ParsedOptions, Schema } from '../core/options.js';
import { parseOptions } from '../core/options.js';
import type { NormalizedTarget, TargetOption } from '../core/targets.js';
import { numClassesOf, resolveTarget } from '../core/targets.js';
import { OptionError } from '../errors.js';
import type { ExplainableModel, ResolvedLayer } from '../models/explainable.js';
import { explainableModel } from '../models/index.js';
import type { Session } from './session.js';

/** The option context of a model (output and input counts and names). */
export function optionContext(fn: string, model: ExplainableModel): OptionContext {
  return {
    fn,
    numOutputs: model.outputs.length,
    outputNames: model.outputs.map((t) => t.name),
    numInputs: model.inputs.length,
    inputNames: model.inputs.map((t) => t.name),
  };
}

/** A checked call: the model, its parsed options, the input and the target. */
export interface Call<S extends Schema> {
  readonly fn: string;
  readonly model: ExplainableModel;
  readonly options: ParsedOptions<S>;
  readonly input: CheckedInput;
  readonly target: NormalizedTarget;
  /** What an explainer keeps between calls; null for a one-shot call. */
  readonly session: Session | null;
}

/** The options a call needs to resolve its target. */
type TargetSchema = Schema & { readonly target: unknown; readonly outputIndex: unknown };

/**
 * Checks model, options, input and target, in that order. Makes no tensor. With a session (an
 * explainer's call), the model is the session's.
 */
export function checkCall<S extends TargetSchema>(
  fn: string,
  schema: S,
  model: unknown,
  input: unknown,
  options: unknown,
  session: Session | null = null,
): Call<S> {
  const m = session?.model ?? explainableModel(fn, model);
  const parsed = parseOptions(schema, options, optionContext(fn, m));
  const checked = checkInput(fn, m.inputs, input);
  const outputIndex = parsed['outputIndex'] as number;
  const numClasses = numClassesOf(m.outputs[outputIndex]?.shape ?? []);
  const target = resolveTarget(fn, parsed['target'] as TargetOption, checked.batchSize, numClasses);
  return { fn, model: m, options: parsed, input: checked, target, session };
}

/** Resolves the `layer` option (a list, or undefined for the default layer) for one output. */
export function resolveLayers(
  call: Call<Schema>,
  refs: readonly unknown[] | undefined,
  node: number | undefined,
  outputIndex: number,
): ResolvedLayer[] {
  return (refs ?? [undefined]).map((ref) => call.model.resolveLayer(call.fn, ref, node, outputIndex));
}

/**
 * The size maps are resized to (`resize` option), or null; refuses `resize: true` without an image
 * input, and fusing layers of different resolutions at layer resolution.
 */
export function mapSize(
  fn: string,
  resize: boolean | readonly [number, number],
  input: CheckedInput,
  layers: readonly ResolvedLayer[],
): readonly [number, number] | null {
  if (resize === false) {
    const sizes = new Set(layers.map((l) => `${l.shape[1]}x${l.shape[2]}`));
    if (sizes.size > 1) {
      throw new OptionError({
        fn,
        argument: 'options.resize',
        expected: 'must resize when fusing layers of different resolutions',
        got: `false for layers at ${[...sizes].join(', ')}`,
        fix: 'Omit resize (maps are fused at the input size) or pass resize: [height, width].',
      });
    }
    return null;
  }
  if (resize !== true) return resize;
  if (input.imageSize === null) {
    throw new OptionError({
      fn,
      argument: 'options.resize',
      expected: 'needs an image input ([B, H, W, C]) to take the size from',
      got: 'true for a model without a rank-4 input',
      fix: 'Pass resize: false, or resize: [height, width].',
    });
  }
  return input.imageSize;
}
