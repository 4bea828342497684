// Private JWK sets (SIGNING_KEYS, E2E_KEYS, VAPID_KEYS): what a valid one looks like, and a fresh one for local development.
import type { JWK } from 'jose';

export type KeySetKind = 'SIGNING_KEYS' | 'E2E_KEYS' | 'VAPID_KEYS';

/** Why a configured key set cannot be used, or null when it can: each entry a P-256 private JWK with a kid. */
export function keySetProblem(kind: KeySetKind, source: string): string | null {
  let keys: unknown;
  try {
    keys = JSON.parse(source);
  } catch {
    return `${kind} is not valid JSON`;
  }
  if (!Array.isArray(keys) || keys.length === 0) return `${kind} must be a non-empty JSON array of private JWKs`;
  for (const key of keys as JWK[]) {
    if (!key || typeof key !== 'object' || !key.kid || key.kty !== 'EC' || key.crv !== 'P-256' || !key.d || !key.x || !key.y) {
      return `each key in ${kind} must be a P-256 private JWK with a kid`;
    }
  }
  return null;
}

/** A fresh one-key set of the given kind, as JSON, dated in its kid so a rotation later sorts after it. */
export async function generateKeySet(kind: KeySetKind, now: Date): Promise<string> {
  // VAPID (RFC 8292) keys sign too: the push service checks an ES256 JWT.
  const signing = kind === 'SIGNING_KEYS' || kind === 'VAPID_KEYS';
  const pair = (await crypto.subtle.generateKey(
    signing ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'ECDH', namedCurve: 'P-256' },
    true,
    signing ? ['sign', 'verify'] : ['deriveBits'],
  )) as CryptoKeyPair;
  const { key_ops: _ops, ext: _ext, ...jwk } = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JWK;
  const stamp = now.toISOString().slice(0, 10);
  const suffix = crypto.getRandomValues(new Uint8Array(4)).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '');
  const key = kind === 'VAPID_KEYS'
    ? { ...jwk, kid: `local-vapid-${stamp}-${suffix}`, alg: 'ES256', use: 'sig' }
    : signing
    ? { ...jwk, kid: `local-sig-${stamp}-${suffix}`, alg: 'ES256', use: 'sig' }
    : { ...jwk, kid: `local-e2e-${stamp}-${suffix}`, alg: 'ECDH-ES+A256KW', use: 'enc' };
  return JSON.stringify([key]);
}
