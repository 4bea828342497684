// Push (docs/push.md): device channels, Web Push end to end through a local push service that checks VAPID and really
// decrypts (RFC 8291, http_ece), FCM and APNs against local endpoints that check their auth JWTs, retries, 410 clean-up,
// withdrawal on the end, broadcast fan-out, number matching by default, and the context in the result token.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader, exportPKCS8, exportSPKI, generateKeyPair, importSPKI, jwtVerify } from 'jose';
import { adminFetch, BASE_URL, countRows, expectProblem, setupTenant, workerFetch } from '../helpers/api';
import type { Api } from '../helpers/api';
import { createUser, newAuthenticator } from '../helpers/ceremony';
import { answerOnDevice, deviceProof, registerBoundDevice } from '../helpers/bound-device';
import type { BoundDevice, Http } from '../helpers/bound-device';
import { eventually } from '../webhooks/harness';
import { removePushChannel } from '../../src/storage/push';
import { pushStub } from '../../src/durable-objects/push-delivery';

const http: Http = (path, init) => workerFetch(path, init);
const CONTROL = 'https://control.receiver.example';
const CHANNEL_PATH = '/sdk/v1/device/push-channel';

interface Recorded {
  method: string;
  url: string;
  headers: [string, string][];
  bodyBase64: string;
  vapid?: { ok: boolean; reason?: string; claims?: Record<string, unknown> };
  plaintext?: string | null;
  decryptError?: string | null;
}

interface OperationJson {
  id: string;
  status: string;
  numberMatch?: string;
  notifications?: { deviceId: string; channel: string; status: string; attempts: number; reason?: string; closedAt?: string }[];
  result?: { token: string };
}

async function recorded(bin: string): Promise<Recorded[]> {
  const res = await fetch(`${CONTROL}/bins/${bin}/requests`);
  return res.json<Recorded[]>();
}

async function script(bin: string, replies: { status: number; body?: string; delayMs?: number }[]): Promise<void> {
  expect((await fetch(`${CONTROL}/bins/${bin}/script`, { method: 'PUT', body: JSON.stringify(replies) })).status).toBe(204);
}

const header = (r: Recorded, name: string): string | undefined => r.headers.find(([k]) => k.toLowerCase() === name)?.[1];
const bodyOf = (r: Recorded): string => new TextDecoder().decode(Uint8Array.from(atob(r.bodyBase64), (ch) => ch.charCodeAt(0)));

/** A Web Push subscriber at the local push service: what pushManager.subscribe would give a browser. */
async function subscriber(tenantId: string): Promise<{ bin: string; subscription: { endpoint: string; keys: { p256dh: string; auth: string } } }> {
  const config = await (await workerFetch(`/sdk/v1/config?tenant=${tenantId}`)).json<{ webPush?: { vapidPublicKey: string } }>();
  expect(config.webPush?.vapidPublicKey).toMatch(/^[A-Za-z0-9_-]{87}$/);
  const name = crypto.randomUUID().replaceAll('-', '');
  const res = await fetch(`${CONTROL}/push/${name}/subscription`, { method: 'POST', body: JSON.stringify({ vapidPublicKey: config.webPush!.vapidPublicKey }) });
  return { bin: `push-${name}`, subscription: await res.json() };
}

