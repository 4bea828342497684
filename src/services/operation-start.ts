// Starting an operation: everything POST /v1/operations does between validation and the answer, callable by every
// front door over the one engine (the REST API, and adapters such as CIBA) so that none grows a second engine.
import type { Bindings } from '../env';
import { ApiError } from '../errors';
import { newId, isId } from '../domain/ids';
import { newSecret, hashSecret } from '../domain/secrets';
import { toB64url } from '../domain/encoding';
import { documentDigest, linkedChallenge, plainChallenge } from '../domain/linking';
import { sumAmounts } from '../domain/money';
import { checkNewDeviceSca, checkStartLimits, resolveTtl, wantsNumberMatching, DEFAULT_POLICY } from '../domain/policy';
import type { StartLimitRefusal, TenantPolicy } from '../domain/policy';
import type { OperationView, StartOperationInput } from '../schemas/operations';
import type { OperationSnapshot } from '../durable-objects/operation';
import { boundOf, operationStub } from '../durable-objects/operation';
import { toDevice, toStoredCredential } from '../storage/devices';
import type { CredentialRow, Device, DeviceRow } from '../storage/devices';
import { insertOperationStatement, priorOperationRead, START_PRECONDITIONS, startRulePreconditions, startTenantRead, startUserReadFrom, startUserReads } from '../storage/operation-start';
import type { PriorOperationRow, StartTenantRow, StartUserRow } from '../storage/operation-start';
import type { StoredCredential } from '../domain/webauthn';
import type { AuditEntry } from '../storage/audit';
import { failedPrecondition } from '../storage/precondition';
import { commitWithAudit } from '../storage/audit';
import { limitHitBy, readStartLoad, startLimitGuardStatements, startLoadFrom, startLoadStatement } from '../storage/operation-limits';
import type { StartScope } from '../storage/operation-limits';
import { serviceRelyingParty } from '../domain/public-origin';
import type { RequestOrigin } from '../middleware/origin';
import { requireKeySet } from './keys';
import { notificationText } from '../domain/push';
import { pushStub, queuedRecords } from '../durable-objects/push-delivery';
import type { PushJob, PushTarget } from '../durable-objects/push-delivery';

/** Who starts: the tenant and the API client acting for it (the audit actor is `client:<clientId>` unless `actor` names another). */
export interface Starter {
  tenantId: string;
  clientId: string;
  /** A console administrator's start is theirs in the audit log (`admin:<id>`), not a client's. */
  actor?: string | undefined;
}

export interface StartedOperation {
  /** The Operation as GET /v1/operations/{id} shows it. */
  view: OperationView;
  /** The device's credential for this operation, shown once: the token and the authenticator-app link carrying it. */
  sdk: { token: string; url: string };
}

function newMatchNumber(): string {
  return String(10 + (crypto.getRandomValues(new Uint32Array(1))[0]! % 90));
}

function numberMatchChoices(correct: string): string[] {
  const choices = new Set([correct]);
  while (choices.size < 3) choices.add(String(10 + (crypto.getRandomValues(new Uint32Array(1))[0]! % 90)));
  return [...choices].sort(() => (crypto.getRandomValues(new Uint8Array(1))[0]! & 1 ? 1 : -1));
}

type TenantRow = StartTenantRow;
type UserRow = StartUserRow;

/** What a start reads of D1: the tenant's relying party and policy, the user, their devices and credentials. */
interface StartRead {
  tenant: TenantRow | undefined;
  user: UserRow | undefined;
  devices: DeviceRow[];
  credentials: CredentialRow[];
  /** The operation a REGISTRATION's authorisedBy names. */
  prior: PriorOperationRow | undefined;
}

/** What the rules allow: the policy, the lifetime, and which credentials and devices may answer. */
interface Admitted {
  tenant: TenantRow;
  user: UserRow;
  policy: TenantPolicy;
  ttlSeconds: number;
  credentials: StoredCredential[];
  devices: Device[];
}

