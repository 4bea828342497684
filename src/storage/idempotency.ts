// The idempotency_keys table: one row per (API client, Idempotency-Key), claimed while its first request runs.

export interface IdempotencyRow {
  request_hash: string;
  state: 'PROCESSING' | 'DONE';
  status: number | null;
  headers: string | null;
  body: string | null;
  created_at: number;
}

/** Claims the key for this request; a row older than `staleBefore` is taken over. False: someone holds or used it. */
export async function claimIdempotencyKey(db: D1Database, input: { clientId: string; key: string; requestHash: string; now: number; staleBefore: number }): Promise<boolean> {
  const claimed = await db
    .prepare(
      `INSERT INTO idempotency_keys (client_id, key, request_hash, state, created_at) VALUES (?1, ?2, ?3, 'PROCESSING', ?4)
       ON CONFLICT (client_id, key) DO UPDATE SET request_hash = excluded.request_hash, state = 'PROCESSING', status = NULL, headers = NULL, body = NULL, created_at = excluded.created_at
       WHERE idempotency_keys.created_at < ?5`,
    )
    .bind(input.clientId, input.key, input.requestHash, input.now, input.staleBefore)
    .run();
  return claimed.meta.changes > 0;
}

export async function getIdempotencyKey(db: D1Database, clientId: string, key: string): Promise<IdempotencyRow | null> {
  return db.prepare('SELECT * FROM idempotency_keys WHERE client_id = ?1 AND key = ?2').bind(clientId, key).first<IdempotencyRow>();
}

/** Frees the key (the request failed or was refused), so the client may retry or fix it. */
export async function releaseIdempotencyKey(db: D1Database, clientId: string, key: string): Promise<void> {
  await db.prepare('DELETE FROM idempotency_keys WHERE client_id = ?1 AND key = ?2').bind(clientId, key).run();
}

/** Keeps the first request's answer, replayed to every retry with the same key and body. */
export async function storeIdempotentResult(db: D1Database, input: { clientId: string; key: string; status: number; headers: string; body: string }): Promise<void> {
  await db
    .prepare(`UPDATE idempotency_keys SET state = 'DONE', status = ?3, headers = ?4, body = ?5 WHERE client_id = ?1 AND key = ?2`)
    .bind(input.clientId, input.key, input.status, input.headers, input.body)
    .run();
}
