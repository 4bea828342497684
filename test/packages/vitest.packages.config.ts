// The pack check as a vitest suite in plain Node (not workerd): it packs, installs and uses the two published packages.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/packages/**/*.test.ts'],
    // npm pack runs both package builds, then npm install: minutes on a cold npm cache.
    testTimeout: 900_000,
  },
});
