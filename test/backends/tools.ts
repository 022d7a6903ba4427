/**
 * Instruments for the backend tests: activate a backend (and prove it is active), record which
 * kernels a call dispatches, count device-to-host reads, and snapshot tfjs' global registries.
 * Everything here works in Node and in the browser.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Activates a registered backend and asserts it is really active (`tf.setBackend` falls back silently). */
export async function activateBackend(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  await tf.ready();
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`could not activate the ${name} backend (tf.setBackend returned ${ok}; active: ${tf.getBackend()})`);
  }
}

interface KernelParams {
  kernelName?: unknown;
}
interface EngineInternals {
  runKernelFunc(params: KernelParams): unknown;
  registry: Record<string, object>;
  readSync(dataId: object): unknown;
  read(dataId: object): Promise<unknown>;
}

const engine = (): EngineInternals => tf.engine() as unknown as EngineInternals;

/**
 * Runs `f` (awaiting it when it is async) and returns the names of every kernel dispatched meanwhile
 * (forward, and backward inside gradient computations: all go through the engine's `runKernelFunc`).
 */
export async function traceKernels<T>(f: () => T | Promise<T>): Promise<{ value: T; kernels: Set<string> }> {
  const e = engine();
  const own = Object.hasOwn(e, 'runKernelFunc');
  const original = e.runKernelFunc;
  const kernels = new Set<string>();
  e.runKernelFunc = function (this: EngineInternals, params: KernelParams) {
    if (typeof params.kernelName === 'string') kernels.add(params.kernelName);
    return original.call(this, params);
  };
  try {
    return { value: await f(), kernels };
  } finally {
    if (own) e.runKernelFunc = original;
    else delete (e as Partial<EngineInternals>).runKernelFunc;
  }
}

/** One device-to-host read: where it was called (method) and the stack, for diagnosis. */
export interface ReadCall {
  method: string;
  stack: string;
}

/**
 * Whether the data behind `dataId` already lives in host memory on a GPU backend, where reading it
 * downloads nothing: webgl runs small ops on the CPU when their inputs were never uploaded
 * (`WEBGL_CPU_FORWARD`), and its gather kernel then reads its indices with `readSync`.
 */
function hostResident(dataId: unknown): boolean {
  if (typeof dataId !== 'object' || dataId === null) return false;
  for (const backend of Object.values(engine().registry)) {
    const texData = (backend as { texData?: { has(id: object): boolean; get(id: object): { values?: unknown; texture?: unknown } } })
      .texData;
    if (texData?.has(dataId) === true) {
      const d = texData.get(dataId);
      return d.values != null && d.texture == null;
    }
  }
  return false;
}

/**
 * Counts every device-to-host read while `f` runs (and, when it is async, until it settles):
 * `readSync` and `read` of the engine and of every initialised backend instance (the active one, and
 * any other a tensor could live on).
 */
export async function recordReads<T>(f: () => T | Promise<T>): Promise<{ value: T; reads: ReadCall[] }> {
  const reads: ReadCall[] = [];
  const restores: Array<() => void> = [];
  const targets: Array<[string, Record<string, unknown>]> = [
    ['engine', engine() as unknown as Record<string, unknown>],
    ...Object.entries(engine().registry).map(
      ([name, b]) => [`backend ${name}`, b as Record<string, unknown>] as [string, Record<string, unknown>],
    ),
  ];
  for (const [label, target] of targets) {
    for (const method of ['readSync', 'read'] as const) {
      const original = target[method];
      if (typeof original !== 'function') continue;
      const own = Object.hasOwn(target, method);
      target[method] = function (this: unknown, ...args: unknown[]) {
        if (!hostResident(args[0])) reads.push({ method: `${label}.${method}`, stack: new Error().stack ?? '' });
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      };
      restores.push(() => {
        if (own) target[method] = original;
        else delete target[method];
      });
    }
  }
  try {
    return { value: await f(), reads };
  } finally {
    for (const r of restores.reverse()) r();
  }
}

/** tfjs-core keeps its kernel and gradient registries in one global map, shared by every copy of the package. */
function globalRegistry(key: 'kernelRegistry' | 'gradRegistry'): Map<string, unknown> {
  const globals = (globalThis as { _tfGlobals?: Map<string, unknown> })._tfGlobals;
  const registry = globals?.get(key);
  if (!(registry instanceof Map)) throw new Error(`tfjs-core's ${key} was not found in globalThis._tfGlobals`);
  return registry as Map<string, unknown>;
}

/** tfjs' global state that a library must leave alone. */
export interface RegistrySnapshot {
  /** Sorted `backend_kernel` keys of the kernel registry. */
  kernels: string[];
  /** Sorted kernel names with a registered gradient. */
  gradients: string[];
  kernelConfigs: Map<string, unknown>;
  gradientConfigs: Map<string, unknown>;
  flags: Record<string, unknown>;
  backends: string[];
  /** Keys whose kernel config object was replaced since `before`. */
  kernelConfigsChanged(before: RegistrySnapshot): string[];
  /** Kernel names whose gradient was added, removed or replaced since `before`. */
  gradientsChanged(before: RegistrySnapshot): string[];
  /** Flags that had a value in `before` and have another one now. */
  flagsChanged(before: RegistrySnapshot): string[];
}

/** Snapshots the kernel registry, the gradient registry, the registered backends and the flags. */
export function registrySnapshot(): RegistrySnapshot {
  const kernelConfigs = new Map(globalRegistry('kernelRegistry'));
  const gradientConfigs = new Map(globalRegistry('gradRegistry'));
  const flags = { ...tf.env().getFlags() } as Record<string, unknown>;
  return {
    kernels: [...kernelConfigs.keys()].sort(),
    gradients: [...gradientConfigs.keys()].sort(),
    kernelConfigs,
    gradientConfigs,
    flags,
    backends: tf.engine().backendNames().sort(),
    kernelConfigsChanged(before) {
      const keys = new Set([...before.kernelConfigs.keys(), ...kernelConfigs.keys()]);
      return [...keys].filter((k) => before.kernelConfigs.get(k) !== kernelConfigs.get(k)).sort();
    },
    gradientsChanged(before) {
      const keys = new Set([...before.gradientConfigs.keys(), ...gradientConfigs.keys()]);
      return [...keys].filter((k) => before.gradientConfigs.get(k) !== gradientConfigs.get(k)).sort();
    },
    flagsChanged(before) {
      return Object.keys(before.flags)
        .filter((k) => !Object.is(before.flags[k], flags[k]))
        .sort();
    },
  };
}
