// AUTHENTICATION end to end with the soft authenticator: UV, origin, single use, foreign credentials, counters, number matching, rejection, new-device SCA, broadcast and expiry.
import { env } from 'cloudflare:test';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Api } from '../helpers/api';
import { countRows, expectProblem, setupTenant, workerFetch } from '../helpers/api';
import { approve, createUser, enrolled, getDevice, getOperation, newAuthenticator, registerPasskey, sdkFetch, sdkStart, startOperation, storedCounter, RP_ID } from '../helpers/ceremony';
import { fromB64url } from '../helpers/soft-authenticator';
import { fireOperationTimer } from '../helpers/operation-shard';

/**
 * Asserts the PSD2 outcome of a refused device answer: 400 VERIFICATION_FAILED, the operation FAILED with
 * failure.code VERIFICATION_FAILED, one more failed attempt on `deviceId`, and the stored counter untouched.
 */
async function expectRefused(
  api: Api,
  res: Response,
  expected: { operationId: string; deviceId: string; failedBefore: number; credentialId: string; counterBefore: number },
): Promise<void> {
  await expectProblem(res, 400, 'VERIFICATION_FAILED');
  const op = await getOperation(api, expected.operationId);
  expect(op.status).toBe('FAILED');
  expect(op.failure).toEqual({ code: 'VERIFICATION_FAILED' });
  expect(op.result).toBeUndefined();
  expect((await getDevice(api, expected.deviceId)).failedAttempts).toBe(expected.failedBefore + 1);
  expect(await storedCounter(expected.credentialId)).toBe(expected.counterBefore);
}

describe('AUTHENTICATION end to end', () => {
  it('PSD2 RTS art. 4: an AUTHENTICATION asks for user verification, completes and records the device use', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
    expect(op).toMatchObject({ type: 'AUTHENTICATION', status: 'PENDING', userId });
    expect(op.sdk.token).toEqual(expect.any(String));

    const start = await sdkStart(op);
    expect(start.operation).toMatchObject({ id: op.id, type: 'AUTHENTICATION' });
    expect(start.operation.transaction).toBeUndefined();
    const publicKey = start.publicKey as { challenge: string; rpId: string; userVerification: string; allowCredentials: { id: string }[] };
    // PSD2 RTS art. 4: the inherence/knowledge element is asked for on every operation.
    expect(publicKey.userVerification).toBe('required');
    expect(publicKey.rpId).toBe(RP_ID);
    expect(publicKey.allowCredentials.map((c) => c.id)).toEqual([authenticator.credentialId]);
    // An AUTHENTICATION links to nothing: 32 random bytes.
    expect(fromB64url(publicKey.challenge)).toHaveLength(32);
    expect((await getOperation(api, op.id)).status).toBe('IN_PROGRESS');

    const credential = await authenticator.assert(publicKey as never);
    const finish = await sdkFetch(op, 'finish', { credential });
    expect(finish.status, await finish.clone().text()).toBe(200);
    expect(await finish.json()).toMatchObject({ status: 'COMPLETED' });

    const done = await getOperation(api, op.id);
    expect(done.status).toBe('COMPLETED');
    expect(done.deviceId).toBe(deviceId);
    expect(done.completedAt).toEqual(expect.any(String));
    expect(done.result).toEqual({ deviceId, userVerified: true, authMethod: 'passkey', token: expect.any(String) });
    expect(done.failure).toBeUndefined();
    const device = await getDevice(api, deviceId);
    expect(device.failedAttempts).toBe(0);
    expect(device.lastUsedAt).toEqual(expect.any(String));
    expect(await storedCounter(authenticator.credentialId)).toBe(1);
  });

  it('PSD2 RTS art. 4: an assertion without user verification (UV=0) → VERIFICATION_FAILED and a failed attempt', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { uv: false } });
    await expectRefused(api, finish, { operationId: op.id, deviceId, failedBefore: 0, credentialId: authenticator.credentialId, counterBefore: 0 });
  });

  it('WebAuthn §7.2 step 13: an assertion made for another origin → VERIFICATION_FAILED and a failed attempt', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { origin: 'https://evil.example' } });
    await expectRefused(api, finish, { operationId: op.id, deviceId, failedBefore: 0, credentialId: authenticator.credentialId, counterBefore: 0 });
  });

  it('WebAuthn §7.2 step 15: an assertion for another rpId → VERIFICATION_FAILED and a failed attempt', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { rpId: 'evil.example' } });
    await expectRefused(api, finish, { operationId: op.id, deviceId, failedBefore: 0, credentialId: authenticator.credentialId, counterBefore: 0 });
  });
});

