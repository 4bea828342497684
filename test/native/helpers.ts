// Native-device test helpers: the reference client (web-sdk/src/native.ts) wired to the worker under test.
import { SELF } from 'cloudflare:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import type { Api } from '../helpers/api';
import { BASE_URL, countRows } from '../helpers/api';
import { startOperation } from '../helpers/ceremony';
import { createNativeClient, generateDeviceKey, parseActivation } from '../../web-sdk/src/native';
import type { NativeClient, NativeDevice, UvMethod } from '../../web-sdk/src/native';

export function nativeClient(options: { now?: () => number } = {}): NativeClient {
  return createNativeClient({ baseUrl: BASE_URL, fetch: (url, init) => SELF.fetch(url, init), ...options });
}

export interface RegisteredNative {
  device: NativeDevice;
  keyPair: CryptoKeyPair;
  operationId: string;
}

/** Runs a REGISTRATION for the user with the reference client, from the sdk.url as a phone would scan it. */
export async function registerNative(
  api: Api,
  input: { userId: string; authorisedBy?: string; uv?: UvMethod; client?: NativeClient; keyPair?: CryptoKeyPair },
): Promise<RegisteredNative> {
  const op = await startOperation(api, { type: 'REGISTRATION', userId: input.userId, ...(input.authorisedBy ? { authorisedBy: input.authorisedBy } : {}) });
  const activation = parseActivation(op.sdk.url);
  const keyPair = input.keyPair ?? (await generateDeviceKey());
  const result = await (input.client ?? nativeClient()).register(activation, { keyPair, verifyUser: () => input.uv ?? 'face' });
  if (result.status !== 'COMPLETED') throw new Error(`native registration ended ${result.status}`);
  return { device: { deviceId: result.deviceId, tenantId: activation.tenantId, privateKey: keyPair.privateKey }, keyPair, operationId: op.id };
}

export interface ResultClaims extends JWTPayload {
  op: string;
  device: string;
  amr: string[];
  txn?: unknown;
  doc?: unknown;
  evidence: Record<string, unknown>;
}

/** Verifies a result token as a relying party would: JWKS, issuer, audience, typ. */
export async function verifyResultToken(token: string, tenantId: string): Promise<ResultClaims> {
  const jwks = createLocalJWKSet(await (await SELF.fetch(`${BASE_URL}/.well-known/jwks.json`)).json());
  const { payload } = await jwtVerify(token, jwks, { issuer: BASE_URL, audience: tenantId, typ: 'custos-result+jwt', algorithms: ['ES256'] });
  return payload as ResultClaims;
}

export interface StateSnapshot {
  operationStatus: string;
  failedAttempts: number;
  deviceStatus: string;
  devices: number;
  audit: number;
  jtis: number;
}

/** What a refused request must leave untouched: the operation, the device, the user's devices, the audit log, the jti store. */
export async function snapshot(api: Api, input: { operationId: string; deviceId: string; tenantId: string }): Promise<StateSnapshot> {
  const op = (await (await api(`/v1/operations/${input.operationId}`)).json()) as { status: string };
  const device = (await (await api(`/v1/devices/${input.deviceId}`)).json()) as { status: string; failedAttempts: number };
  return {
    operationStatus: op.status,
    failedAttempts: device.failedAttempts,
    deviceStatus: device.status,
    devices: await countRows('devices', 'tenant_id = ?1', input.tenantId),
    audit: await countRows('audit_events', 'tenant_id = ?1', input.tenantId),
    jtis: await countRows('device_proof_jtis'),
  };
}

/** Posts an envelope (or anything) as application/jose to an SDK path. */
export function postJose(url: string, body: string): Promise<Response> {
  return SELF.fetch(url, { method: 'POST', headers: { 'content-type': 'application/jose' }, body });
}
