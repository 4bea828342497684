// Domain events for relying parties; delivery as signed webhooks is the webhook service's job.
import type { Bindings } from '../env';

export type EventType =
  | 'operation.completed' | 'operation.rejected' | 'operation.failed' | 'operation.cancelled' | 'operation.expired'
  | 'device.registered' | 'device.locked' | 'device.unlocked' | 'device.deactivated'
  | 'user.locked' | 'user.unlocked' | 'user.deactivated'
  | 'webhook.test';

export async function emitEvent(env: Bindings, tenantId: string, type: EventType, data: Record<string, unknown>): Promise<void> {
  void env;
  void tenantId;
  void type;
  void data;
}
