// The tenant E2E key pairs for native devices (ECDH-ES+A256KW): configured as private JWKs, newest first.
import { importJWK } from 'jose';
import type { JWK } from 'jose';

/** The current E2E public key (with kid) that native apps encrypt to, or null when none is configured. */
export async function e2ePublicKey(source: string | undefined): Promise<JWK | null> {
  if (!source) return null;
  const keys = JSON.parse(source) as JWK[];
  const current = keys[0];
  if (!current) return null;
  const { d: _d, key_ops: _ops, ext: _ext, ...publicJwk } = current;
  return { ...publicJwk, use: 'enc', alg: 'ECDH-ES+A256KW' };
}

let cached: { source: string; ring: Promise<ReadonlyMap<string, CryptoKey>> } | undefined;

async function importRing(source: string): Promise<ReadonlyMap<string, CryptoKey>> {
  const jwks = JSON.parse(source) as JWK[];
  if (!Array.isArray(jwks)) throw new Error('E2E_KEYS must be a JSON array of private JWKs');
  const entries = await Promise.all(
    jwks.map(async (jwk): Promise<[string, CryptoKey]> => {
      if (!jwk.kid || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d) throw new Error('each E2E key is a P-256 private JWK with a kid');
      const { key_ops: _ops, ext: _ext, use: _use, ...rest } = jwk;
      return [jwk.kid, (await importJWK({ ...rest, alg: 'ECDH-ES+A256KW' }, 'ECDH-ES+A256KW')) as CryptoKey];
    }),
  );
  return new Map(entries);
}

/**
 * Every configured E2E private key by kid: the newest is the one /sdk/v1/config hands out; older ones keep
 * opening envelopes from apps that still hold them, until the operator drops them from E2E_KEYS.
 * Imported once per isolate, not per request.
 */
export function e2eKeyring(source: string | undefined): Promise<ReadonlyMap<string, CryptoKey>> {
  if (!source) return Promise.resolve(new Map());
  if (cached?.source !== source) cached = { source, ring: importRing(source) };
  return cached.ring;
}
