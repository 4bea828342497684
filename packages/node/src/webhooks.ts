// Verifies Custos webhooks (Standard Webhooks signatures) with WebCrypto only, and types the events they carry.
import { base64ToBytes } from './base64.js';

type OperationType = 'REGISTRATION' | 'AUTHENTICATION' | 'AUTHORISATION' | 'SIGNATURE';

/** `data` of the operation.* events (docs/webhooks.md, "Event types"). */
export interface OperationEventData {
  operationId: string;
  type: OperationType;
  status: 'COMPLETED' | 'REJECTED' | 'FAILED' | 'CANCELLED' | 'EXPIRED';
  userId: string;
  deviceId?: string;
  failure?: { code: string };
}

export interface DeviceEventData {
  deviceId: string;
  userId: string;
  status: string;
  lockReason?: string;
}

export interface UserEventData {
  userId: string;
  status: string;
  lockReason?: string;
}

/** Each event type and the shape of its `data`; unknown `data` members may appear and are to be ignored. */
export interface WebhookEventDataMap {
  'operation.completed': OperationEventData & { status: 'COMPLETED'; deviceId: string };
  'operation.rejected': OperationEventData & { status: 'REJECTED' };
  'operation.failed': OperationEventData & { status: 'FAILED'; failure: { code: string } };
  'operation.cancelled': OperationEventData & { status: 'CANCELLED'; failure: { code: string } };
  'operation.expired': OperationEventData & { status: 'EXPIRED'; failure: { code: string } };
  'device.registered': { deviceId: string; userId: string; kind: string; operationId: string };
  'device.locked': DeviceEventData & { lockReason: string };
  'device.unlocked': DeviceEventData;
  'device.deactivated': DeviceEventData;
  'user.locked': UserEventData & { lockReason: string };
  'user.unlocked': UserEventData;
  'user.deactivated': UserEventData;
  'webhook.test': { message: string; requestedBy: string };
}

export type WebhookEventType = keyof WebhookEventDataMap;

/** One event of type `T`. */
export interface WebhookEventOf<T extends WebhookEventType> {
  id: string;
  type: T;
  timestamp: string;
  tenantId: string;
  data: WebhookEventDataMap[T];
}

/**
 * A verified event, discriminated on `type`: `switch (event.type)` narrows `data`. The union names the
 * types this package version knows; a newer Custos may send others, which arrive as they are, so
 * keep a `default:` branch that ignores them.
 */
export type WebhookEvent = { [T in WebhookEventType]: WebhookEventOf<T> }[WebhookEventType];

export type WebhookVerificationReason =
  | 'MISSING_HEADERS'
  | 'INVALID_TIMESTAMP'
  | 'TIMESTAMP_TOO_OLD'
  | 'TIMESTAMP_TOO_NEW'
  | 'INVALID_SIGNATURE'
  | 'INVALID_PAYLOAD';

export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
  readonly reason: WebhookVerificationReason;

  constructor(reason: WebhookVerificationReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface VerifyWebhookOptions {
  /** How far webhook-timestamp may be from now, either way; 300 s as Standard Webhooks advises. */
  toleranceSeconds?: number;
  /** The current time, for tests. */
  now?: Date;
}

/** Header sources: a Fetch `Headers`, or a framework's plain object (Node's `req.headers`, with arrays for repeats). */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

/** The raw body exactly as received: text, or bytes (a Node `Buffer` is a `Uint8Array`). */
export type WebhookBody = string | Uint8Array | ArrayBuffer;

const SECRET_PREFIX = 'whsec_';

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  // Plain objects come from frameworks that may or may not lower-case header names.
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() !== name) continue;
    // Node joins repeated headers into an array; Fetch's Headers joins them with ", ".
    return Array.isArray(value) ? value.join(', ') : value;
  }
  return undefined;
}

