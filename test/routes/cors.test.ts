// CORS: relying-party pages on their own origins may call /sdk/v1 and load the SDK bundle; only their tenant's allowed origins, nothing else.
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { adminFetch, expectProblem, setupTenant, workerFetch } from '../helpers/api';
import type { TenantJson } from '../helpers/api';
import { createUser, getOperation, newAuthenticator, startOperation } from '../helpers/ceremony';

const SHOP = 'https://shop.example';
const BANK = 'https://bank.example';

function preflight(path: string, origin: string, method = 'POST'): Promise<Response> {
  return workerFetch(path, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' },
  });
}

function sdkCall(path: string, init: { origin?: string; token?: string; body?: unknown; method?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.origin) headers['origin'] = init.origin;
  if (init.token) headers['authorization'] = `Bearer ${init.token}`;
  return workerFetch(path, { method: init.method ?? 'POST', headers, ...(init.method === 'GET' ? {} : { body: JSON.stringify(init.body ?? {}) }) });
}

describe('allowed web origins (admin API)', () => {
  it('default to the passkey origins; can be set, replaced, and reset with null (merge patch)', async () => {
    const { tenant } = await setupTenant({ origins: [SHOP] });
    expect((tenant as TenantJson & { allowedOrigins: string[] }).allowedOrigins).toEqual([SHOP]);
    const set = await adminFetch(`/admin/v1/tenants/${tenant.id}`, { method: 'PATCH', json: { allowedOrigins: [BANK, 'http://localhost:5173'] } });
    expect(set.status).toBe(200);
    expect((await set.json<{ allowedOrigins: string[] }>()).allowedOrigins).toEqual([BANK, 'http://localhost:5173']);
    expect((await preflight('/sdk/v1/config', BANK, 'GET')).status).toBe(204);
    expect((await preflight('/sdk/v1/config', SHOP, 'GET')).status).toBe(403);
    const reset = await adminFetch(`/admin/v1/tenants/${tenant.id}`, { method: 'PATCH', json: { allowedOrigins: null } });
    expect((await reset.json<{ allowedOrigins: string[] }>()).allowedOrigins).toEqual([SHOP]);
    expect((await preflight('/sdk/v1/config', BANK, 'GET')).status).toBe(403);
  });

  it('refuses what is not an origin (400 VALIDATION_FAILED, tenant unchanged)', async () => {
    const { tenant } = await setupTenant({ origins: [SHOP] });
    for (const bad of ['http://shop.example', 'https://shop.example/path', 'null', '*', 'https://user@shop.example', 'javascript:alert(1)']) {
      const res = await adminFetch(`/admin/v1/tenants/${tenant.id}`, { method: 'PATCH', json: { allowedOrigins: [bad] } });
      const problem = await expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(problem.invalidParams?.[0]?.name).toMatch(/^allowedOrigins/);
    }
    // The same parser guards the passkey origins: a non-URL was a 500 before.
    await expectProblem(await adminFetch(`/admin/v1/tenants/${tenant.id}`, { method: 'PATCH', json: { origins: ['null'] } }), 400, 'VALIDATION_FAILED');
    expect((await (await adminFetch(`/admin/v1/tenants/${tenant.id}`)).json<{ allowedOrigins: string[] }>()).allowedOrigins).toEqual([SHOP]);
  });
});

