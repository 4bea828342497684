// Device keys: the P-256 key a device binds at registration (API.md §2) and later proves possession of.
import { compactVerify, importJWK } from 'jose';

export type DeviceKeyCheck = { ok: true; jwk: JsonWebKey } | { ok: false; reason: string };

/** A P-256 public JWK with nothing but kty, crv, x, y (a private `d` is refused, never stored). */
export function publicDeviceJwk(jwk: unknown): JsonWebKey | null {
  if (!jwk || typeof jwk !== 'object') return null;
  const k = jwk as Record<string, unknown>;
  if (k.kty !== 'EC' || k.crv !== 'P-256' || typeof k.x !== 'string' || typeof k.y !== 'string' || 'd' in k) return null;
  if (!/^[A-Za-z0-9_-]{43}$/.test(k.x) || !/^[A-Za-z0-9_-]{43}$/.test(k.y)) return null;
  return { kty: 'EC', crv: 'P-256', x: k.x, y: k.y };
}

/**
 * Verifies `deviceSignature`: a compact ES256 JWS by the offered key over
 * `{ operationId, challenge }`, which proves the device holds the private key of this very ceremony.
 */
export async function verifyDeviceBinding(input: { jwk: unknown; jws: unknown; operationId: string; challenge: string }): Promise<DeviceKeyCheck> {
  const jwk = publicDeviceJwk(input.jwk);
  if (!jwk) return { ok: false, reason: 'deviceKey must be a P-256 public JWK' };
  if (typeof input.jws !== 'string' || input.jws.length > 4096) return { ok: false, reason: 'deviceSignature must be a compact JWS' };
  try {
    const key = await importJWK({ ...jwk, alg: 'ES256' }, 'ES256');
    const { payload, protectedHeader } = await compactVerify(input.jws, key, { algorithms: ['ES256'] });
    if (protectedHeader.alg !== 'ES256') return { ok: false, reason: 'alg must be ES256' };
    const claims = JSON.parse(new TextDecoder().decode(payload)) as { operationId?: unknown; challenge?: unknown };
    // Binds the key to this operation and its challenge: a signature from another ceremony is refused.
    if (claims.operationId !== input.operationId || claims.challenge !== input.challenge) return { ok: false, reason: 'signature is for another operation' };
    return { ok: true, jwk };
  } catch {
    return { ok: false, reason: 'deviceSignature does not verify' };
  }
}
