// Native-app protocol (docs/native-protocol.md): open request envelopes, check what they bind, seal replies. Pure: no bindings.
import { CompactEncrypt, compactDecrypt, compactVerify, decodeProtectedHeader, errors, importJWK } from 'jose';
import type { CompactJWEHeaderParameters } from 'jose';
import { fromB64url, hex } from './encoding';
import { isId } from './ids';
import { publicDeviceJwk } from './device-key';

export const JOSE_MEDIA_TYPE = 'application/jose';
/** Key management and content encryption of every envelope and every reply (RFC 7518 §4.6, §5.3). */
export const ENVELOPE_ALG = 'ECDH-ES+A256KW';
export const ENVELOPE_ENC = 'A256GCM';
/** The JWE carries a signed JWT (RFC 7519 §5.2). */
export const ENVELOPE_CTY = 'JWT';
export const REQUEST_TYPE = 'custos-request+jwt';
export const REPLY_CTY = 'json';
/** An envelope is accepted from iat − MAX_FUTURE_S to iat + MAX_AGE_S of server time. */
export const MAX_AGE_S = 60;
export const MAX_FUTURE_S = 10;
/** Compact envelopes are a few KiB; anything near this is not one. */
export const MAX_ENVELOPE_CHARS = 32 * 1024;
/** RFC 8176 methods a native app may report for its user verification. */
export const UV_METHODS = ['face', 'fpt', 'pin'] as const;
export type UvMethod = (typeof UV_METHODS)[number];

/** The problem codes an envelope can be refused with before it reaches the operation (nothing is written). */
export type EnvelopeCode =
  | 'ENVELOPE_MALFORMED'
  | 'E2E_KEY_UNKNOWN'
  | 'ENVELOPE_UNREADABLE'
  | 'DEVICE_SIGNATURE_INVALID'
  | 'ENVELOPE_STALE'
  | 'ENVELOPE_BINDING_MISMATCH';

export type Checked<T> = { ok: true; value: T } | { ok: false; code: EnvelopeCode; detail: string };

/** Who signed the inner JWS: a registered device (header `kid`) or a key being registered (header `jwk`). */
export type Signer = { kind: 'device'; deviceId: string } | { kind: 'new-key'; jwk: JsonWebKey };

export interface OpenedEnvelope {
  /** The inner compact JWS, still to be verified with the signer's key. */
  jws: string;
  /** The E2E key the envelope was encrypted to. */
  e2eKid: string;
  signer: Signer;
}

export interface RequestClaims {
  htm: string;
  htu: string;
  iat: number;
  jti: string;
  op: string;
  /** The ephemeral ECDH P-256 public key the reply is encrypted to. */
  rek: JsonWebKey;
  /** Registration only: base64url SHA-256 of the operation's sdk token (the activation code). */
  ath?: string;
  challenge?: string;
  uv?: string;
  numberMatch?: string;
}

const COMPACT_JWE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const JTI = /^[A-Za-z0-9_-]{16,128}$/;
const B64URL_SHA256 = /^[A-Za-z0-9_-]{43}$/;

