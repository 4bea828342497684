// Abuse limits on POST /v1/operations: live operations per user and per device, starts per user per minute, and their policy fields.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Api } from '../helpers/api';
import { adminFetch, countRows, createTenant, expectProblem } from '../helpers/api';
import { enrolled, getOperation, sdkFetch, sdkStart, startOperation } from '../helpers/ceremony';
import type { AuthenticationResponseJSON } from '../helpers/soft-authenticator';

const auth = (userId: string, extra: Record<string, unknown> = {}) => ({ type: 'AUTHENTICATION', userId, ...extra });

function post(api: Api, body: Record<string, unknown>): Promise<Response> {
  return api('/v1/operations', { method: 'POST', json: body });
}

/** A 429 problem with its stable code, a Retry-After header in 1…max s equal to the body's retryAfterSeconds, and a traceId. */
async function expectTooMany(res: Response, code: string, maxSeconds: number): Promise<Record<string, unknown>> {
  const retryAfter = Number(res.headers.get('retry-after'));
  const problem = await expectProblem(res, 429, code);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxSeconds);
  expect(problem.retryAfterSeconds).toBe(retryAfter);
  return problem;
}

async function liveRows(userId: string): Promise<number> {
  return countRows('operations', "user_id = ?1 AND status = 'PENDING'", userId);
}

async function startedEntries(userId: string): Promise<number> {
  return countRows('audit_events', "user_id = ?1 AND action = 'operation.started'", userId);
}

describe('live operations per user (push-bombing / MFA fatigue)', () => {
  it('limits: 200 concurrent AUTHENTICATION starts for one user → exactly maxLiveOperationsPerUser (5) accepted, 195 × 429, no extra rows', async () => {
    const { api, userId } = await enrolled();
    const before = { ops: await countRows('operations', 'user_id = ?1', userId), audit: await startedEntries(userId) };
    const responses = await Promise.all(Array.from({ length: 200 }, () => post(api, auth(userId))));
    const created = responses.filter((r) => r.status === 201);
    const refused = responses.filter((r) => r.status !== 201);
    expect(created).toHaveLength(5);
    expect(refused).toHaveLength(195);
    for (const res of refused) {
      const problem = await expectTooMany(res, 'TOO_MANY_LIVE_OPERATIONS', 300);
      expect(problem).toMatchObject({ policyField: 'maxLiveOperationsPerUser', limit: 5 });
    }
    // Refusals write nothing: neither a history row nor an audit entry, and no Durable Object state either.
    expect(await countRows('operations', 'user_id = ?1', userId)).toBe(before.ops + 5);
    expect(await liveRows(userId)).toBe(5);
    expect(await startedEntries(userId)).toBe(before.audit + 5);
    await expectTooMany(await post(api, auth(userId)), 'TOO_MANY_LIVE_OPERATIONS', 300);
  });

  it('limits: Retry-After is the time until the earliest live operation expires', async () => {
    const { api, userId } = await enrolled({ maxLiveOperationsPerUser: 2 });
    await startOperation(api, auth(userId, { ttlSeconds: 40 }));
    await startOperation(api, auth(userId, { ttlSeconds: 200 }));
    const problem = await expectTooMany(await post(api, auth(userId)), 'TOO_MANY_LIVE_OPERATIONS', 40);
    expect(problem.retryAfterSeconds).toBeGreaterThanOrEqual(38);
    expect(problem.limit).toBe(2);
  });

  it('limits: the cap frees when an operation is cancelled, completes or expires', async () => {
    const { api, userId, authenticator } = await enrolled({ maxLiveOperationsPerUser: 2, maxStartsPerUserPerMinute: 50 });
    const a = await startOperation(api, auth(userId));
    const shortLived = await startOperation(api, auth(userId, { ttlSeconds: 1 }));
    await expectTooMany(await post(api, auth(userId)), 'TOO_MANY_LIVE_OPERATIONS', 300);

    // Cancelled.
    expect((await api(`/v1/operations/${a.id}/cancel`, { method: 'POST', json: {} })).status).toBe(200);
    const c = await startOperation(api, auth(userId));
    await expectTooMany(await post(api, auth(userId)), 'TOO_MANY_LIVE_OPERATIONS', 300);

    // Completed.
    const { publicKey } = await sdkStart(c);
    const credential: AuthenticationResponseJSON = await authenticator.assert(publicKey as never);
    expect((await sdkFetch(c, 'finish', { credential })).status).toBe(200);
    expect((await getOperation(api, c.id)).status).toBe('COMPLETED');
    await startOperation(api, auth(userId));
    await expectTooMany(await post(api, auth(userId)), 'TOO_MANY_LIVE_OPERATIONS', 300);

    // Expired: counted out by its expiresAt even before the shard's alarm has written EXPIRED.
    await new Promise((resolve) => setTimeout(resolve, Date.parse(shortLived.expiresAt as string) - Date.now() + 50));
    expect((await post(api, auth(userId))).status).toBe(201);
  });

  it('limits: another user of the same tenant is not affected by one user at the cap', async () => {
    const { api, userId } = await enrolled({ maxLiveOperationsPerUser: 1 });
    await startOperation(api, auth(userId));
    await expectTooMany(await post(api, auth(userId)), 'TOO_MANY_LIVE_OPERATIONS', 300);
    const other = (await (await post(api, { type: 'REGISTRATION', userId: (await (await api('/v1/users', { method: 'POST', json: {} })).json<{ id: string }>()).id })).json()) as { status: string };
    expect(other.status).toBe('PENDING');
  });
});

