// A webhook receiver for the tests, run in Node as the workers' outbound service: it records each request's exact bytes and answers from a script.
//
// Hosts (all reached by the worker's and the tests' own fetch):
//   https://hooks.receiver.example/<bin>/…          records the request, answers the bin's next scripted reply (default 200)
//   PUT  https://control.receiver.example/bins/<bin>/script   body: [{ status, headers?, body?, delayMs? }, …]
//   GET  https://control.receiver.example/bins/<bin>/requests  the recorded requests, oldest first
//   POST https://control.receiver.example/push/<bin>/subscription   body: { vapidPublicKey }
//        makes a Web Push subscriber (P-256 key + auth secret) and answers its { endpoint, keys: { p256dh, auth } }
//   https://push.receiver.example/<bin>/…          a Web Push service: checks the VAPID JWT (RFC 8292) against the
//        expected key, decrypts the aes128gcm body (RFC 8291) with http_ece and records both; answers the script (default 201)
//   https://fcm.receiver.example, https://apns.receiver.example: FCM HTTP v1 (+ its OAuth token endpoint) and APNs, recorded
// Any other host is passed through to the network, as without an outbound service.
import { createECDH, createPublicKey, randomBytes, verify } from 'node:crypto';
import ece from 'http_ece';

export const RECEIVER_HOST = 'hooks.receiver.example';
export const CONTROL_HOST = 'control.receiver.example';
export const PUSH_HOST = 'push.receiver.example';
export const FCM_HOST = 'fcm.receiver.example';
export const APNS_HOST = 'apns.receiver.example';

/** Web Push subscribers per bin: the ECDH key and auth secret a browser would hold, and the VAPID key it subscribed with. */
const subscribers = new Map();

/** @type {Map<string, { script: Array<{ status: number, headers?: Record<string, string>, body?: string, delayMs?: number }>, requests: unknown[] }>} */
const bins = new Map();

function bin(name) {
  let found = bins.get(name);
  if (!found) {
    found = { script: [], requests: [] };
    bins.set(name, found);
  }
  return found;
}

async function control(request, url) {
  const push = /^\/push\/([A-Za-z0-9_-]{1,64})\/subscription$/.exec(url.pathname);
  if (push && request.method === 'POST') {
    const { vapidPublicKey } = JSON.parse(await request.text());
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    subscribers.set(push[1], { ecdh, auth, vapidPublicKey });
    const body = { endpoint: `https://${PUSH_HOST}/${push[1]}/send`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } };
    return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
  }
  const match = /^\/bins\/([A-Za-z0-9_-]{1,64})\/(script|requests)$/.exec(url.pathname);
  if (!match) return new Response('unknown control path', { status: 404 });
  const target = bin(match[1]);
  if (match[2] === 'script' && request.method === 'PUT') {
    target.script = JSON.parse(await request.text());
    return new Response(null, { status: 204 });
  }
  if (match[2] === 'requests' && request.method === 'GET') {
    return new Response(JSON.stringify(target.requests), { headers: { 'content-type': 'application/json' } });
  }
  return new Response('method not allowed', { status: 405 });
}

async function receive(request, url) {
  const name = url.pathname.split('/')[1] ?? '';
  const target = bin(name);
  const bytes = Buffer.from(await request.arrayBuffer());
  target.requests.push({
    method: request.method,
    url: request.url,
    headers: [...request.headers],
    bodyBase64: bytes.toString('base64'),
    receivedAt: Date.now(),
  });
  const reply = target.script.shift() ?? { status: 200 };
  if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
  return new Response(reply.body ?? null, { status: reply.status, headers: reply.headers ?? {} });
}

/** RFC 8292 §2–3: `vapid t=<JWT>, k=<key>`; the JWT is ES256 by k, aud = this origin, exp within 24 h, sub given. */
function checkVapid(authorization, expectedKey, origin) {
  const m = /^vapid t=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/.exec(authorization ?? '');
  if (!m) return { ok: false, reason: 'no vapid authorization' };
  const [, jwt, k] = m;
  if (k !== expectedKey) return { ok: false, reason: 'k is not the key the subscription was made with' };
  const point = Buffer.from(k, 'base64url');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') }, format: 'jwk' });
  const [h, p, sig] = jwt.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  if (header.alg !== 'ES256') return { ok: false, reason: 'alg is not ES256' };
  if (!verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'))) return { ok: false, reason: 'signature does not verify' };
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  if (claims.aud !== origin) return { ok: false, reason: `aud ${claims.aud} is not ${origin}` };
  if (typeof claims.exp !== 'number' || claims.exp <= now || claims.exp > now + 24 * 3600) return { ok: false, reason: 'exp is not within 24 h' };
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) return { ok: false, reason: 'sub is not a mailto: or https: contact' };
  return { ok: true, claims };
}

async function pushService(request, url) {
  const name = url.pathname.split('/')[1] ?? '';
  const target = bin(`push-${name}`);
  const bytes = Buffer.from(await request.arrayBuffer());
  const subscriber = subscribers.get(name);
  const vapid = subscriber ? checkVapid(request.headers.get('authorization'), subscriber.vapidPublicKey, url.origin) : { ok: false, reason: 'no such subscription' };
  let plaintext = null;
  let decryptError = null;
  if (subscriber && request.headers.get('content-encoding') === 'aes128gcm') {
    try {
      plaintext = ece.decrypt(bytes, { version: 'aes128gcm', privateKey: subscriber.ecdh, authSecret: subscriber.auth }).toString('utf8');
    } catch (error) {
      decryptError = String(error);
    }
  }
  target.requests.push({ method: request.method, url: request.url, headers: [...request.headers], bodyBase64: bytes.toString('base64'), receivedAt: Date.now(), vapid, plaintext, decryptError });
  const reply = target.script.shift() ?? { status: 201 };
  if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
  return new Response(reply.body ?? null, { status: reply.status, headers: reply.headers ?? {} });
}

/** FCM (its OAuth token endpoint answers a token) and APNs: recorded in bins `fcm` / `apns`, answered from their scripts. */
async function nativePush(request, url, name) {
  const target = bin(name);
  const bytes = Buffer.from(await request.arrayBuffer());
  target.requests.push({ method: request.method, url: request.url, headers: [...request.headers], bodyBase64: bytes.toString('base64'), receivedAt: Date.now() });
  if (name === 'fcm' && url.pathname === '/token') {
    return new Response(JSON.stringify({ access_token: `ya29.test-${target.requests.length}`, expires_in: 3599, token_type: 'Bearer' }), { headers: { 'content-type': 'application/json' } });
  }
  const reply = target.script.shift() ?? { status: 200, body: name === 'fcm' ? '{"name":"projects/p/messages/1"}' : undefined };
  return new Response(reply.body ?? null, { status: reply.status, headers: reply.headers ?? {} });
}

/** The miniflare `outboundService` handler. */
export async function webhookReceiver(request) {
  const url = new URL(request.url);
  if (url.hostname === CONTROL_HOST) return control(request, url);
  if (url.hostname === RECEIVER_HOST) return receive(request, url);
  if (url.hostname === PUSH_HOST) return pushService(request, url);
  if (url.hostname === FCM_HOST) return nativePush(request, url, 'fcm');
  if (url.hostname === APNS_HOST) return nativePush(request, url, 'apns');
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  return fetch(request.url, {
    method: request.method,
    headers: request.headers,
    redirect: 'manual',
    ...(hasBody ? { body: await request.arrayBuffer() } : {}),
  });
}
