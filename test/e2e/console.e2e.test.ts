// The console in Chromium as a new operator walks it: bootstrap with a passkey, a tenant, an API client, a user; axe on each page; CSRF fails.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addVirtualAuthenticator, launchChromium, reportPageErrors, runningContext, screenshot, skipReason } from './browser';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }

/** axe-core, evaluated through DevTools (the page's CSP allows no injected script, rightly); serious and critical only. */
async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: AxeViolation[] }> } }).axe;
    return (await axe.run(document, { resultTypes: ['violations'] })).violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** Checks the page with axe and saves it at 1280 px and 390 px. */
async function checkPage(page: Page, name: string): Promise<void> {
  expect(await seriousViolations(page), name).toEqual([]);
  await screenshot(page, `console-${name}-1280`);
  await page.setViewportSize({ width: 390, height: 844 });
  expect(await seriousViolations(page), `${name} at 390 px`).toEqual([]);
  // Nothing is wider than the phone: tables scroll inside their own region.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await screenshot(page, `console-${name}-390`);
  await page.setViewportSize({ width: 1280, height: 900 });
}

describe.skipIf(skipReason !== undefined)('the console (Chromium, virtual authenticator)', () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const cspReports: string[] = [];
  let base: string;
  let tenantId: string;

  beforeAll(async () => {
    base = runningContext().baseUrl;
    browser = await launchChromium();
    context = await browser.newContext();
    page = await context.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    reportPageErrors(page, 'console');
    page.on('console', (message) => {
      if (/content security policy|refused to/i.test(message.text())) cspReports.push(message.text());
    });
    await addVirtualAuthenticator(page);
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('bootstraps the first operator with the operator token and a passkey', async () => {
    await page.goto(`${base}/console`);
    await page.waitForURL(`${base}/console/sign-in`);
    await checkPage(page, 'sign-in');
    await page.getByRole('link', { name: 'Set up the first operator' }).click();
    await page.getByLabel('Operator token').fill('not-the-token-0123456789');
    await page.getByLabel('Your name').fill('Olga Operator');
    await page.getByRole('button', { name: 'Register a passkey and sign in' }).click();
    // A wrong token: the problem in place, in plain words, with the trace id.
    await expect.poll(() => page.locator('[data-problem] .problem').getAttribute('data-code')).toBe('UNAUTHENTICATED');
    expect(await page.locator('[data-problem] .problem__trace').textContent()).toMatch(/trace id [0-9a-f-]{36}/);
    await checkPage(page, 'bootstrap-error');
    await page.getByLabel('Operator token').fill(runningContext().adminToken);
    await page.getByRole('button', { name: 'Register a passkey and sign in' }).click();
    await page.waitForURL(`${base}/console/tenants`);
    const cookie = (await context.cookies()).find((c) => c.name === '__Host-custos_console');
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
    expect(cspReports).toEqual([]);
    await checkPage(page, 'tenants');
  });

  it('creates a tenant, then an API client whose secret is shown once', async () => {
    await page.getByLabel('Name', { exact: true }).fill('E2E Bank');
    await page.getByLabel('Passkey rpId').fill('localhost');
    await page.getByLabel('Passkey origins').fill(base);
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.waitForURL(/\/console\/tenants\/ten_[0-9a-z]+\?created=1$/);
    tenantId = /ten_[0-9a-z]+/.exec(page.url())![0];
    await page.getByLabel('Client name').fill('Backend');
    await page.getByRole('button', { name: 'Create API client' }).click();
    await page.locator('#client-secret').waitFor();
    expect(await page.locator('#client-secret').textContent()).toMatch(/^cs_/);
    await checkPage(page, 'tenant');
  });

  it('finds a user by externalRef (created by the new client through the public API)', async () => {
    const secret = (await page.locator('#client-secret').textContent())!;
    const clientId = /cli_[0-9a-z]{36}/.exec((await page.locator('.secret').textContent())!)![0];
    const tokenResponse = await fetch(`${base}/oauth/token`, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
    const created = await fetch(`${base}/v1/users`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ externalRef: 'customer-42', attributes: { email: 'ada@example.com' } }) });
    expect(created.status).toBe(201);
    const user = (await created.json()) as { id: string };
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByLabel('Find a user by externalRef').fill('customer-42');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: user.id }).click();
    await page.waitForURL(new RegExp(`/users/${user.id}$`));
    expect(await page.getByTestId('user-status').textContent()).toBe('ACTIVE');
    await checkPage(page, 'user');
    await page.getByRole('button', { name: 'Lock user' }).click();
    await checkPage(page, 'confirm-lock');
    await page.getByRole('button', { name: 'Lock the user' }).click();
    await expect.poll(() => page.getByTestId('user-status').textContent()).toMatch(/^LOCKED/);
  });

  it('shows the audit log with the hash chain verified, the console actions under admin:<id>', async () => {
    await page.getByRole('link', { name: 'Audit' }).click();
    expect(await page.locator('.verdict').getAttribute('data-valid')).toBe('true');
    expect(await page.locator('table').textContent()).toMatch(/admin:adm_/);
    await checkPage(page, 'audit');
  });

  it('refuses a CSRF attempt: a form post from another site, and a same-origin post without the token', async () => {
    const tenantsBefore = await page.goto(`${base}/console/tenants`).then(() => page.locator('tbody tr').count());
    // Another site auto-submits a form to the console: SameSite=Strict keeps the cookie home, so it is not signed in.
    await context.route('http://attacker.test/**', (route) => route.fulfill({
      contentType: 'text/html',
      body: `<form id="f" method="post" action="${base}/console/tenants"><input name="name" value="Forged"><input name="rpId" value="forged.example"><input name="origins" value="https://forged.example"></form><script>document.getElementById('f').submit()</script>`,
    }));
    const attacker = await context.newPage();
    const answer = attacker.waitForResponse((r) => r.url() === `${base}/console/tenants` && r.request().method() === 'POST');
    await attacker.goto('http://attacker.test/');
    expect((await answer).status()).toBe(401);
    await attacker.close();
    // A script on a console page itself (say an injected one) still lacks the CSRF token.
    const status = await page.evaluate(async () => (await fetch('/console/tenants', { method: 'POST', body: new URLSearchParams({ name: 'Forged', rpId: 'forged.example', origins: 'https://forged.example' }) })).status);
    expect(status).toBe(403);
    await page.reload();
    expect(await page.locator('tbody tr').count()).toBe(tenantsBefore);
    expect(await page.locator('tbody').textContent()).not.toContain('Forged');
  });

  it('signs out and back in with the same passkey', async () => {
    await page.getByRole('button', { name: /^Sign out/ }).click();
    await page.waitForURL(`${base}/console/sign-in`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(`${base}/console/tenants`);
    expect(cspReports).toEqual([]);
  });
});