function refused<T>(code: EnvelopeCode, detail: string): Checked<T> {
  return { ok: false, code, detail };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Decrypts a request envelope with the E2E private key its `kid` names and reads the signer from the
 * inner JWS header. The signature is not checked here: the caller finds the key first.
 */
export async function decryptEnvelope(jwe: string, keyring: ReadonlyMap<string, CryptoKey>): Promise<Checked<OpenedEnvelope>> {
  if (jwe.length > MAX_ENVELOPE_CHARS || !COMPACT_JWE.test(jwe)) return refused('ENVELOPE_MALFORMED', 'The body is not a compact JWE.');
  let header: CompactJWEHeaderParameters;
  try {
    header = decodeProtectedHeader(jwe) as CompactJWEHeaderParameters;
  } catch {
    return refused('ENVELOPE_MALFORMED', 'The JWE protected header is not readable.');
  }
  // RFC 8725 §3.1: the algorithms are fixed, never taken from the message.
  // RFC 7515 §4.1.10: cty is a media type, compared without regard to case.
  if (header.alg !== ENVELOPE_ALG || header.enc !== ENVELOPE_ENC || header.cty?.toUpperCase() !== ENVELOPE_CTY || 'zip' in header) {
    return refused('ENVELOPE_MALFORMED', `The envelope must be alg ${ENVELOPE_ALG}, enc ${ENVELOPE_ENC}, cty ${ENVELOPE_CTY}, without zip.`);
  }
  if (typeof header.kid !== 'string' || header.kid.length === 0) return refused('ENVELOPE_MALFORMED', 'The envelope names no E2E key (kid).');
  const key = keyring.get(header.kid);
  if (!key) return refused('E2E_KEY_UNKNOWN', 'The envelope is encrypted to a key this service does not hold; fetch /sdk/v1/config again.');
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(jwe, key, { keyManagementAlgorithms: [ENVELOPE_ALG], contentEncryptionAlgorithms: [ENVELOPE_ENC] }));
  } catch (error) {
    // RFC 7516 §11.5: every integrity failure (ciphertext, tag, IV, encrypted key, protected header) looks the same.
    if (error instanceof errors.JWEDecryptionFailed) return refused('ENVELOPE_UNREADABLE', 'The envelope does not decrypt.');
    return refused('ENVELOPE_MALFORMED', 'The envelope is not a valid JWE.');
  }
  let jws: string;
  try {
    jws = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(plaintext);
  } catch {
    return refused('ENVELOPE_MALFORMED', 'The envelope does not hold a compact JWS.');
  }
  if (!COMPACT_JWS.test(jws)) return refused('ENVELOPE_MALFORMED', 'The envelope does not hold a compact JWS.');
  let inner: Record<string, unknown>;
  try {
    inner = decodeProtectedHeader(jws) as Record<string, unknown>;
  } catch {
    return refused('ENVELOPE_MALFORMED', 'The inner JWS header is not readable.');
  }
  if (inner.alg !== 'ES256' || inner.typ !== REQUEST_TYPE) return refused('ENVELOPE_MALFORMED', `The inner JWS must be ES256 with typ ${REQUEST_TYPE}.`);
  // Exactly one way to name the key: a registered device (kid) or the key being registered (jwk).
  if (('kid' in inner) === ('jwk' in inner)) return refused('ENVELOPE_MALFORMED', 'The inner JWS header carries exactly one of kid and jwk.');
  if (typeof inner.kid === 'string') {
    if (!isId(inner.kid, 'dev')) return refused('DEVICE_SIGNATURE_INVALID', 'The inner JWS names no device.');
    return { ok: true, value: { jws, e2eKid: header.kid, signer: { kind: 'device', deviceId: inner.kid } } };
  }
  const jwk = publicDeviceJwk(inner.jwk);
  if (!jwk) return refused('ENVELOPE_MALFORMED', 'The inner JWS jwk must be a P-256 public key.');
  return { ok: true, value: { jws, e2eKid: header.kid, signer: { kind: 'new-key', jwk } } };
}

/**
 * Verifies the inner JWS with the signer's key and checks what it binds: method, URL, operation,
 * freshness and the reply key. The jti is checked for shape here; its single use is the caller's job.
 */
export async function verifyRequest(
  jws: string,
  key: JsonWebKey,
  expected: { method: string; url: string; operationId: string; now: number },
): Promise<Checked<RequestClaims>> {
  let payload: Uint8Array;
  try {
    const publicKey = await importJWK({ ...key, alg: 'ES256' }, 'ES256');
    ({ payload } = await compactVerify(jws, publicKey, { algorithms: ['ES256'] }));
  } catch {
    return refused('DEVICE_SIGNATURE_INVALID', 'The inner JWS does not verify with the device key.');
  }
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(payload));
  } catch {
    return refused('ENVELOPE_MALFORMED', 'The inner JWS payload is not JSON.');
  }
  if (!isRecord(claims)) return refused('ENVELOPE_MALFORMED', 'The inner JWS payload is not a JSON object.');
  // RFC 9449 §4.3 (as for DPoP): the request is bound to its method, URL and operation.
  if (claims.htm !== expected.method || claims.htu !== expected.url || claims.op !== expected.operationId) {
    return refused('ENVELOPE_BINDING_MISMATCH', 'The envelope was made for another request.');
  }
  // Replay window: only fresh envelopes, so remembered jtis can be forgotten after MAX_AGE_S.
  if (typeof claims.iat !== 'number' || !Number.isInteger(claims.iat) || claims.iat > expected.now + MAX_FUTURE_S || claims.iat < expected.now - MAX_AGE_S) {
    return refused('ENVELOPE_STALE', 'The envelope iat is outside the accepted window.');
  }
  if (typeof claims.jti !== 'string' || !JTI.test(claims.jti)) return refused('ENVELOPE_MALFORMED', 'jti must be 16–128 base64url characters.');
  const rek = publicDeviceJwk(claims.rek);
  if (!rek) return refused('ENVELOPE_MALFORMED', 'rek must be a P-256 public JWK.');
  for (const name of ['ath', 'challenge', 'uv', 'numberMatch'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') return refused('ENVELOPE_MALFORMED', `${name} must be a string.`);
  }
  return {
    ok: true,
    value: {
      htm: claims.htm as string, htu: claims.htu as string, iat: claims.iat, jti: claims.jti, op: claims.op as string, rek,
      ...(typeof claims.ath === 'string' ? { ath: claims.ath } : {}),
      ...(typeof claims.challenge === 'string' ? { challenge: claims.challenge } : {}),
      ...(typeof claims.uv === 'string' ? { uv: claims.uv } : {}),
      ...(typeof claims.numberMatch === 'string' ? { numberMatch: claims.numberMatch } : {}),
    },
  };
}

