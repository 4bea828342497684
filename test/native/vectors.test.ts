// The published test vectors (docs/native-test-vectors.json) hold for the server's protocol code and for the reference client.
import { describe, expect, it } from 'vitest';
import { base64url, compactVerify, importJWK } from 'jose';
import vectors from '../../docs/native-test-vectors.json';
import { linkedChallenge } from '../../src/domain/linking';
import { fromB64url } from '../../src/domain/encoding';
import { decryptEnvelope, sealReply, verifyApproval, verifyRequest } from '../../src/domain/native-envelope';
import type { Checked, OpenedEnvelope, RequestClaims } from '../../src/domain/native-envelope';
import { activationHash, openReply, parseActivation, sealEnvelope, signRequest } from '../../web-sdk/src/native';
import type { E2EKey, PublicJwk } from '../../web-sdk/src/native';
import { verifyDynamicLinking } from '../../web-sdk/src/linking';

type Jwk = { kty: string; crv: string; x: string; y: string; d: string; kid?: string };
const keys = vectors.keys as Record<string, Jwk>;
const pub = (jwk: Jwk): PublicJwk => ({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y });

async function ecdh(jwk: Jwk, options: { extractable: boolean }): Promise<CryptoKey> {
  return crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }, { name: 'ECDH', namedCurve: 'P-256' }, options.extractable, ['deriveBits']);
}

async function keyring(): Promise<Map<string, CryptoKey>> {
  return new Map([
    [keys.e2e!.kid!, await ecdh(keys.e2e!, { extractable: false })],
    [keys.e2ePrevious!.kid!, await ecdh(keys.e2ePrevious!, { extractable: false })],
  ]);
}

/** What the server does with an envelope before the operation sees it (without the jti store). */
async function openAndVerify(envelope: string, expected: { url: string; operationId: string; now: number }): Promise<Checked<{ opened: OpenedEnvelope; claims: RequestClaims }>> {
  const opened = await decryptEnvelope(envelope, await keyring());
  if (!opened.ok) return opened;
  const signer = opened.value.signer;
  const key = signer.kind === 'new-key' ? signer.jwk : signer.deviceId === vectors.deviceId ? pub(keys.device!) : null;
  if (!key) return { ok: false, code: 'DEVICE_SIGNATURE_INVALID', detail: 'unknown device' };
  const claims = await verifyRequest(opened.value.jws, key, { method: 'POST', ...expected });
  return claims.ok ? { ok: true, value: { opened: opened.value, claims: claims.value } } : claims;
}

const b64json = (value: unknown): string => base64url.encode(new TextEncoder().encode(JSON.stringify(value)));

