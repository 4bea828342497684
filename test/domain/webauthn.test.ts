// WebAuthn domain checks: COSE → JWK, creation/request options, and the assertion checks the library leaves to us.
import { describe, expect, it } from 'vitest';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import {
  authenticationOptions,
  coseToJwk,
  registrationOptions,
  SUPPORTED_ALGORITHMS,
  userHandleOf,
  verifyAssertion,
  verifyRegistration,
} from '../../src/domain/webauthn';
import type { RelyingParty, StoredCredential } from '../../src/domain/webauthn';
import { b64url, cborEncode, fromB64url, SoftAuthenticator } from '../helpers/soft-authenticator';
import type { CborValue, CreationOptionsJSON, Knobs, RequestOptionsJSON } from '../helpers/soft-authenticator';

const RP_ID = 'localhost';
const ORIGIN = 'http://localhost:8787';
const RP: RelyingParty = { rpId: RP_ID, rpName: 'Test bank', origins: [ORIGIN] };
const USER_ID = 'usr_06h2d9tvbxgp076vc012k04y9msvjgexnxy0';
const OTHER_USER_ID = 'usr_06h2d9tvbxgp076vc012k04y9msvjgexnxy1';

function randomChallenge(): string {
  return b64url(crypto.getRandomValues(new Uint8Array(32)));
}

function stored(authenticator: SoftAuthenticator, overrides: Partial<StoredCredential> = {}): StoredCredential {
  return {
    credentialId: authenticator.credentialId,
    deviceId: 'dev_06h2d9tvbxgp076vc012k04y9msvjgexnxy0',
    publicKey: b64url(authenticator.publicKeyCose),
    counter: 0,
    backupEligible: authenticator.backupEligible,
    transports: ['internal'],
    rpId: RP_ID,
    ...overrides,
  };
}

/** An assertion for `challenge` by `authenticator`, with the user handle of USER_ID unless the knobs say otherwise. */
async function assertion(authenticator: SoftAuthenticator, challenge: string, knobs: Knobs = {}): Promise<AuthenticationResponseJSON> {
  const options: RequestOptionsJSON = { challenge, rpId: RP_ID, allowCredentials: [] };
  const userHandle = b64url(userHandleOf(USER_ID));
  return (await authenticator.assert(options, { userHandle, ...knobs })) as unknown as AuthenticationResponseJSON;
}

describe('coseToJwk', () => {
  it('RFC 9053 §7.1.1: an EC2 P-256 COSE key becomes the JWK WebCrypto exports for the same key', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const jwk = coseToJwk(authenticator.publicKeyCose);
    expect(jwk).toEqual({ kty: 'EC', crv: 'P-256', x: authenticator.publicKeyJwk.x, y: authenticator.publicKeyJwk.y });
    // And it imports as a usable verification key.
    const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
    expect(new Uint8Array((await crypto.subtle.exportKey('spki', key)) as ArrayBuffer)).toEqual(authenticator.publicKeySpki);
  });

  it('RFC 8230 §4: an RSA COSE key becomes { kty: RSA, n, e }', async () => {
    const pair = (await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    )) as CryptoKeyPair;
    const exported = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey;
    const cose = cborEncode(new Map<number, CborValue>([[1, 3], [3, -257], [-1, fromB64url(exported.n!)], [-2, fromB64url(exported.e!)]]));
    expect(coseToJwk(cose)).toEqual({ kty: 'RSA', n: exported.n, e: exported.e });
  });

  it('RFC 9053: a key type we cannot show as evidence (OKP) is refused', () => {
    const okp = cborEncode(new Map<number, CborValue>([[1, 1], [3, -8], [-1, 6], [-2, new Uint8Array(32)]]));
    expect(() => coseToJwk(okp)).toThrow();
  });
});

