// Starts `wrangler dev` for the e2e tests on its own port and state dir (migrated, DEMO=true), bootstraps the demo tenant, stops it after.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { generateVars } from '../../scripts/dev-vars.mjs';
import { chromiumPath, type E2eContext } from './context';

const root = fileURLToPath(new URL('../..', import.meta.url));
const port = Number(process.env['E2E_PORT'] ?? 8791);
const stateDir = join(root, '.wrangler/e2e-state');
const artifacts = join(root, 'test-artifacts/e2e');
const wranglerJs = join(root, 'node_modules/wrangler/bin/wrangler.js');
const HEALTH_TIMEOUT_MS = 120_000;

function loudSkip(reason: string): void {
  const line = '!'.repeat(100);
  console.warn(`\n${line}\n!!!  E2E TESTS SKIPPED: ${reason}\n!!!  Install it (apt-get install -y chromium) or set CHROMIUM_PATH; with CI set they fail instead.\n${line}\n`);
}

/** A request to the local worker as http://localhost:<port>: the demo derives its rpId from the Host. */
function localRequest(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { host: `localhost:${port}`, ...headers }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function healthy(): Promise<boolean> {
  try {
    return (await localRequest('GET', '/healthz')).status === 200;
  } catch {
    return false;
  }
}

function logTail(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-40).join('\n') : '(no log)';
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // wrangler runs workerd as its child: signal the process group this setup started, by its id.
  process.kill(-child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, 10_000);
  await exited;
  clearTimeout(timer);
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const chromium = chromiumPath();
  if (!existsSync(chromium)) {
    if (process.env['CI']) throw new Error(`CI is set but Chromium is missing at ${chromium}: the e2e tests cannot run.`);
    loudSkip(`no Chromium at ${chromium}`);
    project.provide('e2e', { skip: `no Chromium at ${chromium}` } satisfies E2eContext);
    return undefined;
  }
  for (const asset of ['public/sdk/custos.js', 'public/app/index.html', 'public/demo/index.html']) {
    if (!existsSync(join(root, asset))) throw new Error(`${asset} is missing: run \`npm run build\` before the e2e tests.`);
  }
  if (await healthy()) throw new Error(`Port ${port} is already serving: stop that process or set E2E_PORT.`);

  mkdirSync(artifacts, { recursive: true });
  rmSync(stateDir, { recursive: true, force: true });
  const migrate = spawnSync(process.execPath, [wranglerJs, 'd1', 'migrations', 'apply', 'custos', '--local', '--persist-to', stateDir], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    timeout: 120_000,
  });
  if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);

  const vars = await generateVars();
  const logFile = join(artifacts, 'wrangler.log');
  const log = openSync(logFile, 'w');
  const child = spawn(
    process.execPath,
    [
      wranglerJs, 'dev', '--port', String(port), '--ip', '127.0.0.1', '--persist-to', stateDir, '--show-interactive-dev-session=false',
      // ALLOW_LOCAL_WEBHOOKS: the relying-party example receives its webhooks on http://localhost, as under `npm run dev`.
      '--var', 'DEMO:true', '--var', 'ALLOW_LOCAL_WEBHOOKS:true',
      // No SIGNING_KEYS / E2E_KEYS: as in local development, the service generates its own (every result token the
      // browser tests check is signed with them).
      '--var', `ADMIN_TOKEN:${vars.ADMIN_TOKEN}`,
    ],
    // CUSTOS_PREBUILT: npm test built already, and this run keeps its own state dir and vars (scripts/build.mjs).
    { cwd: root, detached: true, stdio: ['ignore', log, log], env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CUSTOS_PREBUILT: '1' } },
  );
  closeSync(log);

  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  while (!(await healthy())) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop(child);
      throw new Error(`wrangler dev did not become healthy on port ${port}:\n${logTail(logFile)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  const bootstrap = await localRequest('POST', '/demo/api/bootstrap', { authorization: `Bearer ${vars.ADMIN_TOKEN}` });
  if (bootstrap.status !== 201) {
    await stop(child);
    throw new Error(`demo bootstrap answered ${bootstrap.status}: ${bootstrap.body}`);
  }
  const demo = JSON.parse(bootstrap.body) as { tenantId: string };
  project.provide('e2e', { baseUrl: `http://localhost:${port}`, tenantId: demo.tenantId, chromium, artifacts, adminToken: vars.ADMIN_TOKEN } satisfies E2eContext);

  return async () => {
    await stop(child);
  };
}
