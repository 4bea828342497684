// The audit log: append entries hash-chained per tenant in the same D1 batch as the change they record.
import { Binds } from './binds';
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

async function auditStatements(db: D1Database, tenantId: string, head: Head, entries: AuditEntry[], at: string): Promise<{ statements: D1PreparedStatement[]; head: Head }> {
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
    // The link is checked in SQL: prev_hash comes out NULL (and the batch fails) unless row seq-1 holds exactly that
    // hash, so a head that is stale (another writer, or an isolate's remembered one) can never leave a gap in the chain.
    const prevHash = seq === 1 ? '?11' : '(SELECT hash FROM audit_events WHERE tenant_id = ?1 AND seq = ?2 - 1 AND hash = ?11)';
    statements.push(
      db
        .prepare(
          `INSERT INTO audit_events (tenant_id, seq, id, at, actor, action, target_type, target_id, user_id, data, prev_hash, hash)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ${prevHash}, ?12)`,
        )
        .bind(tenantId, seq, record.id, at, record.actor, record.action, record.targetType, record.targetId, record.userId, JSON.stringify(record.data), hash, next),
    );
    hash = next;
  }
  return { statements, head: { seq, hash } };
}

/** Enough for dozens of concurrent writers per tenant (in other isolates: this one's queue up); each retry re-reads the head. */
const MAX_AUDIT_ATTEMPTS = 30;

function isAuditRace(error: unknown): boolean {
  return error instanceof Error && /UNIQUE constraint failed: audit_events|NOT NULL constraint failed: audit_events\.prev_hash/.test(error.message);
}

/** Per tenant, the head this isolate appended last: the first guess for the next append, checked by the link in SQL. */
const lastHeads = new Map<string, Head>();
const MAX_REMEMBERED_HEADS = 10_000;

function newerHead(a: Head | undefined, b: Head | undefined): Head | undefined {
  if (!a || !b) return a ?? b;
  return a.seq >= b.seq ? a : b;
}

function rememberHead(tenantId: string, head: Head): void {
  if (lastHeads.size >= MAX_REMEMBERED_HEADS && !lastHeads.has(tenantId)) lastHeads.clear();
  lastHeads.set(tenantId, head);
}

type Outcome = { results: D1Result[] } | { error: unknown };

interface Append {
  statements: D1PreparedStatement[];
  entries: AuditEntry[];
  at: string;
  head?: AuditHead;
  outcome?: Outcome;
  /** In a batch a leader took: only that leader can settle it. */
  taken?: boolean;
}

interface TenantQueue {
  db: D1Database;
  pending: Append[];
  /** Settles when the batch in flight is done: created and settled in the leader's own request. */
  inFlight: Promise<void> | null;
}

/**
 * A tenant's chain is one sequence, so its appends are serial. Within an isolate they queue per tenant:
 * one caller (the leader) commits a batch while the others wait for it, then the first of them to run
 * leads the next batch, which carries every append queued meanwhile, each with its own statements and
 * chained entries. Under load that is one D1 round trip for many appends instead of a race (and
 * retries) for every sequence number. Writers in other isolates can still race; the retry on a fresh
 * head settles that. Waiters await only the leader's own promise, which the leader settles in its own
 * request: under workerd, settling from one request a promise another request created hung both.
 */
const queues = new Map<string, TenantQueue>();
const MAX_GROUP = 16;
/**
 * A leader whose request was cancelled mid-batch never finishes; after this long a waiter takes the
 * lead, and the callers that were in the lost batch fail, since whether it committed is unknown.
 */
const LEAD_WAIT_MS = 10_000;

/**
 * Runs `statements` and appends `entries` to the tenant's audit chain in one atomic batch. Two
 * writers racing for the same sequence number make one batch fail whole; it is then retried on
 * the new head, so the chain never forks and no change lands without its audit entry. Callers
 * batched together succeed or fail on their own: if any one's statements fail, each is retried alone.
 */
export async function commitWithAudit(
  db: D1Database,
  tenantId: string,
  statements: D1PreparedStatement[],
  entries: AuditEntry[],
  at: string = new Date().toISOString(),
  options: { head?: AuditHead } = {},
): Promise<D1Result[]> {
  const append: Append = { statements, entries, at, head: options.head };
  let queue = queues.get(tenantId);
  if (!queue) queues.set(tenantId, (queue = { db, pending: [], inFlight: null }));
  queue.pending.push(append);
  while (!append.outcome) {
    const inFlight = queue.inFlight;
    if (!inFlight) {
      await lead(tenantId, queue);
      continue;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A timer of our own, too: the lead passes to us if the leader never finishes.
    const timedOut = await Promise.race([inFlight.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), LEAD_WAIT_MS)))]);
    if (timer !== undefined) clearTimeout(timer);
    if (timedOut && queue.inFlight === inFlight) {
      queue.inFlight = null;
      if (append.taken) append.outcome ??= { error: new Error('audit batch interrupted; its outcome is unknown') };
    }
  }
  if ('error' in append.outcome) throw append.outcome.error;
  return append.outcome.results;
}

