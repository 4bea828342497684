// /v1/users: the identity store (create, get, resolve, list, merge-patch, lock/unlock, deactivate, erase).
import { createRoute, z } from '@hono/zod-openapi';
import { auditActorOf, createRouter } from '../../env';
import { ApiError } from '../../errors';
import { newId, isId } from '../../domain/ids';
import { requireScope } from '../../middleware/auth';
import { idempotent } from '../../middleware/idempotency';
import { commonErrors, conflict, decodeCursor, IdParam, idempotencyReused, listOf, notFound, pageAhead, PageQuery, readErrors } from '../../schemas/common';
import { CreateUserSchema, LockSchema, EmptyActionSchema, PatchUserSchema, UserSchema, MAX_ATTRIBUTES } from '../../schemas/users';
import type { User } from '../../storage/users';
import { eraseUserStatements, getUser, insertUserStatements, listUsers, patchUserStatements, setUserStatusStatement } from '../../storage/users';
import { commitWithAudit } from '../../storage/audit';
import { setDeviceStatusStatement, undeactivatedDeviceIds } from '../../storage/devices';
import type { AuditEntry } from '../../storage/audit';
import { deliverRecorded, prepareEvent } from '../../services/events';
import { onUserBlocked } from '../../services/lifecycle';

export const users = createRouter();
const usersScope = requireScope('users');
// GET /v1/users/{userId}/devices belongs to the devices router and its `devices` scope.
users.use('*', async (c, next) => (/^\/v1\/users\/[^/]+\/devices\/?$/.test(c.req.path) ? next() : usersScope(c, next)));

export function userView(user: User): z.infer<typeof UserSchema> {
  return {
    id: user.id,
    ...(user.externalRef !== null ? { externalRef: user.externalRef } : {}),
    status: user.status,
    ...(user.lockReason !== null ? { lockReason: user.lockReason } : {}),
    attributes: user.attributes,
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
  };
}

function isExternalRefConflict(error: unknown): boolean {
  return error instanceof Error && /UNIQUE constraint failed: users\.tenant_id, users\.external_ref/.test(error.message);
}

export async function loadUser(db: D1Database, tenantId: string, userId: string): Promise<User> {
  // Another tenant's id answers exactly like an unknown one (404, never 403).
  const user = isId(userId, 'usr') ? await getUser(db, tenantId, userId) : null;
  if (!user) throw new ApiError('USER_NOT_FOUND', `No user ${userId}.`);
  return user;
}

const userPath = z.object({ userId: IdParam('userId', 'usr_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h') });
const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const body = <T extends z.ZodTypeAny>(schema: T, required: boolean) => ({ required, content: { 'application/json': { schema } } });

users.openapi(
  createRoute({
    method: 'post', path: '/', tags: ['Users'], operationId: 'createUser', summary: 'Create a user', middleware: [idempotent] as const,
    description: 'Adds a user to the identity store, with an optional `externalRef` (unique per tenant: your own customer number) and '
      + 'string attributes (keys `^[A-Za-z0-9_.-]{1,64}$`, values ≤ 1024 characters, ≤ 100 per user). Answers 201 with `Location`. '
      + 'Takes an `Idempotency-Key` (docs/concepts.md#idempotency).',
    security: [{ oauth2: ['users'] }],
    request: { body: body(CreateUserSchema, true), headers: z.object({ 'idempotency-key': z.string().optional() }) },
    responses: { 201: json(UserSchema, 'Created'), ...commonErrors, ...conflict('EXTERNAL_REF_TAKEN, IDEMPOTENCY_KEY_IN_USE'), ...idempotencyReused },
  }),
  async (c) => {
    const input = c.req.valid('json');
    const { tenantId, clientId } = c.get('auth');
    const at = new Date().toISOString();
    const user: User = {
      id: newId('usr'), tenantId, externalRef: input.externalRef ?? null, status: 'ACTIVE', lockReason: null,
      attributes: input.attributes ?? {}, createdAt: at, updatedAt: at,
    };
    try {
      await commitWithAudit(c.env.DB, tenantId, insertUserStatements(c.env.DB, user), [
        { actor: auditActorOf(c.get('auth')), action: 'user.created', targetType: 'user', targetId: user.id, userId: user.id, data: { attributeKeys: Object.keys(user.attributes) } },
      ], at);
    } catch (error) {
      if (isExternalRefConflict(error)) throw new ApiError('EXTERNAL_REF_TAKEN', 'Another user of this tenant has this externalRef.');
      throw error;
    }
    c.header('location', `/v1/users/${user.id}`);
    return c.json(userView(user), 201);
  },
);

