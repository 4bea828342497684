// The transactional outbox's sweeper, the lock-cascade repair and the retention job of MaintenanceDO.
import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { rewriteStoredOperation, shardOfOperation } from '../helpers/operation-shard';
import { describe, expect, it } from 'vitest';
import { maintenanceStub, SWEEP_GRACE_MS } from '../../src/durable-objects/maintenance';
import type { MaintenanceDO, SweepReport } from '../../src/durable-objects/maintenance';
import { prepareEvent } from '../../src/services/events';
import { countRows, setupTenant } from '../helpers/api';
import { createUser, getOperation, startOperation } from '../helpers/ceremony';
import { configureWebhook, eventsOf, Receiver, waitForDeliveries } from './harness';
import { verifyWebhook } from '../../packages/node/src/webhooks';

async function sweepAt(now: number): Promise<SweepReport> {
  return runInDurableObject(maintenanceStub(env), (instance) => (instance as unknown as MaintenanceDO).sweep(now));
}

/** An event committed in D1 whose hand-over never happened: what a process killed right after the commit leaves. */
async function strandedEvent(tenantId: string, data: Record<string, unknown>): Promise<{ id: string; createdAt: number }> {
  const now = new Date();
  const prepared = prepareEvent(env.DB, tenantId, 'user.locked', data, now);
  const written = await prepared.statement.run();
  expect(written.meta.changes).toBe(1);
  return { id: prepared.event.id, createdAt: now.getTime() };
}

describe('outbox sweeper (at-least-once across crashes)', () => {
  it('delivers an event that was recorded but never handed over, once, signed, with its own webhook-id', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    const secret = await configureWebhook(tenant.id, receiver.url());
    const event = await strandedEvent(tenant.id, { userId: 'usr_stranded', status: 'LOCKED' });

    // Younger than the grace period: the request that recorded it may still hand it over itself.
    expect((await sweepAt(event.createdAt + 1000)).handedOver).toBe(0);
    const report = await sweepAt(event.createdAt + SWEEP_GRACE_MS + 1000);
    expect(report.handedOver).toBe(1);

    const [request] = await receiver.waitForRequests(1);
    expect(request!.headers.get('webhook-id')).toBe(event.id);
    const verified = await verifyWebhook(secret, request!.headers, request!.bytes);
    expect(verified).toMatchObject({ id: event.id, type: 'user.locked', data: { userId: 'usr_stranded' } });
    await waitForDeliveries(api, event.id, 1);

    // It has a delivery attempt now: the next sweep leaves it alone (no duplicate).
    expect((await sweepAt(event.createdAt + 2 * SWEEP_GRACE_MS)).handedOver).toBe(0);
    expect(await receiver.requests()).toHaveLength(1);
  });

  it('a lifecycle change records its event in the same batch: a user lock leaves exactly one user.locked row', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    const user = await createUser(api);
    expect((await api(`/v1/users/${user.id}/lock`, { method: 'POST', json: { reason: 'fraud check' } })).status).toBe(200);
    const events = (await eventsOf(tenant.id)).filter((e) => e.type === 'user.locked');
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.payload).data).toMatchObject({ userId: user.id, status: 'LOCKED' });
    await receiver.waitForRequests(1);
  });

  it('the object keeps itself armed: poke sets an alarm, the alarm sets the next one', async () => {
    const stub = maintenanceStub(env);
    await stub.poke();
    const armed = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(armed).not.toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const next = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(next).toBeGreaterThan(Date.now());
  });
});

describe('lock-cascade repair', () => {
  it('a live operation of a user locked without its cascade (a crash mid-way) is cancelled by the next sweep', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    // The lock committed; the process died before cancelling the user's live operations.
    await env.DB.prepare("UPDATE users SET status = 'LOCKED', lock_reason = 'x' WHERE id = ?1").bind(user.id).run();
    expect((await getOperation(api, op.id)).status).toBe('PENDING');
    expect((await sweepAt(Date.now())).cascades).toBeGreaterThanOrEqual(1);
    const after = await getOperation(api, op.id);
    expect(after.status).toBe('CANCELLED');
    expect(after.failure).toEqual({ code: 'USER_LOCKED' });
  });
});

