// D1 queries for webhooks: each tenant's endpoint (secrets as stored), emitted events and delivery attempts.
import { precondition } from './precondition';

export interface EndpointRecord {
  tenantId: string;
  url: string;
  /** As stored: a whsec_ secret, or its sealed form (see domain/secret-box). */
  storedSecret: string;
  storedPreviousSecret: string | null;
  previousSecretExpiresAt: string | null;
  disabledAt: string | null;
  disabledReason: string | null;
  createdAt: string;
  updatedAt: string;
}

interface EndpointRow {
  tenant_id: string;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: string | null;
  disabled_at: string | null;
  disabled_reason: string | null;
  created_at: string;
  updated_at: string;
}

function toEndpoint(row: EndpointRow): EndpointRecord {
  return {
    tenantId: row.tenant_id,
    url: row.url,
    storedSecret: row.secret,
    storedPreviousSecret: row.previous_secret,
    previousSecretExpiresAt: row.previous_secret_expires_at,
    disabledAt: row.disabled_at,
    disabledReason: row.disabled_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function getEndpoint(db: D1Database, tenantId: string): Promise<EndpointRecord | null> {
  const row = await db.prepare('SELECT * FROM webhook_endpoints WHERE tenant_id = ?1').bind(tenantId).first<EndpointRow>();
  return row ? toEndpoint(row) : null;
}

/**
 * Creates or replaces the endpoint and re-enables it. The secret it replaces keeps signing until
 * `previousSecretExpiresAt`, so receivers holding it are not cut off mid-change.
 */
export function putEndpointStatement(
  db: D1Database,
  input: { tenantId: string; url: string; storedSecret: string; storedPreviousSecret: string | null; previousSecretExpiresAt: string | null; at: string },
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO webhook_endpoints (tenant_id, url, secret, previous_secret, previous_secret_expires_at, disabled_at, disabled_reason, created_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6, ?6)
       ON CONFLICT (tenant_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, previous_secret = excluded.previous_secret,
         previous_secret_expires_at = excluded.previous_secret_expires_at, disabled_at = NULL, disabled_reason = NULL, updated_at = excluded.updated_at`,
    )
    .bind(input.tenantId, input.url, input.storedSecret, input.storedPreviousSecret, input.previousSecretExpiresAt, input.at);
}

/**
 * Swaps in a new secret; the current one becomes the previous one. Two racing rotations both
 * succeed in turn, and each caller's secret still signs (one as current, one as previous).
 */
export function rotateSecretStatement(
  db: D1Database,
  input: { tenantId: string; storedSecret: string; previousSecretExpiresAt: string; at: string },
): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = ?3, secret = ?2, updated_at = ?4
       WHERE tenant_id = ?1`,
    )
    .bind(input.tenantId, input.storedSecret, input.previousSecretExpiresAt, input.at);
}

/** Precondition (storage/precondition.ts): the batch rolls back unless the tenant still has an endpoint. */
export function endpointExistsGuard(db: D1Database, tenantId: string): D1PreparedStatement[] {
  return [precondition(db, 'endpointExists', 'EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = ?1)', tenantId)];
}

export function deleteEndpointStatement(db: D1Database, tenantId: string): D1PreparedStatement {
  return db.prepare('DELETE FROM webhook_endpoints WHERE tenant_id = ?1').bind(tenantId);
}

/** Disables the endpoint only while it still points at `url`: a URL changed meanwhile is not disabled for the old one's 410. */
export function disableEndpointStatement(db: D1Database, input: { tenantId: string; url: string; reason: string; at: string }): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE webhook_endpoints SET disabled_at = ?3, disabled_reason = ?4, updated_at = ?3
       WHERE tenant_id = ?1 AND url = ?2 AND disabled_at IS NULL`,
    )
    .bind(input.tenantId, input.url, input.at, input.reason);
}

export interface StoredEvent {
  id: string;
  tenantId: string;
  type: string;
  /** The exact JSON body signed and sent. */
  payload: string;
  createdAt: string;
}

/** Records the event only if the tenant has an enabled endpoint; `meta.changes` says whether it did. */
export function insertEventIfSubscribedStatement(db: D1Database, event: StoredEvent): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO events (id, tenant_id, type, payload, created_at)
       SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = ?2 AND disabled_at IS NULL)`,
    )
    .bind(event.id, event.tenantId, event.type, event.payload, event.createdAt);
}

export type DeliveryOutcome = 'SUCCEEDED' | 'FAILED';

/** Why an attempt failed, or (the last four) why a delivery stopped without sending; docs/webhooks.md explains each. */
export const DELIVERY_ERRORS = [
  'TIMEOUT', 'CONNECTION_FAILED', 'REDIRECT_NOT_FOLLOWED', 'HTTP_ERROR', 'ENDPOINT_GONE',
  'SECRET_UNAVAILABLE', 'ENDPOINT_REMOVED', 'ENDPOINT_DISABLED', 'URL_REFUSED',
] as const;
export type DeliveryError = (typeof DELIVERY_ERRORS)[number];

