// Wire schemas of device operations: the start body (discriminated by type) and the Operation resource.
import { z } from '@hono/zod-openapi';
import { isCurrency, parseAmount } from '../domain/money';
import { listOf, wellFormedString } from './common';

// BCP 47 as browsers and Intl accept it (language, optional script, region, variants): 2–35 characters.
const LOCALE = /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/;

const Context = z
  .strictObject({
    title: wellFormedString().min(1).max(64).openapi({ description: 'Shown before the user decides (the notification title, the approve view)' }),
    text: wellFormedString().max(1024).optional().openapi({ description: 'Shown with the title, before the user decides' }),
    completedText: wellFormedString().min(1).max(256).optional().openapi({ description: 'Shown after the user approved' }),
    locale: z.string().min(2).max(35).regex(LOCALE, 'a BCP 47 language tag such as en-GB').optional().openapi({ description: 'The language of the texts (BCP 47)' }),
  })
  .openapi('OperationContext', { description: 'What the user reads: plain text (never markup), shown escaped everywhere, and part of the result token (`ctx`)' });

const Payee = z.strictObject({ name: wellFormedString().min(1).max(140), account: wellFormedString().min(1).max(64).optional() });

export const TransactionSchema = z
  .strictObject({
    amount: z.string().openapi({ example: '12.50', description: 'Decimal string, > 0, at most the currency’s ISO 4217 minor digits' }),
    currency: z.string().refine(isCurrency, 'an active ISO 4217 code such as EUR').openapi({ example: 'EUR' }),
    payee: Payee,
    reference: wellFormedString().min(1).max(140).optional(),
  })
  .superRefine((t, ctx) => {
    if (!isCurrency(t.currency)) return;
    const parsed = parseAmount(t.amount, t.currency);
    // PSD2 RTS art. 5(1)(a): the amount the payer sees is exact; never a float.
    if (!parsed.ok) ctx.addIssue({ code: 'custom', path: ['amount'], message: parsed.reason });
  })
  .openapi('Transaction');

const Common = {
  userId: z.string().min(1).max(64),
  deviceId: z.string().min(1).max(64).optional(),
  ttlSeconds: z.number().int().openapi({ description: '1 … tenant operationTtlSeconds (≤ 300); default the maximum' }).optional(),
  context: Context.optional(),
  numberMatching: z.boolean().optional(),
  push: z.boolean().optional().openapi({
    description: 'false: no push notification for this start (the user answers on the page, by QR code or link, or the app finds it '
      + 'in its list). Default true: every target device with a push channel is notified (docs/push.md).',
  }),
  sameDevice: z.boolean().optional().openapi({
    description: 'Two-call ceremony on the device the relying party\'s own page or app runs on: the start answers `device` (what '
      + 'SDK start would answer: the operation details and the WebAuthn options), and the device\'s finish answers the signed '
      + '`result`, which the relying party verifies offline with the JWKS. Default false (the decoupled flow: sdk.url, QR, another device).',
  }),
};

export const StartOperationSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('REGISTRATION'), ...Common, deviceName: wellFormedString().min(1).max(64).optional(), authorisedBy: wellFormedString().min(1).max(64).optional() }),
    z.strictObject({ type: z.literal('AUTHENTICATION'), ...Common }),
    z.strictObject({
      type: z.literal('AUTHORISATION'),
      ...Common,
      transaction: TransactionSchema.optional(),
      transactions: z.array(TransactionSchema).min(2).max(100).optional(),
    }),
    z.strictObject({
      type: z.literal('SIGNATURE'),
      ...Common,
      document: z.strictObject({
        content: wellFormedString().min(1).refine((s) => new TextEncoder().encode(s).byteLength <= 64 * 1024, 'at most 64 KiB of UTF-8'),
        mimeType: z.enum(['text/plain', 'text/markdown', 'application/json']),
        title: wellFormedString().min(1).max(128).optional(),
      }),
    }),
  ])
  .superRefine((body, ctx) => {
    if (body.type !== 'AUTHORISATION') return;
    if ((body.transaction === undefined) === (body.transactions === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['transaction'], message: 'give exactly one of transaction or transactions' });
      return;
    }
    const currencies = new Set((body.transactions ?? []).map((t) => t.currency));
    if (currencies.size > 1) ctx.addIssue({ code: 'custom', path: ['transactions'], message: 'a batch has one currency' });
  })
  .openapi('StartOperation');

export type StartOperationInput = z.infer<typeof StartOperationSchema>;

export const OperationSchema = z
  .object({
    id: z.string(),
    type: z.enum(['REGISTRATION', 'AUTHENTICATION', 'AUTHORISATION', 'SIGNATURE']),
    status: z.enum(['PENDING', 'IN_PROGRESS', 'COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED']),
    userId: z.string(),
    deviceId: z.string().optional(),
    createdAt: z.string(),
    expiresAt: z.string(),
    completedAt: z.string().optional(),
    context: z.object({ title: z.string(), text: z.string().optional(), completedText: z.string().optional(), locale: z.string().optional() }).optional(),
    transaction: z.record(z.string(), z.unknown()).optional(),
    transactions: z.array(z.record(z.string(), z.unknown())).optional(),
    total: z.object({ amount: z.string(), currency: z.string() }).optional(),
    document: z.object({ title: z.string().optional(), mimeType: z.string(), sha256: z.string() }).optional(),
    numberMatch: z.string().optional(),
    notifications: z
      .array(
        z.object({
          deviceId: z.string(),
          channel: z.enum(['WEB_PUSH', 'FCM', 'APNS']),
          status: z.enum(['QUEUED', 'SENT', 'RETRYING', 'FAILED', 'GONE', 'WITHDRAWN', 'NOT_SENT']),
          attempts: z.number().int(),
          at: z.string(),
          reason: z.string().optional(),
          closedAt: z.string().optional(),
        }),
      )
      .optional()
      .openapi({ description: 'Per device with a push channel: what became of its notification (docs/push.md). Absent when nothing was pushed' }),
    sdk: z.object({ token: z.string(), url: z.string() }).optional().openapi({ description: 'Only in the start response' }),
    device: z
      .object({ operation: z.record(z.string(), z.unknown()), publicKey: z.record(z.string(), z.unknown()) })
      .optional()
      .openapi({ description: 'Only in the start response of a `sameDevice` operation: pass it to the web SDK (or the authenticator) as is; the operation is then IN_PROGRESS' }),
    result: z
      .object({ deviceId: z.string(), userVerified: z.literal(true), authMethod: z.string(), token: z.string() })
      .optional(),
    failure: z.object({ code: z.string() }).optional(),
  })
  .openapi('Operation');

export type OperationView = z.infer<typeof OperationSchema>;

/** A page of operations from the D1 history (no sdk tokens, no result tokens): the tenant's and a device's lists. */
export const OperationListSchema = listOf(OperationSchema, 'OperationList');
