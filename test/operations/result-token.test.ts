// Result tokens verified offline exactly as docs/verifying-tokens.md tells a relying party: jose + JWKS, then the device evidence with WebCrypto alone.
import canonicalize from 'canonicalize';
import { createLocalJWKSet, decodeJwt, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWK, JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { expectProblem, workerFetch } from '../helpers/api';
import type { Api } from '../helpers/api';
import { approve, enrolled, sdkFetch, sdkStart, startOperation, ORIGIN, RP_ID } from '../helpers/ceremony';
import { publicJwks, signResultToken } from '../../src/domain/result-token';

// ---------------------------------------------------------------------------------------------
// The relying party's verifier: the same code as the example in docs/verifying-tokens.md.

interface AssertionEvidence {
  credentialId: string;
  publicKeyJwk: JsonWebKey;
  authenticatorData: string;
  clientDataJSON: string;
  signature: string;
}

interface ResultClaims extends JWTPayload {
  sub: string;
  jti: string;
  op: 'REGISTRATION' | 'AUTHENTICATION' | 'AUTHORISATION' | 'SIGNATURE';
  device: string;
  amr: string[];
  txn?: unknown;
  doc?: { title?: string; mimeType: string; sha256: string };
  evidence: Record<string, unknown>;
}

function fromBase64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

async function sha256(data: Uint8Array | string): Promise<Uint8Array> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** WebAuthn ECDSA signatures are ASN.1 DER; WebCrypto wants the raw r ‖ s (IEEE P1363), each 32 bytes for P-256. */
function derToRaw(der: Uint8Array): Uint8Array {
  if (der[0] !== 0x30 || der[1] !== der.length - 2) throw new Error('not a DER SEQUENCE');
  const raw = new Uint8Array(64);
  let offset = 2;
  for (const half of [0, 32]) {
    if (der[offset] !== 0x02) throw new Error('not a DER INTEGER');
    const length = der[offset + 1]!;
    let int = der.subarray(offset + 2, offset + 2 + length);
    offset += 2 + length;
    while (int.length > 32 && int[0] === 0) int = int.subarray(1); // drop the sign-padding zero
    if (int.length > 32) throw new Error('integer too long for P-256');
    raw.set(int, half + 32 - int.length);
  }
  return raw;
}

/** Step 1: the token is Custos's, for this tenant, unaltered. */
async function verifyResultToken(
  token: string,
  trust: { jwks: JSONWebKeySet; issuer: string; tenantId: string; currentDate?: Date; maxTokenAge?: string },
): Promise<ResultClaims> {
  const { payload } = await jwtVerify<ResultClaims>(token, createLocalJWKSet(trust.jwks), {
    algorithms: ['ES256'],
    issuer: trust.issuer,
    audience: trust.tenantId,
    typ: 'custos-result+jwt',
    ...(trust.currentDate ? { currentDate: trust.currentDate } : {}),
    ...(trust.maxTokenAge ? { maxTokenAge: trust.maxTokenAge } : {}),
  });
  return payload;
}

/** Step 2: the user's own device signed exactly what the token says, checked with WebCrypto alone. */
async function verifyAssertionEvidence(claims: ResultClaims, rp: { rpId: string; origins: string[] }): Promise<void> {
  const evidence = claims.evidence as unknown as AssertionEvidence;
  const clientDataJSON = fromBase64url(evidence.clientDataJSON);
  const authenticatorData = fromBase64url(evidence.authenticatorData);
  const clientData = JSON.parse(new TextDecoder().decode(clientDataJSON)) as { type: string; challenge: string; origin: string };

  // WebAuthn §7.2 steps 11–13: an assertion, made on one of the relying party's origins.
  if (clientData.type !== 'webauthn.get') throw new Error('evidence is not an assertion');
  if (!rp.origins.includes(clientData.origin)) throw new Error(`unexpected origin ${clientData.origin}`);

  // PSD2 RTS art. 5: the challenge is random(32) ‖ SHA-256(JCS(what the user saw)).
  const challenge = fromBase64url(clientData.challenge);
  const bound = claims.op === 'AUTHORISATION' ? claims.txn : claims.op === 'SIGNATURE' ? claims.doc : undefined;
  if (bound !== undefined) {
    if (challenge.length !== 64) throw new Error('challenge is not a linked challenge');
    if (!equalBytes(challenge.subarray(32), await sha256(canonicalize(bound)!))) throw new Error('challenge does not link to the claimed transaction/document');
  }

  // WebAuthn §7.2 steps 15–17: the right rpId, the user present and verified.
  if (!equalBytes(authenticatorData.subarray(0, 32), await sha256(rp.rpId))) throw new Error('rpIdHash mismatch');
  const flags = authenticatorData[32]!;
  if ((flags & 0x01) === 0 || (flags & 0x04) === 0) throw new Error('user not present and verified');

  // WebAuthn §7.2 step 20: the signature over authenticatorData ‖ SHA-256(clientDataJSON).
  const signed = new Uint8Array([...authenticatorData, ...(await sha256(clientDataJSON))]);
  const signature = fromBase64url(evidence.signature);
  const jwk = evidence.publicKeyJwk;
  const valid =
    jwk.kty === 'EC'
      ? await crypto.subtle.verify(
          { name: 'ECDSA', hash: 'SHA-256' },
          await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']),
          derToRaw(signature),
          signed,
        )
      : await crypto.subtle.verify(
          'RSASSA-PKCS1-v1_5',
          await crypto.subtle.importKey('jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']),
          signature,
          signed,
        );
  if (!valid) throw new Error('device signature does not verify');
}

