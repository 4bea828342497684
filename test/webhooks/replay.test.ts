// POST /v1/webhooks/deliveries/{deliveryId}/replay and the response time of each attempt, against the recording receiver.
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { maintenanceStub, SWEEP_GRACE_MS } from '../../src/durable-objects/maintenance';
import type { MaintenanceDO, SweepReport } from '../../src/durable-objects/maintenance';
import { verifyWebhook } from '../../packages/node/src/webhooks';
import type { Api } from '../helpers/api';
import { adminFetch, apiWith, countRows, createClient, expectProblem, getToken, setupTenant } from '../helpers/api';
import type { DeliveryJson } from './harness';
import { configureWebhook, deliveriesOf, Receiver, runRetryNow, waitForDeliveries } from './harness';

interface TestResult { eventId: string; delivery: DeliveryJson & { responseTimeMs?: number } }

async function sendTest(api: Api): Promise<TestResult> {
  const res = await api('/v1/webhooks/test', { method: 'POST' });
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json<TestResult>();
}

function replay(api: Api, deliveryId: string, headers: Record<string, string> = {}): Promise<Response> {
  return api(`/v1/webhooks/deliveries/${deliveryId}/replay`, { method: 'POST', headers });
}

/** What a refused replay must leave untouched: attempts, replay marks and the audit chain. */
async function written(): Promise<number[]> {
  return [await countRows('webhook_deliveries'), await countRows('events', 'replay_requested_at IS NOT NULL'), await countRows('audit_events')];
}

async function sweepAt(now: number): Promise<SweepReport> {
  return runInDurableObject(maintenanceStub(env), (instance) => (instance as unknown as MaintenanceDO).sweep(now));
}

async function replayMark(eventId: string): Promise<string | null> {
  const row = await env.DB.prepare('SELECT replay_requested_at AS mark FROM events WHERE id = ?1').bind(eventId).first<{ mark: string | null }>();
  return row!.mark;
}

describe('webhook response time', () => {
  it('each attempt records the time from sending to the response headers; an attempt that sent nothing has none', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    await receiver.script([{ status: 500, delayMs: 300 }]);
    const { eventId, delivery } = await sendTest(api);
    expect(delivery).toMatchObject({ attempt: 1, outcome: 'FAILED', responseStatus: 500 });
    expect(delivery.responseTimeMs).toBeGreaterThanOrEqual(300);
    expect(delivery.responseTimeMs).toBeLessThan(10_000);
    const [listed] = await deliveriesOf(api, eventId);
    expect((listed as { responseTimeMs?: number }).responseTimeMs).toBe(delivery.responseTimeMs);

    // The endpoint removed before the retry: that attempt ends the delivery without sending, so it has no time.
    expect((await adminFetch(`/admin/v1/tenants/${tenant.id}/webhook`, { method: 'DELETE' })).status).toBe(204);
    expect(await runRetryNow(eventId)).toBe(true);
    const [, closing] = await waitForDeliveries(api, eventId, 2);
    expect(closing).toMatchObject({ attempt: 2, outcome: 'FAILED', error: 'ENDPOINT_REMOVED' });
    expect(closing).not.toHaveProperty('responseTimeMs');
    expect(await receiver.requests()).toHaveLength(1);
  });
});

