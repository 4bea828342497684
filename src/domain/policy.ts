// Tenant policy: its bounds and defaults, and the PSD2 decisions that depend on it.
import type { OperationStatus, OperationType } from './operation-state';

export interface TenantPolicy {
  /** Consecutive failed verifications before a device is locked (1–5). */
  maxFailedAttempts: number;
  /** Longest life of an operation, and the default one (1–300 s). */
  operationTtlSeconds: number;
  /** Refuse passkeys whose backup-eligible flag is set (synced passkeys). */
  deviceBoundOnly: boolean;
  /** A user with an active device must pass SCA before binding another one. */
  requireScaForNewDevice: boolean;
  /** Live (non-final, unexpired) operations one user may have at once: push-bombing / MFA-fatigue cap. */
  maxLiveOperationsPerUser: number;
  /** Live operations that may name one device at once. */
  maxLiveOperationsPerDevice: number;
  /** Operations one user may be sent per sliding 60 s, whatever became of them. */
  maxStartsPerUserPerMinute: number;
  /** Starts notify the target devices that have a push channel (a start's `push: false` still opts out). */
  pushNotifications: boolean;
  /** Which AUTHENTICATIONs get number matching when the start does not say (`numberMatching` on a start always wins). */
  numberMatching: NumberMatchingPolicy;
}

/**
 * PUSHED: an AUTHENTICATION that is pushed to a device (anti push-fatigue, the default). DECOUPLED: every AUTHENTICATION
 * answered on another device (pushed, QR code, link or the app's list), i.e. all but `sameDevice`. REQUESTED: only
 * when a start asks for it.
 */
export const NUMBER_MATCHING_POLICIES = ['PUSHED', 'DECOUPLED', 'REQUESTED'] as const;
export type NumberMatchingPolicy = (typeof NUMBER_MATCHING_POLICIES)[number];

export const POLICY_LIMITS = Object.freeze({
  // PSD2 RTS art. 4(3)(b): no more than five consecutive failed authentication attempts.
  maxFailedAttempts: Object.freeze({ min: 1, max: 5 }),
  // PSD2 RTS art. 4(3)(d): nothing stays open past five minutes.
  operationTtlSeconds: Object.freeze({ min: 1, max: 300 }),
  // Abuse limits: a tenant may tighten or loosen them, never switch them off.
  maxLiveOperationsPerUser: Object.freeze({ min: 1, max: 50 }),
  maxLiveOperationsPerDevice: Object.freeze({ min: 1, max: 50 }),
  maxStartsPerUserPerMinute: Object.freeze({ min: 1, max: 600 }),
});

export const DEFAULT_POLICY: Readonly<TenantPolicy> = Object.freeze({
  maxFailedAttempts: 5,
  operationTtlSeconds: 300,
  deviceBoundOnly: false,
  requireScaForNewDevice: true,
  maxLiveOperationsPerUser: 5,
  maxLiveOperationsPerDevice: 3,
  maxStartsPerUserPerMinute: 10,
  pushNotifications: true,
  numberMatching: 'PUSHED',
});

/** The sliding window of maxStartsPerUserPerMinute. */
export const START_RATE_WINDOW_MS = 60 * 1000;

/** How old the AUTHENTICATION that authorises a new device may be. */
export const NEW_DEVICE_SCA_WINDOW_MS = 5 * 60 * 1000;
/** Tolerated clock difference between the isolate that completed it and the one checking it. */
export const CLOCK_SKEW_MS = 5 * 1000;

/** The lock reason API.md reserves for automatic locks. */
export const TOO_MANY_FAILED_ATTEMPTS = 'TOO_MANY_FAILED_ATTEMPTS';

/** A point in time as storage or the clock hands it over: Date, ISO-8601 string or epoch ms. */
export type Instant = Date | string | number;

export type Refusal = { ok: false; reason: string };

function inRange(value: number, limits: { min: number; max: number }): boolean {
  return Number.isInteger(value) && value >= limits.min && value <= limits.max;
}