// ---------------------------------------------------------------------------------------------

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
    const claims = await verifyResultToken(token, { jwks, issuer: ISSUER, tenantId });
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
    expect(claims.evidence.credentialId).toBe(authenticator.credentialId);
    expect(claims.evidence.publicKeyJwk).toMatchObject({ kty: 'EC', crv: 'P-256', x: authenticator.publicKeyJwk.x, y: authenticator.publicKeyJwk.y });

    await verifyAssertionEvidence(claims, RP);

    // Anchor: the key that signed is the one the REGISTRATION token of this device carried.
    const registration = await verifyResultToken((await completed(api, registrationId)).result.token, { jwks, issuer: ISSUER, tenantId });
    expect(registration.device).toBe(deviceId);
    expect(registration.evidence.credentialId).toBe(claims.evidence.credentialId);
    expect(registration.evidence.publicKeyJwk).toEqual(claims.evidence.publicKeyJwk);

    // The pieces the verifier relies on, spelled out.
    const evidence = claims.evidence as unknown as AssertionEvidence;
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
    await expect(verifyResultToken(token, { jwks, issuer: ISSUER, tenantId })).resolves.toBeTruthy();

    const forgeries = [
      tamperPayload(token, (c) => { (c.doc as { sha256: string }).sha256 = '0'.repeat(64); }),
      tamperPayload(token, (c) => { c.sub = 'usr_someoneelse000000000000000'; }),
      tamperPayload(token, (c) => { (c.evidence as { clientDataJSON: string }).clientDataJSON = 'e30'; }),
    ];
    for (const forged of forgeries) {
      await expect(verifyResultToken(forged, { jwks, issuer: ISSUER, tenantId })).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    }
  });

  it('RFC 8725 §3.1, §3.8–3.9, §3.11: the token is refused for another audience, another issuer, a key outside the JWKS, or another typ', async () => {
    const { api, tenantId, userId, authenticator } = await enrolled();
    const { op } = await approve(api, authenticator, { type: 'SIGNATURE', userId, document: { content: CONTENT, mimeType: 'text/plain' } });
    const token = (await completed(api, op.id)).result.token;
    const jwks = await fetchJwks();
    await expect(verifyResultToken(token, { jwks, issuer: ISSUER, tenantId: 'ten_someoneelse0000000000000000' })).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
    await expect(verifyResultToken(token, { jwks, issuer: 'https://evil.example', tenantId })).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' });
    // A JWKS with another key under the same kid: the signature does not verify.
    const other = await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey);
    const swapped: JSONWebKeySet = { keys: jwks.keys.map((k) => ({ ...k, x: other.x, y: other.y })) };
    await expect(verifyResultToken(token, { jwks: swapped, issuer: ISSUER, tenantId })).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    await expect(
      jwtVerify(token, createLocalJWKSet(jwks), { algorithms: ['ES256'], issuer: ISSUER, audience: tenantId, typ: 'JWT' }),
    ).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'typ' });
  });

  it('WebAuthn §7.2 / PSD2 RTS art. 5: evidence checks catch a document the device did not sign and a token read with the wrong rpId or origin', async () => {
    const { api, tenantId, userId, authenticator } = await enrolled();
    const { op } = await approve(api, authenticator, { type: 'SIGNATURE', userId, document: { content: CONTENT, mimeType: 'text/plain' } });
    const claims = await verifyResultToken((await completed(api, op.id)).result.token, { jwks: await fetchJwks(), issuer: ISSUER, tenantId });
    await expect(verifyAssertionEvidence({ ...claims, doc: { ...claims.doc!, sha256: '0'.repeat(64) } }, RP)).rejects.toThrow(/does not link/);
    await expect(verifyAssertionEvidence(claims, { rpId: 'example.com', origins: [ORIGIN] })).rejects.toThrow(/rpIdHash/);
    await expect(verifyAssertionEvidence(claims, { rpId: RP_ID, origins: ['https://example.com'] })).rejects.toThrow(/origin/);
    const evidence = claims.evidence as unknown as AssertionEvidence;
    const otherKey = (await generateKeyPair('ES256', { extractable: true })).publicKey;
    await expect(verifyAssertionEvidence({ ...claims, evidence: { ...evidence, publicKeyJwk: await exportJWK(otherKey) } as never }, RP)).rejects.toThrow(/signature/);
  });

  it('RFC 7519 §4.1.6: freshness is the relying party\'s call: iat is in seconds, so maxTokenAge works with an injected clock', async () => {
    const { api, tenantId, userId, authenticator } = await enrolled();
    const { op } = await approve(api, authenticator, { type: 'SIGNATURE', userId, document: { content: CONTENT, mimeType: 'text/plain' } });
    const token = (await completed(api, op.id)).result.token;
    const { iat } = decodeJwt(token);
    const jwks = await fetchJwks();
    await expect(verifyResultToken(token, { jwks, issuer: ISSUER, tenantId, maxTokenAge: '5m', currentDate: new Date((iat! + 60) * 1000) })).resolves.toBeTruthy();
    await expect(verifyResultToken(token, { jwks, issuer: ISSUER, tenantId, maxTokenAge: '5m', currentDate: new Date((iat! + 600) * 1000) })).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });
});

