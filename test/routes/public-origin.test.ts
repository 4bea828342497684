// Origin is configuration: every URL and identifier comes from PUBLIC_URL, never from the Host; keys and /healthz tell the truth.
import { createExecutionContext, env, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { LATEST_MIGRATION } from '../../src/storage/schema';
import { ADMIN_TOKEN, countRows, expectProblem, setupTenant } from '../helpers/api';
import { approve, createUser, getOperation, registerPasskey, startOperation } from '../helpers/ceremony';

type Overrides = Partial<Record<'PUBLIC_URL' | 'SIGNING_KEYS' | 'E2E_KEYS' | 'VAPID_KEYS' | 'ADMIN_TOKEN', string | undefined>>;

/** The worker with some configuration changed, as another deployment would run it. */
async function fetchAs(overrides: Overrides, url: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(url, init), { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

interface Health {
  status: string;
  missing?: string[];
  checks: Record<string, { ok: boolean; detail: string }>;
}

describe('PUBLIC_URL, never the Host header', () => {
  it('a hostile Host gets sdk.url, the result-token iss and the OpenAPI servers of PUBLIC_URL, nothing of its own', async () => {
    const { api, token, tenant } = await setupTenant();
    const user = await createUser(api);
    const hostile = 'https://attacker.example';
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const res = await SELF.fetch(`${hostile}/v1/operations`, { method: 'POST', headers, body: JSON.stringify({ type: 'REGISTRATION', userId: user.id }) });
    expect(res.status).toBe(201);
    const op = await res.json<{ id: string; sdk: { url: string } }>();
    expect(op.sdk.url.startsWith('https://custos.test/app/#')).toBe(true);
    expect(op.sdk.url).not.toContain('attacker');

    const { authenticator } = await registerPasskey(api, user.id);
    const { op: login, finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId: user.id });
    expect(finish.status).toBe(200);
    const claims = decodeJwt((await getOperation(api, login.id)).result!.token);
    expect(claims.iss).toBe('https://custos.test');
    expect(claims.aud).toBe(tenant.id);

    const spec = await (await SELF.fetch(`${hostile}/openapi.json`)).json<{ servers: { url: string }[] }>();
    expect(spec.servers).toEqual([{ url: 'https://custos.test' }]);
  });

  it('without PUBLIC_URL a public Host gets 503 PUBLIC_URL_NOT_CONFIGURED and nothing is written; OpenAPI lists no server', async () => {
    const { token, api } = await setupTenant();
    const user = await createUser(api);
    const before = await countRows('operations');
    const res = await fetchAs({ PUBLIC_URL: undefined }, 'https://custos.example.net/v1/operations', {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'REGISTRATION', userId: user.id }),
    });
    const problem = await expectProblem(res, 503, 'PUBLIC_URL_NOT_CONFIGURED');
    expect(problem.detail).not.toContain('custos.example.net');
    expect(await countRows('operations')).toBe(before);
    const spec = await (await fetchAs({ PUBLIC_URL: undefined }, 'https://custos.example.net/openapi.json')).json<{ servers: unknown[] }>();
    expect(spec.servers).toEqual([]);
  });

  it('a PUBLIC_URL that is not a bare https origin is refused the same way, and /healthz names it', async () => {
    for (const bad of ['custos.example.com', 'http://custos.example.com', 'https://custos.example.com/base', 'https://user@custos.example.com']) {
      const health = await fetchAs({ PUBLIC_URL: bad }, 'https://custos.example.com/healthz');
      expect(health.status).toBe(503);
      const body = await health.json<Health>();
      expect(body.missing).toContain('publicUrl');
      const spec = await (await fetchAs({ PUBLIC_URL: bad }, 'https://custos.example.com/openapi.json')).json<{ servers: unknown[] }>();
      expect(spec.servers).toEqual([]);
    }
  });

  it('local development: no PUBLIC_URL and a loopback Host → that origin; 127.0.0.1 becomes localhost (a passkey needs a domain)', async () => {
    const { token, api } = await setupTenant();
    const user = await createUser(api);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const body = JSON.stringify({ type: 'REGISTRATION', userId: user.id });
    const onIp = await (await fetchAs({ PUBLIC_URL: undefined }, 'http://127.0.0.1:8787/v1/operations', { method: 'POST', headers, body })).json<{ sdk: { url: string } }>();
    expect(onIp.sdk.url.startsWith('http://localhost:8787/app/#')).toBe(true);
    const onName = await (await fetchAs({ PUBLIC_URL: undefined }, 'http://localhost:9999/v1/operations', { method: 'POST', headers, body })).json<{ sdk: { url: string } }>();
    expect(onName.sdk.url.startsWith('http://localhost:9999/app/#')).toBe(true);
  });
});

