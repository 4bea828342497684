// /admin/v1/tenants: operators create and configure tenants and their API clients.
import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from '../../env';
import { ApiError } from '../../errors';
import { newId, isId } from '../../domain/ids';
import { newSecret } from '../../domain/secrets';
import { DEFAULT_POLICY } from '../../domain/policy';
import { requireAdmin } from '../../middleware/auth';
import { decodeCursor, IdParam, listOf, notFound, operatorErrors, operatorReadErrors, pageAhead, PageQuery } from '../../schemas/common';
import { CibaClientSchema, ClientSchema, ClientWithSecretSchema, CreateClientSchema, CreateTenantSchema, PatchTenantSchema, TenantSchema } from '../../schemas/tenants';
import type { Branding, Tenant } from '../../storage/tenants';
import { getTenant, insertTenantStatement, listTenants, replaceWebOriginsStatements, updateTenantStatement, webOriginsOf } from '../../storage/tenants';
import type { ApiClient, CibaClientSettings } from '../../storage/clients';
import { DEFAULT_CIBA_SETTINGS } from '../../storage/clients';
import { checkWebhookUrl } from '../../domain/webhook-url';
import { revokeAccessTokens } from '../../services/access-tokens';
import { getClient, insertClientStatement, listClients, revokeClientStatements } from '../../storage/clients';
import { commitWithAudit } from '../../storage/audit';
import { getWebhookView } from '../../services/tenant-webhook';

export const tenants = createRouter();

type BrandingPatch = { [K in keyof Branding]?: Branding[K] | null | undefined };

/** JSON merge patch of the branding: a value replaces, `null` removes the field so the app's default shows again. */
function mergeBranding(current: Branding, patch: BrandingPatch): Branding {
  const merged: Record<string, string> = { ...current } as Record<string, string>;
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else if (value !== undefined) merged[key] = value;
  }
  return merged as Branding;
}
tenants.use('*', requireAdmin);

const ALL_SCOPES = ['users', 'devices', 'operations', 'audit'] as const;
const json = (schema: z.ZodTypeAny, description: string) => ({ description, content: { 'application/json': { schema } } });
const tenantPath = z.object({ tenantId: IdParam('tenantId', 'ten_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h') });

export async function tenantView(db: D1Database, tenant: Tenant): Promise<z.infer<typeof TenantSchema>> {
  const webhook = await getWebhookView(db, tenant.id);
  return {
    id: tenant.id, name: tenant.name, rpId: tenant.rpId, rpName: tenant.rpName, origins: tenant.origins, allowedOrigins: webOriginsOf(tenant),
    branding: tenant.branding, ...(webhook ? { webhook } : {}), policy: tenant.policy, createdAt: tenant.createdAt, updatedAt: tenant.updatedAt,
  };
}

function clientView(client: ApiClient): z.infer<typeof ClientSchema> {
  return {
    clientId: client.clientId, name: client.name, scopes: client.scopes as z.infer<typeof ClientSchema>['scopes'], createdAt: client.createdAt,
    ...(client.revokedAt ? { revokedAt: client.revokedAt } : {}),
    ciba: {
      backchannelTokenDeliveryMode: client.ciba.deliveryMode,
      ...(client.ciba.notificationEndpoint ? { backchannelClientNotificationEndpoint: client.ciba.notificationEndpoint } : {}),
      ...(client.ciba.jwks ? { jwks: JSON.parse(client.ciba.jwks) as { keys: Record<string, unknown>[] } } : {}),
    },
  };
}

/** The client's CIBA settings; a ping client's endpoint passes the webhook URL rules (OWASP SSRF) or nothing is written. */
function cibaSettingsOf(env: { ALLOW_LOCAL_WEBHOOKS?: string }, input: z.infer<typeof CibaClientSchema> | undefined): CibaClientSettings {
  if (!input) return DEFAULT_CIBA_SETTINGS;
  const endpoint = input.backchannelClientNotificationEndpoint;
  // CIBA Core §4: a ping client registers its notification endpoint; a poll client has none.
  if (input.backchannelTokenDeliveryMode === 'ping' && endpoint === undefined) {
    throw new ApiError('VALIDATION_FAILED', 'A ping client needs backchannelClientNotificationEndpoint.', { invalidParams: [{ name: 'ciba.backchannelClientNotificationEndpoint', reason: 'required for ping' }] });
  }
  if (input.backchannelTokenDeliveryMode === 'poll' && endpoint !== undefined) {
    throw new ApiError('VALIDATION_FAILED', 'Only a ping client has a notification endpoint.', { invalidParams: [{ name: 'ciba.backchannelClientNotificationEndpoint', reason: 'only for ping' }] });
  }
  if (endpoint !== undefined) {
    const checked = checkWebhookUrl(endpoint, { allowLocal: env.ALLOW_LOCAL_WEBHOOKS === 'true' });
    if (!checked.ok) throw new ApiError('WEBHOOK_URL_REFUSED', `The notification endpoint is refused: ${checked.reason}.`, { invalidParams: [{ name: 'ciba.backchannelClientNotificationEndpoint', reason: checked.reason }] });
  }
  return { deliveryMode: input.backchannelTokenDeliveryMode, notificationEndpoint: endpoint ?? null, jwks: input.jwks ? JSON.stringify(input.jwks) : null };
}

