// /v1 devices (API.md §1 Devices): list, get, rename, lock/unlock/deactivate, operation history; every refusal writes nothing.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Api } from '../helpers/api';
import { apiWith, countRows, createClient, expectProblem, getToken, setupTenant } from '../helpers/api';
import { approve, createUser, registerPasskey, startOperation } from '../helpers/ceremony';

interface DeviceJson {
  id: string;
  userId: string;
  status: 'ACTIVE' | 'LOCKED' | 'DEACTIVATED';
  lockReason?: string;
  kind: 'PASSKEY' | 'NATIVE';
  name: string;
  authenticator: { aaguid?: string; backupEligible: boolean; backedUp: boolean; transports?: string[] };
  createdAt: string;
  lastUsedAt?: string;
  failedAttempts: number;
}

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** A tenant that lets a user bind several devices without a prior SCA, and one user with one passkey. */
async function withDevice(): Promise<{ tenantId: string; api: Api; userId: string; deviceId: string; registrationId: string; authenticator: Awaited<ReturnType<typeof registerPasskey>>['authenticator'] }> {
  const { tenant, api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
  const user = await createUser(api);
  const { deviceId, operationId, authenticator } = await registerPasskey(api, user.id);
  return { tenantId: tenant.id, api, userId: user.id, deviceId, registrationId: operationId, authenticator };
}

async function deviceRow(deviceId: string): Promise<Record<string, unknown> | null> {
  return env.DB.prepare('SELECT * FROM devices WHERE id = ?1').bind(deviceId).first();
}

async function auditCount(tenantId: string): Promise<number> {
  return countRows('audit_events', 'tenant_id = ?1', tenantId);
}

async function post(api: Api, path: string, json: unknown = {}): Promise<Response> {
  return api(path, { method: 'POST', json });
}

describe('devices: reading', () => {
  it('API.md §1 Devices: GET /v1/users/{userId}/devices lists the user’s devices', async () => {
    const { api, userId, deviceId } = await withDevice();
    const second = await registerPasskey(api, userId);
    const res = await api(`/v1/users/${userId}/devices`);
    expect(res.status).toBe(200);
    const page = await res.json<Page<DeviceJson>>();
    expect(page.nextCursor).toBeNull();
    expect(page.items.map((d) => d.id).sort()).toEqual([deviceId, second.deviceId].sort());
    for (const device of page.items) {
      expect(device).toMatchObject({ userId, status: 'ACTIVE', kind: 'PASSKEY', failedAttempts: 0, authenticator: { backupEligible: false, backedUp: false, transports: ['internal'] } });
      expect(device).not.toHaveProperty('lockReason');
    }
    // Another user of the tenant has none.
    const other = await createUser(api);
    expect((await (await api(`/v1/users/${other.id}/devices`)).json<Page<DeviceJson>>()).items).toEqual([]);
  });

  it('API.md §1 Devices: GET /v1/devices/{deviceId} returns the device as the list shows it', async () => {
    const { api, userId, deviceId } = await withDevice();
    const res = await api(`/v1/devices/${deviceId}`);
    expect(res.status).toBe(200);
    const device = await res.json<DeviceJson>();
    expect(device).toMatchObject({ id: deviceId, userId, name: 'Passkey', status: 'ACTIVE', authenticator: { aaguid: '00000000-0000-0000-0000-000000000000' } });
    expect(new Date(device.createdAt).toISOString()).toBe(device.createdAt);
    const listed = (await (await api(`/v1/users/${userId}/devices`)).json<Page<DeviceJson>>()).items[0];
    expect(listed).toEqual(device);
  });

  it('API.md §1: unknown user or device → 404 (USER_NOT_FOUND, DEVICE_NOT_FOUND)', async () => {
    const { api } = await withDevice();
    await expectProblem(await api('/v1/users/usr_0000000000000000000000000000000000/devices'), 404, 'USER_NOT_FOUND');
    await expectProblem(await api('/v1/devices/dev_0000000000000000000000000000000000'), 404, 'DEVICE_NOT_FOUND');
    await expectProblem(await api('/v1/devices/not-an-id'), 404, 'DEVICE_NOT_FOUND');
  });
});

describe('devices: rename', () => {
  for (const contentType of ['application/merge-patch+json', 'application/json']) {
    it(`API.md conventions: PATCH { name } with ${contentType} renames the device and audits it`, async () => {
      const { tenantId, api, deviceId } = await withDevice();
      const res = await api(`/v1/devices/${deviceId}`, { method: 'PATCH', headers: { 'content-type': contentType }, json: { name: 'Work phone' } });
      expect(res.status, await res.clone().text()).toBe(200);
      expect(await res.json()).toMatchObject({ id: deviceId, name: 'Work phone' });
      expect(await deviceRow(deviceId)).toMatchObject({ name: 'Work phone' });
      expect((await (await api(`/v1/devices/${deviceId}`)).json<DeviceJson>()).name).toBe('Work phone');
      expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'device.renamed' AND target_id = ?2", tenantId, deviceId)).toBe(1);
    });
  }

  const badPatches: { name: string; body: unknown }[] = [
    { name: 'an unknown field', body: { name: 'Phone', colour: 'red' } },
    { name: 'an empty name', body: { name: '' } },
    { name: 'a name over 64 characters', body: { name: 'x'.repeat(65) } },
    { name: 'a name that is not a string', body: { name: 42 } },
  ];
  for (const bad of badPatches) {
    it(`API.md conventions: PATCH with ${bad.name} → 400 VALIDATION_FAILED, nothing changed`, async () => {
      const { tenantId, api, deviceId } = await withDevice();
      const before = { row: await deviceRow(deviceId), audit: await auditCount(tenantId) };
      await expectProblem(await api(`/v1/devices/${deviceId}`, { method: 'PATCH', json: bad.body }), 400, 'VALIDATION_FAILED');
      expect(await deviceRow(deviceId)).toEqual(before.row);
      expect(await auditCount(tenantId)).toBe(before.audit);
    });
  }
});

describe('devices: lock, unlock, deactivate', () => {
  it('API.md §1 Devices: lock with a reason → LOCKED with lockReason; cancels operations addressed to the device', async () => {
    const { tenantId, api, userId, deviceId } = await withDevice();
    const pending = await startOperation(api, { type: 'AUTHENTICATION', userId, deviceId });
    const res = await post(api, `/v1/devices/${deviceId}/lock`, { reason: 'reported stolen' });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ id: deviceId, status: 'LOCKED', lockReason: 'reported stolen' });
    expect(await deviceRow(deviceId)).toMatchObject({ status: 'LOCKED', lock_reason: 'reported stolen' });
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'device.locked' AND target_id = ?2", tenantId, deviceId)).toBe(1);
    expect((await (await api(`/v1/operations/${pending.id}`)).json<{ status: string }>()).status).toBe('CANCELLED');
    // A locked device is not offered new operations.
    await expectProblem(await post(api, '/v1/operations', { type: 'AUTHENTICATION', userId, deviceId }), 409, 'DEVICE_LOCKED');
  });

  it('API.md §1 Devices: lock without a body uses the relying party’s default reason', async () => {
    const { api, deviceId } = await withDevice();
    const res = await api(`/v1/devices/${deviceId}/lock`, { method: 'POST', headers: { 'content-type': '' } });
    expect(res.status, await res.clone().text()).toBe(200);
    const device = await res.json<DeviceJson>();
    expect(device.status).toBe('LOCKED');
    expect(typeof device.lockReason).toBe('string');
  });

  it('API.md §1 Devices: unlock → ACTIVE and resets failedAttempts', async () => {
    const { tenantId, api, deviceId } = await withDevice();
    await env.DB.prepare('UPDATE devices SET failed_attempts = 3 WHERE id = ?1').bind(deviceId).run();
    expect((await (await api(`/v1/devices/${deviceId}`)).json<DeviceJson>()).failedAttempts).toBe(3);
    expect((await post(api, `/v1/devices/${deviceId}/lock`, { reason: 'fraud check' })).status).toBe(200);

    const res = await post(api, `/v1/devices/${deviceId}/unlock`);
    expect(res.status, await res.clone().text()).toBe(200);
    const device = await res.json<DeviceJson>();
    expect(device).toMatchObject({ status: 'ACTIVE', failedAttempts: 0 });
    expect(device).not.toHaveProperty('lockReason');
    expect(await deviceRow(deviceId)).toMatchObject({ status: 'ACTIVE', lock_reason: null, failed_attempts: 0 });
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'device.unlocked' AND target_id = ?2", tenantId, deviceId)).toBe(1);
  });

  it('API.md §1 Devices: deactivate is final — unlock, lock and deactivate afterwards → 409, nothing changed', async () => {
    const { tenantId, api, userId, deviceId } = await withDevice();
    const res = await post(api, `/v1/devices/${deviceId}/deactivate`);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'DEACTIVATED' });
    const before = { row: await deviceRow(deviceId), audit: await auditCount(tenantId) };
    for (const action of ['unlock', 'lock', 'deactivate']) {
      await expectProblem(await post(api, `/v1/devices/${deviceId}/${action}`), 409, 'DEVICE_DEACTIVATED');
    }
    await expectProblem(await post(api, '/v1/operations', { type: 'AUTHENTICATION', userId, deviceId }), 409, 'DEVICE_NOT_ACTIVE');
    expect(await deviceRow(deviceId)).toEqual(before.row);
    expect(await auditCount(tenantId)).toBe(before.audit);
  });

  it('API.md conventions: an unknown field in a lock or unlock body → 400 VALIDATION_FAILED, nothing changed', async () => {
    const { tenantId, api, deviceId } = await withDevice();
    const before = { row: await deviceRow(deviceId), audit: await auditCount(tenantId) };
    await expectProblem(await post(api, `/v1/devices/${deviceId}/lock`, { reason: 'x', until: 'tomorrow' }), 400, 'VALIDATION_FAILED');
    await expectProblem(await post(api, `/v1/devices/${deviceId}/lock`, { reason: 'r'.repeat(257) }), 400, 'VALIDATION_FAILED');
    await expectProblem(await post(api, `/v1/devices/${deviceId}/unlock`, { force: true }), 400, 'VALIDATION_FAILED');
    await expectProblem(await post(api, `/v1/devices/${deviceId}/deactivate`, { now: true }), 400, 'VALIDATION_FAILED');
    expect(await deviceRow(deviceId)).toEqual(before.row);
    expect(await auditCount(tenantId)).toBe(before.audit);
  });
});

