// Builds the npm entries (ESM + .d.ts, dependencies external) and the self-contained page bundle.
import { defineConfig, type Options } from 'tsup';

const shared: Options = {
  format: ['esm'],
  target: 'es2022',
  platform: 'browser',
  sourcemap: true,
};

export default defineConfig([
  {
    ...shared,
    // One entry per package export.
    entry: {
      index: 'src/index.ts',
      confirm: 'src/confirm.ts',
      // The reference native-device client (docs/native-protocol.md); scripts/device.mjs runs it on Node.
      native: 'src/native.ts',
    },
    dts: true,
    // Keeps the page bundle, which the other build writes into the same folder at the same time.
    clean: ['!custos.browser.*'],
  },
  {
    ...shared,
    // Served by the worker at /sdk/custos.js to pages with no bundler: everything inlined.
    entry: { 'custos.browser': 'src/browser.ts' },
    noExternal: ['@simplewebauthn/browser', 'jose'],
    // Its types are those of the two entries it re-exports, for `import … from '@custos/web-sdk/custos.browser.js'`.
    dts: true,
    minify: true,
  },
]);
