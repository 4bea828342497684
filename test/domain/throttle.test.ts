// The pure parts of the limits: source-address keys, the sliding failure log, and checkStartLimits.
import { describe, expect, it } from 'vitest';
import { sourceKeyOf, verdictOf } from '../../src/domain/throttle';
import { checkStartLimits, DEFAULT_POLICY } from '../../src/domain/policy';

describe('sourceKeyOf', () => {
  it('throttle: IPv4 as is, IPv6 by /64, v4-mapped as IPv4, anything else null (nothing counted)', () => {
    expect(sourceKeyOf('203.0.113.7')).toBe('203.0.113.7');
    expect(sourceKeyOf('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(sourceKeyOf('2001:DB8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(sourceKeyOf('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(sourceKeyOf('::1')).toBe('0:0:0:0::/64');
    for (const bad of [undefined, '', 'localhost', '256.1.1.1', '1:2:3', '1::2::3', '2001:db8::1::']) expect(sourceKeyOf(bad)).toBeNull();
  });
});

describe('verdictOf', () => {
  const rule = { limit: 3, windowMs: 60_000 };
  it('throttle: limit failures inside the window throttle until the oldest of them leaves it', () => {
    expect(verdictOf([1_000, 2_000], rule, 10_000).throttled).toBe(false);
    expect(verdictOf([1_000, 2_000, 3_000], rule, 10_000)).toEqual({ throttled: true, retryAfterSeconds: 51 });
    expect(verdictOf([1_000, 2_000, 3_000], rule, 61_001).throttled).toBe(false);
  });
});

describe('checkStartLimits', () => {
  const now = '2026-01-01T00:00:00.000Z';
  const load = { liveForUser: 0, userEarliestExpiry: null, liveForDevice: 0, deviceEarliestExpiry: null, recentStarts: 0, oldestRecentStart: null };
  it('limits: each rule refuses at its limit with the seconds until room frees; a broadcast ignores the device rule', () => {
    expect(checkStartLimits({ policy: DEFAULT_POLICY, load, namesDevice: true, now }).ok).toBe(true);
    expect(checkStartLimits({ policy: DEFAULT_POLICY, load: { ...load, liveForUser: 5, userEarliestExpiry: '2026-01-01T00:00:41.200Z' }, namesDevice: false, now }))
      .toMatchObject({ ok: false, code: 'TOO_MANY_LIVE_OPERATIONS', rule: 'maxLiveOperationsPerUser', retryAfterSeconds: 42 });
    const device = { ...load, liveForUser: 3, liveForDevice: 3, deviceEarliestExpiry: '2026-01-01T00:00:10.000Z' };
    expect(checkStartLimits({ policy: DEFAULT_POLICY, load: device, namesDevice: true, now })).toMatchObject({ rule: 'maxLiveOperationsPerDevice', retryAfterSeconds: 10 });
    expect(checkStartLimits({ policy: DEFAULT_POLICY, load: device, namesDevice: false, now }).ok).toBe(true);
    expect(checkStartLimits({ policy: DEFAULT_POLICY, load: { ...load, recentStarts: 10, oldestRecentStart: '2025-12-31T23:59:30.000Z' }, namesDevice: false, now }))
      .toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 30 });
    // Never a Retry-After of 0.
    expect(checkStartLimits({ policy: DEFAULT_POLICY, load: { ...load, liveForUser: 5, userEarliestExpiry: now }, namesDevice: false, now })).toMatchObject({ retryAfterSeconds: 1 });
  });
});