describe('orphaned history rows (a crash between the start\'s commit and the shard\'s begin)', () => {
  it('a live row no shard knows, well past its expiry, ends EXPIRED with its audit entry and event; a final one is left alone', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    const user = await createUser(api);
    const long = new Date(Date.now() - 3600_000).toISOString();
    const id = 'op_06h4w00000000000000000000000000000000000';
    await env.DB.batch([
      env.DB.prepare("INSERT INTO operations (id, tenant_id, user_id, type, status, created_at, expires_at) VALUES (?1, ?2, ?3, 'AUTHENTICATION', 'PENDING', ?4, ?4)").bind(id, tenant.id, user.id, long),
      env.DB.prepare("INSERT INTO operations (id, tenant_id, user_id, type, status, created_at, expires_at, completed_at) VALUES (?1, ?2, ?3, 'AUTHENTICATION', 'COMPLETED', ?4, ?4, ?4)").bind(`${id.slice(0, -1)}1`, tenant.id, user.id, long),
    ]);
    const report = await sweepAt(Date.now());
    expect(report.orphans).toBe(1);
    const row = await env.DB.prepare('SELECT status, failure_code FROM operations WHERE id = ?1').bind(id).first();
    expect(row).toEqual({ status: 'EXPIRED', failure_code: 'EXPIRED' });
    expect(await env.DB.prepare('SELECT status FROM operations WHERE id = ?1').bind(`${id.slice(0, -1)}1`).first()).toEqual({ status: 'COMPLETED' });
    const audit = await env.DB.prepare("SELECT action FROM audit_events WHERE target_id = ?1").bind(id).all<{ action: string }>();
    expect(audit.results.map((r) => r.action)).toEqual(['operation.expired']);
    const [delivered] = await receiver.waitForRequests(1);
    expect(JSON.parse(delivered!.body)).toMatchObject({ type: 'operation.expired', data: { operationId: id, status: 'EXPIRED' } });
    // Settled once: the next sweep finds nothing, and the chain still verifies.
    expect((await sweepAt(Date.now())).orphans).toBe(0);
    expect((await (await api('/v1/audit-events/verify')).json<{ valid: boolean }>()).valid).toBe(true);
  });

  it('a row whose shard knows the operation is expired by that shard (its own path), not as an orphan', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    const past = new Date(Date.now() - 3600_000).toISOString();
    await env.DB.prepare('UPDATE operations SET expires_at = ?2 WHERE id = ?1').bind(op.id, past).run();
    await rewriteStoredOperation(op.id, (stored) => ({ ...stored, expiresAt: past }));
    await evictDurableObject(shardOfOperation(op.id));
    const report = await sweepAt(Date.now());
    expect(report.orphans).toBe(0);
    const after = await getOperation(api, op.id);
    expect(after.status).toBe('EXPIRED');
  });
});

describe('retention', () => {
  it('purges expired idempotency records, proof jtis and old deliveries in bounded batches; keeps fresh ones and the audit chain', async () => {
    const { tenant, api, client } = await setupTenant();
    const now = Date.now();
    const nowS = Math.floor(now / 1000);
    const old = new Date(now - 31 * 86_400_000).toISOString();
    await env.DB.batch([
      env.DB.prepare("INSERT INTO idempotency_keys (client_id, key, request_hash, state, created_at) VALUES (?1, 'old', 'h', 'DONE', ?2)").bind(client.clientId, nowS - 25 * 3600),
      env.DB.prepare("INSERT INTO idempotency_keys (client_id, key, request_hash, state, created_at) VALUES (?1, 'new', 'h', 'DONE', ?2)").bind(client.clientId, nowS),
      env.DB.prepare("INSERT INTO device_proof_jtis (jti, device_id, expires_at) VALUES ('old-jti', 'dev_x', ?1)").bind(nowS - 10),
      // CIBA: a request past its 60 s collection grace, one still inside it, and a used client-assertion jti that expired.
      env.DB.prepare("INSERT INTO ciba_requests (auth_req_hash, tenant_id, client_id, operation_id, scope, delivery_mode, poll_interval, expires_at, created_at) VALUES ('old-areq', ?1, ?2, 'op_x', 'openid', 'poll', 5, ?3, '2026-01-01T00:00:00Z')").bind(tenant.id, client.clientId, nowS - 120),
      env.DB.prepare("INSERT INTO ciba_requests (auth_req_hash, tenant_id, client_id, operation_id, scope, delivery_mode, poll_interval, expires_at, created_at) VALUES ('grace-areq', ?1, ?2, 'op_y', 'openid', 'poll', 5, ?3, '2026-01-01T00:00:00Z')").bind(tenant.id, client.clientId, nowS - 30),
      env.DB.prepare("INSERT INTO ciba_assertion_jtis (client_id, jti_hash, expires_at) VALUES (?1, 'old-jti', ?2)").bind(client.clientId, nowS - 10),
      env.DB.prepare("INSERT INTO events (id, tenant_id, type, payload, created_at) VALUES ('evt_old', ?1, 'user.locked', '{}', ?2)").bind(tenant.id, old),
      env.DB.prepare("INSERT INTO webhook_deliveries (id, event_id, tenant_id, event_type, webhook_id, attempt, at, outcome) VALUES ('whd_old', 'evt_old', ?1, 'user.locked', 'evt_old', 1, ?2, 'SUCCEEDED')").bind(tenant.id, old),
    ]);
    await runInDurableObject(maintenanceStub(env), async (_i, state) => state.storage.delete('retentionAt'));
    const report = await sweepAt(now);
    expect(report.purged).toMatchObject({ idempotency: 1, proofJtis: 1, deliveries: 1, events: 1, cibaRequests: 1, assertionJtis: 1 });
    expect(await countRows('ciba_requests', "auth_req_hash = 'grace-areq'")).toBe(1);
    expect(await countRows('idempotency_keys', "key = 'new'")).toBe(1);
    expect(await countRows('idempotency_keys', "key = 'old'")).toBe(0);
    expect(await countRows('events', "id = 'evt_old'")).toBe(0);
    // The live token still works, and the audit chain is intact (audit events are never purged).
    expect((await api('/v1/users')).status).toBe(200);
    const chain = await (await api('/v1/audit-events/verify')).json<{ valid: boolean }>();
    expect(chain.valid).toBe(true);
    // Hourly: a second sweep right after does not purge again.
    expect((await sweepAt(now + 1000)).purged).toBeNull();
  });
});
