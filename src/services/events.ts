// Domain events for relying parties: recorded in D1 and handed to a WebhookDeliveryDO, which signs and delivers them.
import type { Bindings } from '../env';
import { newId } from '../domain/ids';
import { insertEventIfSubscribedStatement } from '../storage/webhooks';
import type { QueuedEvent } from '../durable-objects/webhook-delivery';

export type EventType =
  | 'operation.completed' | 'operation.rejected' | 'operation.failed' | 'operation.cancelled' | 'operation.expired'
  | 'device.registered' | 'device.locked' | 'device.unlocked' | 'device.deactivated'
  | 'user.locked' | 'user.unlocked' | 'user.deactivated'
  | 'webhook.test';

/**
 * Records the event if the tenant has an enabled endpoint and returns it, or null when it has none:
 * events are not stored for tenants without webhooks, and nothing is replayed when an endpoint is
 * configured later. The body is serialised once here; those exact bytes are signed on every attempt.
 */
export async function recordEvent(env: Pick<Bindings, 'DB'>, tenantId: string, type: EventType, data: Record<string, unknown>): Promise<QueuedEvent | null> {
  const now = new Date();
  const id = newId('evt', now.getTime());
  const payload = JSON.stringify({ id, type, timestamp: now.toISOString(), tenantId, data });
  const inserted = await insertEventIfSubscribedStatement(env.DB, { id, tenantId, type, payload, createdAt: now.toISOString() }).run();
  if (inserted.meta.changes === 0) return null;
  return { id, tenantId, type, payload };
}

/** The delivery object of one event: one Durable Object per event id. */
export function deliveryStub(env: Pick<Bindings, 'WEBHOOKS'>, eventId: string): DurableObjectStub<import('../durable-objects/webhook-delivery').WebhookDeliveryDO> {
  return env.WEBHOOKS.get(env.WEBHOOKS.idFromName(eventId));
}

/**
 * Emits an event after the state change it reports has committed. A failure here is logged and
 * swallowed: the change stands and its caller must not fail for want of a notification.
 */
export async function emitEvent(env: Bindings, tenantId: string, type: EventType, data: Record<string, unknown>): Promise<void> {
  try {
    const event = await recordEvent(env, tenantId, type, data);
    if (!event) return;
    // The first attempt runs in the delivery object's alarm, never inside this request. A stub
    // that broke (object reset mid-call) is replaced once; enqueue is idempotent per event.
    try {
      await deliveryStub(env, event.id).enqueue(event);
    } catch {
      await deliveryStub(env, event.id).enqueue(event);
    }
  } catch (error) {
    console.error(JSON.stringify({ level: 'error', message: 'webhook event not emitted', tenantId, type, error: error instanceof Error ? error.message : String(error) }));
  }
}