export async function loadTenant(db: D1Database, tenantId: string): Promise<Tenant> {
  const tenant = isId(tenantId, 'ten') ? await getTenant(db, tenantId) : null;
  if (!tenant) throw new ApiError('TENANT_NOT_FOUND', `No tenant ${tenantId}.`);
  return tenant;
}

tenants.openapi(
  createRoute({
    method: 'post', path: '/', tags: ['Operators'], operationId: 'createTenant', summary: 'Create a tenant', security: [{ adminToken: [] }],
    description: 'A relying party: its WebAuthn rpId and origins, branding shown by the authenticator app, and policy (defaults: '
      + 'maxFailedAttempts 5, operationTtlSeconds 300, deviceBoundOnly false, requireScaForNewDevice true, maxLiveOperationsPerUser 5, '
      + 'maxLiveOperationsPerDevice 3, maxStartsPerUserPerMinute 10). Answers 201 with `Location`.',
    request: { body: { required: true, content: { 'application/json': { schema: CreateTenantSchema } } } },
    responses: { 201: json(TenantSchema, 'Created'), ...operatorErrors },
  }),
  async (c) => {
    const input = c.req.valid('json');
    const at = new Date().toISOString();
    const tenant: Tenant = {
      id: newId('ten'), name: input.name, rpId: input.rpId, rpName: input.rpName ?? input.name, origins: input.origins,
      allowedOrigins: input.allowedOrigins ?? null,
      branding: input.branding ?? {}, policy: { ...DEFAULT_POLICY, ...input.policy }, createdAt: at, updatedAt: at,
    };
    await commitWithAudit(c.env.DB, tenant.id, [insertTenantStatement(c.env.DB, tenant), ...replaceWebOriginsStatements(c.env.DB, tenant)], [
      { actor: c.get('operatorActor') ?? 'admin', action: 'tenant.created', targetType: 'tenant', targetId: tenant.id, data: { rpId: tenant.rpId, policy: tenant.policy } },
    ], at);
    c.header('location', `/admin/v1/tenants/${tenant.id}`);
    return c.json(await tenantView(c.env.DB, tenant), 201);
  },
);

