// The tenant E2E key pairs for native devices (ECDH-ES+A256KW): configured as private JWKs, newest first.
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
