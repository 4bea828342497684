// Failure throttles on POST /oauth/token (per client_id and per address) and the operator API (per address).
import { env, runDurableObjectAlarm } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, basicAuth, createClient, createTenant, expectProblem, workerFetch } from '../helpers/api';

function token(client: { clientId: string; clientSecret: string }, ip?: string): Promise<Response> {
  return workerFetch('/oauth/token', {
    method: 'POST',
    headers: { authorization: basicAuth(client), 'content-type': 'application/x-www-form-urlencoded', ...(ip ? { 'cf-connecting-ip': ip } : {}) },
    body: 'grant_type=client_credentials',
  });
}

function admin(bearer: string, ip: string): Promise<Response> {
  return workerFetch('/admin/v1/tenants', { headers: { authorization: `Bearer ${bearer}`, 'cf-connecting-ip': ip } });
}

const wrong = (client: { clientId: string }) => ({ clientId: client.clientId, clientSecret: 'cs_wrong-secret-0000000000000000' });
const unknownClient = (i: number) => ({ clientId: `cli_${String(i).padStart(36, '0')}`, clientSecret: 'cs_whatever' });

/** RFC 6749 §5.2 shape with slow_down, Retry-After in 1…60 s equal to retry_after, and no-store. */
async function expectSlowDown(res: Response): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(429);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const body = JSON.parse(text) as { error: string; error_description: string; retry_after: number };
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(body.error).toBe('slow_down');
  expect(body.error_description).toMatch(/retry in \d+ s/);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(body.retry_after).toBe(retryAfter);
}

describe('POST /oauth/token: failed client authentication', () => {
  it('throttle: 60 concurrent wrong secrets for one client → 10 × 401 invalid_client, 50 × 429 slow_down; its correct secret still works', async () => {
    const client = await createClient((await createTenant()).id);
    const responses = await Promise.all(Array.from({ length: 60 }, () => token(wrong(client))));
    expect(responses.filter((r) => r.status === 401)).toHaveLength(10);
    for (const res of responses.filter((r) => r.status !== 401)) await expectSlowDown(res);
    for (const res of responses.filter((r) => r.status === 401)) expect((await res.json<{ error: string }>()).error).toBe('invalid_client');
    // The real client is never locked out by someone failing in its name: a correct secret is checked and accepted.
    const ok = await token(client);
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect((await ok.json<{ token_type: string }>()).token_type).toBe('Bearer');
    // And wrong ones stay throttled.
    await expectSlowDown(await token(wrong(client)));
  });

  it('throttle: 60 wrong credentials from one address → 20 × 401 then 429; that address is refused outright, the real client from its own address is not', async () => {
    const client = await createClient((await createTenant()).id);
    const attacker = '203.0.113.7';
    const responses = await Promise.all(Array.from({ length: 60 }, (_, i) => token(unknownClient(i), attacker)));
    expect(responses.filter((r) => r.status === 401)).toHaveLength(20);
    for (const res of responses.filter((r) => r.status !== 401)) await expectSlowDown(res);
    // Refused before the credentials are looked at, so guessing from this address stops here.
    await expectSlowDown(await token(client, attacker));
    expect((await token(client, '198.51.100.20')).status).toBe(200);
    expect((await token(client)).status).toBe(200);
  });

  it('throttle: successes are never counted (30 correct authentications from one address stay 200)', async () => {
    const client = await createClient((await createTenant()).id);
    for (let i = 0; i < 30; i++) expect((await token(client, '198.51.100.30')).status).toBe(200);
  });

  it('throttle: an IPv6 /64 counts as one address', async () => {
    const client = await createClient((await createTenant()).id);
    for (let i = 1; i <= 20; i++) expect((await token(unknownClient(i), `2001:db8:7:7::${i.toString(16)}`)).status).toBe(401);
    await expectSlowDown(await token(client, '2001:db8:7:7:ffff:1:2:3'));
    expect((await token(client, '2001:db8:7:8::1')).status).toBe(200);
  });
});

describe('/admin/v1: wrong operator tokens', () => {
  it('throttle: 40 wrong operator tokens from one address → 10 × 401, then 429 AUTHENTICATION_THROTTLED; the operator from another address still gets in', async () => {
    const attacker = '192.0.2.44';
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => admin(`wrong-operator-token-${i}-000000`, attacker)));
    const unauthenticated = responses.filter((r) => r.status === 401);
    expect(unauthenticated).toHaveLength(10);
    for (const res of unauthenticated) await expectProblem(res, 401, 'UNAUTHENTICATED');
    for (const res of responses.filter((r) => r.status !== 401)) {
      const retryAfter = Number(res.headers.get('retry-after'));
      const problem = await expectProblem(res, 429, 'AUTHENTICATION_THROTTLED');
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(problem.retryAfterSeconds).toBe(retryAfter);
    }
    expect((await admin(ADMIN_TOKEN, '192.0.2.45')).status).toBe(200);
    // From the throttled address even the right token is not compared (that is what stops guessing there).
    await expectProblem(await admin(ADMIN_TOKEN, attacker), 429, 'AUTHENTICATION_THROTTLED');
  });

  it('throttle: once the window has passed (the object alarm) the address may try again, and the object keeps nothing', async () => {
    const ip = '192.0.2.99';
    for (let i = 0; i < 10; i++) await admin('wrong-operator-token-000000000', ip);
    await expectProblem(await admin(ADMIN_TOKEN, ip), 429, 'AUTHENTICATION_THROTTLED');
    const stub = env.AUTH_THROTTLE.get(env.AUTH_THROTTLE.idFromName(`adminAddress:${ip}`));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await admin(ADMIN_TOKEN, ip)).status).toBe(200);
  });
});
