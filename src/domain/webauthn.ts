// WebAuthn ceremonies around @simplewebauthn/server, plus the checks the library leaves to the relying party.
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type {
  AuthenticationResponseJSON,
  AuthenticatorTransport,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { convertAAGUIDToString, decodeCredentialPublicKey, cose } from '@simplewebauthn/server/helpers';
import { fromB64url, toB64url, utf8 } from './encoding';

/** ES256 and RS256: what platform authenticators use; both can be shown as JWK evidence. */
export const SUPPORTED_ALGORITHMS = [-7, -257];

export interface RelyingParty {
  rpId: string;
  rpName: string;
  origins: string[];
}

export interface StoredCredential {
  credentialId: string;
  deviceId: string;
  publicKey: string; // COSE, base64url
  counter: number;
  backupEligible: boolean;
  transports: string[];
  /** The rpId the passkey is scoped to: the tenant's, or the service's own for the authenticator app. */
  rpId: string | null;
}

export interface NewCredential {
  credentialId: string;
  publicKey: string;
  publicKeyJwk: JsonWebKey;
  counter: number;
  aaguid: string;
  backupEligible: boolean;
  backedUp: boolean;
  transports: string[];
}

/** Why a ceremony failed: kept in the audit log, never sent to the caller (who sees VERIFICATION_FAILED). */
export type VerificationFailure =
  | 'WEBAUTHN_INVALID'
  | 'CREDENTIAL_ID_MISMATCH'
  | 'CREDENTIAL_NOT_ALLOWED'
  | 'USER_HANDLE_MISMATCH'
  | 'BACKUP_ELIGIBILITY_CHANGED'
  | 'BACKUP_ELIGIBLE_REFUSED'
  | 'COUNTER_REGRESSION'
  | 'SIGNATURE_INVALID'
  | 'DEVICE_KEY_INVALID'
  | 'NUMBER_MATCH_WRONG'
  | 'CREDENTIAL_ALREADY_REGISTERED'
  | 'MALFORMED';

export type Verified<T> = { ok: true; value: T } | { ok: false; reason: VerificationFailure; detail?: string };

export function userHandleOf(userId: string): Uint8Array {
  return utf8(userId);
}

export async function registrationOptions(input: {
  rp: RelyingParty;
  userId: string;
  userName: string;
  challenge: Uint8Array;
  exclude: { credentialId: string; transports: string[] }[];
  timeoutMs: number;
}): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: input.rp.rpName,
    rpID: input.rp.rpId,
    userName: input.userName,
    userID: userHandleOf(input.userId) as Uint8Array<ArrayBuffer>,
    challenge: input.challenge as Uint8Array<ArrayBuffer>,
    timeout: input.timeoutMs,
    attestationType: 'none',
    // WebAuthn §5.4.3: never let one authenticator be registered twice for the user.
    excludeCredentials: input.exclude.map((c) => ({ id: c.credentialId, transports: c.transports as AuthenticatorTransport[] })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
    supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
  });
}

export async function authenticationOptions(input: {
  rpId: string;
  challenge: Uint8Array;
  allow: { credentialId: string; transports: string[] }[];
  timeoutMs: number;
}): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({
    rpID: input.rpId,
    challenge: input.challenge as Uint8Array<ArrayBuffer>,
    timeout: input.timeoutMs,
    allowCredentials: input.allow.map((c) => ({ id: c.credentialId, transports: c.transports as AuthenticatorTransport[] })),
    // PSD2 RTS art. 4: every operation needs the inherence/knowledge factor on the device.
    userVerification: 'required',
  });
}

/** Converts a COSE public key (EC2 P-256 or RSA) to a JWK so third parties can verify evidence with WebCrypto. */
export function coseToJwk(publicKey: Uint8Array): JsonWebKey {
  // The decoded COSE map is keyed by small integers (RFC 9053); read it as such.
  const key = decodeCredentialPublicKey(publicKey as Uint8Array<ArrayBuffer>) as unknown as Map<number, unknown>;
  const kty = key.get(cose.COSEKEYS.kty);
  if (kty === cose.COSEKTY.EC2) {
    const x = key.get(cose.COSEKEYS.x) as Uint8Array;
    const y = key.get(cose.COSEKEYS.y) as Uint8Array;
    return { kty: 'EC', crv: 'P-256', x: toB64url(x), y: toB64url(y) };
  }
  if (kty === cose.COSEKTY.RSA) {
    const n = key.get(cose.COSEKEYS.n) as Uint8Array;
    const e = key.get(cose.COSEKEYS.e) as Uint8Array;
    return { kty: 'RSA', n: toB64url(n), e: toB64url(e) };
  }
  throw new Error('unsupported COSE key type');
}

