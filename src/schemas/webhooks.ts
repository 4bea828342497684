// Wire schemas of webhooks: the tenant's endpoint (operators) and the delivery log and test call (relying parties).
import { z } from '@hono/zod-openapi';
import { MAX_WEBHOOK_URL_LENGTH } from '../domain/webhook-url';
import { wellFormedString } from './common';
import type { DeliveryRecord } from '../storage/webhooks';
import { DELIVERY_ERRORS } from '../storage/webhooks';

export const PutWebhookSchema = z
  .strictObject({
    url: wellFormedString().min(1).max(MAX_WEBHOOK_URL_LENGTH).openapi({ example: 'https://bank.example/custos/webhooks' }),
  })
  .openapi('PutWebhook');

export const WebhookSecretSchema = z
  .object({
    url: z.string(),
    secret: z.string().openapi({ description: 'whsec_<base64>: shown only in this response', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
    previousSecretExpiresAt: z.string().optional().openapi({ description: 'Until then the secret this one replaced also signs every delivery' }),
  })
  .openapi('WebhookSecret');

export const WebhookEndpointSchema = z
  .object({
    url: z.string(),
    disabled: z.boolean(),
    disabledAt: z.string().optional(),
    disabledReason: z.string().optional().openapi({ example: 'ENDPOINT_GONE' }),
    previousSecretExpiresAt: z.string().optional(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('WebhookEndpoint');

export const DeliverySchema = z
  .object({
    id: z.string().openapi({ example: 'whd_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h' }),
    eventId: z.string(),
    eventType: z.string().openapi({ example: 'operation.completed' }),
    webhookId: z.string().openapi({ description: 'The webhook-id header sent: the event id, the same on every retry' }),
    attempt: z.number().int(),
    at: z.string(),
    outcome: z.enum(['SUCCEEDED', 'FAILED']),
    responseStatus: z.number().int().optional(),
    error: z.enum(DELIVERY_ERRORS).optional().openapi({ description: 'Why the attempt failed; see docs/webhooks.md' }),
    nextAttemptAt: z.string().optional().openapi({ description: 'When the next retry is due; absent once the delivery has stopped' }),
    responseTimeMs: z.number().int().optional().openapi({ description: 'Milliseconds from sending to the response headers or the failure; absent when nothing was sent', example: 84 }),
  })
  .openapi('WebhookDelivery');

export type DeliveryView = z.infer<typeof DeliverySchema>;

export function deliveryView(record: DeliveryRecord): DeliveryView {
  return {
    id: record.id, eventId: record.eventId, eventType: record.eventType, webhookId: record.webhookId, attempt: record.attempt,
    at: record.at, outcome: record.outcome,
    ...(record.responseStatus !== null ? { responseStatus: record.responseStatus } : {}),
    ...(record.error !== null ? { error: record.error } : {}),
    ...(record.nextAttemptAt !== null ? { nextAttemptAt: record.nextAttemptAt } : {}),
    ...(record.responseTimeMs !== null ? { responseTimeMs: record.responseTimeMs } : {}),
  };
}

export const WebhookTestSchema = z
  .object({
    eventId: z.string().openapi({ example: 'evt_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h' }),
    delivery: DeliverySchema,
  })
  .openapi('WebhookTestResult');

export const WebhookReplaySchema = z
  .object({
    eventId: z.string().openapi({ description: 'The event sent again, under the same webhook-id', example: 'evt_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h' }),
    queuedAt: z.string().openapi({ description: 'When the replay was queued; its attempt appears in the delivery log', example: '2026-08-14T09:41:07.123Z' }),
  })
  .openapi('WebhookReplay');
