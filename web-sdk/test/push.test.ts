// Push channels: setPushChannel / removePushChannel against a fake server, and subscribeWebPush against a fake PushManager.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { compactVerify } from 'jose';
import { createCustos, CustosError, subscribeWebPush, toPushChannel, vapidKeyBytes, type DeviceCredential } from '../src/index.js';
import { fakeServer, problem, type RecordedRequest } from './helpers/fake-server.js';
import { toBase64Url } from './helpers/fixtures.js';

vi.mock('@simplewebauthn/browser', () => import('./helpers/webauthn-stub.js'));

const BASE = 'https://custos.test';
const DEVICE_ID = 'dev_0123456789abcdefghijklmnop';
const CHANNEL_PATH = '/sdk/v1/device/push-channel';

/** A real P-256 public point and 16 random bytes, as a browser's subscription carries them. */
async function subscriptionKeys(): Promise<{ p256dh: string; auth: string }> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { p256dh: toBase64Url(raw), auth: toBase64Url(crypto.getRandomValues(new Uint8Array(16))) };
}

const ANSWER = { deviceId: DEVICE_ID, pushChannel: { type: 'WEB_PUSH', endpointOrigin: 'https://push.example', updatedAt: '2026-12-07T16:00:00.000Z' } };

async function proofClaims(request: RecordedRequest | undefined, publicKey: CryptoKey): Promise<Record<string, unknown>> {
  const match = request?.headers['authorization']?.match(/^Device ([A-Za-z0-9_.-]+)$/);
  expect(match, 'Authorization: Device <proof>').not.toBeNull();
  const { payload, protectedHeader } = await compactVerify(match![1]!, publicKey, { algorithms: ['ES256'] });
  expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'device-proof+jwt', kid: DEVICE_ID });
  return JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
}