describe('single use (PSD2 RTS art. 4(3)(c))', () => {
  it('PSD2 RTS art. 4(3)(c): finishing a completed operation again → 409 OPERATION_FINAL and nothing changes', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const { op, finish, start } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId });
    expect(finish.status).toBe(200);
    const first = await getOperation(api, op.id);

    const again = await sdkFetch(op, 'finish', { credential: await authenticator.assert(start.publicKey as never) });
    const problem = await expectProblem(again, 409, 'OPERATION_FINAL');
    expect(problem.operationStatus).toBe('COMPLETED');
    const after = await getOperation(api, op.id);
    expect(after.result?.token).toBe(first.result?.token);
    expect((await getDevice(api, deviceId)).failedAttempts).toBe(0);
    expect(await storedCounter(authenticator.credentialId)).toBe(1);
  });

  it('PSD2 RTS art. 4(3)(c): a completed operation\'s assertion replayed on a new operation → VERIFICATION_FAILED and a failed attempt', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const op1 = await startOperation(api, { type: 'AUTHENTICATION', userId });
    const credential = await authenticator.assert((await sdkStart(op1)).publicKey as never);
    expect((await sdkFetch(op1, 'finish', { credential })).status).toBe(200);

    const op2 = await startOperation(api, { type: 'AUTHENTICATION', userId });
    await sdkStart(op2);
    const replay = await sdkFetch(op2, 'finish', { credential });
    await expectRefused(api, replay, { operationId: op2.id, deviceId, failedBefore: 0, credentialId: authenticator.credentialId, counterBefore: 1 });
    expect((await getOperation(api, op1.id)).status).toBe('COMPLETED');
  });
  it('PSD2 RTS art. 4(3)(c): the same assertion submitted twice at once completes exactly once', async () => {
    const { api, userId, authenticator } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
    const credential = await authenticator.assert((await sdkStart(op)).publicKey as never);
    const [a, b] = await Promise.all([sdkFetch(op, 'finish', { credential }), sdkFetch(op, 'finish', { credential })]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 409]);
    const loser = a.status === 409 ? a : b;
    expect(['OPERATION_FINAL', 'OPERATION_CONFLICT']).toContain((await loser.json<{ code: string }>()).code);
    expect((await getOperation(api, op.id)).status).toBe('COMPLETED');
    expect(await storedCounter(authenticator.credentialId)).toBe(1);
  });

  it('PSD2 RTS art. 4(3)(c): a FAILED operation cannot be rescued by a valid assertion afterwards (409 OPERATION_FINAL)', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const { op, finish, start } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { uv: false } });
    await expectProblem(finish, 400, 'VERIFICATION_FAILED');
    const valid = await authenticator.assert(start.publicKey as never);
    expect((await expectProblem(await sdkFetch(op, 'finish', { credential: valid }), 409, 'OPERATION_FINAL')).operationStatus).toBe('FAILED');
    expect((await getOperation(api, op.id)).status).toBe('FAILED');
    expect((await getDevice(api, deviceId)).failedAttempts).toBe(1);
    expect(await storedCounter(authenticator.credentialId)).toBe(0);
  });
});

