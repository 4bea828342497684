// D1 statements behind the start limits: the count the read batch makes and the preconditions the write batch carries.
import { idFloor } from '../domain/ids';
import { START_RATE_WINDOW_MS } from '../domain/policy';
import type { StartLimitRefusal, StartLoad, TenantPolicy } from '../domain/policy';
import { failedPrecondition, precondition } from './precondition';

/*
 * Why D1 and not a per-user Durable Object counter: the history table already holds every fact the limits
 * need (status, expires_at, created ids), the start already makes one read batch and one write batch there,
 * and a live operation leaves the count by the very UPDATE that finalises it. A counter elsewhere would add a
 * round trip to every start and could drift from the truth (a cancel or an expiry that did not reach it). The
 * read batch's count decides the answer; preconditions in the write batch re-count inside the same transaction as
 * the INSERT, which is what holds under concurrency (D1 runs batches one at a time).
 */

export interface StartScope {
  tenantId: string;
  userId: string;
  /** The named device, or null for a broadcast (the device limit then does not apply). */
  deviceId: string | null;
  now: Date;
}

// Both counts use the partial index operations_live (migration 0007); its WHERE must be repeated word for word.
const LIVE = `tenant_id = ?1 AND user_id = ?2 AND status IN ('PENDING', 'IN_PROGRESS') AND expires_at > ?4`;
// Operation ids start with their creation time, so the id index operations_user bounds "started in the last minute".
const RECENT = 'tenant_id = ?1 AND user_id = ?2 AND id >= ?5';

function binds(scope: StartScope): [string, string, string | null, string, string] {
  return [scope.tenantId, scope.userId, scope.deviceId, scope.now.toISOString(), idFloor('op', scope.now.getTime() - START_RATE_WINDOW_MS)];
}

/** One statement for the start's read batch: the user's live operations, those naming the device, and recent starts. */
export function startLoadStatement(db: D1Database, scope: StartScope): D1PreparedStatement {
  return db
    .prepare(
      `SELECT COUNT(*) AS live_user, MIN(expires_at) AS user_expiry,
              COALESCE(SUM(device_id = ?3), 0) AS live_device, MIN(CASE WHEN device_id = ?3 THEN expires_at END) AS device_expiry,
              (SELECT COUNT(*) FROM operations WHERE ${RECENT}) AS recent_starts,
              (SELECT MIN(created_at) FROM operations WHERE ${RECENT}) AS oldest_start
       FROM operations WHERE ${LIVE}`,
    )
    .bind(...binds(scope));
}

interface LoadRow {
  live_user: number;
  user_expiry: string | null;
  live_device: number;
  device_expiry: string | null;
  recent_starts: number;
  oldest_start: string | null;
}

export function startLoadFrom(result: D1Result | undefined): StartLoad {
  const row = result?.results[0] as LoadRow | undefined;
  return {
    liveForUser: row?.live_user ?? 0,
    userEarliestExpiry: row?.user_expiry ?? null,
    liveForDevice: row?.live_device ?? 0,
    deviceEarliestExpiry: row?.device_expiry ?? null,
    recentStarts: row?.recent_starts ?? 0,
    oldestRecentStart: row?.oldest_start ?? null,
  };
}

export async function readStartLoad(db: D1Database, scope: StartScope): Promise<StartLoad> {
  return startLoadFrom(await startLoadStatement(db, scope).all());
}

type Limits = Pick<TenantPolicy, 'maxLiveOperationsPerUser' | 'maxLiveOperationsPerDevice' | 'maxStartsPerUserPerMinute'>;

/**
 * Goes in the start's write batch before the INSERT: re-counts at commit and fails the whole batch (operation
 * row, audit entry) when a limit has no room left, so concurrent starts cannot all pass the read-batch check.
 * Batches committed together by commitWithAudit run in order, so each precondition also counts the inserts before it.
 */
export function startLimitGuardStatements(db: D1Database, scope: StartScope, limits: Limits): D1PreparedStatement[] {
  const [tenantId, userId, deviceId, now, recentSince] = binds(scope);
  const scoped = (condition: string, limit: number) => [condition, tenantId, userId, deviceId, now, recentSince, limit] as const;
  return [
    precondition(db, 'maxLiveOperationsPerUser', ...scoped(`(SELECT COUNT(*) FROM operations WHERE ${LIVE}) < ?6`, limits.maxLiveOperationsPerUser)),
    precondition(db, 'maxLiveOperationsPerDevice', ...scoped(`?3 IS NULL OR (SELECT COUNT(*) FROM operations WHERE ${LIVE} AND device_id = ?3) < ?6`, limits.maxLiveOperationsPerDevice)),
    precondition(db, 'maxStartsPerUserPerMinute', ...scoped(`(SELECT COUNT(*) FROM operations WHERE ${RECENT}) < ?6`, limits.maxStartsPerUserPerMinute)),
  ];
}

/** The limit a refused write batch hit (the precondition's name), or null when the error is something else. */
export function limitHitBy(error: unknown): StartLimitRefusal['rule'] | null {
  const name = failedPrecondition(error);
  return name === 'maxLiveOperationsPerUser' || name === 'maxLiveOperationsPerDevice' || name === 'maxStartsPerUserPerMinute' ? name : null;
}