describe('ceremony options', () => {
  it('WebAuthn §5.4 + PSD2 RTS art. 4: creation options require UV, offer ES256 and RS256, and exclude the user’s credentials', async () => {
    const options = await registrationOptions({
      rp: RP, userId: USER_ID, userName: 'ada', challenge: new Uint8Array(32).fill(7), timeoutMs: 60_000,
      exclude: [{ credentialId: 'AAAA', transports: ['internal'] }],
    });
    expect(options.rp).toEqual({ id: RP_ID, name: 'Test bank' });
    expect(options.user.id).toBe(b64url(userHandleOf(USER_ID)));
    expect(options.challenge).toBe(b64url(new Uint8Array(32).fill(7)));
    expect(options.pubKeyCredParams.map((p) => p.alg)).toEqual(SUPPORTED_ALGORITHMS);
    expect(options.authenticatorSelection?.userVerification).toBe('required');
    expect(options.excludeCredentials).toEqual([{ id: 'AAAA', type: 'public-key', transports: ['internal'] }]);
  });

  it('WebAuthn §5.5 + PSD2 RTS art. 4: request options require UV and list the allowed credentials', async () => {
    const options = await authenticationOptions({ rpId: RP_ID, challenge: new Uint8Array(32).fill(9), timeoutMs: 60_000, allow: [{ credentialId: 'BBBB', transports: [] }] });
    expect(options.rpId).toBe(RP_ID);
    expect(options.userVerification).toBe('required');
    expect(options.allowCredentials?.map((c) => c.id)).toEqual(['BBBB']);
  });
});

describe('verifyRegistration', () => {
  async function registration(init: { backupEligible?: boolean } = {}, knobs: Knobs = {}): Promise<{ authenticator: SoftAuthenticator; challenge: string; response: RegistrationResponseJSON }> {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN, ...init });
    const options = await registrationOptions({ rp: RP, userId: USER_ID, userName: 'ada', challenge: crypto.getRandomValues(new Uint8Array(32)), timeoutMs: 60_000, exclude: [] });
    const response = (await authenticator.register(options as unknown as CreationOptionsJSON, knobs)) as unknown as RegistrationResponseJSON;
    return { authenticator, challenge: options.challenge, response };
  }

  it('WebAuthn §7.1: a valid response yields the credential id, COSE key, JWK, AAGUID, flags and transports', async () => {
    const { authenticator, challenge, response } = await registration();
    const result = await verifyRegistration({ response, challenge, rp: RP, deviceBoundOnly: false });
    expect(result).toEqual({
      ok: true,
      value: {
        credentialId: authenticator.credentialId,
        publicKey: b64url(authenticator.publicKeyCose),
        publicKeyJwk: { kty: 'EC', crv: 'P-256', x: authenticator.publicKeyJwk.x, y: authenticator.publicKeyJwk.y },
        counter: 0,
        aaguid: '00000000-0000-0000-0000-000000000000',
        backupEligible: false,
        backedUp: false,
        transports: ['internal'],
      },
    });
  });

  it('tenant policy deviceBoundOnly: a backup-eligible credential → BACKUP_ELIGIBLE_REFUSED (accepted without the policy)', async () => {
    const { challenge, response } = await registration({ backupEligible: true });
    expect(await verifyRegistration({ response, challenge, rp: RP, deviceBoundOnly: true })).toMatchObject({ ok: false, reason: 'BACKUP_ELIGIBLE_REFUSED' });
    expect(await verifyRegistration({ response, challenge, rp: RP, deviceBoundOnly: false })).toMatchObject({ ok: true, value: { backupEligible: true } });
  });

  it('WebAuthn §7.1: a response id that is not the credential id in authData → CREDENTIAL_ID_MISMATCH', async () => {
    const { challenge, response } = await registration({}, { credentialId: b64url(new Uint8Array(32).fill(1)) });
    expect(await verifyRegistration({ response, challenge, rp: RP, deviceBoundOnly: false })).toMatchObject({ ok: false, reason: 'CREDENTIAL_ID_MISMATCH' });
  });

  it('WebAuthn §7.1 step 15: UV=0 → WEBAUTHN_INVALID', async () => {
    const { challenge, response } = await registration({}, { uv: false });
    expect(await verifyRegistration({ response, challenge, rp: RP, deviceBoundOnly: false })).toMatchObject({ ok: false, reason: 'WEBAUTHN_INVALID' });
  });
});

