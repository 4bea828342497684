// The benchmark's counters and tools (bench/worker): absent from the production worker, and counting the round trips they claim to.
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import benchWorker from '../../bench/worker/index';
import { instrumentBindings, readCounters, resetCounters } from '../../bench/worker/counters';
import { newId } from '../../src/domain/ids';
import { ADMIN_TOKEN, adminFetch, countRows, createTenant, expectProblem, setupTenant, workerFetch } from '../helpers/api';
import { createUser, registerPasskey } from '../helpers/ceremony';

const benchEnv = { ...env, BENCH_COUNTERS: 'true' };

/** A request to the bench's worker (bench/worker/index.ts) with these bindings. */
async function fetchWith(bindings: typeof env & { BENCH_COUNTERS?: string }, path: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await benchWorker.fetch(new Request(`https://custos.test${path}`, init), bindings, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

describe('the production worker has no bench tools', () => {
  it('answers 404 NOT_FOUND for the counters, as for any unknown route (bench tools are off in production)', async () => {
    await expectProblem(await workerFetch('/__bench/counters'), 404, 'NOT_FOUND');
    await expectProblem(await workerFetch('/__bench/counters/reset', { method: 'POST' }), 404, 'NOT_FOUND');
    await expectProblem(await workerFetch('/__bench/crypto-floor'), 404, 'NOT_FOUND');
  });

  it('answers 404 NOT_FOUND to a seed request even with the operator token, and writes no users', async () => {
    const tenant = await createTenant();
    const before = await countRows('users');
    const res = await adminFetch('/__bench/seed', { method: 'POST', json: { tenantId: tenant.id, count: 5 } });
    await expectProblem(res, 404, 'NOT_FOUND');
    expect(await countRows('users')).toBe(before);
  });

  it('the production app answers /__bench like any unknown route, and the bench worker too unless BENCH_COUNTERS=true', async () => {
    const ctx = createExecutionContext();
    await expectProblem(await app.fetch(new Request('https://custos.test/__bench/counters'), { ...env, BENCH_COUNTERS: 'true' } as typeof env, ctx), 404, 'NOT_FOUND');
    await expectProblem(await fetchWith(env, '/__bench/counters'), 404, 'NOT_FOUND');
    expect(instrumentBindings(env, 'worker')).toBe(env);
  });
});

describe('/__bench with BENCH_COUNTERS=true', () => {
  it('counts one D1 round trip and one statement for GET /healthz', async () => {
    expect((await fetchWith(benchEnv, '/__bench/counters/reset', { method: 'POST' })).status).toBe(200);
    expect((await fetchWith(benchEnv, '/healthz')).status).toBe(200);
    const res = await fetchWith(benchEnv, '/__bench/counters');
    expect(res.status).toBe(200);
    const counters = (await res.json()) as ReturnType<typeof readCounters>;
    expect(counters.worker).toEqual({ d1RoundTrips: 1, d1Statements: 1, d1Batches: 0, doCalls: 0 });
  });

  it('counts a batch as one round trip carrying each of its statements, and returns the same results', async () => {
    resetCounters();
    const db = instrumentBindings(benchEnv, 'do').DB;
    const results = await db.batch([db.prepare('SELECT ?1 AS a').bind(7), db.prepare('SELECT 2 AS b')]);
    expect(results.map((r: D1Result) => r.results[0])).toEqual([{ a: 7 }, { b: 2 }]);
    expect(await db.prepare('SELECT ?1 AS c').bind(3).first('c')).toBe(3);
    expect(readCounters().do).toEqual({ d1RoundTrips: 2, d1Statements: 3, d1Batches: 1, doCalls: 0 });
  });

  it('counts the Durable Object calls of a status request: the token check and the shard', async () => {
    const { token } = await setupTenant();
    resetCounters();
    const res = await fetchWith(benchEnv, `/v1/operations/${newId('op')}`, { headers: { authorization: `Bearer ${token}` } });
    await expectProblem(res, 404, 'OPERATION_NOT_FOUND');
    expect(readCounters().worker.doCalls).toBe(2);
  });

  it('seeds users with one device and credential each when the operator asks', async () => {
    const tenant = await createTenant();
    const res = await fetchWith(benchEnv, '/__bench/seed', {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ tenantId: tenant.id, count: 3 }),
    });
    expect(res.status).toBe(200);
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(3);
    expect(await countRows('devices', 'tenant_id = ?1', tenant.id)).toBe(3);
    expect(await countRows('credentials', 'tenant_id = ?1', tenant.id)).toBe(3);
  });

  it('refuses to seed without the operator token (401 UNAUTHENTICATED) and writes nothing', async () => {
    const tenant = await createTenant();
    const res = await fetchWith(benchEnv, '/__bench/seed', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenantId: tenant.id, count: 3 }),
    });
    await expectProblem(res, 401, 'UNAUTHENTICATED');
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(0);
  });

  it('DESIGN.md hot path: a ceremony touches D1 once at start (one batch that writes and reads: the tenant was seen at the registration) and once at finish (in the DO), and not at all at status', async () => {
    const { api, token } = await setupTenant();
    const user = await createUser(api);
    const { authenticator } = await registerPasskey(api, user.id);
    const json = (body: unknown, bearer: string): RequestInit => ({
      method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const step = async (path: string, init: RequestInit, status: number): Promise<{ body: Record<string, unknown>; counts: ReturnType<typeof readCounters>['worker'] }> => {
      resetCounters();
      const res = await fetchWith(benchEnv, path, init);
      expect(res.status, await res.clone().text()).toBe(status);
      return { body: (await res.json()) as Record<string, unknown>, counts: readCounters().worker };
    };

    const start = await step('/v1/operations', json({ type: 'AUTHENTICATION', userId: user.id }, token), 201);
    // One batch (services/operation-start.ts, the one-batch path); two Durable Object calls: the client's AccessTokensDO (the token) and the operation's shard.
    expect(start.counts).toMatchObject({ d1RoundTrips: 1, d1Batches: 1, doCalls: 2 });
    const op = start.body as { id: string; sdk: { token: string } };
    const options = await step(`/sdk/v1/operations/${op.id}/start`, json({}, op.sdk.token), 200);
    expect(options.counts).toMatchObject({ d1RoundTrips: 0, doCalls: 1 });
    const credential = await authenticator.assert(options.body.publicKey as never);
    // The finish's single D1 batch runs in the Durable Object, which keeps the runtime's own bindings here.
    const finish = await step(`/sdk/v1/operations/${op.id}/finish`, json({ credential }, op.sdk.token), 200);
    expect(finish.counts).toMatchObject({ d1RoundTrips: 0, doCalls: 1 });
    const status = await step(`/v1/operations/${op.id}`, { headers: { authorization: `Bearer ${token}` } }, 200);
    expect(status.body.status).toBe('COMPLETED');
    expect(status.counts).toMatchObject({ d1RoundTrips: 0, doCalls: 2 });
  });
});
