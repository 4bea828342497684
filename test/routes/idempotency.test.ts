// Idempotency-Key on POST /v1/users (API.md conventions; IETF httpapi-idempotency-key-header semantics), keyed per API client.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { apiWith, countRows, createClient, expectProblem, getToken, setupTenant, sha256Hex } from '../helpers/api';

function post(api: ReturnType<typeof apiWith>, key: string, body: string): Promise<Response> {
  return api('/v1/users', { method: 'POST', headers: { 'idempotency-key': key }, body });
}

describe('Idempotency-Key', () => {
  it('API.md conventions: same key and same body → the first response again (idempotent-replayed: true), one user', async () => {
    const { tenant, api } = await setupTenant();
    const body = JSON.stringify({ externalRef: 'idem-1', attributes: { email: 'i@example.com' } });
    const first = await post(api, 'key-1', body);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const created = await first.json<{ id: string }>();

    const again = await post(api, 'key-1', body);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('location')).toBe(`/v1/users/${created.id}`);
    expect(again.headers.get('content-type')).toMatch(/^application\/json/);
    expect(again.headers.get('x-trace-id')).toBeTruthy();
    expect(await again.json()).toEqual(created);
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(1);
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'user.created'", tenant.id)).toBe(1);
  });

  it('API.md conventions: same key, other body → 422 IDEMPOTENCY_KEY_REUSED, nothing written', async () => {
    const { tenant, api } = await setupTenant();
    expect((await post(api, 'key-2', JSON.stringify({ externalRef: 'a' }))).status).toBe(201);
    const before = await countRows('users', 'tenant_id = ?1', tenant.id);
    await expectProblem(await post(api, 'key-2', JSON.stringify({ externalRef: 'b' })), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(before);
    expect((await (await api('/v1/users?externalRef=b')).json<{ items: unknown[] }>()).items).toEqual([]);
  });

  it('API.md conventions: the first request still running → 409 IDEMPOTENCY_KEY_IN_USE, nothing written', async () => {
    const { tenant, client, api } = await setupTenant();
    const body = JSON.stringify({ externalRef: 'in-flight' });
    // What the middleware stores when it claims the key: SHA-256 of "METHOD path\nbody", state PROCESSING.
    const requestHash = await sha256Hex(`POST /v1/users\n${body}`);
    await env.DB.prepare(`INSERT INTO idempotency_keys (client_id, key, request_hash, state, created_at) VALUES (?1, ?2, ?3, 'PROCESSING', ?4)`)
      .bind(client.clientId, 'key-3', requestHash, Math.floor(Date.now() / 1000))
      .run();
    await expectProblem(await post(api, 'key-3', body), 409, 'IDEMPOTENCY_KEY_IN_USE');
    // A different body under the running key is a reuse, not a wait.
    await expectProblem(await post(api, 'key-3', JSON.stringify({ externalRef: 'other' })), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(0);
    expect(await countRows('idempotency_keys', "client_id = ?1 AND key = 'key-3' AND state = 'PROCESSING'", client.clientId)).toBe(1);
  });

  it('IETF idempotency-key draft: a key older than 24 h is forgotten and the request runs again', async () => {
    const { tenant, client, api } = await setupTenant();
    const body = JSON.stringify({ externalRef: 'stale' });
    await env.DB.prepare(`INSERT INTO idempotency_keys (client_id, key, request_hash, state, created_at) VALUES (?1, 'key-old', 'x', 'PROCESSING', ?2)`)
      .bind(client.clientId, Math.floor(Date.now() / 1000) - 25 * 3600)
      .run();
    const res = await post(api, 'key-old', body);
    expect(res.status).toBe(201);
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(1);
  });

  it('API.md conventions: keys are per client: another client using the same key creates its own user', async () => {
    const { tenant, api } = await setupTenant();
    const second = apiWith(await getToken(await createClient(tenant.id)));
    const body = JSON.stringify({ attributes: { shared: 'body' } });
    const one = await post(api, 'shared-key', body);
    const two = await post(second, 'shared-key', body);
    expect(one.status).toBe(201);
    expect(two.status).toBe(201);
    expect(two.headers.get('idempotent-replayed')).toBeNull();
    const [a, b] = [await one.json<{ id: string }>(), await two.json<{ id: string }>()];
    expect(a.id).not.toBe(b.id);
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(2);
  });

  it('API.md conventions: a refused request does not burn the key (409 EXTERNAL_REF_TAKEN, then a retry after the conflict is gone succeeds)', async () => {
    const { tenant, api } = await setupTenant();
    const holder = await (await api('/v1/users', { method: 'POST', json: { externalRef: 'taken' } })).json<{ id: string }>();
    const body = JSON.stringify({ externalRef: 'taken' });
    await expectProblem(await post(api, 'key-conflict', body), 409, 'EXTERNAL_REF_TAKEN');
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(1);
    expect((await api(`/v1/users/${holder.id}`, { method: 'DELETE' })).status).toBe(204);
    const retry = await post(api, 'key-conflict', body);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
  });

  it('API.md conventions (Stripe: no result is saved when validation fails): a 400 leaves nothing under the key, so the corrected body can use it', async () => {
    const { tenant, client, api } = await setupTenant();
    await expectProblem(await post(api, 'key-invalid', JSON.stringify({ attributes: { 'bad key': 'x' } })), 400, 'VALIDATION_FAILED');
    expect(await countRows('idempotency_keys', "client_id = ?1 AND key = 'key-invalid'", client.clientId)).toBe(0);
    const fixed = await post(api, 'key-invalid', JSON.stringify({ attributes: { good_key: 'x' } }));
    expect(fixed.status, await fixed.clone().text()).toBe(201);
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(1);
  });

  it('API.md conventions: a malformed Idempotency-Key → 400 VALIDATION_FAILED, nothing written', async () => {
    const { tenant, client, api } = await setupTenant();
    await expectProblem(await post(api, 'x'.repeat(256), '{}'), 400, 'VALIDATION_FAILED');
    await expectProblem(await post(api, 'has space', '{}'), 400, 'VALIDATION_FAILED');
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(0);
    expect(await countRows('idempotency_keys', 'client_id = ?1', client.clientId)).toBe(0);
  });

  it('API.md §1 erasure: the stored replay of a create does not keep the erased user\'s attribute values', async () => {
    const { tenant, api } = await setupTenant();
    const secret = 'erase-me-idem@example.com';
    const res = await post(api, 'key-erase', JSON.stringify({ attributes: { email: secret } }));
    expect(res.status).toBe(201);
    const { id } = await res.json<{ id: string }>();
    expect((await api(`/v1/users/${id}`, { method: 'DELETE' })).status).toBe(204);
    const rows = await env.DB.prepare('SELECT body FROM idempotency_keys WHERE body IS NOT NULL').all<{ body: string }>();
    for (const row of rows.results) expect(row.body).not.toContain(secret);
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(0);
  });
});