describe('native protocol test vectors', () => {
  it('activation: the sdk.url parses, and ath is base64url SHA-256 of the token (RFC 9449 §4.2)', async () => {
    const { sdkUrl, ...parsed } = vectors.activation;
    const { ath, ...fields } = parsed;
    expect(parseActivation(sdkUrl)).toEqual(fields);
    expect(await activationHash(vectors.activation.token)).toBe(ath);
  });

  it('dynamic linking: challenge = random(32) ‖ SHA-256(JCS(transaction)) on server and device (PSD2 RTS art. 5)', async () => {
    const { transaction, random, challenge } = vectors.linking;
    expect(base64url.encode(await linkedChallenge(transaction, fromB64url(random)))).toBe(challenge);
    await expect(verifyDynamicLinking({ id: 'op', type: 'AUTHORISATION', transaction }, challenge)).resolves.toBeUndefined();
    await expect(verifyDynamicLinking({ id: 'op', type: 'AUTHORISATION', transaction: { ...transaction, amount: '12.51' } }, challenge)).rejects.toMatchObject({ code: 'LINKING_MISMATCH' });
  });

  for (const vector of vectors.requests) {
    describe(vector.name, () => {
      it('the inner JWS has the published signing input and verifies with the device key', async () => {
        expect(vector.signingInput).toBe(`${b64json(vector.jwsHeader)}.${b64json(vector.claims)}`);
        expect(vector.jws.startsWith(`${vector.signingInput}.`)).toBe(true);
        const verified = await compactVerify(vector.jws, await importJWK({ ...pub(keys.device!), alg: 'ES256' }, 'ES256'), { algorithms: ['ES256'] });
        expect(JSON.parse(new TextDecoder().decode(verified.payload))).toEqual(vector.claims);
      });

      it('the reference client signs the same signing input', async () => {
        const privateKey = await crypto.subtle.importKey('jwk', { ...keys.device!, kty: 'EC' }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
        const header = vector.jwsHeader as { kid?: string; jwk?: PublicJwk };
        const jws = await signRequest(header.kid !== undefined ? { privateKey, kid: header.kid } : { privateKey, jwk: header.jwk! }, vector.claims);
        expect(jws.split('.').slice(0, 2).join('.')).toBe(vector.signingInput);
      });

      it('the reference client seals the envelope byte for byte with the fixed epk, CEK and IV', async () => {
        const e2eKey: E2EKey = { ...pub(keys.e2e!), kid: keys.e2e!.kid! };
        const envelope = await sealEnvelope(vector.jws, e2eKey, {
          epk: await ecdh(keys.requestEpk!, { extractable: true }), cek: base64url.decode(vector.cek), iv: base64url.decode(vector.iv),
        });
        expect(envelope).toBe(vector.envelope);
        expect(JSON.parse(new TextDecoder().decode(base64url.decode(envelope.split('.')[0]!)))).toEqual(vector.jweProtectedHeader);
      });

      it('the server opens it: the JWS inside, its signer, and the claims it binds', async () => {
        const result = await openAndVerify(vector.envelope, vector);
        expect(result.ok, JSON.stringify(result)).toBe(true);
        if (!result.ok) return;
        expect(result.value.opened.jws).toBe(vector.jws);
        expect(result.value.opened.e2eKid).toBe(keys.e2e!.kid);
        expect(result.value.claims).toEqual(vector.claims);
      });
    });
  }

  it('the approval signs the operation challenge and the UV method the operation checks', async () => {
    const approval = vectors.requests[1]!;
    const checked = await verifyApproval({ jws: approval.jws, jwk: pub(keys.device!), operationId: approval.operationId, challenge: vectors.linking.challenge });
    expect(checked).toEqual({ ok: true, uv: 'fpt' });
    expect(await verifyApproval({ jws: approval.jws, jwk: pub(keys.device!), operationId: approval.operationId, challenge: vectors.registrationChallenge })).toEqual({ ok: false, reason: 'CHALLENGE_MISMATCH' });
    expect(await verifyApproval({ jws: approval.jws, jwk: pub(keys.otherDevice!), operationId: approval.operationId, challenge: vectors.linking.challenge })).toEqual({ ok: false, reason: 'NATIVE_SIGNATURE_INVALID' });
  });

  it('reply: the server seals it byte for byte, the reference client opens it', async () => {
    const { reply } = vectors;
    const jwe = await sealReply(reply.body, pub(keys.replyKey!), {
      epk: await ecdh(keys.replyEpk!, { extractable: true }), cek: base64url.decode(reply.cek), iv: base64url.decode(reply.iv),
    });
    expect(jwe).toBe(reply.jwe);
    expect(await openReply(reply.jwe, await ecdh(keys.replyKey!, { extractable: false }))).toEqual(reply.body);
    // Sealed to one reply key, unreadable with another.
    await expect(openReply(reply.jwe, await ecdh(keys.requestEpk!, { extractable: false }))).rejects.toThrow();
  });

  it('device proof: a device-proof+jwt with a reply key verifies with the device key (API.md §2)', async () => {
    const verified = await compactVerify(vectors.deviceProof.jws, await importJWK({ ...pub(keys.device!), alg: 'ES256' }, 'ES256'), { algorithms: ['ES256'] });
    expect(verified.protectedHeader).toEqual({ alg: 'ES256', typ: 'device-proof+jwt', kid: vectors.deviceId });
    expect(JSON.parse(new TextDecoder().decode(verified.payload))).toEqual(vectors.deviceProof.claims);
  });

  for (const vector of vectors.invalid) {
    it(`refused: ${vector.name} → ${vector.code}`, async () => {
      const result = await openAndVerify(vector.envelope, vector);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.code).toBe(vector.code);
    });
  }
});
