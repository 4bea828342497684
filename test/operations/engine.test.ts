// OperationDO behaviour through the worker and the DO test hooks: single use, expiry alarm, cancel, races, long-poll, retention.
import { env, evictDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Api } from '../helpers/api';
import { countRows, expectProblem, setupTenant, sha256Hex } from '../helpers/api';
import { createUser, getOperation, newAuthenticator, sdkFetch, sdkStart, startOperation } from '../helpers/ceremony';
import type { OperationJson, StartedOperation } from '../helpers/ceremony';
import type { CreationOptionsJSON, RegistrationResponseJSON } from '../helpers/soft-authenticator';
import { fireOperationTimer, rewriteStoredOperation, shardOfOperation, storedColumns, storedOperation, storeInOldLayout } from '../helpers/operation-shard';


async function historyRow(id: string): Promise<{ status: string; failure_code: string | null; completed_at: string | null } | null> {
  return env.DB.prepare('SELECT status, failure_code, completed_at FROM operations WHERE id = ?1').bind(id).first();
}

async function deviceCount(userId: string): Promise<number> {
  return countRows('devices', 'user_id = ?1', userId);
}

/** A fresh tenant (no SCA needed for a first device), a user and a REGISTRATION the device has fetched, with a valid credential for it. */
async function pendingRegistration(): Promise<{ tenantId: string; api: Api; userId: string; op: StartedOperation; credential: RegistrationResponseJSON }> {
  const { tenant, api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
  const user = await createUser(api);
  const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
  const { publicKey } = await sdkStart(op);
  const authenticator = await newAuthenticator();
  const credential = await authenticator.register(publicKey as unknown as CreationOptionsJSON);
  return { tenantId: tenant.id, api, userId: user.id, op, credential };
}

describe('OperationDO: the snapshot it keeps', () => {
  it('DESIGN secrets: the DO stores the sdk token only as its SHA-256, and sets its alarm at expiresAt (PSD2 RTS art. 4(3)(d))', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id, ttlSeconds: 120 });
    const { state: stored, dueAt, alarm } = await storedOperation(op.id);
    expect(stored?.sdkTokenHash).toBe(await sha256Hex(op.sdk.token));
    expect(JSON.stringify(stored)).not.toContain(op.sdk.token);
    expect(dueAt).toBe(Date.parse(op.expiresAt as string));
    // The shard's alarm is at its earliest due operation, never later than this one's expiry.
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(dueAt!);
    // API.md: the token is shown once; status calls do not repeat it.
    expect(await getOperation(api, op.id)).not.toHaveProperty('sdk');
  });
});

describe('OperationDO: the fixed part stored once, the changing part on every save', () => {
  it('begin stores the fixed part once; start and finish rewrite only the small changing part; a fresh load reads the same operation', async () => {
    const { api, op, credential } = await pendingRegistration();
    const started = await storedColumns(op.id);
    expect(started?.fixed).not.toBeNull();
    const fixed = JSON.parse(started!.fixed!) as Record<string, unknown>;
    expect(fixed).toMatchObject({ id: op.id, type: 'REGISTRATION' });
    expect(fixed).toHaveProperty('challenge');
    expect(fixed).toHaveProperty('policy');
    expect(fixed).toHaveProperty('rp');
    expect(fixed).not.toHaveProperty('status');
    // The SDK start moved it to IN_PROGRESS and chose the relying party: only that is in the changing part.
    expect(Object.keys(JSON.parse(started!.state) as object).sort()).toEqual(['registrationRp', 'status']);
    expect(JSON.parse(started!.state)).toMatchObject({ status: 'IN_PROGRESS' });

    expect((await sdkFetch(op, 'finish', { credential })).status).toBe(200);
    const done = await getOperation(api, op.id);
    const finished = await storedColumns(op.id);
    expect(finished?.fixed).toBe(started!.fixed);
    expect(finished?.intent).toBeNull();
    expect(JSON.parse(finished!.state)).toMatchObject({ status: 'COMPLETED', completedAt: done.completedAt, result: done.result });
    expect(JSON.parse(finished!.state)).toHaveProperty('finishDigest');
    // None of the fixed part is written again.
    expect(Object.keys(JSON.parse(finished!.state) as object).sort()).toEqual(['completedAt', 'finishDigest', 'registrationRp', 'result', 'status']);

    await evictDurableObject(shardOfOperation(op.id));
    expect(await getOperation(api, op.id)).toEqual(done);
  });

  it('a row of the old layout (whole snapshot in state, fixed NULL) still loads, finishes, and is split by its next save', async () => {
    const { api, userId, op, credential } = await pendingRegistration();
    const before = await storedOperation(op.id);
    await storeInOldLayout(op.id);
    await evictDurableObject(shardOfOperation(op.id));
    const old = await storedColumns(op.id);
    expect(old?.fixed).toBeNull();
    expect(JSON.parse(old!.state)).toEqual(before.state);

    // Read from the old layout: status and the SDK start still see the whole operation.
    const pending = await getOperation(api, op.id);
    expect(pending).toMatchObject({ id: op.id, status: 'IN_PROGRESS' });
    expect((await sdkFetch(op, 'start')).status).toBe(200);
    expect((await sdkFetch(op, 'finish', { credential })).status).toBe(200);
    const done = await getOperation(api, op.id);
    expect(done.status).toBe('COMPLETED');
    expect(await deviceCount(userId)).toBe(1);

    const migrated = await storedColumns(op.id);
    expect(migrated?.fixed).not.toBeNull();
    expect(JSON.parse(migrated!.fixed!)).not.toHaveProperty('status');
    expect(JSON.parse(migrated!.state)).not.toHaveProperty('credentials');
    await evictDurableObject(shardOfOperation(op.id));
    expect(await getOperation(api, op.id)).toEqual(done);
    expect((await storedOperation(op.id)).state).toEqual({ ...before.state, ...JSON.parse(migrated!.state) });
  });
});

