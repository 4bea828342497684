// Unit tests of the SDK in plain Node (WebCrypto, fetch types); real-browser tests live in ../test/e2e.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/**/*.test.ts'],
  },
});