/*
 * The hot path, one D1 round trip. A start needs the tenant's relying party and policy before it can say what to
 * write (the lifetime, the limits), and the user's devices and credentials only for the Durable Object. So a start
 * whose tenant this isolate has seen before writes first, on the tenant configuration it remembers, in one batch
 * whose preconditions state everything the rules below check (the tenant configuration is still the remembered one,
 * the user and the named device, or some device, are active, the limits have room) and whose last statements read
 * the devices and credentials inside the same transaction. If any precondition fails the batch writes nothing and
 * the start takes the careful path: read, judge with the rules (the exact error), then write. The remembered
 * configuration is only a guess; the precondition is what makes it safe, so a policy change applies to the very next
 * start. A REGISTRATION (rare, and its SCA rule reads a prior operation) always takes the careful path.
 */
const rememberedTenants = new Map<string, TenantRow>();
const MAX_REMEMBERED_TENANTS = 1_000;

function rememberTenant(tenantId: string, tenant: TenantRow): void {
  if (rememberedTenants.size >= MAX_REMEMBERED_TENANTS && !rememberedTenants.has(tenantId)) rememberedTenants.clear();
  rememberedTenants.set(tenantId, tenant);
}

/** Starts an operation for a validated request; throws ApiError (nothing written) on every refusal. */
export async function startOperation(env: Bindings, auth: Starter, input: StartOperationInput, origin: RequestOrigin): Promise<StartedOperation> {
  if (!isId(input.userId, 'usr')) throw new ApiError('USER_NOT_FOUND', `No user ${input.userId}.`);
  if (input.type === 'REGISTRATION' && input.deviceId !== undefined) {
    throw new ApiError('VALIDATION_FAILED', 'A REGISTRATION creates a device; it names none.', { invalidParams: [{ name: 'deviceId', reason: 'not allowed for REGISTRATION' }] });
  }
  const remembered = input.type === 'REGISTRATION' ? undefined : rememberedTenants.get(auth.tenantId);
  if (remembered) {
    const started = await startInOneBatch(env, auth, input, origin, remembered);
    if (started) return started;
  }
  return startCarefully(env, auth, input, origin);
}

/** The hot path (see above): null when a precondition failed and nothing was written. */
async function startInOneBatch(env: Bindings, auth: Starter, input: StartOperationInput, origin: RequestOrigin, tenant: TenantRow): Promise<StartedOperation | null> {
  const { tenantId } = auth;
  const db = env.DB;
  const policy = policyOf(tenant);
  const ttl = resolveTtl(input.ttlSeconds, policy);
  if (!ttl.ok) return null; // the careful path words the refusal on the current policy
  const now = new Date();
  const scope = limitScopeOf(auth, input, now);
  // Refused before anything is written: an operation that could never sign its result is not started.
  await requireKeySet(env, 'SIGNING_KEYS', { generate: origin.localDevelopment });
  const draft = await draftOf(input, now, ttl.seconds);
  const reads = startUserReads(db, tenantId, input.userId);
  const statements = [
    ...startRulePreconditions(db, { tenantId, tenant, userId: input.userId, deviceId: input.deviceId }),
    ...startLimitGuardStatements(db, scope, policy),
    insertStatement(db, auth, input, draft),
    ...reads,
  ];
  const readsAt = statements.length - reads.length;
  let results: D1Result[];
  try {
    results = await commitWithAudit(db, tenantId, statements, [startedEntry(auth, input, draft.id)], draft.createdAt);
  } catch (error) {
    const failed = failedPrecondition(error);
    if (failed && START_PRECONDITIONS.has(failed)) {
      if (failed === 'tenantUnchanged') rememberedTenants.delete(tenantId);
      return null;
    }
    throw error;
  }
  const read: StartRead = { tenant, ...startUserReadFrom(results.slice(readsAt)), prior: undefined };
  // The preconditions held in this transaction, so the rules admit what they read; should they not, the row is an
  // orphan the maintenance job expires, and the caller gets the rule's error.
  return begin(env, auth, input, origin, draft, admit(input, read));
}

