// Result tokens verified offline exactly as docs/verifying-tokens.md tells a relying party: @custos/node's verifyResultToken (JWKS, then the device evidence).
import canonicalize from 'canonicalize';
import { createLocalJWKSet, decodeJwt, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { expectProblem, workerFetch } from '../helpers/api';
import type { Api } from '../helpers/api';
import { approve, enrolled, newAuthenticator, sdkFetch, sdkStart, startOperation, ORIGIN, RP_ID } from '../helpers/ceremony';
import { publicJwks, signResultToken } from '../../src/domain/result-token';
import { verifyResultEvidence, verifyResultToken } from '../../packages/node/src/index';
import type { PasskeyAssertionEvidence, PasskeyRegistrationEvidence } from '../../packages/node/src/index';

// The relying party's verifier is @custos/node's, the one docs/verifying-tokens.md tells relying parties to use.

function fromBase64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

async function sha256(data: Uint8Array | string): Promise<Uint8Array> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

const ISSUER = 'https://custos.test'; // the request origin: tests set no PUBLIC_URL
const RP = { rpId: RP_ID, origins: [ORIGIN] };
const CONTENT = 'Ich stimme den Bedingungen zu — Zoë, 2026. ✔';

async function fetchJwks(): Promise<JSONWebKeySet> {
  const res = await workerFetch('/.well-known/jwks.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('public, max-age=300');
  return res.json<JSONWebKeySet>();
}

async function completed(api: Api, id: string): Promise<{ status: string; document?: unknown; transaction?: unknown; transactions?: unknown; result: { token: string; deviceId: string } }> {
  const res = await api(`/v1/operations/${id}`);
  expect(res.status).toBe(200);
  const op = await res.json<{ status: string; result: { token: string; deviceId: string } }>();
  expect(op.status).toBe('COMPLETED');
  return op;
}

function tamperPayload(token: string, change: (payload: Record<string, unknown>) => void): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(new TextDecoder().decode(fromBase64url(payload))) as Record<string, unknown>;
  change(claims);
  const encoded = btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(claims)))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${header}.${encoded}.${signature}`;
}

describe('JWKS', () => {
  it('API.md §5: GET /.well-known/jwks.json serves public ES256 keys only, each with a kid', async () => {
    const jwks = await fetchJwks();
    expect(jwks.keys.length).toBeGreaterThanOrEqual(1);
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: expect.any(String) });
      expect(key.d).toBeUndefined();
    }
    expect(new Set(jwks.keys.map((k) => k.kid)).size).toBe(jwks.keys.length);
  });
});

describe('result token of a SIGNATURE, verified offline', () => {
  it('API.md §1 result token: jwtVerify against the JWKS (ES256, issuer, audience = tenant, typ) gives the documented claims, and the evidence verifies with WebCrypto', async () => {
    const { api, tenantId, userId, authenticator, deviceId, registrationId } = await enrolled();
    const { op, finish } = await approve(api, authenticator, { type: 'SIGNATURE', userId, document: { content: CONTENT, mimeType: 'text/plain', title: 'Bedingungen' } });
    expect(finish.status, await finish.clone().text()).toBe(200);
    const status = await completed(api, op.id);
    const token = status.result.token;

    const jwks = await fetchJwks();
    const claims = await verifyResultToken(token, { jwks, issuer: ISSUER, audience: tenantId });
    const [header] = token.split('.') as [string];
    const protectedHeader = JSON.parse(new TextDecoder().decode(fromBase64url(header))) as { alg: string; typ: string; kid: string };
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'custos-result+jwt' });
    expect(jwks.keys.map((k) => k.kid)).toContain(protectedHeader.kid);

    const docSha = [...(await sha256(CONTENT))].map((b) => b.toString(16).padStart(2, '0')).join('');
    expect(claims).toMatchObject({
      iss: ISSUER, aud: tenantId, sub: userId, jti: op.id, op: 'SIGNATURE', device: deviceId, amr: ['hwk', 'user'],
      doc: { title: 'Bedingungen', mimeType: 'text/plain', sha256: docSha },
    });
    expect(claims.doc).toEqual(status.document);
    expect(claims.doc).toEqual(op.document);
    expect(claims.txn).toBeUndefined();
    expect(claims.iat).toEqual(expect.any(Number));
    expect(Object.keys(claims.evidence).sort()).toEqual(['authenticatorData', 'clientDataJSON', 'credentialId', 'publicKeyJwk', 'signature']);
    expect((claims.evidence as PasskeyAssertionEvidence).credentialId).toBe(authenticator.credentialId);
    expect((claims.evidence as PasskeyAssertionEvidence).publicKeyJwk).toMatchObject({ kty: 'EC', crv: 'P-256', x: authenticator.publicKeyJwk.x, y: authenticator.publicKeyJwk.y });

    await verifyResultEvidence(claims, { rp: RP });

    // Anchor: the key that signed is the one the REGISTRATION token of this device carried.
    const registration = await verifyResultToken((await completed(api, registrationId)).result.token, { jwks, issuer: ISSUER, audience: tenantId });
    expect(registration.device).toBe(deviceId);
    expect((registration.evidence as PasskeyRegistrationEvidence).credentialId).toBe((claims.evidence as PasskeyAssertionEvidence).credentialId);
    expect((registration.evidence as PasskeyRegistrationEvidence).publicKeyJwk).toEqual((claims.evidence as PasskeyAssertionEvidence).publicKeyJwk);

    // The pieces the verifier relies on, spelled out.
    const evidence = claims.evidence as PasskeyAssertionEvidence;
    const clientData = JSON.parse(new TextDecoder().decode(fromBase64url(evidence.clientDataJSON))) as { type: string; challenge: string; origin: string };
    expect(clientData.type).toBe('webauthn.get');
    expect(clientData.origin).toBe(ORIGIN);
    const challenge = fromBase64url(clientData.challenge);
    expect(challenge).toHaveLength(64);
    expect(challenge.subarray(32)).toEqual(await sha256(canonicalize(status.document)!));
    const authData = fromBase64url(evidence.authenticatorData);
    expect(authData.subarray(0, 32)).toEqual(await sha256('localhost'));
    expect(authData[32]! & 0x04).toBe(0x04);
  });

  it('RFC 7515: a token whose payload was altered fails jwtVerify (another document digest, another user, altered evidence)', async () => {
    const { api, tenantId, userId, authenticator } = await enrolled();
    const { op } = await approve(api, authenticator, { type: 'SIGNATURE', userId, document: { content: CONTENT, mimeType: 'text/plain' } });
    const token = (await completed(api, op.id)).result.token;
    const jwks = await fetchJwks();
    await expect(verifyResultToken(token, { jwks, issuer: ISSUER, audience: tenantId })).resolves.toBeTruthy();

    const forgeries = [
      tamperPayload(token, (c) => { (c.doc as { sha256: string }).sha256 = '0'.repeat(64); }),
      tamperPayload(token, (c) => { c.sub = 'usr_someoneelse000000000000000'; }),
      tamperPayload(token, (c) => { (c.evidence as { clientDataJSON: string }).clientDataJSON = 'e30'; }),
    ];
    for (const forged of forgeries) {
      await expect(verifyResultToken(forged, { jwks, issuer: ISSUER, audience: tenantId })).rejects.toMatchObject({ reason: 'SIGNATURE_INVALID' });
    }
  });

  it('RFC 8725 §3.1, §3.8–3.9, §3.11: the token is refused for another audience, another issuer, a key outside the JWKS, or another typ', async () => {
    const { api, tenantId, userId, authenticator } = await enrolled();
    const { op } = await approve(api, authenticator, { type: 'SIGNATURE', userId, document: { content: CONTENT, mimeType: 'text/plain' } });
    const token = (await completed(api, op.id)).result.token;
    const jwks = await fetchJwks();
    await expect(verifyResultToken(token, { jwks, issuer: ISSUER, audience: 'ten_someoneelse0000000000000000' })).rejects.toMatchObject({ reason: 'CLAIM_INVALID', claim: 'aud' });
    await expect(verifyResultToken(token, { jwks, issuer: 'https://evil.example', audience: tenantId })).rejects.toMatchObject({ reason: 'CLAIM_INVALID', claim: 'iss' });
    // A JWKS with another key under the same kid: the signature does not verify.
    const other = await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey);
    const swapped: JSONWebKeySet = { keys: jwks.keys.map((k) => ({ ...k, x: other.x, y: other.y })) };
    await expect(verifyResultToken(token, { jwks: swapped, issuer: ISSUER, audience: tenantId })).rejects.toMatchObject({ reason: 'SIGNATURE_INVALID' });
    await expect(
      jwtVerify(token, createLocalJWKSet(jwks), { algorithms: ['ES256'], issuer: ISSUER, audience: tenantId, typ: 'JWT' }),
    ).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'typ' });
  });

  it('WebAuthn §7.2 / PSD2 RTS art. 5: evidence checks catch a document the device did not sign and a token read with the wrong rpId or origin', async () => {
    const { api, tenantId, userId, authenticator } = await enrolled();
    const { op } = await approve(api, authenticator, { type: 'SIGNATURE', userId, document: { content: CONTENT, mimeType: 'text/plain' } });
    const claims = await verifyResultToken((await completed(api, op.id)).result.token, { jwks: await fetchJwks(), issuer: ISSUER, audience: tenantId });
    await expect(verifyResultEvidence({ ...claims, doc: { ...claims.doc!, sha256: '0'.repeat(64) } }, { rp: RP })).rejects.toMatchObject({ reason: 'LINKING_MISMATCH' });
    await expect(verifyResultEvidence(claims, { rp: { rpId: 'example.com', origins: [ORIGIN] } })).rejects.toMatchObject({ reason: 'RP_ID_MISMATCH' });
    await expect(verifyResultEvidence(claims, { rp: { rpId: RP_ID, origins: ['https://example.com'] } })).rejects.toMatchObject({ reason: 'ORIGIN_MISMATCH' });
    const evidence = claims.evidence as PasskeyAssertionEvidence;
    const otherKey = (await generateKeyPair('ES256', { extractable: true })).publicKey;
    await expect(verifyResultEvidence({ ...claims, evidence: { ...evidence, publicKeyJwk: await exportJWK(otherKey) } }, { rp: RP })).rejects.toMatchObject({ reason: 'EVIDENCE_SIGNATURE_INVALID' });
  });

  it('RFC 7519 §4.1.6: freshness is the relying party\'s call: iat is in seconds, so maxTokenAge works with an injected clock', async () => {
    const { api, tenantId, userId, authenticator } = await enrolled();
    const { op } = await approve(api, authenticator, { type: 'SIGNATURE', userId, document: { content: CONTENT, mimeType: 'text/plain' } });
    const token = (await completed(api, op.id)).result.token;
    const { iat } = decodeJwt(token);
    const jwks = await fetchJwks();
    await expect(verifyResultToken(token, { jwks, issuer: ISSUER, audience: tenantId, maxTokenAge: '5m', currentDate: new Date((iat! + 60) * 1000) })).resolves.toBeTruthy();
    await expect(verifyResultToken(token, { jwks, issuer: ISSUER, audience: tenantId, maxTokenAge: '5m', currentDate: new Date((iat! + 600) * 1000) })).rejects.toMatchObject({ reason: 'TOKEN_TOO_OLD' });
  });
});

describe('result tokens of the other operation types', () => {
  it('PSD2 RTS art. 5(1)(b): AUTHORISATION txn is the transaction as echoed and the evidence challenge links it', async () => {
    const { api, tenantId, userId, authenticator, deviceId } = await enrolled();
    const transaction = { amount: '9007199254740993.00', currency: 'EUR', payee: { name: 'ACME', account: 'DE89370400440532013000' }, reference: 'INV-7' };
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHORISATION', userId, transaction });
    expect(finish.status).toBe(200);
    const claims = await verifyResultToken((await completed(api, op.id)).result.token, { jwks: await fetchJwks(), issuer: ISSUER, audience: tenantId });
    expect(claims).toMatchObject({ op: 'AUTHORISATION', jti: op.id, sub: userId, device: deviceId, amr: ['hwk', 'user'] });
    expect(claims.txn).toEqual(transaction);
    expect(claims.doc).toBeUndefined();
    await verifyResultEvidence(claims, { rp: RP });
    await expect(verifyResultEvidence({ ...claims, txn: { ...transaction, amount: '9007199254740993.01' } }, { rp: RP })).rejects.toMatchObject({ reason: 'LINKING_MISMATCH' });
  });

  it('PSD2 RTS art. 5(3)(a): AUTHORISATION batch txn is { transactions } as echoed and the evidence challenge links it', async () => {
    const { api, tenantId, userId, authenticator } = await enrolled();
    const transactions = [
      { amount: '1.00', currency: 'EUR', payee: { name: 'A' } },
      { amount: '2.50', currency: 'EUR', payee: { name: 'B' } },
    ];
    const { op } = await approve(api, authenticator, { type: 'AUTHORISATION', userId, transactions });
    const claims = await verifyResultToken((await completed(api, op.id)).result.token, { jwks: await fetchJwks(), issuer: ISSUER, audience: tenantId });
    expect(claims.txn).toEqual({ transactions });
    await verifyResultEvidence(claims, { rp: RP });
  });

  it('API.md §1 result token: AUTHENTICATION has no txn or doc, and the evidence still verifies', async () => {
    const { api, tenantId, userId, authenticator, deviceId } = await enrolled();
    const { op } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId });
    const claims = await verifyResultToken((await completed(api, op.id)).result.token, { jwks: await fetchJwks(), issuer: ISSUER, audience: tenantId });
    expect(claims).toMatchObject({ op: 'AUTHENTICATION', jti: op.id, device: deviceId });
    expect(claims.txn).toBeUndefined();
    expect(claims.doc).toBeUndefined();
    await verifyResultEvidence(claims, { rp: RP });
  });

  it('API.md §1 result token: REGISTRATION evidence carries the attestation object and clientDataJSON of webauthn.create', async () => {
    const { api, tenantId, userId, deviceId, registrationId, authenticator } = await enrolled();
    const claims = await verifyResultToken((await completed(api, registrationId)).result.token, { jwks: await fetchJwks(), issuer: ISSUER, audience: tenantId });
    expect(claims).toMatchObject({ op: 'REGISTRATION', jti: registrationId, sub: userId, device: deviceId });
    expect(Object.keys(claims.evidence).sort()).toEqual(['attestationObject', 'clientDataJSON', 'credentialId', 'publicKeyJwk']);
    expect((claims.evidence as PasskeyAssertionEvidence).credentialId).toBe(authenticator.credentialId);
    const clientData = JSON.parse(new TextDecoder().decode(fromBase64url((claims.evidence as PasskeyRegistrationEvidence).clientDataJSON))) as { type: string; origin: string };
    expect(clientData).toMatchObject({ type: 'webauthn.create', origin: ORIGIN });
  });

  it('API.md §1: a non-COMPLETED operation carries no token', async () => {
    const { api, userId, authenticator } = await enrolled();
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { uv: false } });
    await expectProblem(finish, 400, 'VERIFICATION_FAILED');
    const failed = await (await api(`/v1/operations/${op.id}`)).json<{ status: string; result?: unknown }>();
    expect(failed.status).toBe('FAILED');
    expect(failed.result).toBeUndefined();
    const declined = await startOperation(api, { type: 'AUTHENTICATION', userId });
    await sdkStart(declined);
    await sdkFetch(declined, 'reject');
    expect((await (await api(`/v1/operations/${declined.id}`)).json<{ result?: unknown }>()).result).toBeUndefined();
  });
});

describe('key rotation', () => {
  async function privateKey(kid: string): Promise<JWK> {
    const { privateKey: key } = await generateKeyPair('ES256', { extractable: true });
    return { ...(await exportJWK(key)), kid, alg: 'ES256', use: 'sig' };
  }
  const claims = {
    issuer: ISSUER, tenantId: 'ten_rotation00000000000000000000', userId: 'usr_rotation00000000000000000000', operationId: 'op_rotation0000000000000000000000',
    operationType: 'AUTHENTICATION', deviceId: 'dev_rotation00000000000000000000', amr: ['hwk', 'user'], evidence: {}, issuedAt: 1_800_000_000,
  };

  it('API.md §5 key rotation: SIGNING_KEYS newest first: new tokens use the new key, tokens of the previous key still verify while it stays in the JWKS', async () => {
    const old = await privateKey('sig-old');
    const fresh = await privateKey('sig-new');
    const before = JSON.stringify([old]);
    const after = JSON.stringify([fresh, old]);
    // Real device evidence, so the tokens are whole ones that verifyResultToken accepts on their merits.
    const authenticator = await newAuthenticator();
    const challenge = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32)))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const assertion = await authenticator.assert({ challenge, rpId: RP_ID });
    const evidence = {
      credentialId: authenticator.credentialId, publicKeyJwk: authenticator.publicKeyJwk,
      authenticatorData: assertion.response.authenticatorData, clientDataJSON: assertion.response.clientDataJSON, signature: assertion.response.signature,
    };
    const oldToken = await signResultToken(before, { ...claims, evidence });
    const newToken = await signResultToken(after, { ...claims, evidence });
    const kidOf = (t: string): string => (JSON.parse(new TextDecoder().decode(fromBase64url(t.split('.')[0]!))) as { kid: string }).kid;
    expect(kidOf(oldToken)).toBe('sig-old');
    expect(kidOf(newToken)).toBe('sig-new');

    const jwks = (await publicJwks(after)) as JSONWebKeySet;
    expect(jwks.keys.map((k) => k.kid)).toEqual(['sig-new', 'sig-old']);
    for (const key of jwks.keys) expect(key.d).toBeUndefined();
    const trust = { jwks, issuer: ISSUER, audience: claims.tenantId };
    await expect(verifyResultToken(oldToken, trust)).resolves.toMatchObject({ jti: claims.operationId });
    await expect(verifyResultToken(newToken, trust)).resolves.toMatchObject({ jti: claims.operationId });

    // Once the old key is dropped, its tokens no longer verify.
    const retired = (await publicJwks(JSON.stringify([fresh]))) as JSONWebKeySet;
    await expect(verifyResultToken(oldToken, { ...trust, jwks: retired })).rejects.toMatchObject({ reason: 'NO_MATCHING_KEY' });
  });
});
