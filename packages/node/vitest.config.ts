// Unit tests of @custos/node in plain Node: WebCrypto, fetch, and the Standard Webhooks reference library.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/**/*.test.ts'],
  },
});