describe('live operations per device', () => {
  it('limits: a 4th live operation naming one device → 429 maxLiveOperationsPerDevice (3), nothing written; a broadcast still starts', async () => {
    const { api, userId, deviceId } = await enrolled();
    for (let i = 0; i < 3; i++) await startOperation(api, auth(userId, { deviceId }));
    const before = { ops: await countRows('operations', 'user_id = ?1', userId), audit: await startedEntries(userId) };
    const problem = await expectTooMany(await post(api, auth(userId, { deviceId })), 'TOO_MANY_LIVE_OPERATIONS', 300);
    expect(problem).toMatchObject({ policyField: 'maxLiveOperationsPerDevice', limit: 3 });
    expect(await countRows('operations', 'user_id = ?1', userId)).toBe(before.ops);
    expect(await startedEntries(userId)).toBe(before.audit);
    // The per-user cap (5) still has room for an operation that names no device.
    expect((await post(api, auth(userId))).status).toBe(201);
  });

  it('limits: 50 concurrent starts naming one device → exactly maxLiveOperationsPerDevice accepted', async () => {
    const { api, userId, deviceId } = await enrolled({ maxLiveOperationsPerDevice: 2, maxLiveOperationsPerUser: 10 });
    const responses = await Promise.all(Array.from({ length: 50 }, () => post(api, auth(userId, { deviceId }))));
    expect(responses.filter((r) => r.status === 201)).toHaveLength(2);
    for (const res of responses.filter((r) => r.status !== 201)) {
      expect((await expectTooMany(res, 'TOO_MANY_LIVE_OPERATIONS', 300)).policyField).toBe('maxLiveOperationsPerDevice');
    }
    expect(await countRows('operations', "user_id = ?1 AND device_id = ?2 AND status = 'PENDING'", userId, deviceId)).toBe(2);
  });
});

