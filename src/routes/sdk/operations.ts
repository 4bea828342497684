// /sdk/v1: what the web SDK, the authenticator app and native apps call to act on one operation.
import type { Context, MiddlewareHandler } from 'hono';
import { createRouter } from '../../env';
import type { AppEnv } from '../../env';
import { ApiError } from '../../errors';
import { isId } from '../../domain/ids';
import { hashSecret } from '../../domain/secrets';
import type { Caller, FinishInput, RpScope } from '../../durable-objects/operation';
import { unwrap } from '../v1/operations';
import { operationStub } from '../../durable-objects/operation';
import { verifyDeviceProof } from '../../middleware/device-proof';
import { getTenant } from '../../storage/tenants';
import { getDeviceById } from '../../storage/devices';
import { pendingOperationIdsForDevice } from '../../storage/operations';
import { e2ePublicKey } from '../../domain/e2e-keys';
import { allowOriginForOperation, allowOriginForTenant, isLocalDevelopment, proofTargetUrl } from '../../middleware/origin';
import { requireKeySet } from '../../services/keys';
import { isJoseRequest, nativeCall, sealedForDeviceProof } from './native';
import type { NativeAction } from './native';
import { configRoute, deletePushChannelRoute, finishRoute, pendingRoute, putPushChannelRoute, rejectRoute, startRoute } from './openapi';
import { channelOf, registerChannel, unregisterChannel, vapidPublicKey } from '../../services/push-channels';
import type { PushChannelInput } from '../../services/push-channels';

export const sdk = createRouter();

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

/** Native apps send the same call as an application/jose envelope (docs/native-protocol.md): answered before any JSON validation. */
function nativeEnvelope(action: NativeAction): MiddlewareHandler<AppEnv> {
  return async (c, next) => (isJoseRequest(c) ? nativeCall(c, action) : next());
}

/** The caller and the operation, settled before the body's schema is checked (a forged token gets 401 whatever it sends). */
const operationCaller: MiddlewareHandler<AppEnv> = async (c, next) => {
  c.set('sdkCall', await operationCall(c));
  await next();
};

function sdkCallOf(c: Context<AppEnv>): { id: string; caller: Caller } {
  const call = c.get('sdkCall');
  if (!call) throw new Error('sdk route without operationCaller');
  return call;
}

/**
 * A 200 with the operation's (or the tenant's) own answer. Its type is the one domain/operation.ts gives it; the
 * route's response schema documents that shape for readers of /openapi.json, more loosely than TypeScript states it.
 */
function answer(c: Context<AppEnv>, value: object): never {
  return c.json(value, 200) as never;
}

sdk.openapi(configRoute([]), async (c) => {
  const tenantId = c.req.valid('query').tenant;
  await allowOriginForTenant(c, tenantId);
  const tenant = isId(tenantId, 'ten') ? await getTenant(c.env.DB, tenantId) : null;
  if (!tenant) throw new ApiError('TENANT_NOT_FOUND', 'No such tenant.');
  // Every field of the contract or a 503 that names the missing key: never a config without its e2eKey.
  const e2eKey = await e2ePublicKey(await requireKeySet(c.env, 'E2E_KEYS', { generate: isLocalDevelopment(c) }));
  if (!e2eKey) throw new ApiError('E2E_KEYS_NOT_CONFIGURED', 'E2E_KEYS holds no key.');
  // Web Push is optional: a deployment without VAPID_KEYS still serves every other call, and says so by leaving it out.
  const vapid = await vapidPublicKey(c.env, { generate: isLocalDevelopment(c) });
  return answer(c, {
    tenantId: tenant.id,
    branding: { name: tenant.branding.name ?? tenant.name, ...(tenant.branding.logoUrl ? { logoUrl: tenant.branding.logoUrl } : {}), ...(tenant.branding.primaryColor ? { primaryColor: tenant.branding.primaryColor } : {}) },
    rpId: tenant.rpId,
    e2eKey,
    ...(vapid ? { webPush: { vapidPublicKey: vapid } } : {}),
  });
});

