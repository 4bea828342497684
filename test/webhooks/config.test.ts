// Operators configure a tenant's webhook (API.md §3/§4): URL checks, secrets shown once and sealed at rest, rotation, removal.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { fromBase64 } from '../../src/domain/encoding';
import type { TenantJson } from '../helpers/api';
import { ADMIN_TOKEN, adminFetch, countRows, createTenant, expectProblem, setupTenant, workerFetch } from '../helpers/api';
import { configureWebhook, eventsOf, Receiver } from './harness';

const webhookPath = (tenantId: string): string => `/admin/v1/tenants/${tenantId}/webhook`;

interface EndpointRow {
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: string | null;
  disabled_at: string | null;
}

async function endpointRow(tenantId: string): Promise<EndpointRow | null> {
  return env.DB.prepare('SELECT * FROM webhook_endpoints WHERE tenant_id = ?1').bind(tenantId).first<EndpointRow>();
}

async function getTenant(tenantId: string): Promise<TenantJson> {
  const res = await adminFetch(`/admin/v1/tenants/${tenantId}`);
  expect(res.status).toBe(200);
  return res.json<TenantJson>();
}

describe('PUT /admin/v1/tenants/{id}/webhook', () => {
  it('API.md §3: answers { url, secret } with a whsec_ secret of 32 random bytes, shown only once', async () => {
    const tenant = await createTenant();
    const receiver = Receiver.create();
    const res = await adminFetch(webhookPath(tenant.id), { method: 'PUT', json: { url: receiver.url() } });
    expect(res.status).toBe(200);
    const body = await res.json<{ url: string; secret: string }>();
    expect(body.url).toBe(receiver.url());
    expect(body.secret).toMatch(/^whsec_/);
    expect(fromBase64(body.secret.slice('whsec_'.length))).toHaveLength(32);

    // The tenant shows the endpoint, never the secret.
    const shown = await getTenant(tenant.id);
    expect(shown.webhook).toEqual({ url: receiver.url() });
    const detail = await adminFetch(webhookPath(tenant.id));
    expect(detail.status).toBe(200);
    const detailText = await detail.text();
    expect(JSON.parse(detailText)).toMatchObject({ url: receiver.url(), disabled: false });
    expect(detailText).not.toContain(body.secret.slice('whsec_'.length));
  });

  it('secrets at rest: sealed with AES-GCM under WEBHOOK_SECRET_KEY, the plain secret is not in D1', async () => {
    const tenant = await createTenant();
    const secret = await configureWebhook(tenant.id, Receiver.create().url());
    const row = await endpointRow(tenant.id);
    expect(row?.secret).toMatch(/^enc:v1:[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(row?.secret).not.toContain(secret.slice('whsec_'.length));
  });

  it('audit: setting the endpoint is recorded with its host only', async () => {
    const tenant = await createTenant();
    await configureWebhook(tenant.id, `${Receiver.create().url()}?token=receiver-routing-secret`);
    const audit = await env.DB.prepare("SELECT actor, data FROM audit_events WHERE tenant_id = ?1 AND action = 'webhook.configured'").bind(tenant.id).all<{ actor: string; data: string }>();
    expect(audit.results).toHaveLength(1);
    expect(audit.results[0]!.actor).toBe('admin');
    expect(JSON.parse(audit.results[0]!.data)).toEqual({ host: 'hooks.receiver.example', replaced: false, reenabled: false });
  });

  it('the stored URL is the normalised one (WHATWG URL serialisation)', async () => {
    const tenant = await createTenant();
    const res = await adminFetch(webhookPath(tenant.id), { method: 'PUT', json: { url: 'HTTPS://Hooks.Receiver.EXAMPLE:443/a/../hook' } });
    expect(res.status).toBe(200);
    expect((await res.json<{ url: string }>()).url).toBe('https://hooks.receiver.example/hook');
    expect((await endpointRow(tenant.id))?.url).toBe('https://hooks.receiver.example/hook');
  });

  const refused: [string, string][] = [
    ['plain http', 'http://hooks.receiver.example/hook'],
    ['localhost over http (ALLOW_LOCAL_WEBHOOKS is off)', 'http://localhost:8787/hook'],
    ['127.0.0.1 over http (ALLOW_LOCAL_WEBHOOKS is off)', 'http://127.0.0.1:8787/hook'],
    ['loopback over https', 'https://127.0.0.1/hook'],
    ['loopback as a decimal integer', 'https://2130706433/hook'],
    ['IPv6 loopback', 'https://[::1]/hook'],
    ['RFC 1918 10/8', 'https://10.0.0.5/hook'],
    ['RFC 1918 192.168/16', 'https://192.168.1.10/hook'],
    ['RFC 1918 172.16/12', 'https://172.20.0.1/hook'],
    ['link-local cloud metadata', 'https://169.254.169.254/latest/meta-data'],
    ['metadata host name', 'https://metadata.google.internal/computeMetadata/v1/'],
    ['IPv6 link-local', 'https://[fe80::1]/hook'],
    ['IPv6 unique-local', 'https://[fd00::1]/hook'],
    ['IPv4-mapped IPv6 private address', 'https://[::ffff:10.0.0.1]/hook'],
    ['a .local name', 'https://printer.local/hook'],
    ['a single-label name', 'https://intranet/hook'],
    ['a public name that resolves to loopback', 'https://hooks.localtest.me/hook'],
    ['a wildcard DNS name holding a private address', 'https://10.0.0.1.nip.io/hook'],
    ['credentials in the URL', 'https://user:pass@hooks.receiver.example/hook'],
    ['another scheme', 'ftp://hooks.receiver.example/hook'],
    ['not a URL', 'hooks.receiver.example/hook'],
  ];

  it.each(refused)('OWASP SSRF: %s → 400 WEBHOOK_URL_REFUSED, nothing stored or audited', async (_label, url) => {
    const tenant = await createTenant();
    const auditBefore = await countRows('audit_events', 'tenant_id = ?1', tenant.id);
    const problem = await expectProblem(await adminFetch(webhookPath(tenant.id), { method: 'PUT', json: { url } }), 400, 'WEBHOOK_URL_REFUSED');
    expect(problem.invalidParams?.[0]?.name).toBe('url');
    expect(await countRows('webhook_endpoints', 'tenant_id = ?1', tenant.id)).toBe(0);
    expect(await countRows('audit_events', 'tenant_id = ?1', tenant.id)).toBe(auditBefore);
    expect((await getTenant(tenant.id)).webhook).toBeUndefined();
  });

  it('OWASP SSRF: a refused URL leaves a configured endpoint exactly as it was', async () => {
    const tenant = await createTenant();
    await configureWebhook(tenant.id, Receiver.create().url());
    const before = await endpointRow(tenant.id);
    await expectProblem(await adminFetch(webhookPath(tenant.id), { method: 'PUT', json: { url: 'https://10.1.2.3/' } }), 400, 'WEBHOOK_URL_REFUSED');
    expect(await endpointRow(tenant.id)).toEqual(before);
  });

  it('ALLOW_LOCAL_WEBHOOKS=true (local development) admits http on localhost and 127.0.0.1, and nothing else', async () => {
    const tenant = await createTenant();
    const localEnv = { ...env, ALLOW_LOCAL_WEBHOOKS: 'true' };
    const put = (url: string): Promise<Response> =>
      Promise.resolve(app.request(webhookPath(tenant.id), { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ url }) }, localEnv));
    expect((await put('http://localhost:8787/hook')).status).toBe(200);
    expect((await endpointRow(tenant.id))?.url).toBe('http://localhost:8787/hook');
    expect((await put('http://127.0.0.1:9000/hook')).status).toBe(200);
    // The switch opens those two hosts only: private networks and plain http elsewhere stay refused.
    await expectProblem(await put('http://10.0.0.1/hook'), 400, 'WEBHOOK_URL_REFUSED');
    await expectProblem(await put('http://hooks.receiver.example/hook'), 400, 'WEBHOOK_URL_REFUSED');
    await expectProblem(await put('https://169.254.169.254/'), 400, 'WEBHOOK_URL_REFUSED');
    expect((await endpointRow(tenant.id))?.url).toBe('http://127.0.0.1:9000/hook');
  });

  it('API.md conventions: a body without url, with unknown fields or a non-string url → 400 VALIDATION_FAILED, nothing stored', async () => {
    const tenant = await createTenant();
    for (const json of [{}, { url: Receiver.create().url(), secret: 'whsec_AAAA' }, { url: 42 }, { url: '' }]) {
      await expectProblem(await adminFetch(webhookPath(tenant.id), { method: 'PUT', json }), 400, 'VALIDATION_FAILED');
    }
    await expectProblem(await adminFetch(webhookPath(tenant.id), { method: 'PUT', body: '{"url":', headers: { 'content-type': 'application/json' } }), 400, 'MALFORMED_JSON');
    expect(await countRows('webhook_endpoints', 'tenant_id = ?1', tenant.id)).toBe(0);
  });

  it('API.md §4: without the operator token → 401; an unknown tenant → 404 TENANT_NOT_FOUND', async () => {
    const tenant = await createTenant();
    const url = Receiver.create().url();
    await expectProblem(await workerFetch(webhookPath(tenant.id), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url }) }), 401, 'UNAUTHENTICATED');
    await expectProblem(await workerFetch(webhookPath(tenant.id), { method: 'PUT', headers: { authorization: 'Bearer wrong-token-0123456789abcdef', 'content-type': 'application/json' }, body: JSON.stringify({ url }) }), 401, 'UNAUTHENTICATED');
    await expectProblem(await adminFetch(webhookPath('ten_00000000000000000000000000000000000'), { method: 'PUT', json: { url } }), 404, 'TENANT_NOT_FOUND');
    await expectProblem(await adminFetch(webhookPath(tenant.id)), 404, 'WEBHOOK_NOT_CONFIGURED');
    expect(await countRows('webhook_endpoints', 'tenant_id = ?1', tenant.id)).toBe(0);
  });

  it('API.md §3: a second PUT issues a new secret and keeps the replaced one signing for 24 h', async () => {
    const tenant = await createTenant();
    const first = await configureWebhook(tenant.id, Receiver.create().url());
    const res = await adminFetch(webhookPath(tenant.id), { method: 'PUT', json: { url: Receiver.create().url() } });
    expect(res.status).toBe(200);
    const second = await res.json<{ secret: string; previousSecretExpiresAt: string }>();
    expect(second.secret).not.toBe(first);
    const row = await endpointRow(tenant.id);
    expect(row?.previous_secret).toMatch(/^enc:v1:/);
    expect(Date.parse(second.previousSecretExpiresAt) - Date.parse((await adminFetch(webhookPath(tenant.id)).then((r) => r.json<{ updatedAt: string }>())).updatedAt)).toBe(24 * 3600 * 1000);
  });
});