describe('setPushChannel / removePushChannel', () => {
  let pair: CryptoKeyPair;
  let device: DeviceCredential;
  let keys: { p256dh: string; auth: string };

  beforeEach(async () => {
    pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    device = { id: DEVICE_ID, privateKey: pair.privateKey };
    keys = await subscriptionKeys();
  });

  it('PUTs a PushSubscription as { type: WEB_PUSH, endpoint, keys } with a device proof for PUT and this URL, and answers the stored channel', async () => {
    const server = fakeServer({ [`PUT ${CHANNEL_PATH}`]: { body: ANSWER } });
    const custos = createCustos({ baseUrl: `${BASE}/`, fetch: server.fetch, device });
    // What a browser hands out: an object whose toJSON() is the wire form (expirationTime included).
    const subscription = { endpoint: 'https://push.example/send/abc', toJSON: () => ({ endpoint: 'https://push.example/send/abc', expirationTime: null, keys }) };

    await expect(custos.setPushChannel(subscription as unknown as PushSubscription)).resolves.toEqual(ANSWER);

    const request = server.requests[0];
    expect(server.calls()).toEqual([`PUT ${CHANNEL_PATH}`]);
    expect(request?.url).toBe(`${BASE}${CHANNEL_PATH}`);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.body).toEqual({ type: 'WEB_PUSH', endpoint: 'https://push.example/send/abc', keys });
    expect(await proofClaims(request, pair.publicKey)).toMatchObject({ htm: 'PUT', htu: `${BASE}${CHANNEL_PATH}` });
  });

  it('takes a PushSubscriptionJSON, a tagged WEB_PUSH channel, and native FCM / APNs tokens, each with a fresh proof', async () => {
    const server = fakeServer({ [`PUT ${CHANNEL_PATH}`]: { body: ANSWER } });
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch, device });

    await custos.setPushChannel({ endpoint: 'http://127.0.0.1:9999/push/1', keys });
    await custos.setPushChannel({ type: 'WEB_PUSH', endpoint: 'https://push.example/2', keys, expirationTime: 1_800_000_000_000 });
    await custos.setPushChannel({ type: 'FCM', token: 'fcm-token:APA91b' });
    await custos.setPushChannel({ type: 'APNS', token: 'a1B2c3d4', environment: 'sandbox' });

    expect(server.requests.map((request) => request.body)).toEqual([
      { type: 'WEB_PUSH', endpoint: 'http://127.0.0.1:9999/push/1', keys },
      { type: 'WEB_PUSH', endpoint: 'https://push.example/2', keys },
      { type: 'FCM', token: 'fcm-token:APA91b' },
      { type: 'APNS', token: 'a1B2c3d4', environment: 'sandbox' },
    ]);
    const jtis = new Set<unknown>();
    for (const request of server.requests) jtis.add((await proofClaims(request, pair.publicKey))['jti']);
    expect(jtis.size).toBe(4);
  });

  it('refuses malformed channels with a TypeError before any request', async () => {
    const server = fakeServer({});
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch, device });
    const bad: unknown[] = [
      null,
      { endpoint: 'ftp://push.example/1', keys },
      { endpoint: 'not a url', keys },
      { endpoint: 'https://push.example/1', keys: { p256dh: keys.p256dh.slice(0, 40), auth: keys.auth } },
      { endpoint: 'https://push.example/1', keys: { p256dh: keys.p256dh, auth: toBase64Url(new Uint8Array(8)) } },
      { endpoint: 'https://push.example/1' },
      { type: 'FCM', token: '' },
      { type: 'APNS', token: 'not-hex', environment: 'production' },
      { type: 'APNS', token: 'abcd', environment: 'staging' },
      { type: 'SMS', token: '1' },
    ];
    for (const channel of bad) await expect(custos.setPushChannel(channel as never), JSON.stringify(channel)).rejects.toBeInstanceOf(TypeError);
    expect(server.requests).toHaveLength(0);
  });

  it('maps problems: 400 VALIDATION_FAILED is REQUEST_FAILED with the problem, 401 UNAUTHORIZED, 403 for a locked device keeps its code', async () => {
    const answers = [problem(400, 'VALIDATION_FAILED', { invalidParams: [{ name: 'endpoint', reason: 'https only' }] }), problem(401, 'UNAUTHENTICATED'), problem(403, 'DEVICE_LOCKED')];
    const server = fakeServer({ [`PUT ${CHANNEL_PATH}`]: () => answers.shift()! });
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch, device });
    const channel = { endpoint: 'https://push.example/1', keys };

    const invalid = await custos.setPushChannel(channel).catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(CustosError);
    expect(invalid).toMatchObject({ code: 'REQUEST_FAILED', status: 400, traceId: 'trc_VALIDATION_FAILED', problem: { code: 'VALIDATION_FAILED', invalidParams: [{ name: 'endpoint' }] } });
    await expect(custos.setPushChannel(channel)).rejects.toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    await expect(custos.setPushChannel(channel)).rejects.toMatchObject({ code: 'REQUEST_FAILED', status: 403, problem: { code: 'DEVICE_LOCKED' } });
  });

  it('a 200 without deviceId / pushChannel is SERVER_ERROR', async () => {
    const custos = createCustos({ baseUrl: BASE, fetch: fakeServer({ [`PUT ${CHANNEL_PATH}`]: { body: { ok: true } } }).fetch, device });
    await expect(custos.setPushChannel({ type: 'FCM', token: 't' })).rejects.toMatchObject({ code: 'SERVER_ERROR' });
  });

  it('removePushChannel DELETEs with a proof for DELETE and no body, and resolves on 204', async () => {
    const server = fakeServer({ [`DELETE ${CHANNEL_PATH}`]: { status: 204 } });
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch, device });

    await expect(custos.removePushChannel()).resolves.toBeUndefined();

    const request = server.requests[0];
    expect(request?.method).toBe('DELETE');
    expect(request?.body).toBeUndefined();
    expect(request?.headers['content-type']).toBeUndefined();
    expect(await proofClaims(request, pair.publicKey)).toMatchObject({ htm: 'DELETE', htu: `${BASE}${CHANNEL_PATH}` });
  });

  it('removePushChannel: a refused proof is UNAUTHORIZED', async () => {
    const custos = createCustos({ baseUrl: BASE, fetch: fakeServer({ [`DELETE ${CHANNEL_PATH}`]: problem(401, 'UNAUTHENTICATED') }).fetch, device });
    await expect(custos.removePushChannel()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('both need a client created with a device', async () => {
    const server = fakeServer({});
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });
    await expect(custos.setPushChannel({ type: 'FCM', token: 't' })).rejects.toBeInstanceOf(TypeError);
    await expect(custos.removePushChannel()).rejects.toBeInstanceOf(TypeError);
    expect(server.requests).toHaveLength(0);
  });
});

