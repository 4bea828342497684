// The /sdk/v1 route definitions (createRoute, as in /v1): request schemas that validate the JSON calls, and the answers.
// The operation calls also take application/jose envelopes (native apps); their route middleware hands those to the
// native handler before any JSON validation runs (routes/sdk/operations.ts).
import { createRoute, z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../../env';
import { ProblemSchema } from '../../schemas/common';
import { OperationSchema } from '../../schemas/operations';
import { PushChannelInputSchema, PushChannelViewSchema } from '../../schemas/push';

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ProblemSchema } } });
const opId = z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: 'op_06h2d7mdk0g2rdvcmm9p6f5w3e7evgrbhhk0' }) });
const jose = { 'application/jose': { schema: z.string().openapi({ description: 'Compact JWE envelope (docs/native-protocol.md)' }) } };
const security: Record<string, string[]>[] = [{ sdkToken: [] }, { deviceProof: [] }];
// Refusals every operation call can give, whichever transport (JSON with a token or proof, or a native envelope).
const operationCallErrors = {
  401: problem('UNAUTHENTICATED (no, a garbled or a forged sdk token or device proof); for envelopes DEVICE_SIGNATURE_INVALID, ENVELOPE_STALE, ENVELOPE_REPLAYED, ENVELOPE_BINDING_MISMATCH'),
  403: problem('ORIGIN_NOT_ALLOWED: a browser call from an Origin the operation’s tenant does not allow'),
  404: problem('OPERATION_NOT_FOUND (unknown id, or credentials for another operation)'),
  413: problem('PAYLOAD_TOO_LARGE'),
  415: problem('UNSUPPORTED_MEDIA_TYPE, or NATIVE_ENVELOPE_REQUIRED for an operation of a native device'),
};

const SdkOperation = z
  .object({
    id: z.string(),
    type: z.enum(['REGISTRATION', 'AUTHENTICATION', 'AUTHORISATION', 'SIGNATURE']),
    expiresAt: z.string(),
    context: z.object({ title: z.string(), text: z.string().optional(), completedText: z.string().optional(), locale: z.string().optional() }).optional(),
    transaction: z.record(z.string(), z.unknown()).optional(),
    transactions: z.array(z.record(z.string(), z.unknown())).optional(),
    total: z.object({ amount: z.string(), currency: z.string() }).optional(),
    document: z.object({ title: z.string().optional(), mimeType: z.string(), sha256: z.string(), content: z.string() }).optional(),
    numberMatchChoices: z.array(z.string()).optional(),
  })
  .openapi('SdkOperation');

/** The security scheme of the device's calls (the sdkToken scheme is registered in src/app.ts with the others). */
export function registerSdkDocs(app: OpenAPIHono<AppEnv>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'deviceProof', {
    type: 'apiKey', in: 'header', name: 'Authorization',
    description: '`Device <JWS>`: ES256, typ device-proof+jwt, kid = device id; claims htm, htu, iat, jti (valid 60 s, each jti once)',
  });
}

export const configRoute = (middleware: MiddlewareHandler<AppEnv>[]) =>
  createRoute({
    middleware,
    method: 'get', path: '/config', tags: ['Device SDK'], operationId: 'getSdkConfig', summary: "A tenant's branding, rpId and E2E public key",
    description: 'Public (no credentials): what an app needs before it holds an operation — the name, logo and colour to show, the '
      + 'rpId its passkeys belong to, and the E2E public key native apps encrypt envelopes to (docs/native-protocol.md).',
    security: [],
    request: { query: z.object({ tenant: z.string().openapi({ description: 'Tenant id (ten_…)', example: 'ten_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h' }) }) },
    responses: {
      200: {
        description: 'Config',
        content: {
          'application/json': {
            schema: z
              .object({
                tenantId: z.string(), branding: z.record(z.string(), z.string()), rpId: z.string(), e2eKey: z.record(z.string(), z.string()).optional(),
                webPush: z.object({ vapidPublicKey: z.string().openapi({ description: 'applicationServerKey for pushManager.subscribe: the 65-byte uncompressed P-256 point, base64url' }) })
                  .optional().openapi({ description: 'Present when the service can send Web Push (VAPID_KEYS configured, or local development)' }),
              })
              .openapi('SdkConfig'),
          },
        },
      },
      404: problem('TENANT_NOT_FOUND'),
      503: problem('E2E_KEYS_NOT_CONFIGURED: a deployed worker without E2E_KEYS'),
    },
  });

