// Preconditions of a D1 write batch (migrations/0010_preconditions.sql): a named condition that must still hold when the batch commits.

/** Names of the preconditions the code states; the failure message carries the name. */
export type PreconditionName =
  | 'userActive' | 'deviceAndUserActive' | 'stillLive' | 'counterAdvances' | 'counterUnchanged' | 'failedAttemptsUnchanged'
  | 'endpointExists'
  | 'noOperatorYet' | 'inviteUnused' | 'adminActive' | 'anotherOperatorRemains'
  | 'tenantUnchanged' | 'deviceActive' | 'anyActiveDevice'
  | 'maxLiveOperationsPerUser' | 'maxLiveOperationsPerDevice' | 'maxStartsPerUserPerMinute';

/**
 * One statement for a batch: if `condition` (an SQL expression; 1 = holds) is not 1 when the statement runs, it aborts
 * with `precondition failed: <name>` and D1 rolls back the whole batch. Put it before the writes it protects.
 */
export function precondition(db: D1Database, name: PreconditionName, condition: string, ...values: unknown[]): D1PreparedStatement {
  // The name is bound last, after the condition's own ?1…?n, so callers number their parameters from 1.
  return db.prepare(`INSERT INTO precondition (name, holds) SELECT ?${values.length + 1}, (${condition})`).bind(...values, name);
}

const FAILED = /precondition failed: (\w+)/;

/** The precondition a failed batch stopped at, or null when the error is anything else. */
export function failedPrecondition(error: unknown): PreconditionName | null {
  const match = error instanceof Error ? FAILED.exec(error.message) : null;
  return (match?.[1] as PreconditionName | undefined) ?? null;
}
