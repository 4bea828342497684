// One live operation's state machine (start, status, finish, reject, cancel, expiry and its final D1 batch); an OperationDO shard hosts many.
import type { Bindings } from '../env';
import { isFinal, transition } from '../domain/operation-state';
import type { OperationStatus } from '../domain/operation-state';
import { nextFailedAttempts, TOO_MANY_FAILED_ATTEMPTS } from '../domain/policy';
import { digestsEqual } from '../domain/secrets';
import { fromB64url } from '../domain/encoding';
import { authenticationOptions, registrationOptions } from '../domain/webauthn';
import { signResultToken } from '../domain/result-token';
import { requireKeySet } from '../services/keys';
import type { OperationView } from '../schemas/operations';
import type { AuditEntry } from '../storage/audit';
import { commitWithAudit } from '../storage/audit';
import { insertDeviceStatements } from '../storage/devices';
import { readOperationOutcome } from '../storage/operations';
import {
  completionGuardStatements, counterAdvancesGuardStatements, counterUnchangedGuardStatements, counterUpdateStatement, deviceUsedStatement,
  failedAttemptsGuardStatements, failedAttemptsUpdateStatement, finalisePreReadFrom, finalisePreReadStatements, operationHistoryStatement,
  registrationGuardStatements, stillLiveGuardStatements,
} from '../storage/finalise';
import { deliverRecorded, prepareEvent } from '../services/events';
import { failedPrecondition } from '../storage/precondition';
import type { EventType } from '../services/events';
import { verifyFinish } from '../domain/operation-verify';
import type { Caller, DoResult, FinalState, FinishInput, FinishView, OperationSnapshot, RpScope, SdkStartView, Success } from '../domain/operation';
import { fail, finalFromHistory, finishAnswer, finishDigestOf, rpFor, success0, transportRefusal } from '../domain/operation';

/** Final operations stay readable (with their result token) for a day, then the object forgets them. */
const RETAIN_FINAL_MS = 24 * 3600 * 1000;

/** What one operation needs from the Durable Object that hosts it: its stored state and its timer. */
export interface OperationHost {
  /** Whether this very object (this incarnation of the shard) already answered that finish request of that operation. */
  answeredHere(operationId: string, digest: string): boolean;
  markAnswered(operationId: string, digest: string): void;
  read(operationId: string): OperationSnapshot | null;
  /**
   * Saves the whole snapshot as the state machine sees it; the host stores the part fixed at begin once and then
   * rewrites only what changes (status, registrationRp, the final state), so a save costs the same whatever the
   * operation carries (credentials, devices, document).
   */
  write(operationId: string, op: OperationSnapshot): void;
  /** Stores only the intent beside the state (a few hundred bytes, not the whole snapshot again); write() clears it. */
  writeIntent(operationId: string, intent: FinalState): void;
  /** The operation's next alarm: its expiry, or when a final operation is forgotten. */
  schedule(operationId: string, at: number): Promise<void>;
  forget(operationId: string): void;
}

/** One operation's state machine; an OperationDO (a shard) hosts many, each with its own state and timer. */
export class Operation {
  private op: OperationSnapshot | null | undefined;
  private finishing = false;
  private waiters = new Set<() => void>();
  /** Calls running on this operation: while any is, the shard keeps this very object (its flags are the single-finish guard). */
  calls = 0;

  constructor(
    private readonly host: OperationHost,
    private readonly env: Bindings,
    readonly id: string,
  ) {}

  /** Nothing in flight: the shard may drop this copy from memory (the stored state stays). */
  get idle(): boolean {
    return this.calls === 0 && !this.finishing && this.waiters.size === 0;
  }

  private reconciling: Promise<OperationSnapshot> | null = null;

  private async load(): Promise<OperationSnapshot | null> {
    if (this.op === undefined) this.op = this.host.read(this.id);
    // An intent while no finalise runs here: a crash or a failed batch left the outcome unknown. Ask D1 first.
    if (this.op?.intent && !this.finishing) {
      this.reconciling ??= this.reconcile(this.op).finally(() => {
        this.reconciling = null;
      });
      this.op = await this.reconciling;
    }
    return this.op;
  }

