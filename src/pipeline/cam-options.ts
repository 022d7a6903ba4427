/**
 * The option schema every CAM method shares ({@link CamOptions}), and the specs other functions
 * reuse (`outputIndex`, `inputIndex`, `validate`...).
 *
 * @internal
 * @module
 */
import { capabilities } from '../core/capabilities.js';
import type { OptionContext, OptionSpec, ParsedOptions } from '../core/options.js';
import { INVALID, booleanOption, integerOption, oneOfOption, schemaFor } from '../core/options.js';
import { targetOption } from '../core/targets.js';
import type { CamOptions, LayerRef } from '../core/types.js';
import { OptionError } from '../errors.js';

/** `layer`: one reference, or a non-empty array of them; undefined for the default layer. */
const layerOption: OptionSpec<readonly unknown[] | undefined> = {
  accepts: 'a layer name, path, index or Layer object, or a non-empty array of them',
  default: undefined,
  check(value, ctx) {
    if (!Array.isArray(value)) return [value as LayerRef];
    if (value.length === 0) {
      throw new OptionError({
        fn: ctx.fn,
        argument: 'options.layer',
        expected: 'as an array must list at least one layer',
        got: '[]',
        fix: 'Omit layer for the default, or list the layers to fuse.',
      });
    }
    return value;
  },
};

/** `layer` for functions that explain one layer: one reference (undefined for the default). */
export const singleLayerOption: OptionSpec<readonly unknown[] | undefined> = {
  accepts: 'a layer name, path, index or Layer object',
  default: undefined,
  fix: 'Pass one layer; call the function once per layer to get several.',
  check: (value) => (Array.isArray(value) ? INVALID : [value]),
};

/** `resize`: true, false or `[height, width]`. */
const resizeOption: OptionSpec<boolean | readonly [number, number]> = {
  accepts: 'true, false or [height, width] with positive integers',
  default: true,
  fix: 'Omit it to resize to the input size.',
  check(value) {
    if (typeof value === 'boolean') return value;
    if (Array.isArray(value) && value.length === 2 && value.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0)) {
      return [value[0] as number, value[1] as number];
    }
    return INVALID;
  },
};

const plural = (n: number | undefined, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/** `outputIndex`: an index into the model's outputs. */
export const outputIndexOption = integerOption(0, 0, (ctx: OptionContext) => (ctx.numOutputs ?? 1) - 1, {
  accepts: (ctx) => `an integer in [0, ${(ctx.numOutputs ?? 1) - 1}] (the model has ${plural(ctx.numOutputs, 'output')})`,
  fix: (ctx) => `Use the index of the output in model.outputs (${(ctx.outputNames ?? []).join(', ')}).`,
});

/** `inputIndex`: an index into the model's inputs; undefined for the first image input. */
export const inputIndexOption = integerOption(undefined, 0, (ctx: OptionContext) => (ctx.numInputs ?? 1) - 1, {
  accepts: (ctx) => `an integer in [0, ${(ctx.numInputs ?? 1) - 1}] (the model has ${plural(ctx.numInputs, 'input')})`,
  fix: (ctx) => `Use the index of the input in model.inputs (${(ctx.inputNames ?? []).join(', ')}).`,
});

/** `validate`: check the input for NaN/Infinity; defaults to true where a read-back is cheap. */
export const validateOption = booleanOption(() => capabilities().cheapRead);

/** `node`: which call of a shared layer. */
const nodeOption = integerOption(undefined, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, {
  accepts: () => 'an integer (which call of a shared layer)',
  fix: () => 'Count the calls of the shared layer in execution order, from 0.',
});

/** The options every CAM method shares. */
export const CAM_OPTIONS = schemaFor<CamOptions>()({
  layer: layerOption,
  node: nodeOption,
  target: targetOption,
  logits: booleanOption(true),
  relu: booleanOption(true),
  normalize: booleanOption(true),
  resize: resizeOption,
  outputIndex: outputIndexOption,
  validate: validateOption,
  fuse: { ...oneOfOption(['mean', 'max'], 'mean', "Omit it for 'mean'."), accepts: "'mean' (pytorch-grad-cam) or 'max'" },
  augSmooth: booleanOption(false),
  eigenSmooth: booleanOption(false),
});

/** Parsed CAM options. */
export type ParsedCamOptions = ParsedOptions<typeof CAM_OPTIONS>;