/** The careful path: read, judge with the rules, then write with preconditions that hold the limits under concurrency. */
async function startCarefully(env: Bindings, auth: Starter, input: StartOperationInput, origin: RequestOrigin): Promise<StartedOperation> {
  const { tenantId } = auth;
  const db = env.DB;
  const authorisedBy = input.type === 'REGISTRATION' ? input.authorisedBy : undefined;
  const now = new Date();
  const scope = limitScopeOf(auth, input, now);
  const [tenantRes, authRes, loadRes, ...userReads] = await db.batch([
    startTenantRead(db, tenantId),
    priorOperationRead(db, tenantId, authorisedBy),
    startLoadStatement(db, scope),
    ...startUserReads(db, tenantId, input.userId),
  ]);
  const read: StartRead = {
    tenant: tenantRes?.results[0] as TenantRow | undefined,
    ...startUserReadFrom(userReads),
    prior: authRes?.results[0] as PriorOperationRow | undefined,
  };
  if (read.tenant) rememberTenant(tenantId, read.tenant);
  const admitted = admit(input, read);
  // Push-bombing / MFA fatigue: a user (or device) is not flooded with prompts; refused before anything is written.
  const limits = checkStartLimits({ policy: admitted.policy, load: startLoadFrom(loadRes), namesDevice: scope.deviceId !== null, now });
  if (!limits.ok) throw limitError(limits);

  await requireKeySet(env, 'SIGNING_KEYS', { generate: origin.localDevelopment });
  const draft = await draftOf(input, now, admitted.ttlSeconds);
  await commitWithAudit(db, tenantId, [
    ...startLimitGuardStatements(db, scope, admitted.policy),
    insertStatement(db, auth, input, draft),
  ], [startedEntry(auth, input, draft.id)], draft.createdAt).catch(async (error: unknown) => {
    // A concurrent start took the last slot between our read and our commit: the guard rolled everything back.
    const rule = limitHitBy(error);
    if (!rule) throw error;
    const recheck = checkStartLimits({ policy: admitted.policy, load: await readStartLoad(db, scope), namesDevice: scope.deviceId !== null, now: new Date() });
    throw recheck.ok ? limitError({ code: rule === 'maxStartsPerUserPerMinute' ? 'RATE_LIMITED' : 'TOO_MANY_LIVE_OPERATIONS', rule, limit: admitted.policy[rule], retryAfterSeconds: 1, reason: 'A limit was reached by a concurrent start.' }) : limitError(recheck);
  });
  return begin(env, auth, input, origin, draft, admitted);
}

function policyOf(tenant: TenantRow): TenantPolicy {
  return { ...DEFAULT_POLICY, ...(JSON.parse(tenant.policy) as Partial<TenantPolicy>) };
}

function limitScopeOf(auth: Starter, input: StartOperationInput, now: Date): StartScope {
  return { tenantId: auth.tenantId, userId: input.userId, deviceId: input.type === 'REGISTRATION' ? null : input.deviceId ?? null, now };
}

