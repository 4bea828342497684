// AUTHORISATION end to end: PSD2 dynamic linking of amount and payee (single and batch), tampering, UV and amount parsing.
import { describe, expect, it } from 'vitest';
import type { Api } from '../helpers/api';
import { countRows, expectProblem } from '../helpers/api';
import { approve, boundDigest, enrolled, failedAttempts, getOperation, relinked, sdkFetch, sdkStart, startOperation, storedCounter } from '../helpers/ceremony';
import type { SoftAuthenticator } from '../helpers/soft-authenticator';
import { fromB64url } from '../helpers/soft-authenticator';

const PAYMENT = { amount: '12.50', currency: 'EUR', payee: { name: 'ACME Ltd', account: 'DE89370400440532013000' }, reference: 'INV-2026-001' };
const BATCH = [
  { amount: '100.00', currency: 'EUR', payee: { name: 'Alice', account: 'FR7630006000011234567890189' } },
  { amount: '0.5', currency: 'EUR', payee: { name: 'Bob', account: 'NL91ABNA0417164300' }, reference: 'rent' },
  { amount: '7.25', currency: 'EUR', payee: { name: 'Carol' } },
];

describe('AUTHORISATION end to end', () => {
  it('PSD2 RTS art. 5(1)(a): a single payment is echoed, shown to the device, linked into the challenge and completed', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHORISATION', userId, transaction: PAYMENT });
    expect(op.transaction).toEqual(PAYMENT);
    expect(op.transactions).toBeUndefined();
    expect(op.total).toBeUndefined();
    expect((await getOperation(api, op.id)).transaction).toEqual(PAYMENT);

    const start = await sdkStart(op);
    // The device is shown exactly what the payer authorises.
    expect(start.operation.transaction).toEqual(PAYMENT);
    const { challenge, userVerification } = start.publicKey as { challenge: string; userVerification: string };
    expect(userVerification).toBe('required');
    // PSD2 RTS art. 5(1)(b): challenge = random(32) ‖ SHA-256(JCS(transaction as echoed)).
    const bytes = fromB64url(challenge);
    expect(bytes).toHaveLength(64);
    expect(bytes.subarray(32)).toEqual(await boundDigest(op.transaction));

    const credential = await authenticator.assert(start.publicKey as never);
    const finish = await sdkFetch(op, 'finish', { credential });
    expect(finish.status, await finish.clone().text()).toBe(200);
    const done = await getOperation(api, op.id);
    expect(done.status).toBe('COMPLETED');
    expect(done.result).toMatchObject({ deviceId, userVerified: true, authMethod: 'passkey' });
    expect(done.transaction).toEqual(PAYMENT);
    expect(await storedCounter(authenticator.credentialId)).toBe(1);
  });

  it('PSD2 RTS art. 5(3)(a): a batch echoes transactions and their exact total, shows both, links { transactions } and completes', async () => {
    const { api, userId, authenticator } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHORISATION', userId, transactions: BATCH });
    expect(op.transactions).toEqual(BATCH);
    expect(op.total).toEqual({ amount: '107.75', currency: 'EUR' });
    expect(op.transaction).toBeUndefined();
    const status = await getOperation(api, op.id);
    expect(status.transactions).toEqual(BATCH);
    expect(status.total).toEqual({ amount: '107.75', currency: 'EUR' });

    const start = await sdkStart(op);
    expect(start.operation.transactions).toEqual(BATCH);
    expect(start.operation.total).toEqual({ amount: '107.75', currency: 'EUR' });
    const bytes = fromB64url((start.publicKey as { challenge: string }).challenge);
    expect(bytes).toHaveLength(64);
    expect(bytes.subarray(32)).toEqual(await boundDigest({ transactions: BATCH }));

    const finish = await sdkFetch(op, 'finish', { credential: await authenticator.assert(start.publicKey as never) });
    expect(finish.status, await finish.clone().text()).toBe(200);
    expect((await getOperation(api, op.id)).status).toBe('COMPLETED');
  });

  it('PSD2 RTS art. 4(3)(c): the same payment started twice gets two challenges: fresh random halves, the same linked half', async () => {
    const { api, userId } = await enrolled();
    const [a, b] = [await startOperation(api, { type: 'AUTHORISATION', userId, transaction: PAYMENT }), await startOperation(api, { type: 'AUTHORISATION', userId, transaction: PAYMENT })];
    const ca = fromB64url(((await sdkStart(a)).publicKey as { challenge: string }).challenge);
    const cb = fromB64url(((await sdkStart(b)).publicKey as { challenge: string }).challenge);
    expect(ca.subarray(0, 32)).not.toEqual(cb.subarray(0, 32));
    expect(ca.subarray(32)).toEqual(cb.subarray(32));
  });

  it('PSD2 RTS art. 4: an AUTHORISATION signed without user verification (UV=0) → VERIFICATION_FAILED and a failed attempt', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHORISATION', userId, transaction: PAYMENT }, { knobs: { uv: false } });
    await expectProblem(finish, 400, 'VERIFICATION_FAILED');
    expect(await getOperation(api, op.id)).toMatchObject({ status: 'FAILED', failure: { code: 'VERIFICATION_FAILED' } });
    expect(await failedAttempts(api, deviceId)).toBe(1);
    expect(await storedCounter(authenticator.credentialId)).toBe(0);
  });
});

