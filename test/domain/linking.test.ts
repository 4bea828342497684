// Dynamic linking: JCS digests, linked challenges and document digests.
import { describe, expect, it } from 'vitest';
import { hex } from '../../src/domain/encoding';
import {
  CHALLENGE_RANDOM_LENGTH,
  LINKED_CHALLENGE_LENGTH,
  boundDigest,
  documentDigest,
  linkedChallenge,
  plainChallenge,
  verifyLinkedChallenge,
} from '../../src/domain/linking';

const transaction = {
  amount: '12.50',
  currency: 'EUR',
  payee: { name: 'Café Müller', account: 'DE89370400440532013000' },
  reference: 'INV-42',
};

const fixedRandom = Uint8Array.from({ length: 32 }, (_, i) => i);

describe('boundDigest (RFC 8785 JCS + SHA-256)', () => {
  it('RFC 8785: keys given out of order hash as {"amount":"12.50","currency":"EUR"}', async () => {
    // sha256 of the 35 bytes {"amount":"12.50","currency":"EUR"}, computed by hand with sha256sum.
    const expected = 'd51da126fe91ea17c397b289b7b0d29fb1739538a7c4bd138b836a642e4eeb50';
    expect(hex(await boundDigest({ currency: 'EUR', amount: '12.50' }))).toBe(expected);
    expect(hex(await boundDigest({ amount: '12.50', currency: 'EUR' }))).toBe(expected);
  });

  it('RFC 8785 §3.2.3: nested keys are sorted and non-ASCII is hashed as UTF-8, unescaped', async () => {
    // sha256 of {"amount":"12.50","currency":"EUR","payee":{"account":"DE89370400440532013000","name":"Café Müller"}}
    const expected = '14a968a5dce32380c03c890c4c729e57ecfee39e4f7bf1f7a31342f5fba1500d';
    const bound = { payee: { name: 'Café Müller', account: 'DE89370400440532013000' }, currency: 'EUR', amount: '12.50' };
    expect(hex(await boundDigest(bound))).toBe(expected);
  });

  it('RFC 8785: a value with no JSON form is refused', async () => {
    await expect(boundDigest(undefined)).rejects.toThrow(TypeError);
    await expect(boundDigest({ amount: Number.NaN })).rejects.toThrow();
  });
});

