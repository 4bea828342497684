// The white-label authenticator PWA in Chromium: registration from an sdk.url, pending list by device proofs, approve, decline, offline shell.
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { decodeProtectedHeader, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addVirtualAuthenticator, claimsOf, confirmField, launchChromium, openDemoBank, reportPageErrors, runningContext, screenshot, skipReason, startOperation, waitForStatus, type VirtualAuthenticator } from './browser';

interface StoredDevice {
  deviceId: string;
  tenantId: string;
  rpScope: string;
  extractable: boolean;
  algorithm: { name: string; namedCurve: string };
  usages: string[];
}

/** Reads the app's device records from IndexedDB, as the page sees them. */
function storedDevices(page: Page): Promise<StoredDevice[]> {
  return page.evaluate(
    () =>
      new Promise<StoredDevice[]>((resolve, reject) => {
        const open = indexedDB.open('custos-authenticator');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const read = open.result.transaction('devices').objectStore('devices').getAll();
          read.onerror = () => reject(read.error);
          read.onsuccess = () =>
            resolve(
              (read.result as Array<{ deviceId: string; tenantId: string; rpScope: string; keyPair: CryptoKeyPair }>).map((device) => ({
                deviceId: device.deviceId,
                tenantId: device.tenantId,
                rpScope: device.rpScope,
                extractable: device.keyPair.privateKey.extractable,
                algorithm: device.keyPair.privateKey.algorithm as unknown as { name: string; namedCurve: string },
                usages: [...device.keyPair.privateKey.usages],
              })),
            );
        };
      }),
  );
}

