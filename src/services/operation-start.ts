// Starting an operation: everything POST /v1/operations does between validation and the answer, callable by every
// front door over the one engine (the REST API, and adapters such as CIBA) so that none grows a second engine.
import type { Bindings } from '../env';
import { ApiError } from '../errors';
import { newId, isId } from '../domain/ids';
import { newSecret, hashSecret } from '../domain/secrets';
import { toB64url } from '../domain/encoding';
import { documentDigest, linkedChallenge, plainChallenge } from '../domain/linking';
import { sumAmounts } from '../domain/money';
import { checkNewDeviceSca, checkStartLimits, resolveTtl, DEFAULT_POLICY } from '../domain/policy';
import type { StartLimitRefusal, TenantPolicy } from '../domain/policy';
import type { OperationView, StartOperationInput } from '../schemas/operations';
import type { OperationSnapshot } from '../durable-objects/operation';
import { boundOf, operationStub } from '../durable-objects/operation';
import { toDevice, toStoredCredential, userCredentialsStatement, listUserDevicesStatement } from '../storage/devices';
import type { CredentialRow, DeviceRow } from '../storage/devices';
import { commitWithAudit } from '../storage/audit';
import { limitHitBy, readStartLoad, startLimitGuardStatements, startLoadFrom, startLoadStatement } from '../storage/operation-limits';
import type { StartScope } from '../storage/operation-limits';
import { serviceRelyingParty } from '../domain/public-origin';
import type { RequestOrigin } from '../middleware/origin';
import { requireKeySet } from './keys';

/** Who starts: the tenant and the API client acting for it (the audit actor is `client:<clientId>`). */
export interface Starter {
  tenantId: string;
  clientId: string;
}

export interface StartedOperation {
  /** The Operation as GET /v1/operations/{id} shows it. */
  view: OperationView;
  /** The device's credential for this operation, shown once: the token and the authenticator-app link carrying it. */
  sdk: { token: string; url: string };
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

/** Starts an operation for a validated request; throws ApiError (nothing written) on every refusal. */
export async function startOperation(env: Bindings, auth: Starter, input: StartOperationInput, origin: RequestOrigin): Promise<StartedOperation> {
  const { tenantId, clientId } = auth;
  const db = env.DB;
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
  const { origin: base, localDevelopment } = origin;
  // Refused before anything is written: an operation that could never sign its result is not started.
  await requireKeySet(env, 'SIGNING_KEYS', { generate: localDevelopment });
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
  const view = (await operationStub(env, id).begin(snapshot)) as OperationView;
  const url = `${base}/app/#op=${id}&token=${encodeURIComponent(sdkToken)}&tenant=${tenantId}`;
  return { view, sdk: { token: sdkToken, url } };
}

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

