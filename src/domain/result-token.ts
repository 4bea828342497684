// Result tokens: ES256 JWTs (typ custos-result+jwt) that prove a user's consent; keys imported once per isolate.
import { importJWK, SignJWT } from 'jose';
import type { JWK } from 'jose';

export const RESULT_TOKEN_TYPE = 'custos-result+jwt';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

let cached: { source: string; keys: Promise<SigningKey[]> } | undefined;

async function importKeys(source: string): Promise<SigningKey[]> {
  const jwks = JSON.parse(source) as JWK[];
  if (!Array.isArray(jwks) || jwks.length === 0) throw new Error('SIGNING_KEYS must be a non-empty JSON array of private JWKs');
  return Promise.all(
    jwks.map(async (jwk) => {
      if (!jwk.kid || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d) throw new Error('each signing key is a P-256 private JWK with a kid');
      const privateKey = (await importJWK({ ...jwk, alg: 'ES256' }, 'ES256')) as CryptoKey;
      const { d: _d, key_ops: _ops, ext: _ext, ...rest } = jwk;
      return { kid: jwk.kid, privateKey, publicJwk: { ...rest, alg: 'ES256', use: 'sig' } };
    }),
  );
}

/** The configured keys, newest first; parsed and imported once per isolate, not per request. */
export function signingKeys(source: string | undefined): Promise<SigningKey[]> {
  if (!source) return Promise.reject(new Error('SIGNING_KEYS is not configured (npm run dev generates it into .dev.vars)'));
  if (cached?.source !== source) cached = { source, keys: importKeys(source) };
  return cached.keys;
}

/** JWKS: the current key and the previous ones still inside their verification window. */
export async function publicJwks(source: string | undefined): Promise<{ keys: JWK[] }> {
  return { keys: (await signingKeys(source)).map((k) => k.publicJwk) };
}

export interface ResultClaims {
  issuer: string;
  tenantId: string;
  userId: string;
  operationId: string;
  operationType: string;
  deviceId: string;
  amr: string[];
  txn?: unknown;
  doc?: unknown;
  /** The context the user was shown (title, text, completedText, locale). */
  ctx?: unknown;
  evidence: Record<string, unknown>;
  issuedAt: number;
}

export async function signResultToken(source: string | undefined, claims: ResultClaims): Promise<string> {
  const [current] = await signingKeys(source);
  if (!current) throw new Error('no signing key');
  return new SignJWT({
    op: claims.operationType,
    device: claims.deviceId,
    amr: claims.amr,
    ...(claims.txn !== undefined ? { txn: claims.txn } : {}),
    ...(claims.doc !== undefined ? { doc: claims.doc } : {}),
    ...(claims.ctx !== undefined ? { ctx: claims.ctx } : {}),
    evidence: claims.evidence,
  })
    .setProtectedHeader({ alg: 'ES256', kid: current.kid, typ: RESULT_TOKEN_TYPE })
    .setIssuer(claims.issuer)
    .setAudience(claims.tenantId)
    .setSubject(claims.userId)
    .setJti(claims.operationId)
    .setIssuedAt(claims.issuedAt)
    .sign(current.privateKey);
}
