// Push notifications end to end (issue 16) in Chromium: the PWA subscribes (PushManager.subscribe replaced by an init
// script that answers a subscription of the local push service, with keys this test holds), the service sends a real
// VAPID-signed, aes128gcm-encrypted Web Push to that service, which verifies and decrypts it; the test delivers the
// plaintext to the app's service worker over DevTools (ServiceWorker.deliverPushMessage), checks the notification,
// follows it and approves with the virtual authenticator; the closing push withdraws the notification.
import type { APIRequestContext, Browser, BrowserContext, CDPSession, Page, Request, Worker } from 'playwright-core';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addVirtualAuthenticator, claimsOf, launchChromium, openDemoBank, reportPageErrors, runningContext, screenshot, skipReason, startOperation, waitForStatus, waitUntil } from './browser';
import { startPushService, type PushService, type TestSubscription } from './push-service';

const CHANNEL_PATH = '/sdk/v1/device/push-channel';
const PENDING_PATH = '/sdk/v1/devices/me/operations';
const HOSTILE = '<img src=x onerror=alert(1)>';

interface ShownNotification {
  title: string;
  body: string;
  tag: string;
  data: { url?: string; operationId?: string };
  actions: Array<{ action: string; title: string }>;
}

/**
 * Replaces PushManager.prototype.subscribe / getSubscription in the page: Chromium here has no push service (no
 * internet), so the browser's subscription is one of the local push service, with keys the test generated. It
 * survives reloads (localStorage), like a real subscription, and records what subscribe() was asked.
 */
function fakePushManager(subscription: TestSubscription): void {
  const toBytes = (text: string): Uint8Array => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  const toText = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const make = (key: Uint8Array) => ({
    endpoint: subscription.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: key.buffer },
    getKey: (name: 'p256dh' | 'auth') => toBytes(subscription.keys[name]).buffer,
    toJSON: () => ({ endpoint: subscription.endpoint, expirationTime: null, keys: subscription.keys }),
    unsubscribe: async () => {
      localStorage.removeItem('test.push.key');
      return true;
    },
  });
  PushManager.prototype.subscribe = async function (options?: PushSubscriptionOptionsInit) {
    const key = options?.applicationServerKey instanceof Uint8Array ? options.applicationServerKey : new Uint8Array(options?.applicationServerKey as ArrayBuffer);
    const calls = JSON.parse(localStorage.getItem('test.push.calls') ?? '[]') as unknown[];
    calls.push({ userVisibleOnly: options?.userVisibleOnly, applicationServerKey: toText(key) });
    localStorage.setItem('test.push.calls', JSON.stringify(calls));
    localStorage.setItem('test.push.key', toText(key));
    return make(key) as unknown as PushSubscription;
  };
  PushManager.prototype.getSubscription = async function () {
    const key = localStorage.getItem('test.push.key');
    return (key === null ? null : make(toBytes(key))) as unknown as PushSubscription | null;
  };
  // Counts permission prompts: the app must never ask on page load.
  const request = Notification.requestPermission.bind(Notification);
  Notification.requestPermission = (async () => {
    localStorage.setItem('test.push.prompts', String(Number(localStorage.getItem('test.push.prompts') ?? '0') + 1));
    return request();
  }) as typeof Notification.requestPermission;
}

function notifications(page: Page): Promise<ShownNotification[]> {
  return page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready;
    return (await registration.getNotifications()).map((n) => ({
      title: n.title,
      body: n.body,
      tag: n.tag,
      data: n.data as { url?: string; operationId?: string },
      actions: [...((n as unknown as { actions?: Array<{ action: string; title: string }> }).actions ?? [])].map(({ action, title }) => ({ action, title })),
    }));
  });
}

