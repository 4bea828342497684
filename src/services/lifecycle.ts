// Side effects of user and device state changes: cancel their live operations (their events go in the change's own batch).
import type { Bindings } from '../env';
import type { User } from '../storage/users';
import { operationStub } from '../durable-objects/operation';

interface PendingRow {
  id: string;
}

/**
 * Cancels every live operation of the user, or those addressed to one device. A broadcast operation
 * survives a device lock: the other devices may still answer it, and the locked one is refused at finish.
 */
export async function cancelLiveOperations(env: Bindings, scope: { tenantId: string; userId: string; deviceId?: string }, reason: string): Promise<number> {
  const rows = await env.DB
    .prepare(
      `SELECT id FROM operations WHERE tenant_id = ?1 AND user_id = ?2 AND status IN ('PENDING','IN_PROGRESS')
       AND (?3 IS NULL OR device_id = ?3)`,
    )
    .bind(scope.tenantId, scope.userId, scope.deviceId ?? null)
    .all<PendingRow>();
  await Promise.all(rows.results.map((row) => operationStub(env, row.id).cancel({ reason, tenantId: scope.tenantId })));
  return rows.results.length;
}

export async function onUserBlocked(env: Bindings, user: User): Promise<void> {
  await cancelLiveOperations(env, { tenantId: user.tenantId, userId: user.id }, user.status === 'DEACTIVATED' ? 'USER_DEACTIVATED' : 'USER_LOCKED');
}
