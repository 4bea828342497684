// Verifies a Custos result token as docs/verifying-tokens.md describes: the JWT against the JWKS, then the device's own evidence offline.
import canonicalize from 'canonicalize';
import { compactVerify, createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWK, JWTVerifyGetKey, JWTPayload } from 'jose';
import { base64UrlToBytes, bytesToHex } from './base64.js';
import { CborError, decodeCbor } from './cbor.js';

export const RESULT_TOKEN_TYPE = 'custos-result+jwt';
/** The typ of the JWS a native device signs at finish (docs/native-protocol.md §6). */
export const NATIVE_REQUEST_TYPE = 'custos-request+jwt';

export type ResultOperationType = 'REGISTRATION' | 'AUTHENTICATION' | 'AUTHORISATION' | 'SIGNATURE';

export interface ResultTransaction {
  amount: string;
  currency: string;
  payee: { name: string; account?: string; [member: string]: unknown };
  reference?: string;
  [member: string]: unknown;
}

/** What a passkey signed for AUTHENTICATION, AUTHORISATION and SIGNATURE; binary fields base64url. */
export interface PasskeyAssertionEvidence {
  credentialId: string;
  publicKeyJwk: JWK;
  authenticatorData: string;
  clientDataJSON: string;
  /** ASN.1 DER for ECDSA keys. */
  signature: string;
}

/** A passkey REGISTRATION: `none` attestation, so it proves the new key under this ceremony's challenge. */
export interface PasskeyRegistrationEvidence {
  credentialId: string;
  publicKeyJwk: JWK;
  attestationObject: string;
  clientDataJSON: string;
}

/** A native device's answer: its bound key and the compact JWS of its finish request. */
export interface NativeEvidence {
  deviceKeyJwk: JWK;
  jws: string;
}

export type ResultEvidence = PasskeyAssertionEvidence | PasskeyRegistrationEvidence | NativeEvidence;

/** The claims of a result token (docs/verifying-tokens.md, "The token"). */
export interface ResultTokenClaims extends JWTPayload {
  iss: string;
  aud: string;
  /** The user id. */
  sub: string;
  /** The operation id. */
  jti: string;
  iat: number;
  op: ResultOperationType;
  /** The device id. */
  device: string;
  amr: string[];
  txn?: ResultTransaction | { transactions: ResultTransaction[] };
  doc?: { title?: string; mimeType: string; sha256: string };
  evidence: ResultEvidence;
}

export type ResultTokenErrorReason =
  /** jwksUrl could not be fetched or is not a JWKS. */
  | 'JWKS_UNAVAILABLE'
  /** No key in the JWKS has the token's kid (a retired key, or another service). */
  | 'NO_MATCHING_KEY'
  /** Not a compact JWS with a JSON payload, or a required claim is missing or of the wrong type. */
  | 'MALFORMED_TOKEN'
  /** The alg is not ES256. */
  | 'ALGORITHM_NOT_ALLOWED'
  /** Custos's signature does not verify: the token was altered, or signed by another key. */
  | 'SIGNATURE_INVALID'
  /** iss, aud or typ is not the expected one (`claim` names which). */
  | 'CLAIM_INVALID'
  /** Older than maxTokenAge. */
  | 'TOKEN_TOO_OLD'
  /** jti (or the native JWS's op) is not the operation expected. */
  | 'OPERATION_MISMATCH'
  /** The evidence is missing, of the wrong kind for the operation type, or undecodable. */
  | 'EVIDENCE_MALFORMED'
  /** clientDataJSON.type is not webauthn.get (assertions) / webauthn.create (registrations), or the native JWS has the wrong typ. */
  | 'EVIDENCE_TYPE_MISMATCH'
  /** The device's signature does not verify with the key in the evidence. */
  | 'EVIDENCE_SIGNATURE_INVALID'
  /** The registration's attested credential is not the credentialId/publicKeyJwk the token names. */
  | 'EVIDENCE_KEY_MISMATCH'
  /** The challenge does not commit to the token's txn or doc (PSD2 RTS art. 5). */
  | 'LINKING_MISMATCH'
  /** The authenticator did not report user presence and verification, or the native device no uv method. */
  | 'USER_NOT_VERIFIED'
  /** clientDataJSON.origin is not one of `rp.origins`. */
  | 'ORIGIN_MISMATCH'
  /** authenticatorData's rpIdHash is not SHA-256 of one of `rp.rpId`. */
  | 'RP_ID_MISMATCH'
  /** The evidence's key is not the pinned `deviceKey`. */
  | 'DEVICE_KEY_MISMATCH';

