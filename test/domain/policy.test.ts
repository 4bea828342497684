// Tenant policy defaults and the PSD2 decisions taken from it.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  NEW_DEVICE_SCA_WINDOW_MS,
  type AuthorisingOperation,
  checkBackupEligibility,
  checkNewDeviceSca,
  nextFailedAttempts,
  NUMBER_MATCHING_POLICIES,
  resolvePolicy,
  resolveTtl,
  wantsNumberMatching,
} from '../../src/domain/policy';

const now = Date.parse('2026-08-15T12:00:00Z');

describe('policy defaults and bounds', () => {
  it('API.md: defaults are 5 attempts, 300 s, deviceBoundOnly false, requireScaForNewDevice true; abuse limits 5 live per user, 3 per device, 10 starts a minute; push on, number matching for pushed sign-ins', () => {
    expect(DEFAULT_POLICY).toEqual({
      maxFailedAttempts: 5, operationTtlSeconds: 300, deviceBoundOnly: false, requireScaForNewDevice: true,
      maxLiveOperationsPerUser: 5, maxLiveOperationsPerDevice: 3, maxStartsPerUserPerMinute: 10,
      pushNotifications: true, numberMatching: 'PUSHED',
    });
    expect(Object.isFrozen(DEFAULT_POLICY)).toBe(true);
  });

  it('resolvePolicy fills missing fields from the defaults', () => {
    expect(resolvePolicy({ maxFailedAttempts: 3 })).toEqual({ ...DEFAULT_POLICY, maxFailedAttempts: 3 });
    expect(resolvePolicy()).toEqual(DEFAULT_POLICY);
  });

  it('PSD2 RTS art. 4(3)(b) and 4(3)(d): attempts outside 1–5 or a TTL outside 1–300 are refused', () => {
    expect(() => resolvePolicy({ maxFailedAttempts: 6 })).toThrow(RangeError);
    expect(() => resolvePolicy({ maxFailedAttempts: 0 })).toThrow(RangeError);
    expect(() => resolvePolicy({ maxFailedAttempts: 2.5 })).toThrow(RangeError);
    expect(() => resolvePolicy({ operationTtlSeconds: 301 })).toThrow(RangeError);
    expect(() => resolvePolicy({ operationTtlSeconds: 0 })).toThrow(RangeError);
    expect(resolvePolicy({ maxFailedAttempts: 1, operationTtlSeconds: 1 })).toMatchObject({ maxFailedAttempts: 1, operationTtlSeconds: 1 });
  });
});

describe('wantsNumberMatching', () => {
  const auth = { type: 'AUTHENTICATION' as const };
  it('the start decides when it says; otherwise the policy, for AUTHENTICATION only', () => {
    for (const numberMatching of NUMBER_MATCHING_POLICIES) {
      expect(wantsNumberMatching({ ...auth, numberMatching: false }, { numberMatching }, true)).toBe(false);
      expect(wantsNumberMatching({ type: 'SIGNATURE', numberMatching: true }, { numberMatching }, false)).toBe(true);
      expect(wantsNumberMatching({ type: 'AUTHORISATION' }, { numberMatching }, true)).toBe(false);
    }
  });
  it('PUSHED: pushed sign-ins only; DECOUPLED: all but sameDevice; REQUESTED: none', () => {
    expect([wantsNumberMatching(auth, { numberMatching: 'PUSHED' }, true), wantsNumberMatching(auth, { numberMatching: 'PUSHED' }, false)]).toEqual([true, false]);
    expect([wantsNumberMatching(auth, { numberMatching: 'DECOUPLED' }, false), wantsNumberMatching({ ...auth, sameDevice: true }, { numberMatching: 'DECOUPLED' }, false)]).toEqual([true, false]);
    expect(wantsNumberMatching(auth, { numberMatching: 'REQUESTED' }, true)).toBe(false);
  });
  it('an unknown numberMatching policy is refused', () => {
    expect(() => resolvePolicy({ numberMatching: 'SOMETIMES' as never })).toThrow(RangeError);
  });
});