function toEpochMs(instant: Instant): number {
  return instant instanceof Date ? instant.getTime() : typeof instant === 'number' ? instant : Date.parse(instant);
}

/**
 * A complete policy from a stored or patched partial one: missing fields take the defaults, a
 * field out of bounds throws RangeError (schemas refuse those before they are stored).
 */
export function resolvePolicy(partial: Partial<TenantPolicy> = {}): TenantPolicy {
  const policy: TenantPolicy = {
    maxFailedAttempts: partial.maxFailedAttempts ?? DEFAULT_POLICY.maxFailedAttempts,
    operationTtlSeconds: partial.operationTtlSeconds ?? DEFAULT_POLICY.operationTtlSeconds,
    deviceBoundOnly: partial.deviceBoundOnly ?? DEFAULT_POLICY.deviceBoundOnly,
    requireScaForNewDevice: partial.requireScaForNewDevice ?? DEFAULT_POLICY.requireScaForNewDevice,
    maxLiveOperationsPerUser: partial.maxLiveOperationsPerUser ?? DEFAULT_POLICY.maxLiveOperationsPerUser,
    maxLiveOperationsPerDevice: partial.maxLiveOperationsPerDevice ?? DEFAULT_POLICY.maxLiveOperationsPerDevice,
    maxStartsPerUserPerMinute: partial.maxStartsPerUserPerMinute ?? DEFAULT_POLICY.maxStartsPerUserPerMinute,
    pushNotifications: partial.pushNotifications ?? DEFAULT_POLICY.pushNotifications,
    numberMatching: partial.numberMatching ?? DEFAULT_POLICY.numberMatching,
  };
  if (!NUMBER_MATCHING_POLICIES.includes(policy.numberMatching)) throw new RangeError(`numberMatching must be one of ${NUMBER_MATCHING_POLICIES.join(', ')}`);
  if (!inRange(policy.maxFailedAttempts, POLICY_LIMITS.maxFailedAttempts)) {
    throw new RangeError('maxFailedAttempts must be an integer from 1 to 5');
  }
  if (!inRange(policy.operationTtlSeconds, POLICY_LIMITS.operationTtlSeconds)) {
    throw new RangeError('operationTtlSeconds must be an integer from 1 to 300');
  }
  for (const field of ['maxLiveOperationsPerUser', 'maxLiveOperationsPerDevice', 'maxStartsPerUserPerMinute'] as const) {
    const limits = POLICY_LIMITS[field];
    if (!inRange(policy[field], limits)) throw new RangeError(`${field} must be an integer from ${limits.min} to ${limits.max}`);
  }
  return policy;
}

/**
 * Whether a start gets number matching: what the start says, else the tenant's `numberMatching` policy, which only
 * ever applies to AUTHENTICATION.
 */
export function wantsNumberMatching(
  start: { type: OperationType; numberMatching?: boolean; sameDevice?: boolean },
  policy: Pick<TenantPolicy, 'numberMatching'>,
  pushed: boolean,
): boolean {
  if (start.numberMatching !== undefined) return start.numberMatching;
  if (start.type !== 'AUTHENTICATION') return false;
  switch (policy.numberMatching) {
    case 'PUSHED':
      return pushed;
    case 'DECOUPLED':
      return !start.sameDevice;
    case 'REQUESTED':
      return false;
  }
}

/**
 * The lifetime of a new operation: the requested one when it lies in 1 … the tenant's maximum,
 * the tenant's maximum when none is requested, a refusal otherwise (the route answers 400).
 */
export function resolveTtl(
  requested: number | undefined,
  policy: Pick<TenantPolicy, 'operationTtlSeconds'>,
): { ok: true; seconds: number } | Refusal {
  // PSD2 RTS art. 4(3)(d): the tenant cannot stretch an operation past 300 s either.
  const max = Math.min(policy.operationTtlSeconds, POLICY_LIMITS.operationTtlSeconds.max);
  if (requested === undefined) return { ok: true, seconds: max };
  if (!Number.isInteger(requested) || requested < 1 || requested > max) {
    return { ok: false, reason: `ttlSeconds must be an integer from 1 to ${max}` };
  }
  return { ok: true, seconds: requested };
}

