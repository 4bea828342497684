// Proves the software authenticator against the real @simplewebauthn/server, and pins down what that library leaves unchecked.
import { describe, expect, it } from 'vitest';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type {
  PublicKeyCredentialCreationOptionsJSON,
  VerifiedRegistrationResponse,
  WebAuthnCredential,
} from '@simplewebauthn/server';
import {
  SoftAuthenticator,
  b64url,
  cborEncode,
  fromB64url,
  rawEcdsaToDer,
  sha256,
  type Knobs,
  type SoftAuthenticatorInit,
} from './soft-authenticator';

const RP_ID = 'bank.example';
const ORIGIN = 'https://bank.example';
const USER_ID = Uint8Array.from(new TextEncoder().encode('user-0001'));

const hex = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');

/** Runs a verification and names its result, so each case asserts one exact outcome. */
async function outcome(run: () => Promise<{ verified: boolean }>): Promise<string> {
  try {
    return (await run()).verified ? 'verified' : 'not verified';
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

function newAuthenticator(init: Partial<SoftAuthenticatorInit> = {}): Promise<SoftAuthenticator> {
  return SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN, ...init });
}

function registrationOptions(): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: 'Bank',
    rpID: RP_ID,
    userName: 'alice',
    userID: USER_ID,
    supportedAlgorithmIDs: [-7],
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
  });
}

async function verifyRegistration(
  auth: SoftAuthenticator,
  knobs: Knobs = {},
  extra: { supportedAlgorithmIDs?: number[] } = {},
): Promise<VerifiedRegistrationResponse> {
  const options = await registrationOptions();
  const response = await auth.register(options, knobs);
  return verifyRegistrationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    requireUserVerification: true,
    ...extra,
  });
}

/** A registered authenticator plus the credential record a server would store for it. */
async function enrolled(
  init: Partial<SoftAuthenticatorInit> = {},
): Promise<{ auth: SoftAuthenticator; credential: WebAuthnCredential }> {
  const auth = await newAuthenticator(init);
  const result = await verifyRegistration(auth);
  if (!result.verified) throw new Error('registration did not verify');
  return { auth, credential: result.registrationInfo.credential };
}

async function verifyAssertion(
  auth: SoftAuthenticator,
  credential: WebAuthnCredential,
  knobs: Knobs = {},
): Promise<Awaited<ReturnType<typeof verifyAuthenticationResponse>>> {
  const options = await generateAuthenticationOptions({
    rpID: RP_ID,
    allowCredentials: [{ id: credential.id }],
    userVerification: 'required',
  });
  const response = await auth.assert(options, knobs);
  return verifyAuthenticationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    credential,
    requireUserVerification: true,
  });
}

