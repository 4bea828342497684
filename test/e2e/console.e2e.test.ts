// The console in Chromium as a new operator walks it (issue 18): bootstrap and sign-in with a passkey, a tenant, API
// clients, a webhook, users, the audit log, an invited tenant administrator kept to their tenant; CSRF from the browser
// refused; axe-core on every page (no serious or critical violation) and screenshots at 1280 px and 390 px.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addVirtualAuthenticator, launchChromium, openDemoBank, reportPageErrors, runningContext, screenshot, skipReason, startOperation, waitForStatus, type VirtualAuthenticator } from './browser';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const COOKIE = '__Host-custos_console';
const WIDE = { width: 1280, height: 900 };
const NARROW = { width: 390, height: 844 };

interface AxeResult {
  violations: Array<{ id: string; impact: string | null; help: string; helpUrl: string; nodes: Array<{ target: unknown[]; failureSummary?: string }> }>;
  passes: unknown[];
}

/**
 * axe-core on the page as it is now. The console's CSP (no unsafe-inline, scripts from self only) rightly refuses an
 * injected <script>; playwright's page.evaluate of a source string is a DevTools Runtime.evaluate, which CSP does not
 * govern, so the page's own policy stays as deployed (no bypassCSP context).
 */
async function axeProblems(page: Page): Promise<string[]> {
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.evaluate(axeSource);
  const result = (await page.evaluate('axe.run(document, { resultTypes: ["violations"] })')) as AxeResult;
  // A run that checked nothing would pass anything: make sure axe really looked at the page.
  expect(result.passes.length, 'axe ran no passing rule: was it injected?').toBeGreaterThan(0);
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => [`${v.id} (${v.impact}): ${v.help} ${v.helpUrl}`, ...v.nodes.map((n) => `    at ${JSON.stringify(n.target)}: ${n.failureSummary ?? ''}`)]);
}

/** A console page: axe at both widths, nothing wider than the phone, and screenshots test-artifacts/e2e/console/<name>-{1280,390}.png. */
async function checkPage(page: Page, name: string): Promise<void> {
  await page.setViewportSize(WIDE);
  expect((await axeProblems(page)).join('\n'), `axe, ${name} at 1280 px`).toBe('');
  await screenshot(page, `console/${name}-1280`);
  await page.setViewportSize(NARROW);
  expect((await axeProblems(page)).join('\n'), `axe, ${name} at 390 px`).toBe('');
  // Tables scroll inside their own region; the page itself never needs sideways scrolling on a phone.
  expect(await page.evaluate(() => document.documentElement.scrollWidth), `${name} is wider than 390 px`).toBeLessThanOrEqual(NARROW.width);
  await screenshot(page, `console/${name}-390`);
  await page.setViewportSize(WIDE);
}

/** A console page that refused: its status and the code of the problem it shows. */
async function refusal(page: Page, path: string): Promise<{ status: number; code: string | null }> {
  const response = await page.goto(`${runningContext().baseUrl}${path}`);
  return { status: response?.status() ?? 0, code: await page.locator('.problem').first().getAttribute('data-code') };
}

/** The API as an API client or the operator sees it, from Node (127.0.0.1: the worker listens there, and loopback stands in for PUBLIC_URL). */
async function api(path: string, init: { method?: string; token?: string; basic?: string; form?: string; json?: unknown } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (init.token) headers['authorization'] = `Bearer ${init.token}`;
  if (init.basic) headers['authorization'] = `Basic ${Buffer.from(init.basic).toString('base64')}`;
  if (init.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${runningContext().baseUrl.replace('//localhost', '//127.0.0.1')}${path}`, {
    method: init.method ?? 'GET', headers, body: init.form ?? (init.json === undefined ? undefined : JSON.stringify(init.json)),
  });
  const text = await response.text();
  return { status: response.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

async function clientToken(clientId: string, secret: string): Promise<{ status: number; token?: string }> {
  const answer = await api('/oauth/token', { method: 'POST', basic: `${clientId}:${secret}`, form: 'grant_type=client_credentials' });
  return { status: answer.status, token: answer.body?.access_token };
}

/** A throwaway "other site" on 127.0.0.1: each path serves an HTML page that auto-submits the given form. */
async function attackerSite(pages: Record<string, string>): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    const body = pages[request.url ?? ''];
    response.writeHead(body ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    response.end(body ?? 'not here');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function autoPost(action: string, fields: Record<string, string>): string {
  const inputs = Object.entries(fields).map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`).join('');
  // Inline script is the attacker's own page, not the console: no CSP there.
  return `<!doctype html><title>Win a prize</title><form id="f" method="post" action="${action}">${inputs}</form><script>document.getElementById('f').submit()</script>`;
}

