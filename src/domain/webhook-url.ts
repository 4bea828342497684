// Where webhooks may go (an SSRF guard on the URL) and when a failed delivery is tried again.

export type WebhookUrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

/** Longer URLs are refused before parsing; no real endpoint needs more. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

// The only targets ALLOW_LOCAL_WEBHOOKS opens, as WHATWG URL serialises their hostnames.
const LOCAL_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

// Names that resolve inside a network or a cloud host (RFC 6761 localhost, RFC 6762 .local,
// ICANN's reserved .internal incl. metadata.google.internal, RFC 8375 .home.arpa).
const INTERNAL_SUFFIXES: readonly string[] = ['.localhost', '.local', '.internal', '.home.arpa', '.localdomain'];

/**
 * Public DNS names whose every subdomain resolves to loopback (127.0.0.1 / ::1): a developer
 * convenience, and an SSRF into the sender's own host that the URL alone does not reveal.
 */
const LOOPBACK_DOMAINS: readonly string[] = ['localtest.me', 'lvh.me', 'vcap.me', 'lacolhost.com', 'fuf.me', 'localhost.direct', 'local.gd'];

/**
 * Wildcard DNS services that resolve a name to the address written in it (10.0.0.1.nip.io,
 * 10-0-0-1.sslip.io, 0a000001.nip.io, --1.sslip.io for ::1). They take many spellings and IPv6
 * too, so the whole service is refused rather than each decoded address judged.
 */
const ADDRESS_IN_NAME_DOMAINS: readonly string[] = ['nip.io', 'sslip.io', 'xip.io', 'traefik.me', 'nip.direct'];

const isUnder = (name: string, domain: string): boolean => name === domain || name.endsWith(`.${domain}`);

// [first address, prefix length] of IPv4 blocks that are not publicly routable (RFC 6890 et al.).
const BLOCKED_IPV4: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // RFC 6598 carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, incl. the 169.254.169.254 cloud metadata service
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, incl. 255.255.255.255 broadcast
];

function ipv4ToInt(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

const BLOCKED_IPV4_RANGES = BLOCKED_IPV4.map(([base, bits]) => {
  const size = 2 ** (32 - bits);
  const start = ipv4ToInt(base) ?? 0;
  return { start, end: start + size - 1 };
});

function isBlockedIpv4(address: number): boolean {
  return BLOCKED_IPV4_RANGES.some(({ start, end }) => address >= start && address <= end);
}

/** Eight 16-bit groups of an IPv6 literal (no brackets), or undefined when it is not one. */
function parseIpv6(text: string): number[] | undefined {
  let body = text;
  const tail: number[] = [];
  // WHATWG serialises every IPv6 in hex, but a dotted IPv4 tail is accepted too, to be safe.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (dotted) {
    const v4 = ipv4ToInt(dotted[2] ?? '');
    if (v4 === undefined) return undefined;
    tail.push(Math.floor(v4 / 0x10000), v4 % 0x10000);
    const prefix = dotted[1] ?? '';
    body = prefix.endsWith('::') ? prefix : prefix.slice(0, -1);
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const toGroups = (part: string | undefined): number[] | undefined => {
    if (!part) return [];
    const groups: number[] = [];
    for (const group of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/i.test(group)) return undefined;
      groups.push(parseInt(group, 16));
    }
    return groups;
  };
  const head = toGroups(halves[0]);
  const rest = toGroups(halves[1]);
  if (!head || !rest) return undefined;
  const known = head.length + rest.length + tail.length;
  if (halves.length === 1) return known === 8 ? [...head, ...tail] : undefined;
  if (known > 7) return undefined;
  return [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...tail];
}

function embeddedIpv4(high: number, low: number): number {
  return high * 0x10000 + low;
}

function ipv6Refusal(groups: readonly number[]): string | undefined {
  const g = (i: number): number => groups[i] ?? 0;
  const zeroPrefix = (count: number): boolean => groups.slice(0, count).every((x) => x === 0);
  // IPv4-mapped ::ffff:0:0/96: judged by the IPv4 address it carries.
  if (zeroPrefix(5) && g(5) === 0xffff) {
    return isBlockedIpv4(embeddedIpv4(g(6), g(7))) ? 'IPv4-mapped address of a non-public IPv4 network' : undefined;
  }
  // NAT64 64:ff9b::/96 translates to the IPv4 address in its low 32 bits.
  if (g(0) === 0x64 && g(1) === 0xff9b && g(2) === 0 && g(3) === 0 && g(4) === 0 && g(5) === 0) {
    return isBlockedIpv4(embeddedIpv4(g(6), g(7))) ? 'NAT64 address of a non-public IPv4 network' : undefined;
  }
  // Only global unicast 2000::/3 is public; this excludes ::, ::1, fe80::/10, fc00::/7, ff00::/8.
  if ((g(0) & 0xe000) !== 0x2000) return 'IPv6 address outside global unicast (loopback, link-local, unique-local or multicast)';
  // 6to4 2002::/16 reaches the IPv4 address in bits 16–47.
  if (g(0) === 0x2002 && isBlockedIpv4(embeddedIpv4(g(1), g(2)))) return '6to4 address of a non-public IPv4 network';
  // 2001::/23 IETF protocol assignments (Teredo, benchmarking, ORCHID) are not webhook endpoints.
  if (g(0) === 0x2001 && g(1) < 0x200) return 'IPv6 special-purpose address';
  // Documentation prefixes 2001:db8::/32 and 3fff::/20.
  if ((g(0) === 0x2001 && g(1) === 0xdb8) || (g(0) === 0x3fff && g(1) < 0x1000)) return 'IPv6 documentation address';
  return undefined;
}

