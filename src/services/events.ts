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
  const prepared = prepareEvent(env.DB, tenantId, type, data);
  const inserted = await prepared.statement.run();
  return inserted.meta.changes === 0 ? null : prepared.event;
}

/** An event and the statement that records it (if the tenant has an enabled endpoint), to run inside the batch of the change it reports. */
export interface PreparedEvent {
  event: QueuedEvent;
  statement: D1PreparedStatement;
}

export function prepareEvent(db: D1Database, tenantId: string, type: EventType, data: Record<string, unknown>, now: Date = new Date()): PreparedEvent {
  const id = newId('evt', now.getTime());
  const payload = JSON.stringify({ id, type, timestamp: now.toISOString(), tenantId, data });
  return { event: { id, tenantId, type, payload }, statement: insertEventIfSubscribedStatement(db, { id, tenantId, type, payload, createdAt: now.toISOString() }) };
}

/**
 * Hands events recorded in a batch to their delivery objects: those whose insert wrote a row (the
 * tenant has an enabled endpoint). Committed with the change, an event is not lost if this fails;
 * the failure is logged.
 */
export async function deliverRecorded(env: Bindings, recorded: { prepared: PreparedEvent; result: D1Result | undefined }[]): Promise<void> {
  for (const { prepared, result } of recorded) {
    if (!result || result.meta.changes === 0) continue;
    try {
      await enqueue(env, prepared.event);
    } catch (error) {
      logNotEmitted(prepared.event.tenantId, prepared.event.type, error);
    }
  }
}

async function enqueue(env: Bindings, event: QueuedEvent): Promise<void> {
  // The first attempt runs in the delivery object's alarm, never inside this request. A stub
  // that broke (object reset mid-call) is replaced once; enqueue is idempotent per event.
  try {
    await deliveryStub(env, event.id).enqueue(event);
  } catch {
    await deliveryStub(env, event.id).enqueue(event);
  }
}

function logNotEmitted(tenantId: string, type: string, error: unknown): void {
  console.error(JSON.stringify({ level: 'error', message: 'webhook event not emitted', tenantId, type, error: error instanceof Error ? error.message : String(error) }));
}

/** The delivery object of one event: one Durable Object per event id. */
export function deliveryStub(env: Pick<Bindings, 'WEBHOOKS'>, eventId: string): DurableObjectStub<import('../durable-objects/webhook-delivery').WebhookDeliveryDO> {
  return env.WEBHOOKS.get(env.WEBHOOKS.idFromName(eventId));
}
