// D1 queries of the outbox sweeper and the retention job: what was recorded but not handed on, and what has expired.
import { precondition } from './precondition';
import type { QueuedEvent } from '../durable-objects/webhook-delivery';

interface EventRow {
  id: string;
  tenant_id: string;
  type: string;
  payload: string;
}

/**
 * Events recorded between `since` and `until` (ISO times) of which no delivery attempt exists: the ones a crash,
 * a deploy or an unreachable delivery object may have left behind. Oldest first, at most `limit`.
 */
export async function undeliveredEvents(db: D1Database, window: { since: string; until: string; limit: number }): Promise<QueuedEvent[]> {
  const rows = await db
    .prepare(
      `SELECT e.id, e.tenant_id, e.type, e.payload FROM events AS e
       WHERE e.created_at >= ?1 AND e.created_at <= ?2
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS d WHERE d.event_id = e.id)
       ORDER BY e.created_at LIMIT ?3`,
    )
    .bind(window.since, window.until, window.limit)
    .all<EventRow>();
  return rows.results.map((row) => ({ id: row.id, tenantId: row.tenant_id, type: row.type, payload: row.payload }));
}

/**
 * Replays asked for before `until` whose attempt is not recorded yet (migrations/0014): the request that marked one may
 * have died before handing it to its delivery object. With the last attempt number, so the replay's attempt follows it.
 */
export async function pendingReplays(db: D1Database, window: { until: string; limit: number }): Promise<{ event: QueuedEvent; requestedAt: string; lastAttempt: number }[]> {
  const rows = await db
    .prepare(
      `SELECT e.id, e.tenant_id, e.type, e.payload, e.replay_requested_at,
              (SELECT COALESCE(MAX(d.attempt), 0) FROM webhook_deliveries AS d WHERE d.event_id = e.id) AS last_attempt
       FROM events AS e
       WHERE e.replay_requested_at IS NOT NULL AND e.replay_requested_at <= ?1
       ORDER BY e.replay_requested_at LIMIT ?2`,
    )
    .bind(window.until, window.limit)
    .all<EventRow & { replay_requested_at: string; last_attempt: number }>();
  return rows.results.map((row) => ({
    event: { id: row.id, tenantId: row.tenant_id, type: row.type, payload: row.payload }, requestedAt: row.replay_requested_at, lastAttempt: row.last_attempt,
  }));
}

/** Live operations whose user, or whose named device, is no longer ACTIVE: a lock cascade that did not finish. */
export async function strandedLiveOperations(db: D1Database, limit: number): Promise<{ id: string; tenantId: string; reason: string }[]> {
  const rows = await db
    .prepare(
      `SELECT o.id, o.tenant_id,
              CASE WHEN u.status = 'DEACTIVATED' THEN 'USER_DEACTIVATED' WHEN u.status != 'ACTIVE' THEN 'USER_LOCKED'
                   WHEN d.status = 'DEACTIVATED' THEN 'DEVICE_DEACTIVATED' ELSE 'DEVICE_LOCKED' END AS reason
       FROM operations AS o
       JOIN users AS u ON u.id = o.user_id
       LEFT JOIN devices AS d ON d.id = o.device_id
       WHERE o.status IN ('PENDING', 'IN_PROGRESS') AND (u.status != 'ACTIVE' OR (d.id IS NOT NULL AND d.status != 'ACTIVE'))
       LIMIT ?1`,
    )
    .bind(limit)
    .all<{ id: string; tenant_id: string; reason: string }>();
  return rows.results.map((row) => ({ id: row.id, tenantId: row.tenant_id, reason: row.reason }));
}

/** As services/ciba.ts COLLECTION_GRACE_SECONDS: a consent given at the last second can be collected this much later. */
const CIBA_COLLECTION_GRACE_SECONDS = 60;

