// /admin/v1/tenants/{tenantId}/push-credentials: operators give a tenant its FCM service account or APNs signing key.
import { createRoute, z } from '@hono/zod-openapi';
import { importPKCS8 } from 'jose';
import { createRouter } from '../../env';
import type { Bindings } from '../../env';
import { ApiError } from '../../errors';
import { sealForStorage } from '../../services/stored-secrets';
import { requireAdmin } from '../../middleware/auth';
import { IdParam, notFound, operatorErrors, operatorReadErrors, wellFormedString } from '../../schemas/common';
import { commitWithAudit } from '../../storage/audit';
import { deletePushCredentialStatement, getPushCredential, listPushCredentials, putPushCredentialStatement } from '../../storage/push';
import type { PushCredentialRow, PushProvider } from '../../storage/push';
import { credentialContext } from '../../services/push-send';
import { loadTenant } from './tenants';

export const pushAdmin = createRouter();
pushAdmin.use('/:tenantId/push-credentials', requireAdmin);
pushAdmin.use('/:tenantId/push-credentials/*', requireAdmin);

const json = (schema: z.ZodTypeAny, description: string) => ({ description, content: { 'application/json': { schema } } });
const tenantPath = z.object({ tenantId: IdParam('tenantId', 'ten_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h') });
const pem = z.string().min(100).max(8192).openapi({ description: 'PKCS #8 PEM ("-----BEGIN PRIVATE KEY-----"); stored sealed, never returned' });

const FcmSchema = z
  .strictObject({
    projectId: z.string().regex(/^[a-z][a-z0-9-]{4,62}$/, 'a Firebase project id').openapi({ example: 'my-bank-app' }),
    clientEmail: z.string().email().max(320).openapi({ description: 'The service account (client_email of its JSON key)' }),
    privateKey: pem,
  })
  .openapi('FcmCredentialInput', { description: 'From the service account JSON key: project_id, client_email, private_key (RS256)' });

const ApnsSchema = z
  .strictObject({
    teamId: z.string().regex(/^[A-Z0-9]{10}$/, 'the 10-character Apple team id'),
    keyId: z.string().regex(/^[A-Z0-9]{10}$/, 'the 10-character key id of the .p8 key'),
    topic: wellFormedString().min(1).max(255).openapi({ description: 'The app’s bundle id (apns-topic)', example: 'com.example.bank' }),
    privateKey: pem.openapi({ description: 'The .p8 token-signing key (ES256); stored sealed, never returned' }),
  })
  .openapi('ApnsCredentialInput');

const CredentialSchema = z
  .object({ provider: z.enum(['FCM', 'APNS']), projectId: z.string().optional(), teamId: z.string().optional(), keyId: z.string().optional(), topic: z.string().optional(), updatedAt: z.string() })
  .openapi('PushCredential', { description: 'A tenant’s push credential without its private key' });

function view(row: PushCredentialRow): z.infer<typeof CredentialSchema> {
  return { provider: row.provider, ...(JSON.parse(row.public) as object), updatedAt: row.updated_at };
}

/** The key must import for the algorithm its service needs: a wrong paste fails here, not at the first push. */
async function checkKey(privateKey: string, alg: 'RS256' | 'ES256'): Promise<void> {
  try {
    await importPKCS8(privateKey, alg);
  } catch {
    const reason = `not a PKCS #8 PEM private key for ${alg}`;
    throw new ApiError('VALIDATION_FAILED', `privateKey is ${reason}.`, { invalidParams: [{ name: 'privateKey', reason }] });
  }
}

async function put(env: Bindings, tenantId: string, provider: PushProvider, privateKey: string, publicPart: Record<string, string>): Promise<PushCredentialRow> {
  const at = new Date().toISOString();
  const stored = await sealForStorage(env, privateKey, credentialContext(tenantId, provider));
  await commitWithAudit(env.DB, tenantId, [putPushCredentialStatement(env.DB, { tenantId, provider, sealed: stored, publicPart, at })], [
    { actor: 'admin', action: 'push.credentials.set', targetType: 'tenant', targetId: tenantId, data: { provider } },
  ], at);
  return { provider, sealed: stored, public: JSON.stringify(publicPart), updated_at: at };
}

