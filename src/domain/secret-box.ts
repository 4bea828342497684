// Seals secrets the service must read back (webhook signing secrets) with AES-256-GCM under an operator key.
import { fromB64url, fromBase64, toB64url, utf8 } from './encoding';

const SEALED_PREFIX = 'enc:v1:';
const KEY_BYTES = 32;
const IV_BYTES = 12;

/** True for a value produced by sealSecret (as opposed to a secret stored in the clear). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(SEALED_PREFIX);
}

/**
 * The AES-256-GCM key in `encoded` (32 bytes as base64 or base64url, e.g. `openssl rand -base64 32`).
 * Throws on anything else: a mistyped key must stop the deployment, not silently store secrets in the clear.
 */
export async function importSecretBoxKey(encoded: string): Promise<CryptoKey> {
  const text = encoded.trim();
  let bytes: Uint8Array;
  try {
    bytes = /[+/=]/.test(text) ? fromBase64(text) : fromB64url(text);
  } catch {
    throw new TypeError('WEBHOOK_SECRET_KEY is not base64');
  }
  if (bytes.length !== KEY_BYTES) throw new TypeError('WEBHOOK_SECRET_KEY must be 32 bytes');
  return crypto.subtle.importKey('raw', bytes, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

/**
 * `enc:v1:<iv>.<ciphertext>` (base64url). `context` is bound as additional data, so a sealed value
 * copied to another row (another tenant) does not open there.
 */
export async function sealSecret(key: CryptoKey, secret: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: utf8(context) }, key, utf8(secret));
  return `${SEALED_PREFIX}${toB64url(iv)}.${toB64url(new Uint8Array(sealed))}`;
}

/** Opens a value of sealSecret; throws when it was sealed under another key or context, or was altered. */
export async function openSecret(key: CryptoKey, stored: string, context: string): Promise<string> {
  if (!isSealed(stored)) throw new TypeError('not a sealed secret');
  const [iv, body, extra] = stored.slice(SEALED_PREFIX.length).split('.');
  if (iv === undefined || body === undefined || extra !== undefined) throw new TypeError('malformed sealed secret');
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: fromB64url(iv), additionalData: utf8(context) },
    key,
    fromB64url(body),
  );
  return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(plain);
}
