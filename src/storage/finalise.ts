// D1 statements of an operation's final batch (the shard's finalise): its pre-read, its preconditions, the device, credential and history writes.
import type { OperationStatus } from '../domain/operation-state';
import { precondition } from './precondition';
import type { AuditHead } from './audit';
import { auditHeadFrom, auditHeadStatement } from './audit';
import type { OperationOutcome } from './operations';
import { outcomeFrom, readOperationOutcomeStatement } from './operations';

/** SQL: true while the operation (its id bound at `param`) has no final state in D1. */
const stillLiveInD1 = (param: string): string => `EXISTS (SELECT 1 FROM operations WHERE id = ${param} AND status IN ('PENDING', 'IN_PROGRESS'))`;

/*
 * The preconditions below (storage/precondition.ts) each return one statement that goes before the writes it
 * protects; when one no longer holds, D1 rolls the whole batch back and the shard decides again on fresh values.
 */

/** The device a finalise decides on, as D1 holds it now. */
export interface FinaliseDeviceRow {
  id: string;
  status: string;
  failed_attempts: number;
}

/** What a finalise that decides on current values reads first. */
export interface FinalisePreRead {
  head: AuditHead;
  userStatus: string | undefined;
  device: FinaliseDeviceRow | undefined;
  storedCounter: number | undefined;
  /** D1's own record of the operation's end, if any. */
  recorded: OperationOutcome | null;
}

/** One batch: the audit head, the user's and device's status, the credential's counter and the history row. */
export function finalisePreReadStatements(
  db: D1Database,
  input: { tenantId: string; userId: string; deviceId: string; credentialId: string; operationId: string },
): D1PreparedStatement[] {
  return [
    auditHeadStatement(db, input.tenantId),
    db.prepare('SELECT status FROM users WHERE id = ?1').bind(input.userId),
    db.prepare('SELECT id, status, failed_attempts FROM devices WHERE id = ?1').bind(input.deviceId),
    db.prepare('SELECT counter FROM credentials WHERE tenant_id = ?1 AND id = ?2').bind(input.tenantId, input.credentialId),
    readOperationOutcomeStatement(db, input.operationId),
  ];
}

export function finalisePreReadFrom(results: D1Result[]): FinalisePreRead {
  return {
    head: auditHeadFrom(results[0]),
    userStatus: (results[1]?.results[0] as { status?: string } | undefined)?.status,
    device: results[2]?.results[0] as FinaliseDeviceRow | undefined,
    storedCounter: (results[3]?.results[0] as { counter: number } | undefined)?.counter,
    recorded: outcomeFrom(results[4]),
  };
}

/** A user locked while the ceremony ran gets no new device; and the operation is still live in D1. */
export function registrationGuardStatements(db: D1Database, input: { userId: string; operationId: string }): D1PreparedStatement[] {
  return [precondition(db, 'userActive', `EXISTS (SELECT 1 FROM users WHERE id = ?1 AND status = 'ACTIVE') AND ${stillLiveInD1('?2')}`, input.userId, input.operationId)];
}

/** The device and user are still ACTIVE when this batch commits, and the operation still live in D1. */
export function completionGuardStatements(db: D1Database, input: { deviceId: string; userId: string; operationId: string }): D1PreparedStatement[] {
  return [precondition(
    db, 'deviceAndUserActive',
    `EXISTS (SELECT 1 FROM devices WHERE id = ?1 AND status = 'ACTIVE') AND EXISTS (SELECT 1 FROM users WHERE id = ?2 AND status = 'ACTIVE') AND ${stillLiveInD1('?3')}`,
    input.deviceId, input.userId, input.operationId,
  )];
}

/** A completion by the device: its failure count starts again, and it was used now. */
export function deviceUsedStatement(db: D1Database, input: { deviceId: string; at: string; backedUp: boolean }): D1PreparedStatement {
  return db
    .prepare('UPDATE devices SET failed_attempts = 0, last_used_at = ?2, updated_at = ?2, backed_up = ?3 WHERE id = ?1')
    .bind(input.deviceId, input.at, input.backedUp ? 1 : 0);
}

