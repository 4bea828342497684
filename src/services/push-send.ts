// Sending one push: Web Push (RFC 8030 + RFC 8291 aes128gcm + RFC 8292 VAPID), FCM HTTP v1, APNs token-based auth.
import { encryptNotification } from '@block65/webcrypto-web-push';
import { importJWK, importPKCS8, SignJWT } from 'jose';
import type { JWK } from 'jose';
import type { Bindings } from '../env';
import { utf8 } from '../domain/encoding';
import { classifyPushAnswer } from '../domain/push';
import type { PushChannel, PushMessage } from '../domain/push';
import { openFromStorage } from './stored-secrets';
import { getPushCredential } from '../storage/push';
import type { PushProvider } from '../storage/push';
import { keyState } from './keys';
import { vapidPublicKeyOf } from './push-channels';

/** One attempt's outcome: SENT, GONE (the channel is dead: forget it), RETRY (try later) or FAILED (give up). */
export interface SendOutcome {
  outcome: 'SENT' | 'GONE' | 'RETRY' | 'FAILED';
  /** The push service's status (e.g. "410") or what stopped the attempt (UNREACHABLE, CREDENTIALS_MISSING, …). */
  reason?: string;
}

/** What a send needs besides the channel: the message, how long it may wait, and what it replaces. */
export interface SendInput {
  tenantId: string;
  message: PushMessage;
  /** Seconds the push service may hold it (the operation's remaining lifetime). */
  ttlSeconds: number;
  /** Per operation: Web Push Topic, FCM collapse key, APNs collapse id. */
  collapseKey: string;
  /** The APNs expiration (epoch seconds). */
  expiresAtEpoch: number;
}

const ATTEMPT_TIMEOUT_MS = 10_000;

export async function sendPush(env: Bindings, channel: PushChannel, input: SendInput): Promise<SendOutcome> {
  try {
    if (channel.type === 'WEB_PUSH') return await sendWebPush(env, channel, input);
    if (channel.type === 'FCM') return await sendFcm(env, channel, input);
    return await sendApns(env, channel, input);
  } catch (error) {
    // A network failure or timeout: worth another try. The error text never carries the channel's keys or tokens.
    const reason = error instanceof Error && error.name === 'TimeoutError' ? 'TIMEOUT' : 'UNREACHABLE';
    return { outcome: 'RETRY', reason };
  }
}

function outcomeOf(status: number): SendOutcome {
  const outcome = classifyPushAnswer(status);
  return outcome === 'SENT' ? { outcome } : { outcome, reason: String(status) };
}

// ── Web Push ────────────────────────────────────────────────────────────────────────────────────────────────────

let vapidKey: { source: string; key: Promise<CryptoKey> } | undefined;

async function vapidSigningKey(source: string): Promise<CryptoKey> {
  if (vapidKey?.source !== source) {
    const [jwk] = JSON.parse(source) as JWK[];
    vapidKey = { source, key: importJWK({ ...jwk!, alg: 'ES256' }, 'ES256') as Promise<CryptoKey> };
  }
  return vapidKey.key;
}

async function sendWebPush(env: Bindings, channel: Extract<PushChannel, { type: 'WEB_PUSH' }>, input: SendInput): Promise<SendOutcome> {
  const keys = await keyState(env, 'VAPID_KEYS', { generate: false });
  if (keys.status !== 'configured' && keys.status !== 'generated') return { outcome: 'FAILED', reason: 'VAPID_KEYS_NOT_CONFIGURED' };
  const publicKey = vapidPublicKeyOf(keys.source);
  if (!publicKey) return { outcome: 'FAILED', reason: 'VAPID_KEYS_NOT_CONFIGURED' };
  const endpoint = new URL(channel.endpoint);
  // RFC 8292 §2: aud is the push resource's origin, exp at most 24 h ahead, sub a contact for the push service.
  const jwt = await new SignJWT({ sub: vapidSubject(env) })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .setAudience(endpoint.origin)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 12 * 3600)
    .sign(await vapidSigningKey(keys.source));
  // RFC 8291: the body is encrypted to the subscription's p256dh with its auth secret (padded, so its length says nothing).
  const body = await encryptNotification({ endpoint: channel.endpoint, expirationTime: null, keys: { p256dh: channel.p256dh, auth: channel.auth } }, utf8(JSON.stringify(input.message)));
  const response = await fetch(channel.endpoint, {
    method: 'POST',
    redirect: 'manual',
    signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    headers: {
      authorization: `vapid t=${jwt}, k=${publicKey}`,
      'content-encoding': 'aes128gcm',
      'content-type': 'application/octet-stream',
      ttl: String(input.ttlSeconds),
      urgency: 'high',
      topic: input.collapseKey,
    },
    body,
  });
  await response.body?.cancel();
  return outcomeOf(response.status);
}