export interface DeliveryRecord {
  id: string;
  eventId: string;
  tenantId: string;
  eventType: string;
  webhookId: string;
  attempt: number;
  at: string;
  outcome: DeliveryOutcome;
  responseStatus: number | null;
  error: DeliveryError | null;
  nextAttemptAt: string | null;
  /** From just before the request to its response headers or its failure; null when nothing was sent. */
  responseTimeMs: number | null;
}

interface DeliveryRow {
  id: string;
  event_id: string;
  tenant_id: string;
  event_type: string;
  webhook_id: string;
  attempt: number;
  at: string;
  outcome: DeliveryOutcome;
  response_status: number | null;
  error: DeliveryError | null;
  next_attempt_at: string | null;
  response_time_ms: number | null;
}

function toDelivery(row: DeliveryRow): DeliveryRecord {
  return {
    id: row.id,
    eventId: row.event_id,
    tenantId: row.tenant_id,
    eventType: row.event_type,
    webhookId: row.webhook_id,
    attempt: row.attempt,
    at: row.at,
    outcome: row.outcome,
    responseStatus: row.response_status,
    error: row.error,
    nextAttemptAt: row.next_attempt_at,
    responseTimeMs: row.response_time_ms,
  };
}

/** Idempotent by id: a record flushed twice (the object died between write and acknowledgement) is kept once. */
export function insertDeliveryStatement(db: D1Database, d: DeliveryRecord): D1PreparedStatement {
  return db
    .prepare(
      `INSERT OR IGNORE INTO webhook_deliveries (id, event_id, tenant_id, event_type, webhook_id, attempt, at, outcome, response_status, error, next_attempt_at, response_time_ms)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)`,
    )
    // Records kept in a delivery object's storage from before response times were measured have none.
    .bind(d.id, d.eventId, d.tenantId, d.eventType, d.webhookId, d.attempt, d.at, d.outcome, d.responseStatus, d.error, d.nextAttemptAt, d.responseTimeMs ?? null);
}

export async function getDelivery(db: D1Database, tenantId: string, id: string): Promise<DeliveryRecord | null> {
  const row = await db.prepare('SELECT * FROM webhook_deliveries WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, id).first<DeliveryRow>();
  return row ? toDelivery(row) : null;
}

/** The event as recorded (its exact body) and the number of its last recorded attempt, or null when it is gone. */
export async function getEventForReplay(db: D1Database, tenantId: string, eventId: string): Promise<{ event: StoredEvent; lastAttempt: number } | null> {
  const row = await db
    .prepare(
      `SELECT e.id, e.tenant_id, e.type, e.payload, e.created_at,
              (SELECT COALESCE(MAX(d.attempt), 0) FROM webhook_deliveries AS d WHERE d.event_id = e.id) AS last_attempt
       FROM events AS e WHERE e.tenant_id = ?1 AND e.id = ?2`,
    )
    .bind(tenantId, eventId)
    .first<{ id: string; tenant_id: string; type: string; payload: string; created_at: string; last_attempt: number }>();
  if (!row) return null;
  return { event: { id: row.id, tenantId: row.tenant_id, type: row.type, payload: row.payload, createdAt: row.created_at }, lastAttempt: row.last_attempt };
}

/** The outbox half of a replay: marks the event as to be sent again (migrations/0014); the sweeper acts on a mark left behind. */
export function requestReplayStatement(db: D1Database, input: { tenantId: string; eventId: string; at: string }): D1PreparedStatement {
  return db.prepare('UPDATE events SET replay_requested_at = ?3 WHERE tenant_id = ?1 AND id = ?2').bind(input.tenantId, input.eventId, input.at);
}

/** Clears the mark in the batch that records the replay's attempt; a newer replay asked for meanwhile keeps its own mark. */
export function replayServedStatement(db: D1Database, input: { eventId: string; requestedAt: string }): D1PreparedStatement {
  return db.prepare('UPDATE events SET replay_requested_at = NULL WHERE id = ?1 AND replay_requested_at = ?2').bind(input.eventId, input.requestedAt);
}

/** Newest first; `beforeId` continues after the last row of the previous page. */
export async function listDeliveries(
  db: D1Database,
  tenantId: string,
  options: { eventId?: string; beforeId?: string; limit: number },
): Promise<DeliveryRecord[]> {
  // Two statements rather than `?2 IS NULL OR …`, so each one walks its own index; '~' sorts after every whd_ id.
  const rows = options.eventId !== undefined
    ? await db
        .prepare('SELECT * FROM webhook_deliveries WHERE tenant_id = ?1 AND event_id = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4')
        .bind(tenantId, options.eventId, options.beforeId ?? '~', options.limit)
        .all<DeliveryRow>()
    : await db
        .prepare('SELECT * FROM webhook_deliveries WHERE tenant_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3')
        .bind(tenantId, options.beforeId ?? '~', options.limit)
        .all<DeliveryRow>();
  return rows.results.map(toDelivery);
}
