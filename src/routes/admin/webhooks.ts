// /admin/v1/tenants/{tenantId}/webhook: operators set, inspect, rotate and remove a tenant's webhook endpoint.
import { failedPrecondition } from '../../storage/precondition';
import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from '../../env';
import { ApiError } from '../../errors';
import { newWebhookSecret } from '../../domain/webhook-signature';
import { maintenanceStub } from '../../durable-objects/maintenance';
import { checkWebhookUrl } from '../../domain/webhook-url';
import { requireAdmin } from '../../middleware/auth';
import { IdParam, notFound, operatorErrors, operatorReadErrors, ProblemSchema } from '../../schemas/common';
import { PutWebhookSchema, WebhookEndpointSchema, WebhookSecretSchema } from '../../schemas/webhooks';
import { commitWithAudit } from '../../storage/audit';
import type { EndpointRecord } from '../../storage/webhooks';
import { deleteEndpointStatement, endpointExistsGuard, getEndpoint, putEndpointStatement, rotateSecretStatement } from '../../storage/webhooks';
import { PREVIOUS_SECRET_TTL_MS, secretForStorage } from '../../services/tenant-webhook';
import { loadTenant } from './tenants';

export const webhooksAdmin = createRouter();
webhooksAdmin.use('/:tenantId/webhook', requireAdmin);
webhooksAdmin.use('/:tenantId/webhook/*', requireAdmin);

const json = (schema: z.ZodTypeAny, description: string) => ({ description, content: { 'application/json': { schema } } });
const tenantPath = z.object({ tenantId: IdParam('tenantId', 'ten_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h') });
const refused = {
  400: {
    description: 'VALIDATION_FAILED, or WEBHOOK_URL_REFUSED: not https, a private/loopback/link-local/metadata host, or credentials in the URL',
    content: { 'application/problem+json': { schema: ProblemSchema } },
  },
};

async function loadEndpoint(db: D1Database, tenantId: string): Promise<EndpointRecord> {
  const endpoint = await getEndpoint(db, tenantId);
  if (!endpoint) throw new ApiError('WEBHOOK_NOT_CONFIGURED', 'This tenant has no webhook endpoint; set one with PUT.');
  return endpoint;
}

// Audit records the host only: a path or query may carry the receiver's own routing tokens.
const hostOf = (url: string): string => new URL(url).host;

function endpointView(endpoint: EndpointRecord): z.infer<typeof WebhookEndpointSchema> {
  const rotating = endpoint.previousSecretExpiresAt !== null && Date.parse(endpoint.previousSecretExpiresAt) > Date.now();
  return {
    url: endpoint.url, disabled: endpoint.disabledAt !== null,
    ...(endpoint.disabledAt ? { disabledAt: endpoint.disabledAt } : {}),
    ...(endpoint.disabledReason ? { disabledReason: endpoint.disabledReason } : {}),
    ...(rotating ? { previousSecretExpiresAt: endpoint.previousSecretExpiresAt! } : {}),
    createdAt: endpoint.createdAt, updatedAt: endpoint.updatedAt,
  };
}

webhooksAdmin.openapi(
  createRoute({
    method: 'put', path: '/{tenantId}/webhook', tags: ['Operators'], operationId: 'setWebhookEndpoint', security: [{ adminToken: [] }],
    summary: 'Set the webhook endpoint (issues a new secret, shown once; re-enables a disabled endpoint)',
    description: 'The URL must be https to a public host (localhost/127.0.0.1 over http only where ALLOW_LOCAL_WEBHOOKS=true). '
      + 'Replacing an endpoint keeps its previous secret signing for 24 h, as a rotation does.',
    request: { params: tenantPath, body: { required: true, content: { 'application/json': { schema: PutWebhookSchema } } } },
    responses: { 200: json(WebhookSecretSchema, 'The endpoint and its new secret'), ...operatorErrors, ...refused, ...notFound('TENANT_NOT_FOUND') },
  }),
  async (c) => {
    const { url } = c.req.valid('json');
    const tenant = await loadTenant(c.env.DB, c.req.valid('param').tenantId);
    // OWASP SSRF prevention: only public https targets; local ones only where the deployment allows them.
    const checked = checkWebhookUrl(url, { allowLocal: c.env.ALLOW_LOCAL_WEBHOOKS === 'true' });
    if (!checked.ok) {
      throw new ApiError('WEBHOOK_URL_REFUSED', `The webhook URL is refused: ${checked.reason}.`, { invalidParams: [{ name: 'url', reason: checked.reason }] });
    }
    const now = Date.now();
    const at = new Date(now).toISOString();
    const current = await getEndpoint(c.env.DB, tenant.id);
    const secret = newWebhookSecret();
    const previousSecretExpiresAt = current ? new Date(now + PREVIOUS_SECRET_TTL_MS).toISOString() : null;
    await commitWithAudit(c.env.DB, tenant.id, [
      putEndpointStatement(c.env.DB, {
        tenantId: tenant.id, url: checked.url.href, storedSecret: await secretForStorage(c.env, tenant.id, secret),
        storedPreviousSecret: current?.storedSecret ?? null, previousSecretExpiresAt, at,
      }),
    ], [
      {
        actor: c.get('operatorActor') ?? 'admin', action: 'webhook.configured', targetType: 'webhook', targetId: tenant.id,
        data: { host: checked.url.host, replaced: current !== null, reenabled: current?.disabledAt != null },
      },
    ], at);
    // Events are recorded from now on: make sure the outbox sweeper runs (it keeps itself armed afterwards).
    await maintenanceStub(c.env).poke();
    return c.json({ url: checked.url.href, secret, ...(previousSecretExpiresAt ? { previousSecretExpiresAt } : {}) }, 200);
  },
);

