// A software WebAuthn authenticator + client: real P-256 keys and hand-encoded CBOR, shaped like @simplewebauthn/browser output.
//
// No imports and only erasable TypeScript, so workerd (vitest) and Node 22 type stripping (bench/) can both load it as is.

/** The PublicKeyCredentialCreationOptionsJSON fields this authenticator reads. */
export interface CreationOptionsJSON {
  challenge: string;
  rp: { id?: string; name: string };
  user: { id: string; name: string; displayName: string };
  pubKeyCredParams: Array<{ alg: number; type: string }>;
  excludeCredentials?: Array<{ id: string; type: string; transports?: string[] }>;
  extensions?: { credProps?: boolean };
}

/** The PublicKeyCredentialRequestOptionsJSON fields this authenticator reads. */
export interface RequestOptionsJSON {
  challenge: string;
  rpId?: string;
  allowCredentials?: Array<{ id: string; type: string; transports?: string[] }>;
}

export interface RegistrationResponseJSON {
  id: string;
  rawId: string;
  response: {
    clientDataJSON: string;
    attestationObject: string;
    authenticatorData: string;
    transports: string[];
    publicKeyAlgorithm: number;
    publicKey: string;
  };
  authenticatorAttachment: 'platform' | 'cross-platform';
  clientExtensionResults: { credProps?: { rk: boolean } };
  type: 'public-key';
}

export interface AuthenticationResponseJSON {
  id: string;
  rawId: string;
  response: {
    clientDataJSON: string;
    authenticatorData: string;
    signature: string;
    userHandle?: string;
  };
  authenticatorAttachment: 'platform' | 'cross-platform';
  clientExtensionResults: Record<never, never>;
  type: 'public-key';
}

/** Per-call overrides, each one a way a hostile or broken client could lie. */
export interface Knobs {
  /** clientDataJSON.origin */
  origin?: string;
  /** RP ID hashed into authenticatorData (also skips the rp.id/rpId consistency check) */
  rpId?: string;
  /** clientDataJSON.type, e.g. 'webauthn.get' during registration */
  type?: string;
  /** clientDataJSON.challenge, used verbatim (base64url) */
  challenge?: string;
  up?: boolean;
  uv?: boolean;
  be?: boolean;
  bs?: boolean;
  /** signCount written into authenticatorData; the stored signCount is left alone */
  counter?: number;
  /** COSE alg claimed in the credential public key; the key stays P-256 */
  alg?: number;
  /** attestation format: 'none' (default) or 'packed' self attestation */
  fmt?: 'none' | 'packed';
  /** replaces the attestation statement, e.g. a non-empty one with fmt 'none' */
  attStmt?: Record<string, unknown>;
  /** assertion userHandle (base64url); null omits it */
  userHandle?: string | null;
  /** credential id claimed in the response JSON (id/rawId); authenticatorData keeps the real one */
  credentialId?: string;
  /** sign with another authenticator's private key */
  signWith?: SoftAuthenticator;
  crossOrigin?: boolean;
  topOrigin?: string;
  /** skip the checks a browser makes before calling the authenticator (rp id, allow/exclude lists, algs) */
  skipClientChecks?: boolean;
}

export interface SoftAuthenticatorInit {
  rpId: string;
  origin: string;
  /** 16 bytes; defaults to all zero (what 'none' attestation reports) */
  aaguid?: Uint8Array;
  backupEligible?: boolean;
  backedUp?: boolean;
  /** base64url user handle to return before register() has stored one */
  userHandle?: string;
  authenticatorAttachment?: 'platform' | 'cross-platform';
  /** credential id length in bytes (default 32); WebAuthn §7.1 caps it at 1023 */
  credentialIdLength?: number;
}

/** The name the project brief used for the same options. */
export type SoftCredentialOptions = SoftAuthenticatorInit;

// COSE algorithm ids (RFC 9053) and key parameters (RFC 9052 §7).
const COSE_ALG_ES256 = -7;
const COSE_KTY_EC2 = 2;
const COSE_CRV_P256 = 1;

// WebAuthn §6.1 authenticator data flags.
const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

const encoder = new TextEncoder();