describe('foreign credentials and counters', () => {
  it('WebAuthn §7.2 step 5: user B\'s passkey answering user A\'s broadcast operation → VERIFICATION_FAILED, nothing completes', async () => {
    const { api } = await setupTenant();
    const userA = await createUser(api);
    const userB = await createUser(api);
    const a = await registerPasskey(api, userA.id);
    const b = await registerPasskey(api, userB.id);

    const op = await startOperation(api, { type: 'AUTHENTICATION', userId: userA.id });
    const { publicKey } = await sdkStart(op);
    // A browser would not even offer B's passkey (not in allowCredentials); a hostile client sends it anyway.
    const credential = await b.authenticator.assert(publicKey as never, { skipClientChecks: true });
    const res = await sdkFetch(op, 'finish', { credential });
    await expectProblem(res, 400, 'VERIFICATION_FAILED');
    const failed = await getOperation(api, op.id);
    expect(failed).toMatchObject({ status: 'FAILED', failure: { code: 'VERIFICATION_FAILED' } });
    expect(failed.result).toBeUndefined();
    // A broadcast answered by a credential the user does not own cannot be attributed to any of A's devices,
    // and B's device was never party to A's operation: neither is charged, neither counter moves.
    expect((await getDevice(api, a.deviceId)).failedAttempts).toBe(0);
    expect((await getDevice(api, b.deviceId)).failedAttempts).toBe(0);
    expect(await storedCounter(a.authenticator.credentialId)).toBe(0);
    expect(await storedCounter(b.authenticator.credentialId)).toBe(0);
  });

  it('WebAuthn §7.2 step 5: user B\'s passkey answering an operation naming A\'s device → VERIFICATION_FAILED and a failed attempt on that device', async () => {
    const { api } = await setupTenant();
    const userA = await createUser(api);
    const userB = await createUser(api);
    const a = await registerPasskey(api, userA.id);
    const b = await registerPasskey(api, userB.id);
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId: userA.id, deviceId: a.deviceId });
    const { publicKey } = await sdkStart(op);
    const credential = await b.authenticator.assert(publicKey as never, { skipClientChecks: true });
    await expectRefused(api, await sdkFetch(op, 'finish', { credential }), {
      operationId: op.id, deviceId: a.deviceId, failedBefore: 0, credentialId: a.authenticator.credentialId, counterBefore: 0,
    });
    expect((await getDevice(api, b.deviceId)).failedAttempts).toBe(0);
  });

  it('WebAuthn §7.2 step 20: another key signing under A\'s credential id → VERIFICATION_FAILED and a failed attempt on A\'s device', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const impostor = await newAuthenticator();
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { signWith: impostor } });
    await expectRefused(api, finish, { operationId: op.id, deviceId, failedBefore: 0, credentialId: authenticator.credentialId, counterBefore: 0 });
  });

  it('WebAuthn §7.2 step 21: a signature counter lower than the stored one → VERIFICATION_FAILED, counted, counter kept', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    for (let i = 0; i < 3; i++) {
      expect((await approve(api, authenticator, { type: 'AUTHENTICATION', userId })).finish.status).toBe(200);
    }
    expect(await storedCounter(authenticator.credentialId)).toBe(3);
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { counter: 2 } });
    await expectRefused(api, finish, { operationId: op.id, deviceId, failedBefore: 0, credentialId: authenticator.credentialId, counterBefore: 3 });
  });

  it('WebAuthn §7.2 step 21: a signature counter equal to the stored one (a cloned authenticator) → VERIFICATION_FAILED', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    expect((await approve(api, authenticator, { type: 'AUTHENTICATION', userId })).finish.status).toBe(200);
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { counter: 1 } });
    await expectRefused(api, finish, { operationId: op.id, deviceId, failedBefore: 0, credentialId: authenticator.credentialId, counterBefore: 1 });
  });
});