webhooksAdmin.openapi(
  createRoute({
    method: 'get', path: '/{tenantId}/webhook', tags: ['Operators'], operationId: 'getWebhookEndpoint', security: [{ adminToken: [] }],
    summary: 'Get the webhook endpoint (never its secret), including whether a 410 disabled it',
    description: 'The URL, whether deliveries are disabled (a receiver answering 410 disables the endpoint; PUT re-enables it) and '
      + 'until when a replaced secret still signs.',
    request: { params: tenantPath },
    responses: { 200: json(WebhookEndpointSchema, 'The endpoint'), ...operatorReadErrors, ...notFound('TENANT_NOT_FOUND, WEBHOOK_NOT_CONFIGURED') },
  }),
  async (c) => {
    const tenant = await loadTenant(c.env.DB, c.req.valid('param').tenantId);
    return c.json(endpointView(await loadEndpoint(c.env.DB, tenant.id)), 200);
  },
);

webhooksAdmin.openapi(
  createRoute({
    method: 'post', path: '/{tenantId}/webhook/rotate-secret', tags: ['Operators'], operationId: 'rotateWebhookSecret', security: [{ adminToken: [] }],
    summary: 'Issue a new webhook secret (shown once); the old one keeps signing for 24 h',
    description: 'For 24 h every delivery carries two signatures in `webhook-signature`, one per secret, so the receiver can switch '
      + 'without dropping an event (docs/webhooks.md).',
    request: { params: tenantPath, body: { required: false, content: { 'application/json': { schema: z.strictObject({}).openapi('RotateWebhookSecret') } } } },
    responses: { 200: json(WebhookSecretSchema, 'The endpoint and its new secret'), ...operatorErrors, ...notFound('TENANT_NOT_FOUND, WEBHOOK_NOT_CONFIGURED') },
  }),
  async (c) => {
    const tenant = await loadTenant(c.env.DB, c.req.valid('param').tenantId);
    const endpoint = await loadEndpoint(c.env.DB, tenant.id);
    const now = Date.now();
    const at = new Date(now).toISOString();
    const secret = newWebhookSecret();
    const previousSecretExpiresAt = new Date(now + PREVIOUS_SECRET_TTL_MS).toISOString();
    try {
      await commitWithAudit(c.env.DB, tenant.id, [
        ...endpointExistsGuard(c.env.DB, tenant.id),
        rotateSecretStatement(c.env.DB, { tenantId: tenant.id, storedSecret: await secretForStorage(c.env, tenant.id, secret), previousSecretExpiresAt, at }),
      ], [{ actor: c.get('operatorActor') ?? 'admin', action: 'webhook.secret_rotated', targetType: 'webhook', targetId: tenant.id, data: { previousSecretExpiresAt } }], at);
    } catch (error) {
      // Removed meanwhile: this secret was never stored, so it must not be handed out.
      if (failedPrecondition(error) === 'endpointExists') throw new ApiError('WEBHOOK_NOT_CONFIGURED', 'The endpoint was removed meanwhile.');
      throw error;
    }
    return c.json({ url: endpoint.url, secret, previousSecretExpiresAt }, 200);
  },
);

webhooksAdmin.openapi(
  createRoute({
    method: 'delete', path: '/{tenantId}/webhook', tags: ['Operators'], operationId: 'deleteWebhookEndpoint', security: [{ adminToken: [] }],
    summary: 'Remove the webhook endpoint: no further events are recorded and pending retries stop',
    description: 'Events that happen while no endpoint is set are not kept for later; the delivery log stays readable.',
    request: { params: tenantPath },
    responses: { 204: { description: 'Removed' }, ...operatorReadErrors, ...notFound('TENANT_NOT_FOUND, WEBHOOK_NOT_CONFIGURED') },
  }),
  async (c) => {
    const tenant = await loadTenant(c.env.DB, c.req.valid('param').tenantId);
    const endpoint = await loadEndpoint(c.env.DB, tenant.id);
    await commitWithAudit(c.env.DB, tenant.id, [deleteEndpointStatement(c.env.DB, tenant.id)], [
      { actor: c.get('operatorActor') ?? 'admin', action: 'webhook.removed', targetType: 'webhook', targetId: tenant.id, data: { host: hostOf(endpoint.url) } },
    ]);
    return c.body(null, 204);
  },
);
