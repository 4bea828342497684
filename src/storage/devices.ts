// D1 queries for devices and their WebAuthn credentials.
import type { StoredCredential } from '../domain/webauthn';
import type { PushChannelType, PushChannelView } from '../domain/push';

export type DeviceStatus = 'ACTIVE' | 'LOCKED' | 'DEACTIVATED';
export type DeviceKind = 'PASSKEY' | 'NATIVE';

export interface Device {
  id: string;
  tenantId: string;
  userId: string;
  kind: DeviceKind;
  status: DeviceStatus;
  lockReason: string | null;
  name: string;
  rpId: string | null;
  aaguid: string | null;
  backupEligible: boolean;
  backedUp: boolean;
  transports: string[];
  deviceKeyJwk: JsonWebKey | null;
  failedAttempts: number;
  createdAt: string;
  updatedAt: string;
  lastUsedAt: string | null;
  /** The push channel as the API shows it (never its keys or token), or null. */
  pushChannel?: PushChannelView | null;
  /** Why the last channel went away, until a new one is registered. */
  pushRemoved?: { type: PushChannelType; reason: string; at: string } | null;
  /** The stored channel (sealed JSON, or JSON where no WEBHOOK_SECRET_KEY is set): only the push sender opens it. */
  pushSealed?: string | null;
}

interface DeviceRow {
  id: string;
  tenant_id: string;
  user_id: string;
  kind: DeviceKind;
  status: DeviceStatus;
  lock_reason: string | null;
  name: string;
  rp_id: string | null;
  aaguid: string | null;
  backup_eligible: number;
  backed_up: number;
  transports: string | null;
  device_key_jwk: string | null;
  failed_attempts: number;
  created_at: string;
  updated_at: string;
  last_used_at: string | null;
  push_channel?: string | null;
  push_meta?: string | null;
  push_removed?: string | null;
}

export function toDevice(row: DeviceRow): Device {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    kind: row.kind,
    status: row.status,
    lockReason: row.lock_reason,
    name: row.name,
    rpId: row.rp_id,
    aaguid: row.aaguid,
    backupEligible: row.backup_eligible === 1,
    backedUp: row.backed_up === 1,
    transports: row.transports ? (JSON.parse(row.transports) as string[]) : [],
    deviceKeyJwk: row.device_key_jwk ? (JSON.parse(row.device_key_jwk) as JsonWebKey) : null,
    failedAttempts: row.failed_attempts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastUsedAt: row.last_used_at,
    pushChannel: row.push_meta && row.push_channel ? (JSON.parse(row.push_meta) as PushChannelView) : null,
    pushRemoved: row.push_removed ? (JSON.parse(row.push_removed) as Device['pushRemoved']) : null,
    pushSealed: row.push_channel ?? null,
  };
}