describe('number matching', () => {
  it('API.md §1 number matching: the Operation shows "NN" and the SDK offers three choices including it, never the answer itself', async () => {
    const { api, userId, authenticator } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId, numberMatching: true });
    expect(op.numberMatch).toMatch(/^[0-9]{2}$/);
    expect((await getOperation(api, op.id)).numberMatch).toBe(op.numberMatch);
    const start = await sdkStart(op);
    const choices = start.operation.numberMatchChoices as string[];
    expect(choices).toHaveLength(3);
    expect(new Set(choices).size).toBe(3);
    for (const choice of choices) expect(choice).toMatch(/^[0-9]{2}$/);
    expect(choices).toContain(op.numberMatch);
    expect(start.operation.numberMatch).toBeUndefined();

    const credential = await authenticator.assert(start.publicKey as never);
    const res = await sdkFetch(op, 'finish', { credential, numberMatch: op.numberMatch });
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await getOperation(api, op.id)).status).toBe('COMPLETED');
  });

  it('API.md §1 number matching: finishing without a pick → VERIFICATION_FAILED and a failed attempt', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId, numberMatching: true });
    await expectRefused(api, finish, { operationId: op.id, deviceId, failedBefore: 0, credentialId: authenticator.credentialId, counterBefore: 0 });
  });

  it('API.md §1 number matching: a wrong pick → VERIFICATION_FAILED and a failed attempt', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId, numberMatching: true });
    const start = await sdkStart(op);
    const wrong = (start.operation.numberMatchChoices as string[]).find((c) => c !== op.numberMatch)!;
    const credential = await authenticator.assert(start.publicKey as never);
    await expectRefused(api, await sdkFetch(op, 'finish', { credential, numberMatch: wrong }), {
      operationId: op.id, deviceId, failedBefore: 0, credentialId: authenticator.credentialId, counterBefore: 0,
    });
  });
  it('API.md §1 number matching: the device\'s pending list (device proof) does not give the number away either', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    // A passkey with a bound device key, as the authenticator app registers it.
    const authenticator = await newAuthenticator();
    const deviceKey = await generateKeyPair('ES256', { extractable: true });
    const reg = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    const regStart = await sdkStart(reg);
    const challenge = (regStart.publicKey as { challenge: string }).challenge;
    const deviceSignature = await new CompactSign(new TextEncoder().encode(JSON.stringify({ operationId: reg.id, challenge })))
      .setProtectedHeader({ alg: 'ES256' })
      .sign(deviceKey.privateKey);
    const registered = await sdkFetch(reg, 'finish', {
      credential: await authenticator.register(regStart.publicKey as never),
      deviceKey: await exportJWK(deviceKey.publicKey),
      deviceSignature,
    });
    expect(registered.status, await registered.clone().text()).toBe(200);
    const deviceId = (await getOperation(api, reg.id)).result!.deviceId;

    const op = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id, numberMatching: true });
    const url = 'https://custos.test/sdk/v1/devices/me/operations';
    const proof = await new CompactSign(new TextEncoder().encode(JSON.stringify({ htm: 'GET', htu: url, iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID() })))
      .setProtectedHeader({ alg: 'ES256', typ: 'device-proof+jwt', kid: deviceId })
      .sign(deviceKey.privateKey);
    const res = await workerFetch('/sdk/v1/devices/me/operations?status=PENDING', { headers: { authorization: `Device ${proof}` } });
    expect(res.status, await res.clone().text()).toBe(200);
    const items = (await res.json<{ items: { id: string; numberMatch?: string }[] }>()).items;
    const listed = items.find((item) => item.id === op.id);
    expect(listed).toBeDefined();
    expect(listed!.numberMatch).toBeUndefined();
    expect(JSON.stringify(listed)).not.toContain(`"${op.numberMatch}"`);
  });
});

describe('rejection by the user', () => {
  it('API.md §2: the user declines: POST /sdk/v1/operations/{id}/reject → REJECTED, no failed attempt, then final', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
    const start = await sdkStart(op);
    const res = await sdkFetch(op, 'reject');
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toEqual({ status: 'REJECTED' });
    const rejected = await getOperation(api, op.id);
    expect(rejected.status).toBe('REJECTED');
    expect(rejected.result).toBeUndefined();
    expect((await getDevice(api, deviceId)).failedAttempts).toBe(0);

    // A final state never changes: a second reject, a finish and a cancel are all refused.
    expect((await expectProblem(await sdkFetch(op, 'reject'), 409, 'OPERATION_FINAL')).operationStatus).toBe('REJECTED');
    const credential = await authenticator.assert(start.publicKey as never);
    expect((await expectProblem(await sdkFetch(op, 'finish', { credential }), 409, 'OPERATION_FINAL')).operationStatus).toBe('REJECTED');
    await expectProblem(await api(`/v1/operations/${op.id}/cancel`, { method: 'POST' }), 409, 'OPERATION_FINAL');
    expect((await getOperation(api, op.id)).status).toBe('REJECTED');
    expect(await storedCounter(authenticator.credentialId)).toBe(0);
  });

  it('API.md §1 (a final state never changes): rejecting a COMPLETED operation → 409 OPERATION_FINAL and it stays COMPLETED', async () => {
    const { api, userId, authenticator } = await enrolled();
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId });
    expect(finish.status).toBe(200);
    expect((await expectProblem(await sdkFetch(op, 'reject'), 409, 'OPERATION_FINAL')).operationStatus).toBe('COMPLETED');
    expect((await getOperation(api, op.id)).status).toBe('COMPLETED');
  });
});

