// The two-call same-device ceremony: the relying party's start answers the device's options, the finish answers the signed result.
import { SELF } from 'cloudflare:test';
import type { JSONWebKeySet } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyResultToken } from '../../packages/node/src/index';
import { BASE_URL, countRows, expectProblem, setupTenant, workerFetch } from '../helpers/api';
import { createUser, enrolled, getOperation, newAuthenticator, ORIGIN, RP_ID, sdkFetch, startOperation } from '../helpers/ceremony';

interface SameDeviceStart {
  id: string;
  status: string;
  sdk: { token: string; url: string };
  device: { operation: Record<string, unknown>; publicKey: Record<string, unknown> };
}

async function jwks(): Promise<JSONWebKeySet> {
  return (await workerFetch('/.well-known/jwks.json')).json<JSONWebKeySet>();
}

describe('sameDevice: two calls, no SDK start, no status call', () => {
  it('REGISTRATION: the start carries the creation options; the finish answers the result token, which verifies offline', async () => {
    const { api, tenant } = await setupTenant();
    const user = await createUser(api);
    const started = (await startOperation(api, { type: 'REGISTRATION', userId: user.id, sameDevice: true })) as unknown as SameDeviceStart;
    expect(started.status).toBe('IN_PROGRESS');
    expect(started.device.operation).toMatchObject({ id: started.id, type: 'REGISTRATION' });
    expect(started.device.publicKey).toMatchObject({ rp: { id: RP_ID }, authenticatorSelection: { userVerification: 'required' } });

    const authenticator = await newAuthenticator();
    const finish = await sdkFetch(started, 'finish', { credential: await authenticator.register(started.device.publicKey as never) });
    expect(finish.status, await finish.clone().text()).toBe(200);
    const answer = await finish.json<{ status: string; deviceId: string; result: { token: string; deviceId: string; userVerified: boolean } }>();
    expect(answer).toMatchObject({ status: 'COMPLETED', result: { deviceId: answer.deviceId, userVerified: true } });

    // The relying party's server checks what its page handed it, offline, against the JWKS it caches.
    const claims = await verifyResultToken(answer.result.token, { issuer: BASE_URL, audience: tenant.id, jwks: await jwks(), operationId: started.id, rp: { rpId: RP_ID, origins: [ORIGIN] } });
    expect(claims).toMatchObject({ op: 'REGISTRATION', sub: user.id, device: answer.deviceId });
    expect(answer.result.token).toBe((await getOperation(api, started.id)).result?.token);
  });

  it('AUTHORISATION: the inline operation shows amount and payee, the challenge links them, the token carries txn', async () => {
    const { api, tenantId, userId, authenticator } = await enrolled();
    const transaction = { amount: '42.50', currency: 'EUR', payee: { name: 'Zeta Utilities AG' } };
    const started = (await startOperation(api, { type: 'AUTHORISATION', userId, transaction, sameDevice: true })) as unknown as SameDeviceStart;
    expect(started.device.operation).toMatchObject({ transaction });
    const finish = await sdkFetch(started, 'finish', { credential: await authenticator.assert(started.device.publicKey as never) });
    expect(finish.status, await finish.clone().text()).toBe(200);
    const { result } = await finish.json<{ result: { token: string } }>();
    const claims = await verifyResultToken(result.token, { issuer: BASE_URL, audience: tenantId, jwks: await jwks(), operationId: started.id });
    expect(claims.txn).toEqual(transaction);
  });

  it('single use still holds, and the usual flow is unchanged: no device in its start, no result in its finish', async () => {
    const { api, userId, authenticator } = await enrolled();
    const started = (await startOperation(api, { type: 'AUTHENTICATION', userId, sameDevice: true })) as unknown as SameDeviceStart;
    const credential = await authenticator.assert(started.device.publicKey as never);
    expect((await sdkFetch(started, 'finish', { credential })).status).toBe(200);
    await expectProblem(await sdkFetch(started, 'finish', { credential: await authenticator.assert(started.device.publicKey as never) }), 409, 'OPERATION_FINAL');

    const usual = await startOperation(api, { type: 'AUTHENTICATION', userId });
    expect(usual).not.toHaveProperty('device');
    const res = await SELF.fetch(`${BASE_URL}/sdk/v1/operations/${usual.id}/start`, { method: 'POST', headers: { authorization: `Bearer ${usual.sdk.token}`, 'content-type': 'application/json' }, body: '{}' });
    const { publicKey } = await res.json<{ publicKey: unknown }>();
    const finish = await sdkFetch(usual, 'finish', { credential: await authenticator.assert(publicKey as never) });
    expect(await finish.json()).not.toHaveProperty('result');
  });

  it('sameDevice must be a boolean (400, nothing written); a status read never repeats the device options', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const before = await countRows('operations');
    const bad = await api('/v1/operations', { method: 'POST', json: { type: 'AUTHENTICATION', userId: user.id, sameDevice: 'yes' } });
    const problem = await expectProblem(bad, 400, 'VALIDATION_FAILED');
    expect(problem.invalidParams?.[0]?.name).toBe('sameDevice');
    expect(await countRows('operations')).toBe(before);
    const started = (await startOperation(api, { type: 'REGISTRATION', userId: user.id, sameDevice: true })) as unknown as SameDeviceStart;
    expect(await getOperation(api, started.id)).not.toHaveProperty('device');
  });
});
