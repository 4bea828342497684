// Drives operations end to end through the worker: RP start → SDK start → soft authenticator → SDK finish; and reads back what they left.
import canonicalize from 'canonicalize';
import { env } from 'cloudflare:test';
import { expect } from 'vitest';
import type { Api } from './api';
import { setupTenant, workerFetch } from './api';
import { b64url, concatBytes, fromB64url, sha256, SoftAuthenticator } from './soft-authenticator';
import type { Knobs, SoftAuthenticatorInit } from './soft-authenticator';

export const ORIGIN = 'http://localhost:8787';
export const RP_ID = 'localhost';

export interface StartedOperation {
  id: string;
  status: string;
  createdAt: string;
  expiresAt: string;
  sdk: { token: string; url: string };
  [key: string]: unknown;
}

/** GET /v1/operations/{id} as the relying party sees it; the optional members appear only for some types and states. */
export interface OperationJson {
  id: string;
  type: string;
  status: string;
  userId: string;
  deviceId?: string;
  createdAt: string;
  expiresAt: string;
  completedAt?: string;
  numberMatch?: string;
  transaction?: Record<string, unknown>;
  transactions?: Record<string, unknown>[];
  total?: { amount: string; currency: string };
  document?: { title?: string; mimeType: string; sha256: string };
  result?: { deviceId: string; userVerified: boolean; authMethod: string; token: string };
  failure?: { code: string };
}

/** GET /v1/devices/{id}: the members the lockout rules change. */
export interface DeviceJson {
  id: string;
  status: string;
  lockReason?: string;
  failedAttempts: number;
  lastUsedAt?: string;
}

/** A soft authenticator for the default test tenant's rpId and origin. */
export async function newAuthenticator(init: Partial<SoftAuthenticatorInit> = {}): Promise<SoftAuthenticator> {
  return SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN, ...init });
}

export async function startOperation(api: Api, body: Record<string, unknown>): Promise<StartedOperation> {
  const res = await api('/v1/operations', { method: 'POST', json: body });
  if (res.status !== 201) throw new Error(`start failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as StartedOperation;
}

export function sdkFetch(op: { id: string; sdk: { token: string } }, action: 'start' | 'finish' | 'reject', body: unknown = {}): Promise<Response> {
  return workerFetch(`/sdk/v1/operations/${op.id}/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${op.sdk.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export async function sdkStart(op: { id: string; sdk: { token: string } }): Promise<{ operation: Record<string, unknown>; publicKey: Record<string, unknown> }> {
  const res = await sdkFetch(op, 'start');
  if (res.status !== 200) throw new Error(`sdk start failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { operation: Record<string, unknown>; publicKey: Record<string, unknown> };
}

export async function createUser(api: Api, body: Record<string, unknown> = {}): Promise<{ id: string }> {
  const res = await api('/v1/users', { method: 'POST', json: body });
  if (res.status !== 201) throw new Error(`user create failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string };
}

/** Registers a passkey for the user with a fresh soft authenticator; returns it and the new device id. */
export async function registerPasskey(
  api: Api,
  userId: string,
  options: { authenticator?: SoftAuthenticator; authorisedBy?: string; knobs?: Knobs } = {},
): Promise<{ authenticator: SoftAuthenticator; deviceId: string; operationId: string }> {
  const authenticator = options.authenticator ?? (await newAuthenticator());
  const op = await startOperation(api, { type: 'REGISTRATION', userId, ...(options.authorisedBy ? { authorisedBy: options.authorisedBy } : {}) });
  const { publicKey } = await sdkStart(op);
  const credential = await authenticator.register(publicKey as never, options.knobs);
  const res = await sdkFetch(op, 'finish', { credential });
  if (res.status !== 200) throw new Error(`registration finish failed: ${res.status} ${await res.text()}`);
  const status = (await (await api(`/v1/operations/${op.id}`)).json()) as { status: string; result?: { deviceId: string } };
  if (status.status !== 'COMPLETED' || !status.result) throw new Error(`registration not completed: ${JSON.stringify(status)}`);
  return { authenticator, deviceId: status.result.deviceId, operationId: op.id };
}

/** Runs an assertion-based operation (authentication, authorisation, signature) to its end. */
export async function approve(
  api: Api,
  authenticator: SoftAuthenticator,
  body: Record<string, unknown>,
  options: { knobs?: Knobs; numberMatch?: string } = {},
): Promise<{ op: StartedOperation; finish: Response; start: { operation: Record<string, unknown>; publicKey: Record<string, unknown> } }> {
  const op = await startOperation(api, body);
  const start = await sdkStart(op);
  const credential = await authenticator.assert(start.publicKey as never, options.knobs);
  const finish = await sdkFetch(op, 'finish', { credential, ...(options.numberMatch ? { numberMatch: options.numberMatch } : {}) });
  return { op, finish, start };
}

/** A fresh tenant (with `policy`, if given) and one user holding one passkey. */
export async function enrolled(
  policy?: Record<string, unknown>,
): Promise<{ api: Api; tenantId: string; userId: string; authenticator: SoftAuthenticator; deviceId: string; registrationId: string }> {
  const { api, tenant } = await setupTenant(policy ? { policy } : {});
  const user = await createUser(api);
  const { authenticator, deviceId, operationId } = await registerPasskey(api, user.id);
  return { api, tenantId: tenant.id, userId: user.id, authenticator, deviceId, registrationId: operationId };
}

export async function getOperation(api: Api, id: string): Promise<OperationJson> {
  const res = await api(`/v1/operations/${id}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json<OperationJson>();
}

export async function getDevice(api: Api, id: string): Promise<DeviceJson> {
  const res = await api(`/v1/devices/${id}`);
  expect(res.status).toBe(200);
  return res.json<DeviceJson>();
}

export async function failedAttempts(api: Api, deviceId: string): Promise<number> {
  return (await getDevice(api, deviceId)).failedAttempts;
}

/** The signature counter D1 holds for a credential. */
export async function storedCounter(credentialId: string): Promise<number> {
  const row = await env.DB.prepare('SELECT counter FROM credentials WHERE id = ?1').bind(credentialId).first<{ counter: number }>();
  if (!row) throw new Error(`no credential ${credentialId}`);
  return row.counter;
}

/** SHA-256 of the RFC 8785 canonical JSON of `bound`: the second half of a linked challenge. */
export async function boundDigest(bound: unknown): Promise<Uint8Array> {
  return sha256(canonicalize(bound)!);
}

/** The real challenge's 32 random bytes followed by the digest of something else: what a tampering client makes the device sign. */
export async function relinked(challenge: string, bound: unknown): Promise<string> {
  return b64url(concatBytes(fromB64url(challenge).subarray(0, 32), await boundDigest(bound)));
}
