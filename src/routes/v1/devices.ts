// /v1 devices: list a user's devices, inspect, rename, lock/unlock, deactivate, and a device's operation history.
import { createRoute, z } from '@hono/zod-openapi';
import { auditActorOf, createRouter } from '../../env';
import type { AuthContext, Bindings } from '../../env';
import { ApiError } from '../../errors';
import { isId } from '../../domain/ids';
import { requireScope } from '../../middleware/auth';
import { commonErrors, conflict, decodeCursor, IdParam, notFound, pageAhead, PageQuery, readErrors, wellFormedString } from '../../schemas/common';
import { OperationListSchema } from '../../schemas/operations';
import { PushChannelViewSchema } from '../../schemas/push';
import type { Device } from '../../storage/devices';
import { getDevice, listUserDevices, renameDeviceStatement, setDeviceStatusStatement } from '../../storage/devices';
import { commitWithAudit } from '../../storage/audit';
import { loadUser } from './users';
import { historyView } from './operations';
import { listTenantHistory } from '../../storage/operations';
import { cancelLiveOperations } from '../../services/lifecycle';
import { deliverRecorded, prepareEvent } from '../../services/events';

export const devices = createRouter();
const devicesScope = requireScope('devices');
devices.use('/devices/*', devicesScope);
devices.use('/users/:userId/devices', devicesScope);

const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

export const DeviceSchema = z
  .object({
    id: z.string(), userId: z.string(), status: z.enum(['ACTIVE', 'LOCKED', 'DEACTIVATED']), lockReason: z.string().optional(),
    kind: z.enum(['PASSKEY', 'NATIVE']), name: z.string(),
    authenticator: z.object({ aaguid: z.string().optional(), backupEligible: z.boolean(), backedUp: z.boolean(), transports: z.array(z.string()).optional() }),
    createdAt: z.string(), lastUsedAt: z.string().optional(), failedAttempts: z.number().int(),
    pushChannel: PushChannelViewSchema.optional().openapi({ description: 'Where the device is pushed to (never its keys or token); absent when it only polls' }),
    pushChannelRemoved: z.object({ type: z.string(), reason: z.string(), at: z.string() }).optional()
      .openapi({ description: 'Why the last channel went away (PUSH_SERVICE_410, DEVICE_DEACTIVATED, REMOVED_BY_DEVICE), until a new one is registered' }),
  })
  .openapi('Device');

export function deviceView(device: Device): z.infer<typeof DeviceSchema> {
  return {
    id: device.id, userId: device.userId, status: device.status, ...(device.lockReason ? { lockReason: device.lockReason } : {}),
    kind: device.kind, name: device.name,
    authenticator: {
      ...(device.aaguid ? { aaguid: device.aaguid } : {}), backupEligible: device.backupEligible, backedUp: device.backedUp,
      ...(device.transports.length > 0 ? { transports: device.transports } : {}),
    },
    createdAt: device.createdAt, ...(device.lastUsedAt ? { lastUsedAt: device.lastUsedAt } : {}), failedAttempts: device.failedAttempts,
    ...(device.pushChannel ? { pushChannel: device.pushChannel } : {}),
    ...(device.pushRemoved ? { pushChannelRemoved: device.pushRemoved } : {}),
  };
}

async function loadDevice(db: D1Database, tenantId: string, deviceId: string): Promise<Device> {
  const device = isId(deviceId, 'dev') ? await getDevice(db, tenantId, deviceId) : null;
  if (!device) throw new ApiError('DEVICE_NOT_FOUND', `No device ${deviceId}.`);
  return device;
}

const devicePath = z.object({ deviceId: IdParam('deviceId', 'dev_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h') });

devices.openapi(
  createRoute({
    method: 'get', path: '/users/{userId}/devices', tags: ['Devices'], operationId: 'listUserDevices', summary: "A user's devices", security: [{ oauth2: ['devices'] }],
    description: 'Every device bound to the user, in any status, in one list (a user has few devices, so there is no cursor).',
    request: { params: z.object({ userId: IdParam('userId', 'usr_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h') }) },
    responses: { 200: json(z.object({ items: z.array(DeviceSchema), nextCursor: z.null() }).openapi('DeviceList'), 'Devices'), ...readErrors, ...notFound('USER_NOT_FOUND') },
  }),
  async (c) => {
    const { tenantId } = c.get('auth');
    const user = await loadUser(c.env.DB, tenantId, c.req.valid('param').userId);
    return c.json({ items: (await listUserDevices(c.env.DB, tenantId, user.id)).map(deviceView), nextCursor: null }, 200);
  },
);

