// Interoperability with the Standard Webhooks reference library: its signatures verify with ours, Custos's signer's verify with it, and both refuse the same forgeries.
import { Webhook, WebhookVerificationError as ReferenceError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { newWebhookSecret, signatureHeader } from '../../../src/domain/webhook-signature';
import { verifyWebhook, WebhookVerificationError } from '../src/webhooks.js';

function event(id: string): string {
  return JSON.stringify({
    id,
    type: 'operation.completed',
    timestamp: new Date().toISOString(),
    tenantId: 'ten_interop',
    data: { operationId: 'op_1', type: 'AUTHORISATION', status: 'COMPLETED', userId: 'usr_1', deviceId: 'dev_1', note: 'Zoë ✔' },
  });
}

/** Headers as the reference library signs them, for one message at `at`. */
function referenceSigned(secret: string, id: string, body: string, at: Date): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  };
}

/** Headers as Custos's delivery object signs them (src/domain/webhook-signature.ts), with one or more secrets. */
async function custosSigned(secrets: string[], id: string, body: string, at: Date): Promise<Record<string, string>> {
  const timestamp = Math.floor(at.getTime() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': await signatureHeader(secrets, { id, timestamp, body }),
  };
}

describe('signed by the reference Webhook.sign, verified by verifyWebhook', () => {
  it('accepts the message and returns the typed event, from a string and from bytes', async () => {
    const secret = newWebhookSecret();
    const body = event('evt_ref_1');
    const headers = referenceSigned(secret, 'evt_ref_1', body, new Date());

    const fromString = await verifyWebhook(secret, headers, body);
    expect(fromString).toEqual(JSON.parse(body));
    if (fromString.type !== 'operation.completed') throw new Error('narrowing on type failed');
    expect(fromString.data.deviceId).toBe('dev_1');
    await expect(verifyWebhook(secret, new Headers(headers), new TextEncoder().encode(body))).resolves.toEqual(JSON.parse(body));
  });

  it('refuses what the reference library refuses: tampered body, wrong secret, stale timestamp', async () => {
    const secret = newWebhookSecret();
    const body = event('evt_ref_2');
    const headers = referenceSigned(secret, 'evt_ref_2', body, new Date());
    const tampered = body.replace('COMPLETED', 'REJECTED');
    const other = newWebhookSecret();
    const stale = referenceSigned(secret, 'evt_ref_2', body, new Date(Date.now() - 10 * 60_000));

    expect(() => new Webhook(secret).verify(tampered, headers)).toThrow(ReferenceError);
    await expect(verifyWebhook(secret, headers, tampered)).rejects.toMatchObject({ reason: 'INVALID_SIGNATURE' });
    expect(() => new Webhook(other).verify(body, headers)).toThrow(ReferenceError);
    await expect(verifyWebhook(other, headers, body)).rejects.toMatchObject({ reason: 'INVALID_SIGNATURE' });
    expect(() => new Webhook(secret).verify(body, stale)).toThrow(/too old/);
    await expect(verifyWebhook(secret, stale, body)).rejects.toMatchObject({ reason: 'TIMESTAMP_TOO_OLD' });
  });
});

describe('signed by Custos (signatureHeader), verified by the reference Webhook.verify', () => {
  it('the reference library accepts a delivery and parses the same event verifyWebhook returns', async () => {
    const secret = newWebhookSecret();
    const body = event('evt_custos_1');
    const headers = await custosSigned([secret], 'evt_custos_1', body, new Date());

    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(await verifyWebhook(secret, headers, body)).toEqual(new Webhook(secret).verify(body, headers));
  });

  it('during a rotation (two signatures) the reference library accepts either secret, as verifyWebhook does', async () => {
    const previous = newWebhookSecret();
    const current = newWebhookSecret();
    const body = event('evt_custos_2');
    const headers = await custosSigned([current, previous], 'evt_custos_2', body, new Date());
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);

    for (const secret of [current, previous]) {
      expect(new Webhook(secret).verify(body, headers)).toMatchObject({ id: 'evt_custos_2' });
      await expect(verifyWebhook(secret, headers, body)).resolves.toMatchObject({ id: 'evt_custos_2' });
    }
    await expect(verifyWebhook([newWebhookSecret(), previous], headers, body)).resolves.toMatchObject({ id: 'evt_custos_2' });
  });

  it('both refuse a tampered body, a wrong secret and a stale timestamp', async () => {
    const secret = newWebhookSecret();
    const body = event('evt_custos_3');
    const headers = await custosSigned([secret], 'evt_custos_3', body, new Date());
    const tampered = body.replace('"dev_1"', '"dev_2"');
    const other = newWebhookSecret();
    const stale = await custosSigned([secret], 'evt_custos_3', body, new Date(Date.now() - 10 * 60_000));

    expect(() => new Webhook(secret).verify(tampered, headers)).toThrow(ReferenceError);
    await expect(verifyWebhook(secret, headers, tampered)).rejects.toBeInstanceOf(WebhookVerificationError);
    expect(() => new Webhook(other).verify(body, headers)).toThrow(ReferenceError);
    await expect(verifyWebhook(other, headers, body)).rejects.toMatchObject({ reason: 'INVALID_SIGNATURE' });
    expect(() => new Webhook(secret).verify(body, stale)).toThrow(/too old/);
    await expect(verifyWebhook(secret, stale, body)).rejects.toMatchObject({ reason: 'TIMESTAMP_TOO_OLD' });
  });
});