describe('OperationDO: a final state never changes', () => {
  it('PSD2 RTS art. 4(3)(c): a finished operation finished again → 409 OPERATION_FINAL, still one device', async () => {
    const { api, userId, op, credential } = await pendingRegistration();
    expect((await sdkFetch(op, 'finish', { credential })).status).toBe(200);
    const first = await getOperation(api, op.id);
    const problem = await expectProblem(await sdkFetch(op, 'finish', { credential }), 409, 'OPERATION_FINAL');
    expect(problem.operationStatus).toBe('COMPLETED');
    expect(await getOperation(api, op.id)).toEqual(first);
    expect(await deviceCount(userId)).toBe(1);
    // Nor can it be fetched, rejected or cancelled any more.
    expect((await expectProblem(await sdkFetch(op, 'start'), 409, 'OPERATION_FINAL')).operationStatus).toBe('COMPLETED');
    await expectProblem(await sdkFetch(op, 'reject'), 409, 'OPERATION_FINAL');
    await expectProblem(await api(`/v1/operations/${op.id}/cancel`, { method: 'POST', json: {} }), 409, 'OPERATION_FINAL');
    expect(await getOperation(api, op.id)).toEqual(first);
  });

  it('API.md §2: another operation’s sdk token → 401 UNAUTHENTICATED and nothing changes on either', async () => {
    const { api, userId, op: a, credential } = await pendingRegistration();
    const b = await startOperation(api, { type: 'REGISTRATION', userId });
    const before = { a: await getOperation(api, a.id), b: await getOperation(api, b.id) };
    expect(before.a.status).toBe('IN_PROGRESS');
    expect(before.b.status).toBe('PENDING');

    const crossed = { id: a.id, sdk: { token: b.sdk.token } };
    await expectProblem(await sdkFetch(crossed, 'finish', { credential }), 401, 'UNAUTHENTICATED');
    await expectProblem(await sdkFetch(crossed, 'start'), 401, 'UNAUTHENTICATED');
    await expectProblem(await sdkFetch(crossed, 'reject'), 401, 'UNAUTHENTICATED');
    expect(await getOperation(api, a.id)).toEqual(before.a);
    expect(await getOperation(api, b.id)).toEqual(before.b);
    expect(await historyRow(a.id)).toMatchObject({ status: 'PENDING' });
    expect(await historyRow(b.id)).toMatchObject({ status: 'PENDING' });
    expect(await deviceCount(userId)).toBe(0);
    // The rightful token still works afterwards.
    expect((await sdkFetch(a, 'finish', { credential })).status).toBe(200);
  });

  it('authentication before lookup: no token, a garbled or forged one → 401 UNAUTHENTICATED whatever the operation id', async () => {
    const { op, credential } = await pendingRegistration();
    const unknownId = 'op_00000000000000000000000000000000';
    const forged = `sdk_${'A'.repeat(43)}`;
    for (const id of [op.id, unknownId, 'nonsense']) {
      for (const token of ['', 'x', forged, '%%%not-a-token%%%']) {
        for (const action of ['start', 'finish', 'reject'] as const) {
          const res = await sdkFetch({ id, sdk: { token } }, action, action === 'finish' ? { credential } : {});
          const problem = await expectProblem(res, 401, 'UNAUTHENTICATED');
          expect(problem.detail).not.toMatch(/not found|no such/i);
        }
      }
    }
    // The real token on an id that does not exist: also 401 (the token does not open it), never a 404 that confirms ids.
    await expectProblem(await sdkFetch({ id: unknownId, sdk: op.sdk }, 'finish', { credential }), 401, 'UNAUTHENTICATED');
    await expectProblem(await sdkFetch({ id: 'nonsense', sdk: op.sdk }, 'finish', { credential }), 401, 'UNAUTHENTICATED');
    expect(await historyRow(op.id)).toMatchObject({ status: 'PENDING' });
  });
});

