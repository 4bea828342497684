// Webhook delivery against a real receiver: Standard Webhooks signatures over the exact bytes, retries on the alarm, 410, redirects, timeouts.
import { env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { fromBase64, utf8 } from '../../src/domain/encoding';
import { RETRY_BASE_MS } from '../../src/domain/webhook-url';
import type { Api, TenantJson } from '../helpers/api';
import { adminFetch, apiWith, countRows, getToken, setupTenant } from '../helpers/api';
import { verifyWebhook, WebhookVerificationError } from '../../packages/node/src/webhooks';
import type { ReceivedRequest } from './harness';
import {
  configureWebhook, deliveriesOf, deliveryStub, eventsOf, Receiver, runRetryNow, scheduledAlarm, waitForDeliveries,
} from './harness';

/** A state change that emits an event (user.locked); returns the user id. */
async function lockNewUser(api: Api): Promise<string> {
  const user = await (await api('/v1/users', { method: 'POST', json: {} })).json<{ id: string }>();
  const res = await api(`/v1/users/${user.id}/lock`, { method: 'POST', json: { reason: 'fraud check' } });
  expect(res.status).toBe(200);
  return user.id;
}

/** HMAC-SHA256 over `id.timestamp.` followed by the body bytes as received, without going through strings. */
async function signsExactBytes(secret: string, request: ReceivedRequest, signature: string): Promise<boolean> {
  const prefix = utf8(`${request.headers.get('webhook-id')}.${request.headers.get('webhook-timestamp')}.`);
  const signed = new Uint8Array(prefix.length + request.bytes.length);
  signed.set(prefix);
  signed.set(request.bytes, prefix.length);
  const key = await crypto.subtle.importKey('raw', fromBase64(secret.slice('whsec_'.length)), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  return crypto.subtle.verify('HMAC', key, fromBase64(signature.slice('v1,'.length)), signed);
}

const signaturesOf = (request: ReceivedRequest): string[] => (request.headers.get('webhook-signature') ?? '').split(' ');

async function tenantView(tenantId: string): Promise<TenantJson> {
  return (await adminFetch(`/admin/v1/tenants/${tenantId}`)).json<TenantJson>();
}

describe('webhook delivery', () => {
  it('Standard Webhooks: POST of { id, type, timestamp, tenantId, data }, signed over "id.timestamp.body" of the exact bytes received', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    const secret = await configureWebhook(tenant.id, receiver.url());
    const userId = await lockNewUser(api);

    const [request] = await receiver.waitForRequests(1);
    const events = await eventsOf(tenant.id);
    expect(events).toHaveLength(1);
    const event = events[0]!;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe(receiver.url());
    expect(request!.headers.get('content-type')).toBe('application/json');
    // API.md §3: webhook-id is the event's id; the body is byte for byte the payload recorded at emission.
    expect(request!.headers.get('webhook-id')).toBe(event.id);
    expect(request!.body).toBe(event.payload);
    expect(request!.headers.get('webhook-timestamp')).toMatch(/^\d{10}$/);
    const body = JSON.parse(request!.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['id', 'type', 'timestamp', 'tenantId', 'data']);
    expect(body).toMatchObject({ id: event.id, type: 'user.locked', tenantId: tenant.id, data: { userId, status: 'LOCKED', lockReason: 'fraud check' } });
    expect(new Date(body.timestamp as string).toISOString()).toBe(body.timestamp);

    const signatures = signaturesOf(request!);
    expect(signatures).toHaveLength(1);
    expect(signatures[0]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(await signsExactBytes(secret, request!, signatures[0]!)).toBe(true);
    // The relying party's verifier (@custos/web-sdk/webhooks) accepts the real delivery …
    expect(await verifyWebhook(secret, request!.headers, request!.body)).toEqual(body);
    // … and refuses it with one byte changed, or with another secret.
    await expect(verifyWebhook(secret, request!.headers, request!.body.replace('LOCKED', 'ACTIVE'))).rejects.toMatchObject({ reason: 'INVALID_SIGNATURE' });
    await expect(verifyWebhook('whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=', request!.headers, request!.body)).rejects.toBeInstanceOf(WebhookVerificationError);

    const [delivery] = await waitForDeliveries(api, event.id, 1);
    expect(delivery).toMatchObject({ eventId: event.id, eventType: 'user.locked', webhookId: event.id, attempt: 1, outcome: 'SUCCEEDED', responseStatus: 200 });
    expect(delivery).not.toHaveProperty('nextAttemptAt');
    // Done and recorded: the delivery object keeps nothing and has no alarm left.
    expect(await scheduledAlarm(event.id)).toBeNull();
  });

  it('API.md §3: a 500 then a 200 → exactly one retry with the same webhook-id, its own timestamp, every attempt logged', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    const secret = await configureWebhook(tenant.id, receiver.url());
    await receiver.script([{ status: 500 }]);
    await lockNewUser(api);

    const [first] = await receiver.waitForRequests(1);
    const eventId = first!.headers.get('webhook-id')!;
    const [failed] = await waitForDeliveries(api, eventId, 1);
    expect(failed).toMatchObject({ attempt: 1, outcome: 'FAILED', responseStatus: 500, error: 'HTTP_ERROR', webhookId: eventId });
    // The first retry comes within 10 s (backoff with jitter: between 5 and 10 s after the failure).
    const wait = Date.parse(failed!.nextAttemptAt!) - Date.parse(failed!.at);
    expect(wait).toBeGreaterThanOrEqual(RETRY_BASE_MS / 2);
    expect(wait).toBeLessThanOrEqual(RETRY_BASE_MS + 2_000);
    expect(await scheduledAlarm(eventId)).toBe(Date.parse(failed!.nextAttemptAt!));

    expect(await runRetryNow(eventId)).toBe(true);
    const requests = await receiver.waitForRequests(2);
    expect(requests).toHaveLength(2);
    const second = requests[1]!;
    expect(second.headers.get('webhook-id')).toBe(eventId);
    expect(second.body).toBe(first!.body);
    expect(Number(second.headers.get('webhook-timestamp'))).toBeGreaterThanOrEqual(Number(first!.headers.get('webhook-timestamp')));
    expect(await verifyWebhook(secret, second.headers, second.body)).toMatchObject({ id: eventId });

    const log = await waitForDeliveries(api, eventId, 2);
    expect(log.map((d) => [d.attempt, d.outcome, d.responseStatus])).toEqual([[1, 'FAILED', 500], [2, 'SUCCEEDED', 200]]);
    expect(log[1]).not.toHaveProperty('nextAttemptAt');
    // Nothing further: no alarm, and running one does nothing.
    expect(await runRetryNow(eventId)).toBe(false);
    expect(await receiver.requests()).toHaveLength(2);
  });

  it('API.md §3: 410 Gone disables the endpoint (tenant flag, audit entry), stops retrying, and no further events are sent; a PUT re-enables', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    await receiver.script([{ status: 410 }]);
    await lockNewUser(api);

    const [first] = await receiver.waitForRequests(1);
    const eventId = first!.headers.get('webhook-id')!;
    const [gone] = await waitForDeliveries(api, eventId, 1);
    expect(gone).toMatchObject({ attempt: 1, outcome: 'FAILED', responseStatus: 410, error: 'ENDPOINT_GONE' });
    expect(gone).not.toHaveProperty('nextAttemptAt');
    expect(await scheduledAlarm(eventId)).toBeNull();

    expect((await tenantView(tenant.id)).webhook).toEqual({ url: receiver.url(), disabled: true });
    const detail = await (await adminFetch(`/admin/v1/tenants/${tenant.id}/webhook`)).json<Record<string, unknown>>();
    expect(detail).toMatchObject({ disabled: true, disabledReason: 'ENDPOINT_GONE' });
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'webhook.disabled' AND actor = 'system'", tenant.id)).toBe(1);

    // Disabled: new state changes record no event and send nothing; the test call says why.
    await lockNewUser(api);
    expect(await eventsOf(tenant.id)).toHaveLength(1);
    const test = await api('/v1/webhooks/test', { method: 'POST' });
    expect(test.status).toBe(409);
    expect((await test.json<{ code: string }>()).code).toBe('WEBHOOK_DISABLED');
    expect(await receiver.requests()).toHaveLength(1);

    // Setting the URL again re-enables it.
    await configureWebhook(tenant.id, receiver.url());
    expect((await tenantView(tenant.id)).webhook).toEqual({ url: receiver.url() });
    await lockNewUser(api);
    await receiver.waitForRequests(2);
  });

  it.each([302, 307])('OWASP SSRF: a %i redirect is not followed: recorded FAILED, Location never fetched, retried later', async (status) => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    await receiver.script([{ status, headers: { location: receiver.url('/elsewhere') } }]);
    await lockNewUser(api);

    const [first] = await receiver.waitForRequests(1);
    const eventId = first!.headers.get('webhook-id')!;
    const [attempt] = await waitForDeliveries(api, eventId, 1);
    expect(attempt).toMatchObject({ outcome: 'FAILED', responseStatus: status, error: 'REDIRECT_NOT_FOLLOWED' });
    expect(attempt!.nextAttemptAt).toBeDefined();
    const requests = await receiver.requests();
    expect(requests.map((r) => r.url)).toEqual([receiver.url()]);

    // The retry goes to the configured URL again, not to the Location.
    expect(await runRetryNow(eventId)).toBe(true);
    const after = await receiver.waitForRequests(2);
    expect(after.map((r) => r.url)).toEqual([receiver.url(), receiver.url()]);
    expect((await waitForDeliveries(api, eventId, 2))[1]).toMatchObject({ outcome: 'SUCCEEDED' });
  });

  it('API.md §3: a receiver slower than the per-attempt timeout → FAILED TIMEOUT, retried with the same id; a lease alarm guards the attempt in flight', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    // WEBHOOK_TIMEOUT_MS is 2000 in the test configuration.
    await receiver.script([{ status: 200, delayMs: 6_000 }]);
    await lockNewUser(api);

    const [first] = await receiver.waitForRequests(1);
    const eventId = first!.headers.get('webhook-id')!;
    // While the attempt hangs, the object already holds the event and an alarm: were it evicted or the
    // process restarted now, that alarm would run the attempt again.
    const inFlight = await runInDurableObject(deliveryStub(eventId), async (_instance, state) => ({
      alarm: await state.storage.getAlarm(),
      stored: await state.storage.get<{ event: { id: string }; attempts: number }>('delivery'),
    }));
    expect(inFlight.alarm).not.toBeNull();
    expect(inFlight.stored).toMatchObject({ event: { id: eventId }, attempts: 0 });

    const [timedOut] = await waitForDeliveries(api, eventId, 1);
    expect(timedOut).toMatchObject({ attempt: 1, outcome: 'FAILED', error: 'TIMEOUT' });
    expect(timedOut).not.toHaveProperty('responseStatus');
    expect(timedOut!.nextAttemptAt).toBeDefined();

    expect(await runRetryNow(eventId)).toBe(true);
    const requests = await receiver.waitForRequests(2);
    expect(requests[1]!.headers.get('webhook-id')).toBe(eventId);
    expect((await waitForDeliveries(api, eventId, 2)).map((d) => d.outcome)).toEqual(['FAILED', 'SUCCEEDED']);
  });

  it('RFC 9110 §10.2.3: Retry-After (seconds) pushes the next attempt at least that far out', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    await receiver.script([{ status: 503, headers: { 'retry-after': '120' } }]);
    await lockNewUser(api);

    const [first] = await receiver.waitForRequests(1);
    const eventId = first!.headers.get('webhook-id')!;
    const [attempt] = await waitForDeliveries(api, eventId, 1);
    expect(attempt).toMatchObject({ outcome: 'FAILED', responseStatus: 503 });
    // The backoff alone would be at most 10 s.
    expect(Date.parse(attempt!.nextAttemptAt!) - Date.parse(attempt!.at)).toBeGreaterThanOrEqual(120_000);
    expect(await scheduledAlarm(eventId)).toBe(Date.parse(attempt!.nextAttemptAt!));
    expect(await runRetryNow(eventId)).toBe(true);
    await waitForDeliveries(api, eventId, 2);
  });

  it('API.md §3 durability: a failed delivery survives eviction of its object; the retry resumes from storage with attempt 2', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    await receiver.script([{ status: 502 }]);
    await lockNewUser(api);

    const [first] = await receiver.waitForRequests(1);
    const eventId = first!.headers.get('webhook-id')!;
    await waitForDeliveries(api, eventId, 1);
    await evictDurableObject(deliveryStub(eventId));

    expect(await runRetryNow(eventId)).toBe(true);
    const requests = await receiver.waitForRequests(2);
    expect(requests[1]!.headers.get('webhook-id')).toBe(eventId);
    expect(requests[1]!.body).toBe(first!.body);
    expect((await waitForDeliveries(api, eventId, 2)).map((d) => [d.attempt, d.outcome])).toEqual([[1, 'FAILED'], [2, 'SUCCEEDED']]);
  });

  it('API.md §3: retries stop once 24 h have passed since the first attempt; the last record has no nextAttemptAt', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    await receiver.script([{ status: 500 }, { status: 500 }]);
    await lockNewUser(api);

    const [first] = await receiver.waitForRequests(1);
    const eventId = first!.headers.get('webhook-id')!;
    await waitForDeliveries(api, eventId, 1);
    // Move the first attempt a day and a second into the past instead of waiting a day.
    await runInDurableObject(deliveryStub(eventId), async (_instance, state) => {
      const stored = await state.storage.get<{ firstAttemptAt: number }>('delivery');
      await state.storage.put('delivery', { ...stored, firstAttemptAt: Date.now() - 24 * 3600 * 1000 - 1000 });
    });
    expect(await runRetryNow(eventId)).toBe(true);
    const log = await waitForDeliveries(api, eventId, 2);
    expect(log[1]).toMatchObject({ attempt: 2, outcome: 'FAILED', responseStatus: 500 });
    expect(log[1]).not.toHaveProperty('nextAttemptAt');
    expect(await scheduledAlarm(eventId)).toBeNull();
    expect(await runRetryNow(eventId)).toBe(false);
    expect(await receiver.requests()).toHaveLength(2);
  });

  it('API.md §3 rotation: both secrets sign while the old one lasts, each signature verifies alone; after it expires only the new one', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    const oldSecret = await configureWebhook(tenant.id, receiver.url());
    const rotate = await adminFetch(`/admin/v1/tenants/${tenant.id}/webhook/rotate-secret`, { method: 'POST' });
    expect(rotate.status).toBe(200);
    const newSecret = (await rotate.json<{ secret: string }>()).secret;

    await lockNewUser(api);
    const [request] = await receiver.waitForRequests(1);
    const signatures = signaturesOf(request!);
    expect(signatures).toHaveLength(2);
    expect(await signsExactBytes(newSecret, request!, signatures[0]!)).toBe(true);
    expect(await signsExactBytes(oldSecret, request!, signatures[1]!)).toBe(true);
    expect(await signsExactBytes(oldSecret, request!, signatures[0]!)).toBe(false);
    // A receiver holding either secret (or both) accepts the delivery.
    expect(await verifyWebhook(oldSecret, request!.headers, request!.body)).toMatchObject({ type: 'user.locked' });
    expect(await verifyWebhook(newSecret, request!.headers, request!.body)).toMatchObject({ type: 'user.locked' });
    expect(await verifyWebhook([oldSecret, newSecret], request!.headers, request!.body)).toMatchObject({ type: 'user.locked' });

    // Once the rotation window has passed, the old secret no longer signs.
    await env.DB.prepare('UPDATE webhook_endpoints SET previous_secret_expires_at = ?2 WHERE tenant_id = ?1').bind(tenant.id, new Date(Date.now() - 1000).toISOString()).run();
    await lockNewUser(api);
    const later = (await receiver.waitForRequests(2))[1]!;
    expect(signaturesOf(later)).toHaveLength(1);
    expect(await verifyWebhook(newSecret, later.headers, later.body)).toMatchObject({ type: 'user.locked' });
    await expect(verifyWebhook(oldSecret, later.headers, later.body)).rejects.toMatchObject({ reason: 'INVALID_SIGNATURE' });
  });

  it('API.md §3: each attempt re-reads the endpoint: a retry goes to a URL changed meanwhile; a removed endpoint ends the delivery without sending', async () => {
    const { tenant, api } = await setupTenant();
    const first = Receiver.create();
    const second = Receiver.create();
    await configureWebhook(tenant.id, first.url());
    await first.script([{ status: 500 }]);
    await lockNewUser(api);
    const eventId = (await first.waitForRequests(1))[0]!.headers.get('webhook-id')!;
    await waitForDeliveries(api, eventId, 1);

    const newSecret = await configureWebhook(tenant.id, second.url());
    expect(await runRetryNow(eventId)).toBe(true);
    const [moved] = await second.waitForRequests(1);
    expect(moved!.headers.get('webhook-id')).toBe(eventId);
    expect(await verifyWebhook(newSecret, moved!.headers, moved!.body)).toMatchObject({ id: eventId });

    await second.script([{ status: 500 }]);
    await lockNewUser(api);
    const otherId = (await second.waitForRequests(2))[1]!.headers.get('webhook-id')!;
    await waitForDeliveries(api, otherId, 1);
    expect((await adminFetch(`/admin/v1/tenants/${tenant.id}/webhook`, { method: 'DELETE' })).status).toBe(204);
    expect(await runRetryNow(otherId)).toBe(true);
    const log = await waitForDeliveries(api, otherId, 2);
    expect(log[1]).toMatchObject({ attempt: 2, outcome: 'FAILED', error: 'ENDPOINT_REMOVED' });
    expect(log[1]).not.toHaveProperty('responseStatus');
    expect(log[1]).not.toHaveProperty('nextAttemptAt');
    expect(await second.requests()).toHaveLength(2);
    expect(await scheduledAlarm(otherId)).toBeNull();
  });

  it('OWASP SSRF at delivery: an endpoint stored before a name was refused (here lvh.me, which resolves to loopback) ends with URL_REFUSED and sends nothing', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    await receiver.script([{ status: 500 }]);
    await lockNewUser(api);
    const eventId = (await receiver.waitForRequests(1))[0]!.headers.get('webhook-id')!;
    await waitForDeliveries(api, eventId, 1);
    // As if saved under older rules: the admin API would refuse it (config.test.ts), so it goes into D1 directly.
    await env.DB.prepare('UPDATE webhook_endpoints SET url = ?2 WHERE tenant_id = ?1').bind(tenant.id, 'https://hooks.lvh.me/custos').run();
    expect(await runRetryNow(eventId)).toBe(true);
    const log = await waitForDeliveries(api, eventId, 2);
    expect(log[1]).toMatchObject({ attempt: 2, outcome: 'FAILED', error: 'URL_REFUSED' });
    expect(log[1]).not.toHaveProperty('responseStatus');
    expect(log[1]).not.toHaveProperty('nextAttemptAt');
    expect(await receiver.requests()).toHaveLength(1);
    expect(await scheduledAlarm(eventId)).toBeNull();
  });

  it('secrets at rest: a sealed secret opens only on its own tenant; copied to another tenant, attempts fail with SECRET_UNAVAILABLE and send nothing', async () => {
    const a = await setupTenant();
    const b = await setupTenant();
    const receiverA = Receiver.create();
    const receiverB = Receiver.create();
    await configureWebhook(a.tenant.id, receiverA.url());
    await configureWebhook(b.tenant.id, receiverB.url());
    await env.DB.prepare('UPDATE webhook_endpoints SET secret = (SELECT secret FROM webhook_endpoints WHERE tenant_id = ?1) WHERE tenant_id = ?2').bind(a.tenant.id, b.tenant.id).run();

    const test = await b.api('/v1/webhooks/test', { method: 'POST' });
    expect(test.status).toBe(200);
    const { delivery } = await test.json<{ delivery: { outcome: string; error: string; nextAttemptAt?: string } }>();
    expect(delivery).toMatchObject({ outcome: 'FAILED', error: 'SECRET_UNAVAILABLE' });
    expect(delivery.nextAttemptAt).toBeDefined();
    expect(await receiverB.requests()).toEqual([]);
    // Clean up: with the endpoint removed, the pending retry closes the delivery.
    const eventId = (await eventsOf(b.tenant.id))[0]!.id;
    expect((await adminFetch(`/admin/v1/tenants/${b.tenant.id}/webhook`, { method: 'DELETE' })).status).toBe(204);
    expect(await runRetryNow(eventId)).toBe(true);
    expect((await waitForDeliveries(b.api, eventId, 2))[1]).toMatchObject({ error: 'ENDPOINT_REMOVED' });
  });
});