sdk.openapi(startRoute([nativeEnvelope('start'), operationCaller]), async (c) => {
  const { id, caller } = sdkCallOf(c);
  // The JSON flavour only (nativeEnvelope answered the other): the schema's object.
  const { rpScope } = c.req.valid('json') as { rpScope?: RpScope };
  // rpScope "service": the white-label authenticator app registers passkeys for the service's own origin.
  return answer(c, unwrap(await operationStub(c.env, id).sdkStart({ caller, ...(rpScope ? { rpScope } : {}) })));
});

sdk.openapi(finishRoute([nativeEnvelope('finish'), operationCaller]), async (c) => {
  const { id, caller } = sdkCallOf(c);
  // The schema checked the shapes; the operation checks what they say (WebAuthn, the device key, the number).
  return answer(c, unwrap(await operationStub(c.env, id).sdkFinish({ caller, body: c.req.valid('json') as FinishInput })));
});

sdk.openapi(rejectRoute([nativeEnvelope('reject'), operationCaller]), async (c) => {
  const { id, caller } = sdkCallOf(c);
  return answer(c, unwrap(await operationStub(c.env, id).sdkReject({ caller })));
});

/** The pending list is for a bound device only: its proof is checked before the query. */
const deviceCaller: MiddlewareHandler<AppEnv> = async (c, next) => {
  const caller = await callerOf(c);
  if (caller.kind !== 'device') throw new ApiError('UNAUTHENTICATED', 'This call needs a device proof.');
  c.set('sdkCall', { id: '', caller });
  await next();
};

/** The bound device behind a device proof, with the CORS check of its tenant. */
async function provenDevice(c: Context<AppEnv>) {
  const { caller } = sdkCallOf(c);
  if (caller.kind !== 'device') throw new ApiError('UNAUTHENTICATED', 'This call needs a device proof.');
  const device = await getDeviceById(c.env.DB, caller.deviceId);
  if (!device) throw new ApiError('UNAUTHENTICATED', 'Unknown device.');
  await allowOriginForTenant(c, device.tenantId);
  return device;
}

sdk.openapi(putPushChannelRoute([deviceCaller]), async (c) => {
  const device = await provenDevice(c);
  const channel = channelOf(c.env, c.req.valid('json') as PushChannelInput);
  const pushChannel = await registerChannel(c.env, { deviceId: device.id, channel, localDevelopment: isLocalDevelopment(c) });
  return answer(c, { deviceId: device.id, pushChannel });
});

sdk.openapi(deletePushChannelRoute([deviceCaller]), async (c) => {
  const device = await provenDevice(c);
  await unregisterChannel(c.env, device.id);
  return c.body(null, 204);
});

sdk.openapi(pendingRoute([deviceCaller]), async (c) => {
  const { caller } = sdkCallOf(c);
  if (caller.kind !== 'device') throw new ApiError('UNAUTHENTICATED', 'This call needs a device proof.');
  const device = await getDeviceById(c.env.DB, caller.deviceId);
  if (!device) throw new ApiError('UNAUTHENTICATED', 'Unknown device.');
  await allowOriginForTenant(c, device.tenantId);
  const ids = await pendingOperationIdsForDevice(c.env.DB, { tenantId: device.tenantId, userId: device.userId, deviceId: caller.deviceId, now: new Date().toISOString() });
  const live = await Promise.all(ids.map((id) => operationStub(c.env, id).summary({ deviceId: caller.deviceId })));
  const list = { items: live.filter((op) => op !== null), nextCursor: null };
  // A native device's proof may carry a reply key: then the list (amounts, payees) goes out sealed to it.
  return ((await sealedForDeviceProof(c, list)) ?? answer(c, list)) as never;
});