describe('resolveTtl', () => {
  it('API.md ttlSeconds: absent means the tenant maximum', () => {
    expect(resolveTtl(undefined, DEFAULT_POLICY)).toEqual({ ok: true, seconds: 300 });
    expect(resolveTtl(undefined, { operationTtlSeconds: 120 })).toEqual({ ok: true, seconds: 120 });
  });

  it('API.md ttlSeconds: 1 … the tenant maximum is accepted as given', () => {
    expect(resolveTtl(1, DEFAULT_POLICY)).toEqual({ ok: true, seconds: 1 });
    expect(resolveTtl(300, DEFAULT_POLICY)).toEqual({ ok: true, seconds: 300 });
    expect(resolveTtl(120, { operationTtlSeconds: 120 })).toEqual({ ok: true, seconds: 120 });
  });

  it('API.md ttlSeconds: 0, negative, fractional or over the maximum is refused', () => {
    for (const bad of [0, -1, 1.5, 301, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(resolveTtl(bad, DEFAULT_POLICY).ok).toBe(false);
    }
    const refusal = resolveTtl(121, { operationTtlSeconds: 120 });
    expect(refusal).toEqual({ ok: false, reason: 'ttlSeconds must be an integer from 1 to 120' });
  });

  it('PSD2 RTS art. 4(3)(d): a stored tenant TTL over 300 s is still capped at 300', () => {
    expect(resolveTtl(undefined, { operationTtlSeconds: 3600 })).toEqual({ ok: true, seconds: 300 });
    expect(resolveTtl(301, { operationTtlSeconds: 3600 }).ok).toBe(false);
  });
});

describe('checkNewDeviceSca', () => {
  const auth = (overrides: Partial<AuthorisingOperation> = {}): AuthorisingOperation => ({
    type: 'AUTHENTICATION',
    status: 'COMPLETED',
    userId: 'usr_1',
    completedAt: new Date(now - 60_000).toISOString(),
    ...overrides,
  });
  const check = (authorisedBy: AuthorisingOperation | undefined, options: { hasActiveDevice?: boolean; requireSca?: boolean } = {}) =>
    checkNewDeviceSca({
      policy: { requireScaForNewDevice: options.requireSca ?? true },
      hasActiveDevice: options.hasActiveDevice ?? true,
      authorisedBy,
      userId: 'usr_1',
      now,
    });

  it('PSD2 RTS art. 24(2)(b): a completed AUTHENTICATION of the same user a minute ago authorises a new device', () => {
    expect(check(auth())).toEqual({ ok: true });
  });

  it('PSD2 RTS art. 24(2)(b): without authorisedBy a user with an active device gets SCA_REQUIRED', () => {
    expect(check(undefined)).toMatchObject({ ok: false, code: 'SCA_REQUIRED' });
  });

  it('API.md: the first device needs no prior SCA', () => {
    expect(check(undefined, { hasActiveDevice: false })).toEqual({ ok: true });
  });

  it('API.md: requireScaForNewDevice false lets a further device bind without authorisedBy', () => {
    expect(check(undefined, { requireSca: false })).toEqual({ ok: true });
  });

  it('API.md: authorisedBy must be an AUTHENTICATION (an AUTHORISATION or REGISTRATION is refused)', () => {
    expect(check(auth({ type: 'AUTHORISATION' }))).toMatchObject({ ok: false, code: 'SCA_REQUIRED' });
    expect(check(auth({ type: 'REGISTRATION' }))).toMatchObject({ ok: false, code: 'SCA_REQUIRED' });
  });

  it('API.md: authorisedBy must be COMPLETED (PENDING, FAILED, REJECTED are refused)', () => {
    for (const status of ['PENDING', 'IN_PROGRESS', 'FAILED', 'REJECTED', 'CANCELLED', 'EXPIRED'] as const) {
      expect(check(auth({ status }))).toMatchObject({ ok: false, code: 'SCA_REQUIRED' });
    }
  });

  it('API.md: authorisedBy of another user is refused', () => {
    expect(check(auth({ userId: 'usr_2' }))).toMatchObject({ ok: false, code: 'SCA_REQUIRED' });
  });

  it('API.md: completed exactly 5 minutes ago is accepted, one millisecond older is refused', () => {
    expect(check(auth({ completedAt: now - NEW_DEVICE_SCA_WINDOW_MS }))).toEqual({ ok: true });
    expect(check(auth({ completedAt: now - NEW_DEVICE_SCA_WINDOW_MS - 1 }))).toMatchObject({ ok: false, code: 'SCA_REQUIRED' });
    expect(check(auth({ completedAt: new Date(now - 10 * 60_000) }))).toMatchObject({ ok: false });
  });

  it('a completion time missing, unreadable or far in the future is refused', () => {
    expect(check(auth({ completedAt: undefined }))).toMatchObject({ ok: false, code: 'SCA_REQUIRED' });
    expect(check(auth({ completedAt: null }))).toMatchObject({ ok: false, code: 'SCA_REQUIRED' });
    expect(check(auth({ completedAt: 'yesterday-ish' }))).toMatchObject({ ok: false, code: 'SCA_REQUIRED' });
    expect(check(auth({ completedAt: now + 60_000 }))).toMatchObject({ ok: false, code: 'SCA_REQUIRED' });
    expect(check(auth({ completedAt: now + 1_000 }))).toEqual({ ok: true });
  });
});

describe('checkBackupEligibility', () => {
  it('API.md deviceBoundOnly: a backup-eligible passkey is refused', () => {
    expect(checkBackupEligibility({ policy: { deviceBoundOnly: true }, backupEligible: true }).ok).toBe(false);
  });

  it('API.md deviceBoundOnly: a device-bound passkey is accepted', () => {
    expect(checkBackupEligibility({ policy: { deviceBoundOnly: true }, backupEligible: false })).toEqual({ ok: true });
  });

  it('API.md deviceBoundOnly default false: synced passkeys are accepted', () => {
    expect(checkBackupEligibility({ policy: DEFAULT_POLICY, backupEligible: true })).toEqual({ ok: true });
  });
});

describe('nextFailedAttempts', () => {
  it('PSD2 RTS art. 4(3)(b): with the default of 5 the fifth consecutive failure locks', () => {
    const seen: boolean[] = [];
    let failedAttempts = 0;
    for (let i = 0; i < 5; i++) {
      const next = nextFailedAttempts({ failedAttempts, maxFailedAttempts: 5 });
      failedAttempts = next.failedAttempts;
      seen.push(next.lock);
    }
    expect(seen).toEqual([false, false, false, false, true]);
    expect(failedAttempts).toBe(5);
  });

  it('PSD2 RTS art. 4(3)(b): a tenant limit of 1 locks on the first failure', () => {
    expect(nextFailedAttempts({ failedAttempts: 0, maxFailedAttempts: 1 })).toEqual({ failedAttempts: 1, lock: true });
  });

  it('PSD2 RTS art. 4(3)(b): a limit of 3 locks on the third failure, not the second', () => {
    expect(nextFailedAttempts({ failedAttempts: 1, maxFailedAttempts: 3 })).toEqual({ failedAttempts: 2, lock: false });
    expect(nextFailedAttempts({ failedAttempts: 2, maxFailedAttempts: 3 })).toEqual({ failedAttempts: 3, lock: true });
  });

  it('PSD2 RTS art. 4(3)(b): a corrupt limit (10, NaN, 0) never allows more than five', () => {
    expect(nextFailedAttempts({ failedAttempts: 4, maxFailedAttempts: 10 })).toEqual({ failedAttempts: 5, lock: true });
    expect(nextFailedAttempts({ failedAttempts: 4, maxFailedAttempts: Number.NaN })).toEqual({ failedAttempts: 5, lock: true });
    expect(nextFailedAttempts({ failedAttempts: 0, maxFailedAttempts: 0 })).toEqual({ failedAttempts: 1, lock: true });
  });

  it('a counter already past the limit keeps locking', () => {
    expect(nextFailedAttempts({ failedAttempts: 7, maxFailedAttempts: 5 })).toEqual({ failedAttempts: 8, lock: true });
  });
});
