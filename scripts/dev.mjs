// `npm run dev`: `wrangler dev` with the demo on (its [build] step builds the assets and migrates the local D1), then bootstrap the demo tenant and print its credentials.
import { spawn } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDevVarsAsync } from './dev-vars.mjs';

const root = new URL('..', import.meta.url).pathname;
const port = Number(process.env.PORT ?? 8787);
const base = `http://localhost:${port}`;
const bin = (name) => join(root, 'node_modules/.bin', name);

const vars = await ensureDevVarsAsync(root);

const wrangler = spawn(bin('wrangler'), ['dev', '--port', String(port), '--ip', '127.0.0.1', '--var', 'DEMO:true', '--var', 'ALLOW_LOCAL_WEBHOOKS:true', ...process.argv.slice(2)], {
  cwd: root,
  stdio: ['inherit', 'inherit', 'inherit'],
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => wrangler.kill(signal));
wrangler.on('exit', (code) => process.exit(code ?? 0));

async function waitForHealth() {
  for (let i = 0; i < 120; i++) {
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('wrangler dev did not become healthy');
}

/**
 * The demo relying party creates its "Demo Bank" tenant and API client itself (POST /demo/api/bootstrap,
 * rpId = this hostname); the credentials are printed and kept in .wrangler/demo-tenant.json for scripts.
 */
async function bootstrapDemo() {
  const res = await fetch(`${base}/demo/api/bootstrap`, { method: 'POST', headers: { authorization: `Bearer ${vars.ADMIN_TOKEN}` } });
  if (!res.ok) throw new Error(`POST /demo/api/bootstrap → ${res.status} ${await res.text()}`);
  const { tenantId, clientId, clientSecret } = await res.json();
  const demo = { tenantId, clientId, clientSecret };
  mkdirSync(join(root, '.wrangler'), { recursive: true });
  writeFileSync(join(root, '.wrangler/demo-tenant.json'), JSON.stringify(demo, null, 2));
  return demo;
}

try {
  await waitForHealth();
  const demo = await bootstrapDemo();
  console.log(`
────────────────────────────────────────────────────────────
 Custos is running at ${base}
   API docs     ${base}/docs        OpenAPI  ${base}/openapi.json
   Demo RP      ${base}/            Authenticator app  ${base}/app
 Demo tenant    ${demo.tenantId}
   client_id     ${demo.clientId}
   client_secret ${demo.clientSecret}
   admin token   ${vars.ADMIN_TOKEN}   (in .dev.vars)
 Try: curl -u ${demo.clientId}:${demo.clientSecret} -d grant_type=client_credentials ${base}/oauth/token
────────────────────────────────────────────────────────────`);
} catch (error) {
  console.error(error);
  wrangler.kill('SIGTERM');
  process.exit(1);
}