users.openapi(
  createRoute({
    method: 'get', path: '/', tags: ['Users'], operationId: 'listUsers', summary: 'List users, or resolve an externalRef or attribute value',
    description: 'Without filters: every user of the tenant, oldest first, a page at a time. `externalRef` resolves your reference '
      + '(a list of 0 or 1); `attributeKey` with `attributeValue` finds the users holding that exact attribute value.',
    security: [{ oauth2: ['users'] }],
    request: {
      query: PageQuery.extend({
        externalRef: z.string().min(1).max(256).optional(),
        attributeKey: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
        attributeValue: z.string().max(1024).optional(),
      }),
    },
    responses: { 200: json(listOf(UserSchema, 'UserList'), 'A page of users'), ...readErrors },
  }),
  async (c) => {
    const q = c.req.valid('query');
    if ((q.attributeKey === undefined) !== (q.attributeValue === undefined)) {
      throw new ApiError('VALIDATION_FAILED', 'attributeKey and attributeValue go together.', {
        invalidParams: [{ name: q.attributeKey === undefined ? 'attributeKey' : 'attributeValue', reason: 'required with its pair' }],
      });
    }
    const afterId = decodeCursor(q.cursor, (k): k is string => typeof k === 'string' && isId(k, 'usr'));
    const { tenantId } = c.get('auth');
    const found = await listUsers(c.env.DB, tenantId, {
      externalRef: q.externalRef,
      attribute: q.attributeKey !== undefined && q.attributeValue !== undefined ? { key: q.attributeKey, value: q.attributeValue } : undefined,
      afterId,
      limit: q.limit + 1,
    });
    return c.json(pageAhead(found.map(userView), q.limit, (u) => u.id), 200);
  },
);

users.openapi(
  createRoute({
    method: 'get', path: '/{userId}', tags: ['Users'], operationId: 'getUser', summary: 'Get a user with attributes',
    description: "A user of the caller's tenant; another tenant's user id answers 404 like an unknown one.",
    security: [{ oauth2: ['users'] }],
    request: { params: userPath },
    responses: { 200: json(UserSchema, 'The user'), ...readErrors, ...notFound('USER_NOT_FOUND') },
  }),
  async (c) => {
    const user = await loadUser(c.env.DB, c.get('auth').tenantId, c.req.valid('param').userId);
    return c.json(userView(user), 200);
  },
);