/** A relying party's own API client for the demo tenant (admin API), to start operations with any context. */
async function relyingParty(request: APIRequestContext): Promise<{ start(body: Record<string, unknown>): Promise<{ id: string; sdk: { url: string } }>; get(id: string): Promise<Record<string, unknown>> }> {
  const { baseUrl, adminToken, tenantId } = runningContext();
  const client = await request.post(`${baseUrl}/admin/v1/tenants/${tenantId}/clients`, { headers: { authorization: `Bearer ${adminToken}` }, data: { name: 'push e2e' } });
  expect(client.status()).toBe(201);
  const { clientId, clientSecret } = (await client.json()) as { clientId: string; clientSecret: string };
  const tokenAnswer = await request.post(`${baseUrl}/oauth/token`, {
    headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}` },
    form: { grant_type: 'client_credentials' },
  });
  const { access_token: token } = (await tokenAnswer.json()) as { access_token: string };
  const headers = { authorization: `Bearer ${token}` };
  return {
    async start(body) {
      const answer = await request.post(`${baseUrl}/v1/operations`, { headers, data: body });
      expect(answer.status(), await answer.text()).toBe(201);
      return (await answer.json()) as { id: string; sdk: { url: string } };
    },
    async get(id) {
      return (await (await request.get(`${baseUrl}/v1/operations/${id}`, { headers })).json()) as Record<string, unknown>;
    },
  };
}

describe.skipIf(skipReason !== undefined)('push notifications to the authenticator PWA (Chromium, local push service)', () => {
  let browser: Browser;
  let context: BrowserContext;
  let bank: Page;
  let app: Page;
  let cdp: CDPSession;
  let push: PushService;
  let subscription: TestSubscription;
  let vapidPublicKey: string | undefined;
  let userId: string;
  let appDeviceId: string;
  let rp: Awaited<ReturnType<typeof relyingParty>>;
  const registrations = new Map<string, string>();
  const appRequests: Request[] = [];
  const dialogs: string[] = [];

  /** Hands the decrypted push text to the app's service worker, as the browser's push service would. */
  async function deliver(data: string): Promise<void> {
    const { baseUrl } = runningContext();
    const registrationId = await waitUntil('the app service worker registration', async () => registrations.get(`${baseUrl}/app/`), (id) => id !== undefined);
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: baseUrl, registrationId: registrationId!, data });
  }

  async function serviceWorker(): Promise<Worker> {
    const find = (): Worker | undefined => context.serviceWorkers().find((worker) => worker.url().endsWith('/app/sw.js'));
    return find() ?? (await context.waitForEvent('serviceworker', { predicate: (worker) => worker.url().endsWith('/app/sw.js') }));
  }

  /** What a tap on the notification (or one of its actions) does: the service worker's notificationclick handler runs. */
  async function click(tag: string, action: '' | 'approve' | 'decline'): Promise<void> {
    const worker = await serviceWorker();
    await worker.evaluate(
      async ({ tag, action }) => {
        const scope = self as unknown as ServiceWorkerGlobalScope;
        const [notification] = await scope.registration.getNotifications({ tag });
        if (notification === undefined) throw new Error(`no notification ${tag}`);
        scope.dispatchEvent(new NotificationEvent('notificationclick', { notification, action }));
      },
      { tag, action },
    );
  }

  async function pushFor(operationId: string, type: string) {
    const found = await push.next((p) => p.payload?.['operationId'] === operationId && p.payload?.['type'] === type);
    expect(found.error).toBeUndefined();
    return found;
  }

  beforeAll(async () => {
    const { baseUrl } = runningContext();
    push = await startPushService(() => vapidPublicKey);
    subscription = push.subscription();
    browser = await launchChromium();
    context = await browser.newContext({ locale: 'en-US' });
    await context.grantPermissions(['notifications'], { origin: baseUrl });

    const config = await context.request.get(`${baseUrl}/sdk/v1/config?tenant=${runningContext().tenantId}`);
    vapidPublicKey = ((await config.json()) as { webPush?: { vapidPublicKey: string } }).webPush?.vapidPublicKey;

    // The customer: a passkey in the bank's page, a sign-in (a new device needs fresh SCA), then the app's registration link.
    let bankUser: string;
    ({ page: bank, userId: bankUser } = await openDemoBank(context, { label: 'bank', customer: `push-e2e-${Date.now()}` }));
    userId = bankUser;
    const registered = await startOperation(bank, () => bank.getByRole('button', { name: 'Register this browser' }).click());
    await waitForStatus(registered.card, 'COMPLETED');
    const login = await startOperation(bank, () => bank.getByRole('button', { name: 'Sign in with a passkey' }).click());
    await login.card.getByRole('button', { name: 'Approve' }).click();
    await waitForStatus(login.card, 'COMPLETED');

    app = await context.newPage();
    await app.setViewportSize({ width: 390, height: 844 });
    reportPageErrors(app, 'app');
    app.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    app.on('request', (request) => appRequests.push(request));
    await app.addInitScript(fakePushManager, subscription);
    await addVirtualAuthenticator(app);
    cdp = await context.newCDPSession(app);
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: updated }) => {
      for (const registration of updated) if (!registration.isDeleted) registrations.set(registration.scopeURL, registration.registrationId);
    });
    await cdp.send('ServiceWorker.enable');
    rp = await relyingParty(context.request);
  });

  afterAll(async () => {
    await browser?.close();
    await push?.close();
  });

  it('offers notifications only after the registration; the tap subscribes with the config VAPID key and PUTs the channel with a device proof', async () => {
    const { baseUrl } = runningContext();
    expect(vapidPublicKey, '/sdk/v1/config gives webPush.vapidPublicKey').toMatch(/^[A-Za-z0-9_-]{87}$/);
    const addApp = await startOperation(bank, () => bank.getByRole('button', { name: 'Add the authenticator app' }).click());
    await app.goto((await addApp.card.locator('.op__link').getAttribute('href')) ?? '');
    await app.getByRole('button', { name: 'Create passkey' }).click();
    await app.getByRole('heading', { name: 'This device is ready' }).waitFor({ timeout: 30_000 });
    await waitForStatus(addApp.card, 'COMPLETED');

    const offer = app.locator('#push-offer');
    await offer.waitFor({ state: 'visible', timeout: 15_000 });
    expect(await offer.getByRole('heading').textContent()).toBe('Get asked on this phone');
    expect(await app.evaluate(() => localStorage.getItem('test.push.prompts'))).toBeNull();
    await screenshot(app, 'push-1-offer');

    const put = app.waitForRequest((request) => request.method() === 'PUT' && new URL(request.url()).pathname === CHANNEL_PATH);
    const answered = app.waitForResponse((response) => response.request().method() === 'PUT' && new URL(response.url()).pathname === CHANNEL_PATH);
    await offer.getByRole('button', { name: 'Turn on notifications' }).click();
    const request = await put;
    const response = await answered;
    expect(response.status(), await response.text()).toBe(200);
    expect(request.postDataJSON()).toEqual({ type: 'WEB_PUSH', endpoint: subscription.endpoint, keys: subscription.keys });
    const proof = ((await request.allHeaders())['authorization'] ?? '').replace(/^Device /, '');
    appDeviceId = String(decodeProtectedHeader(proof).kid);
    expect(appDeviceId).toMatch(/^dev_/);
    expect(decodeJwt(proof)).toMatchObject({ htm: 'PUT', htu: `${baseUrl}${CHANNEL_PATH}` });
    expect(await response.json()).toMatchObject({ deviceId: appDeviceId, pushChannel: { type: 'WEB_PUSH', endpointOrigin: push.origin } });
    expect(JSON.parse((await app.evaluate(() => localStorage.getItem('test.push.calls'))) ?? '[]')).toEqual([{ userVisibleOnly: true, applicationServerKey: vapidPublicKey }]);
    expect(await app.evaluate(() => localStorage.getItem('test.push.prompts'))).toBe('1');
    await expect.poll(() => app.locator('#push-status').textContent(), { timeout: 15_000 }).toBe('Notifications are on: requests come to this phone.');
    await app.getByRole('button', { name: 'Done' }).click();
    await app.getByRole('heading', { name: 'Waiting for you' }).waitFor();
    await expect.poll(() => app.locator('#push-setting').getAttribute('data-state'), { timeout: 15_000 }).toBe('on');
  });

  it('does not poll while push works: the list is fetched once on open, and again when the app becomes visible', async () => {
    await app.reload();
    await app.getByRole('heading', { name: 'Waiting for you' }).waitFor();
    await expect.poll(() => app.locator('#push-setting').getAttribute('data-state'), { timeout: 15_000 }).toBe('on');
    const since = appRequests.length;
    await app.waitForTimeout(7_000);
    const polls = appRequests.slice(since).filter((request) => new URL(request.url()).pathname === PENDING_PATH);
    // At 3 s a poll, 7 s would make two or three; with push on there is none after the settle.
    expect(polls.length).toBeLessThanOrEqual(1);
  });

  it('a start pushes a VAPID-signed aes128gcm message; delivered to the worker it shows the context with Approve / Decline; following it approves with the passkey; the closing push withdraws it', async () => {
    const { baseUrl, tenantId } = runningContext();
    const op = await rp.start({
      type: 'AUTHENTICATION', userId,
      context: { title: 'Log in to Demo Bank', text: 'From Firefox on Linux, Berlin', completedText: 'You are signed in on your laptop.', locale: 'en-GB' },
    });
    const pending = await pushFor(op.id, 'operation.pending');
    // RFC 8292: the service's VAPID key signed it for this push service's origin (verified in push-service.ts).
    expect(pending.vapid?.k).toBe(vapidPublicKey);
    expect(pending.vapid?.claims['aud']).toBe(push.origin);
    expect(pending.vapid?.header['alg']).toBe('ES256');
    expect(pending.contentEncoding).toBe('aes128gcm');
    expect(pending.urgency).toBe('high');
    expect(pending.ttl).toBeGreaterThan(0);
    expect(pending.ttl).toBeLessThanOrEqual(300);
    expect(pending.topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(pending.payload).toMatchObject({
      v: 1, type: 'operation.pending', operationId: op.id, tenantId, operationType: 'AUTHENTICATION',
      title: 'Log in to Demo Bank', body: 'From Firefox on Linux, Berlin',
    });
    expect(Date.parse(String(pending.payload?.['expiresAt']))).toBeGreaterThan(Date.now());
    expect(String(pending.payload?.['url'])).toMatch(new RegExp(`^${baseUrl}/app/#op=${op.id}&`));

    await deliver(pending.text!);
    const shown = await waitUntil('the notification', () => notifications(app), (list) => list.some((n) => n.tag === op.id));
    const notification = shown.find((n) => n.tag === op.id)!;
    expect(notification).toMatchObject({ title: 'Log in to Demo Bank', body: 'From Firefox on Linux, Berlin', data: { url: pending.payload?.['url'], operationId: op.id } });
    expect(notification.actions).toEqual([{ action: 'approve', title: 'Approve' }, { action: 'decline', title: 'Decline' }]);

    // Approve on the notification: the app opens the operation; the passkey (with user verification) still decides.
    await click(op.id, 'approve');
    const confirm = app.locator('#link-confirm .custos-confirm');
    await confirm.waitFor({ timeout: 15_000 });
    expect(await confirm.getByRole('heading').first().textContent()).toBe('Log in to Demo Bank');
    expect(await confirm.locator('.custos-confirm__text').textContent()).toBe('From Firefox on Linux, Berlin');
    expect(await notifications(app)).toEqual([]);
    await screenshot(app, 'push-2-approve');
    await confirm.getByRole('button', { name: 'Approve' }).click();

    // Pushed sign-ins get number matching by default: pick the number the relying party shows.
    const numberMatch = String((await rp.get(op.id))['numberMatch'] ?? '');
    expect(numberMatch).toMatch(/^\d{2}$/);
    await app.locator('.number-match').getByRole('button', { name: numberMatch, exact: true }).click();
    await expect.poll(() => app.locator('#link-confirm .completed-text').textContent(), { timeout: 30_000 }).toBe('You are signed in on your laptop.');
    await expect.poll(async () => (await rp.get(op.id))['status'], { timeout: 15_000 }).toBe('COMPLETED');
    await screenshot(app, 'push-3-completed');

    const closed = await pushFor(op.id, 'operation.closed');
    expect(closed.payload).toEqual({ v: 1, type: 'operation.closed', operationId: op.id, tenantId, status: 'COMPLETED' });
    expect(closed.topic).toBe(pending.topic);
  });

  it('the bank page: "Sign in with a passkey" rings no phone; "Send to my phone" pushes, the page shows the number, and the phone approves', async () => {
    // In this browser: push: false, so no notification and no number to match (the browser's own passkey answers).
    const here = await startOperation(bank, () => bank.getByRole('button', { name: 'Sign in with a passkey' }).click());
    await here.card.getByRole('button', { name: 'Approve' }).click();
    await waitForStatus(here.card, 'COMPLETED');
    expect(push.received.some((p) => p.payload?.['operationId'] === here.id)).toBe(false);
    expect((await rp.get(here.id))['notifications']).toBeUndefined();

    const login = bank.getByRole('region', { name: /Sign in/ });
    const phone = await startOperation(bank, () => login.getByRole('button', { name: 'Send to my phone' }).click());
    const number = phone.card.locator('.op__number strong');
    await number.waitFor({ state: 'visible', timeout: 15_000 });
    const shownNumber = (await number.textContent()) ?? '';
    expect(shownNumber).toBe(String((await rp.get(phone.id))['numberMatch']));
    await expect.poll(() => phone.card.locator('.op__notified').textContent(), { timeout: 20_000 }).toBe('Push to your phone: delivered to the push service.');
    await screenshot(bank, 'push-5-demo-sent', { viewport: true });

    const pending = await pushFor(phone.id, 'operation.pending');
    await deliver(pending.text!);
    await waitUntil('the notification', () => notifications(app), (list) => list.some((n) => n.tag === phone.id));
    await click(phone.id, '');
    const confirm = app.locator('#link-confirm .custos-confirm');
    await confirm.waitFor({ timeout: 15_000 });
    await confirm.getByRole('button', { name: 'Approve' }).click();
    await app.locator('.number-match').getByRole('button', { name: shownNumber, exact: true }).click();
    await waitForStatus(phone.card, 'COMPLETED');
    expect((await claimsOf(phone.card))['device']).toBe(appDeviceId);
    expect(await phone.card.locator('.op__number').isHidden()).toBe(true);
  });

  it('the closing push withdraws a notification still shown (the operation was cancelled), and a late pending push for it is not shown again', async () => {
    const op = await rp.start({ type: 'AUTHORISATION', userId, numberMatching: false, context: { title: 'Pay Kappa Books' }, transaction: { amount: '9.99', currency: 'EUR', payee: { name: 'Kappa Books Ltd' } } });
    const pending = await pushFor(op.id, 'operation.pending');
    await deliver(pending.text!);
    await waitUntil('the notification', () => notifications(app), (list) => list.some((n) => n.tag === op.id));

    const cancelled = await context.request.post(`${runningContext().baseUrl}/demo/api/operations/${op.id}/cancel`);
    expect(cancelled.ok()).toBe(true);
    const closed = await pushFor(op.id, 'operation.closed');
    expect(closed.payload?.['status']).toBe('CANCELLED');
    await deliver(closed.text!);
    await waitUntil('the notification to go', () => notifications(app), (list) => !list.some((n) => n.tag === op.id));

    // The pending push again (a push service may deliver out of order): the operation is closed, nothing shows.
    await deliver(pending.text!);
    await app.waitForTimeout(1_000);
    expect((await notifications(app)).some((n) => n.tag === op.id)).toBe(false);
  });

  it('Decline on the notification rejects the operation without opening the app', async () => {
    const op = await rp.start({ type: 'SIGNATURE', userId, context: { title: 'Sign the overdraft terms' }, document: { content: 'I agree.', mimeType: 'text/plain', title: 'Terms' } });
    const pending = await pushFor(op.id, 'operation.pending');
    await deliver(pending.text!);
    await waitUntil('the notification', () => notifications(app), (list) => list.some((n) => n.tag === op.id));
    await click(op.id, 'decline');
    await expect.poll(async () => (await rp.get(op.id))['status'], { timeout: 15_000 }).toBe('REJECTED');
    expect((await notifications(app)).some((n) => n.tag === op.id)).toBe(false);
  });

  it('hostile context text shows as text in the notification and in the approve view', async () => {
    const op = await rp.start({ type: 'AUTHENTICATION', userId, numberMatching: false, context: { title: HOSTILE, text: `<script>alert(2)</script>${HOSTILE}` } });
    const pending = await pushFor(op.id, 'operation.pending');
    await deliver(pending.text!);
    const shown = await waitUntil('the notification', () => notifications(app), (list) => list.some((n) => n.tag === op.id));
    expect(shown.find((n) => n.tag === op.id)).toMatchObject({ title: HOSTILE, body: `<script>alert(2)</script>${HOSTILE}` });

    await click(op.id, '');
    const confirm = app.locator('#link-confirm .custos-confirm');
    await confirm.waitFor({ timeout: 15_000 });
    expect(await confirm.getByRole('heading').first().textContent()).toBe(HOSTILE);
    expect(await confirm.locator('.custos-confirm__text').textContent()).toBe(`<script>alert(2)</script>${HOSTILE}`);
    expect(await app.locator('#link-confirm img, #link-confirm script').count()).toBe(0);
    await screenshot(app, 'push-4-hostile');
    await confirm.getByRole('button', { name: 'Decline' }).click();
    await expect.poll(async () => (await rp.get(op.id))['status'], { timeout: 15_000 }).toBe('REJECTED');
    expect(dialogs).toEqual([]);
  });

  it('a pending push whose expiresAt is past is never shown (hand-made payload)', async () => {
    const { baseUrl, tenantId } = runningContext();
    const stale = { v: 1, type: 'operation.pending', operationId: 'op_stale0000000000000000000', tenantId, operationType: 'AUTHENTICATION', title: 'Old', body: 'Old', expiresAt: new Date(Date.now() - 1_000).toISOString(), url: `${baseUrl}/app/#op=op_stale0000000000000000000&tenant=${tenantId}` };
    await deliver(JSON.stringify(stale));
    await app.waitForTimeout(1_000);
    expect((await notifications(app)).some((n) => n.tag === stale.operationId)).toBe(false);
  });

  it('turning notifications off DELETEs the channel and polling comes back', async () => {
    await app.getByRole('button', { name: 'Done' }).click();
    await app.getByRole('heading', { name: 'Waiting for you' }).waitFor();
    await expect.poll(() => app.locator('#push-setting').getAttribute('data-state'), { timeout: 15_000 }).toBe('on');
    const deleted = app.waitForResponse((response) => response.request().method() === 'DELETE' && new URL(response.url()).pathname === CHANNEL_PATH);
    await app.getByRole('button', { name: 'Turn off notifications' }).click();
    expect((await deleted).status()).toBe(204);
    await expect.poll(() => app.locator('#push-setting').getAttribute('data-state'), { timeout: 15_000 }).toBe('off');
    const since = appRequests.length;
    await app.waitForTimeout(7_000);
    expect(appRequests.slice(since).filter((request) => new URL(request.url()).pathname === PENDING_PATH).length).toBeGreaterThanOrEqual(2);

    // Without a channel the start pushes nothing.
    const op = await rp.start({ type: 'AUTHENTICATION', userId, context: { title: 'Not pushed' } });
    await app.waitForTimeout(2_000);
    expect(push.received.some((p) => p.payload?.['operationId'] === op.id)).toBe(false);
    expect(appDeviceId).toMatch(/^dev_/);
  });
});