async function putChannel(device: BoundDevice, body: unknown): Promise<Response> {
  return workerFetch(CHANNEL_PATH, {
    method: 'PUT',
    headers: { authorization: await deviceProof(device, 'PUT', `${BASE_URL}${CHANNEL_PATH}`), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

interface PushSetup {
  tenantId: string;
  token: string;
  api: Api;
  userId: string;
  device: BoundDevice;
}

async function pushSetup(policy?: Record<string, unknown>): Promise<PushSetup> {
  const { tenant, token, api } = await setupTenant(policy ? { policy } : {});
  const user = await createUser(api, { externalRef: `p-${crypto.randomUUID()}` });
  const device = await registerBoundDevice(http, token, user.id, await newAuthenticator());
  return { tenantId: tenant.id, token, api, userId: user.id, device };
}

/** A user with one device subscribed to Web Push at the local push service. */
async function webPushSetup(policy?: Record<string, unknown>): Promise<PushSetup & { bin: string }> {
  const setup = await pushSetup(policy);
  const { bin, subscription } = await subscriber(setup.tenantId);
  const res = await putChannel(setup.device, { type: 'WEB_PUSH', ...subscription, expirationTime: null });
  expect(res.status, await res.clone().text()).toBe(200);
  return { ...setup, bin };
}

async function start(api: Api, body: Record<string, unknown>): Promise<OperationJson & { sdk: { url: string } }> {
  const res = await api('/v1/operations', { method: 'POST', json: body });
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json();
}

async function operation(api: Api, id: string): Promise<OperationJson> {
  return (await api(`/v1/operations/${id}`)).json<OperationJson>();
}

async function deviceJson(api: Api, deviceId: string): Promise<Record<string, unknown>> {
  return (await api(`/v1/devices/${deviceId}`)).json();
}

async function waitForPushes(bin: string, count: number): Promise<Recorded[]> {
  return eventually(async () => {
    const found = await recorded(bin);
    return found.length >= count ? found : undefined;
  }, `${count} push(es) at ${bin}`);
}

async function waitForNotification(api: Api, id: string, done: (n: NonNullable<OperationJson['notifications']>) => boolean): Promise<OperationJson> {
  return eventually(async () => {
    const op = await operation(api, id);
    return op.notifications && done(op.notifications) ? op : undefined;
  }, `notifications of ${id}`);
}

describe('push channels (SDK, device proof)', () => {
  it('registers a Web Push subscription; the devices API shows the channel, never its keys; DELETE removes it', async () => {
    const { api, device, tenantId } = await pushSetup();
    const { subscription } = await subscriber(tenantId);
    const res = await putChannel(device, { type: 'WEB_PUSH', ...subscription });
    expect(res.status).toBe(200);
    const body = await res.json<{ deviceId: string; pushChannel: Record<string, unknown> }>();
    expect(body.deviceId).toBe(device.deviceId);
    expect(body.pushChannel).toMatchObject({ type: 'WEB_PUSH', endpointOrigin: 'https://push.receiver.example' });
    const shown = JSON.stringify(await deviceJson(api, device.deviceId));
    expect(shown).toContain('"pushChannel"');
    expect(shown).not.toContain(subscription.keys.auth);
    expect(shown).not.toContain(subscription.keys.p256dh);
    expect(shown).not.toContain(subscription.endpoint);
    // Stored sealed (this run sets WEBHOOK_SECRET_KEY): the D1 row holds no key either.
    const row = await env.DB.prepare('SELECT push_channel FROM devices WHERE id = ?1').bind(device.deviceId).first<{ push_channel: string }>();
    expect(row?.push_channel).toMatch(/^enc:v1:/);
    expect(row?.push_channel).not.toContain(subscription.keys.auth);

    const removed = await workerFetch(CHANNEL_PATH, { method: 'DELETE', headers: { authorization: await deviceProof(device, 'DELETE', `${BASE_URL}${CHANNEL_PATH}`) } });
    expect(removed.status).toBe(204);
    const after = await deviceJson(api, device.deviceId);
    expect(after['pushChannel']).toBeUndefined();
    expect(after['pushChannelRemoved']).toMatchObject({ type: 'WEB_PUSH', reason: 'REMOVED_BY_DEVICE' });
  });

  it('refuses bad channels with a problem naming the field, and writes nothing', async () => {
    const { device, tenantId } = await pushSetup();
    const { subscription } = await subscriber(tenantId);
    const cases: [unknown, string][] = [
      [{ type: 'WEB_PUSH', ...subscription, endpoint: 'http://push.example.com/x' }, 'endpoint'],
      [{ type: 'WEB_PUSH', ...subscription, endpoint: 'https://10.0.0.1/x' }, 'endpoint'],
      [{ type: 'WEB_PUSH', ...subscription, endpoint: 'https://metadata.google.internal/x' }, 'endpoint'],
      [{ type: 'WEB_PUSH', ...subscription, keys: { ...subscription.keys, p256dh: 'AAAA' } }, 'keys.p256dh'],
      [{ type: 'WEB_PUSH', ...subscription, keys: { ...subscription.keys, auth: 'AAAAAAAA' } }, 'keys.auth'],
      [{ type: 'APNS', token: 'not hex', environment: 'production' }, 'token'],
      [{ type: 'FCM', token: 'x', extra: 1 }, ''],
      [{ type: 'SMS', token: 'x' }, 'type'],
    ];
    for (const [body, field] of cases) {
      const problem = await expectProblem(await putChannel(device, body), 400, 'VALIDATION_FAILED');
      if (field) expect(JSON.stringify(problem), JSON.stringify(body)).toContain(field);
    }
    expect(await countRows('devices', 'id = ?1 AND push_channel IS NOT NULL', device.deviceId)).toBe(0);
  });

  it('needs a fresh device proof of that device: no credentials, an sdk token or a replayed proof get 401', async () => {
    const { device, tenantId, api, userId } = await pushSetup();
    const { subscription } = await subscriber(tenantId);
    const body = JSON.stringify({ type: 'WEB_PUSH', ...subscription });
    await expectProblem(await workerFetch(CHANNEL_PATH, { method: 'PUT', headers: { 'content-type': 'application/json' }, body }), 401, 'UNAUTHENTICATED');
    const op = await start(api, { type: 'AUTHENTICATION', userId });
    const token = new URL(op.sdk.url).hash.match(/token=([^&]+)/)![1]!;
    await expectProblem(await workerFetch(CHANNEL_PATH, { method: 'PUT', headers: { authorization: `Bearer ${decodeURIComponent(token)}`, 'content-type': 'application/json' }, body }), 401, 'UNAUTHENTICATED');
    const proof = await deviceProof(device, 'PUT', `${BASE_URL}${CHANNEL_PATH}`);
    expect((await workerFetch(CHANNEL_PATH, { method: 'PUT', headers: { authorization: proof, 'content-type': 'application/json' }, body })).status).toBe(200);
    await expectProblem(await workerFetch(CHANNEL_PATH, { method: 'PUT', headers: { authorization: proof, 'content-type': 'application/json' }, body }), 401, 'UNAUTHENTICATED');
    // A proof for another method or URL is not this call's.
    const wrong = await deviceProof(device, 'DELETE', `${BASE_URL}${CHANNEL_PATH}`);
    await expectProblem(await workerFetch(CHANNEL_PATH, { method: 'PUT', headers: { authorization: wrong, 'content-type': 'application/json' }, body }), 401, 'UNAUTHENTICATED');
  });

  it('deactivating a device drops its channel and says why', async () => {
    const { api, device } = await webPushSetup();
    expect((await api(`/v1/devices/${device.deviceId}/deactivate`, { method: 'POST', json: {} })).status).toBe(200);
    const shown = await deviceJson(api, device.deviceId);
    expect(shown['pushChannel']).toBeUndefined();
    expect(shown['pushChannelRemoved']).toMatchObject({ reason: 'DEVICE_DEACTIVATED' });
    expect(await countRows('devices', 'id = ?1 AND push_channel IS NOT NULL', device.deviceId)).toBe(0);
  });
});

describe('Web Push delivery', () => {
  it('a start pushes an encrypted, VAPID-signed message the local push service decrypts; the operation records it', async () => {
    const { api, userId, device, bin, tenantId } = await webPushSetup();
    const op = await start(api, { type: 'AUTHENTICATION', userId, deviceId: device.deviceId, ttlSeconds: 120, context: { title: 'Log in to Acme', text: 'From Firefox on Linux' } });
    // Anti push-fatigue: a pushed authentication matches a number by default.
    expect(op.numberMatch).toMatch(/^\d{2}$/);
    const [push] = await waitForPushes(bin, 1);
    expect(push!.vapid, JSON.stringify(push!.vapid)).toMatchObject({ ok: true });
    expect(push!.vapid!.claims!['aud']).toBe('https://push.receiver.example');
    expect(header(push!, 'content-encoding')).toBe('aes128gcm');
    expect(header(push!, 'urgency')).toBe('high');
    expect(header(push!, 'topic')).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const ttl = Number(header(push!, 'ttl'));
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
    expect(push!.decryptError).toBeNull();
    const message = JSON.parse(push!.plaintext!) as Record<string, string>;
    expect(message).toMatchObject({ v: 1, type: 'operation.pending', operationId: op.id, tenantId, operationType: 'AUTHENTICATION', title: 'Log in to Acme', body: 'From Firefox on Linux' });
    // The device opens the operation with its own proof: the message carries no sdk token.
    expect(message['url']).toBe(`${BASE_URL}/app/#op=${op.id}&tenant=${tenantId}`);
    expect(push!.plaintext).not.toContain('sdk_');
    const shown = await waitForNotification(api, op.id, (n) => n[0]?.status === 'SENT');
    expect(shown.notifications).toEqual([expect.objectContaining({ deviceId: device.deviceId, channel: 'WEB_PUSH', status: 'SENT', attempts: 1 })]);
  });

  it('the relying party can turn number matching off for a pushed authentication', async () => {
    const { api, userId } = await webPushSetup();
    const op = await start(api, { type: 'AUTHENTICATION', userId, numberMatching: false });
    expect(op.numberMatch).toBeUndefined();
  });

  it('completing replaces the notification with a closing one under the same Topic', async () => {
    const { api, userId, device, bin } = await webPushSetup();
    const op = await start(api, { type: 'AUTHENTICATION', userId, numberMatching: false });
    await waitForNotification(api, op.id, (n) => n[0]?.status === 'SENT');
    expect((await answerOnDevice(http, BASE_URL, device, op.id, 'approve')).status).toBe(200);
    const [pending, closing] = await waitForPushes(bin, 2);
    expect(header(closing!, 'topic')).toBe(header(pending!, 'topic'));
    expect(JSON.parse(closing!.plaintext!)).toEqual({ v: 1, type: 'operation.closed', operationId: op.id, tenantId: expect.any(String), status: 'COMPLETED' });
    const shown = await waitForNotification(api, op.id, (n) => n[0]?.closedAt !== undefined);
    expect(shown.status).toBe('COMPLETED');
  });

  it('cancelling withdraws it the same way', async () => {
    const { api, userId, bin } = await webPushSetup();
    const op = await start(api, { type: 'AUTHENTICATION', userId });
    await waitForPushes(bin, 1);
    await waitForNotification(api, op.id, (n) => n[0]?.status === 'SENT');
    expect((await api(`/v1/operations/${op.id}/cancel`, { method: 'POST', json: {} })).status).toBe(200);
    const pushes = await waitForPushes(bin, 2);
    expect(JSON.parse(pushes[1]!.plaintext!)).toMatchObject({ type: 'operation.closed', status: 'CANCELLED' });
  });

  it('a push service answering 410 removes the channel, records why, and is not retried', async () => {
    const { api, userId, device, bin } = await webPushSetup();
    await script(bin, [{ status: 410 }]);
    const op = await start(api, { type: 'AUTHENTICATION', userId });
    const shown = await waitForNotification(api, op.id, (n) => n[0]?.status === 'GONE');
    expect(shown.notifications![0]).toMatchObject({ status: 'GONE', reason: '410', attempts: 1 });
    const after = await deviceJson(api, device.deviceId);
    expect(after['pushChannel']).toBeUndefined();
    expect(after['pushChannelRemoved']).toMatchObject({ type: 'WEB_PUSH', reason: 'PUSH_SERVICE_410' });
    // The next start has nobody to push to: no notifications at all.
    const next = await start(api, { type: 'AUTHENTICATION', userId });
    expect(next.notifications).toBeUndefined();
    expect((await recorded(bin)).length).toBe(1);
  });

  it('a 5xx is retried with backoff until it is delivered', async () => {
    const { api, userId, bin } = await webPushSetup();
    await script(bin, [{ status: 503 }]);
    const op = await start(api, { type: 'AUTHENTICATION', userId });
    await waitForNotification(api, op.id, (n) => n[0]?.status === 'RETRYING');
    const shown = await waitForNotification(api, op.id, (n) => n[0]?.status === 'SENT');
    expect(shown.notifications![0]!.attempts).toBe(2);
    expect((await recorded(bin)).length).toBe(2);
  });

  it('a broadcast fans out to every active device with a channel; REGISTRATION and sameDevice push nothing', async () => {
    // A second device without a fresh SCA: this tenant's policy allows it, so the test can bind two.
    const { api, token, userId, device, bin, tenantId } = await webPushSetup({ requireScaForNewDevice: false });
    const second = await registerBoundDevice(http, token, userId, await newAuthenticator());
    const other = await subscriber(tenantId);
    expect((await putChannel(second, { type: 'WEB_PUSH', ...other.subscription })).status).toBe(200);
    const op = await start(api, { type: 'AUTHENTICATION', userId });
    const shown = await waitForNotification(api, op.id, (n) => n.length === 2 && n.every((x) => x.status === 'SENT'));
    expect(shown.notifications!.map((n) => n.deviceId).sort()).toEqual([device.deviceId, second.deviceId].sort());
    expect(JSON.parse((await waitForPushes(other.bin, 1))[0]!.plaintext!)).toMatchObject({ operationId: op.id });
    const before = (await recorded(bin)).length;
    const registration = await start(api, { type: 'REGISTRATION', userId });
    const same = await start(api, { type: 'AUTHENTICATION', userId, deviceId: device.deviceId, sameDevice: true });
    expect(same.notifications).toBeUndefined();
    expect(registration.notifications).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await recorded(bin)).length).toBe(before);
  });

  it('an operation that expires before the push service takes it is never sent, and a sent one is closed on expiry', async () => {
    const { api, userId, bin } = await webPushSetup();
    await script(bin, [{ status: 503 }]);
    const lost = await start(api, { type: 'AUTHENTICATION', userId, ttlSeconds: 1 });
    // The retry would come after the expiry: given up at once, never shown later.
    const shown = await waitForNotification(api, lost.id, (n) => n[0]?.status === 'FAILED');
    expect(shown.notifications![0]).toMatchObject({ attempts: 1, reason: '503' });
    await eventually(async () => ((await operation(api, lost.id)).status === 'EXPIRED' ? true : undefined), 'the expiry');
    expect((await recorded(bin)).filter((r) => r.plaintext?.includes(lost.id))).toHaveLength(1);
    const sent = await start(api, { type: 'AUTHENTICATION', userId, ttlSeconds: 2 });
    const closing = await eventually(async () => {
      const all = await recorded(bin);
      return all.find((r) => r.plaintext?.includes('operation.closed') && r.plaintext.includes(sent.id));
    }, 'the closing push of the expired operation');
    expect(JSON.parse(closing.plaintext!)).toMatchObject({ status: 'EXPIRED' });
  });
});

describe('push races', () => {
  it('a 410 for an old subscription does not remove the one the device registered since', async () => {
    const { device, tenantId } = await webPushSetup();
    const read = () => env.DB.prepare('SELECT push_channel FROM devices WHERE id = ?1').bind(device.deviceId).first<{ push_channel: string | null }>();
    const old = (await read())!.push_channel!;
    const { subscription } = await subscriber(tenantId);
    expect((await putChannel(device, { type: 'WEB_PUSH', ...subscription })).status).toBe(200);
    const now = new Date().toISOString();
    expect(await removePushChannel(env.DB, { deviceId: device.deviceId, reason: 'PUSH_SERVICE_410', at: now, onlyIf: old })).toBe(false);
    expect((await read())!.push_channel).not.toBeNull();
    expect(await removePushChannel(env.DB, { deviceId: device.deviceId, reason: 'PUSH_SERVICE_410', at: now, onlyIf: (await read())!.push_channel! })).toBe(true);
  });

  it('an operation cancelled while its push is still in flight gets the closing message all the same', async () => {
    const { api, userId, bin } = await webPushSetup();
    await script(bin, [{ status: 201, delayMs: 1500 }]);
    const op = await start(api, { type: 'AUTHENTICATION', userId });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await api(`/v1/operations/${op.id}/cancel`, { method: 'POST', json: {} })).status).toBe(200);
    const pushes = await waitForPushes(bin, 2);
    expect(JSON.parse(pushes[1]!.plaintext!)).toMatchObject({ type: 'operation.closed', status: 'CANCELLED' });
  });

  it('a push job that arrives after its operation ended is never sent', async () => {
    const operationId = `op_${crypto.randomUUID().replaceAll('-', '')}`;
    const stub = pushStub(env, operationId);
    await stub.withdraw('CANCELLED');
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    await stub.enqueue({
      tenantId: 'ten_x', operationId, expiresAt, targets: [{ deviceId: 'dev_x', channel: 'WEB_PUSH', sealed: '{}' }],
      message: { v: 1, type: 'operation.pending', operationId, tenantId: 'ten_x', operationType: 'AUTHENTICATION', title: 't', body: 'b', expiresAt, url: 'https://custos.test/app/' },
    });
    expect(await stub.records()).toEqual([expect.objectContaining({ deviceId: 'dev_x', status: 'NOT_SENT', attempts: 0, reason: 'OPERATION_FINAL' })]);
  });
});

