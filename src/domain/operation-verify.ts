// The verification step of a finish: the device's answer checked against the operation's snapshot alone (no bindings, no D1).
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { fromB64url } from './encoding';
import { newId } from './ids';
import { verifyLinkedChallenge } from './linking';
import type { VerificationFailure } from './webauthn';
import { coseToJwk, verifyAssertion, verifyRegistration } from './webauthn';
import { publicDeviceJwk, verifyDeviceBinding } from './device-key';
import { verifyApproval } from './native-envelope';
import type { Caller, FinishInput, OperationSnapshot, Success } from './operation';
import { boundOf, rpFor } from './operation';

/** What the verification concludes: the success that finalise records, or a refusal (a failed attempt of the claimed device). */
export type Verification = Success | { ok: false; reason: string; deviceId?: string };

function newDeviceId(): string {
  return newId('dev');
}

/** The device's answer to a finish, checked: a passkey registration or assertion, or (below) a native approval. */
export async function verifyFinish(op: OperationSnapshot, input: { caller: Caller; body: FinishInput }): Promise<Verification> {
  const body = input.body;
  const deviceOfCredential = (id: unknown): string | undefined =>
    typeof id === 'string' ? op.credentials.find((c) => c.credentialId === id)?.deviceId : undefined;
  const claimedDevice = op.type === 'REGISTRATION' ? undefined : op.deviceId ?? body.native?.deviceId ?? deviceOfCredential((body.credential as { id?: unknown } | undefined)?.id);
  const refuse = (reason: VerificationFailure): Verification => ({ ok: false, reason, deviceId: claimedDevice });

  // Number matching: the user must pick the number the relying party showed (wrong pick = failed attempt).
  if (op.numberMatch !== undefined && body.numberMatch !== op.numberMatch) return refuse('NUMBER_MATCH_WRONG');
  // PSD2 RTS art. 5(1)(b): the challenge still binds exactly the amount, payee or document shown.
  if ((op.type === 'AUTHORISATION' || op.type === 'SIGNATURE') && !(await verifyLinkedChallenge(fromB64url(op.challenge), boundOf(op)))) {
    return refuse('MALFORMED');
  }
  if (body.native) return verifyNative(op, input.caller, body.native);
  if (!body.credential || typeof body.credential !== 'object') return refuse('MALFORMED');

  if (op.type === 'REGISTRATION') {
    const verified = await verifyRegistration({
      response: body.credential as RegistrationResponseJSON, challenge: op.challenge, rp: op.registrationRp ?? rpFor(op, op.rp.rpId), deviceBoundOnly: op.policy.deviceBoundOnly,
    });
    if (!verified.ok) return refuse(verified.reason);
    // WebAuthn §7.1 step 22: a credential registered before is refused.
    if (op.credentials.some((c) => c.credentialId === verified.value.credentialId)) return refuse('CREDENTIAL_ALREADY_REGISTERED');
    let deviceKeyJwk: JsonWebKey | null = null;
    if (body.deviceKey !== undefined || body.deviceSignature !== undefined) {
      const bound = await verifyDeviceBinding({ jwk: body.deviceKey, jws: body.deviceSignature, operationId: op.id, challenge: op.challenge });
      if (!bound.ok) return refuse('DEVICE_KEY_INVALID');
      deviceKeyJwk = bound.jwk;
    }
    const credential = body.credential as RegistrationResponseJSON;
    return {
      ok: true, kind: 'registration', deviceId: newDeviceId(), credential: verified.value, deviceKeyJwk,
      evidence: {
        credentialId: verified.value.credentialId, publicKeyJwk: verified.value.publicKeyJwk,
        attestationObject: credential.response.attestationObject, clientDataJSON: credential.response.clientDataJSON,
      },
    };
  }

  const caller = input.caller;
  const allowed = caller.kind === 'device' ? op.credentials.filter((c) => c.deviceId === caller.deviceId) : op.credentials;
  const response = body.credential as AuthenticationResponseJSON;
  const presented = allowed.find((c) => c.credentialId === response.id);
  const verified = await verifyAssertion({ response, challenge: op.challenge, rp: rpFor(op, presented?.rpId ?? null), allowed, userId: op.userId });
  if (!verified.ok) return refuse(verified.reason);
  return {
    ok: true, kind: 'assertion', deviceId: verified.value.credential.deviceId, credentialId: verified.value.credential.credentialId,
    newCounter: verified.value.newCounter, backedUp: verified.value.backedUp,
    evidence: {
      credentialId: verified.value.credential.credentialId,
      publicKeyJwk: coseToJwk(fromB64url(verified.value.credential.publicKey)),
      authenticatorData: response.response.authenticatorData,
      clientDataJSON: response.response.clientDataJSON,
      signature: response.response.signature,
    },
  };
}

/**
 * A native device's answer (docs/native-protocol.md). The route opened the envelope and checked its
 * signature against D1; this checks the approval again against what the operation itself holds.
 */
export async function verifyNative(op: OperationSnapshot, caller: Caller, native: NonNullable<FinishInput['native']>): Promise<Verification> {
  if (op.type === 'REGISTRATION') {
    const refuseRegistration = (reason: string): Verification => ({ ok: false, reason });
    const jwk = publicDeviceJwk(native.deviceKeyJwk);
    // The activation code (sdk token) authorises a registration, never another device's key.
    if (caller.kind !== 'sdk' || !jwk) return refuseRegistration('DEVICE_KEY_INVALID');
    // As WebAuthn §7.1 step 22 for credentials: a key already bound to an active device is not bound again.
    if (op.devices.some((d) => d.deviceKeyJwk?.x === jwk.x && d.deviceKeyJwk?.y === jwk.y)) return refuseRegistration('CREDENTIAL_ALREADY_REGISTERED');
    const checked = await verifyApproval({ jws: native.jws, jwk, operationId: op.id, challenge: op.challenge });
    if (!checked.ok) return refuseRegistration(checked.reason);
    return {
      ok: true, kind: 'registration', deviceId: native.deviceId, credential: null, deviceKeyJwk: jwk, userVerification: checked.uv,
      evidence: { deviceKeyJwk: jwk, jws: native.jws },
    };
  }
  const refuseApproval = (reason: string): Verification => ({ ok: false, reason, deviceId: op.deviceId ?? native.deviceId });
  // Only a NATIVE device this operation is for, with the key it bound at registration, answers it.
  const device = op.devices.find((d) => d.id === native.deviceId);
  if (caller.kind !== 'device' || caller.deviceId !== native.deviceId || device?.kind !== 'NATIVE' || !device.deviceKeyJwk) return refuseApproval('CREDENTIAL_NOT_ALLOWED');
  const checked = await verifyApproval({ jws: native.jws, jwk: device.deviceKeyJwk, operationId: op.id, challenge: op.challenge });
  if (!checked.ok) return refuseApproval(checked.reason);
  return { ok: true, kind: 'native', deviceId: device.id, userVerification: checked.uv, evidence: { deviceKeyJwk: device.deviceKeyJwk, jws: native.jws } };
}
