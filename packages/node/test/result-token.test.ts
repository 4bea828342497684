// verifyResultToken on tokens made by Custos's own signer (src/domain/result-token.ts) around evidence from the software authenticator and a native key.
import canonicalize from 'canonicalize';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import type { JSONWebKeySet, JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { publicJwks, signResultToken } from '../../../src/domain/result-token';
import { b64url, SoftAuthenticator } from '../../../test/helpers/soft-authenticator';
import { ResultTokenError, verifyResultToken } from '../src/result-token.js';
import type { ResultTokenErrorReason, VerifyResultTokenOptions } from '../src/result-token.js';

const ISSUER = 'https://custos.example';
const TENANT = 'ten_unit000000000000000000000000';
const RP_ID = 'bank.example';
const ORIGIN = 'https://bank.example';
const TXN = { amount: '1234.50', currency: 'EUR', payee: { name: 'ACME GmbH', account: 'DE89370400440532013000' }, reference: 'INV-7' };

let signingKeys: string;
let jwks: JSONWebKeySet;
let trust: VerifyResultTokenOptions;

beforeAll(async () => {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  signingKeys = JSON.stringify([{ ...(await exportJWK(privateKey)), kid: 'sig-unit', alg: 'ES256', use: 'sig' }]);
  jwks = (await publicJwks(signingKeys)) as JSONWebKeySet;
  trust = { jwks, issuer: ISSUER, audience: TENANT, rp: { rpId: RP_ID, origins: [ORIGIN] } };
});

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

/** The challenge Custos issues: 32 random bytes, then SHA-256(JCS(bound)) when something is bound. */
async function challengeFor(bound?: unknown): Promise<string> {
  const random = crypto.getRandomValues(new Uint8Array(32));
  if (bound === undefined) return b64url(random);
  return b64url(new Uint8Array([...random, ...(await sha256(canonicalize(bound)!))]));
}

function token(op: string, evidence: Record<string, unknown>, extra: { txn?: unknown; doc?: unknown; operationId?: string } = {}): Promise<string> {
  return signResultToken(signingKeys, {
    issuer: ISSUER, tenantId: TENANT, userId: 'usr_unit', operationId: extra.operationId ?? 'op_unit', operationType: op, deviceId: 'dev_unit',
    amr: ['hwk', 'user'], evidence, issuedAt: Math.floor(Date.now() / 1000),
    ...(extra.txn !== undefined ? { txn: extra.txn } : {}), ...(extra.doc !== undefined ? { doc: extra.doc } : {}),
  });
}

/** Evidence exactly as the operation object builds it from an assertion (src/durable-objects/operation.ts). */
async function assertionEvidence(authenticator: SoftAuthenticator, challenge: string, knobs: Parameters<SoftAuthenticator['assert']>[1] = {}): Promise<Record<string, unknown>> {
  const response = await authenticator.assert({ challenge, rpId: RP_ID, allowCredentials: [{ id: authenticator.credentialId, type: 'public-key' }] }, knobs);
  return {
    credentialId: authenticator.credentialId, publicKeyJwk: authenticator.publicKeyJwk,
    authenticatorData: response.response.authenticatorData, clientDataJSON: response.response.clientDataJSON, signature: response.response.signature,
  };
}

async function refusal(promise: Promise<unknown>): Promise<ResultTokenErrorReason> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ResultTokenError);
  return (error as ResultTokenError).reason;
}

