// OpenAPI entries for GET /.well-known/jwks.json and GET /healthz (plain Hono handlers in well-known.ts), kept apart from the handlers.
import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { ProblemSchema } from '../schemas/common';

const PublicJwk = z
  .object({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    x: z.string(),
    y: z.string(),
    kid: z.string().openapi({ example: 'sig-2026-08-01' }),
    alg: z.literal('ES256'),
    use: z.literal('sig'),
  })
  .openapi('PublicJwk');

const Jwks = z.object({ keys: z.array(PublicJwk) }).openapi('Jwks');

// One entry per readiness check: whether it passes and, in words, what was found, so an operator reads the fix off the answer.
const Check = z.object({ ok: z.boolean(), detail: z.string() }).openapi('HealthCheck');
const Checks = z
  .object({ database: Check, migrations: Check, publicUrl: Check, signingKeys: Check, e2eKeys: Check, adminToken: Check })
  .openapi('HealthChecks', {
    description: 'Each check of what a request needs. signingKeys/e2eKeys say "configured" or, in local development, that the service generated them.',
    example: {
      database: { ok: true, detail: 'reachable' },
      migrations: { ok: true, detail: 'applied up to 0007_operation_limits.sql' },
      publicUrl: { ok: true, detail: 'https://custos.example.com' },
      signingKeys: { ok: true, detail: 'configured' },
      e2eKeys: { ok: true, detail: 'configured' },
      adminToken: { ok: true, detail: 'configured' },
    },
  });

const Healthy = z.object({ status: z.literal('ok'), checks: Checks }).openapi('HealthOk');
const NotReady = z
  .object({
    status: z.literal('not_ready'),
    missing: z.array(z.string()).openapi({ description: 'What to set or run before the service can answer', example: ['signingKeys', 'publicUrl'] }),
    checks: Checks,
  })
  .openapi('HealthNotReady');

export function registerWellKnownDocs(app: OpenAPIHono<AppEnv>): void {
  const registry = app.openAPIRegistry;
  registry.registerPath({
    method: 'get', path: '/.well-known/jwks.json', tags: ['Well-known'], operationId: 'getJwks', summary: 'Public keys that sign result tokens',
    description: 'Every key of SIGNING_KEYS as a public JWK: the newest signs, older ones stay listed so tokens they signed still verify '
      + 'during a rotation. Match a token’s `kid` header (docs/verifying-tokens.md). Cacheable for 5 minutes.',
    security: [],
    responses: {
      200: { description: 'The JWK set', content: { 'application/json': { schema: Jwks } } },
      503: {
        description: 'SIGNING_KEYS_NOT_CONFIGURED: a deployed worker without SIGNING_KEYS has no keys to publish',
        content: { 'application/problem+json': { schema: ProblemSchema } },
      },
    },
  });
  registry.registerPath({
    method: 'get', path: '/healthz', tags: ['Well-known'], operationId: 'getHealth', summary: 'Readiness: is everything the service needs configured?',
    description: 'For load balancers and operators: 200 when the database answers, migrations are applied and keys, PUBLIC_URL and '
      + 'ADMIN_TOKEN are set; otherwise 503 naming what is missing (docs/deployment.md). Needs no credentials and shows no secrets.',
    security: [],
    responses: {
      200: { description: 'Ready', content: { 'application/json': { schema: Healthy } } },
      503: { description: 'Not ready: `missing` names what to configure', content: { 'application/json': { schema: NotReady } } },
    },
  });
}
