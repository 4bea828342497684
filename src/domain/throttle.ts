// Failure throttles: the rules (limits, windows), the sliding log they count with, and the source-address key.

export interface ThrottleRule {
  /** Failures allowed in `windowMs`; the next one is throttled. */
  limit: number;
  windowMs: number;
}

/*
 * Service-wide, not per tenant: they apply before a tenant is known (a wrong client_id, the operator API).
 * Only failures count, so a caller presenting a correct secret never comes near them by itself.
 */
export const THROTTLE_RULES = Object.freeze({
  /** Failed client authentications per client_id at /oauth/token: answers 429 instead of 401, never blocks a success. */
  oauthClient: Object.freeze({ limit: 10, windowMs: 60_000 }),
  /** Failed client authentications per source address at /oauth/token: then that address is refused outright. */
  oauthAddress: Object.freeze({ limit: 20, windowMs: 60_000 }),
  /** Wrong operator tokens per source address at /admin: then that address is refused outright. */
  adminAddress: Object.freeze({ limit: 10, windowMs: 60_000 }),
} satisfies Record<string, ThrottleRule>);

export type ThrottleRuleName = keyof typeof THROTTLE_RULES;

export interface ThrottleVerdict {
  /** The rule's limit of failures was reached within the window. */
  throttled: boolean;
  /** Seconds until one failure leaves the window (0 when not throttled). */
  retryAfterSeconds: number;
}

/** The failures still inside the window, oldest first, at most `limit` of them (older ones no longer matter). */
export function liveFailures(log: readonly number[], rule: ThrottleRule, now: number): number[] {
  return log.filter((at) => at > now - rule.windowMs && at <= now + rule.windowMs).slice(-rule.limit);
}

/** Whether a log of failures throttles now, and for how long. */
export function verdictOf(log: readonly number[], rule: ThrottleRule, now: number): ThrottleVerdict {
  const live = liveFailures(log, rule, now);
  if (live.length < rule.limit) return { throttled: false, retryAfterSeconds: 0 };
  // The oldest of the last `limit` failures leaving the window is what makes room again.
  return { throttled: true, retryAfterSeconds: Math.max(1, Math.ceil((live[0]! + rule.windowMs - now) / 1000)) };
}

/** Expands an IPv6 address into its eight 16-bit groups, or null when it is not one. */
function ipv6Groups(address: string): number[] | null {
  let text = address.toLowerCase();
  // An embedded IPv4 tail (::ffff:192.0.2.1) stands for the last two groups.
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const o = v4.slice(1).map(Number);
    if (o.some((n) => n > 255)) return null;
    text = `${text.slice(0, v4.index)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 && missing < 1) return null;
  const groups = halves.length === 1 ? head : [...head, ...Array<string>(missing).fill('0'), ...tail];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => parseInt(g, 16));
}

/**
 * The key a source address is throttled under: an IPv4 address as is, an IPv6 address by its /64 (one
 * subscriber usually holds a whole /64, so per-address counting would let it rotate freely). Null when
 * the value is not an IP address (no CF-Connecting-IP: local development), so nothing is throttled by address.
 */
export function sourceKeyOf(connectingIp: string | undefined | null): string | null {
  const value = connectingIp?.trim();
  if (!value) return null;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(value)) {
    return value.split('.').every((o) => Number(o) <= 255) ? value : null;
  }
  const groups = ipv6Groups(value);
  if (!groups) return null;
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}