  /**
   * The final batch of `op.intent` either committed or not; D1's history row tells which (the batch moves it out of
   * PENDING, and a precondition lets only one batch ever do so). Committed: the intent becomes the state (its events were
   * recorded by the same batch; the outbox sweeper delivers any that were not handed over). Not committed: the
   * operation is as it was, and the device may finish it again.
   */
  private async reconcile(op: OperationSnapshot): Promise<OperationSnapshot> {
    const { intent, ...before } = op;
    const row = await readOperationOutcome(this.env.DB, op.id);
    let next: OperationSnapshot;
    if (row && intent && row.status === intent.status && row.completedAt === intent.completedAt) {
      next = { ...before, ...intent };
    } else if (row && isFinal(row.status)) {
      next = finalFromHistory(before, row);
    } else {
      next = before;
    }
    console.warn(JSON.stringify({ level: 'warn', message: 'operation reconciled with D1', operationId: op.id, outcome: next.status, intent: intent?.status }));
    this.op = next;
    this.host.write(this.id, next);
    if (isFinal(next.status)) {
      await this.host.schedule(this.id, Date.parse(next.completedAt ?? next.expiresAt) + RETAIN_FINAL_MS);
      this.wakeWaiters();
    }
    return next;
  }

  private async save(op: OperationSnapshot): Promise<void> {
    this.op = op;
    this.host.write(this.id, op);
  }

  /** Called once by POST /v1/operations; a sameDevice operation is started for its sdk token in the same call. */
  async begin(snapshot: OperationSnapshot): Promise<OperationView> {
    const existing = await this.load();
    if (existing) throw new Error('operation already exists');
    await this.save(snapshot);
    // PSD2 RTS art. 4(3)(d): expiry happens at expiresAt even if nobody asks.
    await this.host.schedule(this.id, Date.parse(snapshot.expiresAt));
    if (!snapshot.sameDevice) return this.view(snapshot);
    const started = await this.sdkStart({ caller: { kind: 'sdk', tokenHash: snapshot.sdkTokenHash } });
    if (!started.ok) throw new Error(`sameDevice start refused: ${started.code}`);
    return { ...this.view((await this.load())!), device: started.value as unknown as NonNullable<OperationView['device']> };
  }

  private view(op: OperationSnapshot): OperationView {
    return {
      id: op.id,
      type: op.type,
      status: op.status,
      userId: op.userId,
      ...(op.result?.deviceId ? { deviceId: op.result.deviceId } : op.deviceId ? { deviceId: op.deviceId } : {}),
      createdAt: op.createdAt,
      expiresAt: op.expiresAt,
      ...(op.completedAt ? { completedAt: op.completedAt } : {}),
      ...(op.context ? { context: op.context } : {}),
      ...(op.transaction ? { transaction: op.transaction } : {}),
      ...(op.transactions ? { transactions: op.transactions } : {}),
      ...(op.total ? { total: op.total } : {}),
      ...(op.document ? { document: op.document } : {}),
      ...(op.numberMatch ? { numberMatch: op.numberMatch } : {}),
      ...(op.result ? { result: op.result } : {}),
      ...(op.failure ? { failure: op.failure } : {}),
      ...(op.notifications?.length ? { notifications: op.notifications } : {}),
    };
  }

  /** The operation's PushDeliveryDO reports what became of each device's notification. */
  async notified(input: { notifications: NonNullable<OperationSnapshot['notifications']> }): Promise<void> {
    const op = await this.load();
    // While a finish is in flight its intent must not be cleared by this save: the withdraw after it reports again.
    if (!op || this.finishing || op.intent) return;
    await this.save({ ...op, notifications: input.notifications });
  }

