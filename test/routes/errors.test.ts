// API.md conventions: problem+json errors with trace ids, body guards (size, type, JSON), unknown routes, the OpenAPI document and /docs.
import { describe, expect, it } from 'vitest';
import { adminFetch, countRows, expectProblem, setupTenant, workerFetch } from '../helpers/api';

describe('problem details and trace ids', () => {
  it('API.md conventions: an unknown route → 404 NOT_FOUND problem with the trace id', async () => {
    const problem = await expectProblem(await workerFetch('/nope'), 404, 'NOT_FOUND');
    expect(problem.type).toMatch(/^https:\/\//);
    await expectProblem(await workerFetch('/v1/nothing-here'), 404, 'NOT_FOUND');
    const { api } = await setupTenant();
    await expectProblem(await api('/v1/users/usr_x/unknown-action', { method: 'POST' }), 404, 'NOT_FOUND');
  });

  it('API.md conventions: every response has X-Trace-Id; a sane caller-supplied one is kept, a hostile one replaced', async () => {
    const ok = await workerFetch('/healthz');
    expect(ok.headers.get('x-trace-id')).toMatch(/^[A-Za-z0-9._-]{8,64}$/);
    const kept = await workerFetch('/nope', { headers: { 'x-trace-id': 'trace-abc-12345' } });
    expect(kept.headers.get('x-trace-id')).toBe('trace-abc-12345');
    expect((await kept.json<{ traceId: string }>()).traceId).toBe('trace-abc-12345');
    const replaced = await workerFetch('/nope', { headers: { 'x-trace-id': '<script>alert(1)</script>' } });
    expect(replaced.headers.get('x-trace-id')).not.toContain('<');
    const admin = await adminFetch('/admin/v1/tenants?limit=1');
    expect(admin.headers.get('x-trace-id')).toBeTruthy();
  });

  it('API.md conventions: validation problems list invalidParams { name, reason } with the unknown field named', async () => {
    const { api } = await setupTenant();
    const problem = await expectProblem(await api('/v1/users', { method: 'POST', json: { bogus: 1 } }), 400, 'VALIDATION_FAILED');
    expect(problem.invalidParams).toEqual([{ name: 'bogus', reason: 'unknown field' }]);
  });
});

describe('request body guards', () => {
  it('API.md conventions: malformed JSON → 400 MALFORMED_JSON, nothing written', async () => {
    const { tenant, api } = await setupTenant();
    for (const body of ['{"externalRef":', '{externalRef: 1}', "{'a':1}", '\u00ff\u00fe']) {
      await expectProblem(await api('/v1/users', { method: 'POST', body }), 400, 'MALFORMED_JSON');
    }
    await expectProblem(await adminFetch('/admin/v1/tenants', { method: 'POST', body: '{"name":' }), 400, 'MALFORMED_JSON');
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(0);
  });

  it('API.md conventions: a body that is not JSON (text/plain, form, none declared) → 415 UNSUPPORTED_MEDIA_TYPE, nothing written', async () => {
    const { tenant, api, token } = await setupTenant();
    const json = JSON.stringify({ externalRef: 'wrong-type' });
    await expectProblem(await api('/v1/users', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: json }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await expectProblem(await api('/v1/users', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'externalRef=x' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await expectProblem(await api('/v1/users', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<user/>' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    // No Content-Type at all but a body.
    const bare = await workerFetch('/v1/users', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: new TextEncoder().encode(json) });
    await expectProblem(bare, 415, 'UNSUPPORTED_MEDIA_TYPE');
    await expectProblem(await adminFetch('/admin/v1/tenants', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(0);
  });

  it('API.md conventions: application/merge-patch+json is for PATCH only → 415 on POST, nothing written', async () => {
    const { tenant, api } = await setupTenant();
    await expectProblem(
      await api('/v1/users', { method: 'POST', headers: { 'content-type': 'application/merge-patch+json' }, json: { externalRef: 'mp' } }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(0);
  });

  it('API.md conventions: a body over 256 KiB → 413 PAYLOAD_TOO_LARGE, nothing written', async () => {
    const { tenant, api } = await setupTenant();
    const before = await countRows('users', 'tenant_id = ?1', tenant.id);
    const big = JSON.stringify({ attributes: { a: 'x'.repeat(256 * 1024) } });
    await expectProblem(await api('/v1/users', { method: 'POST', body: big }), 413, 'PAYLOAD_TOO_LARGE');
    // Also when streamed without a Content-Length.
    const streamed = new Blob([big]).stream();
    await expectProblem(await api('/v1/users', { method: 'POST', body: streamed }), 413, 'PAYLOAD_TOO_LARGE');
    await expectProblem(await adminFetch('/admin/v1/tenants', { method: 'POST', body: big }), 413, 'PAYLOAD_TOO_LARGE');
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(before);
  });

  it('API.md conventions: a body just under 256 KiB passes the size guard (and is then judged on its content)', async () => {
    const { tenant, api } = await setupTenant();
    const attributes = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'x'.repeat(1024)]));
    const body = JSON.stringify({ attributes });
    expect(body.length).toBeLessThan(256 * 1024);
    expect((await api('/v1/users', { method: 'POST', body })).status).toBe(201);
    expect(await countRows('user_attributes', 'tenant_id = ?1', tenant.id)).toBe(100);
  });
});

describe('OpenAPI and docs', () => {
  it('API.md conventions: GET /openapi.json is OpenAPI 3.1 generated from the routes', async () => {
    const res = await workerFetch('/openapi.json');
    expect(res.status).toBe(200);
    const doc = await res.json<{ openapi: string; paths: Record<string, Record<string, unknown>>; components: { securitySchemes: Record<string, unknown> } }>();
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([
      '/v1/users', '/v1/users/{userId}', '/v1/users/{userId}/lock', '/v1/users/{userId}/unlock', '/v1/users/{userId}/deactivate',
      '/admin/v1/tenants', '/admin/v1/tenants/{tenantId}', '/admin/v1/tenants/{tenantId}/clients', '/v1/audit-events', '/oauth/token',
    ]));
    expect(Object.keys(doc.paths['/v1/users']!)).toEqual(expect.arrayContaining(['get', 'post']));
    expect(Object.keys(doc.paths['/v1/users/{userId}']!)).toEqual(expect.arrayContaining(['get', 'patch', 'delete']));
    expect(doc.components.securitySchemes).toHaveProperty('oauth2');
  });

  it('API.md conventions: GET /docs is HTML that loads its assets from /docs/assets/ and nothing from a CDN', async () => {
    const res = await workerFetch('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('/docs/assets/');
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/https?:\/\//i);
  });
});
