// Builds @custos/node: one ESM entry with its bundled .d.ts; dependencies (jose, openapi-fetch, canonicalize) stay external.
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm'],
  target: 'es2022',
  platform: 'neutral',
  dts: true,
  sourcemap: true,
  clean: true,
});
