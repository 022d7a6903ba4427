/// <reference types="vite/client" />
// Types for Vite's `?url` imports and `import.meta.glob`, used by the browser project's setup and tests.