describe.skipIf(skipReason !== undefined)('authenticator app (PWA at /app, Chromium)', () => {
  let browser: Browser;
  let context: BrowserContext;
  let bank: Page;
  let app: Page;
  let appAuthenticator: VirtualAuthenticator;
  let registrationLink: string;
  let registrationCard: ReturnType<Page['locator']>;
  let appDeviceId: string;
  const pendingListRequests: Request[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    context = await browser.newContext({ locale: 'en-US' });

    // The bank's page, with its own authenticator: the customer's first device, and a fresh sign-in (PSD2: SCA for a new device).
    ({ page: bank } = await openDemoBank(context, { label: 'bank', customer: `app-e2e-${Date.now()}` }));
    const registered = await startOperation(bank, () => bank.getByRole('button', { name: 'Register this browser' }).click());
    await waitForStatus(registered.card, 'COMPLETED');
    const login = await startOperation(bank, () => bank.getByRole('button', { name: 'Sign in with a passkey' }).click());
    await login.card.getByRole('button', { name: 'Approve' }).click();
    await waitForStatus(login.card, 'COMPLETED');
    const addApp = await startOperation(bank, () => bank.getByRole('button', { name: 'Add the authenticator app' }).click());
    registrationCard = addApp.card;
    registrationLink = (await addApp.card.locator('.op__link').getAttribute('href')) ?? '';

    // The phone: another tab with another authenticator, as a separate device would be.
    app = await context.newPage();
    await app.setViewportSize({ width: 390, height: 844 });
    reportPageErrors(app, 'app');
    appAuthenticator = await addVirtualAuthenticator(app);
    app.on('request', (request) => {
      if (new URL(request.url()).pathname === '/sdk/v1/devices/me/operations') pendingListRequests.push(request);
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('opens the sdk.url, registers a service-scoped passkey and keeps a non-extractable P-256 device key in IndexedDB', async () => {
    const { baseUrl, tenantId } = runningContext();
    expect(registrationLink).toMatch(new RegExp(`^${baseUrl}/app/#op=op_[^&]+&token=sdk_[^&]+&tenant=${tenantId}$`));
    await app.goto(registrationLink);
    await app.getByRole('heading', { name: 'Register this device with Demo Bank' }).waitFor({ timeout: 15_000 });
    // The sdk token is a secret: it leaves the address bar as soon as the app has read it.
    expect(new URL(app.url()).hash).toBe('');
    expect(await app.locator('#brand-name').textContent()).toBe('Demo Bank');
    await screenshot(app, 'app-1-register');

    await app.getByRole('button', { name: 'Create passkey' }).click();
    await app.getByRole('heading', { name: 'This device is ready' }).waitFor({ timeout: 30_000 });
    await waitForStatus(registrationCard, 'COMPLETED');

    const [device] = await storedDevices(app);
    expect(device).toMatchObject({ tenantId, rpScope: 'service', extractable: false, algorithm: { name: 'ECDSA', namedCurve: 'P-256' } });
    expect(device?.deviceId).toMatch(/^dev_/);
    appDeviceId = device!.deviceId;
    expect((await claimsOf(registrationCard))['device']).toBe(appDeviceId);
    expect(await appAuthenticator.credentials()).toHaveLength(1);
    await screenshot(app, 'app-2-registered');
    await app.getByRole('button', { name: 'Done' }).click();
    await app.getByRole('heading', { name: 'Waiting for you' }).waitFor();
  });

  it('lists the pending payment (fetched with device proofs), shows amount and payee, and approves it with its own passkey', async () => {
    await bank.getByLabel('Amount', { exact: true }).fill('77.10');
    await bank.getByLabel('Payee', { exact: true }).fill('Kappa Books Ltd');
    await bank.getByLabel('Payee account', { exact: true }).fill('GB33BUKB20201555555555');
    const payment = await startOperation(bank, () => bank.getByRole('button', { name: 'Authorise payment' }).click());

    const item = app.locator(`.pending__item[data-operation-id="${payment.id}"]`);
    await item.waitFor({ timeout: 20_000 });
    expect(await item.locator('.pending__title').textContent()).toBe('Approve payment');
    expect(await item.locator('.pending__text').textContent()).toBe('A transfer to Kappa Books Ltd.');
    expect(await item.locator('.pending__amount').textContent()).toBe('€77.10');
    expect(await item.locator('.pending__payee').textContent()).toBe('To Kappa Books Ltd · GB33BUKB20201555555555');
    await screenshot(app, 'app-3-pending');

    // API.md §2: each list request carried its own ES256 device-proof+jwt for this device, method and URL.
    expect(pendingListRequests.length).toBeGreaterThan(0);
    const jtis = new Set<string>();
    for (const request of pendingListRequests.slice(-3)) {
      const proof = (await request.allHeaders())['authorization']?.replace(/^Device /, '') ?? '';
      expect(decodeProtectedHeader(proof)).toEqual({ alg: 'ES256', typ: 'device-proof+jwt', kid: appDeviceId });
      const claims = decodeJwt(proof);
      expect(claims).toMatchObject({ htm: 'GET', htu: `${runningContext().baseUrl}/sdk/v1/devices/me/operations` });
      jtis.add(String(claims.jti));
    }
    expect(jtis.size).toBe(Math.min(3, pendingListRequests.length));

    await item.locator('.pending__open').click();
    const confirm = app.locator('#approve-confirm .custos-confirm');
    await confirm.waitFor({ timeout: 15_000 });
    expect(await confirm.locator('.custos-confirm__amount').textContent()).toBe('€77.10');
    expect(await confirmField(confirm, 'Payee').textContent()).toBe('Kappa Books Ltd');
    await screenshot(app, 'app-4-confirm');
    await confirm.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => app.locator('#approve-status').textContent(), { timeout: 30_000 }).toBe('Approved: €77.10 to Kappa Books Ltd.');

    await waitForStatus(payment.card, 'COMPLETED');
    const claims = await claimsOf(payment.card);
    expect(claims['device']).toBe(appDeviceId);
    expect(claims['txn']).toEqual({ amount: '77.10', currency: 'EUR', payee: { name: 'Kappa Books Ltd', account: 'GB33BUKB20201555555555' }, reference: 'Invoice 2026-117' });
    expect((await appAuthenticator.credentials())[0]?.signCount).toBeGreaterThan(0);
    await screenshot(bank, 'demo-7-approved-in-app', { viewport: true });
  });

  it('declines a pending sign-in from the list → REJECTED, and keeps both answers in the local history', async () => {
    await app.getByRole('button', { name: 'Back to the list' }).click();
    const login = await startOperation(bank, () => bank.getByRole('button', { name: 'Sign in with a passkey' }).click());
    const item = app.locator(`.pending__item[data-operation-id="${login.id}"]`);
    await item.waitFor({ timeout: 20_000 });
    expect(await item.locator('.pending__type').textContent()).toBe('Sign-in');
    await item.locator('.pending__open').click();
    await app.locator('#approve-confirm').getByRole('button', { name: 'Decline' }).click();
    await expect.poll(() => app.locator('#approve-status').textContent(), { timeout: 15_000 }).toBe('Declined.');
    await waitForStatus(login.card, 'REJECTED');

    await app.getByRole('button', { name: 'Back to the list' }).click();
    const history = app.locator('#history li');
    await expect.poll(() => history.count()).toBe(3);
    expect(await history.nth(0).getAttribute('data-status')).toBe('REJECTED');
    expect(await history.nth(1).locator('.history__title').textContent()).toBe('€77.10 to Kappa Books Ltd');
    expect(await history.nth(1).getAttribute('data-status')).toBe('COMPLETED');
    await expect.poll(() => app.locator(`.pending__item[data-operation-id="${login.id}"]`).count(), { timeout: 15_000 }).toBe(0);
    await screenshot(app, 'app-5-history');
  });

  it('is installable (manifest, service worker for /app/) and its shell starts offline', async () => {
    const manifestHref = await app.locator('link[rel="manifest"]').getAttribute('href');
    const manifest = (await (await context.request.get(`${runningContext().baseUrl}${manifestHref}`)).json()) as Record<string, unknown>;
    expect(manifest).toMatchObject({ start_url: '/app/', scope: '/app/', display: 'standalone' });
    expect(manifest['icons']).toEqual(expect.arrayContaining([expect.objectContaining({ sizes: '192x192' }), expect.objectContaining({ sizes: '512x512' })]));
    const scope = await app.evaluate(async () => (await navigator.serviceWorker.ready).scope);
    expect(scope).toBe(`${runningContext().baseUrl}/app/`);
    await app.reload();
    await expect.poll(() => app.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);

    await context.setOffline(true);
    try {
      await app.reload();
      await app.getByRole('heading', { name: 'Waiting for you' }).waitFor({ timeout: 15_000 });
      await app.locator('#offline').waitFor({ state: 'visible', timeout: 15_000 });
      expect(await app.locator('#history li').count()).toBe(3);
      await screenshot(app, 'app-6-offline');
    } finally {
      await context.setOffline(false);
    }
  });
});
