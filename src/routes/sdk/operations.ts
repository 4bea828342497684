// /sdk/v1: what the web SDK, the authenticator app and native apps call to act on one operation.
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { AppEnv } from '../../env';
import { ApiError } from '../../errors';
import { isId } from '../../domain/ids';
import { hashSecret } from '../../domain/secrets';
import type { Caller, FinishInput, RpScope } from '../../durable-objects/operation';
import { unwrap } from '../v1/operations';
import { operationStub } from '../../durable-objects/operation';
import { verifyDeviceProof } from '../../middleware/device-proof';
import { getTenant } from '../../storage/tenants';
import { e2ePublicKey } from '../../domain/e2e-keys';
import { allowOriginForOperation, allowOriginForTenant, isLocalDevelopment, proofTargetUrl } from '../../middleware/origin';
import { requireKeySet } from '../../services/keys';
import { isJoseRequest, nativeCall, sealedForDeviceProof } from './native';
// jsonBody (src/app.ts) read and parsed the body once; jsonObject reuses that value.
import { jsonObject } from '../../middleware/body';

export const sdk = new Hono<AppEnv>();

/** The caller of an SDK call: the operation's sdk token, or a device proof of a bound device. */
async function callerOf(c: Context<AppEnv>): Promise<Caller> {
  const authorization = c.req.header('authorization') ?? '';
  const bearer = authorization.match(/^Bearer ([A-Za-z0-9_-]{10,200})$/);
  if (bearer?.[1]) return { kind: 'sdk', tokenHash: await hashSecret(bearer[1]) };
  const proof = authorization.match(/^Device ([A-Za-z0-9_.-]+)$/);
  if (proof?.[1]) {
    const device = await verifyDeviceProof(c.env.DB, { proof: proof[1], method: c.req.method, url: proofTargetUrl(c), now: Math.floor(Date.now() / 1000) });
    return { kind: 'device', deviceId: device.id };
  }
  throw new ApiError('UNAUTHENTICATED', 'Send Authorization: Bearer <sdk.token> or Device <proof>.');
}

/**
 * Who calls, on which operation, from which web origin: authentication comes before any lookup, so a garbled or
 * forged sdk token gets 401 whatever the id (nothing tells it which operations exist); a cross-origin page must be
 * an allowed origin of the operation's tenant.
 */
async function operationCall(c: Context<AppEnv>): Promise<{ id: string; caller: Caller }> {
  const caller = await callerOf(c);
  const id = c.req.param('id') ?? '';
  if (!isId(id, 'op')) {
    if (caller.kind === 'sdk') throw new ApiError('UNAUTHENTICATED', 'The sdk token is not valid for this operation.');
    throw new ApiError('OPERATION_NOT_FOUND', 'No such operation.');
  }
  await allowOriginForOperation(c, id);
  return { id, caller };
}

const FINISH_FIELDS = new Set(['credential', 'deviceKey', 'deviceSignature', 'numberMatch']);

sdk.get('/config', async (c) => {
  const tenantId = c.req.query('tenant') ?? '';
  await allowOriginForTenant(c, tenantId);
  const tenant = isId(tenantId, 'ten') ? await getTenant(c.env.DB, tenantId) : null;
  if (!tenant) throw new ApiError('TENANT_NOT_FOUND', 'No such tenant.');
  // Every field of the contract or a 503 that names the missing key: never a config without its e2eKey.
  const e2eKey = await e2ePublicKey(await requireKeySet(c.env, 'E2E_KEYS', { generate: isLocalDevelopment(c) }));
  if (!e2eKey) throw new ApiError('E2E_KEYS_NOT_CONFIGURED', 'E2E_KEYS holds no key.');
  return c.json({
    tenantId: tenant.id,
    branding: { name: tenant.branding.name ?? tenant.name, ...(tenant.branding.logoUrl ? { logoUrl: tenant.branding.logoUrl } : {}), ...(tenant.branding.primaryColor ? { primaryColor: tenant.branding.primaryColor } : {}) },
    rpId: tenant.rpId,
    e2eKey,
  });
});