/** Encodes bytes as unpadded base64url. */
export function b64url(bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = '';
  for (let i = 0; i < view.length; i += 0x8000) {
    binary += String.fromCharCode(...view.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decodes base64url (padding optional); throws on any other alphabet. */
export function fromB64url(str: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(str)) throw new Error(`not base64url: ${str}`);
  const b64 = str.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export async function sha256(bytes: Uint8Array | string): Promise<Uint8Array> {
  const data = typeof bytes === 'string' ? encoder.encode(bytes) : bytes;
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// CBOR (RFC 8949), the subset WebAuthn uses. Maps are written in CTAP2 canonical key order.

export type CborValue =
  | number
  | string
  | boolean
  | null
  | Uint8Array
  | CborValue[]
  | Map<number | string, CborValue>
  | { [key: string]: CborValue };

function cborHead(major: number, length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new Error(`CBOR: bad length/value ${length}`);
  const m = major << 5;
  if (length < 24) return Uint8Array.of(m | length);
  if (length < 0x100) return Uint8Array.of(m | 24, length);
  if (length < 0x10000) return Uint8Array.of(m | 25, length >> 8, length & 0xff);
  if (length < 0x100000000) {
    const b = new Uint8Array(5);
    b[0] = m | 26;
    new DataView(b.buffer).setUint32(1, length);
    return b;
  }
  const b = new Uint8Array(9);
  b[0] = m | 27;
  new DataView(b.buffer).setBigUint64(1, BigInt(length));
  return b;
}

function compareCanonical(a: Uint8Array, b: Uint8Array): number {
  // CTAP2 canonical CBOR: shorter encoded key first, then bytewise.
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function cborEncode(value: CborValue): Uint8Array {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error('CBOR: only integers are supported');
    return value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value);
  }
  if (typeof value === 'string') {
    const utf8 = encoder.encode(value);
    return concatBytes(cborHead(3, utf8.length), utf8);
  }
  if (typeof value === 'boolean') return Uint8Array.of(value ? 0xf5 : 0xf4);
  if (value === null) return Uint8Array.of(0xf6);
  if (value instanceof Uint8Array) return concatBytes(cborHead(2, value.length), value);
  if (Array.isArray(value)) return concatBytes(cborHead(4, value.length), ...value.map(cborEncode));
  const entries: Array<[number | string, CborValue]> =
    value instanceof Map ? [...value.entries()] : Object.entries(value);
  const encoded = entries
    .map(([k, v]) => ({ key: cborEncode(k), value: cborEncode(v) }))
    .sort((x, y) => compareCanonical(x.key, y.key));
  return concatBytes(cborHead(5, encoded.length), ...encoded.flatMap((e) => [e.key, e.value]));
}

// ---------------------------------------------------------------------------------------------
// ECDSA signature encoding: WebCrypto returns IEEE P1363 r||s, WebAuthn §6.5.6 wants ASN.1 DER.

function derInteger(unsigned: Uint8Array): Uint8Array {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const body = unsigned.subarray(start);
  // A set high bit would read as negative: prefix a zero byte.
  const padded = (body[0] ?? 0) & 0x80 ? concatBytes(Uint8Array.of(0), body) : body;
  return concatBytes(Uint8Array.of(0x02, padded.length), padded);
}

export function rawEcdsaToDer(raw: Uint8Array): Uint8Array {
  if (raw.length !== 64) throw new Error(`expected a 64-byte P-256 signature, got ${raw.length}`);
  const seq = concatBytes(derInteger(raw.subarray(0, 32)), derInteger(raw.subarray(32)));
  return concatBytes(Uint8Array.of(0x30, seq.length), seq);
}

// ---------------------------------------------------------------------------------------------

function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

function u16be(n: number): Uint8Array {
  return Uint8Array.of((n >> 8) & 0xff, n & 0xff);
}

interface SoftAuthenticatorState {
  init: SoftAuthenticatorInit;
  keyPair: CryptoKeyPair;
  credentialIdBytes: Uint8Array;
  publicKeyJwk: JsonWebKey;
  spki: Uint8Array;
}

/** One discoverable P-256 credential for one RP, held in memory. */
export class SoftAuthenticator {
  readonly rpId: string;
  readonly origin: string;
  readonly aaguid: Uint8Array;
  readonly backupEligible: boolean;
  readonly backedUp: boolean;
  readonly authenticatorAttachment: 'platform' | 'cross-platform';
  /** base64url, credentialIdLength (default 32) random bytes */
  readonly credentialId: string;
  readonly publicKeyJwk: JsonWebKey;
  /** SubjectPublicKeyInfo DER, what response.publicKey carries */
  readonly publicKeySpki: Uint8Array;
  /** COSE_Key (EC2, ES256) as it appears in attested credential data */
  readonly publicKeyCose: Uint8Array;
  /** incremented before each assertion unless Knobs.counter is given */
  signCount = 0;
  /** base64url user handle stored at registration (WebAuthn user.id) */
  userHandle: string | undefined;
  readonly #privateKey: CryptoKey;

  private constructor(state: SoftAuthenticatorState) {
    const { init } = state;
    if (init.aaguid && init.aaguid.length !== 16) throw new Error('aaguid must be 16 bytes');
    this.rpId = init.rpId;
    this.origin = init.origin;
    this.aaguid = init.aaguid ?? new Uint8Array(16);
    this.backupEligible = init.backupEligible ?? false;
    this.backedUp = init.backedUp ?? false;
    this.authenticatorAttachment = init.authenticatorAttachment ?? 'platform';
    this.userHandle = init.userHandle;
    this.credentialId = b64url(state.credentialIdBytes);
    this.publicKeyJwk = state.publicKeyJwk;
    this.publicKeySpki = state.spki;
    this.publicKeyCose = coseKey(state.publicKeyJwk, COSE_ALG_ES256);
    this.#privateKey = state.keyPair.privateKey;
  }

  static async create(init: SoftAuthenticatorInit): Promise<SoftAuthenticator> {
    const keyPair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const publicKeyJwk = (await crypto.subtle.exportKey('jwk', keyPair.publicKey)) as JsonWebKey;
    const spki = new Uint8Array((await crypto.subtle.exportKey('spki', keyPair.publicKey)) as ArrayBuffer);
    const credentialIdBytes = new Uint8Array(init.credentialIdLength ?? 32);
    crypto.getRandomValues(credentialIdBytes);
    return new SoftAuthenticator({ init, keyPair, credentialIdBytes, publicKeyJwk, spki });
  }

  /** navigator.credentials.create() + startRegistration(), returning RegistrationResponseJSON. */
  async register(options: CreationOptionsJSON, knobs: Knobs = {}): Promise<RegistrationResponseJSON> {
    const alg = knobs.alg ?? COSE_ALG_ES256;
    if (!knobs.skipClientChecks) {
      // WebAuthn §5.1.3 step 8: the browser refuses an rp.id that is not this origin's.
      if (knobs.rpId === undefined && options.rp.id !== undefined && options.rp.id !== this.rpId) {
        throw new Error(`SecurityError: rp.id ${options.rp.id} does not match authenticator rpId ${this.rpId}`);
      }
      // WebAuthn §6.3.2 step 2: no offered algorithm we can do → NotSupportedError.
      if (knobs.alg === undefined && !options.pubKeyCredParams.some((p) => p.alg === COSE_ALG_ES256)) {
        throw new Error('NotSupportedError: ES256 (-7) not in pubKeyCredParams');
      }
      // WebAuthn §6.3.2 step 3: an excluded credential on this authenticator → InvalidStateError.
      if (options.excludeCredentials?.some((c) => c.id === this.credentialId)) {
        throw new Error('InvalidStateError: credential is in excludeCredentials');
      }
    }
    this.userHandle = b64url(fromB64url(options.user.id));

    const clientDataJSON = this.#clientData('webauthn.create', options.challenge, knobs);
    const credIdBytes = fromB64url(this.credentialId);
    const attestedCredentialData = concatBytes(
      this.aaguid,
      u16be(credIdBytes.length),
      credIdBytes,
      alg === COSE_ALG_ES256 ? this.publicKeyCose : coseKey(this.publicKeyJwk, alg),
    );
    const authData = concatBytes(
      await this.#authDataHead(options.rp.id, knobs, FLAG_UP | FLAG_UV | FLAG_AT, knobs.counter ?? 0),
      attestedCredentialData,
    );

    const fmt = knobs.fmt ?? 'none';
    let attStmt: CborValue;
    if (knobs.attStmt) {
      attStmt = knobs.attStmt as { [key: string]: CborValue };
    } else if (fmt === 'packed') {
      // WebAuthn §8.2 self attestation: sig by the credential key over authData || clientDataHash.
      const sig = await this.#sign(concatBytes(authData, await sha256(clientDataJSON)), knobs);
      attStmt = { alg: COSE_ALG_ES256, sig };
    } else {
      attStmt = {};
    }
    const attestationObject = cborEncode({ fmt, attStmt, authData });

    const claimedId = knobs.credentialId ?? this.credentialId;
    return {
      id: claimedId,
      rawId: claimedId,
      response: {
        attestationObject: b64url(attestationObject),
        clientDataJSON: b64url(clientDataJSON),
        transports: ['internal'],
        publicKeyAlgorithm: alg,
        publicKey: b64url(this.publicKeySpki),
        authenticatorData: b64url(authData),
      },
      type: 'public-key',
      clientExtensionResults: options.extensions?.credProps ? { credProps: { rk: true } } : {},
      authenticatorAttachment: this.authenticatorAttachment,
    };
  }

  /** navigator.credentials.get() + startAuthentication(), returning AuthenticationResponseJSON. */
  async assert(options: RequestOptionsJSON, knobs: Knobs = {}): Promise<AuthenticationResponseJSON> {
    if (!knobs.skipClientChecks) {
      // WebAuthn §5.1.4 step 8: the browser refuses an rpId that is not this origin's.
      if (knobs.rpId === undefined && options.rpId !== undefined && options.rpId !== this.rpId) {
        throw new Error(`SecurityError: rpId ${options.rpId} does not match authenticator rpId ${this.rpId}`);
      }
      // WebAuthn §6.3.3 step 6: a non-empty allow list without this credential → NotAllowedError.
      const allow = options.allowCredentials;
      if (allow && allow.length > 0 && !allow.some((c) => c.id === this.credentialId)) {
        throw new Error('NotAllowedError: credential not in allowCredentials');
      }
    }
    let counter: number;
    if (knobs.counter !== undefined) {
      counter = knobs.counter;
    } else {
      this.signCount += 1;
      counter = this.signCount;
    }
    const clientDataJSON = this.#clientData('webauthn.get', options.challenge, knobs);
    const authData = await this.#authDataHead(options.rpId, knobs, FLAG_UP | FLAG_UV, counter);
    // WebAuthn §6.3.3 step 11: the assertion signature covers authData || SHA-256(clientDataJSON).
    const signature = await this.#sign(concatBytes(authData, await sha256(clientDataJSON)), knobs);

    const userHandle = knobs.userHandle === undefined ? this.userHandle : knobs.userHandle ?? undefined;
    const claimedId = knobs.credentialId ?? this.credentialId;
    return {
      id: claimedId,
      rawId: claimedId,
      response: {
        authenticatorData: b64url(authData),
        clientDataJSON: b64url(clientDataJSON),
        signature: b64url(signature),
        ...(userHandle === undefined ? {} : { userHandle }),
      },
      type: 'public-key',
      clientExtensionResults: {},
      authenticatorAttachment: this.authenticatorAttachment,
    };
  }

  /** DER ECDSA-P256-SHA256 signature by this credential's private key. */
  async sign(data: Uint8Array): Promise<Uint8Array> {
    const raw = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, this.#privateKey, data);
    return rawEcdsaToDer(new Uint8Array(raw));
  }

  #sign(data: Uint8Array, knobs: Knobs): Promise<Uint8Array> {
    return (knobs.signWith ?? this).sign(data);
  }

  #clientData(type: string, challenge: string, knobs: Knobs): Uint8Array {
    // Key order as Chromium writes it; the challenge is re-encoded from bytes like a browser does.
    const crossOrigin = knobs.crossOrigin ?? false;
    const data: Record<string, unknown> = {
      type: knobs.type ?? type,
      challenge: knobs.challenge ?? b64url(fromB64url(challenge)),
      origin: knobs.origin ?? this.origin,
      crossOrigin,
    };
    if (knobs.topOrigin !== undefined) data.topOrigin = knobs.topOrigin;
    return encoder.encode(JSON.stringify(data));
  }

  async #authDataHead(
    requestedRpId: string | undefined,
    knobs: Knobs,
    defaultFlags: number,
    counter: number,
  ): Promise<Uint8Array> {
    const rpIdHash = await sha256(knobs.rpId ?? requestedRpId ?? this.rpId);
    let flags = defaultFlags;
    if (this.backupEligible) flags |= FLAG_BE;
    if (this.backedUp) flags |= FLAG_BS;
    flags = setFlag(flags, FLAG_UP, knobs.up);
    flags = setFlag(flags, FLAG_UV, knobs.uv);
    flags = setFlag(flags, FLAG_BE, knobs.be);
    flags = setFlag(flags, FLAG_BS, knobs.bs);
    return concatBytes(rpIdHash, Uint8Array.of(flags), u32be(counter));
  }
}

function setFlag(flags: number, bit: number, value: boolean | undefined): number {
  if (value === undefined) return flags;
  return value ? flags | bit : flags & ~bit;
}

function coseKey(jwk: JsonWebKey, alg: number): Uint8Array {
  if (!jwk.x || !jwk.y) throw new Error('public JWK lacks x/y');
  // RFC 9053 §7.1.1 EC2 key: kty, alg, crv, x, y.
  return cborEncode(
    new Map<number, CborValue>([
      [1, COSE_KTY_EC2],
      [3, alg],
      [-1, COSE_CRV_P256],
      [-2, fromB64url(jwk.x)],
      [-3, fromB64url(jwk.y)],
    ]),
  );
}
