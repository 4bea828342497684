// Byte encodings, hashing and comparison on WebCrypto only, shared by the domain modules.

const B64URL_PATTERN = /^[A-Za-z0-9_-]*$/;
const B64_PATTERN = /^[A-Za-z0-9+/]*={0,2}$/;

const utf8Encoder = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

function bytesToBinary(bytes: Uint8Array): string {
  // Chunked so a large buffer never exceeds the engine's argument limit.
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return binary;
}

function binaryToBytes(binary: string): Uint8Array {
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Standard base64 with padding (RFC 4648 §4), as Standard Webhooks uses. */
export function toBase64(bytes: Uint8Array): string {
  return btoa(bytesToBinary(bytes));
}

/** Decodes standard padded base64; throws TypeError on a foreign character or a bad length. */
export function fromBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0 || !B64_PATTERN.test(text)) {
    throw new TypeError('invalid base64');
  }
  return binaryToBytes(atob(text));
}

/** base64url without padding (RFC 4648 §5), as WebAuthn and JOSE use. */
export function toB64url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Decodes unpadded base64url; throws TypeError on padding, foreign characters or an impossible
 * length, so two different strings never decode to the same bytes by accident of leniency.
 */
export function fromB64url(text: string): Uint8Array {
  if (!B64URL_PATTERN.test(text) || text.length % 4 === 1) {
    throw new TypeError('invalid base64url');
  }
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  const bytes = binaryToBytes(atob(padded));
  // Non-zero trailing bits would let several strings map to one value.
  if (toB64url(bytes) !== text) throw new TypeError('invalid base64url');
  return bytes;
}

/** Lowercase hex. */
export function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/**
 * Compares two byte strings in time that depends only on their lengths; lengths are not secret
 * here (digests and tokens have fixed sizes), so a length mismatch answers false at once.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** SHA-256 digest. */
export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

/** n bytes from the platform CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 65536) throw new RangeError('randomBytes: n must be 0..65536');
  return crypto.getRandomValues(new Uint8Array(n));
}
