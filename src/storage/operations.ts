// D1 queries on the operations history table that the Durable Object's crash recovery relies on.
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
