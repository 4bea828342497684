// The console's check of a result token, as docs/verifying-tokens.md asks a relying party to make it. Kept free of the
// DOM so the workers tests run the very code the page runs (test/console/operations.test.ts).
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';

export interface Expected {
  /** The service's public base URL (PUBLIC_URL). */
  issuer: string;
  /** The tenant id. */
  audience: string;
  /** The operation the page shows: the token's jti must name it. */
  operationId: string;
}

export type Verdict = { ok: true; kid: string; text: string } | { ok: false; text: string };

/**
 * ES256 only, typ custos-result+jwt, iss, aud and jti, against the published keys. The token has no exp by design (a
 * record of consent), so its issue time is shown instead of an expiry check.
 */
export async function verdictOf(token: string, jwks: JSONWebKeySet, expected: Expected): Promise<Verdict> {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
      algorithms: ['ES256'], typ: 'custos-result+jwt', issuer: expected.issuer, audience: expected.audience,
    });
    if (payload.jti !== expected.operationId) throw new Error(`the token names operation ${String(payload.jti)}, not this one`);
    const kid = protectedHeader.kid ?? '(no kid)';
    const issued = typeof payload.iat === 'number' ? `, issued ${new Date(payload.iat * 1000).toISOString()}` : '';
    return { ok: true, kid, text: `Signature verified with key ${kid} (ES256, from /.well-known/jwks.json): issuer ${expected.issuer}, audience ${expected.audience}, operation ${expected.operationId}${issued}.` };
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? `${String(error.code)}: ` : '';
    return { ok: false, text: `NOT verified: ${code}${error instanceof Error ? error.message : String(error)}` };
  }
}