devices.openapi(
  createRoute({
    method: 'get', path: '/devices/{deviceId}', tags: ['Devices'], operationId: 'getDevice', summary: 'One device', security: [{ oauth2: ['devices'] }],
    description: 'Kind (PASSKEY or NATIVE), status, authenticator flags (backup eligibility matters for deviceBoundOnly) and consecutive failed attempts.',
    request: { params: devicePath },
    responses: { 200: json(DeviceSchema, 'The device'), ...readErrors, ...notFound('DEVICE_NOT_FOUND') },
  }),
  async (c) => c.json(deviceView(await loadDevice(c.env.DB, c.get('auth').tenantId, c.req.valid('param').deviceId)), 200),
);

devices.openapi(
  createRoute({
    method: 'patch', path: '/devices/{deviceId}', tags: ['Devices'], operationId: 'renameDevice', summary: 'Rename a device', security: [{ oauth2: ['devices'] }],
    description: 'Sets the display name (1–64 characters) the user sees in your device list; nothing else of a device can be patched.',
    request: {
      params: devicePath,
      body: { required: true, content: { 'application/merge-patch+json': { schema: z.strictObject({ name: wellFormedString().min(1).max(64) }) }, 'application/json': { schema: z.strictObject({ name: wellFormedString().min(1).max(64) }).openapi('PatchDevice') } } },
    },
    responses: { 200: json(DeviceSchema, 'The device'), ...commonErrors, ...notFound('DEVICE_NOT_FOUND') },
  }),
  async (c) => {
    const { tenantId, clientId } = c.get('auth');
    const device = await loadDevice(c.env.DB, tenantId, c.req.valid('param').deviceId);
    const { name } = c.req.valid('json');
    const at = new Date().toISOString();
    await commitWithAudit(c.env.DB, tenantId, [renameDeviceStatement(c.env.DB, device.id, name, at)], [
      { actor: auditActorOf(c.get('auth')), action: 'device.renamed', targetType: 'device', targetId: device.id, userId: device.userId },
    ], at);
    return c.json(deviceView({ ...device, name, updatedAt: at }), 200);
  },
);

type DeviceAction = 'lock' | 'unlock' | 'deactivate';

async function changeDeviceStatus(env: Bindings, auth: AuthContext, deviceId: string, action: DeviceAction, reason?: string): Promise<Device> {
  const device = await loadDevice(env.DB, auth.tenantId, deviceId);
  // Deactivation is final.
  if (device.status === 'DEACTIVATED') throw new ApiError('DEVICE_DEACTIVATED', 'A deactivated device cannot change status.');
  const at = new Date().toISOString();
  const next =
    action === 'lock' ? { status: 'LOCKED' as const, lockReason: reason ?? 'LOCKED_BY_RELYING_PARTY', resetFailures: false }
    : action === 'unlock' ? { status: 'ACTIVE' as const, lockReason: null, resetFailures: true }
    : { status: 'DEACTIVATED' as const, lockReason: null, resetFailures: false };
  const event = action === 'lock' ? 'device.locked' : action === 'unlock' ? 'device.unlocked' : 'device.deactivated';
  // Transactional outbox: the event is recorded in the batch of the change it reports (the sweeper delivers it if this request dies).
  const prepared = prepareEvent(env.DB, auth.tenantId, event, { deviceId: device.id, userId: device.userId, status: next.status, ...(next.lockReason ? { lockReason: next.lockReason } : {}) });
  const results = await commitWithAudit(env.DB, auth.tenantId, [setDeviceStatusStatement(env.DB, device.id, { ...next, at }), prepared.statement], [
    { actor: auditActorOf(auth), action: event, targetType: 'device', targetId: device.id, userId: device.userId, data: next.lockReason ? { reason: next.lockReason } : {} },
  ], at);
  const updated: Device = { ...device, status: next.status, lockReason: next.lockReason, failedAttempts: next.resetFailures ? 0 : device.failedAttempts, updatedAt: at };
  if (next.status !== 'ACTIVE') await cancelLiveOperations(env, { tenantId: auth.tenantId, userId: device.userId, deviceId: device.id }, next.status === 'LOCKED' ? 'DEVICE_LOCKED' : 'DEVICE_DEACTIVATED');
  await deliverRecorded(env, [{ prepared, result: results[1] }]);
  return updated;
}