  /** Status for the relying party; with waitSeconds, held until the operation is final or the time passes. */
  async status(input: { tenantId: string; waitSeconds?: number }): Promise<OperationView | null> {
    let op = await this.load();
    if (!op || op.tenantId !== input.tenantId) return null;
    if (!isFinal(op.status) && Date.now() >= Date.parse(op.expiresAt)) op = await this.expire();
    const wait = Math.min(Math.max(input.waitSeconds ?? 0, 0), 30);
    if (wait > 0 && !isFinal(op.status)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, wait * 1000);
        this.waiters.add(done);
      });
      op = (await this.load())!;
    }
    return this.view(op);
  }

  private wakeWaiters(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private authorised(op: OperationSnapshot, caller: Caller): boolean {
    if (caller.kind === 'sdk') return digestsEqual(caller.tokenHash, op.sdkTokenHash);
    // A device proof: the named device, or (broadcast) any active device of the user.
    if (op.type === 'REGISTRATION') return false;
    return op.deviceId ? op.deviceId === caller.deviceId : op.devices.some((d) => d.id === caller.deviceId);
  }

  /** Loads the operation for an SDK call, refusing unknown, foreign and final ones in a fixed order. */
  private async forCaller(caller: Caller): Promise<DoResult<OperationSnapshot>> {
    let op = await this.load();
    if (!op || !this.authorised(op, caller)) {
      // A token that does not open this operation is a failed authentication: the same answer whether the id exists.
      if (caller.kind === 'sdk') return fail('UNAUTHENTICATED', 'The sdk token is not valid for this operation.');
      return fail('OPERATION_NOT_FOUND', 'No such operation for these credentials.');
    }
    if (!isFinal(op.status) && Date.now() >= Date.parse(op.expiresAt)) op = await this.expire();
    if (isFinal(op.status)) return fail('OPERATION_FINAL', `The operation is ${op.status}.`, { operationStatus: op.status });
    return { ok: true, value: op };
  }

  /** Public operation summary for device listings (pending operations of a device). */
  async summary(input: { deviceId: string }): Promise<OperationView | null> {
    const op = await this.load();
    if (!op || isFinal(op.status) || !this.authorised(op, { kind: 'device', deviceId: input.deviceId })) return null;
    if (Date.now() >= Date.parse(op.expiresAt)) return null;
    // Number matching: the device must learn the number from the relying party's screen, never from us.
    const { numberMatch: _shownByRelyingPartyOnly, notifications: _forTheRelyingParty, ...view } = this.view(op);
    return view;
  }

  async sdkStart(input: { caller: Caller; rpScope?: RpScope; native?: boolean }): Promise<DoResult<SdkStartView>> {
    const found = await this.forCaller(input.caller);
    if (!found.ok) return found;
    let op = found.value;
    const refused = transportRefusal(op, { caller: input.caller, native: input.native === true, action: 'start' });
    if (refused) return refused;
    if (this.finishing) return fail('OPERATION_CONFLICT', 'The operation is being completed.');
    const registrationRp = op.type === 'REGISTRATION' ? rpFor(op, input.rpScope === 'service' ? op.serviceRp.rpId : op.rp.rpId) : undefined;
    if (op.status === 'PENDING' || (registrationRp && op.registrationRp?.rpId !== registrationRp.rpId)) {
      op = { ...op, status: op.status === 'PENDING' ? transition(op.status, 'IN_PROGRESS') : op.status, ...(registrationRp ? { registrationRp } : {}) };
      await this.save(op);
    }
    const timeoutMs = Math.max(Date.parse(op.expiresAt) - Date.now(), 1000);
    const challenge = fromB64url(op.challenge);
    const caller = input.caller;
    // An RP's own app (sdk token) answers with passkeys of the tenant's rpId; a device with its own credentials.
    const allowed = op.credentials.filter((c) => (caller.kind === 'sdk' ? c.rpId === null || c.rpId === op.rp.rpId : c.deviceId === caller.deviceId));
    const publicKey =
      op.type === 'REGISTRATION'
        ? await registrationOptions({
            rp: registrationRp!, userId: op.userId, userName: op.userName, challenge, timeoutMs,
            exclude: op.credentials.filter((c) => (c.rpId ?? op.rp.rpId) === registrationRp!.rpId).map((c) => ({ credentialId: c.credentialId, transports: c.transports })),
          })
        : await authenticationOptions({
            rpId: rpFor(op, allowed[0]?.rpId ?? null).rpId, challenge, timeoutMs,
            allow: allowed.map((c) => ({ credentialId: c.credentialId, transports: c.transports })),
          });
    return {
      ok: true,
      value: {
        operation: {
          id: op.id, type: op.type, expiresAt: op.expiresAt,
          ...(op.context ? { context: op.context } : {}),
          ...(op.transaction ? { transaction: op.transaction } : {}),
          ...(op.transactions ? { transactions: op.transactions, total: op.total } : {}),
          ...(op.document ? { document: { ...op.document, content: op.documentContent ?? '' } } : {}),
          ...(op.numberMatchChoices ? { numberMatchChoices: op.numberMatchChoices } : {}),
        },
        publicKey,
      },
    };
  }

  async sdkReject(input: { caller: Caller; native?: boolean }): Promise<DoResult<{ status: OperationStatus }>> {
    const found = await this.forCaller(input.caller);
    if (!found.ok) return found;
    const refused = transportRefusal(found.value, { caller: input.caller, native: input.native === true, action: 'reject' });
    if (refused) return refused;
    if (this.finishing) return fail('OPERATION_CONFLICT', 'The operation is being completed.');
    this.finishing = true;
    try {
      const actor = input.caller.kind === 'device' ? `device:${input.caller.deviceId}` : 'sdk';
      const op = await this.finalise(found.value, { status: 'REJECTED', actor, deviceId: input.caller.kind === 'device' ? input.caller.deviceId : undefined });
      return { ok: true, value: { status: op.status } };
    } finally {
      this.finishing = false;
    }
  }

  async cancel(input: { tenantId: string; reason: string; actor?: string }): Promise<DoResult<OperationView>> {
    let op = await this.load();
    if (!op || op.tenantId !== input.tenantId) return fail('OPERATION_NOT_FOUND', 'No such operation.');
    if (!isFinal(op.status) && Date.now() >= Date.parse(op.expiresAt)) op = await this.expire();
    if (isFinal(op.status)) return fail('OPERATION_FINAL', `The operation is already ${op.status}.`, { operationStatus: op.status });
    if (this.finishing) return fail('OPERATION_CONFLICT', 'A device is completing the operation right now.');
    this.finishing = true;
    try {
      op = await this.finalise(op, { status: 'CANCELLED', actor: input.actor ?? 'system', reason: input.reason });
      return { ok: true, value: this.view(op) };
    } finally {
      this.finishing = false;
    }
  }

  /** The operation's timer fired: expire it, or forget it once it has been final for RETAIN_FINAL_MS. */
  async alarm(): Promise<void> {
    const op = await this.load();
    if (!op) return;
    if (isFinal(op.status)) {
      const forgetAt = Date.parse(op.completedAt ?? op.expiresAt) + RETAIN_FINAL_MS;
      if (Date.now() >= forgetAt) {
        this.host.forget(this.id);
        this.op = null;
      } else {
        await this.host.schedule(this.id, forgetAt);
      }
      return;
    }
    await this.expire();
  }

  private async expire(): Promise<OperationSnapshot> {
    const op = (await this.load())!;
    if (isFinal(op.status) || this.finishing) return op;
    this.finishing = true;
    try {
      return await this.finalise(op, { status: 'EXPIRED', actor: 'system' });
    } finally {
      this.finishing = false;
    }
  }

  /**
   * The device's answer. Exactly one finish can run: the flag is set before the first await, so a
   * racing second call (or a replay of the same assertion) is refused and the challenge is used once.
   */
  async sdkFinish(input: { caller: Caller; body: FinishInput }): Promise<DoResult<FinishView>> {
    const digest = await finishDigestOf(input);
    const current = await this.load();
    // Idempotent finish: the very request that ended the operation, sent again (its answer may have died with the
    // process), gets the same answer; any other finish of a final operation is refused below (single use).
    // Only a shard that did not answer it itself replays it: within one incarnation the answer left, so a second
    // identical finish is a double submit and gets 409 like any other (single use). After a restart nobody can
    // tell whether the answer reached the device, so the honest retry gets it again.
    if (
      current && isFinal(current.status) && current.finishDigest && this.authorised(current, input.caller) &&
      digestsEqual(current.finishDigest, digest) && !this.host.answeredHere(this.id, digest)
    ) {
      this.host.markAnswered(this.id, digest);
      return finishAnswer(current);
    }
    const found = await this.forCaller(input.caller);
    if (!found.ok) return found;
    // Refused before it could count as an attempt.
    const refused = transportRefusal(found.value, { caller: input.caller, native: input.body.native !== undefined, action: 'finish' });
    if (refused) return refused;
    // PSD2 RTS art. 4(3)(c): single use — one finish at a time, and a final state never changes.
    if (this.finishing) return fail('OPERATION_CONFLICT', 'The operation is being completed by another request.');
    this.finishing = true;
    try {
      const answer = await this.complete(found.value, { ...input, digest });
      this.host.markAnswered(this.id, digest);
      return answer;
    } finally {
      this.finishing = false;
    }
  }

  private async complete(op: OperationSnapshot, input: { caller: Caller; body: FinishInput; digest: string }): Promise<DoResult<FinishView>> {
    const outcome = await verifyFinish(op, input);
    if (!outcome.ok) {
      const failed = await this.finalise(op, {
        status: 'FAILED', actor: outcome.deviceId ? `device:${outcome.deviceId}` : 'sdk', deviceId: outcome.deviceId, reason: outcome.reason, finishDigest: input.digest,
      });
      return finishAnswer(failed);
    }
    return finishAnswer(await this.finalise(op, { status: 'COMPLETED', actor: `device:${outcome.deviceId}`, deviceId: outcome.deviceId, success: outcome, finishDigest: input.digest }));
  }

  /**
   * Moves the operation to a final state and records it in D1 (history, device, credential, audit)
   * in one batch. A completion whose user or device stopped being ACTIVE meanwhile is refused by
   * the batch's precondition and becomes CANCELLED instead.
   */
  private async finalise(
    op: OperationSnapshot,
    change: { status: 'COMPLETED' | 'FAILED' | 'REJECTED' | 'CANCELLED' | 'EXPIRED'; actor: string; deviceId?: string; reason?: string; success?: Success; attempt?: number; finishDigest?: string },
  ): Promise<OperationSnapshot> {
    const db = this.env.DB;
    const now = new Date();
    const at = now.toISOString();
    // Fast path (a verified assertion or native approval, first try): no read before the batch. Its
    // preconditions check that user and device are ACTIVE and that the counter moves forward; if one fires,
    // the retry below reads the current values and decides on them (CANCELLED, FAILED, or a retry).
    const fast = change.status === 'COMPLETED' && change.success !== undefined && change.success.kind !== 'registration' && change.attempt === undefined;
    const pre = fast
      ? null
      : finalisePreReadFrom(
          await db.batch(
            finalisePreReadStatements(db, {
              tenantId: op.tenantId, userId: op.userId, deviceId: change.deviceId ?? '', operationId: op.id,
              credentialId: change.success?.kind === 'assertion' ? change.success.credentialId : '',
            }),
          ),
        );
    // D1 already holds a final state (an earlier batch committed and this copy did not learn it): that state stands.
    const recorded = fast ? null : pre!.recorded;
    if (recorded && isFinal(recorded.status)) {
      const adopted = finalFromHistory(op, recorded);
      await this.save(adopted);
      await this.host.schedule(this.id, Date.parse(adopted.completedAt ?? adopted.expiresAt) + RETAIN_FINAL_MS);
      this.wakeWaiters();
      return adopted;
    }
    const head = fast ? undefined : pre!.head;
    const userStatus = fast ? 'ACTIVE' : pre!.userStatus;
    const device = fast ? undefined : pre!.device;
    const storedCounter = fast ? undefined : pre!.storedCounter;
    let reason = change.reason;

    let status: OperationStatus = transition(op.status, change.status);
    let failureCode: string | undefined =
      change.status === 'FAILED' ? 'VERIFICATION_FAILED' : change.status === 'CANCELLED' || change.status === 'EXPIRED' ? change.status : undefined;
    if (status === 'COMPLETED') {
      // PSD2: a locked or deactivated user or device completes nothing, even mid-flight.
      if (userStatus !== 'ACTIVE') [status, failureCode] = ['CANCELLED', 'USER_NOT_ACTIVE'];
      else if (!fast && change.success && change.success.kind !== 'registration' && device?.status !== 'ACTIVE') [status, failureCode] = ['CANCELLED', 'DEVICE_NOT_ACTIVE'];
      // WebAuthn §7.2 step 21: the counter must pass the one stored now, not only the one snapshotted at start (overlapping operations, a clone).
      else if (change.success?.kind === 'assertion' && storedCounter !== undefined && (storedCounter > 0 || change.success.newCounter > 0) && change.success.newCounter <= storedCounter) {
        [status, failureCode, reason] = ['FAILED', 'VERIFICATION_FAILED', 'COUNTER_REGRESSION'];
      }
    }
    if (change.status === 'CANCELLED' && change.reason) failureCode = change.reason;

    const statements: D1PreparedStatement[] = [];
    const audit: AuditEntry[] = [];
    const events: { type: EventType; data: Record<string, unknown> }[] = [];
    let result: OperationSnapshot['result'];
    const completedDevice = status === 'COMPLETED' ? change.success!.deviceId : undefined;

    if (status === 'COMPLETED' && change.success) {
      const success = change.success;
      // RFC 8176: a native device reports how it verified the user (face, fpt, pin); a passkey's UV flag says only "user".
      const uv = success.kind === 'assertion' ? undefined : success.userVerification;
      const amr = uv ? ['hwk', uv] : ['hwk', 'user'];
      // Start refused already when no key exists; generated keys are only read here, never made (no request to vouch for it).
      const token = await signResultToken(await requireKeySet(this.env, 'SIGNING_KEYS', { generate: false }), {
        issuer: op.issuer, tenantId: op.tenantId, userId: op.userId, operationId: op.id, operationType: op.type, deviceId: success.deviceId,
        amr, txn: op.transaction ?? (op.transactions ? { transactions: op.transactions } : undefined), doc: op.document, ctx: op.context,
        evidence: success.evidence, issuedAt: Math.floor(now.getTime() / 1000),
      });
      result = { deviceId: success.deviceId, userVerified: true, authMethod: uv ? 'native' : 'passkey', token };
      if (success.kind === 'registration') {
        const kind = success.credential ? 'PASSKEY' : 'NATIVE';
        statements.push(
          ...registrationGuardStatements(db, { userId: op.userId, operationId: op.id }),
          ...insertDeviceStatements(
            db,
            {
              id: success.deviceId, tenantId: op.tenantId, userId: op.userId, kind, status: 'ACTIVE', lockReason: null,
              name: op.deviceName ?? (kind === 'PASSKEY' ? 'Passkey' : 'Mobile app'), rpId: (op.registrationRp ?? op.rp).rpId,
              aaguid: success.credential?.aaguid ?? null, backupEligible: success.credential?.backupEligible ?? false,
              backedUp: success.credential?.backedUp ?? false, transports: success.credential?.transports ?? [],
              deviceKeyJwk: success.deviceKeyJwk, failedAttempts: 0, createdAt: at, updatedAt: at, lastUsedAt: at,
            },
            success.credential,
          ),
        );
        audit.push({ actor: change.actor, action: 'device.registered', targetType: 'device', targetId: success.deviceId, userId: op.userId, data: { kind, operationId: op.id } });
        events.push({ type: 'device.registered', data: { deviceId: success.deviceId, userId: op.userId, kind, operationId: op.id } });
      } else {
        statements.push(
          ...completionGuardStatements(db, { deviceId: success.deviceId, userId: op.userId, operationId: op.id }),
          deviceUsedStatement(db, { deviceId: success.deviceId, at, backedUp: success.kind === 'assertion' && success.backedUp }),
        );
        if (success.kind === 'assertion') {
          const credential = { tenantId: op.tenantId, credentialId: success.credentialId };
          statements.push(
            // First try: the counter moves forward; a retry: the counter read above still stands (retried below if not).
            ...(fast
              ? counterAdvancesGuardStatements(db, { ...credential, newCounter: success.newCounter })
              : counterUnchangedGuardStatements(db, { ...credential, counter: storedCounter ?? 0 })),
            counterUpdateStatement(db, { ...credential, newCounter: success.newCounter }),
          );
        }
      }
    }

    if (status === 'FAILED' && device && device.status === 'ACTIVE') {
      // PSD2 RTS art. 4(3)(b): count consecutive failures and lock at the tenant's maximum.
      const next = nextFailedAttempts({ failedAttempts: device.failed_attempts, maxFailedAttempts: op.policy.maxFailedAttempts });
      statements.push(
        // The count read above must still be current (retried below if not).
        ...failedAttemptsGuardStatements(db, { deviceId: device.id, failedAttempts: device.failed_attempts }),
        failedAttemptsUpdateStatement(db, { deviceId: device.id, failedAttempts: next.failedAttempts, lock: next.lock, lockReason: TOO_MANY_FAILED_ATTEMPTS, at }),
      );
      if (next.lock) {
        audit.push({ actor: 'system', action: 'device.locked', targetType: 'device', targetId: device.id, userId: op.userId, data: { reason: TOO_MANY_FAILED_ATTEMPTS, failedAttempts: next.failedAttempts } });
        events.push({ type: 'device.locked', data: { deviceId: device.id, userId: op.userId, status: 'LOCKED', lockReason: TOO_MANY_FAILED_ATTEMPTS } });
      }
    }

    const historyDevice = completedDevice ?? change.deviceId ?? op.deviceId ?? null;
    // Guard: a final state never changes; only one batch ever moves the history row out of PENDING. A completion
    // folds this check into its own precondition above (two statements fewer on the hot path).
    if (status !== 'COMPLETED') statements.push(...stillLiveGuardStatements(db, op.id));
    statements.push(operationHistoryStatement(db, { operationId: op.id, status, at, failureCode: failureCode ?? null, deviceId: historyDevice }));
    audit.push({
      actor: change.actor, action: `operation.${status.toLowerCase()}`, targetType: 'operation', targetId: op.id, userId: op.userId,
      data: { type: op.type, ...(historyDevice ? { deviceId: historyDevice } : {}), ...(reason ? { reason } : {}) },
    });

    // The events go into the same batch: recorded with the change they report, or not at all.
    const failure = failureCode && status !== 'COMPLETED' ? { code: failureCode } : undefined;
    events.push({
      type: `operation.${status.toLowerCase()}` as EventType,
      data: {
        operationId: op.id, type: op.type, status, userId: op.userId, ...(historyDevice ? { deviceId: historyDevice } : {}),
        ...(failure ? { failure } : {}),
      },
    });
    const prepared = events.map((event) => prepareEvent(db, op.tenantId, event.type, event.data, now));
    const finalState: FinalState = {
      status, completedAt: at, ...(result ? { result } : {}), ...(failure ? { failure } : {}), ...(change.finishDigest ? { finishDigest: change.finishDigest } : {}),
    };
    // Crash safety: the intent is stored before the batch leaves (a Durable Object's output gate holds the D1 call
    // until this write is durable), so a restart after the commit finds it and reconciles instead of redoing the work.
    this.op = { ...op, intent: finalState };
    this.host.writeIntent(this.id, finalState);
    let results: D1Result[];
    try {
      results = await commitWithAudit(db, op.tenantId, [...statements, ...prepared.map((p) => p.statement)], audit, at, { head });
    } catch (error) {
      // A precondition failed: a concurrent operation moved the failure count, a status or the counter since the read above
      // (or, on the fast path, one of them was not as assumed). Decide again on fresh values.
      const stoppedAt = failedPrecondition(error);
      if (stoppedAt !== null && (change.attempt ?? 0) < 8) {
        return this.finalise(op, { ...change, attempt: (change.attempt ?? 0) + 1 });
      }
      const registeredTwice = error instanceof Error && /UNIQUE constraint failed: credentials/.test(error.message);
      if (status !== 'COMPLETED' || (stoppedAt === null && !registeredTwice)) throw error;
      // A precondition still failed (user or device blocked meanwhile) or the credential was registered by a racing operation.
      return this.finalise(op, registeredTwice
        ? { status: 'FAILED', actor: change.actor, reason: 'CREDENTIAL_ALREADY_REGISTERED' }
        : { status: 'CANCELLED', actor: 'system', reason: success0(change)?.kind === 'registration' ? 'USER_NOT_ACTIVE' : 'DEVICE_NOT_ACTIVE' });
    }

    // The digest stays with the final state. Whether this request's answer reaches the device is not known here: the
    // process can die after this save and before the answer leaves (the crash suite hits that window), and the device
    // then sends the identical request again. That one gets the same answer and changes nothing; any other finish is
    // refused (single use).
    const final: OperationSnapshot = { ...op, ...finalState };
    await this.save(final);
    await this.host.schedule(this.id, now.getTime() + RETAIN_FINAL_MS);
    this.wakeWaiters();
    await deliverRecorded(this.env, prepared.map((p, i) => ({ prepared: p, result: results[statements.length + i] })));
    if (final.notifications?.length) await this.withdrawPushes(final);
    return final;
  }

  /** A pushed operation ended: its notifications are withdrawn (best effort; a device also ignores a closed operation). */
  private async withdrawPushes(op: OperationSnapshot): Promise<void> {
    try {
      // The binding directly, not pushStub(): push-delivery.ts imports the operation's stub, and the house bans run-time import cycles.
      await this.env.PUSHES.get(this.env.PUSHES.idFromName(op.id)).withdraw(op.status);
    } catch (error) {
      console.warn(JSON.stringify({ level: 'warn', message: 'push withdrawal not handed over', operationId: op.id, error: error instanceof Error ? error.message : String(error) }));
    }
  }
}