describe('POST /v1/webhooks/test', () => {
  it('API.md §3: sends a webhook.test event now and reports the attempt', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    const secret = await configureWebhook(tenant.id, receiver.url());
    const res = await api('/v1/webhooks/test', { method: 'POST' });
    expect(res.status, await res.clone().text()).toBe(200);
    const body = await res.json<{ eventId: string; delivery: Record<string, unknown> }>();
    expect(body.eventId).toMatch(/^evt_[0-9a-z]{36}$/);
    expect(body.delivery).toMatchObject({ eventId: body.eventId, eventType: 'webhook.test', webhookId: body.eventId, attempt: 1, outcome: 'SUCCEEDED', responseStatus: 200 });

    const [request] = await receiver.requests();
    const event = await verifyWebhook(secret, request!.headers, request!.body);
    expect(event).toMatchObject({ id: body.eventId, type: 'webhook.test', tenantId: tenant.id });
    expect(await deliveriesOf(api, body.eventId)).toEqual([body.delivery]);
  });

  it('API.md §3 (only 2xx is success): a failing receiver makes the report say FAILED with the status and when the retry is due; the retry follows on the alarm', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    await receiver.script([{ status: 418 }]);
    const res = await api('/v1/webhooks/test', { method: 'POST' });
    expect(res.status).toBe(200);
    const { eventId, delivery } = await res.json<{ eventId: string; delivery: { outcome: string; responseStatus: number; nextAttemptAt?: string } }>();
    expect(delivery).toMatchObject({ outcome: 'FAILED', responseStatus: 418 });
    expect(await scheduledAlarm(eventId)).toBe(Date.parse(delivery.nextAttemptAt!));
    expect(await runRetryNow(eventId)).toBe(true);
    expect((await waitForDeliveries(api, eventId, 2)).map((d) => d.outcome)).toEqual(['FAILED', 'SUCCEEDED']);
  });

  it('API.md §1/§3: without an endpoint → 404 WEBHOOK_NOT_CONFIGURED, no event recorded; without the operations scope → 403', async () => {
    const { tenant, api, client } = await setupTenant();
    const res = await api('/v1/webhooks/test', { method: 'POST' });
    expect(res.status).toBe(404);
    expect((await res.json<{ code: string }>()).code).toBe('WEBHOOK_NOT_CONFIGURED');
    expect(await eventsOf(tenant.id)).toEqual([]);

    const narrow = apiWith(await getToken(client, 'users'));
    const forbidden = await narrow('/v1/webhooks/test', { method: 'POST' });
    expect(forbidden.status).toBe(403);
    expect((await forbidden.json<{ code: string }>()).code).toBe('INSUFFICIENT_SCOPE');
  });
});