export const startRoute = (middleware: MiddlewareHandler<AppEnv>[]) =>
  createRoute({
    middleware,
    method: 'post', path: '/operations/{id}/start', tags: ['Device SDK'], operationId: 'startSdkOperation', security,
    summary: 'What the device shows, and the WebAuthn options (creation for REGISTRATION, request otherwise)',
    description: 'Moves the operation to IN_PROGRESS and returns what to show (context, transaction(s) and total, or the document '
      + 'with its content) and `publicKey`, the options `@simplewebauthn/browser` takes. Body `{ rpScope?: "tenant" | "service" }`: '
      + '"service" registers a passkey for the service’s own origin (the authenticator app). Calling it again is allowed while the '
      + 'operation is live.',
    request: { params: opId, body: { required: false, content: { 'application/json': { schema: z.strictObject({ rpScope: z.enum(['tenant', 'service']).optional() }) }, ...jose } } },
    responses: {
      200: { description: 'Started', content: { 'application/json': { schema: z.object({ operation: SdkOperation, publicKey: z.record(z.string(), z.unknown()) }) } } },
      400: problem('VALIDATION_FAILED; for envelopes ENVELOPE_MALFORMED, E2E_KEY_UNKNOWN, ENVELOPE_UNREADABLE'),
      ...operationCallErrors,
      409: problem('OPERATION_FINAL (with operationStatus), OPERATION_CONFLICT, DEVICE_NOT_NATIVE (an envelope from a passkey device)'),
      503: problem('PUBLIC_URL_NOT_CONFIGURED: a service-scoped registration needs the service rpId'),
    },
  });

export const finishRoute = (middleware: MiddlewareHandler<AppEnv>[]) =>
  createRoute({
    middleware,
    method: 'post', path: '/operations/{id}/finish', tags: ['Device SDK'], operationId: 'finishSdkOperation', security,
    summary: 'The device’s answer: a WebAuthn credential (and at registration an optional device key binding)',
    description: 'Verifies the credential against the single-use challenge (user verification required; for AUTHORISATION and '
      + 'SIGNATURE the challenge binds what was shown) and, with number matching, the number the user picked. Success makes the '
      + 'operation COMPLETED and signs its result token; any failed check makes it FAILED, charges the device one attempt and '
      + 'answers only VERIFICATION_FAILED.',
    request: {
      params: opId,
      body: {
        required: true,
        content: {
          'application/json': {
            schema: z.strictObject({
              credential: z.record(z.string(), z.unknown()).openapi({ description: '@simplewebauthn/browser response JSON' }),
              deviceKey: z.record(z.string(), z.unknown()).optional().openapi({ description: 'P-256 public JWK (registration)' }),
              deviceSignature: z.string().optional().openapi({ description: 'Compact ES256 JWS by deviceKey over { operationId, challenge }' }),
              numberMatch: z.string().optional(),
            }),
          },
          ...jose,
        },
      },
    },
    responses: {
      200: { description: 'Final status (and the new device id after a REGISTRATION)', content: { 'application/json': { schema: z.object({ status: z.string(), deviceId: z.string().optional() }) } } },
      400: problem('VERIFICATION_FAILED (any failed check: the operation is FAILED and the device charged one attempt), VALIDATION_FAILED, MALFORMED_JSON; for envelopes ENVELOPE_MALFORMED, E2E_KEY_UNKNOWN, ENVELOPE_UNREADABLE'),
      ...operationCallErrors,
      409: problem('OPERATION_FINAL, OPERATION_CONFLICT, DEVICE_NOT_ACTIVE, USER_NOT_ACTIVE, DEVICE_NOT_NATIVE'),
      503: problem('SIGNING_KEYS_NOT_CONFIGURED: a deployed worker without SIGNING_KEYS cannot sign the result token'),
    },
  });

