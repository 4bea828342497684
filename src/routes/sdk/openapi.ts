// OpenAPI entries for /sdk/v1: these routes also take application/jose envelopes, so they are plain Hono handlers documented here.
import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../env';
import { ProblemSchema } from '../../schemas/common';

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ProblemSchema } } });
const opId = z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: 'op_06h2d7mdk0g2rdvcmm9p6f5w3e7evgrbhhk0' }) });
const jose = { 'application/jose': { schema: z.string().openapi({ description: 'Compact JWE envelope (docs/native-protocol.md)' }) } };
const security: Record<string, string[]>[] = [{ sdkToken: [] }, { deviceProof: [] }];

const SdkOperation = z
  .object({
    id: z.string(),
    type: z.enum(['REGISTRATION', 'AUTHENTICATION', 'AUTHORISATION', 'SIGNATURE']),
    expiresAt: z.string(),
    context: z.object({ title: z.string(), text: z.string().optional() }).optional(),
    transaction: z.record(z.string(), z.unknown()).optional(),
    transactions: z.array(z.record(z.string(), z.unknown())).optional(),
    total: z.object({ amount: z.string(), currency: z.string() }).optional(),
    document: z.object({ title: z.string().optional(), mimeType: z.string(), sha256: z.string(), content: z.string() }).optional(),
    numberMatchChoices: z.array(z.string()).optional(),
  })
  .openapi('SdkOperation');

export function registerSdkDocs(app: OpenAPIHono<AppEnv>): void {
  const registry = app.openAPIRegistry;
  registry.registerComponent('securitySchemes', 'deviceProof', {
    type: 'apiKey', in: 'header', name: 'Authorization',
    description: '`Device <JWS>`: ES256, typ device-proof+jwt, kid = device id; claims htm, htu, iat, jti (valid 60 s, each jti once)',
  });
  registry.registerPath({
    method: 'get', path: '/sdk/v1/config', tags: ['Device SDK'], summary: "A tenant's branding, rpId and E2E public key",
    request: { query: z.object({ tenant: z.string() }) },
    responses: {
      200: { description: 'Config', content: { 'application/json': { schema: z.object({ tenantId: z.string(), branding: z.record(z.string(), z.string()), rpId: z.string(), e2eKey: z.record(z.string(), z.string()).optional() }) } } },
      404: problem('TENANT_NOT_FOUND'),
    },
  });
  registry.registerPath({
    method: 'post', path: '/sdk/v1/operations/{id}/start', tags: ['Device SDK'], security,
    summary: 'What the device shows, and the WebAuthn options (creation for REGISTRATION, request otherwise)',
    description: 'Moves the operation to IN_PROGRESS. Body `{ rpScope?: "tenant" | "service" }`: "service" registers a passkey for the service’s own origin (the authenticator app).',
    request: { params: opId, body: { required: false, content: { 'application/json': { schema: z.strictObject({ rpScope: z.enum(['tenant', 'service']).optional() }) }, ...jose } } },
    responses: {
      200: { description: 'Started', content: { 'application/json': { schema: z.object({ operation: SdkOperation, publicKey: z.record(z.string(), z.unknown()) }) } } },
      401: problem('UNAUTHENTICATED'), 404: problem('OPERATION_NOT_FOUND'), 409: problem('OPERATION_FINAL (operationStatus), OPERATION_CONFLICT'),
    },
  });
  registry.registerPath({
    method: 'post', path: '/sdk/v1/operations/{id}/finish', tags: ['Device SDK'], security,
    summary: 'The device’s answer: a WebAuthn credential (and at registration an optional device key binding)',
    request: {
      params: opId,
      body: {
        required: true,
        content: {
          'application/json': {
            schema: z.strictObject({
              credential: z.record(z.string(), z.unknown()).openapi({ description: '@simplewebauthn/browser response JSON' }),
              deviceKey: z.record(z.string(), z.string()).optional().openapi({ description: 'P-256 public JWK (registration)' }),
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
      400: problem('VERIFICATION_FAILED (any failed check: the operation is FAILED and the device charged one attempt), VALIDATION_FAILED'),
      401: problem('UNAUTHENTICATED'), 404: problem('OPERATION_NOT_FOUND'),
      409: problem('OPERATION_FINAL, OPERATION_CONFLICT, DEVICE_NOT_ACTIVE, USER_NOT_ACTIVE'),
    },
  });
  registry.registerPath({
    method: 'post', path: '/sdk/v1/operations/{id}/reject', tags: ['Device SDK'], security, summary: 'The user declines',
    request: { params: opId },
    responses: { 200: { description: '{ status: "REJECTED" }' }, 401: problem('UNAUTHENTICATED'), 404: problem('OPERATION_NOT_FOUND'), 409: problem('OPERATION_FINAL') },
  });
  registry.registerPath({
    method: 'get', path: '/sdk/v1/devices/me/operations', tags: ['Device SDK'], security: [{ deviceProof: [] }],
    summary: 'Pending operations for this device (broadcast ones included)',
    request: { query: z.object({ status: z.literal('PENDING').optional() }) },
    responses: { 200: { description: '{ items, nextCursor: null }' }, 401: problem('UNAUTHENTICATED'), 409: problem('DEVICE_LOCKED, DEVICE_NOT_ACTIVE') },
  });
}