describe('keys: generated once in local development, never invented by a deployment', () => {
  it('local development without SIGNING_KEYS/E2E_KEYS makes its own once, keeps them in D1 and says so in /healthz', async () => {
    const local = { PUBLIC_URL: undefined, SIGNING_KEYS: undefined, E2E_KEYS: undefined };
    await env.DB.prepare('DELETE FROM local_keys').run();
    const health = await fetchAs(local, 'http://localhost:8787/healthz');
    expect(health.status).toBe(200);
    const body = await health.json<Health>();
    expect(body.checks['signingKeys']).toMatchObject({ ok: true });
    expect(body.checks['signingKeys']!.detail).toMatch(/generated/);
    expect(body.checks['e2eKeys']!.detail).toMatch(/generated/);
    expect(await countRows('local_keys')).toBe(2);

    const jwks = await (await fetchAs(local, 'http://localhost:8787/.well-known/jwks.json')).json<{ keys: { kid: string; d?: string }[] }>();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).not.toHaveProperty('d');
    // The same key after "a restart" (another request; the stored row is the truth): tokens stay verifiable.
    const again = await (await fetchAs(local, 'http://127.0.0.1:8787/.well-known/jwks.json')).json<{ keys: { kid: string }[] }>();
    expect(again.keys[0]!.kid).toBe(jwks.keys[0]!.kid);
    const stored = await env.DB.prepare("SELECT value FROM local_keys WHERE name = 'SIGNING_KEYS'").first<{ value: string }>();
    expect(JSON.parse(stored!.value)[0].kid).toBe(jwks.keys[0]!.kid);
  });

  it('a deployment (public PUBLIC_URL) without SIGNING_KEYS: start 503 SIGNING_KEYS_NOT_CONFIGURED, nothing written, JWKS 503, /healthz not ready', async () => {
    const deployed = { PUBLIC_URL: 'https://custos.example.com', SIGNING_KEYS: undefined };
    await env.DB.prepare('DELETE FROM local_keys').run();
    const { token, api } = await setupTenant();
    const user = await createUser(api);
    const before = { operations: await countRows('operations'), audit: await countRows('audit_events') };
    const start = await fetchAs(deployed, 'https://custos.example.com/v1/operations', {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'REGISTRATION', userId: user.id }),
    });
    await expectProblem(start, 503, 'SIGNING_KEYS_NOT_CONFIGURED');
    expect(await countRows('operations')).toBe(before.operations);
    expect(await countRows('audit_events')).toBe(before.audit);
    await expectProblem(await fetchAs(deployed, 'https://custos.example.com/.well-known/jwks.json'), 503, 'SIGNING_KEYS_NOT_CONFIGURED');
    const health = await fetchAs(deployed, 'https://custos.example.com/healthz');
    expect(health.status).toBe(503);
    const body = await health.json<Health>();
    expect(body.status).toBe('not_ready');
    expect(body.missing).toEqual(['signingKeys']);
    expect(await countRows('local_keys')).toBe(0);
  });

  it('a deployment never uses keys a local run left in D1, even when a request claims a loopback Host', async () => {
    await fetchAs({ PUBLIC_URL: undefined, SIGNING_KEYS: undefined }, 'http://localhost:8787/.well-known/jwks.json');
    expect(await countRows('local_keys', "name = 'SIGNING_KEYS'")).toBe(1);
    const deployed = { PUBLIC_URL: 'https://custos.example.com', SIGNING_KEYS: undefined };
    await expectProblem(await fetchAs(deployed, 'http://localhost:8787/.well-known/jwks.json'), 503, 'SIGNING_KEYS_NOT_CONFIGURED');
  });

  it('malformed SIGNING_KEYS or E2E_KEYS → 503 with the reason, never a 500; the secret is not echoed', async () => {
    const secretish = '[{"kty":"EC","crv":"P-256","d":"c2VjcmV0LXZhbHVl"}]';
    for (const value of ['not json', '[]', secretish]) {
      const jwks = await fetchAs({ SIGNING_KEYS: value }, 'https://custos.test/.well-known/jwks.json');
      const problem = await expectProblem(jwks, 503, 'SIGNING_KEYS_NOT_CONFIGURED');
      expect(JSON.stringify(problem)).not.toContain('c2VjcmV0LXZhbHVl');
    }
    const { tenant } = await setupTenant();
    await expectProblem(await fetchAs({ E2E_KEYS: 'not json' }, `https://custos.test/sdk/v1/config?tenant=${tenant.id}`), 503, 'E2E_KEYS_NOT_CONFIGURED');
    const health = await (await fetchAs({ E2E_KEYS: 'not json', SIGNING_KEYS: '[]' }, 'https://custos.test/healthz')).json<Health>();
    expect(health.missing).toEqual(['signingKeys', 'e2eKeys']);
  });

  it('/sdk/v1/config never drops e2eKey: without a key it is a 503 that names it; webPush only with VAPID keys', async () => {
    const { tenant } = await setupTenant();
    const ok = await (await fetchAs({}, `https://custos.test/sdk/v1/config?tenant=${tenant.id}`)).json<Record<string, unknown>>();
    expect(Object.keys(ok).sort()).toEqual(['branding', 'e2eKey', 'rpId', 'tenantId', 'webPush']);
    // Web Push is optional: a deployment without VAPID_KEYS answers the config without it (docs/push.md).
    const noPush = await fetchAs({ VAPID_KEYS: undefined }, `https://custos.test/sdk/v1/config?tenant=${tenant.id}`);
    expect(noPush.status).toBe(200);
    expect(Object.keys(await noPush.json<Record<string, unknown>>()).sort()).toEqual(['branding', 'e2eKey', 'rpId', 'tenantId']);
    await expectProblem(await fetchAs({ E2E_KEYS: undefined }, `https://custos.test/sdk/v1/config?tenant=${tenant.id}`), 503, 'E2E_KEYS_NOT_CONFIGURED');
  });
});