describe('POST /v1/webhooks/deliveries/{deliveryId}/replay', () => {
  it('sends the event again with the same webhook-id, the same bytes and a fresh valid signature, as a new recorded attempt', async () => {
    const { tenant, client, api } = await setupTenant();
    const receiver = Receiver.create();
    const secret = await configureWebhook(tenant.id, receiver.url());
    const { eventId, delivery } = await sendTest(api);
    expect(delivery.outcome).toBe('SUCCEEDED');
    await receiver.script([{ status: 204, delayMs: 200 }]);

    const res = await replay(api, delivery.id);
    expect(res.status, await res.clone().text()).toBe(202);
    const body = await res.json<{ eventId: string; queuedAt: string }>();
    expect(body.eventId).toBe(eventId);
    expect(Date.parse(body.queuedAt)).toBeGreaterThan(Date.now() - 60_000);

    const [first, again] = await receiver.waitForRequests(2);
    expect(again!.headers.get('webhook-id')).toBe(eventId);
    expect(again!.body).toBe(first!.body);
    expect(Number(again!.headers.get('webhook-timestamp'))).toBeGreaterThanOrEqual(Number(first!.headers.get('webhook-timestamp')));
    expect(await verifyWebhook(secret, again!.headers, again!.bytes)).toMatchObject({ id: eventId, type: 'webhook.test' });

    const attempts = await waitForDeliveries(api, eventId, 2);
    expect(attempts.map((d) => [d.attempt, d.outcome, d.responseStatus])).toEqual([[1, 'SUCCEEDED', 200], [2, 'SUCCEEDED', 204]]);
    expect((attempts[1] as { responseTimeMs?: number }).responseTimeMs).toBeGreaterThanOrEqual(200);
    expect(await replayMark(eventId)).toBeNull();

    const audit = await env.DB.prepare("SELECT actor, target_type, target_id, data FROM audit_events WHERE tenant_id = ?1 AND action = 'webhook.replayed'")
      .bind(tenant.id).all<{ actor: string; target_type: string; target_id: string; data: string }>();
    expect(audit.results).toHaveLength(1);
    expect(audit.results[0]).toMatchObject({ actor: `client:${client.clientId}`, target_type: 'webhook_delivery', target_id: delivery.id });
    expect(JSON.parse(audit.results[0]!.data)).toEqual({ eventId, eventType: 'webhook.test' });
  });

  it('a delivery still retrying is brought forward: the replay is its next attempt, not a second schedule', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    await receiver.script([{ status: 503 }]);
    const { eventId, delivery } = await sendTest(api);
    expect(delivery.nextAttemptAt).toBeDefined();
    expect((await replay(api, delivery.id)).status).toBe(202);
    const attempts = await waitForDeliveries(api, eventId, 2);
    expect(attempts.map((d) => [d.attempt, d.outcome])).toEqual([[1, 'FAILED'], [2, 'SUCCEEDED']]);
    expect(attempts[1]).not.toHaveProperty('nextAttemptAt');
    expect(await receiver.requests()).toHaveLength(2);
  });

  it('crash safety: a replay committed but never handed over is handed over by the outbox sweeper, once', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    const { eventId } = await sendTest(api);
    // What a process killed between the audited commit and the hand-over leaves: the mark alone.
    const markedAt = Date.now();
    await env.DB.prepare('UPDATE events SET replay_requested_at = ?2 WHERE id = ?1').bind(eventId, new Date(markedAt).toISOString()).run();

    // Younger than the grace: the request may still be handing it over itself.
    expect((await sweepAt(markedAt + 1000)).replays).toBe(0);
    expect((await sweepAt(markedAt + SWEEP_GRACE_MS + 1000)).replays).toBe(1);
    const [, again] = await receiver.waitForRequests(2);
    expect(again!.headers.get('webhook-id')).toBe(eventId);
    expect((await waitForDeliveries(api, eventId, 2))[1]).toMatchObject({ attempt: 2, outcome: 'SUCCEEDED' });
    // Cleared with the attempt's record: later sweeps leave it alone.
    expect(await replayMark(eventId)).toBeNull();
    expect((await sweepAt(markedAt + 2 * SWEEP_GRACE_MS)).replays).toBe(0);
    expect(await receiver.requests()).toHaveLength(2);
  });

  it('Idempotency-Key: a retried replay answers the first result and sends once', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    const { eventId, delivery } = await sendTest(api);
    const first = await replay(api, delivery.id, { 'idempotency-key': 'replay-1' });
    expect(first.status).toBe(202);
    const repeat = await replay(api, delivery.id, { 'idempotency-key': 'replay-1' });
    expect(repeat.status).toBe(202);
    expect(repeat.headers.get('idempotent-replayed')).toBe('true');
    expect(await repeat.json()).toEqual(await first.json());
    await waitForDeliveries(api, eventId, 2);
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'webhook.replayed'", tenant.id)).toBe(1);
    expect(await receiver.requests()).toHaveLength(2);
  });

  it('an unknown id, a malformed one, and another tenant\'s delivery are WEBHOOK_DELIVERY_NOT_FOUND and write nothing', async () => {
    const a = await setupTenant();
    const b = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(a.tenant.id, receiver.url());
    await configureWebhook(b.tenant.id, Receiver.create().url());
    const { delivery } = await sendTest(a.api);
    const before = await written();
    await expectProblem(await replay(a.api, 'whd_00000000000000000000000000000000000'), 404, 'WEBHOOK_DELIVERY_NOT_FOUND');
    await expectProblem(await replay(a.api, 'not-a-delivery'), 404, 'WEBHOOK_DELIVERY_NOT_FOUND');
    await expectProblem(await replay(a.api, `evt_${delivery.id.slice(4)}`), 404, 'WEBHOOK_DELIVERY_NOT_FOUND');
    await expectProblem(await replay(b.api, delivery.id), 404, 'WEBHOOK_DELIVERY_NOT_FOUND');
    expect(await written()).toEqual(before);
    expect(await receiver.requests()).toHaveLength(1);
  });

  it('no endpoint is 409 WEBHOOK_ENDPOINT_MISSING, a disabled one 409 WEBHOOK_DISABLED; both write nothing', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    await receiver.script([{ status: 410 }]);
    const { delivery } = await sendTest(api);
    expect(delivery).toMatchObject({ error: 'ENDPOINT_GONE' });
    let before = await written();
    await expectProblem(await replay(api, delivery.id), 409, 'WEBHOOK_DISABLED');
    expect(await written()).toEqual(before);

    expect((await adminFetch(`/admin/v1/tenants/${tenant.id}/webhook`, { method: 'DELETE' })).status).toBe(204);
    before = await written();
    await expectProblem(await replay(api, delivery.id), 409, 'WEBHOOK_ENDPOINT_MISSING');
    expect(await written()).toEqual(before);
    expect(await receiver.requests()).toHaveLength(1);
  });

  it('needs the operations scope (403 INSUFFICIENT_SCOPE) and a token (401), writing nothing', async () => {
    const { tenant, api } = await setupTenant();
    await configureWebhook(tenant.id, Receiver.create().url());
    const { delivery } = await sendTest(api);
    const usersOnly = apiWith(await getToken(await createClient(tenant.id, { scopes: ['users'] })));
    const before = await written();
    await expectProblem(await replay(usersOnly, delivery.id), 403, 'INSUFFICIENT_SCOPE');
    await expectProblem(await replay(apiWith('not-a-token'), delivery.id), 401, 'UNAUTHENTICATED');
    expect(await written()).toEqual(before);
  });
});