describe('requireScaForNewDevice (PSD2 RTS art. 24(2)(b))', () => {
  it('PSD2 RTS art. 24(2)(b): a second device needs authorisedBy = a fresh COMPLETED AUTHENTICATION of the same user', async () => {
    const { api } = await setupTenant(); // requireScaForNewDevice defaults to true
    const user = await createUser(api);
    const other = await createUser(api);
    const first = await registerPasskey(api, user.id); // the first device needs no prior SCA
    const otherDevice = await registerPasskey(api, other.id);

    const registrations = (): Promise<number> => countRows('operations', "user_id = ?1 AND type = 'REGISTRATION'", user.id);
    const before = await registrations();
    const refused = async (body: Record<string, unknown>): Promise<void> => {
      await expectProblem(await api('/v1/operations', { method: 'POST', json: { type: 'REGISTRATION', userId: user.id, ...body } }), 409, 'SCA_REQUIRED');
      expect(await registrations()).toBe(before);
    };

    await refused({});
    await refused({ authorisedBy: 'op_doesnotexist0000000000000000' });
    // another user's COMPLETED AUTHENTICATION
    const otherAuth = await approve(api, otherDevice.authenticator, { type: 'AUTHENTICATION', userId: other.id });
    expect(otherAuth.finish.status).toBe(200);
    await refused({ authorisedBy: otherAuth.op.id });
    // a REJECTED AUTHENTICATION of the user
    const declined = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id });
    await sdkStart(declined);
    expect((await sdkFetch(declined, 'reject')).status).toBe(200);
    await refused({ authorisedBy: declined.id });
    // a still PENDING AUTHENTICATION
    const pending = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id });
    await refused({ authorisedBy: pending.id });
    // a COMPLETED AUTHORISATION is not an authentication for this purpose
    const payment = await approve(api, first.authenticator, {
      type: 'AUTHORISATION', userId: user.id, transaction: { amount: '1.00', currency: 'EUR', payee: { name: 'Shop' } },
    });
    expect(payment.finish.status).toBe(200);
    await refused({ authorisedBy: payment.op.id });

    const auth = await approve(api, first.authenticator, { type: 'AUTHENTICATION', userId: user.id });
    expect(auth.finish.status).toBe(200);
    const second = await registerPasskey(api, user.id, { authorisedBy: auth.op.id });
    expect(second.deviceId).not.toBe(first.deviceId);
    const list = await (await api(`/v1/users/${user.id}/devices`)).json<{ items: { id: string; status: string }[] }>();
    expect(list.items.map((d) => d.id).sort()).toEqual([first.deviceId, second.deviceId].sort());
    expect(list.items.every((d) => d.status === 'ACTIVE')).toBe(true);
  });

  it('PSD2 RTS art. 24(2)(b): an AUTHENTICATION completed more than 5 minutes ago no longer authorises a new device', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const first = await registerPasskey(api, user.id);
    const auth = await approve(api, first.authenticator, { type: 'AUTHENTICATION', userId: user.id });
    expect(auth.finish.status).toBe(200);
    // Backdate the history row: the route reads the completion time from D1.
    await env.DB.prepare('UPDATE operations SET completed_at = ?2 WHERE id = ?1').bind(auth.op.id, new Date(Date.now() - 6 * 60 * 1000).toISOString()).run();
    const res = await api('/v1/operations', { method: 'POST', json: { type: 'REGISTRATION', userId: user.id, authorisedBy: auth.op.id } });
    await expectProblem(res, 409, 'SCA_REQUIRED');
  });
});

describe('broadcast', () => {
  it('API.md §1 broadcast: without deviceId any active device may answer; the first to finish wins, the second gets 409 OPERATION_FINAL', async () => {
    const { api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const user = await createUser(api);
    const one = await registerPasskey(api, user.id);
    const two = await registerPasskey(api, user.id);

    const op = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id });
    expect(op.deviceId).toBeUndefined();
    const { publicKey } = await sdkStart(op);
    const allowed = (publicKey as { allowCredentials: { id: string }[] }).allowCredentials.map((c) => c.id).sort();
    expect(allowed).toEqual([one.authenticator.credentialId, two.authenticator.credentialId].sort());

    const fromOne = await one.authenticator.assert(publicKey as never);
    const fromTwo = await two.authenticator.assert(publicKey as never);
    const win = await sdkFetch(op, 'finish', { credential: fromTwo });
    expect(win.status, await win.clone().text()).toBe(200);
    const lose = await sdkFetch(op, 'finish', { credential: fromOne });
    expect((await expectProblem(lose, 409, 'OPERATION_FINAL')).operationStatus).toBe('COMPLETED');

    const done = await getOperation(api, op.id);
    expect(done.status).toBe('COMPLETED');
    expect(done.deviceId).toBe(two.deviceId);
    expect(done.result?.deviceId).toBe(two.deviceId);
    expect(await storedCounter(two.authenticator.credentialId)).toBe(1);
    expect(await storedCounter(one.authenticator.credentialId)).toBe(0);
    expect((await getDevice(api, one.deviceId)).failedAttempts).toBe(0);
  });

  it('API.md §1 broadcast (DESIGN: one result): two devices finishing at the same moment end in exactly one result', async () => {
    const { api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const user = await createUser(api);
    const one = await registerPasskey(api, user.id);
    const two = await registerPasskey(api, user.id);
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id });
    const { publicKey } = await sdkStart(op);
    const answers = [await one.authenticator.assert(publicKey as never), await two.authenticator.assert(publicKey as never)];
    const results = await Promise.all(answers.map((credential) => sdkFetch(op, 'finish', { credential })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses[0]).toBe(200);
    expect(statuses[1]).toBe(409);
    const done = await getOperation(api, op.id);
    expect(done.status).toBe('COMPLETED');
    const winner = done.result!.deviceId;
    expect([one.deviceId, two.deviceId]).toContain(winner);
    const counters = [await storedCounter(one.authenticator.credentialId), await storedCounter(two.authenticator.credentialId)];
    expect(counters.sort()).toEqual([0, 1]);
  });
});

