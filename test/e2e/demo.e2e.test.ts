// The demo relying party in Chromium with a virtual authenticator: register, sign in, pay, sign, decline.
import { createHash } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimsOf, confirmField, launchChromium, openDemoBank, runningContext, screenshot, skipReason, startOperation, waitForStatus, type VirtualAuthenticator } from './browser';

describe.skipIf(skipReason !== undefined)('demo relying party (Chromium, virtual authenticator)', () => {
  let browser: Browser;
  let page: Page;
  let authenticator: VirtualAuthenticator;
  let userId: string;

  beforeAll(async () => {
    browser = await launchChromium();
    const context = await browser.newContext({ locale: 'en-US' });
    ({ page, authenticator, userId } = await openDemoBank(context, { label: 'demo', customer: `demo-e2e-${Date.now()}` }));
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('registers this browser: a passkey for the bank rpId (WebAuthn registration, rpScope tenant) and a new ACTIVE device', async () => {
    const { card } = await startOperation(page, () => page.getByRole('button', { name: 'Register this browser' }).click());
    await waitForStatus(card, 'COMPLETED');

    const credentials = await authenticator.credentials();
    expect(credentials).toHaveLength(1);
    expect(credentials[0]?.rpId).toBe('localhost');
    expect(credentials[0]?.isResidentCredential).toBe(true);
    const claims = await claimsOf(card);
    expect(claims).toMatchObject({ op: 'REGISTRATION', sub: userId });
    await expect.poll(() => page.locator('#devices li').allTextContents()).toEqual([expect.stringContaining('PASSKEY · ACTIVE · ' + String(claims['device']))]);
    await screenshot(page, 'demo-1-registered', { viewport: true });
  });

  it('signs in: the AUTHENTICATION is approved with the passkey and its result token verifies (ES256, iss, aud, sub, jti)', async () => {
    const signCount = (await authenticator.credentials())[0]?.signCount ?? 0;
    const { card, id } = await startOperation(page, () => page.getByRole('button', { name: 'Sign in with a passkey' }).click());
    await card.getByRole('button', { name: 'Approve' }).click();
    await waitForStatus(card, 'COMPLETED');

    expect((await authenticator.credentials())[0]?.signCount).toBeGreaterThan(signCount);
    const claims = await claimsOf(card);
    expect(claims).toMatchObject({ op: 'AUTHENTICATION', jti: id, sub: userId, aud: runningContext().tenantId, iss: runningContext().baseUrl });
    expect(claims['amr']).toEqual(expect.arrayContaining(['hwk', 'user']));
    expect(JSON.parse((await card.locator('.op__header').textContent()) ?? '{}')).toMatchObject({ alg: 'ES256', typ: 'custos-result+jwt' });
    expect(await card.locator('.checks__bad').count()).toBe(0);
    expect(await card.locator('.checks__ok').count()).toBeGreaterThanOrEqual(4);
    await screenshot(page, 'demo-2-signed-in', { viewport: true });
  });

  it('authorises a payment showing exactly the requested amount and payee before the passkey, and the token binds them (PSD2 RTS art. 5)', async () => {
    await page.getByLabel('Amount', { exact: true }).fill('1234.56');
    await page.getByLabel('Currency', { exact: true }).selectOption('EUR');
    await page.getByLabel('Payee', { exact: true }).fill('Zeta Utilities AG');
    await page.getByLabel('Payee account', { exact: true }).fill('CH9300762011623852957');
    await page.getByLabel('Reference', { exact: true }).fill('Invoice 77');
    const { card } = await startOperation(page, () => page.getByRole('button', { name: 'Authorise payment' }).click());

    const confirm = card.locator('.custos-confirm');
    await confirm.waitFor({ timeout: 15_000 });
    expect(await confirm.locator('.custos-confirm__amount').textContent()).toBe('€1,234.56');
    expect(await confirmField(confirm, 'Payee').textContent()).toBe('Zeta Utilities AG');
    expect(await confirmField(confirm, 'Account').textContent()).toBe('CH9300762011623852957');
    expect(await confirmField(confirm, 'Reference').textContent()).toBe('Invoice 77');
    expect(await confirm.locator('.custos-confirm__amount').count()).toBe(1);
    await screenshot(page, 'demo-3-payment-confirm', { viewport: true });

    await confirm.getByRole('button', { name: 'Approve' }).click();
    await waitForStatus(card, 'COMPLETED');
    const claims = await claimsOf(card);
    expect(claims['op']).toBe('AUTHORISATION');
    expect(claims['txn']).toEqual({ amount: '1234.56', currency: 'EUR', payee: { name: 'Zeta Utilities AG', account: 'CH9300762011623852957' }, reference: 'Invoice 77' });
    expect(await card.locator('.checks__bad').count()).toBe(0);
    await screenshot(page, 'demo-4-payment-completed', { viewport: true });
  });

  it('signs a text: the content is shown as text (not HTML) and the token binds its SHA-256 (dynamic linking of documents)', async () => {
    const text = 'Clause 1: <b>bold?</b> & "quoted"\nClause 2: EUR 500.00 at 9.9 % a year.';
    await page.getByLabel('Title', { exact: true }).fill('Overdraft agreement');
    await page.getByLabel('Text', { exact: true }).fill(text);
    const { card } = await startOperation(page, () => page.getByRole('button', { name: 'Sign text' }).click());

    const confirm = card.locator('.custos-confirm');
    await confirm.waitFor({ timeout: 15_000 });
    expect(await confirm.locator('.custos-confirm__document').textContent()).toBe(text);
    expect(await confirm.locator('b').count()).toBe(0);
    const sha256 = createHash('sha256').update(text, 'utf8').digest('hex');
    expect(await confirm.locator('code').textContent()).toBe(sha256);
    await screenshot(page, 'demo-5-signature-confirm', { viewport: true });

    await confirm.getByRole('button', { name: 'Approve' }).click();
    await waitForStatus(card, 'COMPLETED');
    expect((await claimsOf(card))['doc']).toEqual({ title: 'Overdraft agreement', mimeType: 'text/plain', sha256 });
  });

  it('declining the confirmation ends the operation REJECTED without any passkey assertion (the user refused)', async () => {
    const signCount = (await authenticator.credentials())[0]?.signCount ?? 0;
    const { card } = await startOperation(page, () => page.getByRole('button', { name: 'Sign in with a passkey' }).click());
    await card.getByRole('button', { name: 'Decline' }).click();
    await waitForStatus(card, 'REJECTED');

    expect(await card.locator('.op__message').textContent()).toBe('You declined.');
    expect(await card.locator('.op__result').isHidden()).toBe(true);
    expect((await authenticator.credentials())[0]?.signCount).toBe(signCount);
    await screenshot(page, 'demo-6-declined', { viewport: true });
  });
});