describe('/sdk/v1 from a relying party page on another origin', () => {
  it('a preflight from an allowed origin answers 204 with exactly that origin, the methods and headers the SDK sends', async () => {
    await setupTenant({ origins: [SHOP] });
    const res = await preflight('/sdk/v1/operations/op_00000000000000000000000000000000/start', SHOP);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toContain('Origin');
  });

  it('a preflight from an origin no tenant allows → 403 ORIGIN_NOT_ALLOWED without any CORS header', async () => {
    await setupTenant({ origins: [SHOP] });
    for (const origin of ['https://evil.example', 'null', 'https://shop.example.evil.example', 'https://SHOP.example', `${SHOP}:8443`]) {
      const res = await preflight('/sdk/v1/operations/op_00000000000000000000000000000000/start', origin);
      await expectProblem(res, 403, 'ORIGIN_NOT_ALLOWED');
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('a whole ceremony from the allowed origin: every answer carries Access-Control-Allow-Origin for it', async () => {
    const { api } = await setupTenant({ origins: [SHOP], rpId: 'shop.example' });
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    const start = await sdkCall(`/sdk/v1/operations/${op.id}/start`, { origin: SHOP, token: op.sdk.token });
    expect(start.status).toBe(200);
    expect(start.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(start.headers.get('access-control-expose-headers')).toContain('x-trace-id');
    const { publicKey } = await start.json<{ publicKey: unknown }>();
    const authenticator = await newAuthenticator({ rpId: 'shop.example', origin: SHOP });
    const finish = await sdkCall(`/sdk/v1/operations/${op.id}/finish`, { origin: SHOP, token: op.sdk.token, body: { credential: await authenticator.register(publicKey as never) } });
    expect(finish.status, await finish.clone().text()).toBe(200);
    expect(finish.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect((await getOperation(api, op.id)).status).toBe('COMPLETED');
  });

  it('an origin another tenant allows cannot act on this tenant’s operation: 403, the operation stays PENDING', async () => {
    const { api } = await setupTenant({ origins: [SHOP] });
    await setupTenant({ origins: [BANK] });
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    for (const action of ['start', 'reject', 'finish']) {
      const res = await sdkCall(`/sdk/v1/operations/${op.id}/${action}`, { origin: BANK, token: op.sdk.token, body: action === 'finish' ? { credential: {} } : {} });
      await expectProblem(res, 403, 'ORIGIN_NOT_ALLOWED');
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
    expect((await getOperation(api, op.id)).status).toBe('PENDING');
    // And GET /sdk/v1/config of this tenant from that origin.
    const { tenant } = await setupTenant({ origins: [SHOP] });
    await expectProblem(await sdkCall(`/sdk/v1/config?tenant=${tenant.id}`, { origin: BANK, method: 'GET' }), 403, 'ORIGIN_NOT_ALLOWED');
    const ok = await sdkCall(`/sdk/v1/config?tenant=${tenant.id}`, { origin: SHOP, method: 'GET' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(SHOP);
  });

  it('same-origin calls (the authenticator app on PUBLIC_URL) and calls without Origin (native, servers) need no CORS', async () => {
    const { api, tenant } = await setupTenant({ origins: [SHOP] });
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    const same = await sdkCall(`/sdk/v1/operations/${op.id}/start`, { origin: 'https://custos.test', token: op.sdk.token });
    expect(same.status).toBe(200);
    expect(same.headers.get('access-control-allow-origin')).toBeNull();
    const none = await sdkCall(`/sdk/v1/config?tenant=${tenant.id}`, { method: 'GET' });
    expect(none.status).toBe(200);
  });

  it('the SDK bundle answers CORS for an origin some tenant allows, and nothing for others', async () => {
    await setupTenant({ origins: [SHOP] });
    const allowed = await SELF.fetch('https://custos.test/sdk/custos.js', { headers: { origin: SHOP } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe(SHOP);
    const refused = await SELF.fetch('https://custos.test/sdk/custos.js', { headers: { origin: 'https://evil.example' } });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    const pre = await preflight('/sdk/custos.js', SHOP, 'GET');
    expect(pre.status).toBe(204);
  });
});

describe('/v1, /admin and /oauth are server to server: no CORS at all', () => {
  it('preflights and calls from a browser origin get no Access-Control-Allow-Origin, even an origin a tenant allows', async () => {
    const { token } = await setupTenant({ origins: [SHOP] });
    for (const path of ['/v1/users', '/admin/v1/tenants', '/oauth/token', '/v1/operations']) {
      const pre = await preflight(path, SHOP);
      expect(pre.headers.get('access-control-allow-origin'), path).toBeNull();
      expect(pre.status).not.toBe(204);
    }
    const call = await workerFetch('/v1/users', { headers: { origin: SHOP, authorization: `Bearer ${token}` } });
    expect(call.status).toBe(200);
    expect(call.headers.get('access-control-allow-origin')).toBeNull();
  });
});