function vapidSubject(env: Bindings): string {
  if (env.VAPID_SUBJECT) return env.VAPID_SUBJECT;
  return env.PUBLIC_URL && /^https:/.test(env.PUBLIC_URL) ? new URL(env.PUBLIC_URL).origin : 'mailto:operator@localhost';
}

// ── Tenant credentials for FCM and APNs ─────────────────────────────────────────────────────────────────────────

export interface FcmCredential {
  projectId: string;
  clientEmail: string;
  privateKey: string;
}

export interface ApnsCredential {
  teamId: string;
  keyId: string;
  topic: string;
  privateKey: string;
}

const credentialContext = (tenantId: string, provider: PushProvider): string => `custos push credential ${tenantId} ${provider}`;

/** The tenant's credential with its private part opened, and its version (the updated_at) for the token caches. */
async function credentialOf<T>(env: Bindings, tenantId: string, provider: PushProvider): Promise<{ value: T; version: string } | null> {
  const row = await getPushCredential(env.DB, tenantId, provider);
  if (!row) return null;
  // A key sealed under another WEBHOOK_SECRET_KEY (or none set) is as good as no credential.
  const secret = await openFromStorage(env, row.sealed, credentialContext(tenantId, provider)).catch(() => null);
  if (secret === null) return null;
  return { value: { ...(JSON.parse(row.public) as object), privateKey: secret } as T, version: row.updated_at };
}

export { credentialContext };

// ── FCM HTTP v1 ─────────────────────────────────────────────────────────────────────────────────────────────────

/** OAuth access tokens per tenant credential, reused until five minutes before they expire. */
const fcmTokens = new Map<string, { token: string; expiresAt: number }>();

async function fcmAccessToken(env: Bindings, tenantId: string, credential: FcmCredential, version: string): Promise<string | SendOutcome> {
  const cacheKey = `${tenantId}\n${version}`;
  const cached = fcmTokens.get(cacheKey);
  if (cached && cached.expiresAt - 300_000 > Date.now()) return cached.token;
  const tokenUrl = env.FCM_TOKEN_URL ?? 'https://oauth2.googleapis.com/token';
  const now = Math.floor(Date.now() / 1000);
  // RFC 7523 JWT bearer grant, as a Google service account does it: iss = the account, aud = the token endpoint.
  const assertion = await new SignJWT({ scope: 'https://www.googleapis.com/auth/firebase.messaging' })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuer(credential.clientEmail)
    .setAudience(tokenUrl)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(await importPKCS8(credential.privateKey, 'RS256'));
  const response = await fetch(tokenUrl, {
    method: 'POST',
    redirect: 'manual',
    signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
  });
  if (!response.ok) {
    await response.body?.cancel();
    return { outcome: response.status >= 500 ? 'RETRY' : 'FAILED', reason: `TOKEN_${response.status}` };
  }
  const answer = (await response.json()) as { access_token?: string; expires_in?: number };
  if (!answer.access_token) return { outcome: 'FAILED', reason: 'TOKEN_MALFORMED' };
  fcmTokens.set(cacheKey, { token: answer.access_token, expiresAt: Date.now() + (answer.expires_in ?? 3600) * 1000 });
  return answer.access_token;
}

