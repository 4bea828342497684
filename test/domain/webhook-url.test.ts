// The webhook SSRF guard and the retry schedule.
import { describe, expect, it } from 'vitest';
import {
  MAX_RETRY_WINDOW_MS,
  RETRY_CAP_MS,
  checkWebhookUrl,
  nextRetryDelay,
  parseRetryAfter,
  retrySchedule,
  shouldGiveUp,
} from '../../src/domain/webhook-url';

const strict = { allowLocal: false };
const local = { allowLocal: true };

function accepted(url: string, options = strict): URL {
  const result = checkWebhookUrl(url, options);
  if (!result.ok) throw new Error(`expected ${url} to be accepted, got: ${result.reason}`);
  return result.url;
}

function refused(url: string, options = strict): string {
  const result = checkWebhookUrl(url, options);
  if (result.ok) throw new Error(`expected ${url} to be refused`);
  return result.reason;
}

describe('checkWebhookUrl: accepted', () => {
  it('API.md: a public https endpoint, any port, path and query', () => {
    expect(accepted('https://hooks.example.com/custos').href).toBe('https://hooks.example.com/custos');
    accepted('https://hooks.example.com:8443/a/b?c=d');
    accepted('https://api.bank.example/webhooks/custos#frag');
  });

  it('public IP literals are not refused (v4, v6 and IPv4-mapped of a public v4)', () => {
    accepted('https://93.184.215.14/hook');
    accepted('https://8.8.8.8/');
    accepted('https://[2606:4700:4700::1111]/');
    accepted('https://[::ffff:8.8.8.8]/');
    accepted('https://[64:ff9b::808:808]/');
  });

  it('WHATWG URL normalises host case and a trailing dot of a public name is fine', () => {
    expect(accepted('https://HOOKS.Example.COM/').hostname).toBe('hooks.example.com');
    accepted('https://hooks.example.com./');
  });
});

describe('checkWebhookUrl: scheme and credentials', () => {
  it('API.md: plain http to a public host is refused', () => {
    expect(refused('http://hooks.example.com/')).toMatch(/https/);
    expect(refused('http://hooks.example.com/', local)).toMatch(/https/);
  });

  it('API.md: other schemes and relative or broken URLs are refused', () => {
    for (const url of ['ftp://example.com/', 'file:///etc/passwd', 'javascript:alert(1)', 'data:text/plain,x', 'ws://example.com/', '/hook', 'not a url', '']) {
      refused(url);
    }
  });

  it('OWASP SSRF: user:password@ in the URL is refused', () => {
    expect(refused('https://user:pass@hooks.example.com/')).toMatch(/credentials/);
    expect(refused('https://user@hooks.example.com/')).toMatch(/credentials/);
    refused('http://user:pass@localhost:8787/', local);
  });

  it('an absurdly long URL is refused', () => {
    refused(`https://hooks.example.com/${'a'.repeat(2100)}`);
  });
});

describe('checkWebhookUrl: ALLOW_LOCAL_WEBHOOKS', () => {
  it('API.md: http to localhost, 127.0.0.1 and [::1] is allowed only when allowLocal', () => {
    for (const url of ['http://localhost:8787/hook', 'http://127.0.0.1:9000/', 'http://[::1]:3000/', 'https://localhost/']) {
      expect(accepted(url, local).href).toBe(new URL(url).href);
      refused(url, strict);
    }
  });

  it('API.md: allowLocal opens those three hosts only, not private networks or metadata', () => {
    for (const url of ['http://10.0.0.5/', 'http://192.168.1.1/', 'http://169.254.169.254/', 'http://127.0.0.2/', 'http://app.localhost/', 'https://10.0.0.5/']) {
      refused(url, local);
    }
  });
});

