// GET /v1/webhooks/deliveries (API.md §3): every attempt listed, newest first, filterable by event, paged, tenant-scoped.
import { describe, expect, it } from 'vitest';
import { apiWith, expectProblem, getToken, setupTenant, workerFetch } from '../helpers/api';
import type { DeliveryJson } from './harness';
import { configureWebhook, deliveriesOf, Receiver, runRetryNow, waitForDeliveries } from './harness';

async function sendTest(api: (path: string, init?: RequestInit & { json?: unknown }) => Promise<Response>): Promise<string> {
  const res = await api('/v1/webhooks/test', { method: 'POST' });
  expect(res.status).toBe(200);
  return (await res.json<{ eventId: string }>()).eventId;
}

describe('GET /v1/webhooks/deliveries', () => {
  it('API.md §3: lists every attempt of every event newest first; ?eventId= narrows to one event', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    await receiver.script([{ status: 500 }]);
    const retried = await sendTest(api);
    expect(await runRetryNow(retried)).toBe(true);
    await waitForDeliveries(api, retried, 2);
    const single = await sendTest(api);

    const res = await api('/v1/webhooks/deliveries');
    expect(res.status).toBe(200);
    const all = await res.json<{ items: DeliveryJson[]; nextCursor: string | null }>();
    expect(all.nextCursor).toBeNull();
    expect(all.items.map((d) => [d.eventId, d.attempt, d.outcome])).toEqual([
      [single, 1, 'SUCCEEDED'], [retried, 2, 'SUCCEEDED'], [retried, 1, 'FAILED'],
    ]);
    for (const d of all.items) {
      expect(d.id).toMatch(/^whd_[0-9a-z]{36}$/);
      expect(d.webhookId).toBe(d.eventId);
      expect(d.eventType).toBe('webhook.test');
    }
    expect((await deliveriesOf(api, retried)).map((d) => d.attempt)).toEqual([1, 2]);
    expect((await deliveriesOf(api, single)).map((d) => d.attempt)).toEqual([1]);
    expect(await receiver.requests()).toHaveLength(3);
  });

  it('API.md conventions: pages with limit and an opaque cursor to a null nextCursor', async () => {
    const { tenant, api } = await setupTenant();
    await configureWebhook(tenant.id, Receiver.create().url());
    const sent = [await sendTest(api), await sendTest(api), await sendTest(api)];
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
      const res = await api(`/v1/webhooks/deliveries${query}`);
      expect(res.status).toBe(200);
      const body = await res.json<{ items: DeliveryJson[]; nextCursor: string | null }>();
      seen.push(...body.items.map((d) => d.eventId));
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(2);
    expect(seen).toEqual([...sent].reverse());
  });

  it('API.md conventions: a forged cursor or a bad limit → 400', async () => {
    const { api } = await setupTenant();
    await expectProblem(await api('/v1/webhooks/deliveries?cursor=bm90LWEtY3Vyc29y'), 400, 'INVALID_CURSOR');
    await expectProblem(await api(`/v1/webhooks/deliveries?cursor=${btoa(JSON.stringify({ k: 'usr_x' }))}`), 400, 'INVALID_CURSOR');
    await expectProblem(await api('/v1/webhooks/deliveries?limit=0'), 400, 'VALIDATION_FAILED');
    await expectProblem(await api('/v1/webhooks/deliveries?limit=101'), 400, 'VALIDATION_FAILED');
  });

  it('API.md §1: a client sees only its own tenant\'s deliveries; another tenant\'s event id lists nothing', async () => {
    const a = await setupTenant();
    const b = await setupTenant();
    await configureWebhook(a.tenant.id, Receiver.create().url());
    const eventOfA = await sendTest(a.api);
    expect(await deliveriesOf(b.api, eventOfA)).toEqual([]);
    const all = await (await b.api('/v1/webhooks/deliveries')).json<{ items: DeliveryJson[] }>();
    expect(all.items).toEqual([]);
    expect(await deliveriesOf(a.api, 'not-an-event-id')).toEqual([]);
  });

  it('API.md §1: /v1/webhooks needs the operations scope (403 INSUFFICIENT_SCOPE) and a token (401)', async () => {
    const { client, api } = await setupTenant();
    await expectProblem(await apiWith(await getToken(client, 'audit'))('/v1/webhooks/deliveries'), 403, 'INSUFFICIENT_SCOPE');
    await expectProblem(await apiWith('not-a-token')('/v1/webhooks/deliveries'), 401, 'UNAUTHENTICATED');
    expect((await api('/v1/webhooks/deliveries')).status).toBe(200);
  });
});

describe('OpenAPI', () => {
  it('API.md conventions: /openapi.json documents the webhook routes (generated from the route definitions)', async () => {
    const res = await workerFetch('/openapi.json');
    expect(res.status).toBe(200);
    const doc = await res.json<{ paths: Record<string, Record<string, unknown>> }>();
    expect(Object.keys(doc.paths['/admin/v1/tenants/{tenantId}/webhook'] ?? {}).sort()).toEqual(['delete', 'get', 'put']);
    expect(doc.paths['/admin/v1/tenants/{tenantId}/webhook/rotate-secret']).toHaveProperty('post');
    expect(doc.paths['/v1/webhooks/deliveries']).toHaveProperty('get');
    expect(doc.paths['/v1/webhooks/test']).toHaveProperty('post');
  });
});