/** Why a result token was refused; `reason` is stable, the message is for people. */
export class ResultTokenError extends Error {
  override name = 'ResultTokenError';
  readonly reason: ResultTokenErrorReason;
  /** For CLAIM_INVALID and MALFORMED_TOKEN: the claim at fault, when known. */
  readonly claim: string | undefined;

  constructor(reason: ResultTokenErrorReason, message: string, options: { claim?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.claim = options.claim;
  }
}

export interface RelyingPartyScope {
  /** Your tenant's rpId, and the service host's for passkeys registered in the authenticator app (`rpScope: 'service'`). */
  rpId: string | readonly string[];
  /** The origins the passkey may have been used on (the tenant's `origins`, and PUBLIC_URL for the app). */
  origins: readonly string[];
}

export interface VerifyResultTokenOptions {
  /** The deployment's PUBLIC_URL, e.g. `https://custos.example.com`. */
  issuer: string;
  /** Your tenant id (`ten_…`). */
  audience: string;
  /** A JWKS you hold (kept for archival checks, or fetched yourself). One of `jwks` and `jwksUrl` is needed. */
  jwks?: JSONWebKeySet;
  /** `{issuer}/.well-known/jwks.json`: fetched once, cached, and fetched again for an unknown kid. */
  jwksUrl?: string | URL;
  /** The operation you started: the token's jti must be it. */
  operationId?: string;
  /** How old a token may be at receipt: seconds or a jose time span (`'5m'`). Tokens carry no exp. */
  maxTokenAge?: string | number;
  /** The time to check against, for tests and archival verification. */
  currentDate?: Date;
  /** When given, also checks where a passkey was used: clientDataJSON.origin and the rpIdHash. */
  rp?: RelyingPartyScope;
  /** The device key you pinned from this device's REGISTRATION token: the evidence must carry the same key. */
  deviceKey?: JWK;
}

export type VerifyResultEvidenceOptions = Pick<VerifyResultTokenOptions, 'rp' | 'deviceKey'>;

const OPERATION_TYPES: readonly string[] = ['REGISTRATION', 'AUTHENTICATION', 'AUTHORISATION', 'SIGNATURE'];
const NATIVE_UV_METHODS: readonly string[] = ['face', 'fpt', 'pin'];
// WebAuthn §6.1 authenticator data flags.
const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

/** WebCrypto's key type, named without the DOM lib so the package's types also hold for Node-only projects. */
type CryptoKeyOf<F extends (algorithm: never, key: never, ...rest: never[]) => unknown> = Parameters<F>[1];

// Remote key sets by URL, so every call for one deployment shares one cache and one refetch policy.
const remoteKeySets = new Map<string, JWTVerifyGetKey>();

function keySet(options: VerifyResultTokenOptions): JWTVerifyGetKey {
  if (options.jwks) return createLocalJWKSet(options.jwks);
  if (options.jwksUrl === undefined) throw new TypeError('verifyResultToken needs jwks or jwksUrl');
  const url = new URL(options.jwksUrl);
  let set = remoteKeySets.get(url.href);
  if (set === undefined) {
    set = createRemoteJWKSet(url);
    remoteKeySets.set(url.href, set);
  }
  return set;
}

/** jose's error codes mapped to ours, so callers can branch on one stable vocabulary. */
function fromJose(error: unknown, remote: boolean): ResultTokenError {
  const code = (error as { code?: unknown } | null)?.code;
  const claim = (error as { claim?: unknown } | null)?.claim;
  const message = error instanceof Error ? error.message : 'token refused';
  const withClaim = { cause: error, ...(typeof claim === 'string' ? { claim } : {}) };
  switch (code) {
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return new ResultTokenError('NO_MATCHING_KEY', 'No key in the JWKS matches the token', { cause: error });
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new ResultTokenError('SIGNATURE_INVALID', 'The token signature does not verify', { cause: error });
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new ResultTokenError('ALGORITHM_NOT_ALLOWED', 'The token is not ES256', { cause: error });
    case 'ERR_JWT_EXPIRED':
      return new ResultTokenError('TOKEN_TOO_OLD', 'The token is older than maxTokenAge', withClaim);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return new ResultTokenError('CLAIM_INVALID', message, withClaim);
    case 'ERR_JWKS_INVALID':
    case 'ERR_JWKS_TIMEOUT':
      return new ResultTokenError('JWKS_UNAVAILABLE', 'The JWKS could not be loaded', { cause: error });
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return new ResultTokenError('MALFORMED_TOKEN', message, { cause: error });
    default:
      // createRemoteJWKSet lets network failures through as they are (TypeError from fetch, or a status error).
      if (remote && (error instanceof TypeError || code === 'ERR_JOSE_GENERIC')) return new ResultTokenError('JWKS_UNAVAILABLE', 'The JWKS could not be loaded', { cause: error });
      return new ResultTokenError('MALFORMED_TOKEN', message, { cause: error });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The claims every result token has, checked for shape so the typed result is not a promise we cannot keep. */
function checkClaims(payload: JWTPayload): ResultTokenClaims {
  const strings = ['sub', 'jti', 'device'] as const;
  for (const name of strings) {
    if (typeof payload[name] !== 'string') throw new ResultTokenError('MALFORMED_TOKEN', `The token has no ${name}`, { claim: name });
  }
  if (typeof payload.iat !== 'number') throw new ResultTokenError('MALFORMED_TOKEN', 'The token has no iat', { claim: 'iat' });
  if (typeof payload.op !== 'string' || !OPERATION_TYPES.includes(payload.op)) throw new ResultTokenError('MALFORMED_TOKEN', 'The token has no known op', { claim: 'op' });
  if (!Array.isArray(payload.amr)) throw new ResultTokenError('MALFORMED_TOKEN', 'The token has no amr', { claim: 'amr' });
  if (!isRecord(payload.evidence)) throw new ResultTokenError('MALFORMED_TOKEN', 'The token has no evidence', { claim: 'evidence' });
  return payload as ResultTokenClaims;
}

function bytesOf(evidence: Record<string, unknown>, name: string): Uint8Array<ArrayBuffer> {
  const value = evidence[name];
  const bytes = typeof value === 'string' ? base64UrlToBytes(value) : undefined;
  if (bytes === undefined) throw new ResultTokenError('EVIDENCE_MALFORMED', `evidence.${name} is not base64url`);
  return bytes;
}

async function sha256(data: Uint8Array<ArrayBuffer> | string): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** WebAuthn ECDSA signatures are ASN.1 DER; WebCrypto wants the raw r ‖ s (IEEE P1363), each 32 bytes for P-256. */
export function derToRaw(der: Uint8Array): Uint8Array<ArrayBuffer> {
  const fail = (why: string): never => {
    throw new ResultTokenError('EVIDENCE_MALFORMED', `evidence.signature: ${why}`);
  };
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) fail('not a DER SEQUENCE');
  const raw = new Uint8Array(64);
  let offset = 2;
  for (const half of [0, 32]) {
    if (der[offset] !== 0x02) fail('not a DER INTEGER');
    const length = der[offset + 1] ?? 0;
    if (offset + 2 + length > der.length) fail('INTEGER runs past the end');
    let int = der.subarray(offset + 2, offset + 2 + length);
    offset += 2 + length;
    while (int.length > 32 && int[0] === 0) int = int.subarray(1); // drop the sign-padding zero
    if (int.length > 32) fail('integer too long for P-256');
    raw.set(int, half + 32 - int.length);
  }
  if (offset !== der.length) fail('trailing bytes');
  return raw;
}

/** What the challenge must commit to (docs/verifying-tokens.md): txn for AUTHORISATION, doc for SIGNATURE, nothing otherwise. */
async function checkLinking(claims: ResultTokenClaims, challenge: Uint8Array): Promise<void> {
  if (claims.op !== 'AUTHORISATION' && claims.op !== 'SIGNATURE') return;
  const bound = claims.op === 'AUTHORISATION' ? claims.txn : claims.doc;
  if (bound === undefined) throw new ResultTokenError('LINKING_MISMATCH', `An ${claims.op} token without ${claims.op === 'AUTHORISATION' ? 'txn' : 'doc'} links to nothing`);
  // PSD2 RTS art. 5: challenge = random(32) ‖ SHA-256(JCS(what the user saw)).
  const canonical = canonicalize(bound);
  if (challenge.length !== 64 || canonical === undefined || !equalBytes(challenge.subarray(32), await sha256(canonical))) {
    throw new ResultTokenError('LINKING_MISMATCH', 'The signed challenge does not link to the token\'s transaction/document');
  }
}

/** The members that make a public key the key it is; key_ops, alg, ext and kid may differ between exports. */
function sameKey(a: JWK, b: JWK): boolean {
  const members = a.kty === 'RSA' ? (['kty', 'n', 'e'] as const) : (['kty', 'crv', 'x', 'y'] as const);
  return members.every((member) => a[member] !== undefined && a[member] === b[member]);
}

function checkPinned(key: JWK, options: VerifyResultEvidenceOptions): void {
  if (options.deviceKey && !sameKey(options.deviceKey, key)) throw new ResultTokenError('DEVICE_KEY_MISMATCH', 'The evidence carries another key than the pinned device key');
}

interface ClientData {
  type: string;
  challenge: string;
  origin: string;
}

function parseClientData(bytes: Uint8Array): ClientData {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw new ResultTokenError('EVIDENCE_MALFORMED', 'evidence.clientDataJSON is not JSON');
  }
  if (!isRecord(parsed) || typeof parsed.type !== 'string' || typeof parsed.challenge !== 'string' || typeof parsed.origin !== 'string') {
    throw new ResultTokenError('EVIDENCE_MALFORMED', 'evidence.clientDataJSON lacks type, challenge or origin');
  }
  return parsed as unknown as ClientData;
}

/** WebAuthn §7.1 steps 9 and 14–15 / §7.2 steps 13 and 15–17: the origin, the rpId and the UP and UV flags. */
async function checkScopeAndFlags(clientData: ClientData, authData: Uint8Array, options: VerifyResultEvidenceOptions): Promise<void> {
  if (authData.length < 37) throw new ResultTokenError('EVIDENCE_MALFORMED', 'authenticator data is shorter than 37 bytes');
  if (options.rp) {
    if (!options.rp.origins.includes(clientData.origin)) throw new ResultTokenError('ORIGIN_MISMATCH', `The passkey was used on ${clientData.origin}`);
    const rpIds = typeof options.rp.rpId === 'string' ? [options.rp.rpId] : options.rp.rpId;
    const rpIdHash = authData.subarray(0, 32);
    let matched = false;
    for (const rpId of rpIds) if (equalBytes(rpIdHash, await sha256(rpId))) matched = true;
    if (!matched) throw new ResultTokenError('RP_ID_MISMATCH', 'The passkey belongs to another rpId');
  }
  const flags = authData[32] ?? 0;
  // PSD2 RTS art. 4: Custos requires user verification on every operation; the evidence must show it.
  if ((flags & FLAG_UP) === 0 || (flags & FLAG_UV) === 0) throw new ResultTokenError('USER_NOT_VERIFIED', 'The authenticator did not report user presence and verification');
}

async function verifyPasskeyAssertion(claims: ResultTokenClaims, evidence: Record<string, unknown>, options: VerifyResultEvidenceOptions): Promise<void> {
  const clientDataJSON = bytesOf(evidence, 'clientDataJSON');
  const authData = bytesOf(evidence, 'authenticatorData');
  const signature = bytesOf(evidence, 'signature');
  const jwk = evidence.publicKeyJwk;
  if (!isRecord(jwk)) throw new ResultTokenError('EVIDENCE_MALFORMED', 'evidence.publicKeyJwk is missing');
  const key = jwk as JWK;
  const clientData = parseClientData(clientDataJSON);
  if (clientData.type !== 'webauthn.get') throw new ResultTokenError('EVIDENCE_TYPE_MISMATCH', 'The evidence is not an assertion (webauthn.get)');
  await checkScopeAndFlags(clientData, authData, options);
  const challenge = base64UrlToBytes(clientData.challenge);
  if (challenge === undefined) throw new ResultTokenError('EVIDENCE_MALFORMED', 'clientDataJSON.challenge is not base64url');
  await checkLinking(claims, challenge);

  // WebAuthn §7.2 step 20: the signature over authenticatorData ‖ SHA-256(clientDataJSON).
  const signed = new Uint8Array(authData.length + 32);
  signed.set(authData);
  signed.set(await sha256(clientDataJSON), authData.length);
  let valid: boolean;
  try {
    // jose imports the JWK (and checks it is a public key of the kind named); WebCrypto verifies.
    if (key.kty === 'EC' && key.crv === 'P-256') {
      const publicKey = await importJWK({ ...key, alg: 'ES256' }, 'ES256');
      valid = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey as CryptoKeyOf<typeof crypto.subtle.verify>, derToRaw(signature), signed);
    } else if (key.kty === 'RSA') {
      const publicKey = await importJWK({ ...key, alg: 'RS256' }, 'RS256');
      valid = await crypto.subtle.verify('RSASSA-PKCS1-v1_5', publicKey as CryptoKeyOf<typeof crypto.subtle.verify>, signature, signed);
    } else {
      throw new ResultTokenError('EVIDENCE_MALFORMED', 'evidence.publicKeyJwk is neither P-256 nor RSA');
    }
  } catch (error) {
    if (error instanceof ResultTokenError) throw error;
    throw new ResultTokenError('EVIDENCE_MALFORMED', 'evidence.publicKeyJwk is not a usable key', { cause: error });
  }
  if (!valid) throw new ResultTokenError('EVIDENCE_SIGNATURE_INVALID', 'The device signature does not verify');
  checkPinned(key, options);
}

