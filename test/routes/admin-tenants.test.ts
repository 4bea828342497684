// /admin/v1/tenants: tenants and their API clients (API.md §4).
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { TenantJson } from '../helpers/api';
import { adminFetch, countRows, createClient, createTenant, expectProblem, sha256Hex, workerFetch } from '../helpers/api';

describe('tenants', () => {
  it('API.md §4: POST /admin/v1/tenants → 201 + Location, policy defaults filled in, audited', async () => {
    const res = await adminFetch('/admin/v1/tenants', {
      method: 'POST',
      json: { name: 'Bank', rpId: 'bank.example', origins: ['https://bank.example'], branding: { name: 'Bank', primaryColor: '#112233' } },
    });
    expect(res.status).toBe(201);
    const tenant = await res.json<TenantJson>();
    expect(tenant.id).toMatch(/^ten_[0-9a-z]{36}$/);
    expect(res.headers.get('location')).toBe(`/admin/v1/tenants/${tenant.id}`);
    expect(tenant).toMatchObject({
      name: 'Bank', rpId: 'bank.example', rpName: 'Bank', origins: ['https://bank.example'], branding: { name: 'Bank', primaryColor: '#112233' },
      policy: { maxFailedAttempts: 5, operationTtlSeconds: 300, deviceBoundOnly: false, requireScaForNewDevice: true },
    });
    expect(tenant).not.toHaveProperty('webhook');
    expect(await countRows('tenants', 'id = ?1', tenant.id)).toBe(1);
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'tenant.created'", tenant.id)).toBe(1);
  });

  it('API.md §4: policy given at creation is kept, the rest defaulted', async () => {
    const tenant = await createTenant({ policy: { maxFailedAttempts: 3, deviceBoundOnly: true } });
    expect(tenant.policy).toEqual({
      maxFailedAttempts: 3, operationTtlSeconds: 300, deviceBoundOnly: true, requireScaForNewDevice: true,
      maxLiveOperationsPerUser: 5, maxLiveOperationsPerDevice: 3, maxStartsPerUserPerMinute: 10,
      pushNotifications: true, numberMatching: 'PUSHED',
    });
  });

  it('API.md §4: GET /admin/v1/tenants/{id} returns the tenant; an unknown id → 404 TENANT_NOT_FOUND', async () => {
    const tenant = await createTenant();
    const res = await adminFetch(`/admin/v1/tenants/${tenant.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(tenant);
    await expectProblem(await adminFetch('/admin/v1/tenants/ten_00000000000000000000000000000000000'), 404, 'TENANT_NOT_FOUND');
    await expectProblem(await adminFetch('/admin/v1/tenants/nonsense'), 404, 'TENANT_NOT_FOUND');
  });

  it('API.md conventions: GET /admin/v1/tenants pages with limit and an opaque cursor to a null nextCursor', async () => {
    const created = [await createTenant({ name: 'p1' }), await createTenant({ name: 'p2' }), await createTenant({ name: 'p3' })];
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
      const res = await adminFetch(`/admin/v1/tenants${query}`);
      expect(res.status).toBe(200);
      const body = await res.json<{ items: TenantJson[]; nextCursor: string | null }>();
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items.map((t) => t.id));
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 500);
    expect(cursor).toBeNull();
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual(seen);
    for (const t of created) expect(seen).toContain(t.id);
  });

  it('API.md §4: PATCH merges policy fields and keeps the others; merge-patch+json accepted', async () => {
    const tenant = await createTenant({ branding: { name: 'Old', primaryColor: '#000000' } });
    const res = await adminFetch(`/admin/v1/tenants/${tenant.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      json: { name: 'Renamed', policy: { maxFailedAttempts: 2 }, branding: { name: 'New' } },
    });
    expect(res.status).toBe(200);
    const updated = await res.json<TenantJson>();
    expect(updated).toMatchObject({
      id: tenant.id, name: 'Renamed', rpId: 'localhost', origins: tenant.origins, branding: { name: 'New', primaryColor: '#000000' },
      policy: { ...tenant.policy, maxFailedAttempts: 2 },
    });
    expect(await (await adminFetch(`/admin/v1/tenants/${tenant.id}`)).json()).toEqual(updated);
  });

  it('API.md §4: policy bounds (maxFailedAttempts 1–5, operationTtlSeconds ≤ 300) → 400 VALIDATION_FAILED, nothing changed', async () => {
    const tenant = await createTenant();
    for (const policy of [{ maxFailedAttempts: 6 }, { maxFailedAttempts: 0 }, { operationTtlSeconds: 301 }, { deviceBoundOnly: 'yes' }, { unknown: true }, { numberMatching: 'SOMETIMES' }, { pushNotifications: 'no' }]) {
      await expectProblem(await adminFetch(`/admin/v1/tenants/${tenant.id}`, { method: 'PATCH', json: { policy } }), 400, 'VALIDATION_FAILED');
    }
    expect(await (await adminFetch(`/admin/v1/tenants/${tenant.id}`)).json()).toEqual(tenant);
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'tenant.updated'", tenant.id)).toBe(0);
  });

  it('API.md conventions: a bad tenant body (unknown field, wrong type, bad origin, bad rpId) → 400 VALIDATION_FAILED, nothing written', async () => {
    const before = await countRows('tenants');
    const base = { name: 'T', rpId: 'localhost', origins: ['http://localhost:8787'] };
    const bad = [
      { ...base, extra: 1 },
      { ...base, name: 42 },
      { ...base, origins: ['http://evil.example'] },
      { ...base, origins: [] },
      { ...base, rpId: 'Not A Domain' },
      { name: 'T', origins: ['http://localhost:8787'] },
    ];
    for (const json of bad) {
      const problem = await expectProblem(await adminFetch('/admin/v1/tenants', { method: 'POST', json }), 400, 'VALIDATION_FAILED');
      expect(problem.invalidParams?.length).toBeGreaterThan(0);
    }
    expect(await countRows('tenants')).toBe(before);
  });

  it('API.md §4: a wrong, missing or malformed admin token → 401 UNAUTHENTICATED, nothing written', async () => {
    const before = await countRows('tenants');
    const json = { name: 'T', rpId: 'localhost', origins: ['http://localhost:8787'] };
    await expectProblem(await adminFetch('/admin/v1/tenants', { method: 'POST', headers: { authorization: 'Bearer test-admin-token-0123456789abcdeX' }, json }), 401, 'UNAUTHENTICATED');
    await expectProblem(await workerFetch('/admin/v1/tenants', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }), 401, 'UNAUTHENTICATED');
    await expectProblem(await adminFetch('/admin/v1/tenants', { headers: { authorization: 'Basic dGVzdDp0ZXN0' } }), 401, 'UNAUTHENTICATED');
    expect(await countRows('tenants')).toBe(before);
  });

  it('API.md §4: a relying-party access token is not an operator token (401)', async () => {
    const tenant = await createTenant();
    const client = await createClient(tenant.id);
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret });
    const tokenRes = await workerFetch('/oauth/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    const { access_token } = await tokenRes.json<{ access_token: string }>();
    await expectProblem(await adminFetch('/admin/v1/tenants', { headers: { authorization: `Bearer ${access_token}` } }), 401, 'UNAUTHENTICATED');
  });
});

