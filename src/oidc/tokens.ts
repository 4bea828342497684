// The JWTs of the CIBA front door: ID tokens and access tokens it signs (the result-token keys), and the ones it verifies.
import { createLocalJWKSet, errors, jwtVerify, SignJWT } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import { publicJwks, signingKeys } from '../domain/result-token';

/** ID tokens live an hour, so one can come back as an id_token_hint while it is still valid. */
export const ID_TOKEN_TTL_SECONDS = 3600;
export const ACCESS_TOKEN_TTL_SECONDS = 300;
export const AUTH_REQ_ID_CLAIM = 'urn:openid:params:jwt:claim:auth_req_id';
/** The Custos result token (the device's signed evidence) carried in the ID token. */
export const RESULT_TOKEN_CLAIM = 'custos_result_token';

export interface IdTokenClaims {
  issuer: string;
  clientId: string;
  userId: string;
  authTime: number;
  acr: string;
  amr: string[];
  authReqId: string;
  resultToken: string;
  authorizationDetails?: unknown[];
  issuedAt: number;
}

async function currentKey(source: string): Promise<{ kid: string; privateKey: CryptoKey }> {
  const [current] = await signingKeys(source);
  if (!current) throw new Error('no signing key');
  return current;
}

/** OIDC Core §2 with CIBA Core §10.3.1's auth_req_id claim; signed ES256 with the kid the JWKS publishes. */
export async function signIdToken(source: string, claims: IdTokenClaims): Promise<string> {
  const key = await currentKey(source);
  return new SignJWT({
    auth_time: claims.authTime, acr: claims.acr, amr: claims.amr, [AUTH_REQ_ID_CLAIM]: claims.authReqId, [RESULT_TOKEN_CLAIM]: claims.resultToken,
    ...(claims.authorizationDetails ? { authorization_details: claims.authorizationDetails } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .setIssuer(claims.issuer)
    .setSubject(claims.userId)
    .setAudience(claims.clientId)
    .setIssuedAt(claims.issuedAt)
    .setExpirationTime(claims.issuedAt + ID_TOKEN_TTL_SECONDS)
    .sign(key.privateKey);
}

/** RFC 9068 access token: Custos runs no resource server, so it is a signed statement the RP's own APIs may check with the JWKS. */
export async function signAccessToken(source: string, claims: { issuer: string; clientId: string; userId: string; scope: string; issuedAt: number; authorizationDetails?: unknown[] }): Promise<string> {
  const key = await currentKey(source);
  return new SignJWT({ client_id: claims.clientId, scope: claims.scope, ...(claims.authorizationDetails ? { authorization_details: claims.authorizationDetails } : {}) })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' })
    .setIssuer(claims.issuer)
    .setSubject(claims.userId)
    .setAudience(claims.clientId)
    .setJti(crypto.randomUUID())
    .setIssuedAt(claims.issuedAt)
    .setExpirationTime(claims.issuedAt + ACCESS_TOKEN_TTL_SECONDS)
    .sign(key.privateKey);
}

export type Verified = { ok: true; payload: JWTPayload } | { ok: false; expired: boolean };

/** An ID token this issuer signed for this client (CIBA Core §7.1 id_token_hint): signature, typ, iss, aud, exp. */
export async function verifyIdTokenHint(source: string, token: string, expected: { issuer: string; clientId: string; now?: Date }): Promise<Verified> {
  const keys = createLocalJWKSet(await publicJwks(source));
  try {
    const { payload } = await jwtVerify(token, keys, {
      algorithms: ['ES256'], issuer: expected.issuer, audience: expected.clientId, typ: 'JWT', requiredClaims: ['sub', 'exp', 'iat'],
      ...(expected.now ? { currentDate: expected.now } : {}),
    });
    return { ok: true, payload };
  } catch (error) {
    return { ok: false, expired: error instanceof errors.JWTExpired };
  }
}

/**
 * A JWT the client signed with a key of its registered JWK set: a private_key_jwt client assertion (RFC 7523 §3)
 * or a login_hint_token. `audience` lists what the client may name as aud (the issuer and its endpoints).
 */
export async function verifyClientJwt(jwks: string, token: string, expected: { clientId: string; audience: string[]; subject?: string; now?: Date }): Promise<Verified> {
  let keys: ReturnType<typeof createLocalJWKSet>;
  try {
    keys = createLocalJWKSet(JSON.parse(jwks) as { keys: JWK[] });
  } catch {
    return { ok: false, expired: false };
  }
  try {
    const { payload } = await jwtVerify(token, keys, {
      algorithms: ['ES256'], issuer: expected.clientId, audience: expected.audience, requiredClaims: ['exp'],
      ...(expected.subject ? { subject: expected.subject } : {}),
      ...(expected.now ? { currentDate: expected.now } : {}),
    });
    return { ok: true, payload };
  } catch (error) {
    return { ok: false, expired: error instanceof errors.JWTExpired };
  }
}