// The key type is left to inference: naming CryptoKey would tie the package's types to the DOM lib.
async function importSecret(secret: string) {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const bytes = base64ToBytes(encoded);
  // A bad secret is a configuration error, not a forged request: say so loudly, without echoing it.
  if (bytes === undefined || bytes.length === 0) throw new TypeError('The webhook secret is not a whsec_<base64> value');
  return crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

/** Compares in time that depends only on the lengths, so a forger learns nothing from timing. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return difference === 0;
}

function bodyBytes(body: WebhookBody): Uint8Array {
  if (typeof body === 'string') return new TextEncoder().encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

function parseEvent(raw: Uint8Array, id: string): WebhookEvent {
  let event: unknown;
  try {
    // fatal: a body that is not UTF-8 is not a Custos event, rather than one with replacement characters.
    event = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(raw));
  } catch {
    throw new WebhookVerificationError('INVALID_PAYLOAD', 'The webhook body is not JSON');
  }
  const candidate = event as Partial<Record<keyof WebhookEventOf<WebhookEventType>, unknown>> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.id !== 'string' ||
    typeof candidate.type !== 'string' ||
    typeof candidate.timestamp !== 'string' ||
    typeof candidate.tenantId !== 'string' ||
    typeof candidate.data !== 'object' ||
    candidate.data === null
  ) {
    throw new WebhookVerificationError('INVALID_PAYLOAD', 'The webhook body is not a Custos event');
  }
  // API.md §3: webhook-id is the event's id; a mismatch means the body is not the one this id names.
  if (candidate.id !== id) throw new WebhookVerificationError('INVALID_PAYLOAD', 'The webhook-id does not match the event id');
  return candidate as WebhookEvent;
}

/**
 * Checks a webhook per Standard Webhooks and returns its event. `secret` may list several secrets,
 * as during a rotation; any one of them signing any one `v1` signature in the header passes.
 * Pass the body exactly as received: re-serialised JSON will not verify.
 */
export async function verifyWebhook(
  secret: string | readonly string[],
  headers: WebhookHeaders,
  rawBody: WebhookBody,
  options: VerifyWebhookOptions = {},
): Promise<WebhookEvent> {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatureHeader = header(headers, 'webhook-signature');
  if (id === undefined || timestamp === undefined || signatureHeader === undefined) {
    throw new WebhookVerificationError('MISSING_HEADERS', 'webhook-id, webhook-timestamp and webhook-signature are required');
  }

  if (!/^\d{1,15}$/.test(timestamp)) throw new WebhookVerificationError('INVALID_TIMESTAMP', 'webhook-timestamp is not a Unix time');
  const tolerance = options.toleranceSeconds ?? 300;
  const nowSeconds = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const sentSeconds = Number(timestamp);
  // Standard Webhooks: a bounded timestamp keeps a captured request from being replayed later.
  if (sentSeconds < nowSeconds - tolerance) throw new WebhookVerificationError('TIMESTAMP_TOO_OLD', 'The webhook is too old');
  if (sentSeconds > nowSeconds + tolerance) throw new WebhookVerificationError('TIMESTAMP_TOO_NEW', 'The webhook is from the future');

  const signatures: Uint8Array[] = [];
  for (const entry of signatureHeader.split(' ')) {
    const [version, value] = entry.split(',', 2);
    // Other versions (v1a: asymmetric) are not what Custos sends; ignoring them lets both coexist.
    if (version !== 'v1' || value === undefined) continue;
    const bytes = base64ToBytes(value);
    if (bytes !== undefined) signatures.push(bytes);
  }

  const secrets: readonly string[] = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0) throw new TypeError('verifyWebhook needs at least one secret');
  // The signed content is "id.timestamp." followed by the body's own bytes, never a re-encoding of them.
  const body = bodyBytes(rawBody);
  const prefix = new TextEncoder().encode(`${id}.${timestamp}.`);
  const signedContent = new Uint8Array(prefix.length + body.length);
  signedContent.set(prefix);
  signedContent.set(body, prefix.length);
  for (const candidate of secrets) {
    const key = await importSecret(candidate);
    const expected = new Uint8Array(await crypto.subtle.sign('HMAC', key, signedContent));
    if (signatures.some((signature) => constantTimeEqual(signature, expected))) return parseEvent(body, id);
  }
  throw new WebhookVerificationError('INVALID_SIGNATURE', 'No webhook signature matches the secret');
}