export interface AuthorisingOperation {
  type: OperationType;
  status: OperationStatus;
  userId: string;
  completedAt?: Instant | null;
}

/**
 * Whether a REGISTRATION may bind a new device. A user's first device needs no prior SCA (there
 * is nothing to authenticate with); every further one needs a COMPLETED AUTHENTICATION of the
 * same user from the last five minutes when the tenant asks for it.
 */
// PSD2 RTS art. 24(2)(b): binding a new device happens under strong customer authentication.
export function checkNewDeviceSca(input: {
  policy: Pick<TenantPolicy, 'requireScaForNewDevice'>;
  hasActiveDevice: boolean;
  authorisedBy?: AuthorisingOperation | null;
  userId: string;
  now: Instant;
}): { ok: true } | { ok: false; code: 'SCA_REQUIRED'; reason: string } {
  const { policy, hasActiveDevice, authorisedBy, userId, now } = input;
  if (!policy.requireScaForNewDevice || !hasActiveDevice) return { ok: true };
  const refuse = (reason: string): { ok: false; code: 'SCA_REQUIRED'; reason: string } => ({
    ok: false,
    code: 'SCA_REQUIRED',
    reason,
  });
  if (!authorisedBy) return refuse('a new device needs authorisedBy: a completed AUTHENTICATION of this user');
  if (authorisedBy.type !== 'AUTHENTICATION') return refuse('authorisedBy must be an AUTHENTICATION');
  if (authorisedBy.status !== 'COMPLETED') return refuse('authorisedBy must be COMPLETED');
  if (authorisedBy.userId !== userId) return refuse('authorisedBy must belong to the same user');
  if (authorisedBy.completedAt === undefined || authorisedBy.completedAt === null) {
    return refuse('authorisedBy has no completion time');
  }
  const age = toEpochMs(now) - toEpochMs(authorisedBy.completedAt);
  // NaN (an unreadable time) fails both comparisons and is refused.
  if (!(age >= -CLOCK_SKEW_MS && age <= NEW_DEVICE_SCA_WINDOW_MS)) {
    return refuse('authorisedBy must have completed within the last 5 minutes');
  }
  return { ok: true };
}

/** Whether a passkey's backup-eligible flag is acceptable under the tenant's policy. */
export function checkBackupEligibility(input: {
  policy: Pick<TenantPolicy, 'deviceBoundOnly'>;
  backupEligible: boolean;
}): { ok: true } | Refusal {
  // WebAuthn §6.1 flag BE: a backup-eligible credential can leave the device, so it is not device-bound.
  if (input.policy.deviceBoundOnly && input.backupEligible) {
    return { ok: false, reason: 'tenant policy deviceBoundOnly refuses backup-eligible passkeys' };
  }
  return { ok: true };
}

/**
 * The device's counter after one more failed verification, and whether it must now be locked
 * (with lockReason TOO_MANY_FAILED_ATTEMPTS). A successful verification resets the counter to 0,
 * which is what makes the failures "consecutive".
 */
// PSD2 RTS art. 4(3)(b): block after at most five consecutive failed attempts.
export function nextFailedAttempts(input: {
  failedAttempts: number;
  maxFailedAttempts: number;
}): { failedAttempts: number; lock: boolean } {
  const { min, max } = POLICY_LIMITS.maxFailedAttempts;
  // A corrupt stored limit falls back to the legal maximum rather than to "never lock".
  const requested = Number.isFinite(input.maxFailedAttempts) ? Math.trunc(input.maxFailedAttempts) : max;
  const limit = Math.min(Math.max(requested, min), max);
  const previous = Number.isInteger(input.failedAttempts) && input.failedAttempts > 0 ? input.failedAttempts : 0;
  const failedAttempts = previous + 1;
  return { failedAttempts, lock: failedAttempts >= limit };
}

