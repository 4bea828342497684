// verifyWebhook against signatures computed here with WebCrypto, and the Standard Webhooks test vector.
import { describe, expect, it } from 'vitest';
import { verifyWebhook, WebhookVerificationError, type WebhookVerificationReason } from '../src/webhooks.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);

function randomSecret(): string {
  return `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
}

/** base64(HMAC-SHA256(base64decode(secret without whsec_), "id.timestamp.body")), written out independently. */
async function sign(secret: string, id: string, timestamp: number, body: string): Promise<string> {
  const raw = Uint8Array.from(atob(secret.replace(/^whsec_/, '')), (char) => char.charCodeAt(0));
  const key = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${id}.${timestamp}.${body}`)));
  return btoa(String.fromCharCode(...mac));
}

function eventBody(id = 'evt_1'): string {
  return JSON.stringify({
    id,
    type: 'operation.completed',
    timestamp: NOW.toISOString(),
    tenantId: 'ten_1',
    data: { operationId: 'op_1', status: 'COMPLETED' },
  });
}

async function signedRequest(secret: string, options: { timestamp?: number; body?: string; id?: string } = {}): Promise<{ headers: Headers; body: string }> {
  const id = options.id ?? 'evt_1';
  const timestamp = options.timestamp ?? NOW_SECONDS;
  const body = options.body ?? eventBody(id);
  const headers = new Headers({
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': `v1,${await sign(secret, id, timestamp, body)}`,
  });
  return { headers, body };
}

async function reason(promise: Promise<unknown>): Promise<WebhookVerificationReason> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    return (error as WebhookVerificationError).reason;
  }
  throw new Error('expected verification to fail');
}

