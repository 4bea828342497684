// An OperationDO shard's own SQLite: one row per live operation (`ops`), its split snapshot, its intent and its next timer.
import type { FinalState, OperationSnapshot } from '../domain/operation';
import { withoutIntent } from '../domain/operation';

interface StoredRow extends Record<string, SqlStorageValue> {
  state: string;
  fixed: string | null;
  intent: string | null;
}

/**
 * What of an operation changes after begin (the state machine's saves: sdkStart's status and registrationRp, the
 * final state of finalise/reconcile, the push outcomes). Everything else — rp, policy, credentials, devices, the transaction or
 * document and its content, challenge, token hash, expiry — is fixed at begin. A new field that changes after
 * begin must be listed here, or its change is lost on the next load.
 */
const CHANGING = ['status', 'registrationRp', 'completedAt', 'result', 'failure', 'finishDigest', 'notifications'] as const satisfies readonly (keyof OperationSnapshot)[];
const CHANGING_KEYS: ReadonlySet<string> = new Set(CHANGING);

/** The changing part of a snapshot: the small JSON rewritten on every save (`ops.state`). */
export function changingPart(op: OperationSnapshot): Partial<OperationSnapshot> {
  const part: Record<string, unknown> = {};
  for (const key of CHANGING) if (op[key] !== undefined) part[key] = op[key];
  return part as Partial<OperationSnapshot>;
}

/** The fixed part (`ops.fixed`): written once, when the row is created (or a row of the old layout is migrated). */
export function fixedPart(op: OperationSnapshot): Omit<OperationSnapshot, (typeof CHANGING)[number] | 'intent'> {
  const part: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(op)) if (!CHANGING_KEYS.has(key) && key !== 'intent') part[key] = value;
  return part as Omit<OperationSnapshot, (typeof CHANGING)[number] | 'intent'>;
}

/**
 * A stored row read back: the fixed part with the changing part over it, and the intent column over both.
 * A row of the old layout (fixed NULL, as shards wrote before the split) holds the whole snapshot in `state`.
 */
export function snapshotOfRow(row: { state: string; fixed: string | null; intent: string | null }): OperationSnapshot {
  const state = JSON.parse(row.state) as OperationSnapshot;
  const op = row.fixed === null ? state : ({ ...(JSON.parse(row.fixed) as object), ...state } as OperationSnapshot);
  return row.intent ? { ...op, intent: JSON.parse(row.intent) as FinalState } : op;
}

/** The `ops` table of one shard. Creating it brings the table up to date (shards created before a column get it). */
export class ShardStore {
  constructor(private readonly sql: SqlStorage) {
    // state: the changing part (JSON); fixed: the part fixed at begin (JSON, NULL in rows of the old layout,
    // whose state holds the whole snapshot); intent: the crash-safety intent (see writeIntent).
    sql.exec('CREATE TABLE IF NOT EXISTS ops (id TEXT PRIMARY KEY, state TEXT NOT NULL, due_at INTEGER NOT NULL, intent TEXT, fixed TEXT)');
    sql.exec('CREATE INDEX IF NOT EXISTS ops_due ON ops (due_at)');
    // The intent and fixed columns came later: shards created before them get them on their next start.
    const columns = sql.exec<{ name: string }>('PRAGMA table_info(ops)').toArray();
    if (!columns.some((c) => c.name === 'intent')) sql.exec('ALTER TABLE ops ADD COLUMN intent TEXT');
    if (!columns.some((c) => c.name === 'fixed')) sql.exec('ALTER TABLE ops ADD COLUMN fixed TEXT');
  }

  read(operationId: string): OperationSnapshot | null {
    const row = this.sql.exec<StoredRow>('SELECT state, fixed, intent FROM ops WHERE id = ?', operationId).toArray()[0];
    return row ? snapshotOfRow(row) : null;
  }

  writeIntent(operationId: string, intent: FinalState): void {
    this.sql.exec('UPDATE ops SET intent = ?2 WHERE id = ?1', operationId, JSON.stringify(intent));
  }

  /**
   * Saves the operation and clears its intent. A row that has its fixed part gets only the changing part
   * rewritten (a few hundred bytes, not the credentials, devices and document again); a new row, or one of
   * the old layout (fixed NULL), is written whole, split, once.
   */
  write(operationId: string, op: OperationSnapshot): void {
    const state = JSON.stringify(changingPart(op));
    const updated = this.sql.exec('UPDATE ops SET state = ?2, intent = NULL WHERE id = ?1 AND fixed IS NOT NULL RETURNING id', operationId, state).toArray();
    if (updated.length > 0) return;
    this.sql.exec(
      'INSERT INTO ops (id, state, fixed, due_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET state = excluded.state, fixed = excluded.fixed, intent = NULL',
      operationId, state, JSON.stringify(fixedPart(withoutIntent(op))), Date.parse(op.expiresAt),
    );
  }

  setDue(operationId: string, at: number): void {
    this.sql.exec('UPDATE ops SET due_at = ?2 WHERE id = ?1', operationId, at);
  }

  /** A timer that is still due at `now` (its run did not move it) moves to `at`. */
  postponeIfStillDue(operationId: string, now: number, at: number): void {
    this.sql.exec('UPDATE ops SET due_at = ?2 WHERE id = ?1 AND due_at <= ?3', operationId, at, now);
  }

  delete(operationId: string): void {
    this.sql.exec('DELETE FROM ops WHERE id = ?', operationId);
  }

  /** Ids whose timer is due at `now`, earliest first, at most `limit`. */
  due(now: number, limit: number): string[] {
    return this.sql.exec<{ id: string }>('SELECT id FROM ops WHERE due_at <= ? ORDER BY due_at LIMIT ?', now, limit).toArray().map((row) => row.id);
  }

  /** The earliest timer of any operation, or null when the shard holds none. */
  earliestDue(): number | null {
    return this.sql.exec<{ at: number | null }>('SELECT MIN(due_at) AS at FROM ops').one().at;
  }
}
