// A passkey with a bound device key, driven as the authenticator app does: it lists its pending operations and answers them
// with device proofs (no sdk token). Runtime-neutral (workers pool and Node): it takes the fetch it calls the service with.
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import type { SoftAuthenticator } from './soft-authenticator';

/** Fetches a path of the service under test. */
export type Http = (path: string, init?: RequestInit) => Promise<Response>;

export interface BoundDevice {
  deviceId: string;
  authenticator: SoftAuthenticator;
  privateKey: CryptoKey;
}

async function ok<T>(res: Response, what: string): Promise<T> {
  if (res.status < 200 || res.status > 299) throw new Error(`${what}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Registers a passkey and a P-256 device key for the user through the RP API (bearer `rpToken`) and the SDK. */
export async function registerBoundDevice(http: Http, rpToken: string, userId: string, authenticator: SoftAuthenticator): Promise<BoundDevice> {
  const rp = { authorization: `Bearer ${rpToken}`, 'content-type': 'application/json' };
  const op = await ok<{ id: string; sdk: { token: string } }>(await http('/v1/operations', { method: 'POST', headers: rp, body: JSON.stringify({ type: 'REGISTRATION', userId }) }), 'registration start');
  const sdk = { authorization: `Bearer ${op.sdk.token}`, 'content-type': 'application/json' };
  const start = await ok<{ publicKey: { challenge: string } }>(await http(`/sdk/v1/operations/${op.id}/start`, { method: 'POST', headers: sdk, body: '{}' }), 'sdk start');
  const key = await generateKeyPair('ES256', { extractable: true });
  const deviceSignature = await new CompactSign(new TextEncoder().encode(JSON.stringify({ operationId: op.id, challenge: start.publicKey.challenge })))
    .setProtectedHeader({ alg: 'ES256' })
    .sign(key.privateKey);
  const credential = await authenticator.register(start.publicKey as never);
  await ok(await http(`/sdk/v1/operations/${op.id}/finish`, { method: 'POST', headers: sdk, body: JSON.stringify({ credential, deviceKey: await exportJWK(key.publicKey), deviceSignature }) }), 'registration finish');
  const done = await ok<{ result: { deviceId: string } }>(await http(`/v1/operations/${op.id}`, { headers: rp }), 'registration status');
  return { deviceId: done.result.deviceId, authenticator, privateKey: key.privateKey };
}

/** `Authorization: Device <proof>` for one call (docs/sdk.md): htm, htu, iat and a fresh jti, signed by the device key. */
export async function deviceProof(device: BoundDevice, method: string, url: string): Promise<string> {
  const claims = { htm: method, htu: url, iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID() };
  const proof = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: 'ES256', typ: 'device-proof+jwt', kid: device.deviceId })
    .sign(device.privateKey);
  return `Device ${proof}`;
}

export interface PendingOperation {
  id: string;
  type: string;
  context?: { title: string };
  transaction?: { amount: string; currency: string; payee: { name: string; account?: string } };
}

/** The device's pending operations, as the authenticator app polls them. `base` is the origin the proof's htu names. */
export async function pendingOperations(http: Http, base: string, device: BoundDevice): Promise<PendingOperation[]> {
  const path = '/sdk/v1/devices/me/operations';
  const list = await ok<{ items: PendingOperation[] }>(await http(`${path}?status=PENDING`, { headers: { authorization: await deviceProof(device, 'GET', `${base}${path}`) } }), 'pending list');
  return list.items;
}

/** Approves (WebAuthn assertion) or declines the operation on the device, with device proofs. */
export async function answerOnDevice(http: Http, base: string, device: BoundDevice, operationId: string, answer: 'approve' | 'reject'): Promise<Response> {
  const call = async (action: string, body: unknown): Promise<Response> => {
    const path = `/sdk/v1/operations/${operationId}/${action}`;
    return http(path, { method: 'POST', headers: { authorization: await deviceProof(device, 'POST', `${base}${path}`), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  };
  if (answer === 'reject') return call('reject', {});
  const start = await ok<{ publicKey: Record<string, unknown> }>(await call('start', {}), 'device start');
  const credential = await device.authenticator.assert(start.publicKey as never);
  return call('finish', { credential });
}
