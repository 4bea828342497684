// The one-batch start (services/operation-start.ts): once this isolate has seen a tenant, a start writes and reads in
// one D1 batch on the remembered configuration. Every rule must still hold when what it remembers is stale.
import { describe, expect, it } from 'vitest';
import type { Api } from '../helpers/api';
import { adminFetch, countRows, expectProblem } from '../helpers/api';
import { enrolled, registerPasskey, sdkStart, startOperation, createUser } from '../helpers/ceremony';

const auth = (userId: string, extra: Record<string, unknown> = {}) => ({ type: 'AUTHENTICATION', userId, ...extra });

function post(api: Api, body: Record<string, unknown>): Promise<Response> {
  return api('/v1/operations', { method: 'POST', json: body });
}

/** Rows and audit entries a refused start must not have added. */
async function written(userId: string): Promise<{ ops: number; audit: number }> {
  return {
    ops: await countRows('operations', 'user_id = ?1', userId),
    audit: await countRows('audit_events', "user_id = ?1 AND action = 'operation.started'", userId),
  };
}

async function patchTenant(tenantId: string, body: Record<string, unknown>): Promise<void> {
  const res = await adminFetch(`/admin/v1/tenants/${tenantId}`, { method: 'PATCH', json: body });
  expect(res.status, await res.clone().text()).toBe(200);
}

/** A tenant this isolate has seen (the registration read it), a user with a passkey, and one start on the fast path done. */
async function warm(): Promise<Awaited<ReturnType<typeof enrolled>>> {
  const setup = await enrolled();
  await startOperation(setup.api, auth(setup.userId));
  return setup;
}

describe('the one-batch start on a remembered tenant configuration', () => {
  it('a policy change applies to the very next start: the new lifetime, and a ttlSeconds above it → 400 VALIDATION_FAILED, nothing written', async () => {
    const { api, tenantId, userId } = await warm();
    await patchTenant(tenantId, { policy: { operationTtlSeconds: 60 } });
    const op = await startOperation(api, auth(userId));
    expect(Date.parse(String(op.expiresAt)) - Date.parse(String(op.createdAt))).toBe(60_000);
    const before = await written(userId);
    const problem = await expectProblem(await post(api, auth(userId, { ttlSeconds: 120 })), 400, 'VALIDATION_FAILED');
    expect(JSON.stringify(problem.invalidParams)).toContain('ttlSeconds');
    expect(await written(userId)).toEqual(before);
  });

  it('a tightened limit applies at once: maxLiveOperationsPerUser lowered to 2 → the third live start is 429 TOO_MANY_LIVE_OPERATIONS with Retry-After, nothing written', async () => {
    const { api, tenantId, userId } = await warm(); // one live operation already
    await patchTenant(tenantId, { policy: { maxLiveOperationsPerUser: 2 } });
    await startOperation(api, auth(userId));
    const before = await written(userId);
    const res = await post(api, auth(userId));
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const problem = await expectProblem(res, 429, 'TOO_MANY_LIVE_OPERATIONS');
    expect(problem.policyField).toBe('maxLiveOperationsPerUser');
    expect(await written(userId)).toEqual(before);
  });

  it('a changed rpId reaches the device: the next operation asks for the new rpId, not the remembered one', async () => {
    const { api, tenantId, userId } = await warm();
    await patchTenant(tenantId, { rpId: 'custos.test', origins: ['https://custos.test'] });
    const { publicKey } = await sdkStart(await startOperation(api, auth(userId)));
    expect(publicKey.rpId).toBe('custos.test');
  });

  it('a user locked after the tenant was remembered → 409 USER_NOT_ACTIVE with userStatus, nothing written', async () => {
    const { api, userId } = await warm();
    expect((await api(`/v1/users/${userId}/lock`, { method: 'POST', json: {} })).status).toBe(200);
    const before = await written(userId);
    const problem = await expectProblem(await post(api, auth(userId)), 409, 'USER_NOT_ACTIVE');
    expect(problem.userStatus).toBe('LOCKED');
    expect(await written(userId)).toEqual(before);
  });

  it('a locked named device → 409 DEVICE_LOCKED with its lockReason; a deactivated one → 409 DEVICE_NOT_ACTIVE; nothing written', async () => {
    const { api, userId, deviceId } = await warm();
    expect((await api(`/v1/devices/${deviceId}/lock`, { method: 'POST', json: { reason: 'lost' } })).status).toBe(200);
    const before = await written(userId);
    const locked = await expectProblem(await post(api, auth(userId, { deviceId })), 409, 'DEVICE_LOCKED');
    expect(locked.lockReason).toBe('lost');
    expect((await api(`/v1/devices/${deviceId}/deactivate`, { method: 'POST', json: {} })).status).toBe(200);
    await expectProblem(await post(api, auth(userId, { deviceId })), 409, 'DEVICE_NOT_ACTIVE');
    expect(await written(userId)).toEqual(before);
  });

  it("a device id of another user, or no device id at all → 404 DEVICE_NOT_FOUND; a broadcast with no active device → 409 NO_ACTIVE_DEVICE; nothing written", async () => {
    const { api, userId, deviceId } = await warm();
    const other = await createUser(api);
    const { deviceId: othersDevice } = await registerPasskey(api, other.id);
    const before = await written(userId);
    await expectProblem(await post(api, auth(userId, { deviceId: othersDevice })), 404, 'DEVICE_NOT_FOUND');
    await expectProblem(await post(api, auth(userId, { deviceId: 'not-a-device' })), 404, 'DEVICE_NOT_FOUND');
    expect((await api(`/v1/devices/${deviceId}/deactivate`, { method: 'POST', json: {} })).status).toBe(200);
    await expectProblem(await post(api, auth(userId)), 409, 'NO_ACTIVE_DEVICE');
    expect(await written(userId)).toEqual(before);
  });

  it('the operation the one batch wrote is whole: its history row, its audit entry and the credentials the device is asked for', async () => {
    const { api, userId, deviceId, authenticator } = await warm();
    const before = await written(userId);
    const op = await startOperation(api, auth(userId, { deviceId }));
    expect(await written(userId)).toEqual({ ops: before.ops + 1, audit: before.audit + 1 });
    expect(await countRows('operations', "id = ?1 AND status = 'PENDING' AND device_id = ?2", op.id, deviceId)).toBe(1);
    const { publicKey } = await sdkStart(op);
    expect((publicKey.allowCredentials as { id: string }[]).map((c) => c.id)).toEqual([authenticator.credentialId]);
  });
});