describe('linkedChallenge / verifyLinkedChallenge', () => {
  it('PSD2 RTS art. 5(1)(b): the challenge is random(32) ‖ SHA-256(JCS(bound))', async () => {
    const challenge = await linkedChallenge(transaction, fixedRandom);
    expect(challenge).toHaveLength(LINKED_CHALLENGE_LENGTH);
    expect(challenge.subarray(0, CHALLENGE_RANDOM_LENGTH)).toEqual(fixedRandom);
    expect(challenge.subarray(CHALLENGE_RANDOM_LENGTH)).toEqual(await boundDigest(transaction));
    expect(await verifyLinkedChallenge(challenge, transaction)).toBe(true);
  });

  it('PSD2 RTS art. 5(1)(b): key order of the bound object does not matter', async () => {
    const challenge = await linkedChallenge(transaction);
    const reordered = { reference: 'INV-42', payee: { account: 'DE89370400440532013000', name: 'Café Müller' }, currency: 'EUR', amount: '12.50' };
    expect(await verifyLinkedChallenge(challenge, reordered)).toBe(true);
  });

  it('two challenges for the same transaction differ (fresh randomness each time)', async () => {
    const a = await linkedChallenge(transaction);
    const b = await linkedChallenge(transaction);
    expect(hex(a.subarray(0, 32))).not.toBe(hex(b.subarray(0, 32)));
    expect(a.subarray(32)).toEqual(b.subarray(32));
  });

  const changes: Array<[string, unknown]> = [
    ['amount + 0.01', { ...transaction, amount: '12.51' }],
    ['amount written differently ("12.5")', { ...transaction, amount: '12.5' }],
    ['payee name', { ...transaction, payee: { ...transaction.payee, name: 'Cafe Muller' } }],
    ['payee account', { ...transaction, payee: { ...transaction.payee, account: 'DE89370400440532013001' } }],
    ['currency', { ...transaction, currency: 'USD' }],
    ['reference', { ...transaction, reference: 'INV-43' }],
    ['reference removed', { amount: transaction.amount, currency: transaction.currency, payee: transaction.payee }],
    ['wrapped as a batch', { transactions: [transaction] }],
  ];
  for (const [what, changed] of changes) {
    it(`PSD2 RTS art. 5(1)(d): changing the ${what} changes the digest and fails verification`, async () => {
      const challenge = await linkedChallenge(transaction);
      expect(hex(await boundDigest(changed))).not.toBe(hex(await boundDigest(transaction)));
      expect(await verifyLinkedChallenge(challenge, changed)).toBe(false);
    });
  }

  it('PSD2 RTS art. 5(1)(d): a batch changes its digest when one of its transactions changes', async () => {
    const batch = { transactions: [transaction, { ...transaction, amount: '1.00' }] };
    const challenge = await linkedChallenge(batch);
    expect(await verifyLinkedChallenge(challenge, batch)).toBe(true);
    const altered = { transactions: [transaction, { ...transaction, amount: '1.01' }] };
    expect(await verifyLinkedChallenge(challenge, altered)).toBe(false);
    const reordered = { transactions: [batch.transactions[1], batch.transactions[0]] };
    expect(await verifyLinkedChallenge(challenge, reordered)).toBe(false);
  });

  it('a tampered digest half, a truncated or an extended challenge fail verification', async () => {
    const challenge = await linkedChallenge(transaction);
    const flipped = challenge.slice();
    flipped[63] = (flipped[63] ?? 0) ^ 1;
    expect(await verifyLinkedChallenge(flipped, transaction)).toBe(false);
    expect(await verifyLinkedChallenge(challenge.subarray(0, 63), transaction)).toBe(false);
    const longer = new Uint8Array(65);
    longer.set(challenge);
    expect(await verifyLinkedChallenge(longer, transaction)).toBe(false);
    expect(await verifyLinkedChallenge(challenge.subarray(32), transaction)).toBe(false);
  });

  it('verification against a bound with no JSON form is false, not an exception', async () => {
    const challenge = await linkedChallenge(transaction);
    expect(await verifyLinkedChallenge(challenge, undefined)).toBe(false);
  });

  it('randomness that is not 32 bytes is refused', async () => {
    await expect(linkedChallenge(transaction, new Uint8Array(16))).rejects.toThrow(RangeError);
  });

  it('a document binding (SIGNATURE) is linked the same way', async () => {
    const doc = { title: 'Loan agreement', mimeType: 'text/plain', sha256: await documentDigest('I agree.') };
    const challenge = await linkedChallenge(doc);
    expect(await verifyLinkedChallenge(challenge, doc)).toBe(true);
    const otherDoc = { ...doc, sha256: await documentDigest('I agree!') };
    expect(await verifyLinkedChallenge(challenge, otherDoc)).toBe(false);
  });
});

describe('documentDigest and plainChallenge', () => {
  it('API.md document.sha256: lowercase hex SHA-256 of the UTF-8 content', async () => {
    expect(await documentDigest('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(await documentDigest('hello')).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    // "é" hashes as its two UTF-8 bytes c3 a9 (sha256sum), not as the Latin-1 byte e9 (de2e33…).
    expect(await documentDigest('é')).toBe('4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c');
  });

  it('WebAuthn §13.4.3: plain challenges are 32 random bytes, never repeated', () => {
    const a = plainChallenge();
    const b = plainChallenge();
    expect(a).toHaveLength(32);
    expect(hex(a)).not.toBe(hex(b));
  });
});
