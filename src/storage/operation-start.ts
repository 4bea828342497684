// The D1 statements of starting an operation (services/operation-start.ts decides which run, and in which batch).
import type { PreconditionName } from './precondition';
import { precondition } from './precondition';
import { listUserDevicesStatement, userCredentialsStatement } from './devices';
import type { CredentialRow, DeviceRow } from './devices';

/** The tenant columns a start depends on; the one-batch start compares them as text to what it remembers. */
export interface StartTenantRow {
  rp_id: string;
  rp_name: string;
  origins: string;
  policy: string;
}

export interface StartUserRow {
  status: string;
  external_ref: string | null;
}

/** The operation a REGISTRATION's authorisedBy names. */
export interface PriorOperationRow {
  type: string;
  status: string;
  user_id: string;
  completed_at: string | null;
}

/** The user, their devices and their credentials: what the Durable Object needs, read by either path. */
export function startUserReads(db: D1Database, tenantId: string, userId: string): D1PreparedStatement[] {
  return [
    db.prepare('SELECT status, external_ref FROM users WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, userId),
    listUserDevicesStatement(db, tenantId, userId),
    userCredentialsStatement(db, tenantId, userId),
  ];
}

export interface StartUserRead {
  user: StartUserRow | undefined;
  devices: DeviceRow[];
  credentials: CredentialRow[];
}

/** The rows of `startUserReads`' three results, in their order. */
export function startUserReadFrom(results: readonly (D1Result | undefined)[]): StartUserRead {
  return {
    user: results[0]?.results[0] as StartUserRow | undefined,
    devices: (results[1]?.results ?? []) as unknown as DeviceRow[],
    credentials: (results[2]?.results ?? []) as unknown as CredentialRow[],
  };
}

export function startTenantRead(db: D1Database, tenantId: string): D1PreparedStatement {
  return db.prepare('SELECT rp_id, rp_name, origins, policy FROM tenants WHERE id = ?1').bind(tenantId);
}

export function priorOperationRead(db: D1Database, tenantId: string, operationId: string | undefined): D1PreparedStatement {
  return db.prepare('SELECT type, status, user_id, completed_at FROM operations WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, operationId ?? '');
}

/**
 * What the one-batch start must still find true when it commits: the tenant configuration is the one it remembers,
 * the user is active, and so is the named device (or, for a broadcast, some device). Each failure names itself.
 */
export function startRulePreconditions(db: D1Database, input: { tenantId: string; tenant: StartTenantRow; userId: string; deviceId: string | undefined }): D1PreparedStatement[] {
  const { tenantId, tenant, userId, deviceId } = input;
  return [
    precondition(db, 'tenantUnchanged', 'EXISTS (SELECT 1 FROM tenants WHERE id = ?1 AND rp_id = ?2 AND rp_name = ?3 AND origins = ?4 AND policy = ?5)',
      tenantId, tenant.rp_id, tenant.rp_name, tenant.origins, tenant.policy),
    precondition(db, 'userActive', "EXISTS (SELECT 1 FROM users WHERE tenant_id = ?1 AND id = ?2 AND status = 'ACTIVE')", tenantId, userId),
    deviceId !== undefined
      ? precondition(db, 'deviceActive', "EXISTS (SELECT 1 FROM devices WHERE tenant_id = ?1 AND user_id = ?2 AND id = ?3 AND status = 'ACTIVE')", tenantId, userId, deviceId)
      : precondition(db, 'anyActiveDevice', "EXISTS (SELECT 1 FROM devices WHERE tenant_id = ?1 AND user_id = ?2 AND status = 'ACTIVE')", tenantId, userId),
  ];
}

/** The preconditions `startRulePreconditions` and the limit guards state: a failure of one sends the start down the careful path. */
export const START_PRECONDITIONS: ReadonlySet<PreconditionName> = new Set<PreconditionName>([
  'tenantUnchanged', 'userActive', 'deviceActive', 'anyActiveDevice',
  'maxLiveOperationsPerUser', 'maxLiveOperationsPerDevice', 'maxStartsPerUserPerMinute',
]);

/** The history row (what GET /v1/operations/{id} shows once the Durable Object has forgotten the operation). */
export function insertOperationStatement(
  db: D1Database,
  row: { id: string; tenantId: string; userId: string; deviceId: string | null; type: string; createdAt: string; expiresAt: string; summary: Record<string, unknown> },
): D1PreparedStatement {
  return db
    .prepare('INSERT INTO operations (id, tenant_id, user_id, device_id, type, status, created_at, expires_at, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)')
    .bind(row.id, row.tenantId, row.userId, row.deviceId, row.type, 'PENDING', row.createdAt, row.expiresAt, JSON.stringify(row.summary));
}