async function lead(tenantId: string, queue: TenantQueue): Promise<void> {
  let finished = (): void => {};
  const inFlight = new Promise<void>((resolve) => (finished = resolve));
  queue.inFlight = inFlight;
  const group = queue.pending.splice(0, MAX_GROUP);
  for (const append of group) append.taken = true;
  try {
    if (group.length > 0) await commitGroup(queue.db, tenantId, group);
  } catch (error) {
    // Reading the head failed, say: every caller of the batch gets the error, none is left waiting.
    for (const append of group) append.outcome ??= { error };
  } finally {
    if (queue.inFlight === inFlight) queue.inFlight = null;
    if (queue.pending.length === 0 && queue.inFlight === null && queues.get(tenantId) === queue) queues.delete(tenantId);
    finished();
  }
}

async function commitGroup(db: D1Database, tenantId: string, group: Append[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    // First try the newest head known without a round trip (this isolate's last append, or one a caller
    // read in a batch it made anyway); a stale one just costs a retry on a fresh read.
    const known = attempt === 0 ? group.reduce((h, a) => newerHead(h, a.head), lastHeads.get(tenantId)) : undefined;
    let head = known ?? (await readHead(db, tenantId));
    const parts: { append: Append; statements: D1PreparedStatement[] }[] = [];
    for (const append of group) {
      const audit = await auditStatements(db, tenantId, head, append.entries, append.at);
      parts.push({ append, statements: [...append.statements, ...audit.statements] });
      head = audit.head;
    }
    try {
      const results = await db.batch(parts.flatMap((p) => p.statements));
      rememberHead(tenantId, head);
      let offset = 0;
      for (const part of parts) {
        part.append.outcome = { results: results.slice(offset, offset + part.statements.length) };
        offset += part.statements.length;
      }
      return;
    } catch (error) {
      if (isAuditRace(error)) lastHeads.delete(tenantId);
      if (isAuditRace(error) && attempt < MAX_AUDIT_ATTEMPTS) {
        // Writers in other isolates collide on the next sequence number: back off a random, growing moment.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 ** Math.min(attempt, 6)));
        continue;
      }
      if (group.length === 1) {
        group[0]!.outcome = { error };
        return;
      }
      // One caller's statements failed (a guard, a constraint): the others must not fail with it.
      for (const append of group) await commitGroup(db, tenantId, [append]);
      return;
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

export interface AuditFilter {
  userId?: string | undefined;
  /** Exact action (`user.locked`), or a family when it ends in `.` (`user.`). */
  action?: string | undefined;
  actor?: string | undefined;
  targetId?: string | undefined;
  /** ISO instants, inclusive: `at` is stored as ISO 8601 UTC, so text order is time order. */
  since?: string | undefined;
  until?: string | undefined;
}

/**
 * A page of the tenant's chain, in chain order or newest first; `cursor` is the last seq already shown. Filters narrow
 * the page without breaking the order (every one is a bound parameter; the scan runs on the (tenant_id, seq) key, or
 * on (tenant_id, user_id, seq) for one user).
 */
export async function listAuditEvents(
  db: D1Database,
  tenantId: string,
  options: AuditFilter & { cursor?: number | undefined; order?: 'asc' | 'desc'; limit: number },
): Promise<AuditRecord[]> {
  const binds = new Binds();
  const where = [binds.add('tenant_id = ?', tenantId)];
  const add = (clause: string, value: unknown): void => {
    where.push(binds.add(clause, value));
  };
  if (options.userId !== undefined) add('user_id = ?', options.userId);
  if (options.action !== undefined) {
    if (options.action.endsWith('.')) add("substr(action, 1, length(?)) = ?", options.action);
    else add('action = ?', options.action);
  }
  if (options.actor !== undefined) add('actor = ?', options.actor);
  if (options.targetId !== undefined) add('target_id = ?', options.targetId);
  if (options.since !== undefined) add('at >= ?', options.since);
  if (options.until !== undefined) add('at <= ?', options.until);
  const desc = options.order === 'desc';
  if (options.cursor !== undefined) add(desc ? 'seq < ?' : 'seq > ?', options.cursor);
  const limit = binds.add('?', options.limit);
  const sql = `SELECT * FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq ${desc ? 'DESC' : 'ASC'} LIMIT ${limit}`;
  const rows = await db.prepare(sql).bind(...binds.values).all<AuditRow>();
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