describe('passkey evidence', () => {
  it('an AUTHORISATION verifies, its txn is linked, and the claims come back typed', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const evidence = await assertionEvidence(authenticator, await challengeFor(TXN));
    const claims = await verifyResultToken(await token('AUTHORISATION', evidence, { txn: TXN }), { ...trust, operationId: 'op_unit', deviceKey: authenticator.publicKeyJwk });
    expect(claims).toMatchObject({ iss: ISSUER, aud: TENANT, sub: 'usr_unit', jti: 'op_unit', op: 'AUTHORISATION', device: 'dev_unit', txn: TXN });
  });

  it('refuses a txn the device did not sign, even in a token Custos signed (LINKING_MISMATCH)', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const evidence = await assertionEvidence(authenticator, await challengeFor(TXN));
    const other = { ...TXN, amount: '1234.51' };
    expect(await refusal(verifyResultToken(await token('AUTHORISATION', evidence, { txn: other }), trust))).toBe('LINKING_MISMATCH');
    // An unlinked (32-byte) challenge cannot stand for a transaction either.
    const unlinked = await assertionEvidence(authenticator, await challengeFor());
    expect(await refusal(verifyResultToken(await token('AUTHORISATION', unlinked, { txn: TXN }), trust))).toBe('LINKING_MISMATCH');
  });

  it('a SIGNATURE links its doc', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const doc = { title: 'Terms', mimeType: 'text/plain', sha256: 'ab'.repeat(32) };
    const evidence = await assertionEvidence(authenticator, await challengeFor(doc));
    await expect(verifyResultToken(await token('SIGNATURE', evidence, { doc }), trust)).resolves.toMatchObject({ doc });
    expect(await refusal(verifyResultToken(await token('SIGNATURE', evidence, { doc: { ...doc, sha256: 'cd'.repeat(32) } }), trust))).toBe('LINKING_MISMATCH');
  });

  it('refuses an assertion without user verification, another key, a registration type, another origin or rpId, an unpinned key', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const stranger = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const challenge = await challengeFor();
    const cases: Array<[Record<string, unknown>, ResultTokenErrorReason, VerifyResultTokenOptions?]> = [
      [await assertionEvidence(authenticator, challenge, { uv: false }), 'USER_NOT_VERIFIED'],
      [await assertionEvidence(authenticator, challenge, { signWith: stranger }), 'EVIDENCE_SIGNATURE_INVALID'],
      [await assertionEvidence(authenticator, challenge, { type: 'webauthn.create' }), 'EVIDENCE_TYPE_MISMATCH'],
      [await assertionEvidence(authenticator, challenge, { origin: 'https://evil.example' }), 'ORIGIN_MISMATCH'],
      [await assertionEvidence(authenticator, challenge, { rpId: 'evil.example', skipClientChecks: true }), 'RP_ID_MISMATCH'],
      [await assertionEvidence(authenticator, challenge), 'DEVICE_KEY_MISMATCH', { ...trust, deviceKey: stranger.publicKeyJwk }],
      [{ ...(await assertionEvidence(authenticator, challenge)), signature: 'not base64url!' }, 'EVIDENCE_MALFORMED'],
    ];
    for (const [evidence, reason, options] of cases) {
      expect(await refusal(verifyResultToken(await token('AUTHENTICATION', evidence), options ?? trust)), reason).toBe(reason);
    }
    // Without rp the origin and rpId are not judged; the device's signature still is.
    const elsewhere = await assertionEvidence(authenticator, challenge, { origin: 'https://app.custos.example' });
    await expect(verifyResultToken(await token('AUTHENTICATION', elsewhere), { jwks, issuer: ISSUER, audience: TENANT })).resolves.toMatchObject({ op: 'AUTHENTICATION' });
  });

  it('a REGISTRATION: the attested credential must be the one the token names', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const response = await authenticator.register({
      challenge: await challengeFor(), rp: { id: RP_ID, name: 'Bank' }, user: { id: 'dXNy', name: 'ada', displayName: 'Ada' }, pubKeyCredParams: [{ alg: -7, type: 'public-key' }],
    });
    const evidence = { credentialId: authenticator.credentialId, publicKeyJwk: authenticator.publicKeyJwk, attestationObject: response.response.attestationObject, clientDataJSON: response.response.clientDataJSON };
    const claims = await verifyResultToken(await token('REGISTRATION', evidence), trust);
    expect(claims.evidence).toEqual(evidence);
    const stranger = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    expect(await refusal(verifyResultToken(await token('REGISTRATION', { ...evidence, publicKeyJwk: stranger.publicKeyJwk }), trust))).toBe('EVIDENCE_KEY_MISMATCH');
    expect(await refusal(verifyResultToken(await token('REGISTRATION', { ...evidence, credentialId: stranger.credentialId }), trust))).toBe('EVIDENCE_KEY_MISMATCH');
    expect(await refusal(verifyResultToken(await token('REGISTRATION', { ...evidence, attestationObject: 'oA' }), trust))).toBe('EVIDENCE_MALFORMED');
    // An assertion where a registration belongs is not registration evidence.
    expect(await refusal(verifyResultToken(await token('REGISTRATION', await assertionEvidence(authenticator, await challengeFor())), trust))).toBe('EVIDENCE_MALFORMED');
  });
});

