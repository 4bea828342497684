// Packs @custos/web-sdk and @custos/node, installs both tarballs into a fresh project in /tmp, and uses them there as a relying party would.
//
// `node scripts/pack-check.mjs` prints each step and, last, one JSON line with the findings; it exits non-zero
// when a step fails. test/packages/pack.test.ts runs it so `npm test` counts it. Every child process has a timeout.
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installTarballs, packPackages, root, run } from './pack-packages.mjs';

const bin = (name) => join(root, 'node_modules/.bin', name);
const keep = process.argv.includes('--keep');

const work = mkdtempSync(join(tmpdir(), 'custos-pack-'));
const findings = {};
try {
  // 1. The tarballs, exactly as `npm publish` would make them (prepack builds each package).
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  const packed = packPackages(tarballs);
  findings.tarballs = packed.packages;
  for (const { name, files } of findings.tarballs) {
    // Only built output, the README and package.json belong in a tarball: no sources, tests or configs.
    const junk = files.filter((f) => !(f.startsWith('dist/') || f === 'README.md' || f === 'package.json' || f === 'LICENSE'));
    if (junk.length > 0) throw new Error(`${name} would publish ${junk.join(', ')}`);
  }

  // 2. A fresh, empty project that installs the two tarballs; their dependencies come from the registry (or the npm cache).
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'relying-party', private: true, type: 'module' }, null, 2));
  installTarballs(app, packed.tarballs, { extraArgs: ['--no-package-lock'] });
  findings.installed = JSON.parse(readFileSync(join(app, 'node_modules/@custos/node/package.json'), 'utf8')).version;

  // 3a. Node: the server package verifies a webhook signed here with node:crypto; the web SDK's Node-usable entries load.
  const secretBytes = randomBytes(32);
  const secret = `whsec_${secretBytes.toString('base64')}`;
  const body = JSON.stringify({ id: 'evt_pack', type: 'user.locked', timestamp: new Date().toISOString(), tenantId: 'ten_pack', data: { userId: 'usr_1', status: 'LOCKED', lockReason: 'ADMIN' } });
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = createHmac('sha256', secretBytes).update(`evt_pack.${timestamp}.${body}`).digest('base64');
  writeFileSync(join(app, 'sample.json'), JSON.stringify({ secret, body, headers: { 'webhook-id': 'evt_pack', 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` } }));
  writeFileSync(
    join(app, 'node-check.mjs'),
    `import { readFileSync } from 'node:fs';
import { createCustosClient, verifyResultToken, verifyWebhook, WebhookVerificationError } from '@custos/node';
import { createNativeClient, generateDeviceKey } from '@custos/web-sdk/native';
import * as sdk from '@custos/web-sdk';
const sample = JSON.parse(readFileSync('sample.json', 'utf8'));
const event = await verifyWebhook(sample.secret, sample.headers, Buffer.from(sample.body));
let tampered = 'accepted';
try { await verifyWebhook(sample.secret, sample.headers, sample.body.replace('LOCKED', 'ACTIVE')); } catch (e) { tampered = e instanceof WebhookVerificationError ? e.reason : String(e); }
const client = createCustosClient({ baseUrl: 'https://custos.example', clientId: 'id', clientSecret: 'secret' });
console.log(JSON.stringify({
  event: { id: event.id, type: event.type, userId: event.data.userId },
  tampered,
  client: typeof client.POST,
  verifyResultToken: typeof verifyResultToken,
  native: [typeof createNativeClient, typeof generateDeviceKey],
  sdk: ['createCustos', 'CustosError', 'createDeviceProof', 'generateDeviceKeyPair'].filter((name) => typeof sdk[name] === 'function'),
}));
`,
  );
  findings.node = JSON.parse(run('Node imports @custos/node and @custos/web-sdk/native', process.execPath, ['node-check.mjs'], { cwd: app, timeout: 60_000 }).trim());
  const node = findings.node;
  if (node.event.id !== 'evt_pack' || node.event.userId !== 'usr_1' || node.tampered !== 'INVALID_SIGNATURE') throw new Error(`webhook check in Node: ${JSON.stringify(node)}`);
  if (node.client !== 'function' || node.verifyResultToken !== 'function' || node.native.some((t) => t !== 'function') || node.sdk.length !== 4) {
    throw new Error(`missing exports in Node: ${JSON.stringify(node)}`);
  }

  // 3b. A browser bundle: esbuild resolves the package's exports for the browser platform.
  writeFileSync(
    join(app, 'browser-entry.js'),
    `import { createCustos, CustosError } from '@custos/web-sdk';
import { confirmIn, formatAmount } from '@custos/web-sdk/confirm';
const custos = createCustos({ baseUrl: location.origin });
window.custosReady = { custos, CustosError, confirmIn, amount: formatAmount('1234.5', 'EUR', 'de-DE') };
`,
  );
  run('esbuild bundles @custos/web-sdk for the browser', bin('esbuild'), ['browser-entry.js', '--bundle', '--platform=browser', '--format=esm', '--outfile=out/bundle.js', '--log-level=warning'], { cwd: app, timeout: 60_000 });
  const bundle = readFileSync(join(app, 'out/bundle.js'), 'utf8');
  findings.browserBundleBytes = bundle.length;
  if (!bundle.includes('custosReady') || /from\s*["']node:/.test(bundle)) throw new Error('the browser bundle is incomplete or pulls in node: modules');

  // 3c. Types: a TypeScript file using both packages type-checks against the installed .d.ts files.
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'bundler', lib: ['ES2023', 'DOM'], types: [], strict: true, noEmit: true, skipLibCheck: false }, include: ['check.ts'] }, null, 2),
  );
  writeFileSync(
    join(app, 'check.ts'),
    `import { createCustos, type CustosClient as BrowserClient } from '@custos/web-sdk';
import { confirmIn } from '@custos/web-sdk/confirm';
import { generateDeviceKey } from '@custos/web-sdk/native';
import * as bundle from '@custos/web-sdk/custos.browser.js';
import { createCustosClient, verifyResultToken, verifyWebhook, type ResultTokenClaims, type WebhookEvent } from '@custos/node';

const page: BrowserClient = createCustos({ baseUrl: 'https://custos.example' });
const fromBundle: BrowserClient = bundle.createCustos({ baseUrl: 'https://custos.example' });
void confirmIn; void generateDeviceKey; void page; void fromBundle;

export async function server(headers: Headers, body: string, token: string): Promise<string> {
  const custos = createCustosClient({ baseUrl: 'https://custos.example', clientId: 'id', clientSecret: 'secret' });
  const { data } = await custos.POST('/v1/users', { body: { externalRef: 'customer-42' } });
  const userId: string | undefined = data?.id;
  const event: WebhookEvent = await verifyWebhook('whsec_secret', headers, body);
  if (event.type === 'operation.completed') {
    const operationId: string = event.data.operationId;
    const claims: ResultTokenClaims = await verifyResultToken(token, { issuer: 'https://custos.example', audience: 'ten_1', jwksUrl: 'https://custos.example/.well-known/jwks.json', operationId });
    return claims.op + (userId ?? '');
  }
  return event.type;
}
`,
  );
  run('tsc --noEmit (moduleResolution bundler) over both packages\' types', process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app, timeout: 120_000 });
  findings.typecheck = 'ok';
  console.log(JSON.stringify({ ok: true, ...findings }));
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  console.log(JSON.stringify({ ok: false, ...findings }));
  process.exitCode = 1;
} finally {
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
