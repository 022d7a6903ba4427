/**
 * The Node quickstart (examples/node/quickstart.ts) against the built package: it imports 'tfcam'
 * by name (dist/, via the package's exports), explains a shipped image, and writes a valid PNG.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const model = join(repo, 'models', 'shapes', 'model.json');
const skip =
  process.env['TFCAM_BACKEND'] !== 'cpu' ? 'runs once (in the cpu project)' : !existsSync(model) ? 'models/shapes is missing' : null;

describe.skipIf(skip !== null)(`node quickstart${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('explains a shipped image with the built package and writes the overlay PNG', () => {
    if (!existsSync(join(repo, 'dist', 'index.js'))) execFileSync('npx', ['tsup'], { cwd: repo, stdio: 'pipe' });
    const dir = mkdtempSync(join(tmpdir(), 'tfcam-quickstart-'));
    try {
      const out = join(dir, 'overlay.png');
      const { images } = JSON.parse(readFileSync(join(repo, 'examples', 'images', 'shapes.json'), 'utf8')) as {
        images: Array<{ file: string }>;
      };
      const image = join(repo, 'examples', 'images', images[0]!.file);
      const stdout = execFileSync(
        process.execPath,
        ['--import', 'tsx', join(repo, 'examples', 'node', 'quickstart.ts'), image, model, out],
        {
          cwd: repo,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      expect(stdout).toMatch(/class \d+ \(logit -?\d+\.\d+\) explained at '[^']+' -> /);
      const png = PNG.sync.read(readFileSync(out));
      expect(png.width).toBeGreaterThan(8);
      expect(png.colorType).toBe(2); // 8-bit RGB
      // Many distinct colours: a heatmap was painted, not a blank image (pngjs decodes to RGBA).
      const colours = new Set<number>();
      for (let i = 0; i < png.data.length; i += 4) colours.add((png.data[i]! << 16) | (png.data[i + 1]! << 8) | png.data[i + 2]!);
      expect(colours.size).toBeGreaterThan(50);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
