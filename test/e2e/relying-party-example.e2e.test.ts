// examples/relying-party as a bank's developer runs it: the packed packages installed in a copy, its setup and server, and a passkey flow in Chromium from its own origin.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, cpSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installTarballs, packPackages, run } from '../../scripts/pack-packages.mjs';
import { addVirtualAuthenticator, confirmField, launchChromium, reportPageErrors, runningContext, screenshot, skipReason, waitUntil, type VirtualAuthenticator } from './browser';

const example = fileURLToPath(new URL('../../examples/relying-party', import.meta.url));
// One of the two ports this suite may use besides the e2e Custos (E2E_PORT): see the lead's port plan.
const RP_PORT = 8794;
const RP_ORIGIN = `http://localhost:${RP_PORT}`;
// Each flow is a real ceremony plus a long poll through the example's server: generous on a slow 2-core machine.
const FLOW_TIMEOUT_MS = 90_000;

interface Claims {
  iss: string;
  aud: string;
  sub: string;
  jti: string;
  op: string;
  device: string;
  amr: string[];
  txn?: { amount: string; currency: string; payee: { name: string } };
  doc?: { title?: string; mimeType: string; sha256: string };
}

interface SeenCall {
  url: string;
  method: string;
  status: number;
  requestOrigin: string | undefined;
  allowOrigin: string | undefined;
}

interface RpEvent {
  id: string;
  type: string;
  data: { operationId?: string; type?: string; userId?: string; deviceId?: string };
}

