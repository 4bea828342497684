// End-to-end smoke of the engine: register a passkey, authenticate, authorise a payment, sign a document.
import { describe, expect, it } from 'vitest';
import { setupTenant } from '../helpers/api';
import { approve, createUser, registerPasskey } from '../helpers/ceremony';

describe('operation engine smoke', () => {
  it('registers, authenticates, authorises and signs with a soft authenticator', async () => {
    const { api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const user = await createUser(api, { externalRef: 'smoke-1' });
    const { authenticator, deviceId } = await registerPasskey(api, user.id);
    expect(deviceId).toMatch(/^dev_/);

    const auth = await approve(api, authenticator, { type: 'AUTHENTICATION', userId: user.id });
    expect(auth.finish.status).toBe(200);
    const status = await (await api(`/v1/operations/${auth.op.id}`)).json() as { status: string; result: { token: string; deviceId: string } };
    expect(status.status).toBe('COMPLETED');
    expect(status.result.deviceId).toBe(deviceId);

    const pay = await approve(api, authenticator, {
      type: 'AUTHORISATION', userId: user.id, transaction: { amount: '12.50', currency: 'EUR', payee: { name: 'ACME' } },
    });
    expect(pay.finish.status).toBe(200);
    expect(pay.start.operation.transaction).toEqual({ amount: '12.50', currency: 'EUR', payee: { name: 'ACME' } });

    const sign = await approve(api, authenticator, {
      type: 'SIGNATURE', userId: user.id, document: { content: 'I agree.', mimeType: 'text/plain', title: 'Terms' },
    });
    expect(sign.finish.status).toBe(200);
    expect((sign.start.operation.document as { content: string }).content).toBe('I agree.');
  });
});