describe('POST /admin/v1/tenants/{id}/webhook/rotate-secret', () => {
  it('API.md §3: issues a new secret; the old one stays valid for exactly 24 h; audited', async () => {
    const tenant = await createTenant();
    const url = Receiver.create().url();
    const old = await configureWebhook(tenant.id, url);
    const res = await adminFetch(`${webhookPath(tenant.id)}/rotate-secret`, { method: 'POST' });
    expect(res.status, await res.clone().text()).toBe(200);
    const rotated = await res.json<{ url: string; secret: string; previousSecretExpiresAt: string }>();
    expect(rotated.url).toBe(url);
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(old);
    const detail = await (await adminFetch(webhookPath(tenant.id))).json<{ previousSecretExpiresAt: string; updatedAt: string }>();
    expect(detail.previousSecretExpiresAt).toBe(rotated.previousSecretExpiresAt);
    expect(Date.parse(rotated.previousSecretExpiresAt) - Date.parse(detail.updatedAt)).toBe(24 * 3600 * 1000);
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'webhook.secret_rotated'", tenant.id)).toBe(1);
  });

  it('without an endpoint → 404 WEBHOOK_NOT_CONFIGURED, nothing stored', async () => {
    const tenant = await createTenant();
    await expectProblem(await adminFetch(`${webhookPath(tenant.id)}/rotate-secret`, { method: 'POST' }), 404, 'WEBHOOK_NOT_CONFIGURED');
    expect(await countRows('webhook_endpoints', 'tenant_id = ?1', tenant.id)).toBe(0);
    expect(await countRows('audit_events', "tenant_id = ?1 AND action LIKE 'webhook.%'", tenant.id)).toBe(0);
  });
});