describe('starts per user per minute', () => {
  it('limits: the 11th start within a minute → 429 RATE_LIMITED (default 10), even when each earlier one was cancelled', async () => {
    // The REGISTRATION that enrolled the device was the first start of this minute.
    const { api, userId } = await enrolled();
    for (let i = 0; i < 9; i++) {
      const op = await startOperation(api, auth(userId));
      expect((await api(`/v1/operations/${op.id}/cancel`, { method: 'POST', json: {} })).status).toBe(200);
    }
    const before = await countRows('operations', 'user_id = ?1', userId);
    const problem = await expectTooMany(await post(api, auth(userId)), 'RATE_LIMITED', 60);
    expect(problem).toMatchObject({ policyField: 'maxStartsPerUserPerMinute', limit: 10 });
    expect(await countRows('operations', 'user_id = ?1', userId)).toBe(before);
  });

  it('limits: 40 concurrent starts with maxStartsPerUserPerMinute 4 → 3 more accepted after the registration, the rest 429', async () => {
    const { api, userId } = await enrolled({ maxStartsPerUserPerMinute: 4, maxLiveOperationsPerUser: 50, maxLiveOperationsPerDevice: 50 });
    const responses = await Promise.all(Array.from({ length: 40 }, () => post(api, auth(userId))));
    expect(responses.filter((r) => r.status === 201)).toHaveLength(3);
    for (const res of responses.filter((r) => r.status !== 201)) await expectTooMany(res, 'RATE_LIMITED', 60);
    expect(await countRows('operations', 'user_id = ?1', userId)).toBe(4);
  });

  it('limits: starts older than the window no longer count', async () => {
    const { api, userId } = await enrolled({ maxStartsPerUserPerMinute: 1 });
    await expectTooMany(await post(api, auth(userId)), 'RATE_LIMITED', 60);
    // Age the registration's history row past the window: its id carries its creation time, so rewrite both.
    const old = new Date(Date.now() - 61_000);
    const row = await env.DB.prepare('SELECT id FROM operations WHERE user_id = ?1').bind(userId).first<{ id: string }>();
    const { newId } = await import('../../src/domain/ids');
    await env.DB.prepare('UPDATE operations SET id = ?2, created_at = ?3 WHERE id = ?1').bind(row!.id, newId('op', old.getTime()), old.toISOString()).run();
    expect((await post(api, auth(userId))).status).toBe(201);
  });
});

describe('policy fields of the limits', () => {
  it('limits: defaults are filled in and shown; bounds are enforced at create and patch (400, nothing written)', async () => {
    const tenant = await createTenant();
    expect(tenant.policy).toMatchObject({ maxLiveOperationsPerUser: 5, maxLiveOperationsPerDevice: 3, maxStartsPerUserPerMinute: 10 });
    const tenantsBefore = await countRows('tenants');
    for (const [field, value] of [
      ['maxLiveOperationsPerUser', 0], ['maxLiveOperationsPerUser', 51], ['maxLiveOperationsPerDevice', 0], ['maxLiveOperationsPerDevice', 51],
      ['maxStartsPerUserPerMinute', 0], ['maxStartsPerUserPerMinute', 601], ['maxStartsPerUserPerMinute', 2.5], ['maxLiveOperationsPerUser', '5'],
    ] as const) {
      const created = await adminFetch('/admin/v1/tenants', { method: 'POST', json: { name: 'T', rpId: 'localhost', origins: ['http://localhost:8787'], policy: { [field]: value } } });
      const problem = await expectProblem(created, 400, 'VALIDATION_FAILED');
      expect(problem.invalidParams?.map((p) => p.name)).toContain(`policy.${field}`);
      const patched = await adminFetch(`/admin/v1/tenants/${tenant.id}`, { method: 'PATCH', json: { policy: { [field]: value } } });
      await expectProblem(patched, 400, 'VALIDATION_FAILED');
    }
    expect(await countRows('tenants')).toBe(tenantsBefore);
    const stored = await env.DB.prepare('SELECT policy FROM tenants WHERE id = ?1').bind(tenant.id).first<{ policy: string }>();
    expect(JSON.parse(stored!.policy)).toMatchObject({ maxLiveOperationsPerUser: 5, maxLiveOperationsPerDevice: 3, maxStartsPerUserPerMinute: 10 });
  });

  it('limits: a patched limit applies to the next start; a tenant stored before 0007 (no fields) gets the defaults', async () => {
    const { api, tenantId, userId } = await enrolled();
    const patched = await adminFetch(`/admin/v1/tenants/${tenantId}`, { method: 'PATCH', json: { policy: { maxLiveOperationsPerUser: 1 } } });
    expect(patched.status).toBe(200);
    expect((await patched.json<{ policy: Record<string, unknown> }>()).policy).toMatchObject({ maxLiveOperationsPerUser: 1, maxLiveOperationsPerDevice: 3 });
    await startOperation(api, auth(userId));
    expect((await expectTooMany(await post(api, auth(userId)), 'TOO_MANY_LIVE_OPERATIONS', 300)).limit).toBe(1);

    // An old row holds only the four original fields: the defaults (5 live per user) apply.
    await env.DB.prepare('UPDATE tenants SET policy = ?2 WHERE id = ?1')
      .bind(tenantId, JSON.stringify({ maxFailedAttempts: 5, operationTtlSeconds: 300, deviceBoundOnly: false, requireScaForNewDevice: false })).run();
    expect((await post(api, auth(userId))).status).toBe(201);
    const got = await adminFetch(`/admin/v1/tenants/${tenantId}`);
    expect((await got.json<{ policy: Record<string, unknown> }>()).policy).toMatchObject({ maxLiveOperationsPerUser: 5 });
  });
});