describe('result tokens of the other operation types', () => {
  it('PSD2 RTS art. 5(1)(b): AUTHORISATION txn is the transaction as echoed and the evidence challenge links it', async () => {
    const { api, tenantId, userId, authenticator, deviceId } = await enrolled();
    const transaction = { amount: '9007199254740993.00', currency: 'EUR', payee: { name: 'ACME', account: 'DE89370400440532013000' }, reference: 'INV-7' };
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHORISATION', userId, transaction });
    expect(finish.status).toBe(200);
    const claims = await verifyResultToken((await completed(api, op.id)).result.token, { jwks: await fetchJwks(), issuer: ISSUER, tenantId });
    expect(claims).toMatchObject({ op: 'AUTHORISATION', jti: op.id, sub: userId, device: deviceId, amr: ['hwk', 'user'] });
    expect(claims.txn).toEqual(transaction);
    expect(claims.doc).toBeUndefined();
    await verifyAssertionEvidence(claims, RP);
    await expect(verifyAssertionEvidence({ ...claims, txn: { ...transaction, amount: '9007199254740993.01' } }, RP)).rejects.toThrow(/does not link/);
  });

  it('PSD2 RTS art. 5(3)(a): AUTHORISATION batch txn is { transactions } as echoed and the evidence challenge links it', async () => {
    const { api, tenantId, userId, authenticator } = await enrolled();
    const transactions = [
      { amount: '1.00', currency: 'EUR', payee: { name: 'A' } },
      { amount: '2.50', currency: 'EUR', payee: { name: 'B' } },
    ];
    const { op } = await approve(api, authenticator, { type: 'AUTHORISATION', userId, transactions });
    const claims = await verifyResultToken((await completed(api, op.id)).result.token, { jwks: await fetchJwks(), issuer: ISSUER, tenantId });
    expect(claims.txn).toEqual({ transactions });
    await verifyAssertionEvidence(claims, RP);
  });

  it('API.md §1 result token: AUTHENTICATION has no txn or doc, and the evidence still verifies', async () => {
    const { api, tenantId, userId, authenticator, deviceId } = await enrolled();
    const { op } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId });
    const claims = await verifyResultToken((await completed(api, op.id)).result.token, { jwks: await fetchJwks(), issuer: ISSUER, tenantId });
    expect(claims).toMatchObject({ op: 'AUTHENTICATION', jti: op.id, device: deviceId });
    expect(claims.txn).toBeUndefined();
    expect(claims.doc).toBeUndefined();
    await verifyAssertionEvidence(claims, RP);
  });

  it('API.md §1 result token: REGISTRATION evidence carries the attestation object and clientDataJSON of webauthn.create', async () => {
    const { api, tenantId, userId, deviceId, registrationId, authenticator } = await enrolled();
    const claims = await verifyResultToken((await completed(api, registrationId)).result.token, { jwks: await fetchJwks(), issuer: ISSUER, tenantId });
    expect(claims).toMatchObject({ op: 'REGISTRATION', jti: registrationId, sub: userId, device: deviceId });
    expect(Object.keys(claims.evidence).sort()).toEqual(['attestationObject', 'clientDataJSON', 'credentialId', 'publicKeyJwk']);
    expect(claims.evidence.credentialId).toBe(authenticator.credentialId);
    const clientData = JSON.parse(new TextDecoder().decode(fromBase64url(claims.evidence.clientDataJSON as string))) as { type: string; origin: string };
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
    const oldToken = await signResultToken(before, claims);
    const newToken = await signResultToken(after, claims);
    const kidOf = (t: string): string => (JSON.parse(new TextDecoder().decode(fromBase64url(t.split('.')[0]!))) as { kid: string }).kid;
    expect(kidOf(oldToken)).toBe('sig-old');
    expect(kidOf(newToken)).toBe('sig-new');

    const jwks = (await publicJwks(after)) as JSONWebKeySet;
    expect(jwks.keys.map((k) => k.kid)).toEqual(['sig-new', 'sig-old']);
    for (const key of jwks.keys) expect(key.d).toBeUndefined();
    const trust = { jwks, issuer: ISSUER, tenantId: claims.tenantId };
    await expect(verifyResultToken(oldToken, trust)).resolves.toMatchObject({ jti: claims.operationId });
    await expect(verifyResultToken(newToken, trust)).resolves.toMatchObject({ jti: claims.operationId });

    // Once the old key is dropped, its tokens no longer verify.
    const retired = (await publicJwks(JSON.stringify([fresh]))) as JSONWebKeySet;
    await expect(verifyResultToken(oldToken, { ...trust, jwks: retired })).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });
});