describe('/healthz checks what a request needs', () => {
  it('ready: every check ok, migrations at the newest this code knows', async () => {
    const res = await fetchAs({}, 'https://custos.test/healthz');
    expect(res.status).toBe(200);
    const body = await res.json<Health>();
    expect(body.status).toBe('ok');
    expect(Object.keys(body.checks).sort()).toEqual(['adminToken', 'database', 'e2eKeys', 'migrations', 'publicUrl', 'signingKeys']);
    expect(body.checks['migrations']!.detail).toContain(LATEST_MIGRATION);
  });

  it('LATEST_MIGRATION is the newest file in migrations/', () => {
    const names = (env as unknown as { TEST_MIGRATIONS: { name: string }[] }).TEST_MIGRATIONS.map((m) => m.name).sort();
    expect(names.at(-1)).toBe(LATEST_MIGRATION);
  });

  it('no operator token → not ready, naming adminToken; the admin API stays closed', async () => {
    const res = await fetchAs({ ADMIN_TOKEN: undefined }, 'https://custos.test/healthz');
    expect(res.status).toBe(503);
    expect((await res.json<Health>()).missing).toEqual(['adminToken']);
    await expectProblem(await fetchAs({ ADMIN_TOKEN: undefined }, 'https://custos.test/admin/v1/tenants', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), 401, 'UNAUTHENTICATED');
  });

  it('a database without the schema: /healthz names the command; an API call answers 503 MIGRATIONS_PENDING, not 500', async () => {
    // A database with no tables: a second D1 binding the tests never migrate (vitest.config.ts).
    const fresh = (env as unknown as { EMPTY_DB?: D1Database }).EMPTY_DB ?? null;
    expect(fresh).not.toBeNull();
    const ctx = createExecutionContext();
    const health = await app.fetch(new Request('http://localhost:8787/healthz'), { ...env, PUBLIC_URL: undefined, DB: fresh! }, ctx);
    await waitOnExecutionContext(ctx);
    expect(health.status).toBe(503);
    const body = await health.json<Health>();
    expect(body.missing).toContain('migrations');
    expect(body.checks['migrations']!.detail).toContain('npx wrangler d1 migrations apply custos --local');
    const ctx2 = createExecutionContext();
    const call = await app.fetch(new Request('http://localhost:8787/admin/v1/tenants', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), { ...env, PUBLIC_URL: undefined, DB: fresh! }, ctx2);
    await waitOnExecutionContext(ctx2);
    const problem = await expectProblem(call, 503, 'MIGRATIONS_PENDING');
    expect(problem.detail).toContain('wrangler d1 migrations apply custos');
  });
});

describe('startOperation helper still works through the configured origin', () => {
  it('an operation started normally has a sdk.url under PUBLIC_URL', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    expect(new URL(op.sdk.url).origin).toBe('https://custos.test');
  });
});