/** What the start's read batch found about a user's operations (src/storage/operation-limits.ts). */
export interface StartLoad {
  /** Live operations of the user, and the earliest expiry among them (ISO-8601, null when none). */
  liveForUser: number;
  userEarliestExpiry: string | null;
  /** Live operations naming the requested device (0 for a broadcast), and the earliest expiry among them. */
  liveForDevice: number;
  deviceEarliestExpiry: string | null;
  /** Operations started for the user in the last START_RATE_WINDOW_MS, and the oldest start among them. */
  recentStarts: number;
  oldestRecentStart: string | null;
}

export type StartLimitRefusal = {
  ok: false;
  code: 'TOO_MANY_LIVE_OPERATIONS' | 'RATE_LIMITED';
  rule: 'maxLiveOperationsPerUser' | 'maxLiveOperationsPerDevice' | 'maxStartsPerUserPerMinute';
  limit: number;
  retryAfterSeconds: number;
  reason: string;
};

/** Whole seconds from now until `instant`, at least 1 (a Retry-After of 0 invites a tight loop). */
function secondsUntil(instant: Instant | null, now: Instant): number {
  if (instant === null) return 1;
  const ms = toEpochMs(instant) - toEpochMs(now);
  return Number.isFinite(ms) ? Math.max(1, Math.ceil(ms / 1000)) : 1;
}

/**
 * Whether one more operation may be started for this user (and device): 429 rules against
 * push-bombing. The caller checks again atomically in its write batch; this decides the answer.
 */
// Abuse limits (docs/operations.md#limits): live operations per user and per device, starts per user per minute.
export function checkStartLimits(input: {
  policy: Pick<TenantPolicy, 'maxLiveOperationsPerUser' | 'maxLiveOperationsPerDevice' | 'maxStartsPerUserPerMinute'>;
  load: StartLoad;
  namesDevice: boolean;
  now: Instant;
}): { ok: true } | StartLimitRefusal {
  const { policy, load, namesDevice, now } = input;
  if (load.liveForUser >= policy.maxLiveOperationsPerUser) {
    return {
      ok: false, code: 'TOO_MANY_LIVE_OPERATIONS', rule: 'maxLiveOperationsPerUser', limit: policy.maxLiveOperationsPerUser,
      retryAfterSeconds: secondsUntil(load.userEarliestExpiry, now),
      reason: `The user already has ${load.liveForUser} live operations (limit ${policy.maxLiveOperationsPerUser}); complete, cancel or let one expire first.`,
    };
  }
  if (namesDevice && load.liveForDevice >= policy.maxLiveOperationsPerDevice) {
    return {
      ok: false, code: 'TOO_MANY_LIVE_OPERATIONS', rule: 'maxLiveOperationsPerDevice', limit: policy.maxLiveOperationsPerDevice,
      retryAfterSeconds: secondsUntil(load.deviceEarliestExpiry, now),
      reason: `The device already has ${load.liveForDevice} live operations (limit ${policy.maxLiveOperationsPerDevice}); complete, cancel or let one expire first.`,
    };
  }
  if (load.recentStarts >= policy.maxStartsPerUserPerMinute) {
    // The oldest start leaving the window frees one slot; exact while the count is at the limit (the guard keeps it there).
    const frees = load.oldestRecentStart === null ? null : toEpochMs(load.oldestRecentStart) + START_RATE_WINDOW_MS;
    return {
      ok: false, code: 'RATE_LIMITED', rule: 'maxStartsPerUserPerMinute', limit: policy.maxStartsPerUserPerMinute,
      retryAfterSeconds: secondsUntil(frees, now),
      reason: `${load.recentStarts} operations were started for this user in the last minute (limit ${policy.maxStartsPerUserPerMinute}).`,
    };
  }
  return { ok: true };
}
