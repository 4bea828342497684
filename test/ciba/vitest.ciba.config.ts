// The CIBA interop suite in plain Node: a third-party OIDC client (openid-client) against a real `wrangler dev` on 127.0.0.1:8793.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    environment: 'node',
    include: ['test/ciba/**/*.e2e.test.ts'],
    // One server on a fixed port: nothing runs beside it.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
  },
});
