// /v1/webhooks: the relying party's delivery log, a test event and replay of a delivery (scope `operations`).
import { createRoute, z } from '@hono/zod-openapi';
import { auditActorOf, createRouter } from '../../env';
import { ApiError } from '../../errors';
import { isId } from '../../domain/ids';
import { requireScope } from '../../middleware/auth';
import { idempotent } from '../../middleware/idempotency';
import { commonErrors, conflict, decodeCursor, IdParam, idempotencyReused, listOf, notFound, pageAhead, PageQuery, readErrors } from '../../schemas/common';
import { DeliverySchema, deliveryView, WebhookReplaySchema, WebhookTestSchema } from '../../schemas/webhooks';
import { commitWithAudit } from '../../storage/audit';
import { getDelivery, getEndpoint, getEventForReplay, listDeliveries, requestReplayStatement } from '../../storage/webhooks';
import { deliveryStub, recordEvent } from '../../services/events';

export const webhooks = createRouter();
webhooks.use('*', requireScope('operations'));

const json = (schema: z.ZodTypeAny, description: string) => ({ description, content: { 'application/json': { schema } } });

webhooks.openapi(
  createRoute({
    method: 'get', path: '/deliveries', tags: ['Webhooks'], operationId: 'listWebhookDeliveries', security: [{ oauth2: ['operations'] }],
    summary: 'Delivery attempts, newest first, optionally of one event',
    description: 'Every attempt is one item; retries of an event share its webhookId. A FAILED item without nextAttemptAt is the last of its event.',
    request: { query: PageQuery.extend({ eventId: z.string().max(64).optional().openapi({ example: 'evt_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h' }) }) },
    responses: { 200: json(listOf(DeliverySchema, 'WebhookDeliveryList'), 'A page of delivery attempts'), ...readErrors },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const beforeId = decodeCursor(q.cursor, (k): k is string => typeof k === 'string' && isId(k, 'whd'));
    // Like the audit log's userId filter: an id that cannot exist matches nothing.
    if (q.eventId !== undefined && !isId(q.eventId, 'evt')) return c.json({ items: [], nextCursor: null }, 200);
    const rows = await listDeliveries(c.env.DB, c.get('auth').tenantId, { eventId: q.eventId, beforeId, limit: q.limit + 1 });
    return c.json(pageAhead(rows.map(deliveryView), q.limit, (d) => d.id), 200);
  },
);

webhooks.openapi(
  createRoute({
    method: 'post', path: '/test', tags: ['Webhooks'], operationId: 'sendTestWebhook', security: [{ oauth2: ['operations'] }], middleware: [idempotent] as const,
    summary: 'Send a webhook.test event now and report the first attempt',
    description: 'The event is signed and delivered like any other; a failed first attempt is retried on the usual schedule.',
    request: {
      body: { required: false, content: { 'application/json': { schema: z.strictObject({}).openapi('WebhookTestRequest') } } },
      headers: z.object({ 'idempotency-key': z.string().optional() }),
    },
    responses: {
      200: json(WebhookTestSchema, 'The event id and its first delivery attempt (which may have failed)'),
      ...commonErrors, ...notFound('WEBHOOK_NOT_CONFIGURED'), ...conflict('WEBHOOK_DISABLED, IDEMPOTENCY_KEY_IN_USE'),
      ...idempotencyReused,
    },
  }),
  async (c) => {
    const { tenantId, clientId } = c.get('auth');
    const endpoint = await getEndpoint(c.env.DB, tenantId);
    if (!endpoint) throw new ApiError('WEBHOOK_NOT_CONFIGURED', 'This tenant has no webhook endpoint; an operator sets one.');
    if (endpoint.disabledAt) throw new ApiError('WEBHOOK_DISABLED', `The endpoint was disabled (${endpoint.disabledReason ?? 'unknown reason'}); setting its URL again re-enables it.`);
    const event = await recordEvent(c.env, tenantId, 'webhook.test', { message: 'This is a test event from Custos.', requestedBy: clientId });
    if (!event) throw new ApiError('WEBHOOK_NOT_CONFIGURED', 'The endpoint was removed or disabled meanwhile.');
    const record = await deliveryStub(c.env, event.id).sendNow(event);
    return c.json({ eventId: event.id, delivery: deliveryView(record) }, 200);
  },
);

webhooks.openapi(
  createRoute({
    method: 'post', path: '/deliveries/{deliveryId}/replay', tags: ['Webhooks'], operationId: 'replayWebhookDelivery', security: [{ oauth2: ['operations'] }], middleware: [idempotent] as const,
    summary: "Send a delivery's event again to the current endpoint",
    description:
      'Queues the event for an immediate attempt by its delivery object, with the same webhook-id (receivers deduplicate on it) and a fresh ' +
      'timestamp and signature. The attempt is a new item of the delivery log, numbered after the last one; a failed one is retried on the usual schedule.',
    request: {
      params: z.object({ deliveryId: IdParam('deliveryId', 'whd_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h') }),
      headers: z.object({ 'idempotency-key': z.string().optional() }),
    },
    responses: {
      202: json(WebhookReplaySchema, 'Queued: the attempt follows within seconds'),
      ...commonErrors, ...notFound('WEBHOOK_DELIVERY_NOT_FOUND'), ...conflict('WEBHOOK_ENDPOINT_MISSING, WEBHOOK_DISABLED, IDEMPOTENCY_KEY_IN_USE'),
      ...idempotencyReused,
    },
  }),
  async (c) => {
    const auth = c.get('auth');
    const db = c.env.DB;
    const { deliveryId } = c.req.valid('param');
    // An id that cannot exist, and one of another tenant, are as unknown as a missing one.
    const delivery = isId(deliveryId, 'whd') ? await getDelivery(db, auth.tenantId, deliveryId) : null;
    const found = delivery ? await getEventForReplay(db, auth.tenantId, delivery.eventId) : null;
    if (!delivery || !found) throw new ApiError('WEBHOOK_DELIVERY_NOT_FOUND', `No webhook delivery ${deliveryId}.`);
    const endpoint = await getEndpoint(db, auth.tenantId);
    if (!endpoint) throw new ApiError('WEBHOOK_ENDPOINT_MISSING', 'This tenant has no webhook endpoint to send the event to; an operator sets one.');
    if (endpoint.disabledAt) throw new ApiError('WEBHOOK_DISABLED', `The endpoint was disabled (${endpoint.disabledReason ?? 'unknown reason'}); setting its URL again re-enables it.`);

    // Transactional outbox: the mark on the event commits with the audit entry; should the hand-over below not happen,
    // the sweeper finds the mark and hands the replay over (MaintenanceDO.sweep).
    const queuedAt = new Date().toISOString();
    const { event, lastAttempt } = found;
    await commitWithAudit(db, auth.tenantId, [requestReplayStatement(db, { tenantId: auth.tenantId, eventId: event.id, at: queuedAt })], [
      { actor: auditActorOf(auth), action: 'webhook.replayed', targetType: 'webhook_delivery', targetId: delivery.id, data: { eventId: event.id, eventType: event.type } },
    ], queuedAt);
    try {
      await deliveryStub(c.env, event.id).replay({ id: event.id, tenantId: event.tenantId, type: event.type, payload: event.payload }, { requestedAt: queuedAt, lastAttempt });
    } catch (error) {
      console.error(JSON.stringify({ level: 'error', message: 'webhook replay not handed over, the sweeper will', eventId: event.id, error: error instanceof Error ? error.message : String(error) }));
    }
    return c.json({ eventId: event.id, queuedAt }, 202);
  },
);