/** The sdk-token hash (lowercase hex, as stored) that an `ath` claim stands for, or null when it is not one. */
export function tokenHashOfAth(ath: string | undefined): string | null {
  if (ath === undefined || !B64URL_SHA256.test(ath)) return null;
  try {
    return hex(fromB64url(ath));
  } catch {
    return null;
  }
}

/** Fixed key-management inputs, for the published test vectors only; production replies use fresh randomness. */
export interface VectorInputs {
  epk: CryptoKey;
  cek: Uint8Array;
  iv: Uint8Array;
}

/**
 * Seals a reply body to the request's reply key. Only the holder of the E2E private key learned `rek`
 * (it travelled inside the request envelope), so a reply that decrypts also comes from the service.
 */
export async function sealReply(body: unknown, rek: JsonWebKey, vector?: VectorInputs): Promise<string> {
  const key = await importJWK({ kty: 'EC', crv: 'P-256', x: rek.x, y: rek.y }, ENVELOPE_ALG);
  const jwe = new CompactEncrypt(new TextEncoder().encode(JSON.stringify(body))).setProtectedHeader({ alg: ENVELOPE_ALG, enc: ENVELOPE_ENC, cty: REPLY_CTY });
  if (vector) jwe.setKeyManagementParameters({ epk: vector.epk }).setContentEncryptionKey(vector.cek).setInitializationVector(vector.iv);
  return jwe.encrypt(key);
}

/** Why a native approval does not count (recorded in the audit trail; the caller only sees VERIFICATION_FAILED). */
export type ApprovalFailure = 'NATIVE_SIGNATURE_INVALID' | 'NATIVE_OPERATION_MISMATCH' | 'CHALLENGE_MISMATCH' | 'UV_MISSING';

/**
 * The operation's own check of a native approval: the JWS verifies with the key it trusts, names
 * this operation and its challenge, and reports a user verification method.
 */
export async function verifyApproval(input: {
  jws: string;
  jwk: JsonWebKey;
  operationId: string;
  challenge: string;
}): Promise<{ ok: true; uv: UvMethod } | { ok: false; reason: ApprovalFailure }> {
  let claims: Record<string, unknown>;
  try {
    const key = await importJWK({ ...input.jwk, alg: 'ES256' }, 'ES256');
    const { payload, protectedHeader } = await compactVerify(input.jws, key, { algorithms: ['ES256'] });
    if (protectedHeader.typ !== REQUEST_TYPE) return { ok: false, reason: 'NATIVE_SIGNATURE_INVALID' };
    const parsed = JSON.parse(new TextDecoder().decode(payload)) as unknown;
    if (!isRecord(parsed)) return { ok: false, reason: 'NATIVE_SIGNATURE_INVALID' };
    claims = parsed;
  } catch {
    return { ok: false, reason: 'NATIVE_SIGNATURE_INVALID' };
  }
  if (claims.op !== input.operationId) return { ok: false, reason: 'NATIVE_OPERATION_MISMATCH' };
  // PSD2 RTS art. 5(1)(b): the device signed this operation's challenge, which links amount and payee.
  if (claims.challenge !== input.challenge) return { ok: false, reason: 'CHALLENGE_MISMATCH' };
  // PSD2 RTS art. 4: every operation needs user verification; the app reports how it was done.
  if (!UV_METHODS.includes(claims.uv as UvMethod)) return { ok: false, reason: 'UV_MISSING' };
  return { ok: true, uv: claims.uv as UvMethod };
}

/** True for `application/jose` (with or without parameters). */
export function isJoseMediaType(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/jose\s*(;.*)?$/i.test(contentType.trim());
}