describe('the count is cheap', () => {
  it('limits: the live count uses the partial index operations_live, the recent-start count the id index', async () => {
    const plan = await env.DB.prepare(
      `EXPLAIN QUERY PLAN SELECT COUNT(*) FROM operations WHERE tenant_id = ?1 AND user_id = ?2 AND status IN ('PENDING', 'IN_PROGRESS') AND expires_at > ?4 AND device_id = ?3`,
    ).bind('t', 'u', 'd', 'x').all<{ detail: string }>();
    expect(plan.results.map((r) => r.detail).join('\n')).toMatch(/USING INDEX operations_live \(tenant_id=\? AND user_id=\? AND expires_at>\?\)/);
    const recent = await env.DB.prepare('EXPLAIN QUERY PLAN SELECT COUNT(*) FROM operations WHERE tenant_id = ?1 AND user_id = ?2 AND id >= ?3')
      .bind('t', 'u', 'op_').all<{ detail: string }>();
    expect(recent.results.map((r) => r.detail).join('\n')).toMatch(/INDEX operations_user/);
  });
});

describe('the guard in the write batch', () => {
  it('limits: a batch whose read was stale is rolled back whole by the guard, naming the limit it hit', async () => {
    const { api, tenantId, userId } = await enrolled({ maxLiveOperationsPerUser: 1 });
    await startOperation(api, auth(userId));
    const { startLimitGuardStatements, limitHitBy } = await import('../../src/storage/operation-limits');
    const { DEFAULT_POLICY } = await import('../../src/domain/policy');
    const scope = { tenantId, userId, deviceId: null, now: new Date() };
    const before = await countRows('operations', 'user_id = ?1', userId);
    // What a start that read "0 live" before the first one committed would send.
    const error = await env.DB.batch([
      ...startLimitGuardStatements(env.DB, scope, { ...DEFAULT_POLICY, maxLiveOperationsPerUser: 1 }),
      env.DB.prepare("INSERT INTO operations (id, tenant_id, user_id, type, status, created_at, expires_at) VALUES ('op_x', ?1, ?2, 'AUTHENTICATION', 'PENDING', ?3, ?3)")
        .bind(tenantId, userId, new Date(Date.now() + 60_000).toISOString()),
    ]).then(() => null, (e: unknown) => e);
    expect(limitHitBy(error)).toBe('maxLiveOperationsPerUser');
    expect(await countRows('operations', 'user_id = ?1', userId)).toBe(before);
  });
});
