// Side effects of user and device state changes: cancel their live operations (their events go in the change's own batch).
import type { Bindings } from '../env';
import type { User } from '../storage/users';
import { operationStub } from '../durable-objects/operation';
import { liveOperationIds } from '../storage/operations';

/**
 * Cancels every live operation of the user, or those addressed to one device. A broadcast operation
 * survives a device lock: the other devices may still answer it, and the locked one is refused at finish.
 */
export async function cancelLiveOperations(env: Bindings, scope: { tenantId: string; userId: string; deviceId?: string }, reason: string): Promise<number> {
  const ids = await liveOperationIds(env.DB, scope);
  await Promise.all(ids.map((id) => operationStub(env, id).cancel({ reason, tenantId: scope.tenantId })));
  return ids.length;
}

export async function onUserBlocked(env: Bindings, user: User): Promise<void> {
  await cancelLiveOperations(env, { tenantId: user.tenantId, userId: user.id }, user.status === 'DEACTIVATED' ? 'USER_DEACTIVATED' : 'USER_LOCKED');
}
