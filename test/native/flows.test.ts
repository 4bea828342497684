// Native devices end to end through the worker with the reference client: registration, authentication, authorisation, signing, pending, reject.
import { describe, expect, it } from 'vitest';
import { SELF } from 'cloudflare:test';
import { base64url, compactVerify, importJWK } from 'jose';
import canonicalize from 'canonicalize';
import { BASE_URL, countRows, expectProblem, setupTenant } from '../helpers/api';
import { createUser, startOperation } from '../helpers/ceremony';
import { createDeviceProof, generateReplyKey, publicJwkOf } from '../../web-sdk/src/native';
import type { ConfirmationDetails } from '../../web-sdk/src/types';
import { nativeClient, registerNative, verifyResultToken } from './helpers';

interface OperationJson {
  id: string;
  status: string;
  deviceId?: string;
  result?: { deviceId: string; userVerified: boolean; authMethod: string; token: string };
}

async function evidenceClaims(evidence: Record<string, unknown>): Promise<Record<string, unknown>> {
  // What a third party does: verify the device's JWS with the JWK in the evidence, trusting nothing else.
  const key = await importJWK({ ...(evidence.deviceKeyJwk as object), alg: 'ES256' }, 'ES256');
  const { payload, protectedHeader } = await compactVerify(evidence.jws as string, key, { algorithms: ['ES256'] });
  expect(protectedHeader.typ).toBe('custos-request+jwt');
  return JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
}

describe('native device: registration with the reference client', () => {
  it('binds the device key from the sdk.url; the result token names it (hwk + face) with verifiable evidence', async () => {
    const { api, tenant } = await setupTenant();
    const user = await createUser(api);
    const { device, keyPair, operationId } = await registerNative(api, { userId: user.id, uv: 'face' });
    expect(device.deviceId).toMatch(/^dev_/);

    const view = (await (await api(`/v1/devices/${device.deviceId}`)).json()) as { kind: string; status: string; userId: string };
    expect(view).toMatchObject({ kind: 'NATIVE', status: 'ACTIVE', userId: user.id });
    const stored = await countRows('devices', "id = ?1 AND device_key_jwk IS NOT NULL AND kind = 'NATIVE'", device.deviceId);
    expect(stored).toBe(1);
    expect(await countRows('credentials', 'device_id = ?1', device.deviceId)).toBe(0);

    const op = (await (await api(`/v1/operations/${operationId}`)).json()) as OperationJson;
    expect(op.status).toBe('COMPLETED');
    expect(op.result).toMatchObject({ deviceId: device.deviceId, userVerified: true, authMethod: 'native' });
    const claims = await verifyResultToken(op.result!.token, tenant.id);
    expect(claims).toMatchObject({ op: 'REGISTRATION', device: device.deviceId, amr: ['hwk', 'face'], sub: user.id, jti: operationId });
    expect(claims.evidence.deviceKeyJwk).toEqual(await publicJwkOf(keyPair.publicKey));
    const signed = await evidenceClaims(claims.evidence);
    expect(signed).toMatchObject({ op: operationId, uv: 'face', htm: 'POST', htu: `${BASE_URL}/sdk/v1/operations/${operationId}/finish` });
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'device.registered' AND target_id = ?2", tenant.id, device.deviceId)).toBe(1);
  });

  it('PSD2 RTS art. 24(2)(b): a second device needs a fresh SCA, which a native authentication provides', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const first = await registerNative(api, { userId: user.id });
    const refused = await api('/v1/operations', { method: 'POST', json: { type: 'REGISTRATION', userId: user.id } });
    await expectProblem(refused, 409, 'SCA_REQUIRED');

    const auth = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id, deviceId: first.device.deviceId });
    expect((await nativeClient().approve(first.device, auth.id, { verifyUser: () => 'pin' })).status).toBe('COMPLETED');
    const second = await registerNative(api, { userId: user.id, authorisedBy: auth.id });
    expect(second.device.deviceId).not.toBe(first.device.deviceId);
  });
});