async function sendFcm(env: Bindings, channel: Extract<PushChannel, { type: 'FCM' }>, input: SendInput): Promise<SendOutcome> {
  const credential = await credentialOf<FcmCredential>(env, input.tenantId, 'FCM');
  if (!credential) return { outcome: 'FAILED', reason: 'CREDENTIALS_MISSING' };
  const token = await fcmAccessToken(env, input.tenantId, credential.value, credential.version);
  if (typeof token !== 'string') return token;
  const { title, body } = nativeText(input.message);
  const base = env.FCM_ENDPOINT ?? 'https://fcm.googleapis.com';
  const response = await fetch(`${base}/v1/projects/${encodeURIComponent(credential.value.projectId)}/messages:send`, {
    method: 'POST',
    redirect: 'manual',
    signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      message: {
        token: channel.token,
        // FCM data values are strings. No sdk token: the app fetches the operation over the native protocol.
        data: nativeData(input.message),
        notification: { title, body },
        android: { priority: 'HIGH', ttl: `${input.ttlSeconds}s`, collapse_key: input.collapseKey, notification: { tag: input.message.operationId } },
      },
    }),
  });
  await response.body?.cancel();
  // FCM v1 answers 404 UNREGISTERED for a token that no longer exists.
  return outcomeOf(response.status);
}

// ── APNs ────────────────────────────────────────────────────────────────────────────────────────────────────────

/** Provider tokens per tenant credential: Apple wants one at most an hour old and refuses a new one per request. */
const apnsTokens = new Map<string, { jwt: string; issuedAt: number }>();
const APNS_TOKEN_REUSE_MS = 40 * 60 * 1000;

async function apnsProviderToken(tenantId: string, credential: ApnsCredential, version: string): Promise<string> {
  const cacheKey = `${tenantId}\n${version}`;
  const cached = apnsTokens.get(cacheKey);
  if (cached && Date.now() - cached.issuedAt < APNS_TOKEN_REUSE_MS) return cached.jwt;
  const issuedAt = Date.now();
  const jwt = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: credential.keyId })
    .setIssuer(credential.teamId)
    .setIssuedAt(Math.floor(issuedAt / 1000))
    .sign(await importPKCS8(credential.privateKey, 'ES256'));
  apnsTokens.set(cacheKey, { jwt, issuedAt });
  return jwt;
}

async function sendApns(env: Bindings, channel: Extract<PushChannel, { type: 'APNS' }>, input: SendInput): Promise<SendOutcome> {
  const credential = await credentialOf<ApnsCredential>(env, input.tenantId, 'APNS');
  if (!credential) return { outcome: 'FAILED', reason: 'CREDENTIALS_MISSING' };
  const jwt = await apnsProviderToken(input.tenantId, credential.value, credential.version);
  const base = env.APNS_ENDPOINT ?? (channel.environment === 'sandbox' ? 'https://api.sandbox.push.apple.com' : 'https://api.push.apple.com');
  const { title, body } = nativeText(input.message);
  const response = await fetch(`${base}/3/device/${channel.token}`, {
    method: 'POST',
    redirect: 'manual',
    signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    headers: {
      authorization: `bearer ${jwt}`,
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-expiration': String(input.expiresAtEpoch),
      'apns-collapse-id': input.collapseKey,
      'apns-topic': credential.value.topic,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ aps: { alert: { title, body }, sound: 'default', 'interruption-level': 'time-sensitive' }, ...nativeData(input.message) }),
  });
  // APNs: 410 Unregistered; 400 BadDeviceToken is a dead token too (other 400s are ours: given up, not retried).
  if (response.status === 400) {
    const reason = ((await response.json().catch(() => ({}))) as { reason?: unknown }).reason;
    return reason === 'BadDeviceToken' ? { outcome: 'GONE', reason: '400 BadDeviceToken' } : { outcome: 'FAILED', reason: `400 ${typeof reason === 'string' ? reason.slice(0, 40) : ''}`.trim() };
  }
  await response.body?.cancel();
  if (response.status === 403) {
    // A refused provider token (expired or revoked key): drop it from the cache so the next attempt signs a new one.
    apnsTokens.delete(`${input.tenantId}\n${credential.version}`);
    return { outcome: 'RETRY', reason: '403' };
  }
  return outcomeOf(response.status);
}

/** What FCM and APNs carry: ids only (no sdk token, no amounts); the app fetches the rest over the native protocol. */
function nativeData(message: PushMessage): Record<string, string> {
  return message.type === 'operation.pending'
    ? { type: message.type, operationId: message.operationId, tenantId: message.tenantId, operationType: message.operationType, expiresAt: message.expiresAt }
    : { type: message.type, operationId: message.operationId, tenantId: message.tenantId, status: message.status };
}

function nativeText(message: PushMessage): { title: string; body: string } {
  return message.type === 'operation.pending' ? { title: message.title, body: message.body } : { title: 'Request closed', body: `This request is ${message.status.toLowerCase()}.` };
}