describe('OperationDO: expiry', () => {
  it('PSD2 RTS art. 4(3)(d): the alarm expires the operation; finish → 409 OPERATION_FINAL (EXPIRED), history row EXPIRED, no device', async () => {
    const { tenantId, api, userId, op, credential } = await pendingRegistration();
    expect(await fireOperationTimer(op.id)).toBe(true);

    const status = await getOperation(api, op.id);
    expect(status.status).toBe('EXPIRED');
    expect(status.failure).toEqual({ code: 'EXPIRED' });
    expect(status).not.toHaveProperty('result');
    const problem = await expectProblem(await sdkFetch(op, 'finish', { credential }), 409, 'OPERATION_FINAL');
    expect(problem.operationStatus).toBe('EXPIRED');
    expect(await historyRow(op.id)).toMatchObject({ status: 'EXPIRED', failure_code: 'EXPIRED' });
    expect(await deviceCount(userId)).toBe(0);
    const audit = await env.DB.prepare("SELECT actor FROM audit_events WHERE tenant_id = ?1 AND target_id = ?2 AND action = 'operation.expired'").bind(tenantId, op.id).all();
    expect(audit.results).toEqual([{ actor: 'system' }]);
    // Cancelling an expired operation is refused the same way.
    expect((await expectProblem(await api(`/v1/operations/${op.id}/cancel`, { method: 'POST', json: {} }), 409, 'OPERATION_FINAL')).operationStatus).toBe('EXPIRED');
  });

  it('DESIGN: a final operation is kept a day, then the object forgets it and status falls back to the history row', async () => {
    const { api, op, credential } = await pendingRegistration();
    expect((await sdkFetch(op, 'finish', { credential })).status).toBe(200);
    const done = await getOperation(api, op.id);
    // The retention timer fires early: the operation is kept (it has not been a day yet) and its timer moves to the day's end.
    expect(await fireOperationTimer(op.id)).toBe(true);
    expect(await getOperation(api, op.id)).toEqual(done);
    expect((await storedOperation(op.id)).dueAt).toBe(Date.parse(done.completedAt as string) + 24 * 3600 * 1000);

    // Age the stored operation by two days, drop the in-memory copy, and let the timer fire.
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000).toISOString();
    await rewriteStoredOperation(op.id, (stored) => ({ ...stored, completedAt: twoDaysAgo }));
    await evictDurableObject(shardOfOperation(op.id));
    expect(await fireOperationTimer(op.id)).toBe(true);
    expect((await storedOperation(op.id)).rows).toBe(0);

    const fromHistory = await getOperation(api, op.id);
    expect(fromHistory).toMatchObject({ id: op.id, status: 'COMPLETED', deviceId: done.deviceId, completedAt: done.completedAt });
    expect(fromHistory).not.toHaveProperty('result');
  });
});