describe('devices: operation history', () => {
  it('API.md §1 Devices: GET /v1/devices/{id}/operations lists the device’s operations newest first, paged by cursor to nextCursor null', async () => {
    const { api, userId, deviceId, registrationId, authenticator } = await withDevice();
    const auths: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { op, finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId, deviceId });
      expect(finish.status).toBe(200);
      auths.push(op.id);
    }
    // An operation of another device of the same user is not in this device's history.
    const other = await registerPasskey(api, userId);
    await approve(api, other.authenticator, { type: 'AUTHENTICATION', userId, deviceId: other.deviceId });

    const all = [registrationId, ...auths];
    const first = await api(`/v1/devices/${deviceId}/operations?limit=2`);
    expect(first.status).toBe(200);
    const page1 = await first.json<Page<{ id: string; status: string; type: string; deviceId: string }>>();
    expect(page1.items).toHaveLength(2);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const page2 = await (await api(`/v1/devices/${deviceId}/operations?limit=2&cursor=${page1.nextCursor}`)).json<Page<{ id: string; status: string; type: string }>>();
    const ids = [...page1.items, ...page2.items].map((o) => o.id);
    // Ids are time-ordered: newest first is descending id order, the registration last.
    expect(ids).toEqual([...all].sort().reverse());
    expect(ids.at(-1)).toBe(registrationId);
    expect(page1.items.every((o) => o.status === 'COMPLETED' && o.deviceId === deviceId)).toBe(true);
    expect(page2.items.at(-1)?.type).toBe('REGISTRATION');
    // API.md conventions: the last page says nextCursor null.
    expect(page2.nextCursor).toBeNull();

    const whole = await (await api(`/v1/devices/${deviceId}/operations`)).json<Page<{ id: string }>>();
    expect(whole.items.map((o) => o.id)).toEqual(ids);
    expect(whole.nextCursor).toBeNull();
  });

  it('API.md conventions: a forged cursor or a bad limit → 400', async () => {
    const { api, deviceId } = await withDevice();
    await expectProblem(await api(`/v1/devices/${deviceId}/operations?cursor=${btoa(JSON.stringify({ k: 'usr_x' }))}`), 400, 'INVALID_CURSOR');
    await expectProblem(await api(`/v1/devices/${deviceId}/operations?cursor=%%%`), 400, 'INVALID_CURSOR');
    await expectProblem(await api(`/v1/devices/${deviceId}/operations?limit=0`), 400, 'VALIDATION_FAILED');
    await expectProblem(await api(`/v1/devices/${deviceId}/operations?limit=101`), 400, 'VALIDATION_FAILED');
  });
});