describe('the operation context', () => {
  it('hostile text is kept as text, shown to the device as is, and signed into the result token as ctx', async () => {
    const { api, userId, device } = await pushSetup();
    const context = { title: '<img src=x onerror=alert(1)>', text: '"; DROP TABLE users; --', completedText: 'Done — </script>', locale: 'de-CH' };
    const op = await start(api, { type: 'AUTHENTICATION', userId, context });
    expect((await answerOnDevice(http, BASE_URL, device, op.id, 'approve')).status).toBe(200);
    const done = await operation(api, op.id);
    expect(decodeJwt(done.result!.token)['ctx']).toEqual(context);
  });

  it('refuses a context over its limits or with a malformed locale, and starts nothing', async () => {
    const { api, userId } = await pushSetup();
    const before = await countRows('operations', 'user_id = ?1', userId);
    for (const context of [{ title: 'x', locale: 'not a locale!' }, { title: 'x', completedText: 'y'.repeat(257) }, { title: 'x', html: '<b>' }]) {
      await expectProblem(await api('/v1/operations', { method: 'POST', json: { type: 'AUTHENTICATION', userId, context } }), 400, 'VALIDATION_FAILED');
    }
    expect(await countRows('operations', 'user_id = ?1', userId)).toBe(before);
  });
});