/** The attested credential's id and COSE public key, as a JWK, out of authenticator data (WebAuthn §6.5.1). */
function attestedCredential(authData: Uint8Array): { credentialId: Uint8Array; jwk: JWK } {
  if (((authData[32] ?? 0) & FLAG_AT) === 0 || authData.length < 55) throw new ResultTokenError('EVIDENCE_MALFORMED', 'The registration carries no attested credential');
  const idLength = ((authData[53] ?? 0) << 8) | (authData[54] ?? 0);
  const credentialId = authData.subarray(55, 55 + idLength);
  if (credentialId.length !== idLength) throw new ResultTokenError('EVIDENCE_MALFORMED', 'The credential id runs past the authenticator data');
  const { value } = decodeCbor(authData, 55 + idLength);
  if (!(value instanceof Map)) throw new ResultTokenError('EVIDENCE_MALFORMED', 'The credential public key is not a COSE map');
  const b64url = (bytes: unknown): string | undefined => {
    if (!(bytes instanceof Uint8Array)) return undefined;
    let binary = '';
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  // RFC 9052 §7 / RFC 9053: kty 2 (EC2) with crv 1 (P-256), or kty 3 (RSA).
  const kty = value.get(1);
  if (kty === 2 && value.get(-1) === 1) return { credentialId, jwk: { kty: 'EC', crv: 'P-256', x: b64url(value.get(-2)), y: b64url(value.get(-3)) } };
  if (kty === 3) return { credentialId, jwk: { kty: 'RSA', n: b64url(value.get(-1)), e: b64url(value.get(-2)) } };
  throw new ResultTokenError('EVIDENCE_MALFORMED', 'The credential public key is neither P-256 nor RSA');
}

async function verifyPasskeyRegistration(evidence: Record<string, unknown>, options: VerifyResultEvidenceOptions): Promise<void> {
  const clientData = parseClientData(bytesOf(evidence, 'clientDataJSON'));
  if (clientData.type !== 'webauthn.create') throw new ResultTokenError('EVIDENCE_TYPE_MISMATCH', 'The evidence is not a registration (webauthn.create)');
  let attestation: unknown;
  try {
    attestation = decodeCbor(bytesOf(evidence, 'attestationObject')).value;
  } catch (error) {
    if (error instanceof CborError) throw new ResultTokenError('EVIDENCE_MALFORMED', 'evidence.attestationObject is not CBOR', { cause: error });
    throw error;
  }
  const authData = attestation instanceof Map ? attestation.get('authData') : undefined;
  if (!(authData instanceof Uint8Array)) throw new ResultTokenError('EVIDENCE_MALFORMED', 'evidence.attestationObject has no authData');
  await checkScopeAndFlags(clientData, authData, options);
  let attested: { credentialId: Uint8Array; jwk: JWK };
  try {
    attested = attestedCredential(authData);
  } catch (error) {
    if (error instanceof CborError) throw new ResultTokenError('EVIDENCE_MALFORMED', 'The credential public key is not CBOR', { cause: error });
    throw error;
  }
  // `none` attestation has no signature to check: what holds the evidence together is that the key the
  // authenticator put in its own data, under this ceremony's challenge, is the key the token names.
  const claimedId = typeof evidence.credentialId === 'string' ? base64UrlToBytes(evidence.credentialId) : undefined;
  const claimedKey = evidence.publicKeyJwk;
  if (claimedId === undefined || !equalBytes(claimedId, attested.credentialId) || !isRecord(claimedKey) || !sameKey(attested.jwk, claimedKey as JWK)) {
    throw new ResultTokenError('EVIDENCE_KEY_MISMATCH', 'The attested credential is not the one the token names');
  }
  checkPinned(claimedKey as JWK, options);
}

async function verifyNative(claims: ResultTokenClaims, evidence: Record<string, unknown>, options: VerifyResultEvidenceOptions): Promise<void> {
  const jwk = evidence.deviceKeyJwk;
  if (!isRecord(jwk) || typeof evidence.jws !== 'string') throw new ResultTokenError('EVIDENCE_MALFORMED', 'Native evidence needs deviceKeyJwk and jws');
  let payload: Uint8Array;
  try {
    if (decodeProtectedHeader(evidence.jws).typ !== NATIVE_REQUEST_TYPE) throw new ResultTokenError('EVIDENCE_TYPE_MISMATCH', `The device's JWS is not ${NATIVE_REQUEST_TYPE}`);
    const key = await importJWK({ ...(jwk as JWK), alg: 'ES256' }, 'ES256');
    ({ payload } = await compactVerify(evidence.jws, key, { algorithms: ['ES256'] }));
  } catch (error) {
    if (error instanceof ResultTokenError) throw error;
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw new ResultTokenError('EVIDENCE_SIGNATURE_INVALID', 'The device signature does not verify', { cause: error });
    throw new ResultTokenError('EVIDENCE_MALFORMED', 'The device\'s JWS or key is unusable', { cause: error });
  }
  let request: unknown;
  try {
    request = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(payload));
  } catch {
    throw new ResultTokenError('EVIDENCE_MALFORMED', 'The device\'s JWS payload is not JSON');
  }
  if (!isRecord(request)) throw new ResultTokenError('EVIDENCE_MALFORMED', 'The device\'s JWS payload is not an object');
  // docs/native-protocol.md §8: the device signed this very operation.
  if (request.op !== claims.jti) throw new ResultTokenError('OPERATION_MISMATCH', 'The device signed another operation');
  if (typeof request.uv !== 'string' || !NATIVE_UV_METHODS.includes(request.uv)) throw new ResultTokenError('USER_NOT_VERIFIED', 'The device reported no user verification method');
  const challenge = typeof request.challenge === 'string' ? base64UrlToBytes(request.challenge) : undefined;
  if (challenge === undefined) throw new ResultTokenError('EVIDENCE_MALFORMED', 'The device\'s JWS has no base64url challenge');
  await checkLinking(claims, challenge);
  checkPinned(jwk as JWK, options);
}

