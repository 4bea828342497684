// SIGNATURE end to end: the document digest echoed, the content shown to the device, dynamic linking of the document, tampering and UV.
import { describe, expect, it } from 'vitest';
import { countRows, expectProblem, setupTenant } from '../helpers/api';
import { approve, boundDigest, createUser, enrolled, failedAttempts, getOperation, relinked, sdkFetch, sdkStart, startOperation, storedCounter } from '../helpers/ceremony';
import { fromB64url, sha256 } from '../helpers/soft-authenticator';

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// Non-ASCII on purpose: the digest is over UTF-8 bytes, not UTF-16 code units.
const CONTENT = 'Ich, Zoë Müller, stimme dem Darlehensvertrag Nr. 42 über 10 000 € zu. ✔\n';
const DOCUMENT = { content: CONTENT, mimeType: 'text/plain', title: 'Darlehensvertrag' };

describe('SIGNATURE end to end', () => {
  it('PSD2 RTS art. 5: the Operation echoes { title, mimeType, sha256 }, the device gets the content, the challenge links the digest', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const op = await startOperation(api, { type: 'SIGNATURE', userId, document: DOCUMENT });
    const digest = hex(await sha256(new TextEncoder().encode(CONTENT)));
    const echoed = { title: 'Darlehensvertrag', mimeType: 'text/plain', sha256: digest };
    expect(op.document).toEqual(echoed);
    expect((op.document as { sha256: string }).sha256).toMatch(/^[0-9a-f]{64}$/);
    const status = await getOperation(api, op.id);
    expect(status.document).toEqual(echoed);
    // The relying party's view never carries the content itself.
    expect(JSON.stringify(status)).not.toContain('Darlehensvertrag Nr. 42');

    const start = await sdkStart(op);
    expect(start.operation.document).toEqual({ ...echoed, content: CONTENT });
    const { challenge, userVerification } = start.publicKey as { challenge: string; userVerification: string };
    expect(userVerification).toBe('required');
    const bytes = fromB64url(challenge);
    expect(bytes).toHaveLength(64);
    // PSD2 RTS art. 5(1)(b) by analogy: challenge = random(32) ‖ SHA-256(JCS(the echoed document)).
    expect(bytes.subarray(32)).toEqual(await boundDigest(echoed));

    const finish = await sdkFetch(op, 'finish', { credential: await authenticator.assert(start.publicKey as never) });
    expect(finish.status, await finish.clone().text()).toBe(200);
    const done = await getOperation(api, op.id);
    expect(done.status).toBe('COMPLETED');
    expect(done.result).toMatchObject({ deviceId, userVerified: true, authMethod: 'passkey' });
    expect(done.document).toEqual(echoed);
  });

  it('API.md §1 dynamic linking: a document without a title echoes { mimeType, sha256 } and links exactly that object', async () => {
    const { api, userId, authenticator } = await enrolled();
    const content = '{"consent":true}';
    const op = await startOperation(api, { type: 'SIGNATURE', userId, document: { content, mimeType: 'application/json' } });
    const echoed = { mimeType: 'application/json', sha256: hex(await sha256(content)) };
    expect(op.document).toEqual(echoed);
    const start = await sdkStart(op);
    expect(fromB64url((start.publicKey as { challenge: string }).challenge).subarray(32)).toEqual(await boundDigest(echoed));
    const finish = await sdkFetch(op, 'finish', { credential: await authenticator.assert(start.publicKey as never) });
    expect(finish.status, await finish.clone().text()).toBe(200);
  });

  it('PSD2 RTS art. 4: a SIGNATURE without user verification (UV=0) → VERIFICATION_FAILED and a failed attempt', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const { op, finish } = await approve(api, authenticator, { type: 'SIGNATURE', userId, document: DOCUMENT }, { knobs: { uv: false } });
    await expectProblem(finish, 400, 'VERIFICATION_FAILED');
    expect(await getOperation(api, op.id)).toMatchObject({ status: 'FAILED', failure: { code: 'VERIFICATION_FAILED' } });
    expect(await failedAttempts(api, deviceId)).toBe(1);
    expect(await storedCounter(authenticator.credentialId)).toBe(0);
  });
});

describe('dynamic linking of the document (PSD2 RTS art. 5(1)(d))', () => {
  const bytes = new TextEncoder().encode(CONTENT);
  const oneByteChanged = new TextDecoder().decode(bytes.map((b, i) => (i === bytes.indexOf(0x34) ? 0x35 : b))); // "42" → "52"
  const tampered: { name: string; document: (echoed: { title?: string; mimeType: string; sha256: string }) => Promise<unknown> }[] = [
    { name: 'one byte of the content changed', document: async (d) => ({ ...d, sha256: hex(await sha256(oneByteChanged)) }) },
    { name: 'another title', document: async (d) => ({ ...d, title: 'Harmloses Formular' }) },
    { name: 'another mimeType', document: async (d) => ({ ...d, mimeType: 'text/markdown' }) },
  ];

  for (const tamper of tampered) {
    it(`PSD2 RTS art. 5(1)(d): ${tamper.name} → VERIFICATION_FAILED and a failed attempt`, async () => {
      expect(oneByteChanged).not.toBe(CONTENT);
      const { api, userId, authenticator, deviceId } = await enrolled();
      const op = await startOperation(api, { type: 'SIGNATURE', userId, document: DOCUMENT });
      const start = await sdkStart(op);
      const publicKey = start.publicKey as { challenge: string };
      const bound = await tamper.document(op.document as { title?: string; mimeType: string; sha256: string });
      const challenge = await relinked(publicKey.challenge, bound);
      const credential = await authenticator.assert(publicKey as never, { challenge });
      await expectProblem(await sdkFetch(op, 'finish', { credential }), 400, 'VERIFICATION_FAILED');
      const failed = await getOperation(api, op.id);
      expect(failed).toMatchObject({ status: 'FAILED', failure: { code: 'VERIFICATION_FAILED' } });
      expect(failed.result).toBeUndefined();
      expect(await failedAttempts(api, deviceId)).toBe(1);
      expect(await storedCounter(authenticator.credentialId)).toBe(0);
    });
  }
});

describe('document validation', () => {
  const refused: { name: string; document: unknown; param: string }[] = [
    { name: 'content over 64 KiB of UTF-8', document: { content: '€'.repeat(21846), mimeType: 'text/plain' }, param: 'document.content' },
    { name: 'empty content', document: { content: '', mimeType: 'text/plain' }, param: 'document.content' },
    { name: 'an unsupported mimeType', document: { content: '<b>hi</b>', mimeType: 'text/html' }, param: 'document.mimeType' },
    { name: 'no document', document: undefined, param: 'document' },
  ];
  for (const bad of refused) {
    it(`API.md §1: refuses ${bad.name} → 400 VALIDATION_FAILED naming ${bad.param}, and writes no operation`, async () => {
      const { api } = await setupTenant();
      const user = await createUser(api);
      const res = await api('/v1/operations', { method: 'POST', json: { type: 'SIGNATURE', userId: user.id, ...(bad.document ? { document: bad.document } : {}) } });
      const problem = await expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(problem.invalidParams?.map((p) => p.name)).toContain(bad.param);
      expect(await countRows('operations', 'user_id = ?1', user.id)).toBe(0);
    });
  }
});
