/**
 * Options, checked once, from one declarative schema per public function.
 *
 * A schema maps every key of a function's options type to an {@link OptionSpec}: what values are
 * accepted, the default, and the parsed value. {@link schemaFor} ties a schema to its options type
 * at compile time (every key of the type has a spec, and no spec lacks a key), so the type a caller
 * writes and the keys the function accepts at run time cannot drift apart. {@link parseOptions} checks
 * a caller's option bag against a schema, before any tensor is made, and returns the parsed values.
 *
 * @module
 */
import { OptionError, describeValue } from '../errors.js';

/** What a spec may consult while parsing: the function name and facts about the model. */
export interface OptionContext {
  /** The public function being called (for error messages). */
  readonly fn: string;
  /** Number of model outputs, when the function has a model (for `outputIndex`). */
  readonly numOutputs?: number | undefined;
  /** Names of the model outputs, for hints. */
  readonly outputNames?: readonly string[] | undefined;
  /** Number of model inputs, when the function has a model (for `inputIndex`). */
  readonly numInputs?: number | undefined;
  /** Names of the model inputs, for hints. */
  readonly inputNames?: readonly string[] | undefined;
  /** The caller's whole option bag (set while parsing), for specs that depend on a sibling option. */
  readonly given?: Readonly<Record<string, unknown>> | undefined;
}

/** Returned by a spec's `check` for a value it rejects: the generic message is used. */
export const INVALID: unique symbol = Symbol('invalid option');

/**
 * One option: how its value is checked and parsed, and its default.
 * @typeParam T - the parsed value
 */
export interface OptionSpec<T> {
  /** What is accepted, phrased to follow "must be", e.g. `'true or false'`. */
  readonly accepts: string | ((ctx: OptionContext) => string);
  /** The value used when the option is omitted. */
  readonly default: T | ((ctx: OptionContext) => T);
  /** How to fix a bad value (default: "Omit it for the default (...)"). */
  readonly fix?: string | ((ctx: OptionContext) => string) | undefined;
  /** Parses a present value, or returns {@link INVALID}. May throw its own typed error instead. */
  check(value: unknown, ctx: OptionContext): T | typeof INVALID;
}

/** The parsed value type of a spec. */
export type ParsedValue<S> = S extends OptionSpec<infer T> ? T : never;

/** A schema: one spec per option key. */
export type Schema = Readonly<Record<string, OptionSpec<unknown>>>;

/** The parsed options of a schema (defaults filled in). */
export type ParsedOptions<S extends Schema> = { readonly [K in keyof S]: ParsedValue<S[K]> };

/**
 * Binds a schema to an options type: `schemaFor<GradCamOptions>()({...})` fails to compile when a key
 * of `GradCamOptions` has no spec or a spec names no key of it.
 */
export function schemaFor<O>() {
  return <S extends { readonly [K in keyof Required<O>]: OptionSpec<unknown> }>(
    schema: S & Readonly<Record<Exclude<keyof S, keyof O>, never>>,
  ): S => schema;
}

const resolve = <T>(v: T | ((ctx: OptionContext) => T), ctx: OptionContext): T =>
  typeof v === 'function' ? (v as (ctx: OptionContext) => T)(ctx) : v;