export interface RetentionCutoffs {
  /** Epoch seconds: idempotency records created before are gone (they are ignored after 24 h anyway). */
  idempotencyBefore: number;
  /** Epoch seconds: device-proof jtis that expired before (access tokens expire in their own objects). */
  expiredBefore: number;
  /** ISO time: webhook events and their delivery attempts recorded before. */
  deliveriesBefore: string;
}

/** One bounded purge of each kind; returns how many rows each removed (a full batch means: run again). */
export async function purgeExpired(db: D1Database, cutoffs: RetentionCutoffs, batch: number): Promise<Record<string, number>> {
  const results = await db.batch([
    db.prepare('DELETE FROM idempotency_keys WHERE (client_id, key) IN (SELECT client_id, key FROM idempotency_keys WHERE created_at < ?1 LIMIT ?2)').bind(cutoffs.idempotencyBefore, batch),
    db.prepare('DELETE FROM device_proof_jtis WHERE jti IN (SELECT jti FROM device_proof_jtis WHERE expires_at < ?1 LIMIT ?2)').bind(cutoffs.expiredBefore, batch),
    db.prepare('DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE at < ?1 LIMIT ?2)').bind(cutoffs.deliveriesBefore, batch),
    // An event goes only once none of its attempts is left, so a delivery log never loses its event.
    db
      .prepare('DELETE FROM events WHERE id IN (SELECT e.id FROM events AS e WHERE e.created_at < ?1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS d WHERE d.event_id = e.id) LIMIT ?2)')
      .bind(cutoffs.deliveriesBefore, batch),
    // CIBA (docs/ciba.md): a request past its collection window can no longer be exchanged; the operation keeps its history.
    db.prepare('DELETE FROM ciba_requests WHERE auth_req_hash IN (SELECT auth_req_hash FROM ciba_requests WHERE expires_at + ?3 < ?1 LIMIT ?2)').bind(cutoffs.expiredBefore, batch, CIBA_COLLECTION_GRACE_SECONDS),
    db.prepare('DELETE FROM ciba_assertion_jtis WHERE (client_id, jti_hash) IN (SELECT client_id, jti_hash FROM ciba_assertion_jtis WHERE expires_at < ?1 LIMIT ?2)').bind(cutoffs.expiredBefore, batch),
  ]);
  const [idempotency, proofJtis, deliveries, events, cibaRequests, assertionJtis] = results.map((r) => r.meta.changes ?? 0);
  return { idempotency: idempotency!, proofJtis: proofJtis!, deliveries: deliveries!, events: events!, cibaRequests: cibaRequests!, assertionJtis: assertionJtis! };
}

export interface StaleLiveOperation {
  id: string;
  tenantId: string;
  userId: string;
  type: string;
  deviceId: string | null;
}

/** History rows still live in D1 although they expired before `before` (ISO): a shard that lags, or none that knows them. */
export async function staleLiveOperations(db: D1Database, before: string, limit: number): Promise<StaleLiveOperation[]> {
  const rows = await db
    .prepare(`SELECT id, tenant_id, user_id, type, device_id FROM operations WHERE status IN ('PENDING', 'IN_PROGRESS') AND expires_at < ?1 LIMIT ?2`)
    .bind(before, limit)
    .all<{ id: string; tenant_id: string; user_id: string; type: string; device_id: string | null }>();
  return rows.results.map((r) => ({ id: r.id, tenantId: r.tenant_id, userId: r.user_id, type: r.type, deviceId: r.device_id }));
}

/**
 * Ends an orphaned history row as EXPIRED: guarded so it only moves a row that is still live (a final state never
 * changes), in the batch that also records its audit entry and event (the caller adds those).
 */
export function expireOrphanStatements(db: D1Database, operationId: string, at: string): D1PreparedStatement[] {
  return [
    precondition(db, 'stillLive', `EXISTS (SELECT 1 FROM operations WHERE id = ?1 AND status IN ('PENDING', 'IN_PROGRESS'))`, operationId),
    db.prepare(`UPDATE operations SET status = 'EXPIRED', completed_at = ?2, failure_code = 'EXPIRED' WHERE id = ?1`).bind(operationId, at),
  ];
}
