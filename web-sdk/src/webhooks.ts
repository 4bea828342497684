// Verifies Custos webhooks (Standard Webhooks signatures) with WebCrypto only, for any JS runtime.
import { base64ToBytes } from './base64.js';

export type WebhookEventType =
  | 'operation.completed'
  | 'operation.rejected'
  | 'operation.failed'
  | 'operation.cancelled'
  | 'operation.expired'
  | 'device.registered'
  | 'device.locked'
  | 'device.unlocked'
  | 'device.deactivated'
  | 'user.locked'
  | 'user.unlocked'
  | 'user.deactivated'
  | 'webhook.test';

export interface WebhookEvent<TData = Record<string, unknown>> {
  id: string;
  /** One of WebhookEventType; typed as string too so a newer event type does not break the build. */
  type: WebhookEventType | (string & {});
  timestamp: string;
  tenantId: string;
  data: TData;
}

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

const SECRET_PREFIX = 'whsec_';

function header(headers: Headers | Record<string, string>, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  // Plain objects come from frameworks that may or may not lower-case header names.
  for (const [key, value] of Object.entries(headers as Record<string, string>)) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

async function importSecret(secret: string): Promise<CryptoKey> {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const bytes = base64ToBytes(encoded);
  // A bad secret is a configuration error, not a forged request: say so loudly.
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

function parseEvent(rawBody: string, id: string): WebhookEvent {
  let event: unknown;
  try {
    event = JSON.parse(rawBody);
  } catch {
    throw new WebhookVerificationError('INVALID_PAYLOAD', 'The webhook body is not JSON');
  }
  const candidate = event as Partial<WebhookEvent> | null;
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
  secret: string | string[],
  headers: Headers | Record<string, string>,
  rawBody: string,
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

  const secrets = Array.isArray(secret) ? secret : [secret];
  if (secrets.length === 0) throw new TypeError('verifyWebhook needs at least one secret');
  const signedContent = new TextEncoder().encode(`${id}.${timestamp}.${rawBody}`);
  for (const candidate of secrets) {
    const key = await importSecret(candidate);
    const expected = new Uint8Array(await crypto.subtle.sign('HMAC', key, signedContent));
    if (signatures.some((signature) => constantTimeEqual(signature, expected))) return parseEvent(rawBody, id);
  }
  throw new WebhookVerificationError('INVALID_SIGNATURE', 'No webhook signature matches the secret');
}
