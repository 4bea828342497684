// /v1/operations: relying parties start, watch (long-poll) and cancel device operations.
import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from '../../env';
import { ApiError } from '../../errors';
import { newId, isId } from '../../domain/ids';
import { newSecret, hashSecret } from '../../domain/secrets';
import { toB64url } from '../../domain/encoding';
import { documentDigest, linkedChallenge, plainChallenge } from '../../domain/linking';
import { sumAmounts } from '../../domain/money';
import { checkNewDeviceSca, checkStartLimits, resolveTtl } from '../../domain/policy';
import { requireScope } from '../../middleware/auth';
import { idempotent } from '../../middleware/idempotency';
import { commonErrors, conflict, IdParam, idempotencyReused, notFound, readErrors, tooManyRequests } from '../../schemas/common';
import { OperationSchema, StartOperationSchema } from '../../schemas/operations';
import type { OperationView, StartOperationInput } from '../../schemas/operations';
import type { DoResult, OperationSnapshot } from '../../durable-objects/operation';
import { boundOf, operationStub } from '../../durable-objects/operation';
import { DEFAULT_POLICY } from '../../domain/policy';
import type { StartLimitRefusal, TenantPolicy } from '../../domain/policy';
import { toDevice, toStoredCredential, userCredentialsStatement, listUserDevicesStatement } from '../../storage/devices';
import type { CredentialRow, DeviceRow } from '../../storage/devices';
import { commitWithAudit } from '../../storage/audit';
import { limitHitBy, readStartLoad, startLimitGuardStatements, startLoadFrom, startLoadStatement } from '../../storage/operation-limits';
import type { StartScope } from '../../storage/operation-limits';
import { serviceRelyingParty } from '../../domain/public-origin';
import { publicOriginOf } from '../../middleware/origin';
import { requireKeySet } from '../../services/keys';

export const operations = createRouter();
operations.use('*', requireScope('operations'));

const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const opPath = z.object({ operationId: IdParam('operationId', 'op_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h') });


/** Turns a Durable Object's refusal into the API error it stands for. */
export function unwrap<T>(result: DoResult<T>): T {
  if (result.ok) return result.value;
  throw new ApiError(result.code, result.detail, result.extras ?? {});
}


function numberMatchChoices(correct: string): string[] {
  const choices = new Set([correct]);
  while (choices.size < 3) choices.add(String(10 + (crypto.getRandomValues(new Uint32Array(1))[0]! % 90)));
  return [...choices].sort(() => (crypto.getRandomValues(new Uint8Array(1))[0]! & 1 ? 1 : -1));
}

interface TenantRow {
  rp_id: string;
  rp_name: string;
  origins: string;
  policy: string;
}

interface HistoryRow {
  id: string;
  tenant_id: string;
  user_id: string;
  device_id: string | null;
  type: OperationView['type'];
  status: OperationView['status'];
  created_at: string;
  expires_at: string;
  completed_at: string | null;
  failure_code: string | null;
  summary: string | null;
}

export function historyView(row: HistoryRow): OperationView {
  const summary = row.summary ? (JSON.parse(row.summary) as Partial<OperationView>) : {};
  return {
    id: row.id, type: row.type, status: row.status, userId: row.user_id,
    ...(row.device_id ? { deviceId: row.device_id } : {}),
    createdAt: row.created_at, expiresAt: row.expires_at,
    ...(row.completed_at ? { completedAt: row.completed_at } : {}),
    ...summary,
    ...(row.failure_code ? { failure: { code: row.failure_code } } : {}),
  };
}