describe('native device: approvals with the device key', () => {
  it('AUTHENTICATION completes with a device-key signature over the challenge (amr hwk + fpt)', async () => {
    const { api, tenant } = await setupTenant();
    const user = await createUser(api);
    const { device, keyPair } = await registerNative(api, { userId: user.id });
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id, deviceId: device.deviceId });
    const result = await nativeClient().approve(device, op.id, { verifyUser: () => 'fpt' });
    expect(result.status).toBe('COMPLETED');

    const done = (await (await api(`/v1/operations/${op.id}`)).json()) as OperationJson;
    expect(done).toMatchObject({ status: 'COMPLETED', deviceId: device.deviceId, result: { authMethod: 'native', userVerified: true } });
    const claims = await verifyResultToken(done.result!.token, tenant.id);
    expect(claims.amr).toEqual(['hwk', 'fpt']);
    expect(claims.evidence.deviceKeyJwk).toEqual(await publicJwkOf(keyPair.publicKey));
    const signed = await evidenceClaims(claims.evidence);
    expect(signed.op).toBe(op.id);
    expect(typeof signed.challenge).toBe('string');
    const device2 = (await (await api(`/v1/devices/${device.deviceId}`)).json()) as { lastUsedAt: string | null; failedAttempts: number };
    expect(device2.failedAttempts).toBe(0);
    expect(device2.lastUsedAt).not.toBeNull();
  });

  it('AUTHORISATION (PSD2 RTS art. 5): the device is shown amount and payee, and its signature binds them', async () => {
    const { api, tenant } = await setupTenant();
    const user = await createUser(api);
    const { device } = await registerNative(api, { userId: user.id });
    const transaction = { amount: '12.50', currency: 'EUR', payee: { name: 'ACME Ltd', account: 'DE89370400440532013000' }, reference: 'INV-42' };
    const op = await startOperation(api, { type: 'AUTHORISATION', userId: user.id, deviceId: device.deviceId, transaction });
    let shown: ConfirmationDetails | undefined;
    const result = await nativeClient().approve(device, op.id, {
      confirm: (details) => {
        shown = details;
        return true;
      },
      verifyUser: () => 'face',
    });
    expect(result.status).toBe('COMPLETED');
    expect(shown?.transaction).toEqual(transaction);

    const done = (await (await api(`/v1/operations/${op.id}`)).json()) as OperationJson;
    const claims = await verifyResultToken(done.result!.token, tenant.id);
    expect(claims.txn).toEqual(transaction);
    // A third party re-derives the link: the signed challenge ends with SHA-256(JCS(txn)).
    const signed = await evidenceClaims(claims.evidence);
    const challenge = base64url.decode(signed.challenge as string);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonicalize(claims.txn)!)));
    expect(challenge.length).toBe(64);
    expect([...challenge.subarray(32)]).toEqual([...digest]);
  });

  it('AUTHORISATION of a batch: the device checks the total against the bound transactions', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const { device } = await registerNative(api, { userId: user.id });
    const transactions = [
      { amount: '10.00', currency: 'EUR', payee: { name: 'A' } },
      { amount: '2.55', currency: 'EUR', payee: { name: 'B' } },
    ];
    const op = await startOperation(api, { type: 'AUTHORISATION', userId: user.id, deviceId: device.deviceId, transactions });
    const result = await nativeClient().approve(device, op.id, { verifyUser: () => 'pin' });
    expect(result.status).toBe('COMPLETED');
    expect(result.operation.total).toEqual({ amount: '12.55', currency: 'EUR' });
  });

  it('SIGNATURE: the device gets the content, checks its digest, and the token carries doc', async () => {
    const { api, tenant } = await setupTenant();
    const user = await createUser(api);
    const { device } = await registerNative(api, { userId: user.id });
    const op = await startOperation(api, { type: 'SIGNATURE', userId: user.id, deviceId: device.deviceId, document: { content: 'I agree to the terms.', mimeType: 'text/plain', title: 'Terms' } });
    const result = await nativeClient().approve(device, op.id, { verifyUser: () => 'fpt' });
    expect(result.status).toBe('COMPLETED');
    expect(result.operation.document?.content).toBe('I agree to the terms.');
    const done = (await (await api(`/v1/operations/${op.id}`)).json()) as OperationJson;
    const claims = await verifyResultToken(done.result!.token, tenant.id);
    expect(claims.doc).toMatchObject({ title: 'Terms', mimeType: 'text/plain' });
    expect(claims.amr).toEqual(['hwk', 'fpt']);
  });

  it('number matching: the picked number travels inside the signed envelope', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const { device } = await registerNative(api, { userId: user.id });
    const op = (await startOperation(api, { type: 'AUTHENTICATION', userId: user.id, deviceId: device.deviceId, numberMatching: true })) as { id: string; numberMatch?: string };
    let offered: string[] = [];
    const result = await nativeClient().approve(device, op.id, {
      chooseNumber: (choices) => {
        offered = choices;
        return op.numberMatch!;
      },
      verifyUser: () => 'face',
    });
    expect(result.status).toBe('COMPLETED');
    expect(offered).toContain(op.numberMatch);
  });

  it('a broadcast operation (no deviceId) of a user with only native devices is completed by one of them', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const { device } = await registerNative(api, { userId: user.id });
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id });
    expect((await nativeClient().approve(device, op.id, { verifyUser: () => 'face' })).status).toBe('COMPLETED');
    expect(((await (await api(`/v1/operations/${op.id}`)).json()) as OperationJson).deviceId).toBe(device.deviceId);
  });

  it('the user declines: reject with an envelope → REJECTED; declining in confirm rejects too', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const { device } = await registerNative(api, { userId: user.id });
    const first = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id, deviceId: device.deviceId });
    expect(await nativeClient().reject(device, first.id)).toEqual({ status: 'REJECTED' });
    const second = await startOperation(api, { type: 'AUTHORISATION', userId: user.id, deviceId: device.deviceId, transaction: { amount: '1.00', currency: 'EUR', payee: { name: 'X' } } });
    const declined = await nativeClient().approve(device, second.id, { confirm: () => false, verifyUser: () => 'face' });
    expect(declined.status).toBe('REJECTED');
    for (const id of [first.id, second.id]) expect(((await (await api(`/v1/operations/${id}`)).json()) as OperationJson).status).toBe('REJECTED');
  });

  it('clock skew: a phone 10 minutes slow is told the server time (ENVELOPE_STALE + serverTime) and succeeds on its retry', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const { device } = await registerNative(api, { userId: user.id });
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id, deviceId: device.deviceId });
    const slow = nativeClient({ now: () => Date.now() - 600_000 });
    expect((await slow.approve(device, op.id, { verifyUser: () => 'face' })).status).toBe('COMPLETED');
  });
});