describe('verifyAssertion: the checks around the library', () => {
  it('WebAuthn §7.2: a valid assertion by an allowed credential verifies and reports the new counter', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const challenge = randomChallenge();
    const result = await verifyAssertion({ response: await assertion(authenticator, challenge), challenge, rp: RP, allowed: [stored(authenticator)], userId: USER_ID });
    expect(result).toMatchObject({ ok: true, value: { newCounter: 1, backedUp: false, credential: { credentialId: authenticator.credentialId } } });
  });

  it('WebAuthn §7.2 step 5: a credential not in the allowed list → CREDENTIAL_NOT_ALLOWED', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const someoneElse = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const challenge = randomChallenge();
    const response = await assertion(authenticator, challenge);
    expect(await verifyAssertion({ response, challenge, rp: RP, allowed: [stored(someoneElse)], userId: USER_ID })).toEqual({ ok: false, reason: 'CREDENTIAL_NOT_ALLOWED' });
    expect(await verifyAssertion({ response, challenge, rp: RP, allowed: [], userId: USER_ID })).toEqual({ ok: false, reason: 'CREDENTIAL_NOT_ALLOWED' });
  });

  it('WebAuthn §7.2 step 5: an allowed id claimed over another credential’s signature → refused', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const impostor = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const challenge = randomChallenge();
    const response = await assertion(impostor, challenge, { credentialId: authenticator.credentialId });
    expect(await verifyAssertion({ response, challenge, rp: RP, allowed: [stored(authenticator)], userId: USER_ID })).toMatchObject({ ok: false });
  });

  it('WebAuthn §7.2 step 6: a userHandle of another user → USER_HANDLE_MISMATCH', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const challenge = randomChallenge();
    const response = await assertion(authenticator, challenge, { userHandle: b64url(userHandleOf(OTHER_USER_ID)) });
    expect(await verifyAssertion({ response, challenge, rp: RP, allowed: [stored(authenticator)], userId: USER_ID })).toEqual({ ok: false, reason: 'USER_HANDLE_MISMATCH' });
    // Without a userHandle (a non-discoverable credential) the allow list alone decides.
    const withoutHandle = await assertion(authenticator, challenge, { userHandle: null });
    expect(await verifyAssertion({ response: withoutHandle, challenge, rp: RP, allowed: [stored(authenticator)], userId: USER_ID })).toMatchObject({ ok: true });
  });

  it('WebAuthn §7.2 step 19: a BE flag that changed since registration → BACKUP_ELIGIBILITY_CHANGED (both ways)', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const challenge = randomChallenge();
    const nowEligible = await assertion(authenticator, challenge, { be: true });
    expect(await verifyAssertion({ response: nowEligible, challenge, rp: RP, allowed: [stored(authenticator, { backupEligible: false })], userId: USER_ID }))
      .toEqual({ ok: false, reason: 'BACKUP_ELIGIBILITY_CHANGED' });
    const noLongerEligible = await assertion(authenticator, challenge, { be: false, bs: false });
    expect(await verifyAssertion({ response: noLongerEligible, challenge, rp: RP, allowed: [stored(authenticator, { backupEligible: true })], userId: USER_ID }))
      .toEqual({ ok: false, reason: 'BACKUP_ELIGIBILITY_CHANGED' });
  });

  it('WebAuthn §7.2 step 21: a sign count that went backwards → COUNTER_REGRESSION', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const challenge = randomChallenge();
    const response = await assertion(authenticator, challenge, { counter: 3 });
    expect(await verifyAssertion({ response, challenge, rp: RP, allowed: [stored(authenticator, { counter: 5 })], userId: USER_ID })).toMatchObject({ ok: false, reason: 'COUNTER_REGRESSION' });
  });

  it('WebAuthn §7.2 steps 12–17: wrong challenge, origin, rpIdHash or UV=0 → refused', async () => {
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const challenge = randomChallenge();
    const allowed = [stored(authenticator)];
    for (const knobs of [{ challenge: randomChallenge() }, { origin: 'http://localhost:9999' }, { rpId: 'evil.example' }, { uv: false }, { type: 'webauthn.create' }] as Knobs[]) {
      const result = await verifyAssertion({ response: await assertion(authenticator, challenge, knobs), challenge, rp: RP, allowed, userId: USER_ID });
      expect(result, JSON.stringify(knobs)).toMatchObject({ ok: false });
    }
  });
});