sdk.post('/operations/:id/start', async (c) => {
  // Native apps: the same call as an application/jose envelope (docs/native-protocol.md).
  if (isJoseRequest(c)) return nativeCall(c, 'start');
  const { id, caller } = await operationCall(c);
  const body = await jsonObject(c);
  const unknown = Object.keys(body).filter((k) => k !== 'rpScope');
  if (unknown.length > 0 || (body.rpScope !== undefined && body.rpScope !== 'tenant' && body.rpScope !== 'service')) {
    throw new ApiError('VALIDATION_FAILED', 'The start body takes only rpScope: "tenant" | "service".', {
      invalidParams: unknown.length > 0 ? unknown.map((name) => ({ name, reason: 'unknown field' })) : [{ name: 'rpScope', reason: 'tenant or service' }],
    });
  }
  // rpScope "service": the white-label authenticator app registers passkeys for the service's own origin.
  return c.json(unwrap(await operationStub(c.env, id).sdkStart({ caller, rpScope: body.rpScope as RpScope | undefined })));
});

sdk.post('/operations/:id/finish', async (c) => {
  if (isJoseRequest(c)) return nativeCall(c, 'finish');
  const { id, caller } = await operationCall(c);
  const body = await jsonObject(c);
  const unknown = Object.keys(body).filter((k) => !FINISH_FIELDS.has(k));
  if (unknown.length > 0) {
    throw new ApiError('VALIDATION_FAILED', 'Unknown fields.', { invalidParams: unknown.map((name) => ({ name, reason: 'unknown field' })) });
  }
  if (typeof body.credential !== 'object' || body.credential === null) {
    throw new ApiError('VALIDATION_FAILED', 'credential is required.', { invalidParams: [{ name: 'credential', reason: 'required object' }] });
  }
  if (body.numberMatch !== undefined && typeof body.numberMatch !== 'string') {
    throw new ApiError('VALIDATION_FAILED', 'numberMatch is a string.', { invalidParams: [{ name: 'numberMatch', reason: 'must be a string' }] });
  }
  return c.json(unwrap(await operationStub(c.env, id).sdkFinish({ caller, body: body as FinishInput })));
});

sdk.post('/operations/:id/reject', async (c) => {
  if (isJoseRequest(c)) return nativeCall(c, 'reject');
  const { id, caller } = await operationCall(c);
  await jsonObject(c);
  return c.json(unwrap(await operationStub(c.env, id).sdkReject({ caller })));
});

interface PendingRow {
  id: string;
}

sdk.get('/devices/me/operations', async (c) => {
  const caller = await callerOf(c);
  if (caller.kind !== 'device') throw new ApiError('UNAUTHENTICATED', 'This call needs a device proof.');
  const status = c.req.query('status') ?? 'PENDING';
  if (status !== 'PENDING') throw new ApiError('VALIDATION_FAILED', 'Only status=PENDING is supported.', { invalidParams: [{ name: 'status', reason: 'must be PENDING' }] });
  const device = await c.env.DB.prepare('SELECT tenant_id, user_id FROM devices WHERE id = ?1').bind(caller.deviceId).first<{ tenant_id: string; user_id: string }>();
  if (!device) throw new ApiError('UNAUTHENTICATED', 'Unknown device.');
  await allowOriginForTenant(c, device.tenant_id);
  const rows = await c.env.DB
    .prepare(
      `SELECT id FROM operations WHERE tenant_id = ?1 AND user_id = ?2 AND status = 'PENDING' AND type != 'REGISTRATION'
       AND (device_id IS NULL OR device_id = ?3) AND expires_at > ?4 ORDER BY id DESC LIMIT 50`,
    )
    .bind(device.tenant_id, device.user_id, caller.deviceId, new Date().toISOString())
    .all<PendingRow>();
  const live = await Promise.all(rows.results.map((row) => operationStub(c.env, row.id).summary({ deviceId: caller.deviceId })));
  const list = { items: live.filter((op) => op !== null), nextCursor: null };
  // A native device's proof may carry a reply key: then the list (amounts, payees) goes out sealed to it.
  return (await sealedForDeviceProof(c, list)) ?? c.json(list);
});
