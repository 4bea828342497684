// POST /oauth/token: client credentials (RFC 6749 §4.4), scope narrowing, §5.2 error shape; and how /v1 treats the tokens.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { setTokenExpiry, storedTokens } from '../helpers/access-tokens';
import { adminFetch, apiWith, basicAuth, countRows, createClient, createTenant, expectProblem, getToken, setupTenant, sha256Hex, workerFetch } from '../helpers/api';

function tokenRequest(form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return workerFetch('/oauth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

async function expectOAuthError(res: Response, status: 400 | 401, error: string): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const body = JSON.parse(text) as Record<string, unknown>;
  // RFC 6749 §5.2: { error, error_description }, not a problem document.
  expect(body.error).toBe(error);
  expect(typeof body.error_description).toBe('string');
  expect(body).not.toHaveProperty('code');
  if (status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
}

describe('POST /oauth/token', () => {
  it('RFC 6749 §4.4: HTTP Basic client credentials → Bearer token with all the client scopes', async () => {
    const tenant = await createTenant();
    const client = await createClient(tenant.id);
    const res = await tokenRequest({ grant_type: 'client_credentials' }, { authorization: basicAuth(client) });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json<{ access_token: string; token_type: string; expires_in: number; scope: string }>();
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBeGreaterThan(0);
    expect(body.scope.split(' ').sort()).toEqual(['audit', 'devices', 'operations', 'users']);
    // Stored only as its SHA-256 hash, in the client's own object; it names the client after its secret part.
    expect(body.access_token).toMatch(new RegExp(`^cat_[A-Za-z0-9_-]{43}\\.${client.clientId}$`));
    const stored = await storedTokens(client.clientId);
    expect(stored.map((t) => t.token_hash)).toEqual([await sha256Hex(body.access_token)]);
    expect(JSON.stringify(stored)).not.toContain(body.access_token.split('.')[0]);
    expect((await apiWith(body.access_token)('/v1/users')).status).toBe(200);
  });

  it('RFC 6749 §2.3.1: client_secret_post works as well', async () => {
    const tenant = await createTenant();
    const client = await createClient(tenant.id);
    const res = await tokenRequest({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret });
    expect(res.status).toBe(200);
    const { access_token } = await res.json<{ access_token: string }>();
    expect((await apiWith(access_token)('/v1/users')).status).toBe(200);
  });

  it('API.md §1: a scope parameter narrows the token to a subset of the client scopes', async () => {
    const tenant = await createTenant();
    const client = await createClient(tenant.id);
    const res = await tokenRequest({ grant_type: 'client_credentials', scope: 'audit users' }, { authorization: basicAuth(client) });
    expect(res.status).toBe(200);
    const body = await res.json<{ access_token: string; scope: string }>();
    expect(body.scope.split(' ').sort()).toEqual(['audit', 'users']);
    const api = apiWith(body.access_token);
    expect((await api('/v1/users')).status).toBe(200);
    expect((await api('/v1/audit-events')).status).toBe(200);
  });

  it('API.md §1: a client created with fewer scopes gets a token with only those', async () => {
    const tenant = await createTenant();
    const client = await createClient(tenant.id, { scopes: ['audit'] });
    const token = await getToken(client);
    await expectProblem(await apiWith(token)('/v1/users'), 403, 'INSUFFICIENT_SCOPE');
    expect((await apiWith(token)('/v1/audit-events')).status).toBe(200);
  });

  it('RFC 6749 §5.2: a scope beyond the client → 400 invalid_scope, no token issued', async () => {
    const tenant = await createTenant();
    const client = await createClient(tenant.id, { scopes: ['users'] });
    const before = (await storedTokens(client.clientId)).length;
    await expectOAuthError(await tokenRequest({ grant_type: 'client_credentials', scope: 'users audit' }, { authorization: basicAuth(client) }), 400, 'invalid_scope');
    await expectOAuthError(await tokenRequest({ grant_type: 'client_credentials', scope: 'admin' }, { authorization: basicAuth(client) }), 400, 'invalid_scope');
    await expectOAuthError(await tokenRequest({ grant_type: 'client_credentials', scope: '' }, { authorization: basicAuth(client) }), 400, 'invalid_scope');
    expect(await storedTokens(client.clientId)).toHaveLength(before);
  });

  it('RFC 6749 §5.2: another grant type → 400 unsupported_grant_type', async () => {
    const tenant = await createTenant();
    const client = await createClient(tenant.id);
    await expectOAuthError(await tokenRequest({ grant_type: 'password', username: 'a', password: 'b' }, { authorization: basicAuth(client) }), 400, 'unsupported_grant_type');
    await expectOAuthError(await tokenRequest({}, { authorization: basicAuth(client) }), 400, 'unsupported_grant_type');
    expect(await storedTokens(client.clientId)).toHaveLength(0);
  });

  it('RFC 6749 §5.2: a wrong secret, an unknown client or no credentials → 401 invalid_client with a Basic challenge', async () => {
    const tenant = await createTenant();
    const client = await createClient(tenant.id);
    await expectOAuthError(
      await tokenRequest({ grant_type: 'client_credentials' }, { authorization: basicAuth({ clientId: client.clientId, clientSecret: `${client.clientSecret}x` }) }),
      401,
      'invalid_client',
    );
    await expectOAuthError(
      await tokenRequest({ grant_type: 'client_credentials' }, { authorization: basicAuth({ clientId: 'cli_unknown', clientSecret: client.clientSecret }) }),
      401,
      'invalid_client',
    );
    await expectOAuthError(await tokenRequest({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: 'cs_wrong' }), 401, 'invalid_client');
    await expectOAuthError(await tokenRequest({ grant_type: 'client_credentials' }), 401, 'invalid_client');
    await expectOAuthError(await tokenRequest({ grant_type: 'client_credentials' }, { authorization: 'Basic !!!' }), 401, 'invalid_client');
    expect(await storedTokens(client.clientId)).toHaveLength(0);
  });

  it('RFC 6749 §2.3: Basic and client_secret_post together → 400 invalid_request', async () => {
    const tenant = await createTenant();
    const client = await createClient(tenant.id);
    await expectOAuthError(
      await tokenRequest({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }, { authorization: basicAuth(client) }),
      400,
      'invalid_request',
    );
  });

  it('RFC 6749 §4.4.2: a body that is not form-urlencoded → 400 invalid_request', async () => {
    const tenant = await createTenant();
    const client = await createClient(tenant.id);
    const res = await workerFetch('/oauth/token', {
      method: 'POST',
      headers: { authorization: basicAuth(client), 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials' }),
    });
    await expectOAuthError(res, 400, 'invalid_request');
  });

  it('API.md §1: a revoked client gets no new token (401 invalid_client)', async () => {
    const { tenant, client } = await setupTenant();
    expect((await adminFetch(`/admin/v1/tenants/${tenant.id}/clients/${client.clientId}`, { method: 'DELETE' })).status).toBe(204);
    await expectOAuthError(await tokenRequest({ grant_type: 'client_credentials' }, { authorization: basicAuth(client) }), 401, 'invalid_client');
  });
});

describe('bearer tokens on /v1', () => {
  it('API.md §1: no Authorization header → 401 UNAUTHENTICATED', async () => {
    await setupTenant();
    await expectProblem(await workerFetch('/v1/users'), 401, 'UNAUTHENTICATED');
    await expectProblem(await workerFetch('/v1/users', { headers: { authorization: 'Basic abc' } }), 401, 'UNAUTHENTICATED');
  });

  it('API.md §1: a forged token → 401 UNAUTHENTICATED, and a POST with it writes nothing', async () => {
    const { tenant } = await setupTenant();
    const forged = apiWith('cat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await expectProblem(await forged('/v1/users'), 401, 'UNAUTHENTICATED');
    await expectProblem(await forged('/v1/users', { method: 'POST', json: { externalRef: 'forged' } }), 401, 'UNAUTHENTICATED');
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(0);
  });

  it('API.md §1: an expired token → 401 UNAUTHENTICATED, nothing written', async () => {
    const { tenant, client, token, api } = await setupTenant();
    expect((await api('/v1/users')).status).toBe(200);
    await setTokenExpiry(client.clientId, await sha256Hex(token), Math.floor(Date.now() / 1000) - 1);
    await expectProblem(await api('/v1/users'), 401, 'UNAUTHENTICATED');
    await expectProblem(await api('/v1/users', { method: 'POST', json: {} }), 401, 'UNAUTHENTICATED');
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(0);
  });

  it("API.md §1: a revoked client's tokens stop working at once", async () => {
    const { tenant, client, api } = await setupTenant();
    const other = await getToken(client, 'users');
    expect((await api('/v1/users')).status).toBe(200);
    expect((await adminFetch(`/admin/v1/tenants/${tenant.id}/clients/${client.clientId}`, { method: 'DELETE' })).status).toBe(204);
    await expectProblem(await api('/v1/users'), 401, 'UNAUTHENTICATED');
    await expectProblem(await apiWith(other)('/v1/users', { method: 'POST', json: {} }), 401, 'UNAUTHENTICATED');
    expect(await storedTokens(client.clientId)).toHaveLength(0);
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(0);
  });

  it('a token moved onto another client, stripped of its client, or of a revoked client fails; nothing is written', async () => {
    const { tenant, token, api } = await setupTenant();
    const other = await createClient(tenant.id);
    const secretPart = token.slice(0, token.lastIndexOf('.'));
    await expectProblem(await apiWith(`${secretPart}.${other.clientId}`)('/v1/users'), 401, 'UNAUTHENTICATED');
    await expectProblem(await apiWith(secretPart)('/v1/users'), 401, 'UNAUTHENTICATED');
    await expectProblem(await apiWith(`${secretPart}.cli_nonsense`)('/v1/users', { method: 'POST', json: {} }), 401, 'UNAUTHENTICATED');
    expect((await api('/v1/users')).status).toBe(200);
    // Revoked: no new token either, even with the right secret.
    expect((await adminFetch(`/admin/v1/tenants/${tenant.id}/clients/${other.clientId}`, { method: 'DELETE' })).status).toBe(204);
    await expectOAuthError(await tokenRequest({ grant_type: 'client_credentials' }, { authorization: basicAuth(other) }), 401, 'invalid_client');
    expect(await storedTokens(other.clientId)).toHaveLength(0);
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(0);
  });

  it('API.md §1: a token lacking the route scope → 403 INSUFFICIENT_SCOPE, nothing written', async () => {
    const { tenant, client } = await setupTenant();
    const auditOnly = apiWith(await getToken(client, 'audit'));
    await expectProblem(await auditOnly('/v1/users'), 403, 'INSUFFICIENT_SCOPE');
    await expectProblem(await auditOnly('/v1/users', { method: 'POST', json: { externalRef: 'no-scope' } }), 403, 'INSUFFICIENT_SCOPE');
    const usersOnly = apiWith(await getToken(client, 'users'));
    await expectProblem(await usersOnly('/v1/audit-events'), 403, 'INSUFFICIENT_SCOPE');
    await expectProblem(await usersOnly('/v1/audit-events/verify'), 403, 'INSUFFICIENT_SCOPE');
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(0);
  });
});