describe('devices: tenancy and scopes', () => {
  it('API.md §1: another tenant’s device id → 404 DEVICE_NOT_FOUND on every device call, nothing changed', async () => {
    const { tenantId, api, userId, deviceId } = await withDevice();
    const other = await setupTenant();
    const before = { row: await deviceRow(deviceId), audit: await auditCount(tenantId) };
    await expectProblem(await other.api(`/v1/devices/${deviceId}`), 404, 'DEVICE_NOT_FOUND');
    await expectProblem(await other.api(`/v1/devices/${deviceId}`, { method: 'PATCH', json: { name: 'mine now' } }), 404, 'DEVICE_NOT_FOUND');
    for (const action of ['lock', 'unlock', 'deactivate']) {
      await expectProblem(await post(other.api, `/v1/devices/${deviceId}/${action}`), 404, 'DEVICE_NOT_FOUND');
    }
    await expectProblem(await other.api(`/v1/devices/${deviceId}/operations`), 404, 'DEVICE_NOT_FOUND');
    await expectProblem(await other.api(`/v1/users/${userId}/devices`), 404, 'USER_NOT_FOUND');
    expect(await deviceRow(deviceId)).toEqual(before.row);
    expect(await auditCount(tenantId)).toBe(before.audit);
  });

  it('API.md §1: a token without the devices scope → 403 INSUFFICIENT_SCOPE, nothing changed', async () => {
    const { tenantId, api, userId, deviceId } = await withDevice();
    const narrow = apiWith(await getToken(await createClient(tenantId, { scopes: ['users', 'operations'] })));
    const before = { row: await deviceRow(deviceId), audit: await auditCount(tenantId) };
    await expectProblem(await narrow(`/v1/users/${userId}/devices`), 403, 'INSUFFICIENT_SCOPE');
    await expectProblem(await narrow(`/v1/devices/${deviceId}`), 403, 'INSUFFICIENT_SCOPE');
    await expectProblem(await narrow(`/v1/devices/${deviceId}`, { method: 'PATCH', json: { name: 'x' } }), 403, 'INSUFFICIENT_SCOPE');
    await expectProblem(await post(narrow, `/v1/devices/${deviceId}/lock`), 403, 'INSUFFICIENT_SCOPE');
    await expectProblem(await narrow(`/v1/devices/${deviceId}/operations`), 403, 'INSUFFICIENT_SCOPE');
    expect(await deviceRow(deviceId)).toEqual(before.row);
    expect(await auditCount(tenantId)).toBe(before.audit);
    // The users scope alone still reads the user.
    expect((await narrow(`/v1/users/${userId}`)).status).toBe(200);
    expect((await api(`/v1/devices/${deviceId}`)).status).toBe(200);
  });
});