describe.skipIf(skipReason !== undefined)('the console (Chromium, virtual authenticator)', () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let authenticator: VirtualAuthenticator;
  const cspReports: string[] = [];
  let base: string;
  let tenantId: string;
  let clientId: string;
  let clientSecret: string;
  let accessToken: string;
  let userId: string;

  function watch(p: Page, label: string): void {
    reportPageErrors(p, label);
    p.on('console', (message) => {
      if (/content security policy|refused to/i.test(message.text())) cspReports.push(`[${label}] ${message.text()}`);
    });
  }

  beforeAll(async () => {
    base = runningContext().baseUrl;
    // Only this run's pages: a page renamed or gone leaves no stale picture behind.
    const shots = join(runningContext().artifacts, 'console');
    rmSync(shots, { recursive: true, force: true });
    mkdirSync(shots, { recursive: true });
    browser = await launchChromium();
    context = await browser.newContext();
    page = await context.newPage();
    await page.setViewportSize(WIDE);
    watch(page, 'operator');
    authenticator = await addVirtualAuthenticator(page);
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('bootstraps the first operator with the operator token and a passkey; the __Host- cookie works on http://localhost', async () => {
    await page.goto(`${base}/console`);
    await page.waitForURL(`${base}/console/sign-in`);
    await checkPage(page, 'sign-in-first-run');
    await page.getByRole('link', { name: 'Set up the first operator' }).click();
    await page.waitForURL(`${base}/console/bootstrap`);
    await checkPage(page, 'bootstrap');
    await page.getByLabel('Operator token').fill('not-the-token-0123456789');
    await page.getByLabel('Your name').fill('Olga Operator');
    await page.getByRole('button', { name: 'Register a passkey and sign in' }).click();
    // A wrong token: the problem in place, in plain words, with the trace id; no session.
    await expect.poll(() => page.locator('[data-problem] .problem').getAttribute('data-code')).toBe('UNAUTHENTICATED');
    expect(await page.locator('[data-problem] .problem__trace').textContent()).toMatch(/trace id [0-9a-f-]{36}/);
    expect((await context.cookies()).map((c) => c.name)).not.toContain(COOKIE);
    await checkPage(page, 'bootstrap-wrong-token');

    await page.getByLabel('Operator token').fill(runningContext().adminToken);
    await page.getByRole('button', { name: 'Register a passkey and sign in' }).click();
    await page.waitForURL(`${base}/console/tenants`);
    // Chromium keeps a Secure, __Host- cookie set over http://localhost (a secure context): the production name works locally.
    const cookie = (await context.cookies(base)).find((c) => c.name === COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/', domain: 'localhost' });
    expect(await authenticator.credentials()).toHaveLength(1);
    expect(await page.getByRole('button', { name: 'Sign out Olga Operator' }).isVisible()).toBe(true);
    await checkPage(page, 'tenants-empty');

    // Once only: the bootstrap page is closed now.
    await page.goto(`${base}/console/bootstrap`);
    expect(await page.locator('.notice').textContent()).toContain('enrolled already');
  });

  it('signs out, and signs back in with the same passkey', async () => {
    await page.goto(`${base}/console/tenants`);
    await page.getByRole('button', { name: 'Sign out Olga Operator' }).click();
    await page.waitForURL(`${base}/console/sign-in`);
    expect((await context.cookies(base)).map((c) => c.name)).not.toContain(COOKIE);
    // Signed out: a console page sends the browser to sign in.
    await page.goto(`${base}/console/tenants`);
    await page.waitForURL(`${base}/console/sign-in`);
    expect(await page.getByText('No operator is enrolled yet').count()).toBe(0);
    await checkPage(page, 'sign-in');
    const [before] = await authenticator.credentials();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(`${base}/console/tenants`);
    const [after] = await authenticator.credentials();
    expect(after!.credentialId).toBe(before!.credentialId);
    expect(after!.signCount).toBeGreaterThan(before!.signCount);
    expect((await context.cookies(base)).map((c) => c.name)).toContain(COOKIE);
  });

  it('creates a tenant and edits its settings (a bad value is refused in place, nothing saved)', async () => {
    await page.goto(`${base}/console/tenants`);
    await page.getByLabel('Name', { exact: true }).fill('E2E Bank');
    await page.getByLabel('Passkey rpId').fill('bank.example');
    await page.getByLabel('Passkey origins').fill('https://bank.example');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.waitForURL(/\/console\/tenants\/ten_[0-9a-z]+\?created=1$/);
    tenantId = /ten_[0-9a-z]+/.exec(page.url())![0];
    expect(await page.locator('.notice').first().textContent()).toBe('Tenant created.');
    await checkPage(page, 'tenant');

    await page.getByLabel('Name', { exact: true }).fill('E2E Bank Ltd');
    await page.getByLabel('Failed attempts before a device locks (1–5)').fill('9');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.locator('#settings ~ .problem, section[aria-labelledby="settings"] .problem').first().waitFor();
    expect(await page.locator('section[aria-labelledby="settings"] .problem').getAttribute('data-code')).toBe('VALIDATION_FAILED');
    // What was typed stays in the form; nothing was saved.
    expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('E2E Bank Ltd');
    await checkPage(page, 'tenant-settings-refused');
    expect((await api(`/admin/v1/tenants/${tenantId}`, { token: runningContext().adminToken })).body.name).toBe('E2E Bank');

    await page.getByLabel('Failed attempts before a device locks (1–5)').fill('3');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved.').waitFor();
    const saved = await api(`/admin/v1/tenants/${tenantId}`, { token: runningContext().adminToken });
    expect(saved.body).toMatchObject({ name: 'E2E Bank Ltd', policy: { maxFailedAttempts: 3 } });
    await page.goto(`${base}/console/tenants`);
    expect(await page.getByRole('link', { name: 'E2E Bank Ltd' }).count()).toBe(1);
    await checkPage(page, 'tenants');
  });

  it('saves the push and number-matching policies, and previews the branding live as it is typed', async () => {
    await page.goto(`${base}/console/tenants/${tenantId}`);
    await page.getByLabel('Send push notifications to devices that have a push channel').uncheck();
    await page.getByLabel('Number matching for sign-ins').selectOption('DECOUPLED');
    await page.getByLabel('Operations started for one user per minute (1–600)').fill('12');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved.').waitFor();
    const policy = (await api(`/admin/v1/tenants/${tenantId}`, { token: runningContext().adminToken })).body.policy;
    expect(policy).toMatchObject({ pushNotifications: false, numberMatching: 'DECOUPLED', maxStartsPerUserPerMinute: 12 });
    expect(await page.getByLabel('Number matching for sign-ins').inputValue()).toBe('DECOUPLED');

    const bar = page.locator('.brand-preview__bar');
    const background = () => bar.evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(await background()).toBe('rgb(31, 58, 138)');
    expect(await page.locator('[data-preview-name]').textContent()).toBe('Authenticator');
    // Live: the preview follows each keystroke before anything is saved.
    await page.getByLabel('Name shown in the app').fill('E2E Bank Secure');
    await page.getByLabel('Brand colour').fill('#0a5c36');
    await expect.poll(background).toBe('rgb(10, 92, 54)');
    expect(await page.locator('[data-preview-name]').textContent()).toBe('E2E Bank Secure');
    expect(await page.locator('[data-preview-contrast]').textContent()).toBe('');
    // A pale colour: white text would be hard to read, and the preview says so.
    await page.getByLabel('Brand colour').fill('#eeeeee');
    await expect.poll(() => page.locator('[data-preview-contrast]').textContent()).toMatch(/contrast of 1\.\d:1; WCAG AA asks for 4\.5:1/);
    // Not a colour the app would take: the preview shows the app's default, as the app would.
    await page.getByLabel('Brand colour').fill('green');
    await expect.poll(background).toBe('rgb(31, 58, 138)');
    // A logo that does not load (no such host here) falls back to the app icon, as in the app.
    await page.getByLabel('Logo URL').fill('https://logo.invalid/bank.png');
    await expect.poll(() => page.locator('[data-preview-logo]').evaluate((img) => (img as HTMLImageElement).src)).toBe(`${base}/app/icons/icon.svg`);
    await page.getByLabel('Logo URL').fill('');
    await page.getByLabel('Brand colour').fill('#0a5c36');
    await page.getByRole('button', { name: 'Save branding' }).click();
    await page.getByText('Branding saved').waitFor();
    expect((await api(`/admin/v1/tenants/${tenantId}`, { token: runningContext().adminToken })).body.branding).toEqual({ name: 'E2E Bank Secure', primaryColor: '#0a5c36' });
    // Reloaded, the preview starts from what is stored.
    await expect.poll(background).toBe('rgb(10, 92, 54)');
    await checkPage(page, 'tenant-branding');
  });

  it('creates an API client whose secret is shown once, and revokes another after a confirmation', async () => {
    await page.goto(`${base}/console/tenants/${tenantId}`);
    await page.getByLabel('Client name').fill('Backend');
    await page.getByRole('button', { name: 'Create API client' }).click();
    await page.locator('#client-secret').waitFor();
    clientSecret = (await page.locator('#client-secret').textContent())!;
    clientId = /cli_[0-9a-z]+/.exec((await page.locator('.secret').textContent())!)![0];
    await checkPage(page, 'tenant-client-secret');
    const token = await clientToken(clientId, clientSecret);
    expect(token.status).toBe(200);
    accessToken = token.token!;
    // Shown once: the page, read again, has it nowhere.
    await page.goto(`${base}/console/tenants/${tenantId}`);
    expect(await page.content()).not.toContain(clientSecret);

    await page.getByLabel('Client name').fill('Old integration');
    // An impatient double click sends the form once: one client, not two.
    await page.getByRole('button', { name: 'Create API client' }).dblclick();
    const oldSecret = (await page.locator('#client-secret').textContent())!;
    const named = (await api(`/admin/v1/tenants/${tenantId}/clients`, { token: runningContext().adminToken })).body.items.filter((k: { name: string }) => k.name === 'Old integration');
    expect(named).toHaveLength(1);
    const oldId = /cli_[0-9a-z]+/.exec((await page.locator('.secret').textContent())!)![0];
    const oldToken = (await clientToken(oldId, oldSecret)).token!;
    expect((await api('/v1/users?limit=1', { token: oldToken })).status).toBe(200);
    await page.getByRole('button', { name: 'Revoke Old integration' }).click();
    await page.getByRole('heading', { name: 'Please confirm' }).waitFor();
    await checkPage(page, 'confirm-revoke-client');
    await page.getByRole('button', { name: 'Revoke the client' }).click();
    await page.getByText(`Client ${oldId} is revoked.`).waitFor();
    const row = page.locator('tr', { hasText: 'Old integration' });
    expect(await row.textContent()).toContain('revoked');
    expect(await page.getByRole('button', { name: 'Revoke Backend' }).count()).toBe(1);
    // Revoked for real: no new token, and the one it held stops working.
    expect((await clientToken(oldId, oldSecret)).status).toBe(401);
    expect((await api('/v1/users?limit=1', { token: oldToken })).status).toBe(401);
    expect((await api('/v1/users?limit=1', { token: accessToken })).status).toBe(200);
  });

  it('sets a webhook endpoint and rotates its signing secret', async () => {
    await page.goto(`${base}/console/tenants/${tenantId}`);
    await page.getByRole('link', { name: 'Webhook and deliveries' }).click();
    await page.waitForURL(`${base}/console/tenants/${tenantId}/webhook`);
    await page.getByLabel('Endpoint URL').fill('https://hooks.bank.example/custos');
    await page.getByRole('button', { name: 'Set endpoint' }).click();
    await page.locator('#webhook-secret').waitFor();
    const first = (await page.locator('#webhook-secret').textContent())!;
    expect(first.length).toBeGreaterThan(20);
    expect(await page.locator('section[aria-labelledby="endpoint"]').textContent()).toContain('Events go to https://hooks.bank.example/custos');
    await checkPage(page, 'tenant-webhook-secret');
    await page.getByRole('button', { name: 'Rotate the signing secret' }).click();
    await page.getByText('New webhook signing secret').waitFor();
    const rotated = (await page.locator('#webhook-secret').textContent())!;
    expect(rotated).not.toBe(first);
    const webhook = await api(`/admin/v1/tenants/${tenantId}/webhook`, { token: runningContext().adminToken });
    expect(webhook.body.url).toBe('https://hooks.bank.example/custos');
  });

  it('sends a test event to a receiver that fails, shows the attempt with its status and response time, and replays it to success', async () => {
    // The relying party's receiver on 127.0.0.1 (the e2e service allows local webhooks): 503 until it is "fixed".
    const seen: string[] = [];
    let healthy = false;
    const receiver = createServer((request, response) => {
      seen.push(String(request.headers['webhook-id']));
      request.resume();
      response.writeHead(healthy ? 204 : 503).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
      await page.goto(`${base}/console/tenants/${tenantId}/webhook`);
      await page.getByLabel('Endpoint URL').fill(url);
      await page.getByRole('button', { name: 'Replace endpoint (new secret)' }).click();
      await page.locator('#webhook-secret').waitFor();
      await page.getByRole('button', { name: 'Send a test event' }).click();
      const notice = page.locator('section[aria-labelledby="test-event"] .notice');
      await notice.waitFor();
      expect(await notice.textContent()).toMatch(/503/);
      const eventId = /evt_[0-9a-z]+/.exec((await notice.textContent())!)![0];
      const row = page.locator('tbody tr', { hasText: eventId }).first();
      expect(await row.locator('td[data-label="HTTP status"]').textContent()).toBe('503');
      expect(await row.locator('td[data-label="Response time (ms)"]').textContent()).toMatch(/^\d+$/);
      await checkPage(page, 'webhook-deliveries');

      healthy = true;
      await page.getByRole('button', { name: `Replay webhook.test ${eventId}` }).first().click();
      await page.locator('.notice').first().waitFor();
      // The replay (or the retry it brought forward) reaches the mended receiver with the same webhook-id.
      await expect.poll(async () => {
        await page.goto(`${base}/console/tenants/${tenantId}/webhook?eventId=${eventId}`);
        return page.locator('tbody tr', { hasText: 'succeeded' }).count();
      }, { timeout: 20_000 }).toBeGreaterThan(0);
      expect(seen.filter((id) => id === eventId).length).toBeGreaterThanOrEqual(2);
      const deliveries = (await api(`/v1/webhooks/deliveries?eventId=${eventId}`, { token: accessToken })).body.items as Array<{ outcome: string; responseTimeMs?: number }>;
      expect(deliveries.map((d) => d.outcome)).toContain('SUCCEEDED');
      expect(deliveries.every((d) => typeof d.responseTimeMs === 'number')).toBe(true);
      await checkPage(page, 'webhook-replayed');
    } finally {
      // Later steps' events find no receiver and are merely retried.
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('finds a user made through the API, opens it, locks, unlocks and deactivates it with confirmations', async () => {
    const created = await api('/v1/users', { method: 'POST', token: accessToken, json: { externalRef: 'customer-42', attributes: { email: 'ada@example.com' } } });
    expect(created.status).toBe(201);
    userId = created.body.id;
    await page.goto(`${base}/console/tenants/${tenantId}`);
    await page.getByRole('link', { name: 'Users' }).click();
    await page.waitForURL(`${base}/console/tenants/${tenantId}/users`);
    await checkPage(page, 'users');
    await page.getByLabel('Find a user by externalRef').fill('nobody-here');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No user has the externalRef “nobody-here”.').waitFor();
    await page.getByLabel('Find a user by externalRef').fill('customer-42');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/externalRef=customer-42/);
    await checkPage(page, 'users-search');
    await page.getByRole('link', { name: userId }).click();
    await page.waitForURL(`${base}/console/tenants/${tenantId}/users/${userId}`);
    expect(await page.getByTestId('user-status').textContent()).toBe('ACTIVE');
    expect(await page.locator('table').first().textContent()).toContain('ada@example.com');
    await checkPage(page, 'user');

    const steps = [
      { button: 'Lock user', confirm: 'Lock the user', status: /^LOCKED/, api: 'LOCKED' },
      { button: 'Unlock user', confirm: 'Unlock the user', status: /^ACTIVE$/, api: 'ACTIVE' },
      { button: 'Deactivate user', confirm: 'Deactivate the user', status: /^DEACTIVATED$/, api: 'DEACTIVATED' },
    ];
    for (const step of steps) {
      await page.getByRole('button', { name: step.button }).click();
      await page.getByRole('heading', { name: 'Please confirm' }).waitFor();
      // The confirmation changes nothing by itself.
      const still = (await api(`/v1/users/${userId}`, { token: accessToken })).body.status;
      expect(still).not.toBe(step.api);
      if (step.button === 'Lock user') await checkPage(page, 'confirm-lock-user');
      if (step.button === 'Deactivate user') await checkPage(page, 'confirm-deactivate-user');
      await page.getByRole('button', { name: step.confirm }).click();
      await expect.poll(() => page.getByTestId('user-status').textContent()).toMatch(step.status);
      expect((await api(`/v1/users/${userId}`, { token: accessToken })).body.status).toBe(step.api);
    }
    expect(await page.getByRole('button', { name: /Lock user|Unlock user|Deactivate user/ }).count()).toBe(0);
    await checkPage(page, 'user-deactivated');
  });

  it('finds a user by an attribute value and erases them only once their externalRef is typed out', async () => {
    const created = await api('/v1/users', { method: 'POST', token: accessToken, json: { externalRef: 'customer-erase', attributes: { email: 'grace@example.com' } } });
    expect(created.status).toBe(201);
    const eraseId = created.body.id as string;
    await page.goto(`${base}/console/tenants/${tenantId}/users`);
    await page.getByLabel('Attribute key').fill('email');
    await page.getByLabel('Attribute value').fill('grace@example.com');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/attributeKey=email/);
    expect(await page.locator('tbody tr').count()).toBe(1);
    await checkPage(page, 'users-attribute-search');
    await page.getByRole('link', { name: eraseId }).click();
    await page.getByRole('button', { name: 'Erase user' }).click();
    await page.getByRole('heading', { name: 'Please confirm' }).waitFor();
    expect(await page.locator('.confirm').textContent()).toContain('cannot be undone');
    await checkPage(page, 'confirm-erase-user');
    await page.getByLabel('Type customer-erase to confirm').fill('customer-eras');
    await page.getByRole('button', { name: 'Erase the user for good' }).click();
    await page.locator('.confirm .problem[data-code="CONFIRMATION_MISMATCH"]').waitFor();
    expect((await api(`/v1/users/${eraseId}`, { token: accessToken })).status).toBe(200);
    await checkPage(page, 'confirm-erase-mismatch');
    await page.getByLabel('Type customer-erase to confirm').fill('customer-erase');
    await page.getByRole('button', { name: 'Erase the user for good' }).click();
    await page.waitForURL(`${base}/console/tenants/${tenantId}/users?erased=${eraseId}`);
    expect(await page.locator('.notice').textContent()).toContain('is erased');
    expect((await api(`/v1/users/${eraseId}`, { token: accessToken })).status).toBe(404);
    await checkPage(page, 'users-erased');
  });

  it('works from the keyboard alone: the skip link, a visible focus ring, a search typed and sent with Enter, a confirmation reached by Tab', async () => {
    await page.goto(`${base}/console/tenants/${tenantId}/users`);
    const active = () => page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      const style = el ? getComputedStyle(el) : null;
      return { tag: el?.tagName ?? '', id: el?.id ?? '', name: el?.getAttribute('name') ?? '', text: el?.textContent?.trim() ?? '', skip: el?.classList.contains('skip') ?? false, outline: style ? `${style.outlineStyle} ${style.outlineWidth}` : '' };
    });
    const tabTo = async (wanted: (a: Awaited<ReturnType<typeof active>>) => boolean, what: string) => {
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press('Tab');
        const now = await active();
        if (wanted(now)) return now;
      }
      throw new Error(`Tab never reached ${what}`);
    };
    // The first Tab lands on the skip link, shown on screen while focused; Enter moves focus to the main content.
    await page.keyboard.press('Tab');
    expect((await active()).skip).toBe(true);
    expect((await page.locator('.skip').boundingBox())!.x).toBeGreaterThanOrEqual(0);
    await page.keyboard.press('Enter');
    expect((await active()).id).toBe('main');
    const field = await tabTo((a) => a.name === 'externalRef', 'the externalRef field');
    expect(field.outline).toBe('solid 3px');
    await page.keyboard.type('customer-42');
    await page.keyboard.press('Enter');
    await page.waitForURL(/externalRef=customer-42/);
    const link = await tabTo((a) => a.tag === 'A' && a.text === userId, 'the user link');
    expect(link.outline).toBe('solid 3px');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/console/tenants/${tenantId}/users/${userId}`);
    await tabTo((a) => a.tag === 'BUTTON' && a.text === 'Erase user', 'the erase button');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Please confirm' }).waitFor();
    // Reached and left without a pointer: Cancel goes back and nothing was erased.
    await tabTo((a) => a.tag === 'A' && a.text === 'Cancel', 'Cancel');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/console/tenants/${tenantId}/users/${userId}`);
    expect((await api(`/v1/users/${userId}`, { token: accessToken })).status).toBe(200);
  });

  it('shows the audit logs with the hash chain verified, console actions under admin:<id>', async () => {
    await page.goto(`${base}/console/tenants/${tenantId}`);
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.waitForURL(`${base}/console/tenants/${tenantId}/audit`);
    expect(await page.locator('.verdict').getAttribute('data-valid')).toBe('true');
    expect(await page.locator('.verdict').textContent()).toContain('The hash chain is intact.');
    const table = (await page.locator('table').textContent())!;
    expect(table).toMatch(/admin:adm_/);
    expect(table).toContain('user.deactivated');
    await checkPage(page, 'audit');
    await page.goto(`${base}/console/audit`);
    expect(await page.locator('.verdict').getAttribute('data-valid')).toBe('true');
    expect(await page.locator('table').textContent()).toContain('console.signed_in');
    await checkPage(page, 'audit-console');
  });

  it("tries out a sign-in for a demo customer: the device link and QR, the customer's passkey approves, the page follows to the result token verified in the browser", async () => {
    const demo = runningContext().tenantId;
    const bankContext = await browser.newContext();
    try {
      const { page: bank, userId: customer } = await openDemoBank(bankContext, { label: 'bank', customer: `console-try-${Date.now()}` });
      const registered = await startOperation(bank, () => bank.getByRole('button', { name: 'Register this browser' }).click());
      await waitForStatus(registered.card, 'COMPLETED');

      await page.goto(`${base}/console/tenants/${demo}/try`);
      await checkPage(page, 'try-it-out');
      // A user that does not exist: refused in place, what was typed kept, nothing started.
      await page.getByLabel('User (externalRef or user id)').fill('nobody-at-all');
      await page.getByRole('button', { name: 'Start the operation' }).click();
      await page.locator('.problem').first().waitFor();
      expect(await page.getByLabel('User (externalRef or user id)').inputValue()).toBe('nobody-at-all');
      await page.getByLabel('User (externalRef or user id)').fill(customer);
      await page.getByLabel('AUTHENTICATION').check();
      await page.getByLabel('What the user is asked (context title)').fill('Console sign-in test');
      await page.getByRole('button', { name: 'Start the operation' }).click();
      await page.waitForURL(/\/operations\/op_[0-9a-z]+#device=/);
      const operationId = /op_[0-9a-z]+/.exec(page.url())![0];
      // The device link (it carries the sdk token) lives in the fragment only: the detail page's own request never had it.
      const link = page.locator('[data-device-url]');
      await link.waitFor();
      const href = (await link.getAttribute('href'))!;
      expect(href.startsWith(`${base}/app/#op=${operationId}&token=`)).toBe(true);
      expect(await page.locator('[data-device-qr]').getAttribute('src')).toMatch(/^data:image\/svg\+xml/);
      await expect.poll(() => page.locator('[data-watch-status]').textContent()).toContain('reloads by itself');
      await checkPage(page, 'operation-live');

      // The customer approves on their own device, with the sdk token from the link (as the authenticator app would).
      const token = new URLSearchParams(href.split('#')[1]).get('token')!;
      // A string, not a function: the test runner would otherwise try to resolve the page's import itself.
      const answered = await bank.evaluate(`(async () => {
        const { createCustos } = await import('/sdk/custos.js');
        const done = await createCustos({ baseUrl: location.origin }).approve(${JSON.stringify({ id: operationId, token })}, { confirm: async () => true });
        return done.status;
      })()`);
      expect(answered).toBe('COMPLETED');

      // The console page, long-polling, reloads itself with the outcome and verifies the result token in the page.
      await expect.poll(() => page.locator('[data-verdict]').textContent(), { timeout: 40_000 }).toMatch(/^Signature verified with key/);
      expect(await page.locator('[data-verdict]').getAttribute('class')).toContain('verdict--ok');
      expect(JSON.parse((await page.getByTestId('token-payload').textContent())!)).toMatchObject({ jti: operationId, aud: demo });
      expect(await page.locator('.timeline').textContent()).toContain('COMPLETED');
      await checkPage(page, 'operation-completed');

      // A payment the same way: the customer's SDK shows the amount and payee it will sign (dynamic linking), and the
      // verified token carries them.
      await page.goto(`${base}/console/tenants/${demo}/try`);
      await page.getByLabel('User (externalRef or user id)').fill(customer);
      await page.getByLabel('AUTHORISATION').check();
      await page.getByLabel('Amount').fill('12.50');
      await page.getByLabel('Payee').fill('Corner Coffee');
      await page.getByRole('button', { name: 'Start the operation' }).click();
      await page.waitForURL(/\/operations\/op_[0-9a-z]+#device=/);
      const paymentId = /op_[0-9a-z]+/.exec(page.url())![0];
      expect(await page.locator('main').textContent()).toContain('Corner Coffee');
      const paymentHref = (await page.locator('[data-device-url]').getAttribute('href'))!;
      const paymentToken = new URLSearchParams(paymentHref.split('#')[1]).get('token')!;
      const shown = (await bank.evaluate(`(async () => {
        const { createCustos } = await import('/sdk/custos.js');
        let details;
        const done = await createCustos({ baseUrl: location.origin }).approve(${JSON.stringify({ id: paymentId, token: paymentToken })}, { confirm: async (d) => { details = d; return true; } });
        return { status: done.status, details: JSON.stringify(details) };
      })()`)) as { status: string; details: string };
      expect(shown.status).toBe('COMPLETED');
      expect(shown.details).toContain('Corner Coffee');
      expect(shown.details).toContain('12.50');
      await expect.poll(() => page.locator('[data-verdict]').textContent(), { timeout: 40_000 }).toMatch(/^Signature verified with key/);
      expect(JSON.parse((await page.getByTestId('token-payload').textContent())!)).toMatchObject({ op: 'AUTHORISATION', jti: paymentId, txn: { amount: '12.50', currency: 'EUR', payee: { name: 'Corner Coffee' } } });
      await checkPage(page, 'operation-payment-completed');

      // The list: the operation is there; a new one appears by itself; paused, the list holds still until resumed.
      await page.goto(`${base}/console/tenants/${demo}/operations`);
      expect(await page.getByRole('link', { name: operationId }).count()).toBe(1);
      await checkPage(page, 'operations');
      const rows = () => page.locator('#operations-results tbody tr').count();
      const signIn = async () => {
        const { card } = await startOperation(bank, () => bank.getByRole('button', { name: 'Sign in with a passkey' }).click());
        await card.getByRole('button', { name: 'Approve' }).click();
        await waitForStatus(card, 'COMPLETED');
      };
      const before = await rows();
      await signIn();
      await expect.poll(rows, { timeout: 15_000 }).toBe(before + 1);
      await page.getByRole('button', { name: 'Pause live updates' }).click();
      expect(await page.getByRole('button', { name: 'Pause live updates' }).getAttribute('aria-pressed')).toBe('true');
      await signIn();
      await page.waitForTimeout(7_000);
      expect(await rows()).toBe(before + 1);
      await page.getByRole('button', { name: 'Pause live updates' }).click();
      await expect.poll(rows, { timeout: 15_000 }).toBe(before + 2);
      await page.getByLabel('Type').selectOption('REGISTRATION');
      await page.getByRole('button', { name: 'Show operations' }).click();
      await page.waitForURL(/type=REGISTRATION/);
      expect(await page.locator('#operations-results tbody').textContent()).toContain('REGISTRATION');
      expect(await page.locator('#operations-results tbody').textContent()).not.toContain('AUTHENTICATION');
    } finally {
      await bankContext.close();
    }
  });

  it('refuses CSRF: a cross-site auto-post, a same-site post from another origin even with the token, a same-origin post without it', async () => {
    await page.goto(`${base}/console/tenants`);
    const csrf = (await page.locator('input[name="csrf"]').first().getAttribute('value'))!;
    const tenantsBefore = (await api('/admin/v1/tenants?limit=100', { token: runningContext().adminToken })).body.items.length;
    const fields = { name: 'Forged', rpId: 'forged.example', origins: 'https://forged.example' };
    const { server, port } = await attackerSite({
      '/prize': autoPost(`${base}/console/tenants`, fields),
      // As if the token had leaked: only the Origin check stands in the way.
      '/prize-with-token': autoPost(`${base}/console/tenants`, { ...fields, csrf }),
    });
    try {
      const attempt = async (url: string): Promise<{ status: number; body: string }> => {
        const tab = await context.newPage();
        watch(tab, 'attacker');
        const answer = tab.waitForResponse((r) => r.url() === `${base}/console/tenants` && r.request().method() === 'POST');
        await tab.goto(url);
        const response = await answer;
        const result = { status: response.status(), body: await response.text() };
        await tab.close();
        return result;
      };
      // Another site (127.0.0.1 is not localhost): SameSite=Strict keeps the cookie home, so the post is not signed in.
      const crossSite = await attempt(`http://127.0.0.1:${port}/prize`);
      expect(crossSite.status).toBe(401);
      expect(crossSite.body).toContain('UNAUTHENTICATED');
      // Same site, other origin (localhost on another port): the cookie goes along, the Origin check refuses it.
      const sameSite = await attempt(`http://localhost:${port}/prize-with-token`);
      expect(sameSite.status).toBe(403);
      expect(sameSite.body).toContain('CSRF_REFUSED');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    // A script on a console page itself (an injected one, say) still lacks the CSRF token.
    const noToken = await page.evaluate(async (form) => {
      const response = await fetch('/console/tenants', { method: 'POST', headers: { accept: 'application/json' }, body: new URLSearchParams(form) });
      return { status: response.status, code: ((await response.json()) as { code?: string }).code };
    }, fields);
    expect(noToken).toEqual({ status: 403, code: 'CSRF_REFUSED' });
    // A wrong token is no better.
    const wrongToken = await page.evaluate(async (form) => (await fetch('/console/tenants', { method: 'POST', body: new URLSearchParams(form) })).status, { ...fields, csrf: 'x'.repeat(48) });
    expect(wrongToken).toBe(403);
    // Nothing was created, and the victim is still signed in.
    const after = (await api('/admin/v1/tenants?limit=100', { token: runningContext().adminToken })).body.items as Array<{ name: string }>;
    expect(after).toHaveLength(tenantsBefore);
    expect(after.map((t) => t.name)).not.toContain('Forged');
    await page.reload();
    expect(page.url()).toBe(`${base}/console/tenants`);
    expect(await page.locator('tbody').textContent()).not.toContain('Forged');
  });

  it('invites a tenant administrator, who signs up in another browser and is kept to their own tenant', async () => {
    await page.goto(`${base}/console/invites`);
    await checkPage(page, 'invite');
    await page.getByLabel('Tenant administrator (one tenant)').check();
    await page.getByLabel('Tenant (for a tenant administrator)').selectOption(tenantId);
    await page.getByRole('button', { name: 'Create invitation link' }).click();
    await page.locator('#invite-link').waitFor();
    const link = (await page.locator('#invite-link').textContent())!;
    expect(link).toMatch(new RegExp(`^${base}/console/invite#inv_`));
    await checkPage(page, 'invite-link');

    const other = await browser.newContext();
    try {
      const admin = await other.newPage();
      await admin.setViewportSize(WIDE);
      watch(admin, 'tenant admin');
      const adminAuthenticator = await addVirtualAuthenticator(admin);
      await admin.goto(link);
      await checkPage(admin, 'accept-invite');
      await admin.getByLabel('Your name').fill('Tess Tenant');
      await admin.getByRole('button', { name: 'Register a passkey and sign in' }).click();
      await admin.waitForURL(`${base}/console/tenants/${tenantId}`);
      expect(await adminAuthenticator.credentials()).toHaveLength(1);
      // Their own tenant: read-only settings (operators edit them), clients, users, audit.
      expect(await admin.getByRole('button', { name: 'Save settings' }).count()).toBe(0);
      expect(await admin.getByRole('link', { name: 'Tenants' }).count()).toBe(0);
      await checkPage(admin, 'tenant-admin-tenant');
      await admin.getByRole('link', { name: 'Users' }).click();
      await admin.waitForURL(`${base}/console/tenants/${tenantId}/users`);
      expect(await admin.getByRole('link', { name: userId }).count()).toBe(1);

      // Another tenant's pages (the demo tenant), and the operator-only pages: refused, not redirected.
      const demo = runningContext().tenantId;
      for (const path of [`/console/tenants/${demo}`, `/console/tenants/${demo}/users`, `/console/tenants/${demo}/audit`, '/console/tenants', '/console/audit']) {
        expect(await refusal(admin, path), path).toEqual({ status: 403, code: 'CONSOLE_FORBIDDEN' });
      }
      await refusal(admin, `/console/tenants/${demo}`);
      await checkPage(admin, 'forbidden');
      // Nor can they write there with their own, valid CSRF token (the same-origin form post a page of theirs could make).
      await admin.goto(`${base}/console/tenants/${tenantId}`);
      const clientsBefore = (await api(`/admin/v1/tenants/${demo}/clients`, { token: runningContext().adminToken })).body.items.length;
      const writes = await admin.evaluate(async ({ demo, own }) => {
        const csrf = document.querySelector<HTMLInputElement>('input[name="csrf"]')!.value;
        const post = async (path: string, form: Record<string, string>) => (await fetch(path, { method: 'POST', body: new URLSearchParams({ csrf, ...form }) })).status;
        return {
          otherClient: await post(`/console/tenants/${demo}/clients`, { name: 'Intruder', scopes: 'users' }),
          otherTenantEdit: await post(`/console/tenants/${demo}`, { name: 'Taken over', rpId: 'x.example', origins: 'https://x.example' }),
          ownTenantEdit: await post(`/console/tenants/${own}`, { name: 'Renamed by tenant admin', rpId: 'bank.example', origins: 'https://bank.example' }),
          newTenant: await post('/console/tenants', { name: 'Mine now', rpId: 'mine.example', origins: 'https://mine.example' }),
        };
      }, { demo, own: tenantId });
      expect(writes).toEqual({ otherClient: 403, otherTenantEdit: 403, ownTenantEdit: 403, newTenant: 403 });
      expect((await api(`/admin/v1/tenants/${demo}/clients`, { token: runningContext().adminToken })).body.items).toHaveLength(clientsBefore);
      expect((await api(`/admin/v1/tenants/${tenantId}`, { token: runningContext().adminToken })).body.name).toBe('E2E Bank Ltd');
      const names = ((await api('/admin/v1/tenants?limit=100', { token: runningContext().adminToken })).body.items as Array<{ name: string }>).map((t) => t.name);
      expect(names).not.toContain('Mine now');

      // The operator removes Tess from the administrators page; her open tab is signed out at once.
      await page.goto(`${base}/console/admins`);
      await checkPage(page, 'admins');
      await page.getByRole('button', { name: 'Remove Tess Tenant' }).click();
      await page.getByRole('heading', { name: 'Please confirm' }).waitFor();
      await checkPage(page, 'confirm-remove-admin');
      await page.getByRole('button', { name: 'Remove Tess Tenant' }).click();
      await page.getByText('Tess Tenant is removed').waitFor();
      expect(await page.locator('tr', { hasText: 'Tess Tenant' }).textContent()).toContain('removed');
      await admin.goto(`${base}/console/tenants/${tenantId}`);
      await admin.waitForURL(`${base}/console/sign-in`);
      // And her passkey no longer signs her in.
      await admin.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await admin.locator('[data-problem] .problem').waitFor();
      expect(admin.url()).toBe(`${base}/console/sign-in`);
    } finally {
      await other.close();
    }
    expect(cspReports).toEqual([]);
  });
});