describe('checkWebhookUrl: IPv4 literals (OWASP SSRF)', () => {
  const cases: Array<[string, string]> = [
    ['https://10.0.0.1/', 'RFC 1918 10/8'],
    ['https://10.255.255.255/', 'RFC 1918 10/8 upper edge'],
    ['https://172.16.0.1/', 'RFC 1918 172.16/12'],
    ['https://172.31.255.254/', 'RFC 1918 172.16/12 upper edge'],
    ['https://192.168.0.1/', 'RFC 1918 192.168/16'],
    ['https://127.0.0.1/', 'loopback'],
    ['https://127.1.2.3/', 'loopback 127/8'],
    ['https://169.254.169.254/latest/meta-data/', 'cloud metadata (link-local)'],
    ['https://169.254.1.1/', 'link-local 169.254/16'],
    ['https://0.0.0.0/', '0.0.0.0/8'],
    ['https://0.1.2.3/', '0.0.0.0/8'],
    ['https://100.64.0.1/', 'CGNAT 100.64/10'],
    ['https://100.127.255.255/', 'CGNAT upper edge'],
    ['https://224.0.0.1/', 'multicast'],
    ['https://239.255.255.250/', 'multicast upper'],
    ['https://255.255.255.255/', 'broadcast'],
    ['https://240.0.0.1/', 'reserved 240/4'],
    ['https://192.0.2.1/', 'TEST-NET-1'],
    ['https://198.18.0.1/', 'benchmarking'],
  ];
  for (const [url, what] of cases) {
    it(`OWASP SSRF: ${what} (${url}) is refused`, () => {
      refused(url);
    });
  }

  it('OWASP SSRF: neighbours of the private blocks are public and accepted', () => {
    accepted('https://172.15.255.255/');
    accepted('https://172.32.0.1/');
    accepted('https://100.63.255.255/');
    accepted('https://100.128.0.1/');
    accepted('https://11.0.0.1/');
    accepted('https://169.253.255.255/');
  });

  it('OWASP SSRF: decimal, hex, octal and short IPv4 forms normalise to the blocked address', () => {
    for (const url of [
      'https://2130706433/', // 127.0.0.1 as one decimal number
      'https://0x7f000001/',
      'https://0x7f.0.0.1/',
      'https://0177.0.0.1/',
      'https://017700000001/',
      'https://127.1/',
      'https://2852039166/', // 169.254.169.254
      'https://0xa9fea9fe/',
      'https://167772161/', // 10.0.0.1
      'https://127.0.0.1./',
    ]) {
      expect(new URL(url).hostname).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      refused(url);
    }
  });
});

describe('checkWebhookUrl: IPv6 literals (OWASP SSRF)', () => {
  const cases: Array<[string, string]> = [
    ['https://[::1]/', 'loopback ::1'],
    ['https://[::]/', 'unspecified ::'],
    ['https://[0:0:0:0:0:0:0:1]/', 'loopback written out'],
    ['https://[fe80::1]/', 'link-local fe80::/10'],
    ['https://[febf::1]/', 'link-local fe80::/10 upper edge'],
    ['https://[fc00::1]/', 'unique-local fc00::/7'],
    ['https://[fd12:3456:789a::1]/', 'unique-local fd00::/8'],
    ['https://[ff02::1]/', 'multicast'],
    ['https://[::ffff:127.0.0.1]/', 'IPv4-mapped loopback'],
    ['https://[::ffff:7f00:1]/', 'IPv4-mapped loopback in hex'],
    ['https://[::ffff:10.1.2.3]/', 'IPv4-mapped 10/8'],
    ['https://[::ffff:169.254.169.254]/', 'IPv4-mapped metadata'],
    ['https://[::ffff:192.168.0.1]/', 'IPv4-mapped 192.168/16'],
    ['https://[::127.0.0.1]/', 'IPv4-compatible (deprecated)'],
    ['https://[64:ff9b::a9fe:a9fe]/', 'NAT64 of metadata'],
    ['https://[2002:c0a8:1::1]/', '6to4 of 192.168.0.1'],
    ['https://[2002:7f00:1::]/', '6to4 of 127.0.0.1'],
    ['https://[2001:db8::1]/', 'documentation 2001:db8::/32'],
    ['https://[2001:0:4136:e378::1]/', 'Teredo 2001::/32'],
  ];
  for (const [url, what] of cases) {
    it(`OWASP SSRF: ${what} (${url}) is refused`, () => {
      refused(url);
    });
  }
});

