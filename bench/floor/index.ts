// The lean floor: a bare Hono worker under the same workerd as Custos. Every request does exactly the
// D1 round trips and Durable Object calls it is told to (?d1=N&do=M&dod1=K), so the bench can replay,
// step by step, the storage traffic Custos made in the same run and see what the runtime alone costs.
import { Hono } from 'hono';
import { DurableObject } from 'cloudflare:workers';

interface Env {
  DB: D1Database;
  FLOOR: DurableObjectNamespace<FloorDO>;
}

const ROWS = 1000;
const SHARDS = 128;
const key = (): number => 1 + Math.floor(Math.random() * ROWS);

/** A trivial object: `call(k)` answers at once, or after k small D1 reads (D1 round trips Custos makes from its DO). */
export class FloorDO extends DurableObject<Env> {
  async call(d1: number): Promise<number> {
    let sum = 0;
    for (let i = 0; i < d1; i++) {
      const row = await this.env.DB.prepare('SELECT v FROM kv WHERE k = ?1').bind(key()).first<{ v: string }>();
      sum += row?.v.length ?? 0;
    }
    return sum;
  }
}

const count = (value: string | undefined): number => Math.min(Math.max(Number(value ?? 0) | 0, 0), 64);
let next = 0;

const app = new Hono<{ Bindings: Env }>();

app.get('/healthz', (c) => c.json({ ok: true, floor: true }));

/** Creates the table the D1 round trips read, and touches every shard once so later calls go to existing objects. */
app.post('/__floor/setup', async (c) => {
  await c.env.DB.exec('CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  await c.env.DB.prepare(`INSERT OR IGNORE INTO kv (k, v) SELECT value, printf('value-%d', value) FROM json_each(?1)`)
    .bind(JSON.stringify(Array.from({ length: ROWS }, (_, i) => i + 1))).run();
  await Promise.all(Array.from({ length: SHARDS }, (_, i) => c.env.FLOOR.get(c.env.FLOOR.idFromName(`shard-${i}`)).call(0)));
  return c.json({ rows: ROWS, shards: SHARDS });
});

/** Any other request: parse the body if any, then d1 reads here, do calls to one existing shard (the first carries dod1 reads). */
app.all('*', async (c) => {
  const d1 = count(c.req.query('d1'));
  const doCalls = count(c.req.query('do'));
  const doD1 = count(c.req.query('dod1'));
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') await c.req.json().catch(() => null);
  let sum = 0;
  for (let i = 0; i < d1; i++) {
    const row = await c.env.DB.prepare('SELECT v FROM kv WHERE k = ?1').bind(key()).first<{ v: string }>();
    sum += row?.v.length ?? 0;
  }
  if (doCalls > 0) {
    const stub = c.env.FLOOR.get(c.env.FLOOR.idFromName(`shard-${next++ % SHARDS}`));
    for (let i = 0; i < doCalls; i++) sum += await stub.call(i === 0 ? doD1 : 0);
  }
  return c.json({ ok: true, sum });
});

export default app;
