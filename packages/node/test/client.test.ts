// createCustosClient against an in-process stand-in for the Custos server: token fetching, caching, refresh, the one retry after 401, secrecy.
import { inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCustosClient, CustosAuthError } from '../src/client.js';

const CLIENT_ID = 'cli_unit';
const CLIENT_SECRET = 'cs_s3cret:with spaces&symbols';

interface Seen {
  method: string;
  path: string;
  authorization: string | null;
  body: string;
}

/** A server that issues numbered tokens, accepts only the current one, and records what it saw. */
function server(options: { expiresIn?: number; tokenStatus?: number } = {}): { fetch: (request: Request) => Promise<Response>; seen: Seen[]; revoke: () => void } {
  const seen: Seen[] = [];
  let issued = 0;
  let valid = '';
  const fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const body = await request.text();
    seen.push({ method: request.method, path: url.pathname, authorization: request.headers.get('authorization'), body });
    if (url.pathname === '/oauth/token') {
      if (options.tokenStatus) {
        return Response.json({ type: 'about:blank', title: 'no', status: options.tokenStatus, code: 'INVALID_CLIENT', traceId: 'tr_1' }, { status: options.tokenStatus });
      }
      issued += 1;
      valid = `at_${issued}`;
      return Response.json({ access_token: valid, token_type: 'Bearer', expires_in: options.expiresIn ?? 3600, scope: new URLSearchParams(body).get('scope') ?? 'users operations' });
    }
    if (request.headers.get('authorization') !== `Bearer ${valid}`) return Response.json({ code: 'UNAUTHORIZED' }, { status: 401 });
    if (url.pathname === '/v1/users' && request.method === 'POST') return Response.json({ id: 'usr_1', ...(JSON.parse(body) as object) }, { status: 201 });
    return Response.json({ path: url.pathname }, { status: 200 });
  };
  return { fetch, seen, revoke: () => (valid = 'revoked') };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('createCustosClient', () => {
  it('gets a client-credentials token over HTTP Basic (RFC 6749 §2.3.1 encoding) with the scope, and sends it as Bearer', async () => {
    const api = server();
    const client = createCustosClient({ baseUrl: 'https://custos.test/', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, scope: ['users', 'operations'], fetch: api.fetch });

    const { data, response } = await client.POST('/v1/users', { body: { externalRef: 'customer-42' } });

    expect(response.status).toBe(201);
    expect(data?.id).toBe('usr_1');
    const [tokenRequest, call] = api.seen;
    expect(tokenRequest).toMatchObject({ method: 'POST', path: '/oauth/token' });
    const [id, secret] = atob(tokenRequest!.authorization!.replace(/^Basic /, '')).split(':').map((part) => decodeURIComponent(part.replace(/\+/g, ' ')));
    expect([id, secret]).toEqual([CLIENT_ID, CLIENT_SECRET]);
    expect(Object.fromEntries(new URLSearchParams(tokenRequest!.body))).toEqual({ grant_type: 'client_credentials', scope: 'users operations' });
    expect(call).toMatchObject({ method: 'POST', path: '/v1/users', authorization: 'Bearer at_1' });
    expect(JSON.parse(call!.body)).toEqual({ externalRef: 'customer-42' });
  });

  it('caches the token: concurrent and later calls share one token request', async () => {
    const api = server();
    const client = createCustosClient({ baseUrl: 'https://custos.test', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, fetch: api.fetch });
    await Promise.all([client.GET('/v1/users'), client.GET('/v1/users'), client.GET('/v1/audit-events')]);
    await client.GET('/v1/users');
    expect(api.seen.filter((s) => s.path === '/oauth/token')).toHaveLength(1);
    expect(api.seen.filter((s) => s.path !== '/oauth/token').every((s) => s.authorization === 'Bearer at_1')).toBe(true);
  });

  it('replaces the token shortly before expires_in runs out', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-03-01T12:00:00Z'));
    const api = server({ expiresIn: 300 });
    const client = createCustosClient({ baseUrl: 'https://custos.test', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, fetch: api.fetch });
    await client.GET('/v1/users');
    vi.setSystemTime(new Date('2026-03-01T12:04:00Z')); // 240 s: still well inside
    await client.GET('/v1/users');
    expect(api.seen.filter((s) => s.path === '/oauth/token')).toHaveLength(1);
    vi.setSystemTime(new Date('2026-03-01T12:04:31Z')); // 271 s: within the 30 s leeway
    await client.GET('/v1/users');
    expect(api.seen.filter((s) => s.path === '/oauth/token')).toHaveLength(2);
    expect(api.seen.at(-1)?.authorization).toBe('Bearer at_2');
  });

  it('after a 401 fetches a new token and sends the request (body included) once more; a second 401 is the answer', async () => {
    const api = server();
    const client = createCustosClient({ baseUrl: 'https://custos.test', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, fetch: api.fetch });
    await client.GET('/v1/users');
    api.revoke();

    const retried = await client.POST('/v1/users', { body: { externalRef: 'after-revoke' } });
    expect(retried.response.status).toBe(201);
    expect(retried.data?.externalRef).toBe('after-revoke');
    expect(api.seen.map((s) => `${s.path} ${s.authorization}`)).toEqual([
      '/oauth/token ' + api.seen[0]!.authorization, '/v1/users Bearer at_1', '/v1/users Bearer at_1', '/oauth/token ' + api.seen[0]!.authorization, '/v1/users Bearer at_2',
    ]);
    expect(JSON.parse(api.seen.at(-1)!.body)).toEqual({ externalRef: 'after-revoke' });

    // A server that refuses every token: one retry, then the 401 goes to the caller, no loop.
    const refusing = server();
    const stuck = createCustosClient({
      baseUrl: 'https://custos.test', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET,
      fetch: async (request) => (new URL(request.url).pathname === '/oauth/token' ? refusing.fetch(request) : Response.json({ code: 'UNAUTHORIZED' }, { status: 401 })),
    });
    const { response } = await stuck.GET('/v1/users');
    expect(response.status).toBe(401);
  });

  it('leaves a caller-supplied Authorization (the admin token) alone and asks for no token', async () => {
    const api = server();
    const client = createCustosClient({ baseUrl: 'https://custos.test', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, fetch: api.fetch });
    await client.GET('/admin/v1/tenants', { headers: { authorization: 'Bearer admin-token' } });
    expect(api.seen).toEqual([expect.objectContaining({ path: '/admin/v1/tenants', authorization: 'Bearer admin-token' })]);
  });

  it('a refused token request throws CustosAuthError with status, code and traceId, and never shows the secret', async () => {
    const api = server({ tokenStatus: 401 });
    const client = createCustosClient({ baseUrl: 'https://custos.test', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, fetch: api.fetch });
    const error = (await client.GET('/v1/users').catch((e: unknown) => e)) as CustosAuthError;
    expect(error).toBeInstanceOf(CustosAuthError);
    expect(error).toMatchObject({ status: 401, code: 'INVALID_CLIENT', traceId: 'tr_1' });
    const basic = btoa(`${CLIENT_ID}:${encodeURIComponent(CLIENT_SECRET)}`);
    for (const shown of [error.message, inspect(error, { depth: 5 }), inspect(client, { depth: 5, showHidden: true })]) {
      expect(shown).not.toContain(CLIENT_SECRET);
      expect(shown).not.toContain(encodeURIComponent(CLIENT_SECRET));
      expect(shown).not.toContain(basic.slice(0, 20));
    }

    const unreachable = createCustosClient({ baseUrl: 'https://custos.test', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, fetch: () => Promise.reject(new TypeError('fetch failed')) });
    const network = (await unreachable.GET('/v1/users').catch((e: unknown) => e)) as CustosAuthError;
    expect(network).toBeInstanceOf(CustosAuthError);
    expect(network.message).toBe('POST /oauth/token did not reach https://custos.test');
  });
});
