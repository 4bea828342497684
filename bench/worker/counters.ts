// Benchmark instrumentation (bench/worker only, BENCH_COUNTERS=true): counts D1 and Durable Object round trips, and the /__bench routes.
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { AppEnv, Bindings as ProductionBindings } from '../../src/env';
import { ApiError } from '../../src/errors';
import { requireAdmin } from '../../src/middleware/auth';
import { isId, newId } from '../../src/domain/ids';

/** The production bindings plus the bench's own switch (never set on a deployed worker, which does not load this file). */
export type Bindings = ProductionBindings & { BENCH_COUNTERS?: string };

/** Where a round trip was made from: a Worker request, or an OperationDO on its own behalf. */
export type CounterSource = 'worker' | 'do';

interface SourceCounters {
  /** D1 round trips: each run/all/first/raw call, and each batch() as one. */
  d1RoundTrips: number;
  /** Statements executed: one per run/all/first/raw, and every statement inside a batch. */
  d1Statements: number;
  d1Batches: number;
  /** RPC calls on an OperationDO stub. */
  doCalls: number;
}

export type BenchCounters = Record<CounterSource, SourceCounters>;

const zero = (): SourceCounters => ({ d1RoundTrips: 0, d1Statements: 0, d1Batches: 0, doCalls: 0 });

/**
 * Module state: the Worker and its Durable Objects share one isolate under `wrangler dev`, so one
 * set of totals sees both (the bench checks that the DO side is non-zero).
 */
let counters: BenchCounters = { worker: zero(), do: zero() };

export function benchCountersEnabled(env: Pick<Bindings, 'BENCH_COUNTERS'>): boolean {
  return env.BENCH_COUNTERS === 'true';
}

export function readCounters(): BenchCounters {
  return { worker: { ...counters.worker }, do: { ...counters.do } };
}

export function resetCounters(): void {
  counters = { worker: zero(), do: zero() };
}

const INNER = Symbol('inner statement');

type Counted = D1PreparedStatement & { [INNER]: D1PreparedStatement };

function countStatement(inner: D1PreparedStatement, source: CounterSource): D1PreparedStatement {
  const once = (): void => {
    counters[source].d1RoundTrips += 1;
    counters[source].d1Statements += 1;
  };
  const wrapped = {
    [INNER]: inner,
    bind: (...values: unknown[]) => countStatement(inner.bind(...values), source),
    first: (column?: string) => {
      once();
      return column === undefined ? inner.first() : inner.first(column);
    },
    run: () => {
      once();
      return inner.run();
    },
    all: () => {
      once();
      return inner.all();
    },
    raw: (options?: { columnNames?: boolean }) => {
      once();
      return options?.columnNames ? inner.raw({ columnNames: true }) : inner.raw();
    },
  };
  return wrapped as unknown as Counted;
}

function unwrapStatement(statement: D1PreparedStatement): D1PreparedStatement {
  return (statement as Partial<Counted>)[INNER] ?? statement;
}

function countDatabase(db: D1Database, source: CounterSource): D1Database {
  const wrapped = {
    prepare: (query: string) => countStatement(db.prepare(query), source),
    batch: (statements: D1PreparedStatement[]) => {
      counters[source].d1RoundTrips += 1;
      counters[source].d1Batches += 1;
      counters[source].d1Statements += statements.length;
      return db.batch(statements.map(unwrapStatement));
    },
    exec: (query: string) => {
      counters[source].d1RoundTrips += 1;
      counters[source].d1Statements += 1;
      return db.exec(query);
    },
    dump: () => db.dump(),
    withSession: (constraint?: string) => db.withSession(constraint),
  };
  return wrapped as unknown as D1Database;
}

function countStub<T extends object>(stub: T, source: CounterSource): T {
  return new Proxy(stub, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== 'function' || typeof property === 'symbol' || property === 'then') return value;
      return (...args: unknown[]) => {
        counters[source].doCalls += 1;
        // Reflect.apply: an RPC stub would take `.apply` for a remote method name.
        return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
      };
    },
  });
}

function countNamespace(ns: Bindings['OPERATIONS'], source: CounterSource): Bindings['OPERATIONS'] {
  return new Proxy(ns, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== 'function') return value;
      if (property === 'get') {
        return (...args: Parameters<typeof ns.get>) => countStub(target.get(...args), source);
      }
      return (...args: unknown[]) => Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
    },
  });
}

const wrappedEnvs: Record<CounterSource, WeakMap<Bindings, Bindings>> = { worker: new WeakMap(), do: new WeakMap() };

/** The bindings with counting D1 and DO wrappers when BENCH_COUNTERS is on; the same object otherwise. */
export function instrumentBindings<E extends Bindings>(env: E, source: CounterSource): E {
  if (!benchCountersEnabled(env)) return env;
  const known = wrappedEnvs[source].get(env);
  if (known) return known as E;
  const wrapped = {
    ...env, DB: countDatabase(env.DB, source), OPERATIONS: countNamespace(env.OPERATIONS, source),
    // The access-token check of every relying-party call is a Durable Object call too.
    ACCESS_TOKENS: countNamespace(env.ACCESS_TOKENS as unknown as Bindings['OPERATIONS'], source) as unknown as Bindings['ACCESS_TOKENS'],
  };
  wrappedEnvs[source].set(env, wrapped);
  return wrapped;
}