describe('operation lifetime (PSD2 RTS art. 4(3)(d))', () => {
  it('PSD2 RTS art. 4(3)(d): an operation lives 300 s by default and ttlSeconds over 300 (or 0) is refused with nothing written', async () => {
    const { api, userId } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
    expect(Date.parse(op.expiresAt as string) - Date.parse(op.createdAt as string)).toBe(300_000);
    const before = await countRows('operations', 'user_id = ?1', userId);
    for (const ttlSeconds of [301, 0]) {
      const problem = await expectProblem(await api('/v1/operations', { method: 'POST', json: { type: 'AUTHENTICATION', userId, ttlSeconds } }), 400, 'VALIDATION_FAILED');
      expect(problem.invalidParams?.map((p) => p.name)).toContain('ttlSeconds');
    }
    expect(await countRows('operations', 'user_id = ?1', userId)).toBe(before);
  });

  it('PSD2 RTS art. 4(3)(d): once the expiry alarm fires the operation is EXPIRED and a valid assertion is refused', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId, ttlSeconds: 60 });
    const { publicKey } = await sdkStart(op);
    const credential = await authenticator.assert(publicKey as never);
    expect(await fireOperationTimer(op.id)).toBe(true);

    const expired = await getOperation(api, op.id);
    expect(expired.status).toBe('EXPIRED');
    expect(expired.failure).toEqual({ code: 'EXPIRED' });
    expect((await expectProblem(await sdkFetch(op, 'finish', { credential }), 409, 'OPERATION_FINAL')).operationStatus).toBe('EXPIRED');
    expect((await getDevice(api, deviceId)).failedAttempts).toBe(0);
    expect(await storedCounter(authenticator.credentialId)).toBe(0);
  });
});

describe('counters across overlapping operations', () => {
  it('WebAuthn §7.2 step 21: the counter is checked against the stored value at finish, not the one seen when the operation started', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const early = await startOperation(api, { type: 'AUTHENTICATION', userId });
    const earlyStart = await sdkStart(early);
    const { finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { counter: 5 } });
    expect(finish.status).toBe(200);
    expect(await storedCounter(authenticator.credentialId)).toBe(5);

    // A clone still at counter 2 answers the operation that was started before the last use.
    const res = await sdkFetch(early, 'finish', { credential: await authenticator.assert(earlyStart.publicKey as never, { counter: 2 }) });
    await expectRefused(api, res, { operationId: early.id, deviceId, failedBefore: 0, credentialId: authenticator.credentialId, counterBefore: 5 });
  });

  it('WebAuthn §7.2 step 21: two overlapping operations answered at once with the same counter (a clone) → exactly one completes', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const ops = [await startOperation(api, { type: 'AUTHENTICATION', userId }), await startOperation(api, { type: 'AUTHENTICATION', userId })];
    const credentials: unknown[] = [];
    for (const op of ops) credentials.push(await authenticator.assert((await sdkStart(op)).publicKey as never, { counter: 7 }));
    const results = await Promise.all(ops.map((op, i) => sdkFetch(op, 'finish', { credential: credentials[i] })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
    const statuses = await Promise.all(ops.map(async (op) => (await getOperation(api, op.id)).status));
    expect(statuses.sort()).toEqual(['COMPLETED', 'FAILED']);
    expect(await storedCounter(authenticator.credentialId)).toBe(7);
    expect((await getDevice(api, deviceId)).failedAttempts).toBe(1);
  });
});