export async function getDevice(db: D1Database, tenantId: string, deviceId: string): Promise<Device | null> {
  const row = await db.prepare('SELECT * FROM devices WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, deviceId).first<DeviceRow>();
  return row ? toDevice(row) : null;
}

/** By id alone: for device proofs, where the device itself tells which tenant it belongs to. */
export async function getDeviceById(db: D1Database, deviceId: string): Promise<Device | null> {
  const row = await db.prepare('SELECT * FROM devices WHERE id = ?1').bind(deviceId).first<DeviceRow>();
  return row ? toDevice(row) : null;
}

export async function listUserDevices(db: D1Database, tenantId: string, userId: string): Promise<Device[]> {
  const rows = await db.prepare('SELECT * FROM devices WHERE tenant_id = ?1 AND user_id = ?2 ORDER BY id').bind(tenantId, userId).all<DeviceRow>();
  return rows.results.map(toDevice);
}

export function listUserDevicesStatement(db: D1Database, tenantId: string, userId: string): D1PreparedStatement {
  return db.prepare('SELECT * FROM devices WHERE tenant_id = ?1 AND user_id = ?2 ORDER BY id').bind(tenantId, userId);
}

interface CredentialRow {
  id: string;
  device_id: string;
  public_key: string;
  counter: number;
  backup_eligible: number;
  transports: string | null;
  rp_id: string | null;
}

/** The user's credentials joined with their device's flags: what a ceremony snapshots at start. */
export function userCredentialsStatement(db: D1Database, tenantId: string, userId: string): D1PreparedStatement {
  return db
    .prepare(
      // The conditions on d steer SQLite to the devices_user index; on c alone it walks every credential of the tenant.
      `SELECT c.id, c.device_id, c.public_key, c.counter, d.backup_eligible, d.transports, d.rp_id FROM credentials c
       JOIN devices d ON d.id = c.device_id WHERE c.tenant_id = ?1 AND c.user_id = ?2 AND d.tenant_id = ?1 AND d.user_id = ?2`,
    )
    .bind(tenantId, userId);
}

export function toStoredCredential(row: CredentialRow): StoredCredential {
  return {
    credentialId: row.id,
    deviceId: row.device_id,
    publicKey: row.public_key,
    counter: row.counter,
    backupEligible: row.backup_eligible === 1,
    transports: row.transports ? (JSON.parse(row.transports) as string[]) : [],
    rpId: row.rp_id,
  };
}

export type { CredentialRow, DeviceRow };

export function insertDeviceStatements(
  db: D1Database,
  device: Device,
  credential: { credentialId: string; publicKey: string; publicKeyJwk: JsonWebKey; counter: number } | null,
): D1PreparedStatement[] {
  const statements = [
    db
      .prepare(
        `INSERT INTO devices (id, tenant_id, user_id, kind, status, lock_reason, name, rp_id, aaguid, backup_eligible, backed_up, transports, device_key_jwk, failed_attempts, created_at, updated_at, last_used_at)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, ?13, ?13, ?13)`,
      )
      .bind(
        device.id, device.tenantId, device.userId, device.kind, device.status, device.name, device.rpId, device.aaguid,
        device.backupEligible ? 1 : 0, device.backedUp ? 1 : 0, JSON.stringify(device.transports),
        device.deviceKeyJwk ? JSON.stringify(device.deviceKeyJwk) : null, device.createdAt,
      ),
  ];
  if (credential) {
    statements.push(
      db
        .prepare('INSERT INTO credentials (tenant_id, id, device_id, user_id, public_key, public_key_jwk, counter, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)')
        .bind(device.tenantId, credential.credentialId, device.id, device.userId, credential.publicKey, JSON.stringify(credential.publicKeyJwk), credential.counter, device.createdAt),
    );
  }
  return statements;
}

/** A deactivated device is never pushed to again: deactivating drops its channel and says why. */
export function setDeviceStatusStatement(db: D1Database, deviceId: string, change: { status: DeviceStatus; lockReason: string | null; at: string; resetFailures: boolean }): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE devices SET status = ?2, lock_reason = ?3, updated_at = ?4, failed_attempts = CASE WHEN ?5 = 1 THEN 0 ELSE failed_attempts END,
         push_removed = CASE WHEN ?2 = 'DEACTIVATED' AND push_channel IS NOT NULL
           THEN json_object('type', json_extract(push_meta, '$.type'), 'reason', 'DEVICE_DEACTIVATED', 'at', ?4) ELSE push_removed END,
         push_channel = CASE WHEN ?2 = 'DEACTIVATED' THEN NULL ELSE push_channel END,
         push_meta = CASE WHEN ?2 = 'DEACTIVATED' THEN NULL ELSE push_meta END
       WHERE id = ?1`,
    )
    .bind(deviceId, change.status, change.lockReason, change.at, change.resetFailures ? 1 : 0);
}

/** Ids of a user's devices that are not DEACTIVATED (what deactivating the user must deactivate too). */
export async function undeactivatedDeviceIds(db: D1Database, tenantId: string, userId: string): Promise<string[]> {
  const rows = await db.prepare(`SELECT id FROM devices WHERE tenant_id = ?1 AND user_id = ?2 AND status != 'DEACTIVATED'`).bind(tenantId, userId).all<{ id: string }>();
  return rows.results.map((row) => row.id);
}

export function renameDeviceStatement(db: D1Database, deviceId: string, name: string, at: string): D1PreparedStatement {
  return db.prepare('UPDATE devices SET name = ?2, updated_at = ?3 WHERE id = ?1').bind(deviceId, name, at);
}
