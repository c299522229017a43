import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `vscode` exists only inside the extension host; tests get jest-mock-vscode.
export default defineConfig({
  resolve: {
    alias: { vscode: fileURLToPath(new URL('./test/vscode.mock.cts', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 10000,
    pool: 'threads',
    // Six small files: one shared worker context is much faster than one each.
    isolate: false,
  },
});