pushAdmin.openapi(
  createRoute({
    method: 'put', path: '/{tenantId}/push-credentials/fcm', tags: ['Operators'], operationId: 'setFcmCredential', security: [{ adminToken: [] }],
    summary: 'Set the tenant’s FCM service account (Android pushes)',
    description: 'Custos signs a JWT with the service account’s key, exchanges it for an OAuth token (cached until shortly before '
      + 'it expires) and sends through FCM HTTP v1. The key is sealed with WEBHOOK_SECRET_KEY when set and never returned.',
    request: { params: tenantPath, body: { required: true, content: { 'application/json': { schema: FcmSchema } } } },
    responses: { 200: json(CredentialSchema, 'Stored'), ...operatorErrors, ...notFound('TENANT_NOT_FOUND') },
  }),
  async (c) => {
    const tenant = await loadTenant(c.env.DB, c.req.valid('param').tenantId);
    const { projectId, clientEmail, privateKey } = c.req.valid('json');
    await checkKey(privateKey, 'RS256');
    return c.json(view(await put(c.env, tenant.id, 'FCM', privateKey, { projectId, clientEmail })), 200);
  },
);

pushAdmin.openapi(
  createRoute({
    method: 'put', path: '/{tenantId}/push-credentials/apns', tags: ['Operators'], operationId: 'setApnsCredential', security: [{ adminToken: [] }],
    summary: 'Set the tenant’s APNs token-signing key (iOS pushes)',
    description: 'Custos signs an ES256 provider token with the key (reused for at most 40 minutes; Apple accepts one up to an '
      + 'hour old) and sends alerts with apns-push-type alert, priority 10, the operation’s expiry and a per-operation collapse id.',
    request: { params: tenantPath, body: { required: true, content: { 'application/json': { schema: ApnsSchema } } } },
    responses: { 200: json(CredentialSchema, 'Stored'), ...operatorErrors, ...notFound('TENANT_NOT_FOUND') },
  }),
  async (c) => {
    const tenant = await loadTenant(c.env.DB, c.req.valid('param').tenantId);
    const { teamId, keyId, topic, privateKey } = c.req.valid('json');
    await checkKey(privateKey, 'ES256');
    return c.json(view(await put(c.env, tenant.id, 'APNS', privateKey, { teamId, keyId, topic })), 200);
  },
);

pushAdmin.openapi(
  createRoute({
    method: 'get', path: '/{tenantId}/push-credentials', tags: ['Operators'], operationId: 'listPushCredentials', security: [{ adminToken: [] }],
    summary: 'The tenant’s push credentials (never their keys)',
    description: 'The public parts only: the FCM project id and service account, the APNs team id, key id and topic, and when each was set.',
    request: { params: tenantPath },
    responses: { 200: json(z.object({ items: z.array(CredentialSchema) }).openapi('PushCredentialList'), 'The credentials'), ...operatorReadErrors, ...notFound('TENANT_NOT_FOUND') },
  }),
  async (c) => {
    const tenant = await loadTenant(c.env.DB, c.req.valid('param').tenantId);
    return c.json({ items: (await listPushCredentials(c.env.DB, tenant.id)).map(view) }, 200);
  },
);

pushAdmin.openapi(
  createRoute({
    method: 'delete', path: '/{tenantId}/push-credentials/{provider}', tags: ['Operators'], operationId: 'deletePushCredential', security: [{ adminToken: [] }],
    summary: 'Remove a push credential (that channel’s devices are then only reached by polling)',
    description: 'Pushes through that provider fail with CREDENTIALS_MISSING from then on; the devices keep their channels, so setting a credential again resumes them.',
    request: { params: tenantPath.extend({ provider: z.enum(['fcm', 'apns']).openapi({ param: { name: 'provider', in: 'path' } }) }) },
    responses: { 204: { description: 'Removed' }, ...operatorErrors, ...notFound('TENANT_NOT_FOUND, PUSH_CREDENTIAL_NOT_FOUND') },
  }),
  async (c) => {
    const { tenantId, provider } = c.req.valid('param');
    const tenant = await loadTenant(c.env.DB, tenantId);
    const name: PushProvider = provider === 'fcm' ? 'FCM' : 'APNS';
    if (!(await getPushCredential(c.env.DB, tenant.id, name))) throw new ApiError('PUSH_CREDENTIAL_NOT_FOUND', `This tenant has no ${name} credential.`);
    const at = new Date().toISOString();
    await commitWithAudit(c.env.DB, tenant.id, [deletePushCredentialStatement(c.env.DB, tenant.id, name)], [
      { actor: 'admin', action: 'push.credentials.removed', targetType: 'tenant', targetId: tenant.id, data: { provider: name } },
    ], at);
    return c.body(null, 204);
  },
);