async function stopServer(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

describe.skipIf(skipReason !== undefined)('relying-party example (own origin, packed @custos/node and @custos/web-sdk, Chromium)', () => {
  let work: string;
  let server: ChildProcess | undefined;
  let serverLog: string;
  let browser: Browser;
  let page: Page;
  let authenticator: VirtualAuthenticator;
  let userId: string;
  const calls: SeenCall[] = [];
  const pendingCalls: Promise<void>[] = [];
  const consoleLines: string[] = [];
  const verified: Claims[] = [];

  beforeAll(async () => {
    const { baseUrl, adminToken, artifacts } = runningContext();
    work = mkdtempSync(join(tmpdir(), 'custos-rp-example-'));

    // 1. The two tarballs as npm would publish them, installed into a copy of the example (not the repo's file: links).
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    const { tarballs: files } = packPackages(tarballs, { quiet: true });
    expect(files.map((f: string) => basename(f)).sort()).toEqual(['custos-node-0.1.0.tgz', 'custos-web-sdk-0.1.0.tgz']);
    const app = join(work, 'relying-party');
    cpSync(example, app, { recursive: true, filter: (source) => !['node_modules', '.env', 'package-lock.json'].includes(basename(source)) });
    installTarballs(app, files, { quiet: true });
    const installed = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(installed.dependencies).sort()).toEqual(['@custos/node', '@custos/web-sdk']);
    expect(Object.values(installed.dependencies).every((spec) => spec.endsWith('.tgz'))).toBe(true);

    // 2. Its setup as the operator: tenant (rpId localhost, origin of the example), API client, webhook endpoint.
    const setupEnv = { ...process.env, CUSTOS_URL: baseUrl, ADMIN_TOKEN: adminToken, PORT: String(RP_PORT) };
    const setupOut = run('npm run setup', 'npm', ['run', '--silent', 'setup'], { cwd: app, env: setupEnv, timeout: 60_000, quiet: true });
    expect(setupOut).toContain(`webhook endpoint ${RP_ORIGIN}/webhooks`);
    expect(setupOut).not.toContain(adminToken);
    const env = readFileSync(join(app, '.env'), 'utf8');
    expect(env).toMatch(/^CUSTOS_WEBHOOK_SECRET=whsec_/m);
    expect(env).toMatch(/^CUSTOS_CLIENT_SECRET=\S+/m);
    for (const secret of env.match(/^CUSTOS_(?:CLIENT|WEBHOOK)_SECRET=(\S+)$/gm) ?? []) expect(setupOut).not.toContain(secret.split('=')[1]);

    // 3. Its server, as `npm start` runs it; the .env written above carries everything but the port.
    serverLog = join(artifacts, 'rp-example-server.log');
    const log = openSync(serverLog, 'w');
    const serverEnv: NodeJS.ProcessEnv = { ...process.env, PORT: String(RP_PORT) };
    for (const name of Object.keys(serverEnv)) if (name.startsWith('CUSTOS_') || name === 'ADMIN_TOKEN') delete serverEnv[name];
    server = spawn(process.execPath, ['server.mjs'], { cwd: app, env: serverEnv, stdio: ['ignore', log, log] });
    closeSync(log);
    await waitUntil(
      'the example server on port 8794',
      async () => {
        if (server?.exitCode !== null) throw new Error(`server.mjs exited:\n${readFileSync(serverLog, 'utf8')}`);
        return fetch(`${RP_ORIGIN}/api/config`).then((r) => r.status, () => 0);
      },
      (status) => status === 200,
      60_000,
    );

    // 4. Chromium on the example's origin, watching every call to Custos and every console line.
    browser = await launchChromium();
    const context = await browser.newContext({ locale: 'en-US' });
    page = await context.newPage();
    await page.setViewportSize({ width: 1100, height: 1000 });
    reportPageErrors(page, 'rp-example');
    page.on('console', (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
    page.on('requestfailed', (request) => consoleLines.push(`requestfailed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
    page.on('response', (response: Response) => {
      if (!response.url().startsWith(`${baseUrl}/`)) return;
      pendingCalls.push(
        (async () => {
          const [requestHeaders, responseHeaders] = await Promise.all([response.request().allHeaders(), response.allHeaders()]);
          calls.push({
            url: response.url(),
            method: response.request().method(),
            status: response.status(),
            requestOrigin: requestHeaders['origin'],
            allowOrigin: responseHeaders['access-control-allow-origin'],
          });
        })(),
      );
    });
    authenticator = await addVirtualAuthenticator(page);
    await page.goto(`${RP_ORIGIN}/`);
    // Ready, or the page's own explanation of why the SDK did not load (a CORS refusal ends up there).
    const start = await waitUntil(
      'the page to load the SDK',
      async () => ({ ready: await page.locator('body').getAttribute('data-ready'), status: await page.locator('#status').textContent() }),
      (s) => s.ready === 'true' || (s.status ?? '').startsWith('Could not'),
      30_000,
    );
    expect(start.ready, start.status ?? '').toBe('true');
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await stopServer(server);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Waits until the page's status region reports the end of the flow `label`, and holds it to success. */
  async function flowEnds(label: string): Promise<void> {
    const status = page.locator('#status');
    const end = await waitUntil(
      `the ${label} flow to end`,
      async () => ({ kind: await status.getAttribute('data-kind'), text: (await status.textContent()) ?? '' }),
      (s) => s.text.startsWith(`${label}:`) && s.kind !== 'info',
      FLOW_TIMEOUT_MS,
    );
    expect(end, readFileSync(serverLog, 'utf8')).toEqual({ kind: 'ok', text: `${label}: verified by the bank's server.` });
  }

  /** The claims the example's server verified for the newest result of type `op`, as the page shows them. */
  async function shownClaims(op: string): Promise<Claims> {
    const item = page.locator(`#results li[data-op="${op}"]`).first();
    await item.waitFor({ state: 'visible', timeout: 15_000 });
    const claims = JSON.parse((await item.locator('.result__claims').textContent()) ?? '{}') as Claims;
    expect(await item.getAttribute('data-operation-id')).toBe(claims.jti);
    verified.push(claims);
    return claims;
  }

  /** The SDK's confirmation view in the page: check it, then approve. */
  async function approveShown(check: (view: ReturnType<Page['locator']>) => Promise<void>, shot?: string): Promise<void> {
    const view = page.locator('#confirm .custos-confirm');
    await view.waitFor({ state: 'visible', timeout: 30_000 });
    await check(view);
    if (shot) await screenshot(page, shot);
    await view.getByRole('button', { name: 'Approve' }).click();
  }

  it('serves its page from its own origin and loads the SDK bundle cross-origin from Custos (CORS for this origin)', async () => {
    const { baseUrl } = runningContext();
    expect(new URL(page.url()).origin).toBe(RP_ORIGIN);
    expect(new URL(baseUrl).origin).not.toBe(RP_ORIGIN);
    expect(await page.locator('#sdk-url').textContent()).toBe(`${baseUrl}/sdk/custos.js`);
    await Promise.all(pendingCalls);
    const bundle = calls.find((call) => call.url === `${baseUrl}/sdk/custos.js`);
    expect(bundle).toMatchObject({ method: 'GET', status: 200, requestOrigin: RP_ORIGIN, allowOrigin: RP_ORIGIN });
  });

  it('chooses a customer and registers a passkey for rpId localhost; the server verifies the REGISTRATION token', async () => {
    await page.getByLabel('Customer name', { exact: true }).fill(`rp-example-${Date.now()}`);
    await page.getByRole('button', { name: 'Continue' }).click();
    userId = await waitUntil('the customer id', async () => (await page.locator('#customer-id').textContent()) ?? '', (id) => id.startsWith('usr_'));

    await page.getByRole('button', { name: 'Register a passkey' }).click();
    await flowEnds('Register a passkey');
    const claims = await shownClaims('REGISTRATION');
    expect(claims).toMatchObject({ op: 'REGISTRATION', sub: userId, iss: runningContext().baseUrl });
    expect(claims.device).toMatch(/^dev_/);
    const credentials = await authenticator.credentials();
    expect(credentials).toHaveLength(1);
    expect(credentials[0]?.rpId).toBe('localhost');
    await screenshot(page, 'rp-example-1-registered');
  });

  it('signs in with the passkey: AUTHENTICATION by the same device, user verified', async () => {
    await page.getByRole('button', { name: 'Sign in with the passkey' }).click();
    await approveShown(async (view) => expect(await view.textContent()).toContain('Sign in to Example Bank'));
    await flowEnds('Sign in');
    const claims = await shownClaims('AUTHENTICATION');
    expect(claims).toMatchObject({ op: 'AUTHENTICATION', sub: userId, device: verified[0]?.device });
    expect(claims.amr).toEqual(expect.arrayContaining(['hwk', 'user']));
    await screenshot(page, 'rp-example-2-signed-in');
  });

  it('authorises a payment: the confirmation shows amount and payee, and the verified txn binds exactly them', async () => {
    await page.getByLabel('Amount', { exact: true }).fill('42.50');
    await page.getByLabel('Currency', { exact: true }).selectOption('EUR');
    await page.getByLabel('Payee', { exact: true }).fill('Zeta Utilities AG');
    await page.getByRole('button', { name: 'Pay' }).click();
    await approveShown(async (view) => {
      expect(await view.locator('.custos-confirm__amount').textContent()).toBe('€42.50');
      expect(await confirmField(view, 'Payee').textContent()).toBe('Zeta Utilities AG');
    }, 'rp-example-3-payment-confirm');
    await flowEnds('Payment');
    const claims = await shownClaims('AUTHORISATION');
    expect(claims).toMatchObject({ op: 'AUTHORISATION', sub: userId });
    expect(claims.txn).toEqual({ amount: '42.50', currency: 'EUR', payee: { name: 'Zeta Utilities AG' } });
    await screenshot(page, 'rp-example-4-payment-verified');
  });

  it('signs a text: the verified doc carries the SHA-256 of exactly the text shown', async () => {
    const text = 'I, the customer, accept clause 7 <b>as written</b> & "quoted".\nSecond line: EUR 10.00.';
    await page.getByLabel('Title', { exact: true }).fill('Clause 7');
    await page.getByLabel('Text', { exact: true }).fill(text);
    await page.getByRole('button', { name: 'Sign text' }).click();
    await approveShown(async (view) => expect(await view.locator('.custos-confirm__document').textContent()).toBe(text));
    await flowEnds('Signature');
    const claims = await shownClaims('SIGNATURE');
    expect(claims).toMatchObject({ op: 'SIGNATURE', sub: userId });
    expect(claims.doc).toEqual({ title: 'Clause 7', mimeType: 'text/plain', sha256: createHash('sha256').update(text, 'utf8').digest('hex') });
    await screenshot(page, 'rp-example-5-signed');
  });

  it('its webhook receiver verified an operation.completed event for each of the four operations', async () => {
    expect(verified.map((claims) => claims.op)).toEqual(['REGISTRATION', 'AUTHENTICATION', 'AUTHORISATION', 'SIGNATURE']);
    const wanted = verified.map((claims) => claims.jti);
    // Deliveries run in their own Durable Object alarm after the change commits: wait for them, bounded.
    const events = await waitUntil(
      'operation.completed webhooks for all four operations',
      () => page.evaluate(async () => ((await (await fetch('/api/events')).json()) as { events: RpEvent[] }).events),
      (list) => wanted.every((id) => list.some((event) => event.type === 'operation.completed' && event.data.operationId === id)),
      60_000,
    );
    for (const claims of verified) {
      expect(events.find((event) => event.type === 'operation.completed' && event.data.operationId === claims.jti)?.data).toMatchObject({
        type: claims.op,
        userId,
        deviceId: claims.device,
      });
    }
    expect(events.some((event) => event.type === 'device.registered' && event.data.deviceId === verified[0]?.device)).toBe(true);
    expect(readFileSync(serverLog, 'utf8')).not.toContain('webhook refused: ');

    // The receiver really verifies: a delivery with a forged signature is refused and never listed.
    const forgedId = 'evt_forged';
    const forged = await fetch(`${RP_ORIGIN}/webhooks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': forgedId,
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')}`,
      },
      body: JSON.stringify({ id: forgedId, type: 'operation.completed', timestamp: new Date().toISOString(), tenantId: 'ten_x', data: { operationId: 'op_x', userId } }),
    });
    expect(forged.status).toBe(400);
    expect(await forged.json()).toEqual({ error: 'INVALID_SIGNATURE' });
    const after = await page.evaluate(async () => ((await (await fetch('/api/events')).json()) as { events: RpEvent[] }).events);
    expect(after.some((event) => event.id === forgedId)).toBe(false);

    await page.getByRole('button', { name: 'Refresh events' }).click();
    await expect.poll(() => page.locator('#events li[data-type="operation.completed"]').count(), { timeout: 15_000 }).toBe(4);
    await screenshot(page, 'rp-example-6-events');
  });

  it('every SDK call went cross-origin to Custos with this origin allowed, and the console shows no CORS error', async () => {
    const { baseUrl } = runningContext();
    await Promise.all(pendingCalls);
    const finishes = calls.filter((call) => /\/sdk\/v1\/operations\/op_[^/]+\/finish$/.test(call.url));
    expect(finishes.map((call) => call.status)).toEqual([200, 200, 200, 200]);
    const sdkCalls = calls.filter((call) => call.url.startsWith(`${baseUrl}/sdk/v1/`) && call.method !== 'OPTIONS');
    expect(sdkCalls.length).toBeGreaterThanOrEqual(8);
    for (const call of sdkCalls) expect(call, call.url).toMatchObject({ requestOrigin: RP_ORIGIN, allowOrigin: RP_ORIGIN });
    // The page never talks to the relying-party API itself: /v1 and /oauth are its server's business.
    expect(calls.filter((call) => !new URL(call.url).pathname.startsWith('/sdk/'))).toEqual([]);
    expect(consoleLines.filter((line) => /cors|access-control|cross-origin|blocked/i.test(line))).toEqual([]);
  });
});
