/** The README's main command, `npm run demo`, on one shipped image: it prints and writes what it says. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { graphTestSpec } from '../helpers/graph-models.js';

/** Writes a code-built graph model (MobileNetV2-like, 24x24x3 input) as model.json + weights.bin into `dir`. */
function writeGraphModel(dir: string): string {
  const spec = graphTestSpec('residual');
  spec.makeTwin().dispose();
  const a = spec.artifacts;
  writeFileSync(join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
  const json = {
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy,
    modelTopology: a.modelTopology,
    userDefinedMetadata: a.userDefinedMetadata,
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
  };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  return join(dir, 'model.json');
}

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const skip =
  process.env['TFCAM_BACKEND'] !== 'cpu'
    ? 'runs once (in the cpu project)'
    : !existsSync(join(repo, 'models', 'shapes', 'model.json'))
      ? 'models/shapes is missing'
      : null;

describe.skipIf(skip !== null)(`demo${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const run = (args: string[]): string =>
    execFileSync(process.execPath, ['--import', 'tsx', join(repo, 'scripts', 'demo.ts'), ...args], {
      cwd: repo,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  it('explains a shipped image and writes heatmap, overlay and guided PNGs', () => {
    const out = mkdtempSync(join(tmpdir(), 'tfcam-demo-'));
    try {
      const stdout = run(['--image', join(repo, 'examples', 'images', 'star-1.png'), '--out', out, '--method', 'gradCamPlusPlus']);
      expect(stdout).toMatch(/explaining 1 image\(s\) of 64x64 with gradCamPlusPlus/);
      expect(stdout).toMatch(/star-1\.png: star \(class 4\), logit \d+\.\d{3}/);
      for (const kind of ['heatmap', 'overlay', 'guided']) {
        const png = PNG.sync.read(readFileSync(join(out, `star-1.${kind}.png`)));
        expect([png.width, png.height]).toEqual([64, 64]);
        // The heatmap is 8-bit gray, the overlay and the guided detail 8-bit RGB; none is blank.
        expect(png.colorType, kind).toBe(kind === 'heatmap' ? 0 : 2);
        expect(new Set(png.data).size, kind).toBeGreaterThan(10);
      }
      // The class flag takes names too.
      expect(run(['--image', join(repo, 'examples', 'images', 'star-1.png'), '--out', out, '--class', 'circle'])).toMatch(
        /circle \(class 0\)/,
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it('explains a graph model (model.json of format graph-model) and lists its layers', () => {
    const out = mkdtempSync(join(tmpdir(), 'tfcam-demo-graph-'));
    try {
      const model = writeGraphModel(out);
      const stdout = run([
        '--model',
        model,
        '--image',
        join(repo, 'examples', 'images', 'star-1.png'),
        '--out',
        out,
        '--method',
        'layerCam',
        '--layer',
        'expanded_conv_1',
      ]);
      expect(stdout).toMatch(/a graph model \(\d+ candidate layers\)/);
      expect(stdout).toMatch(/explaining 1 image\(s\) of 24x24 with layerCam/);
      expect(stdout).toContain("layer 'StatefulPartitionedCall/model/MobilenetV2/expanded_conv_1/add'");
      for (const kind of ['heatmap', 'overlay', 'guided']) {
        const png = PNG.sync.read(readFileSync(join(out, `star-1.${kind}.png`)));
        expect([png.width, png.height]).toEqual([24, 24]);
        expect(new Set(png.data).size, kind).toBeGreaterThan(5);
      }
      const layers = run(['--model', model, '--layers']);
      expect(layers).toMatch(/^StatefulPartitionedCall\/model\/MobilenetV2\/Conv_1\/Relu6 {2}_FusedConv2D {2}\[null, 6, 6, 24\]$/m);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it('rejects an unknown method with the usage line', () => {
    expect(() => run(['--method', 'magicCam'])).toThrow(/unknown method 'magicCam'[\s\S]*usage: npm run demo/);
  });
});
