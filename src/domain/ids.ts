// Prefixed, time-ordered, unguessable ids: 48-bit millisecond time + 128 random bits, base32.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lowercase

export type IdPrefix = 'ten' | 'cli' | 'usr' | 'dev' | 'op' | 'evt' | 'aud' | 'whd' | 'adm';

function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** A new id such as `usr_01jd…`: sorting ids sorts by creation time, and 128 bits stay random. */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  const bytes = new Uint8Array(22);
  let t = now;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = t % 256;
    t = Math.floor(t / 256);
  }
  crypto.getRandomValues(bytes.subarray(6));
  return `${prefix}_${base32(bytes)}`;
}

/** The smallest id of `prefix` created at or after `at` (ms): a range bound on an id index that stands for a time. */
export function idFloor(prefix: IdPrefix, at: number): string {
  const bytes = new Uint8Array(22);
  let t = Math.max(0, Math.floor(at));
  for (let i = 5; i >= 0; i--) {
    bytes[i] = t % 256;
    t = Math.floor(t / 256);
  }
  return `${prefix}_${base32(bytes)}`;
}

const ID_PATTERN = /^[a-z]{2,3}_[0-9a-hjkmnp-tv-z]{36}$/;

export function isId(value: string, prefix: IdPrefix): boolean {
  return value.startsWith(`${prefix}_`) && ID_PATTERN.test(value);
}