/** The rules a start must pass, in the order their errors take precedence; throws the first that fails. */
function admit(input: StartOperationInput, read: StartRead): Admitted {
  const { tenant, user } = read;
  if (!tenant) throw new ApiError('UNAUTHENTICATED', 'The tenant no longer exists.');
  if (!user) throw new ApiError('USER_NOT_FOUND', `No user ${input.userId}.`);
  // A locked or deactivated user starts nothing.
  if (user.status !== 'ACTIVE') throw new ApiError('USER_NOT_ACTIVE', `The user is ${user.status}.`, { userStatus: user.status });
  const policy = policyOf(tenant);
  const ttl = resolveTtl(input.ttlSeconds, policy);
  if (!ttl.ok) throw new ApiError('VALIDATION_FAILED', ttl.reason, { invalidParams: [{ name: 'ttlSeconds', reason: ttl.reason }] });

  const devices = read.devices.map(toDevice);
  const active = devices.filter((d) => d.status === 'ACTIVE');
  const credentials = read.credentials.map(toStoredCredential);
  const admitted = (allowed: StoredCredential[], answering: Device[]): Admitted => ({ tenant, user, policy, ttlSeconds: ttl.seconds, credentials: allowed, devices: answering });

  if (input.type === 'REGISTRATION') {
    const prior = read.prior;
    if (input.authorisedBy !== undefined && !prior) throw new ApiError('SCA_REQUIRED', 'authorisedBy names no operation of this tenant.');
    // PSD2 RTS art. 24(2)(b): binding another device needs a fresh SCA of this user.
    const sca = checkNewDeviceSca({
      policy, hasActiveDevice: active.length > 0, userId: input.userId, now: Date.now(),
      authorisedBy: prior ? { type: prior.type as 'AUTHENTICATION', status: prior.status as 'COMPLETED', userId: prior.user_id, completedAt: prior.completed_at } : null,
    });
    if (!sca.ok) throw new ApiError('SCA_REQUIRED', sca.reason);
    return admitted(credentials, active); // excludeCredentials: every credential the user has
  }
  const usable = credentials.filter((cr) => active.some((d) => d.id === cr.deviceId));
  if (input.deviceId !== undefined) {
    const device = devices.find((d) => d.id === input.deviceId);
    if (!device) throw new ApiError('DEVICE_NOT_FOUND', `No device ${input.deviceId} for this user.`);
    if (device.status === 'LOCKED') throw new ApiError('DEVICE_LOCKED', 'The device is locked.', { lockReason: device.lockReason });
    if (device.status !== 'ACTIVE') throw new ApiError('DEVICE_NOT_ACTIVE', 'The device is deactivated.');
    return admitted(usable.filter((cr) => cr.deviceId === device.id), [device]);
  }
  if (active.length === 0) throw new ApiError('NO_ACTIVE_DEVICE', 'The user has no active device; register one first.');
  return admitted(usable, active);
}

/** What a start makes up before it writes: ids, lifetime, challenge, the device's token (the number to match comes with the push targets). */
interface Draft {
  id: string;
  createdAt: string;
  expiresAt: string;
  echo: Awaited<ReturnType<typeof echoOf>>;
  challenge: Uint8Array;
  sdkToken: string;
}

async function draftOf(input: StartOperationInput, now: Date, ttlSeconds: number): Promise<Draft> {
  const echo = await echoOf(input);
  return {
    id: newId('op'),
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
    echo,
    challenge: input.type === 'AUTHORISATION' || input.type === 'SIGNATURE' ? await linkedChallenge(boundOf(echo)) : plainChallenge(),
    sdkToken: newSecret('sdk'),
  };
}

/** The history row (what GET /v1/operations/{id} shows once the Durable Object has forgotten the operation). */
function insertStatement(db: D1Database, auth: Starter, input: StartOperationInput, draft: Draft): D1PreparedStatement {
  const { echo } = draft;
  const summary = {
    ...(input.context ? { context: input.context } : {}),
    ...(echo.transaction ? { transaction: echo.transaction } : {}),
    ...(echo.transactions ? { transactions: echo.transactions, total: echo.total } : {}),
    ...(echo.document ? { document: echo.document } : {}),
  };
  return insertOperationStatement(db, {
    id: draft.id, tenantId: auth.tenantId, userId: input.userId, deviceId: input.deviceId ?? null, type: input.type,
    createdAt: draft.createdAt, expiresAt: draft.expiresAt, summary,
  });
}

function startedEntry(auth: Starter, input: StartOperationInput, id: string): AuditEntry {
  return {
    actor: auth.actor ?? `client:${auth.clientId}`, action: 'operation.started', targetType: 'operation', targetId: id, userId: input.userId,
    data: { type: input.type, ...(input.deviceId ? { deviceId: input.deviceId } : {}) },
  };
}