function hostRefusal(hostname: string): string | undefined {
  if (hostname.startsWith('[')) {
    const groups = parseIpv6(hostname.slice(1, -1));
    return groups ? ipv6Refusal(groups) : 'unreadable IPv6 address';
  }
  // WHATWG URL has already turned decimal, hex and octal IPv4 forms (2130706433, 0x7f.1) into dotted quads.
  const v4 = ipv4ToInt(hostname);
  if (v4 !== undefined) return isBlockedIpv4(v4) ? 'IPv4 address of a private, loopback, link-local or reserved network' : undefined;
  const name = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
  if (name === 'localhost' || INTERNAL_SUFFIXES.some((suffix) => name.endsWith(suffix))) {
    return 'host name of a local or internal network';
  }
  if (LOOPBACK_DOMAINS.some((domain) => isUnder(name, domain))) return 'public name that resolves to loopback';
  if (ADDRESS_IN_NAME_DOMAINS.some((domain) => isUnder(name, domain))) return 'wildcard DNS name that resolves to the address written in it';
  // A single label ("metadata", "intranet") is completed by a search domain into an internal name.
  if (!name.includes('.')) return 'host name must be fully qualified';
  return undefined;
}

/**
 * Accepts a webhook endpoint only if it is https to a public host. This judges the URL alone (a
 * Worker cannot resolve DNS before it connects): well-known names that resolve to loopback or to
 * an address written in them are refused by name, but any other public name that resolves to a
 * private address is not caught here. So the sender does not follow redirects (API.md) and relies
 * on the platform's egress for the resolved address (docs/webhooks.md, "Where webhooks may go").
 */
// OWASP SSRF prevention: allow only public https targets, never internal or metadata addresses.
export function checkWebhookUrl(url: string, options: { allowLocal: boolean }): WebhookUrlCheck {
  if (url.length > MAX_WEBHOOK_URL_LENGTH) return { ok: false, reason: 'URL is too long' };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'not a valid absolute URL' };
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return { ok: false, reason: 'URL must use https' };
  // Credentials in the URL would be sent to whoever the host turns out to be, and logged.
  if (parsed.username !== '' || parsed.password !== '') return { ok: false, reason: 'URL must not contain credentials' };
  const host = parsed.hostname.endsWith('.') ? parsed.hostname.slice(0, -1) : parsed.hostname;
  if (options.allowLocal && LOCAL_HOSTS.has(host)) return { ok: true, url: parsed };
  if (parsed.protocol !== 'https:') return { ok: false, reason: 'URL must use https' };
  const refusal = hostRefusal(parsed.hostname);
  if (refusal) return { ok: false, reason: refusal };
  return { ok: true, url: parsed };
}

/** Delay ceiling of the first retry; equal jitter puts it between 5 and 10 s. */
export const RETRY_BASE_MS = 10_000;
/** No single wait is longer than an hour. */
export const RETRY_CAP_MS = 60 * 60 * 1000;
/** Failed deliveries are retried for 24 h from the first attempt, then given up. */
export const MAX_RETRY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** A Retry-After longer than this is shortened to it. */
export const RETRY_AFTER_CAP_MS = RETRY_CAP_MS;

/**
 * Wait before retry number `attempt` (1 = the first retry after the first failure): exponential
 * backoff from 10 s doubling to a 1 h cap, with equal jitter (half fixed, half random) so a burst
 * of failures spreads out yet no retry comes back sooner than half its step.
 */
export function retrySchedule(attempt: number, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError('attempt counts retries from 1');
  const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(ceiling / 2 + (ceiling / 2) * r);
}

/** True once the retry window has passed; checked after each failed attempt. */
export function shouldGiveUp(firstAttemptAt: number, now: number): boolean {
  return now - firstAttemptAt >= MAX_RETRY_WINDOW_MS;
}

const HTTP_DATE_START = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)/;

/**
 * A Retry-After header (delay-seconds or HTTP-date, RFC 9110 §10.2.3) as ms from `now`, capped at
 * an hour; undefined when absent or unreadable. A date in the past means "now" (0).
 */
export function parseRetryAfter(header: string | null | undefined, now: number): number | undefined {
  if (header === null || header === undefined) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Math.min(Number(value) * 1000, RETRY_AFTER_CAP_MS);
  if (!HTTP_DATE_START.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(at - now, 0), RETRY_AFTER_CAP_MS);
}

/** The wait before the next retry: the backoff, or longer if the receiver asked for it. */
export function nextRetryDelay(input: {
  attempt: number;
  retryAfterMs?: number | undefined;
  random?: () => number;
}): number {
  return Math.max(retrySchedule(input.attempt, input.random), input.retryAfterMs ?? 0);
}