describe('encodings', () => {
  it('CBOR encodes RFC 8949 Appendix A examples', () => {
    const cases: Array<[Parameters<typeof cborEncode>[0], string]> = [
      [0, '00'],
      [23, '17'],
      [24, '1818'],
      [100, '1864'],
      [1000, '1903e8'],
      [1000000, '1a000f4240'],
      [1000000000000, '1b000000e8d4a51000'],
      [-1, '20'],
      [-10, '29'],
      [-100, '3863'],
      [-1000, '3903e7'],
      ['a', '6161'],
      ['IETF', '6449455446'],
      [Uint8Array.of(1, 2, 3, 4), '4401020304'],
      [[1, 2, 3], '83010203'],
      [new Map([[1, 2], [3, 4]]), 'a201020304'],
      [{}, 'a0'],
      [true, 'f5'],
      [null, 'f6'],
    ];
    for (const [value, expected] of cases) expect(hex(cborEncode(value))).toBe(expected);
  });

  it('CBOR writes map keys in CTAP2 canonical order (shorter encoding first, then bytewise)', () => {
    const encoded = cborEncode(new Map<number | string, number>([['a', 0], [-1, 0], [1, 0], [-3, 0]]));
    expect(hex(encoded)).toBe('a4' + '0100' + '2000' + '2200' + '616100');
    // attestationObject keys: fmt (3 chars) < attStmt (7) < authData (8)
    expect(hex(cborEncode({ authData: 1, attStmt: 1, fmt: 1 }))).toBe(
      'a3' + '63666d74' + '01' + '6761747453746d74' + '01' + '686175746844617461' + '01',
    );
  });

  it('ECDSA raw r||s becomes DER with minimal, non-negative INTEGERs', () => {
    const raw = new Uint8Array(64);
    raw[0] = 0x80; // r has its high bit set: needs a 0x00 pad
    raw[31] = 0x01;
    raw[63] = 0x05; // s = 5: leading zeros stripped to one byte
    const der = rawEcdsaToDer(raw);
    expect(hex(der)).toBe('3026' + '0221' + '0080' + '00'.repeat(30) + '01' + '020105');
  });

  it('base64url round-trips every byte value without padding', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const text = b64url(all);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(fromB64url(text)).toEqual(all);
    expect(() => fromB64url('not+base64url')).toThrow();
  });

  it('sha256 matches the FIPS 180-2 "abc" vector', async () => {
    expect(hex(await sha256('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('registration (WebAuthn §7.1) through @simplewebauthn/server', () => {
  it('verifies, with the same credential id and public key', async () => {
    const auth = await newAuthenticator();
    const result = await verifyRegistration(auth);
    expect(result.verified).toBe(true);
    if (!result.verified) return;
    const info = result.registrationInfo;
    expect(info.credential.id).toBe(auth.credentialId);
    expect(fromB64url(auth.credentialId).length).toBe(32);
    expect(info.credential.publicKey).toEqual(auth.publicKeyCose);
    expect(info.credential.counter).toBe(0);
    expect(info.credential.transports).toEqual(['internal']);
    expect(info.fmt).toBe('none');
    expect(info.aaguid).toBe('00000000-0000-0000-0000-000000000000');
    expect(info.userVerified).toBe(true);
    expect(info.credentialDeviceType).toBe('singleDevice');
    expect(info.credentialBackedUp).toBe(false);
    expect(info.origin).toBe(ORIGIN);
    expect(info.rpID).toBe(RP_ID);
  });

  it('response carries what startRegistration() returns: SPKI publicKey of the same key, alg, authData', async () => {
    const auth = await newAuthenticator();
    const options = await registrationOptions();
    const res = await auth.register(options);
    expect(res.type).toBe('public-key');
    expect(res.id).toBe(res.rawId);
    expect(res.authenticatorAttachment).toBe('platform');
    // generateRegistrationOptions asks for credProps; a passkey platform answers rk: true
    expect(res.clientExtensionResults).toEqual({ credProps: { rk: true } });
    expect(res.response.publicKeyAlgorithm).toBe(-7);
    const spki = await crypto.subtle.importKey(
      'spki',
      fromB64url(res.response.publicKey),
      { name: 'ECDSA', namedCurve: 'P-256' },
      true,
      ['verify'],
    );
    const jwk = (await crypto.subtle.exportKey('jwk', spki)) as JsonWebKey;
    expect([jwk.x, jwk.y]).toEqual([auth.publicKeyJwk.x, auth.publicKeyJwk.y]);
    const clientData = JSON.parse(new TextDecoder().decode(fromB64url(res.response.clientDataJSON)));
    expect(clientData).toEqual({ type: 'webauthn.create', challenge: options.challenge, origin: ORIGIN, crossOrigin: false });
    const authData = fromB64url(res.response.authenticatorData);
    expect(authData.subarray(0, 32)).toEqual(await sha256(RP_ID));
    expect(authData[32]).toBe(0x45); // UP | UV | AT
    expect(auth.userHandle).toBe(b64url(USER_ID));
  });

  it("'packed' self attestation verifies", async () => {
    const result = await verifyRegistration(await newAuthenticator(), { fmt: 'packed' });
    expect(result.verified).toBe(true);
    expect(result.registrationInfo?.fmt).toBe('packed');
  });

  it("'packed' self attestation signed by another key does not verify", async () => {
    const other = await newAuthenticator();
    expect(await outcome(async () => verifyRegistration(await newAuthenticator(), { fmt: 'packed', signWith: other }))).toBe(
      'not verified',
    );
  });

  it('BE/BS from the authenticator settings reach the library (multiDevice, backed up) and a custom AAGUID', async () => {
    const aaguid = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    const result = await verifyRegistration(await newAuthenticator({ backupEligible: true, backedUp: true, aaguid }));
    expect(result.registrationInfo?.credentialDeviceType).toBe('multiDevice');
    expect(result.registrationInfo?.credentialBackedUp).toBe(true);
    expect(result.registrationInfo?.aaguid).toBe('01020304-0506-0708-090a-0b0c0d0e0f10');
  });

  const rejects: Array<[string, Knobs, RegExp]> = [
    ['wrong origin (§7.1 step 9)', { origin: 'https://evil.example' }, /Unexpected registration response origin/],
    ['wrong rpIdHash (§7.1 step 13)', { rpId: 'evil.example' }, /Unexpected RP ID hash/],
    ['wrong challenge (§7.1 step 8)', { challenge: b64url(new Uint8Array(32)) }, /Unexpected registration response challenge/],
    ["type 'webauthn.get' (§7.1 step 7)", { type: 'webauthn.get' }, /Unexpected registration response type/],
    ['UP=0 (§7.1 step 14)', { up: false }, /User presence was required/],
    ['UV=0 with user verification required (§7.1 step 15)', { uv: false }, /User verification was required/],
    ["fmt 'none' with a non-empty attStmt (§8.7)", { attStmt: { x: 1 } }, /None attestation had unexpected attestation statement/],
    ['BS=1 with BE=0 (§6.1.3)', { be: false, bs: true }, /Single-device credential indicated that it was backed up/],
    ['alg not offered, when the offered list is passed to verify (§7.1 step 17)', { alg: -257 }, /Unexpected public key alg "-257"/],
  ];
  for (const [name, knobs, error] of rejects) {
    it(`rejects ${name}`, async () => {
      const auth = await newAuthenticator();
      const result = await outcome(() => verifyRegistration(auth, knobs, { supportedAlgorithmIDs: [-7] }));
      expect(result).toMatch(error);
    });
  }
});

describe('authentication (WebAuthn §7.2) through @simplewebauthn/server', () => {
  it('verifies with the stored key and reports the incremented counter', async () => {
    const { auth, credential } = await enrolled();
    const first = await verifyAssertion(auth, credential);
    expect(first.verified).toBe(true);
    expect(first.authenticationInfo.newCounter).toBe(1);
    expect(first.authenticationInfo.userVerified).toBe(true);
    expect(first.authenticationInfo.credentialID).toBe(auth.credentialId);
    const second = await verifyAssertion(auth, { ...credential, counter: 1 });
    expect(second.verified).toBe(true);
    expect(second.authenticationInfo.newCounter).toBe(2);
    expect(auth.signCount).toBe(2);
  });

  it('response carries what startAuthentication() returns, userHandle = user.id from registration', async () => {
    const { auth, credential } = await enrolled();
    const res = await auth.assert({
      challenge: b64url(new Uint8Array(32)),
      rpId: RP_ID,
      allowCredentials: [{ id: credential.id, type: 'public-key' }],
    });
    expect(res.type).toBe('public-key');
    expect(res.id).toBe(credential.id);
    expect(res.response.userHandle).toBe(b64url(USER_ID));
    expect(fromB64url(res.response.authenticatorData)[32]).toBe(0x05); // UP | UV
    const omitted = await auth.assert({ challenge: 'AAAA' }, { userHandle: null });
    expect('userHandle' in omitted.response).toBe(false);
  });

  it('signature verifies under the exported JWK with plain WebCrypto (DER → raw)', async () => {
    const auth = await newAuthenticator();
    const res = await auth.assert({ challenge: 'AAAA' });
    const der = fromB64url(res.response.signature);
    // Undo the DER wrapping: SEQUENCE { INTEGER r, INTEGER s }.
    const rLen = der[3] ?? 0;
    const r = der.subarray(4, 4 + rLen);
    const s = der.subarray(6 + rLen);
    const fixed = (n: Uint8Array): Uint8Array => {
      const out = new Uint8Array(32);
      const trimmed = n.subarray(Math.max(0, n.length - 32));
      out.set(trimmed, 32 - trimmed.length);
      return out;
    };
    const raw = new Uint8Array(64);
    raw.set(fixed(r));
    raw.set(fixed(s), 32);
    const p256 = { name: 'ECDSA', namedCurve: 'P-256' };
    const key = await crypto.subtle.importKey('jwk', auth.publicKeyJwk, p256, false, ['verify']);
    const signed = new Uint8Array([
      ...fromB64url(res.response.authenticatorData),
      ...(await sha256(fromB64url(res.response.clientDataJSON))),
    ]);
    expect(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, raw, signed)).toBe(true);
  });

  const rejects: Array<[string, Knobs, RegExp]> = [
    ['wrong origin (§7.2 step 13)', { origin: 'https://evil.example' }, /Unexpected authentication response origin/],
    ['wrong rpIdHash (§7.2 step 15)', { rpId: 'evil.example' }, /Unexpected RP ID hash/],
    ['wrong challenge (§7.2 step 12)', { challenge: b64url(new Uint8Array(32)) }, /Unexpected authentication response challenge/],
    ["type 'webauthn.create' (§7.2 step 11)", { type: 'webauthn.create' }, /Unexpected authentication response type/],
    ['UP=0 (§7.2 step 16)', { up: false }, /User not present/],
    ['UV=0 with user verification required (§7.2 step 17)', { uv: false }, /User verification required/],
    ['BS=1 with BE=0 (§6.1.3)', { be: false, bs: true }, /Single-device credential indicated that it was backed up/],
    [
      'a top origin when none is expected (§7.2 step 14)',
      { crossOrigin: true, topOrigin: 'https://evil.example' },
      /Detected cross-origin authentication response/,
    ],
    [
      'topOrigin with crossOrigin=false (§5.8.1)',
      { topOrigin: 'https://evil.example' },
      /within a non-cross-origin authentication response/,
    ],
  ];
  for (const [name, knobs, error] of rejects) {
    it(`rejects ${name}`, async () => {
      const { auth, credential } = await enrolled();
      expect(await outcome(() => verifyAssertion(auth, credential, knobs))).toMatch(error);
    });
  }

  it('a signature by another key is not verified (§7.2 step 20)', async () => {
    const { auth, credential } = await enrolled();
    const other = await newAuthenticator();
    expect(await outcome(() => verifyAssertion(auth, credential, { signWith: other }))).toBe('not verified');
  });

  it('a counter that does not increase is rejected by the library (§7.2 step 21)', async () => {
    const { auth, credential } = await enrolled();
    const stored = { ...credential, counter: 5 };
    expect(await outcome(() => verifyAssertion(auth, stored, { counter: 4 }))).toMatch(/was lower than expected 5/);
    expect(await outcome(() => verifyAssertion(auth, stored, { counter: 5 }))).toMatch(/was lower than expected 5/);
    expect(await outcome(() => verifyAssertion(auth, stored, { counter: 0 }))).toMatch(/was lower than expected 5/);
    const ok = await verifyAssertion(auth, stored, { counter: 6 });
    expect(ok.verified && ok.authenticationInfo.newCounter).toBe(6);
    expect(auth.signCount).toBe(0); // an explicit counter leaves the stored one alone
  });

  it('a counter stuck at 0 (no counter support) is accepted while the stored counter is 0', async () => {
    const { auth, credential } = await enrolled();
    const result = await verifyAssertion(auth, credential, { counter: 0 });
    expect(result.verified).toBe(true);
    expect(result.authenticationInfo.newCounter).toBe(0);
  });
});

describe('client-side checks the soft authenticator makes like a browser would', () => {
  it('refuses a foreign rp.id, a missing ES256, an excluded credential and an allow list without it', async () => {
    const auth = await newAuthenticator();
    const options = await registrationOptions();
    await expect(auth.register({ ...options, rp: { ...options.rp, id: 'other.example' } })).rejects.toThrow(/SecurityError/);
    await expect(auth.register({ ...options, pubKeyCredParams: [{ alg: -257, type: 'public-key' }] })).rejects.toThrow(
      /NotSupportedError/,
    );
    await expect(
      auth.register({ ...options, excludeCredentials: [{ id: auth.credentialId, type: 'public-key' }] }),
    ).rejects.toThrow(/InvalidStateError/);
    await expect(auth.assert({ challenge: 'AAAA', allowCredentials: [{ id: 'AAAA', type: 'public-key' }] })).rejects.toThrow(
      /NotAllowedError/,
    );
    await expect(auth.assert({ challenge: 'AAAA', rpId: 'other.example' })).rejects.toThrow(/SecurityError/);
    // skipClientChecks lets a test send what a browser never would
    const forced = await auth.assert(
      { challenge: 'AAAA', allowCredentials: [{ id: 'AAAA', type: 'public-key' }] },
      { skipClientChecks: true },
    );
    expect(forced.id).toBe(auth.credentialId);
  });
});

// Each case below VERIFIES in @simplewebauthn/server 14: the service must make these checks itself.
describe('left to the service: @simplewebauthn/server accepts these', () => {
  it('registration: an alg not offered passes unless supportedAlgorithmIDs is given to verify (§7.1 step 17)', async () => {
    // Options offered only -7, but verify defaults to [-8, -7, -257]; an EC2 key claiming RS256 passes.
    const result = await verifyRegistration(await newAuthenticator(), { alg: -257 });
    expect(result.verified).toBe(true);
  });

  it('registration: a response id other than the attested credential id is accepted (authData id returned)', async () => {
    const auth = await newAuthenticator();
    const claimed = b64url(new Uint8Array(32).fill(7));
    const result = await verifyRegistration(auth, { credentialId: claimed });
    expect(result.verified).toBe(true);
    expect(result.registrationInfo?.credential.id).toBe(auth.credentialId);
  });

  it('registration: a credential id longer than 1023 bytes is accepted (§7.1 step 25)', async () => {
    const auth = await newAuthenticator({ credentialIdLength: 1024 });
    expect((await verifyRegistration(auth)).verified).toBe(true);
  });

  it('registration: crossOrigin/topOrigin in clientDataJSON are ignored', async () => {
    const auth = await newAuthenticator();
    const result = await verifyRegistration(auth, { crossOrigin: true, topOrigin: 'https://evil.example' });
    expect(result.verified).toBe(true);
  });

  it('registration: a non-zero initial signCount is accepted', async () => {
    const result = await verifyRegistration(await newAuthenticator(), { counter: 41 });
    expect(result.registrationInfo?.credential.counter).toBe(41);
  });

  it('authentication: BE differing from the registered value is accepted (§7.2 step 19: BE must not change)', async () => {
    const { auth, credential } = await enrolled(); // registered with BE=0 (device-bound)
    const result = await verifyAssertion(auth, credential, { be: true, bs: true });
    expect(result.verified).toBe(true);
    expect(result.authenticationInfo.credentialDeviceType).toBe('multiDevice');
  });

  it('authentication: response id is not compared with credential.id (§7.2 steps 5-6)', async () => {
    const { auth, credential } = await enrolled();
    const result = await verifyAssertion(auth, credential, { credentialId: b64url(new Uint8Array(32)) });
    expect(result.verified).toBe(true);
  });

  it('authentication: userHandle is not compared with the credential owner (§7.2 step 6)', async () => {
    const { auth, credential } = await enrolled();
    const result = await verifyAssertion(auth, credential, { userHandle: b64url(new TextEncoder().encode('someone-else')) });
    expect(result.verified).toBe(true);
  });

  it('authentication: crossOrigin=true without topOrigin is accepted', async () => {
    const { auth, credential } = await enrolled();
    expect((await verifyAssertion(auth, credential, { crossOrigin: true })).verified).toBe(true);
  });
});