/**
 * Step 2 alone: checks that the device's own evidence in already verified claims proves what the
 * claims say. `verifyResultToken` runs it for you; call it directly for claims you verified yourself.
 */
export async function verifyResultEvidence(claims: ResultTokenClaims, options: VerifyResultEvidenceOptions = {}): Promise<void> {
  const evidence = claims.evidence as unknown as Record<string, unknown>;
  if (!isRecord(evidence)) throw new ResultTokenError('EVIDENCE_MALFORMED', 'The token has no evidence');
  if ('jws' in evidence) return verifyNative(claims, evidence, options);
  if (claims.op === 'REGISTRATION') {
    if (!('attestationObject' in evidence)) throw new ResultTokenError('EVIDENCE_MALFORMED', 'A REGISTRATION needs an attestation or a native JWS');
    return verifyPasskeyRegistration(evidence, options);
  }
  if (!('authenticatorData' in evidence)) throw new ResultTokenError('EVIDENCE_MALFORMED', `An ${claims.op} needs an assertion or a native JWS`);
  return verifyPasskeyAssertion(claims, evidence, options);
}

/**
 * Verifies a result token completely: Custos's ES256 signature against the JWKS, `typ`, issuer,
 * audience (your tenant), freshness and the operation id if asked, then the device's own evidence
 * offline (docs/verifying-tokens.md). Returns the claims; throws `ResultTokenError` otherwise.
 */
export async function verifyResultToken(token: string, options: VerifyResultTokenOptions): Promise<ResultTokenClaims> {
  if (!options.issuer || !options.audience) throw new TypeError('verifyResultToken needs issuer and audience');
  const keys = keySet(options);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keys, {
      algorithms: ['ES256'],
      issuer: options.issuer,
      audience: options.audience,
      typ: RESULT_TOKEN_TYPE,
      ...(options.currentDate ? { currentDate: options.currentDate } : {}),
      ...(options.maxTokenAge !== undefined ? { maxTokenAge: options.maxTokenAge } : {}),
    }));
  } catch (error) {
    throw fromJose(error, options.jwks === undefined);
  }
  const claims = checkClaims(payload);
  if (options.operationId !== undefined && claims.jti !== options.operationId) {
    throw new ResultTokenError('OPERATION_MISMATCH', 'The token is for another operation', { claim: 'jti' });
  }
  await verifyResultEvidence(claims, options);
  return claims;
}

/** Lowercase hex SHA-256 of a document's UTF-8 content: what a SIGNATURE token's `doc.sha256` holds. */
export async function documentDigest(content: string): Promise<string> {
  return bytesToHex(await sha256(content));
}
