// D1 queries for push: a device's channel (devices.push_*) and a tenant's FCM / APNs credentials (push_credentials).
import type { PushChannelView } from '../domain/push';

export type PushProvider = 'FCM' | 'APNS';

/** Registers (or replaces) the channel of an active device; false when the device is not active (nothing written). */
export async function setPushChannel(db: D1Database, input: { deviceId: string; sealed: string; view: PushChannelView; at: string }): Promise<boolean> {
  const updated = await db
    .prepare(`UPDATE devices SET push_channel = ?2, push_meta = ?3, push_removed = NULL, updated_at = ?4 WHERE id = ?1 AND status = 'ACTIVE'`)
    .bind(input.deviceId, input.sealed, JSON.stringify(input.view), input.at)
    .run();
  return updated.meta.changes > 0;
}

/**
 * Drops a device's channel and records why. With `onlyIf` (the sealed value a sender used) it drops only that one:
 * a push service's 410 for an old subscription must not remove the one the device registered meanwhile.
 */
export async function removePushChannel(db: D1Database, input: { deviceId: string; reason: string; at: string; onlyIf?: string }): Promise<boolean> {
  const removed = await db
    .prepare(
      `UPDATE devices SET push_removed = json_object('type', json_extract(push_meta, '$.type'), 'reason', ?2, 'at', ?3),
         push_channel = NULL, push_meta = NULL, updated_at = ?3
       WHERE id = ?1 AND push_channel IS NOT NULL AND (?4 IS NULL OR push_channel = ?4)`,
    )
    .bind(input.deviceId, input.reason, input.at, input.onlyIf ?? null)
    .run();
  return removed.meta.changes > 0;
}

export interface PushCredentialRow {
  provider: PushProvider;
  sealed: string;
  public: string;
  updated_at: string;
}

export function putPushCredentialStatement(db: D1Database, input: { tenantId: string; provider: PushProvider; sealed: string; publicPart: object; at: string }): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO push_credentials (tenant_id, provider, sealed, public, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
       ON CONFLICT (tenant_id, provider) DO UPDATE SET sealed = excluded.sealed, public = excluded.public, updated_at = excluded.updated_at`,
    )
    .bind(input.tenantId, input.provider, input.sealed, JSON.stringify(input.publicPart), input.at);
}

export async function getPushCredential(db: D1Database, tenantId: string, provider: PushProvider): Promise<PushCredentialRow | null> {
  return db.prepare('SELECT provider, sealed, public, updated_at FROM push_credentials WHERE tenant_id = ?1 AND provider = ?2').bind(tenantId, provider).first<PushCredentialRow>();
}

export async function listPushCredentials(db: D1Database, tenantId: string): Promise<PushCredentialRow[]> {
  const rows = await db.prepare('SELECT provider, sealed, public, updated_at FROM push_credentials WHERE tenant_id = ?1 ORDER BY provider').bind(tenantId).all<PushCredentialRow>();
  return rows.results;
}

export function deletePushCredentialStatement(db: D1Database, tenantId: string, provider: PushProvider): D1PreparedStatement {
  return db.prepare('DELETE FROM push_credentials WHERE tenant_id = ?1 AND provider = ?2').bind(tenantId, provider);
}

