import { defineConfig } from 'tsup';

export default defineConfig({
  // 'backend' is the optional tfcam/backend entry (useBackend): the only module that imports backend packages.
  entry: { index: 'src/index.ts', backend: 'src/backend.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2020',
  treeshake: true,
  // Shared code (the error classes) lives in one chunk for both formats, so an error thrown by
  // tfcam/backend is an instance of the TfcamError that tfcam exports.
  splitting: true,
  external: [/^@tensorflow\//],
});
