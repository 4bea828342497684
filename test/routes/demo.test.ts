// The demo relying party (src/routes/demo.ts): off unless DEMO=true, bootstrap through the admin API, /v1 calls with a real token.
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { ADMIN_TOKEN, countRows, expectProblem, sha256Hex, workerFetch } from '../helpers/api';
import { ORIGIN, sdkFetch, sdkStart } from '../helpers/ceremony';
import { SoftAuthenticator } from '../helpers/soft-authenticator';

interface DemoInit extends RequestInit {
  json?: unknown;
  /** The origin the page was opened on; http://localhost:8787 as with `npm run dev`. */
  origin?: string;
  demo?: boolean;
}

/** Calls the worker with DEMO switched on (as `npm run dev` runs it) unless `demo: false`. */
async function demoFetch(path: string, init: DemoInit = {}): Promise<Response> {
  const { json, origin = ORIGIN, demo = true, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (json !== undefined) headers.set('content-type', 'application/json');
  const request = new Request(`${origin}${path}`, { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
  const ctx = createExecutionContext();
  // As `npm run dev` runs it: local development, no PUBLIC_URL, the page's loopback origin stands in.
  const response = await app.fetch(request, { ...env, PUBLIC_URL: undefined, DEMO: demo ? 'true' : 'false' }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

interface DemoState {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  created: boolean;
}

async function bootstrap(origin = ORIGIN): Promise<DemoState> {
  const res = await demoFetch('/demo/api/bootstrap', { method: 'POST', headers: admin, origin });
  expect([200, 201], await res.clone().text()).toContain(res.status);
  return res.json<DemoState>();
}

beforeEach(async () => {
  // One demo tenant per database: each test starts from "never bootstrapped".
  await env.DB.prepare('DELETE FROM demo_state').run();
});

describe('DEMO off (production)', () => {
  it.each(['/demo/api/config', '/demo/demo.js', '/demo/api/qr?data=x'])('GET %s is a plain 404 problem', async (path) => {
    await expectProblem(await demoFetch(path, { demo: false }), 404, 'NOT_FOUND');
  });

  it('POST /demo/api/bootstrap is a 404 even with the operator token, and creates nothing', async () => {
    const tenants = await countRows('tenants');
    await expectProblem(await demoFetch('/demo/api/bootstrap', { method: 'POST', headers: admin, demo: false }), 404, 'NOT_FOUND');
    expect(await countRows('tenants')).toBe(tenants);
    expect(await countRows('demo_state')).toBe(0);
  });

  it('the worker as deployed (wrangler.toml DEMO=false) answers / with 404', async () => {
    await expectProblem(await workerFetch('/'), 404, 'NOT_FOUND');
  });

  it('plain wrangler dev (local development, no demo): / is a landing page; on 127.0.0.1 it says to open localhost', async () => {
    const page = await demoFetch('/', { demo: false, origin: 'http://127.0.0.1:8787' });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('Open <a href="http://localhost:8787/">');
    expect(html).toContain('href="http://localhost:8787/docs"');
    const onLocalhost = await (await demoFetch('/', { demo: false })).text();
    expect(onLocalhost).not.toContain('passkeys need a domain name');
    // The page leaks nothing secret: the operator token is only named.
    expect(html).not.toMatch(/test-admin-token/);
  });
});

describe('POST /demo/api/bootstrap', () => {
  it('needs the operator token: without it 401 and no tenant is created', async () => {
    const tenants = await countRows('tenants');
    await expectProblem(await demoFetch('/demo/api/bootstrap', { method: 'POST' }), 401, 'UNAUTHENTICATED');
    await expectProblem(await demoFetch('/demo/api/bootstrap', { method: 'POST', headers: { authorization: 'Bearer wrong-token-0123456789' } }), 401, 'UNAUTHENTICATED');
    expect(await countRows('tenants')).toBe(tenants);
    expect(await countRows('demo_state')).toBe(0);
  });

  it('creates the Demo Bank tenant (rpId = the hostname, both loopback origins) and a client once, then returns the same', async () => {
    const tenants = await countRows('tenants');
    const first = await bootstrap('http://localhost:8791');
    expect(first.created).toBe(true);
    expect(first.tenantId).toMatch(/^ten_/);
    expect(first.clientSecret.length).toBeGreaterThan(20);
    const again = await bootstrap('http://localhost:8791');
    expect(again).toEqual({ ...first, created: false });
    expect(await countRows('tenants')).toBe(tenants + 1);

    const tenant = await (await workerFetch(`/admin/v1/tenants/${first.tenantId}`, { headers: admin })).json<Record<string, unknown>>();
    expect(tenant).toMatchObject({ name: 'Demo Bank', rpId: 'localhost', origins: ['http://localhost:8791', 'http://127.0.0.1:8791'] });
    expect(tenant['branding']).toMatchObject({ name: 'Demo Bank', primaryColor: '#0b5fff', logoUrl: 'http://localhost:8791/demo/logo.svg' });
  });

  it('on 127.0.0.1 still uses rpId localhost (WebAuthn: an IP address is not a valid rpId)', async () => {
    const state = await bootstrap('http://127.0.0.1:8787');
    const tenant = await (await workerFetch(`/admin/v1/tenants/${state.tenantId}`, { headers: admin })).json<{ rpId: string; origins: string[] }>();
    expect(tenant.rpId).toBe('localhost');
    expect(tenant.origins.sort()).toEqual(['http://127.0.0.1:8787', 'http://localhost:8787']);
  });
});

describe('the demo backend drives /v1 with the demo client', () => {
  it('GET /demo/api/config bootstraps on first use and names the tenant', async () => {
    const res = await demoFetch('/demo/api/config');
    expect(res.status).toBe(200);
    const config = await res.json<{ tenantId: string; name: string; rpId: string }>();
    const row = await env.DB.prepare('SELECT tenant_id FROM demo_state').first<{ tenant_id: string }>();
    expect(config).toEqual({ tenantId: row?.tenant_id, name: 'Demo Bank', rpId: 'localhost' });
  });

  it('POST /demo/api/users creates the user once (externalRef = name) and returns the same user next time', async () => {
    const state = await bootstrap();
    const first = await demoFetch('/demo/api/users', { method: 'POST', json: { name: 'erin' } });
    expect(first.status).toBe(201);
    const { user, devices } = await first.json<{ user: { id: string; externalRef: string }; devices: unknown[] }>();
    expect(user.externalRef).toBe('erin');
    expect(devices).toEqual([]);
    const second = await demoFetch('/demo/api/users', { method: 'POST', json: { name: 'erin' } });
    expect(second.status).toBe(200);
    expect((await second.json<{ user: { id: string } }>()).user.id).toBe(user.id);
    expect(await countRows('users', 'tenant_id = ?1 AND external_ref = ?2', state.tenantId, 'erin')).toBe(1);
  });

  it('refuses a bad body with 400 VALIDATION_FAILED and starts nothing', async () => {
    await bootstrap();
    const operations = await countRows('operations');
    await expectProblem(await demoFetch('/demo/api/users', { method: 'POST', json: { name: '' } }), 400, 'VALIDATION_FAILED');
    await expectProblem(await demoFetch('/demo/api/operations', { method: 'POST', json: { type: 'PAYOUT', userId: 'usr_x' } }), 400, 'VALIDATION_FAILED');
    await expectProblem(await demoFetch('/demo/api/operations', { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } }), 400, 'MALFORMED_JSON');
    expect(await countRows('operations')).toBe(operations);
  });

  it('relays the API problem for an amount the API refuses (PSD2 amounts are decimal strings > 0), nothing started', async () => {
    await bootstrap();
    const { user } = await (await demoFetch('/demo/api/users', { method: 'POST', json: { name: 'frank' } })).json<{ user: { id: string } }>();
    const operations = await countRows('operations');
    const res = await demoFetch('/demo/api/operations', {
      method: 'POST', json: { type: 'AUTHORISATION', userId: user.id, amount: '-5', currency: 'EUR', payee: 'ACME' },
    });
    await expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(await countRows('operations')).toBe(operations);
  });

  it('runs register → sign in → pay → sign, and checks each result token as a relying party must (iss, aud, typ, jti, sub, txn, doc)', async () => {
    const state = await bootstrap();
    const { user } = await (await demoFetch('/demo/api/users', { method: 'POST', json: { name: 'grace' } })).json<{ user: { id: string } }>();
    const authenticator = await SoftAuthenticator.create({ rpId: 'localhost', origin: ORIGIN });

    const started = async (body: Record<string, unknown>): Promise<{ id: string; type: string; sdk: { token: string; url: string } } & Record<string, unknown>> => {
      const res = await demoFetch('/demo/api/operations', { method: 'POST', json: { ...body, userId: user.id } });
      expect(res.status, await res.clone().text()).toBe(201);
      return res.json();
    };
    const outcome = async (id: string): Promise<{ operation: { status: string }; resultToken?: { valid: boolean; checks: Array<{ check: string; ok: boolean }>; header: Record<string, unknown>; claims: Record<string, unknown> } }> =>
      (await demoFetch(`/demo/api/operations/${id}?wait=5`)).json();

    const registration = await started({ type: 'REGISTRATION' });
    expect(registration.sdk.url).toBe(`${ORIGIN}/app/#op=${registration.id}&token=${encodeURIComponent(registration.sdk.token)}&tenant=${state.tenantId}`);
    const creation = await sdkStart(registration);
    expect((await sdkFetch(registration, 'finish', { credential: await authenticator.register(creation.publicKey as never) })).status).toBe(200);
    const registered = await outcome(registration.id);
    expect(registered.operation.status).toBe('COMPLETED');
    expect(registered.resultToken?.valid).toBe(true);

    const login = await started({ type: 'AUTHENTICATION' });
    const loginStart = await sdkStart(login);
    await sdkFetch(login, 'finish', { credential: await authenticator.assert(loginStart.publicKey as never) });
    const loggedIn = await outcome(login.id);
    expect(loggedIn.resultToken?.valid).toBe(true);
    expect(loggedIn.resultToken?.header).toMatchObject({ alg: 'ES256', typ: 'custos-result+jwt' });
    expect(loggedIn.resultToken?.claims).toMatchObject({ iss: ORIGIN, aud: state.tenantId, sub: user.id, jti: login.id, op: 'AUTHENTICATION' });

    const payment = await started({ type: 'AUTHORISATION', amount: '99.95', currency: 'EUR', payee: 'Zeta AG', account: 'CH9300762011623852957' });
    expect(payment['transaction']).toEqual({ amount: '99.95', currency: 'EUR', payee: { name: 'Zeta AG', account: 'CH9300762011623852957' } });
    const paymentStart = await sdkStart(payment);
    await sdkFetch(payment, 'finish', { credential: await authenticator.assert(paymentStart.publicKey as never) });
    const paid = await outcome(payment.id);
    expect(paid.resultToken?.claims['txn']).toEqual(payment['transaction']);
    expect(paid.resultToken?.checks.find((check) => check.check.startsWith('txn'))?.ok).toBe(true);

    const text = 'I agree to the overdraft.';
    const signature = await started({ type: 'SIGNATURE', title: 'Overdraft', text });
    const signatureStart = await sdkStart(signature);
    await sdkFetch(signature, 'finish', { credential: await authenticator.assert(signatureStart.publicKey as never) });
    const signed = await outcome(signature.id);
    expect(signed.resultToken?.claims['doc']).toEqual({ title: 'Overdraft', mimeType: 'text/plain', sha256: await sha256Hex(text) });
    expect(signed.resultToken?.valid).toBe(true);
  });

  it('the signature/iss/aud/typ check can fail: served under another issuer, the same token is reported invalid', async () => {
    await bootstrap();
    const { user } = await (await demoFetch('/demo/api/users', { method: 'POST', json: { name: 'heidi' } })).json<{ user: { id: string } }>();
    const authenticator = await SoftAuthenticator.create({ rpId: 'localhost', origin: ORIGIN });
    const registration = await (await demoFetch('/demo/api/operations', { method: 'POST', json: { type: 'REGISTRATION', userId: user.id } })).json<{ id: string; sdk: { token: string } }>();
    const creation = await sdkStart(registration);
    await sdkFetch(registration, 'finish', { credential: await authenticator.register(creation.publicKey as never) });
    const verified = await (await demoFetch(`/demo/api/operations/${registration.id}`)).json<{ resultToken: { checks: Array<{ ok: boolean }> } }>();
    expect(verified.resultToken.checks[0]?.ok).toBe(true);
    // Served with another issuer (PUBLIC_URL differs from the token's iss): the same token no longer passes.
    const ctx = createExecutionContext();
    const elsewhere = await app.fetch(new Request(`${ORIGIN}/demo/api/operations/${registration.id}`), { ...env, DEMO: 'true', PUBLIC_URL: 'https://other.example' }, ctx);
    await waitOnExecutionContext(ctx);
    const refused = await elsewhere.json<{ resultToken: { checks: Array<{ ok: boolean }>; valid: boolean } }>();
    expect(refused.resultToken.checks[0]?.ok).toBe(false);
    expect(refused.resultToken.valid).toBe(false);
  });

  it('GET /demo/api/qr renders the sdk.url as an SVG QR code; no data → 400', async () => {
    const res = await demoFetch(`/demo/api/qr?data=${encodeURIComponent(`${ORIGIN}/app/#op=op_x&token=sdk_y`)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/svg+xml');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toMatch(/^<svg[\s\S]*<\/svg>$/);
    await expectProblem(await demoFetch('/demo/api/qr'), 400, 'VALIDATION_FAILED');
    await expectProblem(await demoFetch(`/demo/api/qr?data=${'x'.repeat(2049)}`), 400, 'VALIDATION_FAILED');
  });
});
