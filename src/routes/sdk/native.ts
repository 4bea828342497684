// Native apps on /sdk/v1 (docs/native-protocol.md): application/jose envelopes in, replies sealed to the device's reply key out.
import type { Context } from 'hono';
import { calculateJwkThumbprint, decodeJwt } from 'jose';
import type { AppEnv } from '../../env';
import { ApiError } from '../../errors';
import { isId, newId } from '../../domain/ids';
import { publicDeviceJwk } from '../../domain/device-key';
import { e2eKeyring } from '../../domain/e2e-keys';
import { allowOriginForOperation, isLocalDevelopment, proofTargetUrl } from '../../middleware/origin';
import { requireKeySet } from '../../services/keys';
import type { Checked } from '../../domain/native-envelope';
import { decryptEnvelope, isJoseMediaType, JOSE_MEDIA_TYPE, MAX_AGE_S, sealReply, tokenHashOfAth, verifyRequest } from '../../domain/native-envelope';
import type { Caller, DoResult, FinishInput, SdkStartView } from '../../durable-objects/operation';
import { boundedBody } from '../../middleware/body';
import { getDeviceById } from '../../storage/devices';
import { consumeJti } from '../../storage/proof-jtis';
import { unwrap } from '../v1/operations';
import { operationStub } from '../../durable-objects/operation';

export type NativeAction = 'start' | 'finish' | 'reject';

/** A native app's call: the body is an application/jose envelope. */
export function isJoseRequest(c: Context<AppEnv>): boolean {
  return isJoseMediaType(c.req.header('content-type'));
}

function accepted<T>(checked: Checked<T>, now: number): T {
  if (checked.ok) return checked.value;
  // A stale envelope tells the app the server's clock, so it can correct its offset and retry once.
  throw new ApiError(checked.code, checked.detail, checked.code === 'ENVELOPE_STALE' ? { serverTime: now } : {});
}

/** Each jti once per signer, remembered while an envelope carrying it could still be accepted. */
async function consumeEnvelopeJti(db: D1Database, input: { scope: string; jti: string; iat: number; now: number }): Promise<void> {
  const fresh = await consumeJti(db, { jti: `${input.scope}:${input.jti}`, deviceId: input.scope, expiresAt: input.iat + MAX_AGE_S + 1, now: input.now });
  if (!fresh) throw new ApiError('ENVELOPE_REPLAYED', 'This envelope (its jti) was already used.');
}

/**
 * POST /sdk/v1/operations/{id}/start|finish|reject with an envelope. Every refusal before the
 * operation is reached writes nothing; the operation's own checks (challenge, UV, number match)
 * fail it like a bad passkey assertion would.
 */
export async function nativeCall(c: Context<AppEnv>, action: NativeAction): Promise<Response> {
  const id = c.req.param('id') ?? '';
  if (!isId(id, 'op')) throw new ApiError('OPERATION_NOT_FOUND', 'No such operation.');
  await allowOriginForOperation(c, id);
  // At most MAX_BODY_BYTES, read once (a stream without Content-Length stops at the limit).
  const buffer = await boundedBody(c);
  const now = Math.floor(Date.now() / 1000);
  const opened = accepted(await decryptEnvelope(new TextDecoder().decode(buffer).trim(), await e2eKeyring(await requireKeySet(c.env, 'E2E_KEYS', { generate: isLocalDevelopment(c) }))), now);

  const signer = opened.signer;
  const device = signer.kind === 'device' ? await getDeviceById(c.env.DB, signer.deviceId) : null;
  // An unknown device and a wrong signature look the same to the sender.
  if (signer.kind === 'device' && !device?.deviceKeyJwk) throw new ApiError('DEVICE_SIGNATURE_INVALID', 'The inner JWS does not verify with the device key.');
  const key = device?.deviceKeyJwk ?? (signer.kind === 'new-key' ? signer.jwk : null);
  if (!key) throw new ApiError('DEVICE_SIGNATURE_INVALID', 'The inner JWS names no key.');
  const claims = accepted(await verifyRequest(opened.jws, key, { method: 'POST', url: proofTargetUrl(c), operationId: id, now }), now);

  let caller: Caller;
  let scope: string;
  if (device) {
    // Passkey devices answer with WebAuthn; a device key alone completes only a NATIVE device's operations.
    if (device.kind !== 'NATIVE') throw new ApiError('DEVICE_NOT_NATIVE', 'This device is a passkey: answer with WebAuthn.');
    if (device.status !== 'ACTIVE') throw new ApiError(device.status === 'LOCKED' ? 'DEVICE_LOCKED' : 'DEVICE_NOT_ACTIVE', `The device is ${device.status}.`);
    caller = { kind: 'device', deviceId: device.id };
    scope = device.id;
  } else {
    // Registration: the activation code authorises it, proven by its hash inside the encrypted, signed request.
    const tokenHash = tokenHashOfAth(claims.ath);
    if (!tokenHash) throw new ApiError('ENVELOPE_MALFORMED', 'A registration envelope carries ath: base64url SHA-256 of the activation code.');
    caller = { kind: 'sdk', tokenHash };
    scope = `jkt:${await calculateJwkThumbprint(key as Parameters<typeof calculateJwkThumbprint>[0], 'sha256')}`;
  }
  await consumeEnvelopeJti(c.env.DB, { scope, jti: claims.jti, iat: claims.iat, now });

  const stub = operationStub(c.env, id);
  let reply: Record<string, unknown>;
  if (action === 'start') {
    const started = unwrap((await stub.sdkStart({ caller, native: true })) as DoResult<SdkStartView>);
    reply = { operation: started.operation, challenge: (started.publicKey as { challenge: string }).challenge };
  } else if (action === 'reject') {
    reply = unwrap(await stub.sdkReject({ caller, native: true }));
  } else {
    const body: FinishInput = {
      ...(claims.numberMatch !== undefined ? { numberMatch: claims.numberMatch } : {}),
      native: { deviceId: device?.id ?? newId('dev'), jws: opened.jws, deviceKeyJwk: key, userVerification: claims.uv ?? '' },
    };
    reply = { ...unwrap(await stub.sdkFinish({ caller, body })) };
  }
  return c.body(await sealReply(reply, claims.rek), 200, { 'content-type': JOSE_MEDIA_TYPE });
}

/**
 * The pending-operations list for a device proof that carries a reply key (`rek`): sealed to it, so
 * amounts and payees stay end-to-end encrypted. Null when the proof has none (the list goes out as JSON).
 * The proof was verified before this runs.
 */
export async function sealedForDeviceProof(c: Context<AppEnv>, body: unknown): Promise<Response | null> {
  const proof = c.req.header('authorization')?.match(/^Device ([A-Za-z0-9_.-]+)$/)?.[1];
  if (!proof) return null;
  const claims = decodeJwt(proof);
  if (claims.rek === undefined) return null;
  const rek = publicDeviceJwk(claims.rek);
  if (!rek) throw new ApiError('ENVELOPE_MALFORMED', 'rek must be a P-256 public JWK.');
  return c.body(await sealReply(body, rek), 200, { 'content-type': JOSE_MEDIA_TYPE });
}
