/**
 * `tfcam/backend`: an optional helper that activates a TensorFlow.js backend in one call.
 *
 * tfcam itself never imports a backend: it runs on whichever backend the app has set up (`cpu`,
 * `wasm`, `webgl`, `webgpu` or tfjs-node's `tensorflow`). This separate entry point exists for apps and
 * scripts that want one line instead of three, and a clear error instead of tfjs' silent fallback
 * (`tf.setBackend` returns `false` and keeps the previous backend when initialisation fails).
 *
 * It is the only module of tfcam that imports backend packages, and it does so lazily (dynamic
 * `import()`), only when the requested backend is not registered yet.
 *
 * @example
 * ```ts
 * import { useBackend } from 'tfcam/backend';
 * await useBackend('wasm');          // Node: loads @tensorflow/tfjs-backend-wasm, sets it, awaits tf.ready()
 * ```
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from './errors.js';

export { BackendError } from './errors.js';

/** The official TensorFlow.js backends, by the name `tf.getBackend()` reports. */
export type BackendName = 'cpu' | 'wasm' | 'webgl' | 'webgpu' | 'tensorflow';

/**
 * The npm package(s) that register each backend, tried in order. tfjs-node registers the backend
 * named `'tensorflow'` (`'node'` is accepted by {@link useBackend} as an alias).
 */
export const BACKEND_PACKAGES: Readonly<Record<BackendName, readonly string[]>> = {
  cpu: ['@tensorflow/tfjs-backend-cpu'],
  wasm: ['@tensorflow/tfjs-backend-wasm'],
  webgl: ['@tensorflow/tfjs-backend-webgl'],
  webgpu: ['@tensorflow/tfjs-backend-webgpu'],
  tensorflow: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
};

const NAMES = Object.keys(BACKEND_PACKAGES) as BackendName[];

/** Options of {@link useBackend}. */
export interface UseBackendOptions {
  /**
   * Loads the backend package instead of tfcam's own `import()` of it. Needed in bundled browser
   * apps, where a bundler (Vite, webpack, esbuild) only bundles imports it can see:
   * `{ load: () => import('@tensorflow/tfjs-backend-wasm') }`. Not needed when the app already
   * imports the package itself.
   */
  load?: (() => Promise<unknown>) | undefined;
  /**
   * wasm only: where the `.wasm` binaries are served, passed to the package's `setWasmPaths`
   * before the backend initialises (a URL prefix ending in `/`, or a map from file name to URL).
   * Node finds them in node_modules without this.
   */
  wasmPaths?: string | Readonly<Record<string, string>> | undefined;
}

function fail(got: string, expected: string, fix: string, argument = 'name'): never {
  throw new BackendError({ fn: 'useBackend', argument, expected, got, fix });
}

function installHint(packages: readonly string[]): string {
  return `npm install ${packages[0] as string}`;
}

/** Imports one package by name. The specifier is a variable on purpose: bundlers must not try to resolve optional packages. */
async function importPackage(specifier: string): Promise<unknown> {
  return import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);
}

/** Loads the backend's package: the caller's loader, or each candidate package in turn. */
async function loadPackage(name: BackendName, load: (() => Promise<unknown>) | undefined): Promise<unknown> {
  const packages = BACKEND_PACKAGES[name];
  if (load !== undefined) {
    try {
      return await load();
    } catch (e) {
      return fail(
        `a load() that threw (${errorText(e)})`,
        `must be a backend whose package can be loaded`,
        `Install it (${installHint(packages)}) and check the load option: () => import('${packages[0] as string}').`,
      );
    }
  }
  const causes: string[] = [];
  for (const specifier of packages) {
    try {
      return await importPackage(specifier);
    } catch (e) {
      causes.push(`${specifier}: ${errorText(e)}`);
    }
  }
  return fail(
    `'${name}', whose package ${packages.join(' / ')} could not be imported (${causes.join('; ')})`,
    'must be a backend whose npm package is installed',
    `Install it: ${installHint(packages)}. In a bundled browser app, import the package yourself ` +
      `(import '${packages[0] as string}') or pass { load: () => import('${packages[0] as string}') }.`,
  );
}

function errorText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const line = text.split('\n')[0] ?? text;
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

/** Calls the wasm package's `setWasmPaths`, which must happen before the backend initialises. */
function applyWasmPaths(module: unknown, paths: string | Readonly<Record<string, string>>): void {
  const setWasmPaths = (module as { setWasmPaths?: unknown } | null)?.setWasmPaths;
  if (typeof setWasmPaths !== 'function') {
    fail(
      'a loaded module without setWasmPaths',
      'needs the @tensorflow/tfjs-backend-wasm module to apply options.wasmPaths',
      "Pass { load: () => import('@tensorflow/tfjs-backend-wasm') }, or call its setWasmPaths yourself.",
      'options.wasmPaths',
    );
  }
  try {
    (setWasmPaths as (p: unknown) => void)(paths);
  } catch (e) {
    fail(
      `an error from setWasmPaths (${errorText(e)})`,
      'must be applied before the wasm backend initialises',
      'Call useBackend with wasmPaths before anything initialises the wasm backend (or omit wasmPaths).',
      'options.wasmPaths',
    );
  }
}