describe('native device: pending operations with a device proof', () => {
  it('lists the operations waiting for the device, sealed to the reply key in the proof', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const { device } = await registerNative(api, { userId: user.id });
    const addressed = await startOperation(api, { type: 'AUTHORISATION', userId: user.id, deviceId: device.deviceId, transaction: { amount: '5.00', currency: 'EUR', payee: { name: 'Shop' } } });
    const broadcast = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id });
    const items = await nativeClient().pending(device);
    expect(items.map((item) => item.id).sort()).toEqual([addressed.id, broadcast.id].sort());
    expect(items.find((item) => item.id === addressed.id)?.transaction).toEqual({ amount: '5.00', currency: 'EUR', payee: { name: 'Shop' } });
  });

  it('the reply is a JWE only the proof’s reply key opens; a proof without rek gets the list as JSON', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const { device } = await registerNative(api, { userId: user.id });
    await startOperation(api, { type: 'AUTHENTICATION', userId: user.id, deviceId: device.deviceId });
    const url = `${BASE_URL}/sdk/v1/devices/me/operations`;
    const replyKey = await generateReplyKey();
    const sealedProof = await createDeviceProof(device, { method: 'GET', url, iat: Math.floor(Date.now() / 1000), replyKey: await publicJwkOf(replyKey.publicKey) });
    const sealed = await SELF.fetch(url, { headers: { authorization: `Device ${sealedProof}` } });
    expect(sealed.status).toBe(200);
    expect(sealed.headers.get('content-type')).toBe('application/jose');
    const body = new TextDecoder().decode(await sealed.arrayBuffer());
    expect(body.split('.')).toHaveLength(5);
    expect(body).not.toContain('AUTHENTICATION');

    const plainProof = await createDeviceProof(device, { method: 'GET', url, iat: Math.floor(Date.now() / 1000) });
    const plain = await SELF.fetch(url, { headers: { authorization: `Device ${plainProof}` } });
    expect(plain.status).toBe(200);
    expect(((await plain.json()) as { items: unknown[] }).items).toHaveLength(1);
  });
});
