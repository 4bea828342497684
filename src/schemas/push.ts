// Wire schemas of push channels: what a device registers, and what the API shows of it.
import { z } from '@hono/zod-openapi';

const base64url = (description: string) => z.string().min(1).max(200).openapi({ description });
export const PushChannelInputSchema = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('WEB_PUSH'),
      endpoint: z.string().min(1).max(2048).openapi({ description: 'PushSubscription.endpoint: https to a public host' }),
      keys: z.object({ p256dh: base64url('The subscription’s P-256 public key'), auth: base64url('The subscription’s 16-byte auth secret') }),
      expirationTime: z.number().nullable().optional().openapi({ description: 'Ignored' }),
    }),
    z.strictObject({ type: z.literal('FCM'), token: z.string().min(1).max(4096).regex(/^[\x21-\x7e]+$/, 'printable ASCII') }),
    z.strictObject({ type: z.literal('APNS'), token: z.string().regex(/^[0-9a-fA-F]{64,200}$/, 'hex device token'), environment: z.enum(['production', 'sandbox']) }),
  ])
  .openapi('PushChannelInput', { description: 'A Web Push subscription (PushSubscription.toJSON() plus type), or a native FCM / APNs token' });

export const PushChannelViewSchema = z
  .object({
    type: z.enum(['WEB_PUSH', 'FCM', 'APNS']),
    endpointOrigin: z.string().optional(),
    environment: z.enum(['production', 'sandbox']).optional(),
    updatedAt: z.string(),
  })
  .openapi('PushChannel', { description: 'A device’s push channel as the API shows it: never its keys or token' });