describe('OperationDO: cancel and reject', () => {
  it('API.md: cancel → 200 CANCELLED; then finish → 409 OPERATION_FINAL; cancel again → 409 OPERATION_FINAL', async () => {
    const { api, userId, op, credential } = await pendingRegistration();
    const res = await api(`/v1/operations/${op.id}/cancel`, { method: 'POST', json: {} });
    expect(res.status, await res.clone().text()).toBe(200);
    const cancelled = await res.json<OperationJson>();
    expect(cancelled).toMatchObject({ id: op.id, status: 'CANCELLED', failure: { code: 'CANCELLED' } });
    expect(cancelled).not.toHaveProperty('sdk');

    expect((await expectProblem(await sdkFetch(op, 'finish', { credential }), 409, 'OPERATION_FINAL')).operationStatus).toBe('CANCELLED');
    expect((await expectProblem(await api(`/v1/operations/${op.id}/cancel`, { method: 'POST', json: {} }), 409, 'OPERATION_FINAL')).operationStatus).toBe('CANCELLED');
    expect(await historyRow(op.id)).toMatchObject({ status: 'CANCELLED' });
    expect((await getOperation(api, op.id)).status).toBe('CANCELLED');
    expect(await deviceCount(userId)).toBe(0);
  });

  it('API.md: cancel takes no body fields; an unknown field → 400 and the operation stays live', async () => {
    const { api, op } = await pendingRegistration();
    await expectProblem(await api(`/v1/operations/${op.id}/cancel`, { method: 'POST', json: { reason: 'x' } }), 400, 'VALIDATION_FAILED');
    expect((await getOperation(api, op.id)).status).toBe('IN_PROGRESS');
  });

  it('API.md §1: another tenant cannot see or cancel the operation (404 OPERATION_NOT_FOUND)', async () => {
    const { api, op } = await pendingRegistration();
    const other = await setupTenant();
    await expectProblem(await other.api(`/v1/operations/${op.id}`), 404, 'OPERATION_NOT_FOUND');
    await expectProblem(await other.api(`/v1/operations/${op.id}/cancel`, { method: 'POST', json: {} }), 404, 'OPERATION_NOT_FOUND');
    expect((await getOperation(api, op.id)).status).toBe('IN_PROGRESS');
  });

  it('API.md §2: the user declines → REJECTED; a later finish → 409 OPERATION_FINAL, no device', async () => {
    const { api, userId, op, credential } = await pendingRegistration();
    const res = await sdkFetch(op, 'reject');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'REJECTED' });
    expect((await expectProblem(await sdkFetch(op, 'finish', { credential }), 409, 'OPERATION_FINAL')).operationStatus).toBe('REJECTED');
    expect(await historyRow(op.id)).toMatchObject({ status: 'REJECTED' });
    expect((await getOperation(api, op.id)).status).toBe('REJECTED');
    expect(await deviceCount(userId)).toBe(0);
  });
});

describe('OperationDO: races', () => {
  it('PSD2 RTS art. 4(3)(c): two concurrent finishes with the same credential → exactly one 200 and one 409, one device row', async () => {
    const { tenantId, api, userId, op, credential } = await pendingRegistration();
    const responses = await Promise.all([sdkFetch(op, 'finish', { credential }), sdkFetch(op, 'finish', { credential })]);
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409]);
    const loser = responses.find((r) => r.status === 409)!;
    const problem = await expectProblem(loser, 409, (await loser.clone().json<{ code: string }>()).code);
    expect(['OPERATION_CONFLICT', 'OPERATION_FINAL']).toContain(problem.code);
    expect((await getOperation(api, op.id)).status).toBe('COMPLETED');
    expect(await deviceCount(userId)).toBe(1);
    expect(await countRows('credentials', 'tenant_id = ?1', tenantId)).toBe(1);
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'device.registered'", tenantId)).toBe(1);
  });

  it('API.md: GET ?wait=10 started before the finish answers COMPLETED once the finish happens', async () => {
    const { api, op, credential } = await pendingRegistration();
    const poll = api(`/v1/operations/${op.id}?wait=10`);
    const finish = await sdkFetch(op, 'finish', { credential });
    expect(finish.status).toBe(200);
    const res = await poll;
    expect(res.status).toBe(200);
    const view = await res.json<OperationJson>();
    expect(view.status).toBe('COMPLETED');
    expect(view.result?.deviceId).toMatch(/^dev_/);
  });

  it('API.md: ?wait above 30 or not a number → 400 VALIDATION_FAILED', async () => {
    const { api, op } = await pendingRegistration();
    await expectProblem(await api(`/v1/operations/${op.id}?wait=31`), 400, 'VALIDATION_FAILED');
    await expectProblem(await api(`/v1/operations/${op.id}?wait=soon`), 400, 'VALIDATION_FAILED');
  });
});