describe('checkWebhookUrl: host names', () => {
  const cases: Array<[string, string]> = [
    ['https://localhost/', 'RFC 6761 localhost'],
    ['https://LOCALHOST:8443/', 'localhost in upper case'],
    ['https://localhost./', 'localhost with a trailing dot'],
    ['https://app.localhost/', 'RFC 6761 *.localhost'],
    ['https://metadata.google.internal/computeMetadata/v1/', 'GCP metadata'],
    ['https://db.corp.internal/', '*.internal'],
    ['https://printer.local/', 'RFC 6762 *.local'],
    ['https://router.home.arpa/', 'RFC 8375 *.home.arpa'],
    ['https://metadata/', 'single label completed by a search domain'],
    ['https://intranet:8080/', 'single label'],
  ];
  for (const [url, what] of cases) {
    it(`OWASP SSRF: ${what} (${url}) is refused`, () => {
      refused(url);
    });
  }

  it('names that merely contain those words are public', () => {
    accepted('https://localhost.example.com/');
    accepted('https://internal.example.com/');
    accepted('https://local.example.com/');
  });
});

describe('checkWebhookUrl: public names that resolve to loopback or to the address in the name', () => {
  // A Worker cannot resolve the name first; these are known to point inside, so they are refused by name.
  const cases: Array<[string, string]> = [
    ['https://localtest.me/hook', 'localtest.me (127.0.0.1)'],
    ['https://api.localtest.me/hook', '*.localtest.me'],
    ['https://LVH.ME./hook', 'lvh.me in upper case with a trailing dot'],
    ['https://app.lvh.me:8443/hook', '*.lvh.me'],
    ['https://x.localhost.direct/hook', '*.localhost.direct'],
    ['https://10.0.0.1.nip.io/hook', 'nip.io, dotted private address'],
    ['https://hooks-10-0-0-1.nip.io/hook', 'nip.io, dashed private address'],
    ['https://0a000001.nip.io/hook', 'nip.io, hex private address'],
    ['https://169.254.169.254.sslip.io/latest/meta-data', 'sslip.io, the metadata address'],
    ['https://--1.sslip.io/hook', 'sslip.io, ::1'],
    ['https://127-0-0-1.traefik.me/hook', 'traefik.me'],
    ['https://api.localhost/hook', '*.localhost (RFC 6761)'],
  ];
  for (const [url, what] of cases) {
    it(`OWASP SSRF: ${what} (${url}) is refused, with allowLocal too`, () => {
      expect(refused(url)).toMatch(/loopback|address written in it|local or internal/);
      refused(url, local);
    });
  }

  it('look-alike names on other domains are public', () => {
    accepted('https://localtest.me.example.com/hook');
    accepted('https://notlvh.me/hook');
    accepted('https://nip.io.example.com/hook');
    accepted('https://mynip.io/hook');
  });
});

