// D1 queries of the CIBA front door: pending authentication requests (auth_req_id only as SHA-256) and used client-assertion ids.

export interface CibaRequest {
  authReqHash: string;
  tenantId: string;
  clientId: string;
  operationId: string;
  scope: string;
  authorizationDetails: unknown[] | null;
  deliveryMode: 'poll' | 'ping';
  pollInterval: number;
  lastPolledAt: number | null;
  /** Epoch seconds. */
  expiresAt: number;
  consumedAt: string | null;
  createdAt: string;
}

interface CibaRow {
  auth_req_hash: string;
  tenant_id: string;
  client_id: string;
  operation_id: string;
  scope: string;
  authorization_details: string | null;
  delivery_mode: 'poll' | 'ping';
  poll_interval: number;
  last_polled_at: number | null;
  expires_at: number;
  consumed_at: string | null;
  created_at: string;
}

function toRequest(row: CibaRow): CibaRequest {
  return {
    authReqHash: row.auth_req_hash, tenantId: row.tenant_id, clientId: row.client_id, operationId: row.operation_id, scope: row.scope,
    authorizationDetails: row.authorization_details ? (JSON.parse(row.authorization_details) as unknown[]) : null,
    deliveryMode: row.delivery_mode, pollInterval: row.poll_interval, lastPolledAt: row.last_polled_at, expiresAt: row.expires_at,
    consumedAt: row.consumed_at, createdAt: row.created_at,
  };
}

export async function insertCibaRequest(db: D1Database, request: Omit<CibaRequest, 'lastPolledAt' | 'consumedAt'>): Promise<void> {
  await db
    .prepare(`INSERT INTO ciba_requests (auth_req_hash, tenant_id, client_id, operation_id, scope, authorization_details, delivery_mode, poll_interval, expires_at, created_at)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`)
    .bind(request.authReqHash, request.tenantId, request.clientId, request.operationId, request.scope,
      request.authorizationDetails ? JSON.stringify(request.authorizationDetails) : null, request.deliveryMode, request.pollInterval, request.expiresAt, request.createdAt)
    .run();
}

export async function getCibaRequest(db: D1Database, tenantId: string, authReqHash: string): Promise<CibaRequest | null> {
  const row = await db.prepare('SELECT * FROM ciba_requests WHERE auth_req_hash = ?1 AND tenant_id = ?2').bind(authReqHash, tenantId).first<CibaRow>();
  return row ? toRequest(row) : null;
}

/**
 * Records a poll if the client waited its interval since the last one; otherwise (CIBA Core §11 slow_down) raises
 * the interval by 5 s, records the poll and answers false. One statement each, so two racing polls cannot both pass.
 */
export async function recordPoll(db: D1Database, authReqHash: string, nowMs: number): Promise<boolean> {
  const polled = await db
    .prepare('UPDATE ciba_requests SET last_polled_at = ?2 WHERE auth_req_hash = ?1 AND (last_polled_at IS NULL OR last_polled_at + poll_interval * 1000 <= ?2)')
    .bind(authReqHash, nowMs)
    .run();
  if (polled.meta.changes === 1) return true;
  await db.prepare('UPDATE ciba_requests SET poll_interval = poll_interval + 5, last_polled_at = ?2 WHERE auth_req_hash = ?1').bind(authReqHash, nowMs).run();
  return false;
}

/** The single token exchange: true for exactly one caller (a conditional UPDATE), false if it was already consumed. */
export async function consumeCibaRequest(db: D1Database, authReqHash: string, at: string): Promise<boolean> {
  const result = await db.prepare('UPDATE ciba_requests SET consumed_at = ?2 WHERE auth_req_hash = ?1 AND consumed_at IS NULL').bind(authReqHash, at).run();
  return result.meta.changes === 1;
}

/** RFC 7523 §3: a client assertion's jti is accepted once; false when it was already used. Expired ids are cleared on the way. */
export async function useAssertionJti(db: D1Database, clientId: string, jtiHash: string, expiresAt: number, nowSeconds: number): Promise<boolean> {
  const [, inserted] = await db.batch([
    db.prepare('DELETE FROM ciba_assertion_jtis WHERE expires_at < ?1').bind(nowSeconds),
    db.prepare('INSERT INTO ciba_assertion_jtis (client_id, jti_hash, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING').bind(clientId, jtiHash, expiresAt),
  ]);
  return inserted?.meta.changes === 1;
}

/** The user a login_hint names: the tenant's externalRef (docs/ciba.md). */
export async function userIdByExternalRef(db: D1Database, tenantId: string, externalRef: string): Promise<string | null> {
  const row = await db.prepare('SELECT id FROM users WHERE tenant_id = ?1 AND external_ref = ?2').bind(tenantId, externalRef).first<{ id: string }>();
  return row?.id ?? null;
}