describe('API clients', () => {
  it('API.md §4 / DESIGN.md: POST …/clients → 201 with the secret shown once; D1 holds only its SHA-256 hash', async () => {
    const tenant = await createTenant();
    const res = await adminFetch(`/admin/v1/tenants/${tenant.id}/clients`, { method: 'POST', json: { name: 'Backend', scopes: ['users', 'audit'] } });
    expect(res.status).toBe(201);
    const client = await res.json<{ clientId: string; clientSecret: string; name: string; scopes: string[]; createdAt: string }>();
    expect(client).toMatchObject({ name: 'Backend', scopes: ['users', 'audit'] });
    expect(client.clientId).toMatch(/^cli_/);
    expect(client.clientSecret.length).toBeGreaterThanOrEqual(32);

    const row = await env.DB.prepare('SELECT * FROM api_clients WHERE id = ?1').bind(client.clientId).first<Record<string, unknown>>();
    expect(row).not.toBeNull();
    expect(row!.secret_hash).not.toBe(client.clientSecret);
    expect(row!.secret_hash).toBe(await sha256Hex(client.clientSecret));
    expect(Object.values(row!)).not.toContain(client.clientSecret);

    // Listed without the secret.
    const list = await (await adminFetch(`/admin/v1/tenants/${tenant.id}/clients`)).json<{ items: Record<string, unknown>[]; nextCursor: null }>();
    expect(list.nextCursor).toBeNull();
    expect(list.items).toHaveLength(1);
    expect(list.items[0]).toMatchObject({ clientId: client.clientId, name: 'Backend', scopes: ['users', 'audit'] });
    expect(list.items[0]).not.toHaveProperty('clientSecret');
    expect(JSON.stringify(list)).not.toContain(client.clientSecret);
  });

  it('API.md §4: a client gets all four scopes unless created with fewer', async () => {
    const tenant = await createTenant();
    const client = await createClient(tenant.id);
    expect([...client.scopes].sort()).toEqual(['audit', 'devices', 'operations', 'users']);
  });

  it('API.md conventions: bad client bodies (unknown scope, unknown field, no name) → 400, nothing written; unknown tenant → 404', async () => {
    const tenant = await createTenant();
    for (const json of [{ name: 'x', scopes: ['admin'] }, { name: 'x', extra: true }, {}, { name: 'x', scopes: [] }]) {
      await expectProblem(await adminFetch(`/admin/v1/tenants/${tenant.id}/clients`, { method: 'POST', json }), 400, 'VALIDATION_FAILED');
    }
    expect(await countRows('api_clients', 'tenant_id = ?1', tenant.id)).toBe(0);
    const before = await countRows('api_clients');
    await expectProblem(
      await adminFetch('/admin/v1/tenants/ten_00000000000000000000000000000000000/clients', { method: 'POST', json: { name: 'x' } }),
      404,
      'TENANT_NOT_FOUND',
    );
    expect(await countRows('api_clients')).toBe(before);
  });

  it('API.md §4: DELETE …/clients/{id} revokes (204, listed with revokedAt); another tenant\'s client → 404 CLIENT_NOT_FOUND', async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    const client = await createClient(tenant.id);
    const foreign = await createClient(other.id);

    await expectProblem(await adminFetch(`/admin/v1/tenants/${tenant.id}/clients/${foreign.clientId}`, { method: 'DELETE' }), 404, 'CLIENT_NOT_FOUND');
    expect(await countRows('api_clients', 'id = ?1 AND revoked_at IS NULL', foreign.clientId)).toBe(1);

    const res = await adminFetch(`/admin/v1/tenants/${tenant.id}/clients/${client.clientId}`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    const list = await (await adminFetch(`/admin/v1/tenants/${tenant.id}/clients`)).json<{ items: { clientId: string; revokedAt?: string }[] }>();
    expect(list.items.find((c) => c.clientId === client.clientId)?.revokedAt).toEqual(expect.any(String));
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'client.revoked' AND target_id = ?2", tenant.id, client.clientId)).toBe(1);
  });
});