async function pem(kind: 'RS256' | 'ES256'): Promise<{ privateKey: string; publicKey: string }> {
  const pair = await generateKeyPair(kind, { extractable: true });
  return { privateKey: await exportPKCS8(pair.privateKey), publicKey: await exportSPKI(pair.publicKey) };
}

describe('FCM and APNs', () => {
  it('FCM: a service-account JWT is exchanged for a token (cached), and the message carries ids only', async () => {
    const { api, userId, device, tenantId } = await pushSetup();
    const key = await pem('RS256');
    const set = await adminFetch(`/admin/v1/tenants/${tenantId}/push-credentials/fcm`, { method: 'PUT', json: { projectId: 'acme-bank', clientEmail: 'push@acme-bank.iam.gserviceaccount.com', privateKey: key.privateKey } });
    expect(set.status, await set.clone().text()).toBe(200);
    expect(JSON.stringify(await set.json())).not.toContain('PRIVATE KEY');
    const fcmToken = `fcm-${crypto.randomUUID()}`;
    expect((await putChannel(device, { type: 'FCM', token: fcmToken })).status).toBe(200);
    const before = (await recorded('fcm')).length;
    const op = await start(api, { type: 'AUTHORISATION', userId, transaction: { amount: '12.50', currency: 'EUR', payee: { name: 'Acme Shop' } } });
    await waitForNotification(api, op.id, (n) => n[0]?.status === 'SENT');
    const mine = (await recorded('fcm')).slice(before);
    const tokenCall = mine.find((r) => new URL(r.url).pathname === '/token')!;
    const assertion = new URLSearchParams(bodyOf(tokenCall)).get('assertion')!;
    const verified = await jwtVerify(assertion, await importSPKI(key.publicKey, 'RS256'), { issuer: 'push@acme-bank.iam.gserviceaccount.com', audience: 'https://fcm.receiver.example/token' });
    expect(verified.payload['scope']).toBe('https://www.googleapis.com/auth/firebase.messaging');
    const send = mine.find((r) => r.url.endsWith('/v1/projects/acme-bank/messages:send'))!;
    expect(header(send, 'authorization')).toMatch(/^Bearer ya29\.test-/);
    const message = (JSON.parse(bodyOf(send)) as { message: Record<string, any> }).message;
    expect(message['token']).toBe(fcmToken);
    expect(message['android']).toMatchObject({ priority: 'HIGH', collapse_key: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/) });
    expect(message['data']).toMatchObject({ operationId: op.id, operationType: 'AUTHORISATION' });
    // Amounts and the sdk token stay out of a message FCM can read.
    expect(bodyOf(send)).not.toContain('12.50');
    expect(bodyOf(send)).not.toContain('sdk_');
    // A second push reuses the cached OAuth token.
    const next = await start(api, { type: 'AUTHENTICATION', userId });
    await waitForNotification(api, next.id, (n) => n[0]?.status === 'SENT');
    expect((await recorded('fcm')).slice(before).filter((r) => new URL(r.url).pathname === '/token')).toHaveLength(1);
  });

  it('APNs: an ES256 provider token by team and key id, the alert headers, and 410 forgets the token', async () => {
    const { api, userId, device, tenantId } = await pushSetup();
    const key = await pem('ES256');
    expect((await adminFetch(`/admin/v1/tenants/${tenantId}/push-credentials/apns`, { method: 'PUT', json: { teamId: 'TEAM123456', keyId: 'KEY1234567', topic: 'com.acme.bank', privateKey: key.privateKey } })).status).toBe(200);
    const apnsToken = [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('');
    expect((await putChannel(device, { type: 'APNS', token: apnsToken, environment: 'production' })).status).toBe(200);
    const op = await start(api, { type: 'AUTHENTICATION', userId, context: { title: 'Log in to Acme' } });
    await waitForNotification(api, op.id, (n) => n[0]?.status === 'SENT');
    const send = (await recorded('apns')).find((r) => r.url.endsWith(`/3/device/${apnsToken}`))!;
    const jwt = header(send, 'authorization')!.replace(/^bearer /, '');
    expect(decodeProtectedHeader(jwt)).toMatchObject({ alg: 'ES256', kid: 'KEY1234567' });
    await jwtVerify(jwt, await importSPKI(key.publicKey, 'ES256'), { issuer: 'TEAM123456' });
    expect(header(send, 'apns-push-type')).toBe('alert');
    expect(header(send, 'apns-priority')).toBe('10');
    expect(header(send, 'apns-topic')).toBe('com.acme.bank');
    expect(header(send, 'apns-collapse-id')).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(Number(header(send, 'apns-expiration'))).toBe(Math.floor(Date.parse((await operation(api, op.id) as unknown as { expiresAt: string }).expiresAt) / 1000));
    expect(JSON.parse(bodyOf(send))).toMatchObject({ aps: { alert: { title: 'Log in to Acme' } }, operationId: op.id });

    await script('apns', [{ status: 410, body: '{"reason":"Unregistered"}' }]);
    const gone = await start(api, { type: 'AUTHENTICATION', userId });
    await waitForNotification(api, gone.id, (n) => n[0]?.status === 'GONE');
    expect((await deviceJson(api, device.deviceId))['pushChannelRemoved']).toMatchObject({ type: 'APNS', reason: 'PUSH_SERVICE_410' });
  });

  it('without credentials a native push fails with a reason instead of being retried', async () => {
    const { api, userId, device } = await pushSetup();
    expect((await putChannel(device, { type: 'FCM', token: 'fcm-without-credentials' })).status).toBe(200);
    const op = await start(api, { type: 'AUTHENTICATION', userId });
    const shown = await waitForNotification(api, op.id, (n) => n[0]?.status === 'FAILED');
    expect(shown.notifications![0]!.reason).toBe('CREDENTIALS_MISSING');
  });

  it('operators manage credentials: bad keys are refused with nothing written, keys are never shown, DELETE removes', async () => {
    const { tenantId } = await pushSetup();
    const ec = await pem('ES256');
    await expectProblem(await adminFetch(`/admin/v1/tenants/${tenantId}/push-credentials/fcm`, { method: 'PUT', json: { projectId: 'acme-bank', clientEmail: 'a@b.example', privateKey: ec.privateKey } }), 400, 'VALIDATION_FAILED');
    await expectProblem(await adminFetch(`/admin/v1/tenants/${tenantId}/push-credentials/apns`, { method: 'PUT', json: { teamId: 'short', keyId: 'KEY1234567', topic: 'x', privateKey: ec.privateKey } }), 400, 'VALIDATION_FAILED');
    expect(await countRows('push_credentials', 'tenant_id = ?1', tenantId)).toBe(0);
    expect((await adminFetch(`/admin/v1/tenants/${tenantId}/push-credentials/apns`, { method: 'PUT', json: { teamId: 'TEAM123456', keyId: 'KEY1234567', topic: 'com.acme', privateKey: ec.privateKey } })).status).toBe(200);
    const list = await adminFetch(`/admin/v1/tenants/${tenantId}/push-credentials`);
    const text = await list.text();
    expect(JSON.parse(text)).toEqual({ items: [expect.objectContaining({ provider: 'APNS', teamId: 'TEAM123456', keyId: 'KEY1234567', topic: 'com.acme' })] });
    expect(text).not.toContain('PRIVATE');
    const row = await env.DB.prepare('SELECT sealed FROM push_credentials WHERE tenant_id = ?1').bind(tenantId).first<{ sealed: string }>();
    expect(row?.sealed).toMatch(/^enc:v1:/);
    expect((await adminFetch(`/admin/v1/tenants/${tenantId}/push-credentials/apns`, { method: 'DELETE' })).status).toBe(204);
    await expectProblem(await adminFetch(`/admin/v1/tenants/${tenantId}/push-credentials/apns`, { method: 'DELETE' }), 404, 'PUSH_CREDENTIAL_NOT_FOUND');
    await expectProblem(await workerFetch(`/admin/v1/tenants/${tenantId}/push-credentials`), 401, 'UNAUTHENTICATED');
  });
});