/** The stored counter is below the new one (or both are 0: an authenticator without a counter). */
export function counterAdvancesGuardStatements(db: D1Database, input: { tenantId: string; credentialId: string; newCounter: number }): D1PreparedStatement[] {
  return [precondition(
    db, 'counterAdvances',
    'EXISTS (SELECT 1 FROM credentials WHERE tenant_id = ?1 AND id = ?2 AND (counter < ?3 OR (counter = 0 AND ?3 = 0)))',
    input.tenantId, input.credentialId, input.newCounter,
  )];
}

/** The counter read before is still the stored one, so two overlapping operations cannot both move it. */
export function counterUnchangedGuardStatements(db: D1Database, input: { tenantId: string; credentialId: string; counter: number }): D1PreparedStatement[] {
  return [precondition(db, 'counterUnchanged', 'EXISTS (SELECT 1 FROM credentials WHERE tenant_id = ?1 AND id = ?2 AND counter = ?3)', input.tenantId, input.credentialId, input.counter)];
}

export function counterUpdateStatement(db: D1Database, input: { tenantId: string; credentialId: string; newCounter: number }): D1PreparedStatement {
  return db.prepare('UPDATE credentials SET counter = ?3 WHERE tenant_id = ?1 AND id = ?2').bind(input.tenantId, input.credentialId, input.newCounter);
}

/** The count read before is still current, so concurrent failures cannot overwrite each other. */
export function failedAttemptsGuardStatements(db: D1Database, input: { deviceId: string; failedAttempts: number }): D1PreparedStatement[] {
  return [precondition(db, 'failedAttemptsUnchanged', `EXISTS (SELECT 1 FROM devices WHERE id = ?1 AND status = 'ACTIVE' AND failed_attempts = ?2)`, input.deviceId, input.failedAttempts)];
}

/** A failed attempt: the new count, and with `lock` the device is LOCKED for `lockReason`. */
export function failedAttemptsUpdateStatement(
  db: D1Database,
  input: { deviceId: string; failedAttempts: number; lock: boolean; lockReason: string; at: string },
): D1PreparedStatement {
  return db
    .prepare(`UPDATE devices SET failed_attempts = ?2, status = CASE WHEN ?3 = 1 THEN 'LOCKED' ELSE status END, lock_reason = CASE WHEN ?3 = 1 THEN ?4 ELSE lock_reason END, updated_at = ?5 WHERE id = ?1`)
    .bind(input.deviceId, input.failedAttempts, input.lock ? 1 : 0, input.lockReason, input.at);
}

/** A final state never changes; only one batch ever moves the history row out of PENDING. */
export function stillLiveGuardStatements(db: D1Database, operationId: string): D1PreparedStatement[] {
  return [precondition(db, 'stillLive', stillLiveInD1('?1'), operationId)];
}

/**
 * The operation's history row takes its final state; a pushed operation's `notifications` (as they stood at the end)
 * go into its summary, so they outlive the Durable Object's day.
 */
export function operationHistoryStatement(
  db: D1Database,
  input: { operationId: string; status: OperationStatus; at: string; failureCode: string | null; deviceId: string | null; notifications?: unknown[] | undefined },
): D1PreparedStatement {
  if (input.notifications?.length) {
    return db
      .prepare("UPDATE operations SET status = ?2, completed_at = ?3, failure_code = ?4, device_id = ?5, summary = json_set(COALESCE(summary, '{}'), '$.notifications', json(?6)) WHERE id = ?1")
      .bind(input.operationId, input.status, input.at, input.failureCode, input.deviceId, JSON.stringify(input.notifications));
  }
  return db
    .prepare('UPDATE operations SET status = ?2, completed_at = ?3, failure_code = ?4, device_id = ?5 WHERE id = ?1')
    .bind(input.operationId, input.status, input.at, input.failureCode, input.deviceId);
}