const actionRoute = <T extends z.ZodTypeAny>(action: DeviceAction, doc: { summary: string; description: string }, schema: T) =>
  createRoute({
    method: 'post', path: `/devices/{deviceId}/${action}`, tags: ['Devices'], operationId: `${action}Device`, ...doc, security: [{ oauth2: ['devices'] }],
    request: { params: devicePath, body: { required: false, content: { 'application/json': { schema } } } },
    responses: { 200: json(DeviceSchema, 'The device'), ...commonErrors, ...notFound('DEVICE_NOT_FOUND'), ...conflict('DEVICE_DEACTIVATED') },
  });

const LockBody = z.strictObject({ reason: wellFormedString().min(1).max(256).optional() }).openapi('DeviceLockRequest');
const Empty = z.strictObject({}).openapi('DeviceActionRequest');

devices.openapi(actionRoute('lock', {
  summary: 'Lock a device (cancels its pending operations)',
  description: 'Optional body `{ reason }`, kept as `lockReason`. Operations addressed to this device are cancelled; a broadcast '
    + 'operation stays open for the user’s other devices. Sends `device.locked`.',
}, LockBody), async (c) => {
  const { reason } = c.req.valid('json') as z.infer<typeof LockBody>;
  return c.json(deviceView(await changeDeviceStatus(c.env, c.get('auth'), c.req.valid('param').deviceId, 'lock', reason)), 200);
});
devices.openapi(actionRoute('unlock', {
  summary: 'Unlock a device (resets failedAttempts)',
  description: 'Back to ACTIVE, also after an automatic TOO_MANY_FAILED_ATTEMPTS lock; the failure counter restarts at 0. Sends `device.unlocked`.',
}, Empty), async (c) =>
  c.json(deviceView(await changeDeviceStatus(c.env, c.get('auth'), c.req.valid('param').deviceId, 'unlock')), 200),
);
devices.openapi(actionRoute('deactivate', {
  summary: 'Deactivate a device (final)',
  description: 'A final state: the device never answers an operation again and its pending operations are cancelled. Sends `device.deactivated`.',
}, Empty), async (c) =>
  c.json(deviceView(await changeDeviceStatus(c.env, c.get('auth'), c.req.valid('param').deviceId, 'deactivate')), 200),
);

devices.openapi(
  createRoute({
    method: 'get', path: '/devices/{deviceId}/operations', tags: ['Devices'], operationId: 'listDeviceOperations', summary: "The device's operation history, newest first",
    description: 'Operations addressed to or completed by this device, newest first, from the history kept in D1 (no sdk tokens, no result tokens).',
    security: [{ oauth2: ['devices'] }],
    request: { params: devicePath, query: PageQuery },
    responses: { 200: json(OperationListSchema, 'Operations'), ...readErrors, ...notFound('DEVICE_NOT_FOUND') },
  }),
  async (c) => {
    const { tenantId } = c.get('auth');
    const device = await loadDevice(c.env.DB, tenantId, c.req.valid('param').deviceId);
    const q = c.req.valid('query');
    const before = decodeCursor(q.cursor, (k): k is string => typeof k === 'string' && isId(k, 'op'));
    // One row more than the page: it only proves a next page exists, so the last page says nextCursor null.
    const rows = await listTenantHistory(c.env.DB, { tenantId, filter: { deviceId: device.id }, before: before ?? null, limit: q.limit + 1 });
    return c.json(pageAhead(rows.map(historyView), q.limit, (o) => o.id), 200);
  },
);