describe('verifyWebhook (Standard Webhooks)', () => {
  it('accepts the published Standard Webhooks test vector', async () => {
    // The reference vector of the Standard Webhooks spec; its body is not a Custos event, so the
    // signature passes and the payload check is what refuses it.
    const headers = {
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    };
    const verify = verifyWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', headers, '{"test": 2432232314}', {
      now: new Date(1614265330 * 1000),
    });
    expect(await reason(verify)).toBe('INVALID_PAYLOAD');
    const wrong = verifyWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', headers, '{"test": 2432232315}', { now: new Date(1614265330 * 1000) });
    expect(await reason(wrong)).toBe('INVALID_SIGNATURE');
  });

  it('returns the event for a valid signature', async () => {
    const secret = randomSecret();
    const { headers, body } = await signedRequest(secret);

    const event = await verifyWebhook(secret, headers, body, { now: NOW });

    expect(event).toEqual(JSON.parse(body));
    expect(event.type).toBe('operation.completed');
  });

  it('reads plain header objects in any letter case', async () => {
    const secret = randomSecret();
    const { headers, body } = await signedRequest(secret);
    const plain = {
      'Webhook-Id': headers.get('webhook-id') ?? '',
      'WEBHOOK-TIMESTAMP': headers.get('webhook-timestamp') ?? '',
      'webhook-signature': headers.get('webhook-signature') ?? '',
    };

    await expect(verifyWebhook(secret, plain, body, { now: NOW })).resolves.toMatchObject({ id: 'evt_1' });
  });

  it('verifies the body as bytes (Uint8Array, ArrayBuffer) exactly as sent, and Node-style array headers', async () => {
    const secret = randomSecret();
    const { headers, body } = await signedRequest(secret, { body: eventBody().replace('op_1', 'op_Zoë') });
    const bytes = new TextEncoder().encode(body);
    await expect(verifyWebhook(secret, headers, bytes, { now: NOW })).resolves.toMatchObject({ data: { operationId: 'op_Zoë' } });
    await expect(verifyWebhook(secret, headers, bytes.slice().buffer, { now: NOW })).resolves.toMatchObject({ id: 'evt_1' });
    const nodeStyle = { 'webhook-id': ['evt_1'], 'webhook-timestamp': headers.get('webhook-timestamp') ?? '', 'webhook-signature': headers.get('webhook-signature') ?? '' };
    await expect(verifyWebhook(secret, nodeStyle, bytes, { now: NOW })).resolves.toMatchObject({ id: 'evt_1' });
    // One changed byte (é → e) is another message.
    const altered = new TextEncoder().encode(body.replace('Zoë', 'Zoe'));
    expect(await reason(verifyWebhook(secret, headers, altered, { now: NOW }))).toBe('INVALID_SIGNATURE');
  });

  it('refuses a correctly signed body that is not UTF-8 as INVALID_PAYLOAD', async () => {
    const secret = randomSecret();
    const raw = new Uint8Array([0x7b, 0xff, 0x7d]);
    const mac = new Uint8Array(
      await crypto.subtle.sign(
        'HMAC',
        await crypto.subtle.importKey('raw', Uint8Array.from(atob(secret.slice(6)), (c) => c.charCodeAt(0)), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
        new Uint8Array([...new TextEncoder().encode(`evt_1.${NOW_SECONDS}.`), ...raw]),
      ),
    );
    const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(NOW_SECONDS), 'webhook-signature': `v1,${btoa(String.fromCharCode(...mac))}` };
    expect(await reason(verifyWebhook(secret, headers, raw, { now: NOW }))).toBe('INVALID_PAYLOAD');
  });

  it('never puts the secret into an error message', async () => {
    const secret = randomSecret();
    const { headers, body } = await signedRequest(randomSecret());
    const error = (await verifyWebhook(secret, headers, body, { now: NOW }).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(WebhookVerificationError);
    expect(error.message).not.toContain(secret.slice(6));
    const bad = (await verifyWebhook('whsec_not*base64', headers, body, { now: NOW }).catch((e: unknown) => e)) as Error;
    expect(bad).toBeInstanceOf(TypeError);
    expect(bad.message).not.toContain('not*base64');
  });

  it('refuses a wrong secret', async () => {
    const { headers, body } = await signedRequest(randomSecret());
    expect(await reason(verifyWebhook(randomSecret(), headers, body, { now: NOW }))).toBe('INVALID_SIGNATURE');
  });

  it('refuses a tampered body', async () => {
    const secret = randomSecret();
    const { headers, body } = await signedRequest(secret);
    const tampered = body.replace('COMPLETED', 'REJECTED');
    expect(tampered).not.toBe(body);
    expect(await reason(verifyWebhook(secret, headers, tampered, { now: NOW }))).toBe('INVALID_SIGNATURE');
  });

  it('refuses a tampered webhook-id or timestamp (both are signed)', async () => {
    const secret = randomSecret();
    const { headers, body } = await signedRequest(secret);
    const otherTime = new Headers(headers);
    otherTime.set('webhook-timestamp', String(NOW_SECONDS - 1));
    expect(await reason(verifyWebhook(secret, otherTime, body, { now: NOW }))).toBe('INVALID_SIGNATURE');
    const otherId = new Headers(headers);
    otherId.set('webhook-id', 'evt_2');
    expect(await reason(verifyWebhook(secret, otherId, body, { now: NOW }))).toBe('INVALID_SIGNATURE');
  });

  it('refuses a timestamp older than the tolerance, and one too far in the future', async () => {
    const secret = randomSecret();
    const stale = await signedRequest(secret, { timestamp: NOW_SECONDS - 301 });
    expect(await reason(verifyWebhook(secret, stale.headers, stale.body, { now: NOW }))).toBe('TIMESTAMP_TOO_OLD');
    const future = await signedRequest(secret, { timestamp: NOW_SECONDS + 301 });
    expect(await reason(verifyWebhook(secret, future.headers, future.body, { now: NOW }))).toBe('TIMESTAMP_TOO_NEW');
  });

  it('accepts a timestamp at the edge of the tolerance and honours toleranceSeconds', async () => {
    const secret = randomSecret();
    const edge = await signedRequest(secret, { timestamp: NOW_SECONDS - 300 });
    await expect(verifyWebhook(secret, edge.headers, edge.body, { now: NOW })).resolves.toBeDefined();
    expect(await reason(verifyWebhook(secret, edge.headers, edge.body, { now: NOW, toleranceSeconds: 60 }))).toBe('TIMESTAMP_TOO_OLD');
  });

  it('refuses a timestamp that is not a Unix time', async () => {
    const secret = randomSecret();
    const { headers, body } = await signedRequest(secret);
    headers.set('webhook-timestamp', '2026-03-01T12:00:00Z');
    expect(await reason(verifyWebhook(secret, headers, body, { now: NOW }))).toBe('INVALID_TIMESTAMP');
  });

  it('refuses missing headers', async () => {
    const secret = randomSecret();
    const { headers, body } = await signedRequest(secret);
    headers.delete('webhook-signature');
    expect(await reason(verifyWebhook(secret, headers, body, { now: NOW }))).toBe('MISSING_HEADERS');
  });

  describe('secret rotation', () => {
    it('passes when one of several signatures matches one of several secrets', async () => {
      const previous = randomSecret();
      const current = randomSecret();
      const body = eventBody();
      const signatures = `v1,${await sign(current, 'evt_1', NOW_SECONDS, body)} v1,${await sign(previous, 'evt_1', NOW_SECONDS, body)}`;
      const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(NOW_SECONDS), 'webhook-signature': signatures };

      await expect(verifyWebhook(current, headers, body, { now: NOW })).resolves.toBeDefined();
      await expect(verifyWebhook(previous, headers, body, { now: NOW })).resolves.toBeDefined();
      await expect(verifyWebhook([randomSecret(), previous], headers, body, { now: NOW })).resolves.toBeDefined();
      expect(await reason(verifyWebhook([randomSecret(), randomSecret()], headers, body, { now: NOW }))).toBe('INVALID_SIGNATURE');
    });

    it('skips other versions and unreadable entries rather than failing on them', async () => {
      const secret = randomSecret();
      const body = eventBody();
      const valid = await sign(secret, 'evt_1', NOW_SECONDS, body);
      const headers = {
        'webhook-id': 'evt_1',
        'webhook-timestamp': String(NOW_SECONDS),
        'webhook-signature': `v1a,${valid} v1,%%%not-base64 v2,${valid} v1,${valid}`,
      };
      await expect(verifyWebhook(secret, headers, body, { now: NOW })).resolves.toBeDefined();
      headers['webhook-signature'] = `v1a,${valid} v2,${valid}`;
      expect(await reason(verifyWebhook(secret, headers, body, { now: NOW }))).toBe('INVALID_SIGNATURE');
    });
  });

  it('refuses a signed body whose event id is not the webhook-id (API.md §3)', async () => {
    const secret = randomSecret();
    const { headers, body } = await signedRequest(secret, { id: 'evt_1', body: eventBody('evt_other') });
    expect(await reason(verifyWebhook(secret, headers, body, { now: NOW }))).toBe('INVALID_PAYLOAD');
  });

  it('treats a malformed secret as a configuration error', async () => {
    const { headers, body } = await signedRequest(randomSecret());
    await expect(verifyWebhook('whsec_***', headers, body, { now: NOW })).rejects.toBeInstanceOf(TypeError);
    await expect(verifyWebhook([], headers, body, { now: NOW })).rejects.toBeInstanceOf(TypeError);
  });
});
