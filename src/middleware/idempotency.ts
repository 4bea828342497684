// Idempotency-Key for creating POSTs (IETF draft semantics), keyed per API client, kept 24 h.
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { hashSecret } from '../domain/secrets';
import { claimIdempotencyKey, getIdempotencyKey, releaseIdempotencyKey, storeIdempotentResult } from '../storage/idempotency';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const TTL_SECONDS = 24 * 3600;
const REPLAYED_HEADERS = ['content-type', 'location'];

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

  const claimed = await claimIdempotencyKey(db, { clientId, key, requestHash, now, staleBefore: now - TTL_SECONDS });

  if (!claimed) {
    const row = await getIdempotencyKey(db, clientId, key);
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
    await releaseIdempotencyKey(db, clientId, key);
    throw error;
  }
  // Only a success is a result (Stripe: nothing is saved when validation fails). A refusal or a server
  // error frees the key, as a thrown error does above, so the client can retry or fix the request.
  if (!c.res.ok || c.error) {
    await releaseIdempotencyKey(db, clientId, key);
    return;
  }
  const stored = c.res.clone();
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = stored.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  await storeIdempotentResult(db, { clientId, key, status: stored.status, headers: JSON.stringify(headers), body: await stored.text() });
});
