// Standard Webhooks signing against fixed vectors and an independent WebCrypto check.
import { describe, expect, it } from 'vitest';
import { fromBase64, utf8 } from '../../src/domain/encoding';
import {
  WEBHOOK_SECRET_BYTES,
  newWebhookSecret,
  signWebhook,
  signatureHeader,
  verifyWebhook,
} from '../../src/domain/webhook-signature';

// The example of the Standard Webhooks specification (also checked with `openssl dgst -hmac`).
const spec = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

// Key = bytes 0..31; expected value from
// printf '%s' 'evt_test.1700000000.{"id":"evt_test","type":"webhook.test"}' | openssl dgst -sha256 -mac HMAC -macopt hexkey:000102…1f -binary | base64
const own = {
  secret: 'whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=',
  id: 'evt_test',
  timestamp: 1700000000,
  body: '{"id":"evt_test","type":"webhook.test"}',
  signature: 'v1,Ryl5S01ASDTbgm9a7lrUkQmpjIxO5iLKvTKvkPl5p5E=',
};

async function independentlyValid(secret: string, message: { id: string; timestamp: number; body: string }, signature: string): Promise<boolean> {
  const key = await crypto.subtle.importKey('raw', fromBase64(secret.slice('whsec_'.length)), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  return crypto.subtle.verify('HMAC', key, fromBase64(signature.slice(3)), utf8(`${message.id}.${message.timestamp}.${message.body}`));
}

describe('signWebhook', () => {
  it('Standard Webhooks: the specification example signs to its published value', async () => {
    expect(await signWebhook(spec)).toBe(spec.signature);
  });

  it('Standard Webhooks: HMAC-SHA256 of "id.timestamp.body" with the base64-decoded key (fixed vector)', async () => {
    const signature = await signWebhook(own);
    expect(signature).toBe(own.signature);
    expect(await independentlyValid(own.secret, own, signature)).toBe(true);
  });

  it('Standard Webhooks: changing the id, timestamp, body or secret changes the signature', async () => {
    const base = await signWebhook(own);
    expect(await signWebhook({ ...own, id: 'evt_other' })).not.toBe(base);
    expect(await signWebhook({ ...own, timestamp: own.timestamp + 1 })).not.toBe(base);
    expect(await signWebhook({ ...own, body: own.body + ' ' })).not.toBe(base);
    expect(await signWebhook({ ...own, secret: spec.secret })).not.toBe(base);
    expect(await independentlyValid(own.secret, { ...own, body: own.body + ' ' }, base)).toBe(false);
  });

  it('a secret without the whsec_ prefix or with broken base64 is refused', async () => {
    await expect(signWebhook({ ...own, secret: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=' })).rejects.toThrow(TypeError);
    await expect(signWebhook({ ...own, secret: 'whsec_not base64!' })).rejects.toThrow(TypeError);
    await expect(signWebhook({ ...own, secret: 'whsec_' })).rejects.toThrow(TypeError);
  });

  it('an id containing "." or a non-integer timestamp is refused (the signed content would be ambiguous)', async () => {
    await expect(signWebhook({ ...own, id: 'evt.1' })).rejects.toThrow(TypeError);
    await expect(signWebhook({ ...own, timestamp: 1700000000.5 })).rejects.toThrow(TypeError);
    await expect(signWebhook({ ...own, timestamp: 1700000000000 * 10000 })).rejects.toThrow(TypeError);
  });
});

describe('signatureHeader', () => {
  it('API.md secret rotation: one v1 signature per secret, space-separated, in order', async () => {
    const header = await signatureHeader([own.secret, spec.secret], own);
    const parts = header.split(' ');
    expect(parts).toHaveLength(2);
    expect(parts[0]).toBe(own.signature);
    expect(await independentlyValid(spec.secret, own, parts[1] ?? '')).toBe(true);
  });

  it('a single secret gives a single signature; none is an error', async () => {
    expect(await signatureHeader([own.secret], own)).toBe(own.signature);
    await expect(signatureHeader([], own)).rejects.toThrow(RangeError);
  });
});

describe('newWebhookSecret', () => {
  it('API.md: whsec_ + base64 of 32 random bytes, different each time, usable for signing', async () => {
    const a = newWebhookSecret();
    const b = newWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(fromBase64(a.slice(6))).toHaveLength(WEBHOOK_SECRET_BYTES);
    expect(a).not.toBe(b);
    const signature = await signWebhook({ ...own, secret: a });
    expect(await independentlyValid(a, own, signature)).toBe(true);
  });
});

describe('verifyWebhook (receiver side)', () => {
  const nowSeconds = own.timestamp + 10;

  it('Standard Webhooks: accepts a header where any v1 entry matches any secret', async () => {
    const header = await signatureHeader([spec.secret, own.secret], own);
    expect(await verifyWebhook({ ...own, secrets: [own.secret], header, nowSeconds })).toBe(true);
    expect(await verifyWebhook({ ...own, secrets: ['whsec_' + 'A'.repeat(44)], header, nowSeconds })).toBe(false);
  });

  it('Standard Webhooks: ignores unknown versions and malformed entries', async () => {
    const header = `v2,abc v1,%%% ${own.signature}`;
    expect(await verifyWebhook({ ...own, secrets: [own.secret], header, nowSeconds })).toBe(true);
    expect(await verifyWebhook({ ...own, secrets: [own.secret], header: `v2,${own.signature.slice(3)}`, nowSeconds })).toBe(false);
  });

  it('Standard Webhooks: a tampered body or a timestamp beyond 5 minutes is refused', async () => {
    const header = own.signature;
    expect(await verifyWebhook({ ...own, body: own.body + 'x', secrets: [own.secret], header, nowSeconds })).toBe(false);
    expect(await verifyWebhook({ ...own, secrets: [own.secret], header, nowSeconds: own.timestamp + 301 })).toBe(false);
    expect(await verifyWebhook({ ...own, secrets: [own.secret], header, nowSeconds: own.timestamp - 301 })).toBe(false);
    expect(await verifyWebhook({ ...own, secrets: [own.secret], header, nowSeconds: own.timestamp + 300 })).toBe(true);
  });
});
