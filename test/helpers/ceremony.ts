// Drives operations end to end through the worker: RP start → SDK start → soft authenticator → SDK finish.
import type { Api } from './api';
import { workerFetch } from './api';
import { SoftAuthenticator } from './soft-authenticator';
import type { Knobs } from './soft-authenticator';

export const ORIGIN = 'http://localhost:8787';
export const RP_ID = 'localhost';

export interface StartedOperation {
  id: string;
  status: string;
  sdk: { token: string; url: string };
  [key: string]: unknown;
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
  const authenticator = options.authenticator ?? (await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN }));
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