describe('retrySchedule', () => {
  it('API.md: the first retry comes within 10 s whatever the jitter', () => {
    expect(retrySchedule(1, () => 0)).toBe(5_000);
    expect(retrySchedule(1, () => 0.999999)).toBeLessThanOrEqual(10_000);
    expect(retrySchedule(1, () => 1)).toBe(10_000);
  });

  it('API.md exponential backoff: the ceiling doubles per retry', () => {
    const ceilings = [1, 2, 3, 4, 5].map((n) => retrySchedule(n, () => 1));
    expect(ceilings).toEqual([10_000, 20_000, 40_000, 80_000, 160_000]);
    const floors = [1, 2, 3].map((n) => retrySchedule(n, () => 0));
    expect(floors).toEqual([5_000, 10_000, 20_000]);
  });

  it('API.md jitter: the delay varies with the random source between half and the whole ceiling', () => {
    expect(retrySchedule(3, () => 0.5)).toBe(30_000);
    const seen = new Set(Array.from({ length: 20 }, () => retrySchedule(4)));
    expect(seen.size).toBeGreaterThan(1);
    for (const delay of seen) {
      expect(delay).toBeGreaterThanOrEqual(40_000);
      expect(delay).toBeLessThanOrEqual(80_000);
    }
  });

  it('no single wait exceeds the 1 h cap, even for huge attempt numbers', () => {
    expect(retrySchedule(12, () => 1)).toBe(RETRY_CAP_MS);
    expect(retrySchedule(5000, () => 1)).toBe(RETRY_CAP_MS);
    expect(retrySchedule(5000, () => 0)).toBe(RETRY_CAP_MS / 2);
  });

  it('attempt numbers start at 1', () => {
    expect(() => retrySchedule(0)).toThrow(RangeError);
    expect(() => retrySchedule(1.5)).toThrow(RangeError);
  });

  it('API.md: retries at the longest delays still span at least 24 h before giving up', () => {
    // Simulate the delivery loop with the longest and the shortest jitter.
    for (const random of [() => 0, () => 1]) {
      const first = 0;
      let now = first;
      let attempt = 0;
      while (!shouldGiveUp(first, now)) {
        attempt += 1;
        now += retrySchedule(attempt, random);
      }
      expect(now - first).toBeGreaterThanOrEqual(24 * 60 * 60 * 1000);
      expect(now - first).toBeLessThan(24 * 60 * 60 * 1000 + RETRY_CAP_MS + 1);
      expect(attempt).toBeLessThan(100);
    }
  });

  it('shouldGiveUp: true from 24 h after the first attempt, not before', () => {
    expect(MAX_RETRY_WINDOW_MS).toBeGreaterThanOrEqual(24 * 60 * 60 * 1000);
    expect(shouldGiveUp(1_000, 1_000 + MAX_RETRY_WINDOW_MS - 1)).toBe(false);
    expect(shouldGiveUp(1_000, 1_000 + MAX_RETRY_WINDOW_MS)).toBe(true);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-08-15T12:00:00Z');

  it('RFC 9110 §10.2.3: delay-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter(' 30 ', now)).toBe(30_000);
  });

  it('RFC 9110 §10.2.3: an HTTP-date (IMF-fixdate) in the future', () => {
    expect(parseRetryAfter('Sat, 15 Aug 2026 12:02:00 GMT', now)).toBe(120_000);
  });

  it('RFC 9110 §10.2.3: a date in the past means now', () => {
    expect(parseRetryAfter('Fri, 14 Aug 2026 12:00:00 GMT', now)).toBe(0);
  });

  it('a Retry-After over an hour is capped at an hour', () => {
    expect(parseRetryAfter('86400', now)).toBe(RETRY_CAP_MS);
    expect(parseRetryAfter('99999999999999999999', now)).toBe(RETRY_CAP_MS);
    expect(parseRetryAfter('Sun, 16 Aug 2026 12:00:00 GMT', now)).toBe(RETRY_CAP_MS);
  });

  it('absent or unreadable values are ignored', () => {
    for (const value of [null, undefined, '', '-5', '1.5', 'soon', 'tomorrow', '2026-08-15T12:02:00Z', 'Mon, garbage']) {
      expect(parseRetryAfter(value, now)).toBeUndefined();
    }
  });

  it('API.md Retry-After is honoured: the next wait is the longer of backoff and Retry-After', () => {
    expect(nextRetryDelay({ attempt: 1, retryAfterMs: 120_000, random: () => 0 })).toBe(120_000);
    expect(nextRetryDelay({ attempt: 1, retryAfterMs: 1_000, random: () => 0 })).toBe(5_000);
    expect(nextRetryDelay({ attempt: 1, random: () => 1 })).toBe(10_000);
  });
});
