import { createReadStream, existsSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');

const TYPES: Record<string, string> = { '.json': 'application/json', '.bin': 'application/octet-stream', '.png': 'image/png' };

/** Serves the repository's model, sample images and test fixtures at /models, /images, /fixtures. */
function repoAssets(): Plugin {
  const mounts: Array<[string, string]> = [
    ['/models/', join(repo, 'models')],
    ['/images/', join(repo, 'examples', 'images')],
    ['/fixtures/', join(repo, 'test', 'fixtures', 'cam-oracle')],
  ];
  return {
    name: 'tfcam-repo-assets',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const url = decodeURIComponent((req.url ?? '').split('?')[0] ?? '');
        for (const [prefix, dir] of mounts) {
          if (!url.startsWith(prefix)) continue;
          const file = resolve(dir, url.slice(prefix.length));
          if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) break;
          res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
          createReadStream(file).pipe(res);
          return;
        }
        next();
      });
    },
  };
}

export default defineConfig({
  root: here,
  plugins: [repoAssets()],
  // The example imports 'tfcam' and 'tfcam/backend' like an app would; in the repository they are the source.
  resolve: {
    alias: [
      { find: /^tfcam$/, replacement: join(repo, 'src', 'index.ts') },
      { find: /^tfcam\/backend$/, replacement: join(repo, 'src', 'backend.ts') },
    ],
  },
  server: { host: '127.0.0.1', fs: { allow: [repo] } },
  logLevel: 'warn',
});