describe('DELETE /admin/v1/tenants/{id}/webhook', () => {
  it('removes the endpoint (204): the tenant shows none, later state changes record no events; a second DELETE → 404', async () => {
    const { tenant, api } = await setupTenant();
    await configureWebhook(tenant.id, Receiver.create().url());
    const res = await adminFetch(webhookPath(tenant.id), { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect((await getTenant(tenant.id)).webhook).toBeUndefined();
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'webhook.removed'", tenant.id)).toBe(1);

    const user = await (await api('/v1/users', { method: 'POST', json: {} })).json<{ id: string }>();
    expect((await api(`/v1/users/${user.id}/lock`, { method: 'POST' })).status).toBe(200);
    expect(await eventsOf(tenant.id)).toEqual([]);
    await expectProblem(await adminFetch(webhookPath(tenant.id), { method: 'DELETE' }), 404, 'WEBHOOK_NOT_CONFIGURED');
  });

  it('API.md §3: a tenant that never had an endpoint records no events (nothing is replayed later)', async () => {
    const { tenant, api } = await setupTenant();
    const user = await (await api('/v1/users', { method: 'POST', json: {} })).json<{ id: string }>();
    expect((await api(`/v1/users/${user.id}/lock`, { method: 'POST' })).status).toBe(200);
    expect(await eventsOf(tenant.id)).toEqual([]);
  });
});