operations.openapi(
  createRoute({
    method: 'post', path: '/', tags: ['Operations'], operationId: 'startOperation', summary: 'Start an operation (registration, authentication, authorisation, signature)',
    description: 'The body is discriminated by `type` (docs/operations.md). Without `deviceId` any active device of the user may answer '
      + '(broadcast, first one wins). Returns the Operation with `sdk.token` and `sdk.url`, shown only here. Dynamic linking '
      + '(PSD2 RTS art. 5): for AUTHORISATION and SIGNATURE the WebAuthn challenge is random(32) ‖ SHA-256(JCS(bound)). '
      + 'Takes an `Idempotency-Key`. Abuse limits from the tenant policy (docs/operations.md#limits): beyond '
      + '`maxLiveOperationsPerUser` or `maxLiveOperationsPerDevice` live operations, 429 TOO_MANY_LIVE_OPERATIONS; beyond '
      + '`maxStartsPerUserPerMinute`, 429 RATE_LIMITED; both with `Retry-After`, and nothing is written.',
    security: [{ oauth2: ['operations'] }], middleware: [idempotent] as const,
    request: { body: { required: true, content: { 'application/json': { schema: StartOperationSchema } } }, headers: z.object({ 'idempotency-key': z.string().optional() }) },
    responses: {
      201: json(OperationSchema, 'Started'), ...commonErrors, ...notFound('USER_NOT_FOUND, DEVICE_NOT_FOUND'),
      ...conflict('USER_NOT_ACTIVE, DEVICE_LOCKED, DEVICE_NOT_ACTIVE, NO_ACTIVE_DEVICE, SCA_REQUIRED, IDEMPOTENCY_KEY_IN_USE'),
      ...idempotencyReused, ...tooManyRequests('TOO_MANY_LIVE_OPERATIONS, RATE_LIMITED'),
    },
  }),
  async (c) => {
    const input = c.req.valid('json');
    const { tenantId, clientId } = c.get('auth');
    const db = c.env.DB;
    if (!isId(input.userId, 'usr')) throw new ApiError('USER_NOT_FOUND', `No user ${input.userId}.`);
    if (input.type === 'REGISTRATION' && input.deviceId !== undefined) {
      throw new ApiError('VALIDATION_FAILED', 'A REGISTRATION creates a device; it names none.', { invalidParams: [{ name: 'deviceId', reason: 'not allowed for REGISTRATION' }] });
    }
    const authorisedBy = input.type === 'REGISTRATION' ? input.authorisedBy : undefined;
    const now = new Date();
    const limitScope: StartScope = { tenantId, userId: input.userId, deviceId: input.type === 'REGISTRATION' ? null : input.deviceId ?? null, now };
    // One round trip for everything the ceremony needs (and the abuse limits); the DO keeps it for the rest of the operation.
    const [tenantRes, userRes, devicesRes, credsRes, authRes, loadRes] = await db.batch([
      db.prepare('SELECT rp_id, rp_name, origins, policy FROM tenants WHERE id = ?1').bind(tenantId),
      db.prepare('SELECT status, external_ref FROM users WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, input.userId),
      listUserDevicesStatement(db, tenantId, input.userId),
      userCredentialsStatement(db, tenantId, input.userId),
      db.prepare('SELECT type, status, user_id, completed_at FROM operations WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, authorisedBy ?? ''),
      startLoadStatement(db, limitScope),
    ]);
    const tenant = tenantRes?.results[0] as TenantRow | undefined;
    const user = userRes?.results[0] as { status: string; external_ref: string | null } | undefined;
    if (!tenant) throw new ApiError('UNAUTHENTICATED', 'The tenant no longer exists.');
    if (!user) throw new ApiError('USER_NOT_FOUND', `No user ${input.userId}.`);
    // A locked or deactivated user starts nothing.
    if (user.status !== 'ACTIVE') throw new ApiError('USER_NOT_ACTIVE', `The user is ${user.status}.`, { userStatus: user.status });
    const policy: TenantPolicy = { ...DEFAULT_POLICY, ...(JSON.parse(tenant.policy) as Partial<TenantPolicy>) };
    const ttl = resolveTtl(input.ttlSeconds, policy);
    if (!ttl.ok) throw new ApiError('VALIDATION_FAILED', ttl.reason, { invalidParams: [{ name: 'ttlSeconds', reason: ttl.reason }] });

    const devices = ((devicesRes?.results ?? []) as unknown as DeviceRow[]).map(toDevice);
    const active = devices.filter((d) => d.status === 'ACTIVE');
    const credentials = ((credsRes?.results ?? []) as unknown as CredentialRow[]).map(toStoredCredential);
    let allowed = credentials.filter((cr) => active.some((d) => d.id === cr.deviceId));
    let snapshotDevices = active;

    if (input.type === 'REGISTRATION') {
      const prior = authRes?.results[0] as { type: string; status: string; user_id: string; completed_at: string | null } | undefined;
      if (authorisedBy !== undefined && !prior) throw new ApiError('SCA_REQUIRED', 'authorisedBy names no operation of this tenant.');
      // PSD2 RTS art. 24(2)(b): binding another device needs a fresh SCA of this user.
      const sca = checkNewDeviceSca({
        policy, hasActiveDevice: active.length > 0, userId: input.userId, now: Date.now(),
        authorisedBy: prior ? { type: prior.type as 'AUTHENTICATION', status: prior.status as 'COMPLETED', userId: prior.user_id, completedAt: prior.completed_at } : null,
      });
      if (!sca.ok) throw new ApiError('SCA_REQUIRED', sca.reason);
      allowed = credentials; // excludeCredentials: every credential the user has
    } else if (input.deviceId !== undefined) {
      const device = isId(input.deviceId, 'dev') ? devices.find((d) => d.id === input.deviceId) : undefined;
      if (!device) throw new ApiError('DEVICE_NOT_FOUND', `No device ${input.deviceId} for this user.`);
      if (device.status === 'LOCKED') throw new ApiError('DEVICE_LOCKED', 'The device is locked.', { lockReason: device.lockReason });
      if (device.status !== 'ACTIVE') throw new ApiError('DEVICE_NOT_ACTIVE', 'The device is deactivated.');
      allowed = allowed.filter((cr) => cr.deviceId === device.id);
      snapshotDevices = [device];
    } else if (active.length === 0) {
      throw new ApiError('NO_ACTIVE_DEVICE', 'The user has no active device; register one first.');
    }

    // Push-bombing / MFA fatigue: a user (or device) is not flooded with prompts; refused before anything is written.
    const limits = checkStartLimits({ policy, load: startLoadFrom(loadRes), namesDevice: limitScope.deviceId !== null, now });
    if (!limits.ok) throw limitError(limits);

    const id = newId('op');
    const expiresAt = new Date(now.getTime() + ttl.seconds * 1000).toISOString();
    const echo = await echoOf(input);
    const challenge =
      input.type === 'AUTHORISATION' || input.type === 'SIGNATURE' ? await linkedChallenge(boundOf(echo)) : plainChallenge();
    const numberMatch = input.numberMatching ? String(10 + (crypto.getRandomValues(new Uint32Array(1))[0]! % 90)) : undefined;
    const sdkToken = newSecret('sdk');
    const { origin: base, localDevelopment } = publicOriginOf(c);
    // Refused before anything is written: an operation that could never sign its result is not started.
    await requireKeySet(c.env, 'SIGNING_KEYS', { generate: localDevelopment });
    const snapshot: OperationSnapshot = {
      id, tenantId, userId: input.userId, type: input.type, status: 'PENDING', createdAt: now.toISOString(), expiresAt,
      ...(input.deviceId ? { deviceId: input.deviceId } : {}),
      ...(input.context ? { context: input.context } : {}),
      ...echo,
      ...(numberMatch ? { numberMatch, numberMatchChoices: numberMatchChoices(numberMatch) } : {}),
      ...(input.sameDevice ? { sameDevice: true as const } : {}),
      sdkTokenHash: await hashSecret(sdkToken),
      challenge: toB64url(challenge),
      issuer: base,
      serviceRp: serviceRelyingParty(base),
      rp: { rpId: tenant.rp_id, rpName: tenant.rp_name, origins: JSON.parse(tenant.origins) as string[] },
      policy,
      userName: user.external_ref ?? input.userId,
      ...(input.type === 'REGISTRATION' && input.deviceName ? { deviceName: input.deviceName } : {}),
      credentials: allowed,
      devices: snapshotDevices.map((d) => ({ id: d.id, kind: d.kind, deviceKeyJwk: d.deviceKeyJwk })),
    };
    const summary = {
      ...(snapshot.context ? { context: snapshot.context } : {}),
      ...(echo.transaction ? { transaction: echo.transaction } : {}),
      ...(echo.transactions ? { transactions: echo.transactions, total: echo.total } : {}),
      ...(echo.document ? { document: echo.document } : {}),
    };
    await commitWithAudit(db, tenantId, [
      ...startLimitGuardStatements(db, limitScope, policy),
      db
        .prepare('INSERT INTO operations (id, tenant_id, user_id, device_id, type, status, created_at, expires_at, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)')
        .bind(id, tenantId, input.userId, input.deviceId ?? null, input.type, 'PENDING', snapshot.createdAt, expiresAt, JSON.stringify(summary)),
    ], [
      { actor: `client:${clientId}`, action: 'operation.started', targetType: 'operation', targetId: id, userId: input.userId, data: { type: input.type, ...(input.deviceId ? { deviceId: input.deviceId } : {}) } },
    ], snapshot.createdAt).catch(async (error: unknown) => {
      // A concurrent start took the last slot between our read and our commit: the guard rolled everything back.
      const rule = limitHitBy(error);
      if (!rule) throw error;
      const recheck = checkStartLimits({ policy, load: await readStartLoad(db, limitScope), namesDevice: limitScope.deviceId !== null, now: new Date() });
      throw recheck.ok ? limitError({ code: rule === 'maxStartsPerUserPerMinute' ? 'RATE_LIMITED' : 'TOO_MANY_LIVE_OPERATIONS', rule, limit: policy[rule], retryAfterSeconds: 1, reason: 'A limit was reached by a concurrent start.' }) : limitError(recheck);
    });
    const view = (await operationStub(c.env, id).begin(snapshot)) as OperationView;
    const url = `${base}/app/#op=${id}&token=${encodeURIComponent(sdkToken)}&tenant=${tenantId}`;
    c.header('location', `/v1/operations/${id}`);
    return c.json({ ...view, sdk: { token: sdkToken, url } }, 201);
  },
);

function limitError(refusal: Omit<StartLimitRefusal, 'ok'>): ApiError {
  return new ApiError(refusal.code, refusal.reason, { limit: refusal.limit, policyField: refusal.rule, retryAfterSeconds: refusal.retryAfterSeconds });
}

/** What the Operation echoes of the request; for SIGNATURE the content stays in the DO for the device only. */
async function echoOf(input: StartOperationInput): Promise<Pick<OperationSnapshot, 'transaction' | 'transactions' | 'total' | 'document' | 'documentContent'>> {
  if (input.type === 'AUTHORISATION') {
    if (input.transaction) return { transaction: { ...input.transaction } };
    const transactions = (input.transactions ?? []).map((t) => ({ ...t }));
    const currency = transactions[0]!.currency;
    return { transactions, total: { amount: sumAmounts(transactions.map((t) => t.amount), currency), currency } };
  }
  if (input.type === 'SIGNATURE') {
    const { content, mimeType, title } = input.document;
    return { document: { ...(title !== undefined ? { title } : {}), mimeType, sha256: await documentDigest(content) }, documentContent: content };
  }
  return {};
}

operations.openapi(
  createRoute({
    method: 'get', path: '/{operationId}', tags: ['Operations'], operationId: 'getOperation', summary: 'Operation status; ?wait=N (≤ 30 s) long-polls until it is final',
    description: 'The Operation without its sdk token; once COMPLETED it holds `result.token`, the signed result token '
      + '(docs/verifying-tokens.md). `wait` (0–30 s) holds the answer until the operation is final or the time is up, '
      + 'then answers with whatever the status is.',
    security: [{ oauth2: ['operations'] }],
    request: { params: opPath, query: z.object({ wait: z.coerce.number().int().min(0).max(30).optional().openapi({ description: 'Seconds to wait for a final status (0–30)' }) }) },
    responses: { 200: json(OperationSchema, 'The operation (without the sdk token)'), ...readErrors, ...notFound('OPERATION_NOT_FOUND') },
  }),
  async (c) => {
    const { operationId } = c.req.valid('param');
    const { tenantId } = c.get('auth');
    if (!isId(operationId, 'op')) throw new ApiError('OPERATION_NOT_FOUND', `No operation ${operationId}.`);
    const live = (await operationStub(c.env, operationId).status({ tenantId, waitSeconds: c.req.valid('query').wait })) as OperationView | null;
    if (live) return c.json(live, 200);
    // The object forgets a final operation after a day; the history row remains.
    const row = await c.env.DB.prepare('SELECT * FROM operations WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, operationId).first<HistoryRow>();
    if (!row) throw new ApiError('OPERATION_NOT_FOUND', `No operation ${operationId}.`);
    return c.json(historyView(row), 200);
  },
);

operations.openapi(
  createRoute({
    method: 'post', path: '/{operationId}/cancel', tags: ['Operations'], operationId: 'cancelOperation', summary: 'Cancel an operation',
    description: 'A live (PENDING or IN_PROGRESS) operation becomes CANCELLED and an `operation.cancelled` event is sent. '
      + 'A final one answers 409 OPERATION_FINAL with its `operationStatus`; one a device is finishing right now, 409 OPERATION_CONFLICT.',
    security: [{ oauth2: ['operations'] }],
    request: { params: opPath, body: { required: false, content: { 'application/json': { schema: z.strictObject({}).openapi('CancelRequest') } } } },
    responses: { 200: json(OperationSchema, 'CANCELLED'), ...commonErrors, ...notFound('OPERATION_NOT_FOUND'), ...conflict('OPERATION_FINAL, OPERATION_CONFLICT') },
  }),
  async (c) => {
    const { operationId } = c.req.valid('param');
    const { tenantId, clientId } = c.get('auth');
    if (!isId(operationId, 'op')) throw new ApiError('OPERATION_NOT_FOUND', `No operation ${operationId}.`);
    const view = unwrap((await operationStub(c.env, operationId).cancel({ tenantId, reason: 'CANCELLED', actor: `client:${clientId}` })) as DoResult<OperationView>);
    return c.json(view, 200);
  },
);