describe('native evidence', () => {
  async function nativeEvidence(claims: Record<string, unknown>, typ = 'custos-request+jwt'): Promise<{ evidence: Record<string, unknown>; jwk: JWK }> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify({ iat: Math.floor(Date.now() / 1000), jti: 'j'.repeat(22), ...claims })))
      .setProtectedHeader({ alg: 'ES256', typ, kid: 'dev_unit' })
      .sign(privateKey);
    return { evidence: { deviceKeyJwk: jwk, jws }, jwk };
  }

  it('verifies the device JWS: this operation, a uv method, the linked challenge', async () => {
    const { evidence, jwk } = await nativeEvidence({ op: 'op_unit', challenge: await challengeFor(TXN), uv: 'fpt' });
    await expect(verifyResultToken(await token('AUTHORISATION', evidence, { txn: TXN }), { ...trust, deviceKey: jwk })).resolves.toMatchObject({ op: 'AUTHORISATION' });
  });

  it('refuses another operation, no uv, another txn, a wrong typ, a swapped key', async () => {
    const linked = await challengeFor(TXN);
    expect(await refusal(verifyResultToken(await token('AUTHORISATION', (await nativeEvidence({ op: 'op_other', challenge: linked, uv: 'pin' })).evidence, { txn: TXN }), trust))).toBe('OPERATION_MISMATCH');
    expect(await refusal(verifyResultToken(await token('AUTHORISATION', (await nativeEvidence({ op: 'op_unit', challenge: linked })).evidence, { txn: TXN }), trust))).toBe('USER_NOT_VERIFIED');
    expect(await refusal(verifyResultToken(await token('AUTHORISATION', (await nativeEvidence({ op: 'op_unit', challenge: linked, uv: 'face' })).evidence, { txn: { ...TXN, currency: 'USD' } }), trust))).toBe('LINKING_MISMATCH');
    expect(await refusal(verifyResultToken(await token('AUTHORISATION', (await nativeEvidence({ op: 'op_unit', challenge: linked, uv: 'face' }, 'JWT')).evidence, { txn: TXN }), trust))).toBe('EVIDENCE_TYPE_MISMATCH');
    const { evidence } = await nativeEvidence({ op: 'op_unit', challenge: linked, uv: 'face' });
    const { jwk: other } = await nativeEvidence({});
    expect(await refusal(verifyResultToken(await token('AUTHORISATION', { ...evidence, deviceKeyJwk: other }, { txn: TXN }), trust))).toBe('EVIDENCE_SIGNATURE_INVALID');
  });
});

describe('the token itself', () => {
  it('maps jose refusals to stable reasons: audience, issuer, operation, age, foreign key, retired key, garbage', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const jwt = await token('AUTHENTICATION', await assertionEvidence(authenticator, await challengeFor()));
    const audience = (await verifyResultToken(jwt, { ...trust, audience: 'ten_other' }).catch((e: unknown) => e)) as ResultTokenError;
    expect(audience).toMatchObject({ reason: 'CLAIM_INVALID', claim: 'aud' });
    expect(await refusal(verifyResultToken(jwt, { ...trust, issuer: 'https://evil.example' }))).toBe('CLAIM_INVALID');
    expect(await refusal(verifyResultToken(jwt, { ...trust, operationId: 'op_other' }))).toBe('OPERATION_MISMATCH');
    expect(await refusal(verifyResultToken(jwt, { ...trust, maxTokenAge: '5m', currentDate: new Date(Date.now() + 10 * 60_000) }))).toBe('TOKEN_TOO_OLD');
    const foreign = await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey);
    expect(await refusal(verifyResultToken(jwt, { ...trust, jwks: { keys: jwks.keys.map((k) => ({ ...k, x: foreign.x, y: foreign.y })) } }))).toBe('SIGNATURE_INVALID');
    expect(await refusal(verifyResultToken(jwt, { ...trust, jwks: { keys: [{ ...foreign, kid: 'sig-other', alg: 'ES256' }] } }))).toBe('NO_MATCHING_KEY');
    expect(await refusal(verifyResultToken('not.a.token', trust))).toBe('MALFORMED_TOKEN');
  });

  it('fetches and caches the JWKS from jwksUrl; an unreachable one is JWKS_UNAVAILABLE', async () => {
    const { createServer } = await import('node:http');
    let served = 0;
    const server = createServer((_request, response) => {
      served += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
      const jwt = await token('AUTHENTICATION', await assertionEvidence(authenticator, await challengeFor()));
      const remote = { issuer: ISSUER, audience: TENANT, jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json` };
      await expect(verifyResultToken(jwt, remote)).resolves.toMatchObject({ op: 'AUTHENTICATION' });
      await expect(verifyResultToken(jwt, remote)).resolves.toMatchObject({ op: 'AUTHENTICATION' });
      expect(served).toBe(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const jwt = await token('AUTHENTICATION', await assertionEvidence(authenticator, await challengeFor()));
    expect(await refusal(verifyResultToken(jwt, { issuer: ISSUER, audience: TENANT, jwksUrl: 'http://127.0.0.1:9/jwks.json' }))).toBe('JWKS_UNAVAILABLE');
  });
});
