// The audit log: append entries hash-chained per tenant in the same D1 batch as the change they record.
import canonicalize from 'canonicalize';
import { newId } from '../domain/ids';
import { hashSecret } from '../domain/secrets';

export interface AuditEntry {
  actor: string;            // 'admin', 'client:<id>', 'device:<id>', 'system'
  action: string;           // 'user.created', 'device.locked', ...
  targetType: string;
  targetId: string;
  userId?: string | null;
  data?: Record<string, unknown>;
}

export interface AuditRecord extends Required<Omit<AuditEntry, 'data' | 'userId'>> {
  id: string;
  seq: number;
  at: string;
  userId: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** The chained hash of one entry: SHA-256 over the previous hash and the entry's canonical JSON. */
export async function chainHash(prevHash: string, record: Omit<AuditRecord, 'hash' | 'prevHash'> & { tenantId: string }): Promise<string> {
  const canonical = canonicalize({
    tenantId: record.tenantId,
    seq: record.seq,
    id: record.id,
    at: record.at,
    actor: record.actor,
    action: record.action,
    targetType: record.targetType,
    targetId: record.targetId,
    userId: record.userId,
    data: record.data,
  });
  return hashSecret(`${prevHash}\n${canonical}`);
}

export interface AuditHead {
  seq: number;
  hash: string;
}
type Head = AuditHead;

/** The chain head query, so a caller can fold it into a read batch it makes anyway. */
export function auditHeadStatement(db: D1Database, tenantId: string): D1PreparedStatement {
  return db.prepare('SELECT seq, hash FROM audit_events WHERE tenant_id = ?1 ORDER BY seq DESC LIMIT 1').bind(tenantId);
}

export function auditHeadFrom(result: D1Result | undefined): AuditHead {
  const row = result?.results[0] as { seq: number; hash: string } | undefined;
  return row ?? { seq: 0, hash: GENESIS_HASH };
}

async function readHead(db: D1Database, tenantId: string): Promise<Head> {
  return auditHeadFrom(await auditHeadStatement(db, tenantId).all());
}

async function auditStatements(db: D1Database, tenantId: string, head: Head, entries: AuditEntry[], at: string): Promise<D1PreparedStatement[]> {
  const statements: D1PreparedStatement[] = [];
  let { seq, hash } = head;
  for (const entry of entries) {
    seq += 1;
    const record = {
      tenantId,
      seq,
      id: newId('aud'),
      at,
      actor: entry.actor,
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId,
      userId: entry.userId ?? null,
      data: entry.data ?? {},
    };
    const next = await chainHash(hash, record);
    statements.push(
      db
        .prepare(
          `INSERT INTO audit_events (tenant_id, seq, id, at, actor, action, target_type, target_id, user_id, data, prev_hash, hash)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)`,
        )
        .bind(tenantId, seq, record.id, at, record.actor, record.action, record.targetType, record.targetId, record.userId, JSON.stringify(record.data), hash, next),
    );
    hash = next;
  }
  return statements;
}

function isAuditRace(error: unknown): boolean {
  return error instanceof Error && /UNIQUE constraint failed: audit_events/.test(error.message);
}

/**
 * Runs `statements` and appends `entries` to the tenant's audit chain in one atomic batch. Two
 * writers racing for the same sequence number make one batch fail whole; it is then retried on
 * the new head, so the chain never forks and no change lands without its audit entry.
 */
export async function commitWithAudit(
  db: D1Database,
  tenantId: string,
  statements: D1PreparedStatement[],
  entries: AuditEntry[],
  at: string = new Date().toISOString(),
  options: { head?: AuditHead } = {},
): Promise<D1Result[]> {
  for (let attempt = 0; ; attempt++) {
    // A head the caller already read saves one round trip; a stale one just costs a retry.
    const head = attempt === 0 && options.head ? options.head : await readHead(db, tenantId);
    const audit = await auditStatements(db, tenantId, head, entries, at);
    try {
      return await db.batch([...statements, ...audit]);
    } catch (error) {
      if (!isAuditRace(error) || attempt >= 8) throw error;
    }
  }
}

interface AuditRow {
  tenant_id: string;
  seq: number;
  id: string;
  at: string;
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  user_id: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

function toRecord(row: AuditRow): AuditRecord {
  return {
    id: row.id,
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    userId: row.user_id,
    data: JSON.parse(row.data) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export async function listAuditEvents(
  db: D1Database,
  tenantId: string,
  options: { userId?: string; afterSeq?: number; limit: number },
): Promise<AuditRecord[]> {
  const rows = options.userId
    ? await db
        .prepare('SELECT * FROM audit_events WHERE tenant_id = ?1 AND user_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4')
        .bind(tenantId, options.userId, options.afterSeq ?? 0, options.limit)
        .all<AuditRow>()
    : await db
        .prepare('SELECT * FROM audit_events WHERE tenant_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3')
        .bind(tenantId, options.afterSeq ?? 0, options.limit)
        .all<AuditRow>();
  return rows.results.map(toRecord);
}

export interface ChainVerification {
  valid: boolean;
  checked: number;
  headSeq: number;
  headHash: string;
  brokenAtSeq?: number;
  reason?: 'HASH_MISMATCH' | 'LINK_MISMATCH' | 'SEQUENCE_GAP';
}

/** Walks the tenant's whole chain in pages and recomputes every hash. */
export async function verifyAuditChain(db: D1Database, tenantId: string): Promise<ChainVerification> {
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let checked = 0;
  for (;;) {
    const page = await db
      .prepare('SELECT * FROM audit_events WHERE tenant_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT 500')
      .bind(tenantId, expectedSeq)
      .all<AuditRow>();
    if (page.results.length === 0) break;
    for (const row of page.results) {
      const record = toRecord(row);
      const fail = (reason: ChainVerification['reason']): ChainVerification => ({
        valid: false, checked, headSeq: expectedSeq - 1, headHash: prev, brokenAtSeq: record.seq, reason,
      });
      if (record.seq !== expectedSeq) return fail('SEQUENCE_GAP');
      if (record.prevHash !== prev) return fail('LINK_MISMATCH');
      const recomputed = await chainHash(prev, { ...record, tenantId });
      if (recomputed !== record.hash) return fail('HASH_MISMATCH');
      prev = record.hash;
      expectedSeq += 1;
      checked += 1;
    }
  }
  return { valid: true, checked, headSeq: expectedSeq - 1, headHash: prev };
}
