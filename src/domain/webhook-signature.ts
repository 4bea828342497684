// Standard Webhooks signatures: HMAC-SHA256 over "id.timestamp.body" with a whsec_ secret.
import { constantTimeEqual, fromBase64, randomBytes, toBase64, utf8 } from './encoding';

const SECRET_PREFIX = 'whsec_';
/** Bytes of key material in a secret this service issues. */
export const WEBHOOK_SECRET_BYTES = 32;
/** How far a receiver lets webhook-timestamp drift from its clock before refusing a delivery. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

export interface WebhookMessage {
  /** The event id, sent as webhook-id and unchanged across retries. */
  id: string;
  /** Unix seconds, sent as webhook-timestamp. */
  timestamp: number;
  /** The exact body bytes sent, as a string. */
  body: string;
}

/** The HMAC key inside a `whsec_<base64>` secret; throws TypeError for anything else. */
function secretKey(secret: string): Uint8Array {
  if (!secret.startsWith(SECRET_PREFIX)) throw new TypeError('webhook secret must start with whsec_');
  const key = fromBase64(secret.slice(SECRET_PREFIX.length));
  if (key.length === 0) throw new TypeError('webhook secret is empty');
  return key;
}

function checkMessage(message: WebhookMessage): void {
  // The id and timestamp are delimited by '.', so neither may contain one or be ambiguous.
  if (message.id.length === 0 || message.id.includes('.')) throw new TypeError('webhook id must be non-empty without "."');
  if (!Number.isSafeInteger(message.timestamp) || message.timestamp < 0) {
    throw new TypeError('webhook timestamp must be whole Unix seconds');
  }
}

async function hmacSha256(key: Uint8Array, content: string): Promise<Uint8Array> {
  const cryptoKey = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, utf8(content)));
}

/** One `v1,<base64>` signature. */
export async function signWebhook(input: WebhookMessage & { secret: string }): Promise<string> {
  checkMessage(input);
  const mac = await hmacSha256(secretKey(input.secret), `${input.id}.${input.timestamp}.${input.body}`);
  return `v1,${toBase64(mac)}`;
}

/**
 * The webhook-signature header value: one signature per secret, space-separated, so during a
 * rotation receivers holding either the old or the new secret accept the delivery.
 */
export async function signatureHeader(secrets: readonly string[], message: WebhookMessage): Promise<string> {
  if (secrets.length === 0) throw new RangeError('at least one webhook secret is needed');
  const signatures = await Promise.all(secrets.map((secret) => signWebhook({ ...message, secret })));
  return signatures.join(' ');
}

/** A fresh `whsec_` secret with 32 random bytes of key. */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + toBase64(randomBytes(WEBHOOK_SECRET_BYTES));
}

/**
 * The receiver's side, for the demo receiver and tests: true when one v1 signature in `header`
 * matches one of `secrets` and the timestamp lies within the tolerance of `nowSeconds`.
 */
export async function verifyWebhook(input: WebhookMessage & {
  secrets: readonly string[];
  header: string;
  nowSeconds: number;
}): Promise<boolean> {
  // Standard Webhooks: refuse stale or future timestamps so a captured delivery cannot be replayed later.
  if (Math.abs(input.nowSeconds - input.timestamp) > WEBHOOK_TOLERANCE_SECONDS) return false;
  const offered: Uint8Array[] = [];
  for (const part of input.header.split(' ')) {
    const comma = part.indexOf(',');
    if (comma < 0 || part.slice(0, comma) !== 'v1') continue;
    try {
      offered.push(fromBase64(part.slice(comma + 1)));
    } catch {
      // A malformed entry is ignored like an unknown version; another may still match.
    }
  }
  let matched = false;
  for (const secret of input.secrets) {
    const expected = fromBase64((await signWebhook({ ...input, secret })).slice(3));
    for (const candidate of offered) matched = constantTimeEqual(candidate, expected) || matched;
  }
  return matched;
}