users.openapi(
  createRoute({
    method: 'patch', path: '/{userId}', tags: ['Users'], operationId: 'updateUser', summary: 'Update a user (JSON merge patch; null deletes an attribute)',
    description: 'RFC 7396 merge patch of `externalRef` and `attributes`: a key set to a string is written, a key set to null is deleted, '
      + 'keys left out are kept. A deactivated user cannot be changed (409 USER_DEACTIVATED).',
    security: [{ oauth2: ['users'] }],
    request: {
      params: userPath,
      body: { required: true, content: { 'application/merge-patch+json': { schema: PatchUserSchema }, 'application/json': { schema: PatchUserSchema } } },
    },
    responses: { 200: json(UserSchema, 'The updated user'), ...commonErrors, ...notFound('USER_NOT_FOUND'), ...conflict('EXTERNAL_REF_TAKEN, USER_DEACTIVATED') },
  }),
  async (c) => {
    const patch = c.req.valid('json');
    const { tenantId, clientId } = c.get('auth');
    const db = c.env.DB;
    const user = await loadUser(db, tenantId, c.req.valid('param').userId);
    if (user.status === 'DEACTIVATED') throw new ApiError('USER_DEACTIVATED', 'A deactivated user cannot be changed.');
    const next = { ...user.attributes };
    for (const [key, value] of Object.entries(patch.attributes ?? {})) {
      if (value === null) delete next[key];
      else next[key] = value;
    }
    if (Object.keys(next).length > MAX_ATTRIBUTES) {
      throw new ApiError('VALIDATION_FAILED', `A user has at most ${MAX_ATTRIBUTES} attributes.`, {
        invalidParams: [{ name: 'attributes', reason: `at most ${MAX_ATTRIBUTES} attributes per user` }],
      });
    }
    const at = new Date().toISOString();
    try {
      await commitWithAudit(db, tenantId, patchUserStatements(db, user, patch, at), [
        {
          actor: auditActorOf(c.get('auth')), action: 'user.updated', targetType: 'user', targetId: user.id, userId: user.id,
          // Pseudonymous audit: which keys changed, never their values.
          data: { attributeKeys: Object.keys(patch.attributes ?? {}), externalRefChanged: patch.externalRef !== undefined },
        },
      ], at);
    } catch (error) {
      if (isExternalRefConflict(error)) throw new ApiError('EXTERNAL_REF_TAKEN', 'Another user of this tenant has this externalRef.');
      if (error instanceof Error && error.message.includes('ATTRIBUTE_LIMIT')) {
        throw new ApiError('VALIDATION_FAILED', `A user has at most ${MAX_ATTRIBUTES} attributes.`, { invalidParams: [{ name: 'attributes', reason: 'limit reached' }] });
      }
      throw error;
    }
    return c.json(userView((await getUser(db, tenantId, user.id))!), 200);
  },
);

const action = <T extends z.ZodTypeAny>(path: string, doc: { operationId: string; summary: string; description: string }, schema: T) =>
  createRoute({
    method: 'post', path, tags: ['Users'], ...doc, security: [{ oauth2: ['users'] }],
    request: { params: userPath, body: body(schema, false) },
    responses: { 200: json(UserSchema, 'The updated user'), ...commonErrors, ...notFound('USER_NOT_FOUND'), ...conflict('USER_DEACTIVATED') },
  });

users.openapi(action('/{userId}/lock', {
  operationId: 'lockUser', summary: 'Lock a user: blocks new operations and cancels pending ones',
  description: 'Optional body `{ reason }` (≤ 256 characters; TOO_MANY_FAILED_ATTEMPTS is reserved for automatic locks), kept as `lockReason`. '
    + 'Live operations of the user are cancelled and a `user.locked` event is sent.',
}, LockSchema), async (c) => {
  const { reason } = c.req.valid('json') as z.infer<typeof LockSchema>;
  const user = await changeUserStatus(c.env, c.get('auth'), c.req.valid('param').userId, { status: 'LOCKED', lockReason: reason ?? 'LOCKED_BY_RELYING_PARTY', action: 'user.locked' });
  return c.json(userView(user), 200);
});

users.openapi(action('/{userId}/unlock', {
  operationId: 'unlockUser', summary: 'Unlock a user',
  description: 'Back to ACTIVE; `lockReason` is cleared and a `user.unlocked` event is sent. Devices keep their own status.',
}, EmptyActionSchema), async (c) => {
  const user = await changeUserStatus(c.env, c.get('auth'), c.req.valid('param').userId, { status: 'ACTIVE', lockReason: null, action: 'user.unlocked' });
  return c.json(userView(user), 200);
});