describe('dynamic linking: the device signed something else (PSD2 RTS art. 5(1)(b), 5(1)(d))', () => {
  const single = (tampered: Record<string, unknown>): { body: Record<string, unknown>; bound: unknown } => ({
    body: { transaction: PAYMENT },
    bound: tampered,
  });
  const cases: { name: string; body: Record<string, unknown>; bound: unknown }[] = [
    { name: 'PSD2 RTS art. 5(1)(b): amount +0.01', ...single({ ...PAYMENT, amount: '12.51' }) },
    { name: 'PSD2 RTS art. 5(1)(b): another payee', ...single({ ...PAYMENT, payee: { name: 'Mallory', account: 'GB33BUKB20201555555555' } }) },
    { name: 'PSD2 RTS art. 5(1)(b): another payee account, same name', ...single({ ...PAYMENT, payee: { ...PAYMENT.payee, account: 'GB33BUKB20201555555555' } }) },
    { name: 'PSD2 RTS art. 5(1)(b): another currency', ...single({ ...PAYMENT, currency: 'USD' }) },
    { name: 'PSD2 RTS art. 5(1)(b): the amount written differently ("12.5" for "12.50")', ...single({ ...PAYMENT, amount: '12.5' }) },
    {
      name: 'PSD2 RTS art. 5(3)(a): a batch with one payee swapped',
      body: { transactions: BATCH },
      bound: { transactions: BATCH.map((t, i) => (i === 1 ? { ...t, payee: { name: 'Mallory', account: 'GB33BUKB20201555555555' } } : t)) },
    },
    {
      name: 'PSD2 RTS art. 5(3)(a): a batch with one transaction left out',
      body: { transactions: BATCH },
      bound: { transactions: BATCH.slice(0, 2) },
    },
  ];

  for (const tamper of cases) {
    it(`${tamper.name} → VERIFICATION_FAILED and a failed attempt`, async () => {
      const { api, userId, authenticator, deviceId } = await enrolled();
      expect((await approve(api, authenticator, { type: 'AUTHENTICATION', userId })).finish.status).toBe(200);
      const op = await startOperation(api, { type: 'AUTHORISATION', userId, ...tamper.body });
      const start = await sdkStart(op);
      const publicKey = start.publicKey as { challenge: string };
      const challenge = await relinked(publicKey.challenge, tamper.bound);
      expect(challenge).not.toBe(publicKey.challenge);
      // The device signs properly, but over a challenge linked to what the attacker wanted shown.
      const credential = await authenticator.assert(publicKey as never, { challenge });
      const res = await sdkFetch(op, 'finish', { credential });
      await expectProblem(res, 400, 'VERIFICATION_FAILED');
      const failed = await getOperation(api, op.id);
      expect(failed.status).toBe('FAILED');
      expect(failed.failure).toEqual({ code: 'VERIFICATION_FAILED' });
      expect(failed.result).toBeUndefined();
      expect(await failedAttempts(api, deviceId)).toBe(1);
      expect(await storedCounter(authenticator.credentialId)).toBe(1);
    });
  }

  it('PSD2 RTS art. 5(1)(b): control — the same relinking to the true transaction completes', async () => {
    const { api, userId, authenticator } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHORISATION', userId, transaction: PAYMENT });
    const start = await sdkStart(op);
    const publicKey = start.publicKey as { challenge: string };
    const challenge = await relinked(publicKey.challenge, op.transaction);
    expect(challenge).toBe(publicKey.challenge);
    const res = await sdkFetch(op, 'finish', { credential: await authenticator.assert(publicKey as never, { challenge }) });
    expect(res.status, await res.clone().text()).toBe(200);
  });
});

