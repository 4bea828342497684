// Idempotency-Key for creating POSTs (IETF draft semantics), keyed per API client, kept 24 h.
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { hashSecret } from '../domain/secrets';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const TTL_SECONDS = 24 * 3600;
const REPLAYED_HEADERS = ['content-type', 'location'];

interface KeyRow {
  request_hash: string;
  state: 'PROCESSING' | 'DONE';
  status: number | null;
  headers: string | null;
  body: string | null;
  created_at: number;
}

export const idempotent = createMiddleware<AppEnv>(async (c, next) => {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return next();
  if (!KEY_PATTERN.test(key)) {
    throw new ApiError('VALIDATION_FAILED', 'Idempotency-Key must be 1–255 visible ASCII characters.', {
      invalidParams: [{ name: 'Idempotency-Key', reason: 'invalid format' }],
    });
  }
  const { clientId } = c.get('auth');
  const db = c.env.DB;
  // The text jsonBody already read into Hono's body cache: no clone, no second read.
  const body = await c.req.text();
  const requestHash = await hashSecret(`${c.req.method} ${new URL(c.req.url).pathname}\n${body}`);
  const now = Math.floor(Date.now() / 1000);

  const claimed = await db
    .prepare(
      `INSERT INTO idempotency_keys (client_id, key, request_hash, state, created_at) VALUES (?1, ?2, ?3, 'PROCESSING', ?4)
       ON CONFLICT (client_id, key) DO UPDATE SET request_hash = excluded.request_hash, state = 'PROCESSING', status = NULL, headers = NULL, body = NULL, created_at = excluded.created_at
       WHERE idempotency_keys.created_at < ?5`,
    )
    .bind(clientId, key, requestHash, now, now - TTL_SECONDS)
    .run();

  if (claimed.meta.changes === 0) {
    const row = await db.prepare('SELECT * FROM idempotency_keys WHERE client_id = ?1 AND key = ?2').bind(clientId, key).first<KeyRow>();
    if (!row) throw new ApiError('IDEMPOTENCY_KEY_IN_USE', 'Retry the request.');
    if (row.request_hash !== requestHash) {
      throw new ApiError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request.');
    }
    if (row.state === 'PROCESSING') {
      throw new ApiError('IDEMPOTENCY_KEY_IN_USE', 'The first request with this Idempotency-Key is still running.');
    }
    const headers = new Headers(JSON.parse(row.headers ?? '{}') as Record<string, string>);
    headers.set('idempotent-replayed', 'true');
    return new Response(row.body, { status: row.status ?? 200, headers });
  }

  try {
    await next();
  } catch (error) {
    await db.prepare('DELETE FROM idempotency_keys WHERE client_id = ?1 AND key = ?2').bind(clientId, key).run();
    throw error;
  }
  // Only a success is a result (Stripe: nothing is saved when validation fails). A refusal or a server
  // error frees the key, as a thrown error does above, so the client can retry or fix the request.
  if (!c.res.ok || c.error) {
    await db.prepare('DELETE FROM idempotency_keys WHERE client_id = ?1 AND key = ?2').bind(clientId, key).run();
    return;
  }
  const stored = c.res.clone();
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = stored.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  await db
    .prepare(`UPDATE idempotency_keys SET state = 'DONE', status = ?3, headers = ?4, body = ?5 WHERE client_id = ?1 AND key = ?2`)
    .bind(clientId, key, stored.status, JSON.stringify(headers), await stored.text())
    .run();
});