users.openapi(action('/{userId}/deactivate', {
  operationId: 'deactivateUser', summary: 'Deactivate a user (final): devices deactivated, pending operations cancelled',
  description: 'A final state: every device of the user is deactivated (each with a `device.deactivated` event), live operations '
    + 'are cancelled and a `user.deactivated` event is sent. The user record and its history stay; DELETE erases them.',
}, EmptyActionSchema), async (c) => {
  const user = await changeUserStatus(c.env, c.get('auth'), c.req.valid('param').userId, { status: 'DEACTIVATED', lockReason: null, action: 'user.deactivated' });
  return c.json(userView(user), 200);
});

async function changeUserStatus(
  env: import('../../env').Bindings,
  auth: import('../../env').AuthContext,
  userId: string,
  change: { status: User['status']; lockReason: string | null; action: 'user.locked' | 'user.unlocked' | 'user.deactivated' },
): Promise<User> {
  const db = env.DB;
  const user = await loadUser(db, auth.tenantId, userId);
  // A deactivated user is final.
  if (user.status === 'DEACTIVATED') throw new ApiError('USER_DEACTIVATED', 'A deactivated user cannot change status.');
  const at = new Date().toISOString();
  const statements = [setUserStatusStatement(db, user.id, { status: change.status, lockReason: change.lockReason, at })];
  const audit: AuditEntry[] = [
    { actor: auditActorOf(auth), action: change.action, targetType: 'user', targetId: user.id, userId: user.id, data: change.lockReason ? { reason: change.lockReason } : {} },
  ];
  // Deactivating the user deactivates each of its devices, each with its own audit entry and event.
  const deviceIds =
    change.status === 'DEACTIVATED'
      ? await undeactivatedDeviceIds(db, auth.tenantId, user.id)
      : [];
  for (const deviceId of deviceIds) {
    statements.push(setDeviceStatusStatement(db, deviceId, { status: 'DEACTIVATED', lockReason: null, at, resetFailures: false }));
    audit.push({ actor: auditActorOf(auth), action: 'device.deactivated', targetType: 'device', targetId: deviceId, userId: user.id, data: { reason: 'USER_DEACTIVATED' } });
  }
  // Transactional outbox: each event is recorded in the batch of the change it reports (the sweeper delivers it if this request dies).
  const prepared = [
    ...deviceIds.map((deviceId) => prepareEvent(db, auth.tenantId, 'device.deactivated', { deviceId, userId: user.id, status: 'DEACTIVATED' })),
    prepareEvent(db, auth.tenantId, change.action, { userId: user.id, status: change.status, ...(change.lockReason ? { lockReason: change.lockReason } : {}) }),
  ];
  const results = await commitWithAudit(db, auth.tenantId, [...statements, ...prepared.map((p) => p.statement)], audit, at);
  const updated: User = { ...user, status: change.status, lockReason: change.lockReason, updatedAt: at };
  if (change.status !== 'ACTIVE') await onUserBlocked(env, updated);
  await deliverRecorded(env, prepared.map((p, i) => ({ prepared: p, result: results[statements.length + i] })));
  return updated;
}

users.openapi(
  createRoute({
    method: 'delete', path: '/{userId}', tags: ['Users'], operationId: 'eraseUser', summary: 'Erase a user: attributes, devices and credentials are deleted',
    description: 'GDPR erasure: attributes, devices and credentials are deleted and live operations cancelled. The audit log keeps a '
      + 'pseudonymous record (ids and attribute keys, never values), so the hash chain stays verifiable.',
    security: [{ oauth2: ['users'] }],
    request: { params: userPath },
    responses: { 204: { description: 'Erased' }, ...readErrors, ...notFound('USER_NOT_FOUND') },
  }),
  async (c) => {
    const { tenantId, clientId } = c.get('auth');
    const db = c.env.DB;
    const user = await loadUser(db, tenantId, c.req.valid('param').userId);
    await onUserBlocked(c.env, user);
    await commitWithAudit(db, tenantId, eraseUserStatements(db, tenantId, user.id), [
      { actor: auditActorOf(c.get('auth')), action: 'user.erased', targetType: 'user', targetId: user.id, userId: user.id },
    ]);
    return c.body(null, 204);
  },
);
