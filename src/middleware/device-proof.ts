// Device proofs (API.md §2): `Authorization: Device <JWS>` signed by the device key bound at registration, DPoP-style.
import { compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { isId } from '../domain/ids';
import { getDeviceById } from '../storage/devices';
import { consumeJti } from '../storage/proof-jtis';
import { proofTargetUrl } from './origin';
import type { Device } from '../storage/devices';

export const DEVICE_PROOF_TYPE = 'device-proof+jwt';
/** A proof is valid 60 s (API.md §2); a little skew is tolerated on the other side. */
const PROOF_LIFETIME_S = 60;
const FUTURE_SKEW_S = 5;

export type DeviceProofVariables = { device: Device };

function refuse(detail: string): never {
  throw new ApiError('UNAUTHENTICATED', detail);
}

/** The request URL as a proof binds it: no query, no fragment (RFC 9449 §4.3 htu). */
export function proofUrl(requestUrl: string): string {
  const url = new URL(requestUrl);
  return `${url.origin}${url.pathname}`;
}

export async function verifyDeviceProof(db: D1Database, input: { proof: string; method: string; url: string; now: number }): Promise<Device> {
  let kid: string | undefined;
  try {
    const header = decodeProtectedHeader(input.proof);
    if (header.typ !== DEVICE_PROOF_TYPE || header.alg !== 'ES256') refuse('The device proof must be an ES256 device-proof+jwt.');
    kid = header.kid;
  } catch (error) {
    if (error instanceof ApiError) throw error;
    refuse('The device proof is not a compact JWS.');
  }
  if (!kid || !isId(kid, 'dev')) refuse('The device proof names no device.');
  const device = await getDeviceById(db, kid);
  if (!device?.deviceKeyJwk) refuse('Unknown device.');
  // A locked or deactivated device is not authenticated at all.
  if (device.status !== 'ACTIVE') throw new ApiError(device.status === 'LOCKED' ? 'DEVICE_LOCKED' : 'DEVICE_NOT_ACTIVE', `The device is ${device.status}.`);
  let claims: { htm?: unknown; htu?: unknown; iat?: unknown; jti?: unknown };
  try {
    const key = await importJWK({ ...device.deviceKeyJwk, alg: 'ES256' }, 'ES256');
    const verified = await compactVerify(input.proof, key, { algorithms: ['ES256'] });
    claims = JSON.parse(new TextDecoder().decode(verified.payload)) as typeof claims;
  } catch {
    refuse('The device proof does not verify.');
  }
  // RFC 9449 §4.3: the proof is bound to this method and URL.
  if (claims.htm !== input.method || claims.htu !== proofUrl(input.url)) refuse('The device proof is for another request.');
  if (typeof claims.iat !== 'number' || claims.iat > input.now + FUTURE_SKEW_S || claims.iat < input.now - PROOF_LIFETIME_S) refuse('The device proof is stale.');
  if (typeof claims.jti !== 'string' || claims.jti.length < 16 || claims.jti.length > 128) refuse('The device proof needs a unique jti.');
  // Each jti once: the primary key refuses a replay.
  const fresh = await consumeJti(db, { jti: `${device.id}:${claims.jti}`, deviceId: device.id, expiresAt: input.now + PROOF_LIFETIME_S + FUTURE_SKEW_S, now: input.now });
  if (!fresh) refuse('The device proof was already used.');
  return device;
}

export const requireDeviceProof = createMiddleware<AppEnv & { Variables: DeviceProofVariables }>(async (c, next) => {
  const match = c.req.header('authorization')?.match(/^Device ([A-Za-z0-9_.-]+)$/);
  if (!match?.[1]) refuse('Send Authorization: Device <proof>.');
  c.set('device', await verifyDeviceProof(c.env.DB, { proof: match[1], method: c.req.method, url: proofTargetUrl(c), now: Math.floor(Date.now() / 1000) }));
  await next();
});
