/**
 * Helpers for the package tests: a fresh build in dist/, `npm` invocations, the packed file list.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../docs/snippets.js';

export { ROOT };

const npmCommand = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * The environment for child `npm` commands: the caller's, minus the `npm_config_*` settings that
 * `npm test` passes down to its children (they would apply the parent's command line to the child's
 * install), except those that say where the cache and registry are.
 */
export function npmEnv(): NodeJS.ProcessEnv {
  const keep =
    /^npm_config_(cache|registry|userconfig|globalconfig|proxy|https_proxy|noproxy|no_proxy|strict_ssl|ca|cafile|offline|prefer_offline|@[\w-]+:registry)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_config_/i.test(k) && !keep.test(k)) continue;
    env[k] = v;
  }
  return env;
}

/** Runs npm with arguments in `cwd`; returns stdout. Throws with stdout and stderr on failure. */
export function npm(args: readonly string[], cwd: string, timeout = 300_000): string {
  try {
    return execFileSync(npmCommand, args, {
      cwd,
      env: npmEnv(),
      encoding: 'utf8',
      timeout,
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** Whether dist/ holds a build at least as new as src/, tsup.config.ts and package.json. */
export function distIsFresh(): boolean {
  const entry = join(ROOT, 'dist', 'index.js');
  if (!existsSync(entry) || !existsSync(join(ROOT, 'dist', 'index.cjs'))) return false;
  const built = statSync(entry).mtimeMs;
  const sources = Math.max(
    newestMtime(join(ROOT, 'src')),
    newestMtime(join(ROOT, 'tsup.config.ts')),
    newestMtime(join(ROOT, 'package.json')),
  );
  return built >= sources;
}

/**
 * Makes sure dist/ is a fresh build (CI builds before testing, so this is usually a no-op). When a
 * build is needed, one test file builds while the others wait on a lock directory.
 */
export async function ensureBuilt(): Promise<void> {
  if (distIsFresh()) return;
  const lock = join(ROOT, 'node_modules', '.tfcam-build.lock');
  const deadline = Date.now() + 240_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than the longest build is left over from a killed run.
      const age = existsSync(lock) ? Date.now() - statSync(lock).mtimeMs : 0;
      if (age > 300_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock} (remove it if no build is running)`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    if (!distIsFresh()) npm(['run', '--silent', 'build'], ROOT);
  } finally {
    rmdirSync(lock);
  }
}

/** One file of `npm pack --json`. */
export interface PackedFile {
  path: string;
  size: number;
}

/** The files `npm pack` would put in the tarball (no lifecycle scripts: dist must be built). */
export function packedFiles(): PackedFile[] {
  const out = npm(['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT);
  const parsed = JSON.parse(out) as Array<{ files: PackedFile[] }>;
  return (parsed[0]?.files ?? []).map((f) => ({ path: f.path.replace(/\\/g, '/'), size: f.size }));
}

/** Packs the package into `dir` (no lifecycle scripts: dist must be built) and returns the tarball's path. */
export function packInto(dir: string): string {
  const out = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT);
  const parsed = JSON.parse(out) as Array<{ filename: string }>;
  const name = parsed[0]?.filename;
  if (name === undefined) throw new Error(`npm pack printed no filename: ${out}`);
  return join(dir, name.replace(/^.*[\\/]/, ''));
}

/** The version of a package installed in the repository (to install the same one elsewhere). */
export function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}