/** A PushManager stand-in: records subscribe() options; `existingKey` makes subscribe() refuse another key like a browser. */
function fakeRegistration(keys: { p256dh: string; auth: string }, options: { existingKey?: Uint8Array; subscribeError?: string } = {}) {
  const calls: Array<{ userVisibleOnly?: boolean; applicationServerKey?: Uint8Array }> = [];
  let held = options.existingKey;
  const unsubscribe = vi.fn(async () => {
    held = undefined;
    return true;
  });
  const subscription = (key: Uint8Array) => ({
    endpoint: 'https://push.example/send/xyz',
    options: { applicationServerKey: key.buffer, userVisibleOnly: true },
    toJSON: () => ({ endpoint: 'https://push.example/send/xyz', expirationTime: null, keys }),
    unsubscribe,
  });
  const pushManager = {
    subscribe: vi.fn(async (init: { userVisibleOnly?: boolean; applicationServerKey?: Uint8Array }) => {
      calls.push(init);
      if (options.subscribeError) throw new DOMException('refused', options.subscribeError);
      const key = init.applicationServerKey!;
      if (held !== undefined && toBase64Url(held) !== toBase64Url(key)) throw new DOMException('another key', 'InvalidStateError');
      held = key;
      return subscription(key);
    }),
    getSubscription: vi.fn(async () => (held === undefined ? null : subscription(held))),
  };
  return { registration: { pushManager } as unknown as ServiceWorkerRegistration, calls, unsubscribe };
}

describe('subscribeWebPush', () => {
  let vapid: string;
  let keys: { p256dh: string; auth: string };

  beforeEach(async () => {
    vapid = (await subscriptionKeys()).p256dh;
    keys = await subscriptionKeys();
  });

  it('subscribes with userVisibleOnly and the VAPID key as bytes, and returns the WEB_PUSH channel', async () => {
    const { registration, calls } = fakeRegistration(keys);

    await expect(subscribeWebPush(registration, vapid)).resolves.toEqual({ type: 'WEB_PUSH', endpoint: 'https://push.example/send/xyz', keys });

    expect(calls).toHaveLength(1);
    expect(calls[0]?.userVisibleOnly).toBe(true);
    expect(calls[0]?.applicationServerKey).toEqual(vapidKeyBytes(vapid));
    expect(calls[0]?.applicationServerKey?.length).toBe(65);
  });

  it('replaces a subscription made for another (rotated) VAPID key', async () => {
    const old = vapidKeyBytes((await subscriptionKeys()).p256dh);
    const { registration, calls, unsubscribe } = fakeRegistration(keys, { existingKey: old });

    await expect(subscribeWebPush(registration, vapid)).resolves.toMatchObject({ type: 'WEB_PUSH' });
    expect(unsubscribe).toHaveBeenCalledTimes(1);
    expect(calls).toHaveLength(2);
  });

  it('maps a refused permission to PUSH_DENIED and other failures to PUSH_FAILED', async () => {
    await expect(subscribeWebPush(fakeRegistration(keys, { subscribeError: 'NotAllowedError' }).registration, vapid)).rejects.toMatchObject({ code: 'PUSH_DENIED' });
    await expect(subscribeWebPush(fakeRegistration(keys, { subscribeError: 'AbortError' }).registration, vapid)).rejects.toMatchObject({ code: 'PUSH_FAILED' });
    await expect(subscribeWebPush({} as ServiceWorkerRegistration, vapid)).rejects.toMatchObject({ code: 'NOT_SUPPORTED' });
  });

  it('refuses a VAPID key that is not a 65-byte uncompressed P-256 point', async () => {
    const { registration, calls } = fakeRegistration(keys);
    await expect(subscribeWebPush(registration, toBase64Url(new Uint8Array(33)))).rejects.toBeInstanceOf(TypeError);
    await expect(subscribeWebPush(registration, 'not base64url!')).rejects.toBeInstanceOf(TypeError);
    expect(calls).toHaveLength(0);
  });
});

describe('toPushChannel', () => {
  it('keeps only type, endpoint and keys of a Web Push subscription', async () => {
    const keys = await subscriptionKeys();
    expect(toPushChannel({ endpoint: 'https://push.example/1', expirationTime: 5, keys: { ...keys } })).toEqual({ type: 'WEB_PUSH', endpoint: 'https://push.example/1', keys });
  });
});