/**
 * Activates a TensorFlow.js backend: imports its npm package when the backend is not registered
 * yet, makes it the active backend, awaits `tf.ready()`, and checks that `tf.getBackend()` really is
 * `name` (`tf.setBackend` silently keeps the previous backend when initialisation fails).
 *
 * | name | package |
 * |---|---|
 * | `'cpu'` | `@tensorflow/tfjs-backend-cpu` (also in `@tensorflow/tfjs`) |
 * | `'wasm'` | `@tensorflow/tfjs-backend-wasm` |
 * | `'webgl'` | `@tensorflow/tfjs-backend-webgl` (also in `@tensorflow/tfjs`; browsers only) |
 * | `'webgpu'` | `@tensorflow/tfjs-backend-webgpu` (browsers with WebGPU) |
 * | `'tensorflow'` (alias `'node'`) | `@tensorflow/tfjs-node` or `@tensorflow/tfjs-node-gpu` (Node only) |
 *
 * tfcam's functions work on all of them with no further setup; this helper is optional. Nothing
 * else of the caller's tfjs state is changed: no kernels or gradients are registered.
 *
 * In a bundled browser app, a bundler cannot see tfcam's lazy import of an optional package:
 * either import the backend package yourself (then nothing is imported here), or pass
 * `options.load`.
 *
 * @param name - the backend to activate (`'node'` means tfjs-node's `'tensorflow'`)
 * @param options - {@link UseBackendOptions}: a `load` function for bundlers, `wasmPaths` for wasm
 *   in browsers
 * @returns the name of the active backend, equal to `tf.getBackend()`
 * @throws {@link BackendError} when the name is unknown, the package is not installed (the message
 *   names the npm package to install), it registered with another copy of `@tensorflow/tfjs-core`,
 *   or the backend failed to initialise (e.g. webgl without WebGL2). The previous backend stays
 *   active then.
 *
 * @example
 * ```ts
 * // Node
 * await useBackend('wasm');
 * // browser app bundled with Vite
 * import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
 * await useBackend('wasm', {
 *   load: () => import('@tensorflow/tfjs-backend-wasm'),
 *   wasmPaths: { 'tfjs-backend-wasm-simd.wasm': wasmSimd },
 * });
 * ```
 */
export async function useBackend(name: BackendName | 'node', options: UseBackendOptions = {}): Promise<BackendName> {
  const wanted = (name === 'node' ? 'tensorflow' : name) as BackendName;
  if (typeof name !== 'string' || !Object.hasOwn(BACKEND_PACKAGES, wanted)) {
    fail(
      typeof name === 'string' ? `'${name}'` : typeof name,
      `must be one of ${NAMES.map((n) => `'${n}'`).join(', ')} (or 'node')`,
      'Use the name tf.getBackend() reports for the backend.',
    );
  }
  if (options === null || typeof options !== 'object') {
    fail(String(options), 'must be an object', 'Pass { load, wasmPaths } or omit it.', 'options');
  }
  const packages = BACKEND_PACKAGES[wanted];
  let module: unknown = null;
  if (tf.findBackendFactory(wanted) == null || options.load !== undefined || (wanted === 'wasm' && options.wasmPaths !== undefined)) {
    module = await loadPackage(wanted, options.load);
  }
  if (tf.findBackendFactory(wanted) == null && (wanted === 'webgl' || wanted === 'webgpu') && !tf.device_util.isBrowser()) {
    fail(
      `'${wanted}', which ${packages[0] as string} registers only in a browser (this is not one)`,
      'must be a backend available in this environment',
      "Outside a browser use 'cpu', 'wasm' or 'tensorflow' (tfjs-node).",
    );
  }
  if (tf.findBackendFactory(wanted) == null) {
    fail(
      `'${wanted}', whose package loaded but registered no '${wanted}' backend with this copy of @tensorflow/tfjs-core`,
      'must be a backend registered with the @tensorflow/tfjs-core that tfcam uses',
      `Make sure there is one copy of @tensorflow/tfjs-core (npm ls @tensorflow/tfjs-core; npm dedupe), ` +
        `at the version ${packages[0] as string} expects.`,
    );
  }
  if (wanted === 'wasm' && options.wasmPaths !== undefined) applyWasmPaths(module, options.wasmPaths);
  const previous = tf.getBackend() ?? null; // a plain read: initialises nothing
  let ok = false;
  let cause = '';
  try {
    ok = await tf.setBackend(wanted);
    await tf.ready();
  } catch (e) {
    cause = ` (${errorText(e)})`;
  }
  if (!ok || tf.getBackend() !== wanted) {
    // A failed tf.setBackend leaves the failed name active, and tf.ready() then falls back to the
    // highest-priority backend: put the caller's backend back instead.
    let active: string | null = null;
    if (previous !== null && previous !== wanted && tf.findBackendFactory(previous) != null) {
      try {
        if (await tf.setBackend(previous)) active = previous;
      } catch {
        active = null;
      }
    }
    const hint =
      wanted === 'webgl'
        ? 'webgl needs a browser with WebGL (a GPU, or SwiftShader in headless Chromium); in Node use cpu, wasm or tensorflow.'
        : wanted === 'webgpu'
          ? 'webgpu needs a browser with navigator.gpu.'
          : wanted === 'wasm'
            ? 'In a browser, serve the .wasm files and pass wasmPaths (see setWasmPaths in @tensorflow/tfjs-backend-wasm).'
            : `Check that ${packages[0] as string} works on this platform.`;
    fail(
      `a '${wanted}' backend that failed to initialise${cause}; ` +
        (active === null ? 'no backend was active before' : `'${active}' is active again`),
      'must be a backend that initialises here',
      hint,
    );
  }
  return wanted;
}
