// A local Web Push service on 127.0.0.1 for the e2e tests: it plays Google's/Mozilla's push service, hands out
// subscriptions whose keys the test holds, checks each push's VAPID JWT (RFC 8292) against the Custos config's key,
// and decrypts the aes128gcm body (RFC 8188/8291) with http_ece and the subscription's private key.
import { createECDH, randomBytes, type ECDH } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { importJWK, jwtVerify, type JWTPayload } from 'jose';

interface Ece {
  decrypt(buffer: Buffer, params: { version: 'aes128gcm'; privateKey: ECDH; authSecret: Buffer }): Buffer;
}
// http_ece is CommonJS without types: the one call used is typed above.
const ece = createRequire(import.meta.url)('http_ece') as Ece;

/** What the page's patched pushManager.subscribe hands out: the endpoint here and keys the test generated. */
export interface TestSubscription {
  endpoint: string;
  expirationTime: null;
  keys: { p256dh: string; auth: string };
}

/** One request the push service received, with what it verified. */
export interface ReceivedPush {
  path: string;
  at: number;
  /** The RFC 8030 headers as sent. */
  ttl: number;
  topic: string | undefined;
  urgency: string | undefined;
  contentEncoding: string | undefined;
  /** The verified VAPID JWT claims and the `k` of the Authorization header. */
  vapid: { claims: JWTPayload; k: string; header: Record<string, unknown> } | undefined;
  /** The decrypted body, parsed as JSON. */
  payload: Record<string, unknown> | undefined;
  /** The decrypted body as text: what the test hands the service worker. */
  text: string | undefined;
  /** Why the request was refused (then it was answered 400/401/404), or undefined. */
  error: string | undefined;
}

export interface PushService {
  origin: string;
  /** A fresh subscription (new P-256 key pair and auth secret) for an endpoint of this service. */
  subscription(): TestSubscription;
  received: ReceivedPush[];
  /** Waits for a push (accepted or refused) that `accept` picks, newer than `since` (ms). */
  next(accept: (push: ReceivedPush) => boolean, timeout?: number): Promise<ReceivedPush>;
  /** Makes the service answer this status to every push to `path` (e.g. 410: the subscription is gone), or undefined. */
  answerWith(path: string, status: number | undefined): void;
  close(): Promise<void>;
}

const DAY_S = 24 * 60 * 60;

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** The VAPID public key (65-byte uncompressed point, base64url) as a JWK, to verify the JWT with. */
async function vapidKey(k: string): Promise<CryptoKey | Uint8Array> {
  const point = Buffer.from(k, 'base64url');
  if (point.length !== 65 || point[0] !== 0x04) throw new Error(`k is not a 65-byte P-256 point (${point.length} bytes)`);
  const jwk = { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') };
  return importJWK(jwk, 'ES256') as Promise<CryptoKey>;
}

/**
 * Starts the service. `expectedVapidKey` is the config's `webPush.vapidPublicKey`; a push signed with another key, a
 * JWT with a wrong `aud`, an `exp` more than 24 h ahead, or no `sub` is refused (401) and recorded with its reason.
 */
export async function startPushService(expectedVapidKey: () => string | undefined): Promise<PushService> {
  const keys = new Map<string, { ecdh: ECDH; auth: Buffer }>();
  const overrides = new Map<string, number>();
  const received: ReceivedPush[] = [];
  const waiters = new Set<() => void>();
  let origin = '';
  let counter = 0;

  const server: Server = createServer(async (request, response) => {
    const path = new URL(request.url ?? '/', origin).pathname;
    const body = await readBody(request);
    const header = (name: string): string | undefined => {
      const value = request.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const push: ReceivedPush = {
      path,
      at: Date.now(),
      ttl: Number(header('ttl')),
      topic: header('topic'),
      urgency: header('urgency'),
      contentEncoding: header('content-encoding'),
      vapid: undefined,
      payload: undefined,
      text: undefined,
      error: undefined,
    };
    let status = 201;
    try {
      const subscription = keys.get(path);
      if (request.method !== 'POST' || subscription === undefined) {
        status = 404;
        throw new Error(`no subscription at ${request.method} ${path}`);
      }
      status = 401;
      const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header('authorization') ?? '');
      if (!match) throw new Error(`Authorization is not "vapid t=…, k=…": ${header('authorization')}`);
      const [, jwt, k] = match as unknown as [string, string, string];
      const expected = expectedVapidKey();
      if (k !== expected) throw new Error(`k ${k} is not the config's vapidPublicKey ${expected}`);
      const { payload: claims, protectedHeader } = await jwtVerify(jwt, await vapidKey(k), { algorithms: ['ES256'], audience: origin });
      const now = Math.floor(Date.now() / 1000);
      if (typeof claims.exp !== 'number' || claims.exp > now + DAY_S) throw new Error(`exp must be at most 24 h ahead: ${claims.exp} (now ${now})`);
      if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) throw new Error(`sub must be a mailto: or https: contact: ${claims.sub}`);
      push.vapid = { claims, k, header: protectedHeader as Record<string, unknown> };
      status = 400;
      if (push.contentEncoding !== 'aes128gcm') throw new Error(`Content-Encoding ${push.contentEncoding}, not aes128gcm`);
      if (!Number.isInteger(push.ttl) || push.ttl < 0) throw new Error(`TTL ${header('ttl')} is not a number of seconds`);
      const plain = ece.decrypt(body, { version: 'aes128gcm', privateKey: subscription.ecdh, authSecret: subscription.auth });
      push.text = plain.toString('utf8');
      push.payload = JSON.parse(push.text) as Record<string, unknown>;
      status = overrides.get(path) ?? 201;
    } catch (error) {
      push.error = error instanceof Error ? error.message : String(error);
    }
    received.push(push);
    for (const wake of waiters) wake();
    response.writeHead(status, { 'content-type': 'text/plain' });
    response.end(push.error ?? '');
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    received,
    subscription() {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16);
      const path = `/push/${++counter}-${randomBytes(6).toString('hex')}`;
      keys.set(path, { ecdh, auth });
      return { endpoint: `${origin}${path}`, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } };
    },
    answerWith(path, status) {
      if (status === undefined) overrides.delete(path);
      else overrides.set(path, status);
    },
    next(accept, timeout = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = received.find(accept);
          if (found === undefined) return false;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(found);
          return true;
        };
        const wake = (): void => void check();
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`no matching push within ${timeout} ms; received: ${JSON.stringify(received.map(({ path, error, payload }) => ({ path, error, payload })))}`));
        }, timeout);
        waiters.add(wake);
        check();
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