function describeDefault(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : describeValue(v);
}

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0] as number;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j] as number;
      dp[j] = Math.min((dp[j] as number) + 1, (dp[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length] as number;
}

/**
 * Checks `options` (undefined, or a plain object whose keys are all in `schema`) and parses every
 * key, filling defaults. Throws an {@link OptionError} naming the key (with a spelling hint for
 * unknown keys), or the spec's own typed error.
 */
export function parseOptions<S extends Schema>(schema: S, options: unknown, ctx: OptionContext): ParsedOptions<S> {
  const known = Object.keys(schema);
  const fn = ctx.fn;
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw new OptionError({
      fn,
      argument: 'options',
      expected: 'must be an object',
      got: describeValue(options),
      fix: `Known options: ${known.join(', ')}.`,
    });
  }
  const given = (options ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (Object.hasOwn(schema, key)) continue;
    const near = known.map((k) => [k, distance(key.toLowerCase(), k.toLowerCase())] as const).sort((a, b) => a[1] - b[1])[0];
    const hint = near !== undefined && near[1] <= 3 ? `Did you mean '${near[0]}'? ` : '';
    throw new OptionError({
      fn,
      argument: `options.${key}`,
      expected: 'is not a known option',
      got: describeValue(given[key]),
      fix: `${hint}Known options: ${known.join(', ')}.`,
    });
  }
  const out: Record<string, unknown> = {};
  const specCtx: OptionContext = { ...ctx, given };
  for (const key of known) {
    const spec = schema[key] as OptionSpec<unknown>;
    const value = given[key];
    if (value === undefined) {
      out[key] = resolve(spec.default, specCtx);
      continue;
    }
    const parsed = spec.check(value, specCtx);
    if (parsed === INVALID) {
      const dflt = resolve(spec.default, specCtx);
      throw new OptionError({
        fn,
        argument: `options.${key}`,
        expected: `must be ${resolve(spec.accepts, specCtx)}`,
        got: describeValue(value),
        fix:
          spec.fix !== undefined
            ? resolve(spec.fix, specCtx)
            : dflt === undefined
              ? 'Omit it, or pass a valid value.'
              : `Omit it for the default (${describeDefault(dflt)}).`,
      });
    }
    out[key] = parsed;
  }
  return out as ParsedOptions<S>;
}

// ---------------------------------------------------------------------------------------------
// Spec builders

/** `true` or `false`. */
export function booleanOption(dflt: boolean | ((ctx: OptionContext) => boolean)): OptionSpec<boolean> {
  return { accepts: 'true or false', default: dflt, check: (v) => (typeof v === 'boolean' ? v : INVALID) };
}

/** An integer in `[min, max]` (bounds may depend on the model). */
export function integerOption<D extends number | undefined>(
  dflt: D,
  min: number,
  max: number | ((ctx: OptionContext) => number) = Number.MAX_SAFE_INTEGER,
  extra: { accepts?: (ctx: OptionContext) => string; fix?: (ctx: OptionContext) => string } = {},
): OptionSpec<number | D> {
  return {
    accepts:
      extra.accepts ??
      ((ctx) => {
        const hi = resolve(max, ctx);
        return hi >= Number.MAX_SAFE_INTEGER
          ? min === 1
            ? 'a positive integer'
            : `an integer >= ${min}`
          : `an integer in [${min}, ${hi}]`;
      }),
    default: dflt,
    fix: extra.fix,
    check: (v, ctx) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= resolve(max, ctx) ? v : INVALID),
  };
}

/** A finite number with bounds (`min` exclusive when `minExclusive`). */
export function numberOption(dflt: number, min: number, minExclusive: boolean, max = Infinity): OptionSpec<number> {
  const range = max === Infinity ? `${minExclusive ? '>' : '>='} ${min}` : `in [${min}, ${max}]`;
  return {
    accepts: `a finite number ${range}`,
    default: dflt,
    check: (v) => (typeof v === 'number' && Number.isFinite(v) && (minExclusive ? v > min : v >= min) && v <= max ? v : INVALID),
  };
}

/** One of a fixed set of values (strings or booleans). */
export function oneOfOption<const V extends string | boolean>(values: readonly V[], dflt: V, fix?: string): OptionSpec<V> {
  const show = (v: V): string => (typeof v === 'string' ? `'${v}'` : String(v));
  const accepts = values.length === 2 ? `${show(values[0] as V)} or ${show(values[1] as V)}` : `one of ${values.map(show).join(', ')}`;
  return { accepts, default: dflt, fix, check: (v) => (values.includes(v as V) ? (v as V) : INVALID) };
}

/** An optional callback (omitted: one that does nothing). */
export function callbackOption<F extends (...args: never[]) => void>(signature: string): OptionSpec<F> {
  const none = (() => undefined) as unknown as F;
  return {
    accepts: `a function ${signature}`,
    // A function default would be taken for a resolver: resolve to the no-op instead.
    default: () => none,
    fix: 'Pass a callback or omit it.',
    check: (v) => (typeof v === 'function' ? (v as F) : INVALID),
  };
}

/** An optional plain object, passed on unchecked (its keys are checked by whoever reads it). */
export function objectOption<T extends object>(fix: string): OptionSpec<T | undefined> {
  return {
    accepts: 'an object',
    default: undefined,
    fix,
    check: (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as T) : INVALID),
  };
}