export const rejectRoute = (middleware: MiddlewareHandler<AppEnv>[]) =>
  createRoute({
    middleware,
    method: 'post', path: '/operations/{id}/reject', tags: ['Device SDK'], operationId: 'rejectSdkOperation', security, summary: 'The user declines',
    description: 'The operation becomes REJECTED (final) and an `operation.rejected` event is sent. Declining is not a failed attempt: '
      + 'the device’s failure counter is untouched.',
    request: { params: opId, body: { required: false, content: { 'application/json': { schema: z.object({}).openapi('RejectRequest', { description: 'No fields; any given are ignored' }) }, ...jose } } },
    responses: {
      200: { description: 'Rejected', content: { 'application/json': { schema: z.object({ status: z.literal('REJECTED') }).openapi('RejectResult') } } },
      400: problem('MALFORMED_JSON; for envelopes ENVELOPE_MALFORMED, E2E_KEY_UNKNOWN, ENVELOPE_UNREADABLE'),
      ...operationCallErrors,
      409: problem('OPERATION_FINAL, OPERATION_CONFLICT'),
    },
  });

export const pendingRoute = (middleware: MiddlewareHandler<AppEnv>[]) =>
  createRoute({
    middleware,
    method: 'get', path: '/devices/me/operations', tags: ['Device SDK'], operationId: 'listMyPendingOperations', security: [{ deviceProof: [] }],
    summary: 'Pending operations for this device (broadcast ones included)',
    description: 'For the authenticator app: the live operations addressed to the device that signed the proof or broadcast to '
      + 'its user (at most 50, newest first; registrations never appear). The relying party’s number-match value is never included. A proof that '
      + 'carries a reply key gets the list sealed to it (application/jose).',
    request: { query: z.object({ status: z.literal('PENDING').optional().openapi({ description: 'Only PENDING is supported (the default)' }) }) },
    responses: {
      200: {
        description: 'The pending operations',
        content: {
          'application/json': { schema: z.object({ items: z.array(OperationSchema), nextCursor: z.null() }).openapi('PendingOperationList') },
          'application/jose': { schema: z.string().openapi({ description: 'The same list as a compact JWE to the reply key' }) },
        },
      },
      400: problem('VALIDATION_FAILED (status other than PENDING)'),
      401: problem('UNAUTHENTICATED (no, an invalid, expired or replayed device proof)'),
      409: problem('DEVICE_LOCKED, DEVICE_NOT_ACTIVE'),
    },
  });

const deviceCallErrors = {
  401: problem('UNAUTHENTICATED (no, an invalid, expired or replayed device proof)'),
  403: problem('ORIGIN_NOT_ALLOWED'),
  409: problem('DEVICE_LOCKED, DEVICE_NOT_ACTIVE'),
};

export const putPushChannelRoute = (middleware: MiddlewareHandler<AppEnv>[]) =>
  createRoute({
    middleware,
    method: 'put', path: '/device/push-channel', tags: ['Device SDK'], operationId: 'putMyPushChannel', security: [{ deviceProof: [] }],
    summary: 'Register or replace this device’s push channel',
    description: 'The device that signed the proof will be sent a push when an operation is started for it (or broadcast to its '
      + 'user): a Web Push message end-to-end encrypted to the subscription (RFC 8291), or an FCM / APNs notification through the '
      + 'tenant’s credentials. A later PUT replaces the channel; deactivating the device, or a push service answering 404/410, removes it.',
    request: { body: { required: true, content: { 'application/json': { schema: PushChannelInputSchema } } } },
    responses: {
      200: { description: 'Registered', content: { 'application/json': { schema: z.object({ deviceId: z.string(), pushChannel: PushChannelViewSchema }).openapi('PushChannelRegistered') } } },
      400: problem('VALIDATION_FAILED (an endpoint that is not public https, a p256dh that is not a P-256 point, an auth that is not 16 bytes), MALFORMED_JSON'),
      ...deviceCallErrors,
      503: problem('VAPID_KEYS_NOT_CONFIGURED: a Web Push channel on a deployment without VAPID_KEYS'),
    },
  });

export const deletePushChannelRoute = (middleware: MiddlewareHandler<AppEnv>[]) =>
  createRoute({
    middleware,
    method: 'delete', path: '/device/push-channel', tags: ['Device SDK'], operationId: 'deleteMyPushChannel', security: [{ deviceProof: [] }],
    summary: 'Stop pushes to this device', description: 'Removes the channel (if any); the device is then only reached by polling.',
    responses: { 204: { description: 'Removed (or there was none)' }, ...deviceCallErrors },
  });
