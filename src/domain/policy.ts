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
}

export const POLICY_LIMITS = Object.freeze({
  // PSD2 RTS art. 4(3)(b): no more than five consecutive failed authentication attempts.
  maxFailedAttempts: Object.freeze({ min: 1, max: 5 }),
  // PSD2 RTS art. 4(3)(d): nothing stays open past five minutes.
  operationTtlSeconds: Object.freeze({ min: 1, max: 300 }),
});

export const DEFAULT_POLICY: Readonly<TenantPolicy> = Object.freeze({
  maxFailedAttempts: 5,
  operationTtlSeconds: 300,
  deviceBoundOnly: false,
  requireScaForNewDevice: true,
});

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
  };
  if (!inRange(policy.maxFailedAttempts, POLICY_LIMITS.maxFailedAttempts)) {
    throw new RangeError('maxFailedAttempts must be an integer from 1 to 5');
  }
  if (!inRange(policy.operationTtlSeconds, POLICY_LIMITS.operationTtlSeconds)) {
    throw new RangeError('operationTtlSeconds must be an integer from 1 to 300');
  }
  return policy;
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