function flagsOf(authenticatorData: string): { be: boolean; bs: boolean } | null {
  const bytes = fromB64url(authenticatorData);
  const flags = bytes[32];
  if (bytes.length < 37 || flags === undefined) return null;
  return { be: (flags & 0x08) !== 0, bs: (flags & 0x10) !== 0 };
}

function libraryFailure(error: unknown): VerificationFailure {
  const message = error instanceof Error ? error.message : '';
  return /counter value/i.test(message) ? 'COUNTER_REGRESSION' : 'WEBAUTHN_INVALID';
}

export async function verifyRegistration(input: {
  response: RegistrationResponseJSON;
  challenge: string;
  rp: RelyingParty;
  deviceBoundOnly: boolean;
}): Promise<Verified<NewCredential>> {
  let verification;
  try {
    verification = await verifyRegistrationResponse({
      response: input.response,
      expectedChallenge: input.challenge,
      expectedOrigin: input.rp.origins,
      expectedRPID: input.rp.rpId,
      // WebAuthn §7.1 step 15: UV required (PSD2 RTS art. 4).
      requireUserVerification: true,
      // WebAuthn §7.1 step 17: only algorithms we offered in pubKeyCredParams.
      supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
    });
  } catch (error) {
    return { ok: false, reason: libraryFailure(error), detail: error instanceof Error ? error.message : undefined };
  }
  if (!verification.verified || !verification.registrationInfo) return { ok: false, reason: 'WEBAUTHN_INVALID' };
  const info = verification.registrationInfo;
  // WebAuthn §7.1: the response id must be the credential id in the authenticator data.
  if (input.response.id !== info.credential.id || input.response.rawId !== info.credential.id) {
    return { ok: false, reason: 'CREDENTIAL_ID_MISMATCH' };
  }
  // WebAuthn §7.1 step 25: credential ids are at most 1023 bytes.
  if (fromB64url(info.credential.id).length > 1023) return { ok: false, reason: 'MALFORMED' };
  const backupEligible = info.credentialDeviceType === 'multiDevice';
  // Tenant policy deviceBoundOnly: a backup-eligible (syncable) passkey is not device-bound.
  if (input.deviceBoundOnly && backupEligible) return { ok: false, reason: 'BACKUP_ELIGIBLE_REFUSED' };
  return {
    ok: true,
    value: {
      credentialId: info.credential.id,
      publicKey: toB64url(info.credential.publicKey),
      publicKeyJwk: coseToJwk(info.credential.publicKey),
      counter: info.credential.counter,
      aaguid: info.aaguid ?? convertAAGUIDToString(new Uint8Array(16)),
      backupEligible,
      backedUp: info.credentialBackedUp,
      transports: input.response.response.transports ?? [],
    },
  };
}

export async function verifyAssertion(input: {
  response: AuthenticationResponseJSON;
  challenge: string;
  rp: RelyingParty;
  allowed: StoredCredential[];
  userId: string;
}): Promise<Verified<{ credential: StoredCredential; newCounter: number; backedUp: boolean }>> {
  // WebAuthn §7.2 step 5: the credential must be one of allowCredentials.
  const credential = input.allowed.find((c) => c.credentialId === input.response.id);
  if (!credential || input.response.rawId !== input.response.id) return { ok: false, reason: 'CREDENTIAL_NOT_ALLOWED' };
  // WebAuthn §7.2 step 6: a present userHandle must name the credential's owner.
  const handle = input.response.response.userHandle;
  if (handle && handle !== toB64url(userHandleOf(input.userId))) return { ok: false, reason: 'USER_HANDLE_MISMATCH' };
  let verification;
  try {
    verification = await verifyAuthenticationResponse({
      response: input.response,
      expectedChallenge: input.challenge,
      expectedOrigin: input.rp.origins,
      expectedRPID: input.rp.rpId,
      requireUserVerification: true,
      credential: {
        id: credential.credentialId,
        publicKey: fromB64url(credential.publicKey) as Uint8Array<ArrayBuffer>,
        counter: credential.counter,
        transports: credential.transports as AuthenticatorTransport[],
      },
    });
  } catch (error) {
    return { ok: false, reason: libraryFailure(error), detail: error instanceof Error ? error.message : undefined };
  }
  if (!verification.verified) return { ok: false, reason: 'SIGNATURE_INVALID' };
  const flags = flagsOf(input.response.response.authenticatorData);
  if (!flags) return { ok: false, reason: 'MALFORMED' };
  // WebAuthn §7.2 step 19: BE is fixed for the life of a credential.
  if (flags.be !== credential.backupEligible) return { ok: false, reason: 'BACKUP_ELIGIBILITY_CHANGED' };
  return { ok: true, value: { credential, newCounter: verification.authenticationInfo.newCounter, backedUp: flags.bs } };
}