/** Hands the operation to its Durable Object (which keeps everything the ceremony needs) and answers the start. */
async function begin(env: Bindings, auth: Starter, input: StartOperationInput, origin: RequestOrigin, draft: Draft, admitted: Admitted): Promise<StartedOperation> {
  const { id, echo, sdkToken } = draft;
  const { tenant, user } = admitted;
  const base = origin.origin;
  const targets = pushTargetsOf(input, admitted);
  // Anti push-fatigue: by default (policy PUSHED) a pushed AUTHENTICATION asks the user to match a number, unless the
  // relying party said no on the start.
  const numberMatch = wantsNumberMatching(input, admitted.policy, targets.length > 0) ? newMatchNumber() : undefined;
  const snapshot: OperationSnapshot = {
    id, tenantId: auth.tenantId, userId: input.userId, type: input.type, status: 'PENDING', createdAt: draft.createdAt, expiresAt: draft.expiresAt,
    ...(input.deviceId ? { deviceId: input.deviceId } : {}),
    ...(input.context ? { context: input.context } : {}),
    ...echo,
    ...(numberMatch ? { numberMatch, numberMatchChoices: numberMatchChoices(numberMatch) } : {}),
    ...(input.sameDevice ? { sameDevice: true as const } : {}),
    sdkTokenHash: await hashSecret(sdkToken),
    challenge: toB64url(draft.challenge),
    issuer: base,
    serviceRp: serviceRelyingParty(base),
    rp: { rpId: tenant.rp_id, rpName: tenant.rp_name, origins: JSON.parse(tenant.origins) as string[] },
    policy: admitted.policy,
    userName: user.external_ref ?? input.userId,
    ...(input.type === 'REGISTRATION' && input.deviceName ? { deviceName: input.deviceName } : {}),
    credentials: admitted.credentials,
    devices: admitted.devices.map((d) => ({ id: d.id, kind: d.kind, deviceKeyJwk: d.deviceKeyJwk })),
    ...(targets.length > 0 ? { notifications: queuedRecords(targets, draft.createdAt) } : {}),
  };
  // The push job is handed over beside the operation (in parallel): stored by its object before the start answers,
  // sent from that object's alarm, so no push service is ever on the relying party's path.
  const [view] = await Promise.all([
    operationStub(env, id).begin(snapshot) as Promise<OperationView>,
    targets.length > 0 ? handOverPushes(env, pushJobOf(input, auth, draft, admitted, base, targets)) : undefined,
  ]);
  const url = `${base}/app/#op=${id}&token=${encodeURIComponent(sdkToken)}&tenant=${auth.tenantId}`;
  return { view, sdk: { token: sdkToken, url } };
}

/**
 * The devices a start pushes to: those with a channel among the ones that may answer. Not for a REGISTRATION (the new
 * device is not bound yet), a sameDevice ceremony (the user is already on the device), nor when the relying party said
 * `push: false` (the user answers where they are: its page, a QR code).
 */
function pushTargetsOf(input: StartOperationInput, admitted: Admitted): PushTarget[] {
  if (input.type === 'REGISTRATION' || input.sameDevice || input.push === false || !admitted.policy.pushNotifications) return [];
  return admitted.devices.flatMap((d) => (d.pushSealed && d.pushChannel ? [{ deviceId: d.id, channel: d.pushChannel.type, sealed: d.pushSealed }] : []));
}

function pushJobOf(input: StartOperationInput, auth: Starter, draft: Draft, admitted: Admitted, base: string, targets: PushTarget[]): PushJob {
  const { title, body } = notificationText({ type: input.type, context: input.context, tenantName: admitted.tenant.rp_name });
  return {
    tenantId: auth.tenantId, operationId: draft.id, expiresAt: draft.expiresAt, targets,
    // No sdk token: the device opens the operation with its own device proof (docs/push.md).
    message: {
      v: 1, type: 'operation.pending', operationId: draft.id, tenantId: auth.tenantId, operationType: input.type, title, body,
      expiresAt: draft.expiresAt, url: `${base}/app/#op=${draft.id}&tenant=${auth.tenantId}`,
    },
  };
}

async function handOverPushes(env: Bindings, job: PushJob): Promise<void> {
  try {
    await pushStub(env, job.operationId).enqueue(job);
  } catch (error) {
    // The operation stands without its push: the device still finds it by polling.
    console.error(JSON.stringify({ level: 'error', message: 'push job not handed over', operationId: job.operationId, error: error instanceof Error ? error.message : String(error) }));
  }
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

