// D1 queries on the operations history table: what crash recovery reconciles with, what the API shows once a
// shard has forgotten an operation, and which operations a device or a cascade must reach.
import { Binds } from './binds';
import type { OperationStatus } from '../domain/operation-state';

/** What D1 recorded of an operation's end: the truth a shard reconciles its own copy with. */
export interface OperationOutcome {
  status: OperationStatus;
  completedAt: string | null;
  failureCode: string | null;
}

interface OutcomeRow {
  status: OperationStatus;
  completed_at: string | null;
  failure_code: string | null;
}

export function readOperationOutcomeStatement(db: D1Database, operationId: string): D1PreparedStatement {
  return db.prepare('SELECT status, completed_at, failure_code FROM operations WHERE id = ?1').bind(operationId);
}

export function outcomeFrom(result: D1Result | undefined): OperationOutcome | null {
  const row = result?.results[0] as OutcomeRow | undefined;
  return row ? { status: row.status, completedAt: row.completed_at, failureCode: row.failure_code } : null;
}

export async function readOperationOutcome(db: D1Database, operationId: string): Promise<OperationOutcome | null> {
  const row = await readOperationOutcomeStatement(db, operationId).first<OutcomeRow>();
  return row ? { status: row.status, completedAt: row.completed_at, failureCode: row.failure_code } : null;
}

/** One row of the operations history as D1 keeps it (the view is routes/v1/operations.ts `historyView`). */
export interface HistoryRow {
  id: string;
  tenant_id: string;
  user_id: string;
  device_id: string | null;
  type: 'REGISTRATION' | 'AUTHENTICATION' | 'AUTHORISATION' | 'SIGNATURE';
  status: OperationStatus;
  created_at: string;
  expires_at: string;
  completed_at: string | null;
  failure_code: string | null;
  summary: string | null;
}

export async function getHistoryRow(db: D1Database, tenantId: string, operationId: string): Promise<HistoryRow | null> {
  return db.prepare('SELECT * FROM operations WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, operationId).first<HistoryRow>();
}

/** What GET /v1/operations may narrow the tenant's history by; each filter is an exact match. */
export interface HistoryFilter {
  type?: HistoryRow['type'] | undefined;
  status?: OperationStatus | undefined;
  userId?: string | undefined;
  deviceId?: string | undefined;
}

/**
 * A tenant's operations newest first, ids below `before` (or all), `limit` rows. Only the filters given become
 * conditions, so SQLite picks operations_user or operations_device for a user or device filter and operations_tenant
 * (0015) otherwise; an `?n IS NULL OR …` form would hide every index but the tenant's one.
 */
export async function listTenantHistory(db: D1Database, input: { tenantId: string; filter: HistoryFilter; before: string | null; limit: number }): Promise<HistoryRow[]> {
  const binds = new Binds();
  const conditions = [binds.add('tenant_id = ?', input.tenantId), binds.add('id < ?', input.before ?? '~')];
  const columns = { type: 'type', status: 'status', userId: 'user_id', deviceId: 'device_id' } as const;
  for (const [name, column] of Object.entries(columns) as [keyof HistoryFilter, string][]) {
    const value = input.filter[name];
    if (value !== undefined) conditions.push(binds.add(`${column} = ?`, value));
  }
  const limit = binds.add('?', input.limit);
  const rows = await db
    .prepare(`SELECT * FROM operations WHERE ${conditions.join(' AND ')} ORDER BY id DESC LIMIT ${limit}`)
    .bind(...binds.values)
    .all<HistoryRow>();
  return rows.results;
}

/** Ids of the PENDING operations a device may answer (addressed to it or broadcast), newest first, at most 50. */
export async function pendingOperationIdsForDevice(db: D1Database, input: { tenantId: string; userId: string; deviceId: string; now: string }): Promise<string[]> {
  const rows = await db
    .prepare(
      `SELECT id FROM operations WHERE tenant_id = ?1 AND user_id = ?2 AND status = 'PENDING' AND type != 'REGISTRATION'
       AND (device_id IS NULL OR device_id = ?3) AND expires_at > ?4 ORDER BY id DESC LIMIT 50`,
    )
    .bind(input.tenantId, input.userId, input.deviceId, input.now)
    .all<{ id: string }>();
  return rows.results.map((row) => row.id);
}

/** Ids of a user's live (PENDING or IN_PROGRESS) operations, or only those addressed to one device. */
export async function liveOperationIds(db: D1Database, scope: { tenantId: string; userId: string; deviceId?: string }): Promise<string[]> {
  const rows = await db
    .prepare(
      `SELECT id FROM operations WHERE tenant_id = ?1 AND user_id = ?2 AND status IN ('PENDING','IN_PROGRESS')
       AND (?3 IS NULL OR device_id = ?3)`,
    )
    .bind(scope.tenantId, scope.userId, scope.deviceId ?? null)
    .all<{ id: string }>();
  return rows.results.map((row) => row.id);
}
