// The crash suite in plain Node (not the workers pool): it starts, kills (SIGKILL) and restarts `wrangler dev` on 127.0.0.1:8792.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    environment: 'node',
    include: ['test/crash/**/*.e2e.test.ts'],
    // One server on fixed ports, killed and restarted a dozen times: nothing runs beside it, and the bounds are generous.
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 240_000,
    teardownTimeout: 30_000,
  },
});