describe('amounts through the API (PSD2 RTS art. 5(1)(a): the amount is exact)', () => {
  async function userWithDevice(): Promise<{ api: Api; userId: string; authenticator: SoftAuthenticator }> {
    const { api, userId, authenticator } = await enrolled();
    return { api, userId, authenticator };
  }

  it('API.md §1 / ISO 4217: accepts "0.1" EUR, "100" JPY and "9007199254740993.00" EUR (over 2^53) and echoes each string exactly', async () => {
    const { api, userId, authenticator } = await userWithDevice();
    for (const [amount, currency] of [['0.1', 'EUR'], ['100', 'JPY'], ['9007199254740993.00', 'EUR']] as const) {
      const transaction = { amount, currency, payee: { name: 'Shop' } };
      const op = await startOperation(api, { type: 'AUTHORISATION', userId, transaction });
      expect((op.transaction as { amount: string }).amount).toBe(amount);
      expect((await getOperation(api, op.id)).transaction).toEqual(transaction);
      const start = await sdkStart(op);
      expect((start.operation.transaction as { amount: string }).amount).toBe(amount);
      expect(fromB64url((start.publicKey as { challenge: string }).challenge).subarray(32)).toEqual(await boundDigest(transaction));
      const res = await sdkFetch(op, 'finish', { credential: await authenticator.assert(start.publicKey as never) });
      expect(res.status, await res.clone().text()).toBe(200);
    }
  });

  it('API.md §1: a batch total over 2^53 stays exact', async () => {
    const { api, userId } = await userWithDevice();
    const transactions = [
      { amount: '9007199254740993.00', currency: 'EUR', payee: { name: 'A' } },
      { amount: '0.01', currency: 'EUR', payee: { name: 'B' } },
    ];
    const op = await startOperation(api, { type: 'AUTHORISATION', userId, transactions });
    expect(op.total).toEqual({ amount: '9007199254740993.01', currency: 'EUR' });
  });

  const refused: { name: string; body: Record<string, unknown>; param: string }[] = [
    { name: 'an exponent "1e3"', body: { transaction: { amount: '1e3', currency: 'EUR', payee: { name: 'P' } } }, param: 'transaction.amount' },
    { name: 'a negative amount "-5"', body: { transaction: { amount: '-5', currency: 'EUR', payee: { name: 'P' } } }, param: 'transaction.amount' },
    { name: 'zero "0.00"', body: { transaction: { amount: '0.00', currency: 'EUR', payee: { name: 'P' } } }, param: 'transaction.amount' },
    { name: 'three decimals "12.345" EUR', body: { transaction: { amount: '12.345', currency: 'EUR', payee: { name: 'P' } } }, param: 'transaction.amount' },
    { name: 'decimals in JPY "100.5"', body: { transaction: { amount: '100.5', currency: 'JPY', payee: { name: 'P' } } }, param: 'transaction.amount' },
    { name: 'a JSON number 12.5', body: { transaction: { amount: 12.5, currency: 'EUR', payee: { name: 'P' } } }, param: 'transaction.amount' },
    { name: 'an unknown currency "EUX"', body: { transaction: { amount: '1.00', currency: 'EUX', payee: { name: 'P' } } }, param: 'transaction.currency' },
    { name: 'a lower-case currency "eur"', body: { transaction: { amount: '1.00', currency: 'eur', payee: { name: 'P' } } }, param: 'transaction.currency' },
    { name: 'a batch of 1 (needs 2–100)', body: { transactions: [{ amount: '1.00', currency: 'EUR', payee: { name: 'P' } }] }, param: 'transactions' },
    {
      name: 'a batch of 101',
      body: { transactions: Array.from({ length: 101 }, () => ({ amount: '1.00', currency: 'EUR', payee: { name: 'P' } })) },
      param: 'transactions',
    },
    {
      name: 'a batch with two currencies',
      body: { transactions: [{ amount: '1.00', currency: 'EUR', payee: { name: 'P' } }, { amount: '1.00', currency: 'USD', payee: { name: 'Q' } }] },
      param: 'transactions',
    },
    {
      name: 'a batch with a bad amount',
      body: { transactions: [{ amount: '1.00', currency: 'EUR', payee: { name: 'P' } }, { amount: '1.001', currency: 'EUR', payee: { name: 'Q' } }] },
      param: 'transactions.1.amount',
    },
    {
      name: 'both transaction and transactions',
      body: { transaction: { amount: '1.00', currency: 'EUR', payee: { name: 'P' } }, transactions: [{ amount: '1.00', currency: 'EUR', payee: { name: 'P' } }, { amount: '2.00', currency: 'EUR', payee: { name: 'Q' } }] },
      param: 'transaction',
    },
    { name: 'neither transaction nor transactions', body: {}, param: 'transaction' },
    { name: 'an unknown transaction field', body: { transaction: { amount: '1.00', currency: 'EUR', payee: { name: 'P' }, fee: '0.10' } }, param: 'transaction.fee' },
  ];

  for (const bad of refused) {
    it(`API.md §1 / ISO 4217: refuses ${bad.name} → 400 VALIDATION_FAILED naming ${bad.param}, and writes no operation`, async () => {
      const { api, userId } = await userWithDevice();
      const before = await countRows('operations', 'user_id = ?1', userId);
      const res = await api('/v1/operations', { method: 'POST', json: { type: 'AUTHORISATION', userId, ...bad.body } });
      const problem = await expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(problem.invalidParams?.map((p) => p.name)).toContain(bad.param);
      expect(await countRows('operations', 'user_id = ?1', userId)).toBe(before);
    });
  }
});
