import { defineConfig } from 'vitest/config';

// The suite runs once per backend: each project sets TFCAM_BACKEND, and test/setup/backend.ts
// activates that backend and asserts tf.getBackend() before every test.
const backends = ['cpu', 'wasm'] as const;

export default defineConfig({
  test: {
    globals: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: backends.map((backend) => ({
      extends: true,
      test: {
        name: backend,
        environment: 'node',
        include: ['test/**/*.test.ts'],
        setupFiles: ['test/setup/backend.ts'],
        env: { TFCAM_BACKEND: backend },
      },
    })),
  },
});