tenants.openapi(
  createRoute({
    method: 'get', path: '/', tags: ['Operators'], operationId: 'listTenants', summary: 'List tenants', security: [{ adminToken: [] }],
    description: 'Every tenant of this deployment, oldest first, a page at a time.',
    request: { query: PageQuery },
    responses: { 200: json(listOf(TenantSchema, 'TenantList'), 'A page of tenants'), ...operatorReadErrors },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const afterId = decodeCursor(q.cursor, (k): k is string => typeof k === 'string' && isId(k, 'ten'));
    const found = await listTenants(c.env.DB, { afterId, limit: q.limit + 1 });
    const { items, nextCursor } = pageAhead(found, q.limit, (t) => t.id);
    return c.json({ items: await Promise.all(items.map((t) => tenantView(c.env.DB, t))), nextCursor }, 200);
  },
);

tenants.openapi(
  createRoute({
    method: 'get', path: '/{tenantId}', tags: ['Operators'], operationId: 'getTenant', summary: 'Get a tenant', security: [{ adminToken: [] }],
    description: 'The tenant with its complete policy (defaults filled in) and its webhook endpoint, if one is set.',
    request: { params: tenantPath },
    responses: { 200: json(TenantSchema, 'The tenant'), ...operatorReadErrors, ...notFound('TENANT_NOT_FOUND') },
  }),
  async (c) => c.json(await tenantView(c.env.DB, await loadTenant(c.env.DB, c.req.valid('param').tenantId)), 200),
);

tenants.openapi(
  createRoute({
    method: 'patch', path: '/{tenantId}', tags: ['Operators'], operationId: 'updateTenant', summary: 'Update a tenant (policy fields merge)', security: [{ adminToken: [] }],
    description: 'Fields given replace the stored ones; `branding` and `policy` merge field by field. A policy change applies to '
      + 'operations started afterwards: a live operation keeps the policy it started with.',
    request: {
      params: tenantPath,
      body: { required: true, content: { 'application/merge-patch+json': { schema: PatchTenantSchema }, 'application/json': { schema: PatchTenantSchema } } },
    },
    responses: { 200: json(TenantSchema, 'The updated tenant'), ...operatorErrors, ...notFound('TENANT_NOT_FOUND') },
  }),
  async (c) => {
    const patch = c.req.valid('json');
    const current = await loadTenant(c.env.DB, c.req.valid('param').tenantId);
    const at = new Date().toISOString();
    const updated: Tenant = {
      ...current,
      name: patch.name ?? current.name,
      rpId: patch.rpId ?? current.rpId,
      rpName: patch.rpName ?? current.rpName,
      origins: patch.origins ?? current.origins,
      // Merge patch: null goes back to the default (the passkey origins), absent keeps what was set.
      allowedOrigins: patch.allowedOrigins === undefined ? current.allowedOrigins : patch.allowedOrigins,
      branding: patch.branding ? mergeBranding(current.branding, patch.branding) : current.branding,
      policy: { ...current.policy, ...patch.policy },
      updatedAt: at,
    };
    await commitWithAudit(c.env.DB, current.id, [updateTenantStatement(c.env.DB, updated), ...replaceWebOriginsStatements(c.env.DB, updated)], [
      { actor: c.get('operatorActor') ?? 'admin', action: 'tenant.updated', targetType: 'tenant', targetId: current.id, data: { fields: Object.keys(patch) } },
    ], at);
    return c.json(await tenantView(c.env.DB, updated), 200);
  },
);

tenants.openapi(
  createRoute({
    method: 'post', path: '/{tenantId}/clients', tags: ['Operators'], operationId: 'createApiClient', summary: 'Create an API client (the secret is shown only here)',
    description: 'OAuth client credentials for the relying party’s server, with the scopes given (default all four: users, devices, '
      + 'operations, audit). The secret is stored only as a hash and shown only in this response. The optional `ciba` member sets how the '
      + 'client takes part in OpenID Connect CIBA (docs/ciba.md): poll or ping (a ping endpoint obeys the webhook URL rules, else 400 '
      + 'WEBHOOK_URL_REFUSED) and the public keys of its private_key_jwt assertions.',
    security: [{ adminToken: [] }],
    request: { params: tenantPath, body: { required: true, content: { 'application/json': { schema: CreateClientSchema } } } },
    responses: { 201: json(ClientWithSecretSchema, 'Created'), ...operatorErrors, ...notFound('TENANT_NOT_FOUND') },
  }),
  async (c) => {
    const input = c.req.valid('json');
    const tenant = await loadTenant(c.env.DB, c.req.valid('param').tenantId);
    const client: ApiClient = {
      clientId: newId('cli'), tenantId: tenant.id, name: input.name, scopes: [...new Set(input.scopes ?? ALL_SCOPES)],
      createdAt: new Date().toISOString(), revokedAt: null, ciba: cibaSettingsOf(c.env, input.ciba),
    };
    const secret = newSecret('cs');
    await commitWithAudit(c.env.DB, tenant.id, [await insertClientStatement(c.env.DB, client, secret)], [
      { actor: c.get('operatorActor') ?? 'admin', action: 'client.created', targetType: 'client', targetId: client.clientId, data: { scopes: client.scopes } },
    ], client.createdAt);
    return c.json({ ...clientView(client), clientSecret: secret }, 201);
  },
);

tenants.openapi(
  createRoute({
    method: 'get', path: '/{tenantId}/clients', tags: ['Operators'], operationId: 'listApiClients', summary: "List a tenant's API clients", security: [{ adminToken: [] }],
    description: 'Every API client of the tenant, revoked ones included (with `revokedAt`); never their secrets.',
    request: { params: tenantPath },
    responses: { 200: json(z.object({ items: z.array(ClientSchema), nextCursor: z.null() }).openapi('ApiClientList'), 'Clients'), ...operatorReadErrors, ...notFound('TENANT_NOT_FOUND') },
  }),
  async (c) => {
    const tenant = await loadTenant(c.env.DB, c.req.valid('param').tenantId);
    return c.json({ items: (await listClients(c.env.DB, tenant.id)).map(clientView), nextCursor: null }, 200);
  },
);

tenants.openapi(
  createRoute({
    method: 'delete', path: '/{tenantId}/clients/{clientId}', tags: ['Operators'], operationId: 'revokeApiClient', summary: 'Revoke an API client (its tokens stop working at once)',
    description: 'The client can no longer get tokens, and the access tokens it holds stop working at once (the object that checks them forgets them first).',
    security: [{ adminToken: [] }],
    request: { params: tenantPath.extend({ clientId: IdParam('clientId', 'cli_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h') }) },
    responses: { 204: { description: 'Revoked' }, ...operatorReadErrors, ...notFound('TENANT_NOT_FOUND, CLIENT_NOT_FOUND') },
  }),
  async (c) => {
    const { tenantId, clientId } = c.req.valid('param');
    const tenant = await loadTenant(c.env.DB, tenantId);
    const client = isId(clientId, 'cli') ? await getClient(c.env.DB, tenant.id, clientId) : null;
    if (!client) throw new ApiError('CLIENT_NOT_FOUND', `No client ${clientId} in this tenant.`);
    const at = new Date().toISOString();
    // The tokens die first (the object that checks them), then D1 records it; a failed commit is repaired by retrying.
    await revokeAccessTokens(c.env, client.clientId, at);
    await commitWithAudit(c.env.DB, tenant.id, revokeClientStatements(c.env.DB, client.clientId, at), [
      { actor: c.get('operatorActor') ?? 'admin', action: 'client.revoked', targetType: 'client', targetId: client.clientId },
    ], at);
    return c.body(null, 204);
  },
);