/** Swaps in the counting bindings for this request (a string comparison when the flag is off). */
export const benchCounting = createMiddleware<{ Bindings: Bindings; Variables: AppEnv['Variables'] }>(async (c, next) => {
  if (benchCountersEnabled(c.env)) c.env = instrumentBindings(c.env, 'worker');
  await next();
});

const SEED_CHUNK = 1000;
/** Placeholder key bytes: seeded credentials only fill the tables; no ceremony ever runs against them. */
const SEED_PUBLIC_KEY = 'c2VlZGVk';

/** Only with BENCH_COUNTERS=true; otherwise every path here is a 404 like any unknown route. */
export const bench = new Hono<{ Bindings: Bindings; Variables: AppEnv['Variables'] }>();

bench.use('*', async (c, next) => {
  if (!benchCountersEnabled(c.env)) {
    throw new ApiError('NOT_FOUND', `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`);
  }
  await next();
});

bench.get('/counters', (c) => c.json(readCounters()));

bench.post('/counters/reset', (c) => {
  resetCounters();
  return c.json(readCounters());
});

/**
 * ES256 verification + SHA-256 in a loop on this isolate's thread: the crypto floor of a ceremony.
 * Time only moves across I/O in workerd, so the loop yields to a timer between batches to read it.
 */
bench.get('/crypto-floor', async (c) => {
  const budgetMs = Math.min(Math.max(Number(c.req.query('ms') ?? 1000) || 1000, 100), 5000);
  const subtle = crypto.subtle;
  const pair = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  // Shaped like an assertion: authenticatorData (37 bytes) ‖ SHA-256(clientDataJSON).
  const clientData = new TextEncoder().encode(
    JSON.stringify({ type: 'webauthn.get', challenge: 'x'.repeat(86), origin: 'http://localhost:8799', crossOrigin: false }),
  );
  const signed = new Uint8Array(37 + 32);
  const signature = await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, signed);
  const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
  const measure = async (op: () => Promise<unknown>): Promise<{ ops: number; seconds: number; perSecond: number }> => {
    await tick();
    const started = Date.now();
    let ops = 0;
    for (let round = 0; round < 100_000; round++) {
      for (let i = 0; i < 50; i++) await op();
      ops += 50;
      await tick();
      if (Date.now() - started >= budgetMs) break;
    }
    const seconds = (Date.now() - started) / 1000;
    return { ops, seconds, perSecond: Math.round(ops / seconds) };
  };
  const verifyAndHash = await measure(async () => {
    const digest = await subtle.digest('SHA-256', clientData);
    signed.set(new Uint8Array(digest), 37);
    return subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, pair.publicKey, signature, signed);
  });
  const sign = await measure(() => subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, signed));
  const sha256 = await measure(() => subtle.digest('SHA-256', clientData));
  return c.json({ budgetMs, es256VerifyPlusSha256: verifyAndHash, es256Sign: sign, sha256 });
});

/**
 * Bulk seeding for the scale runs: `count` ACTIVE users of the tenant, each with one passkey device
 * and credential (placeholder keys, never asked to verify), inserted straight into D1.
 */
bench.post('/seed', requireAdmin, async (c) => {
  const body = (await c.req.json()) as { tenantId?: unknown; count?: unknown; label?: unknown };
  const tenantId = typeof body.tenantId === 'string' && isId(body.tenantId, 'ten') ? body.tenantId : null;
  const count = typeof body.count === 'number' && Number.isInteger(body.count) && body.count > 0 && body.count <= 200_000 ? body.count : null;
  const label = typeof body.label === 'string' && /^[a-z0-9-]{1,32}$/.test(body.label) ? body.label : 'seed';
  if (!tenantId || !count) throw new ApiError('VALIDATION_FAILED', 'Send { tenantId, count (1–200000), label? }.');
  const db = c.env.DB;
  const at = new Date().toISOString();
  for (let done = 0; done < count; done += SEED_CHUNK) {
    const rows = Array.from({ length: Math.min(SEED_CHUNK, count - done) }, (_, i) => ({
      u: newId('usr'), d: newId('dev'), k: `${label}-${done + i}-${crypto.randomUUID()}`, r: `${label}-${done + i}`,
    }));
    const json = JSON.stringify(rows);
    await db.batch([
      db
        .prepare(`INSERT INTO users (id, tenant_id, external_ref, status, created_at, updated_at)
                  SELECT json_extract(value, '$.u'), ?2, json_extract(value, '$.r'), 'ACTIVE', ?3, ?3 FROM json_each(?1)`)
        .bind(json, tenantId, at),
      db
        .prepare(`INSERT INTO devices (id, tenant_id, user_id, kind, status, name, rp_id, transports, failed_attempts, created_at, updated_at)
                  SELECT json_extract(value, '$.d'), ?2, json_extract(value, '$.u'), 'PASSKEY', 'ACTIVE', 'Seeded', 'localhost', '["internal"]', 0, ?3, ?3 FROM json_each(?1)`)
        .bind(json, tenantId, at),
      db
        .prepare(`INSERT INTO credentials (tenant_id, id, device_id, user_id, public_key, public_key_jwk, counter, created_at)
                  SELECT ?2, json_extract(value, '$.k'), json_extract(value, '$.d'), json_extract(value, '$.u'), ?3, '{}', 0, ?4 FROM json_each(?1)`)
        .bind(json, tenantId, SEED_PUBLIC_KEY, at),
    ]);
  }
  return c.json({ seeded: count });
});
