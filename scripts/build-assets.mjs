// Copies static assets into public/ (served by Workers static assets): Swagger UI for /docs, the web SDK bundle, the PWA, the console's script.
import { cpSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { assetsHeadersFile } from '../src/security-headers.mjs';

const require = createRequire(import.meta.url);
const root = new URL('..', import.meta.url).pathname;
const swagger = dirname(require.resolve('swagger-ui-dist/package.json'));
const docs = join(root, 'public/docs/assets');
mkdirSync(docs, { recursive: true });
for (const file of ['swagger-ui.css', 'swagger-ui-bundle.js']) cpSync(join(swagger, file), join(docs, file));
writeFileSync(
  join(docs, 'init.js'),
  // validatorUrl 'none': the online validator badge would send the document's URL to validator.swagger.io (and /docs' CSP blocks it).
  "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, validatorUrl: 'none' });\n",
);
const sdkBundle = join(root, 'web-sdk/dist/custos.browser.js');
if (existsSync(sdkBundle)) {
  mkdirSync(join(root, 'public/sdk'), { recursive: true });
  cpSync(sdkBundle, join(root, 'public/sdk/custos.js'));
}
const pwa = join(root, 'web-sdk/app');
if (existsSync(pwa)) cpSync(pwa, join(root, 'public/app'), { recursive: true });
// The demo relying party's page (served by src/routes/demo.ts only when DEMO=true).
const demoPage = join(root, 'web-sdk/demo');
if (existsSync(demoPage)) cpSync(demoPage, join(root, 'public/demo'), { recursive: true });
// The console's one script (TypeScript, @simplewebauthn/browser inside) and its stylesheet: bundled here, no CDN.
const consoleAssets = join(root, 'public/console/assets');
mkdirSync(consoleAssets, { recursive: true });
await build({
  entryPoints: [join(root, 'src/console/client/console.ts')], outfile: join(consoleAssets, 'console.js'),
  bundle: true, format: 'esm', target: 'es2022', minify: true, legalComments: 'none', logLevel: 'warning',
});
cpSync(join(root, 'src/console/client/console.css'), join(consoleAssets, 'console.css'));
// Security headers of everything the assets layer serves before the worker runs (CSP per page area, nosniff, …).
writeFileSync(join(root, 'public/_headers'), assetsHeadersFile());
console.log('assets built in public/');
