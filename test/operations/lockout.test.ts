// Lockout (PSD2 RTS art. 4(3)(b)): consecutive failures lock a device, unlock and success reset the count, failures all look alike, blocked users and devices complete nothing.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Api, Problem } from '../helpers/api';
import { adminFetch, countRows, expectProblem } from '../helpers/api';
import { approve, createUser, enrolled, getDevice, getOperation, newAuthenticator, registerPasskey, relinked, sdkFetch, sdkStart, startOperation, storedCounter, ORIGIN } from '../helpers/ceremony';
import type { DeviceJson } from '../helpers/ceremony';
import type { Knobs, SoftAuthenticator } from '../helpers/soft-authenticator';

interface AuditEventJson {
  action: string;
  actor: string;
  targetId: string;
  data: Record<string, unknown>;
}

async function auditOf(api: Api, userId: string): Promise<AuditEventJson[]> {
  const res = await api(`/v1/audit-events?userId=${userId}&limit=100`);
  expect(res.status).toBe(200);
  return (await res.json<{ items: AuditEventJson[] }>()).items;
}

/** One failed AUTHENTICATION (UV=0 unless other knobs are given); returns the refusal's problem body. */
async function failOnce(api: Api, authenticator: SoftAuthenticator, userId: string, knobs: Knobs = { uv: false }): Promise<Problem> {
  const { finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs });
  return expectProblem(finish, 400, 'VERIFICATION_FAILED');
}

async function succeedOnce(api: Api, authenticator: SoftAuthenticator, userId: string): Promise<void> {
  const { op, finish } = await approve(api, authenticator, { type: 'AUTHENTICATION', userId });
  expect(finish.status, await finish.clone().text()).toBe(200);
  expect((await getOperation(api, op.id)).status).toBe('COMPLETED');
}

describe('PSD2 RTS art. 4(3)(b): lock after maxFailedAttempts consecutive failures', () => {
  it('PSD2 RTS art. 4(3)(b): five failures lock the device (TOO_MANY_FAILED_ATTEMPTS, audit device.locked) and a sixth, valid assertion is refused', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    await succeedOnce(api, authenticator, userId); // stored counter 1, so that counter 0 is a regression
    // Started before the lockout and answered validly after it.
    const inflight = await startOperation(api, { type: 'AUTHENTICATION', userId, deviceId });
    const inflightStart = await sdkStart(inflight);

    const impostor = await newAuthenticator();
    const causes: Knobs[] = [{ uv: false }, { origin: 'https://evil.example' }, { signWith: impostor }, { counter: 0 }, { rpId: 'evil.example' }];
    for (const [i, knobs] of causes.entries()) {
      await failOnce(api, authenticator, userId, knobs);
      const device = await getDevice(api, deviceId);
      expect(device.failedAttempts).toBe(i + 1);
      expect(device.status).toBe(i + 1 < 5 ? 'ACTIVE' : 'LOCKED');
    }
    const locked = await getDevice(api, deviceId);
    expect(locked.lockReason).toBe('TOO_MANY_FAILED_ATTEMPTS');
    const lockEvents = (await auditOf(api, userId)).filter((e) => e.action === 'device.locked');
    expect(lockEvents).toHaveLength(1);
    expect(lockEvents[0]).toMatchObject({ actor: 'system', targetId: deviceId, data: { reason: 'TOO_MANY_FAILED_ATTEMPTS', failedAttempts: 5 } });

    // The sixth attempt is a perfectly valid assertion: still refused, nothing completes, the counter stays.
    const counter = await storedCounter(authenticator.credentialId);
    const valid = await authenticator.assert(inflightStart.publicKey as never);
    const refused = await sdkFetch(inflight, 'finish', { credential: valid });
    expect(refused.status).toBe(409);
    expect((await refused.json<Problem>()).code).toBe('DEVICE_NOT_ACTIVE');
    const after = await getOperation(api, inflight.id);
    expect(after.status).toBe('CANCELLED');
    expect(after.result).toBeUndefined();
    expect(await storedCounter(authenticator.credentialId)).toBe(counter);

    // No new operation can reach the locked device, and nothing is written for the refusals.
    const rows = await countRows('operations', 'user_id = ?1', userId);
    const named = await expectProblem(await api('/v1/operations', { method: 'POST', json: { type: 'AUTHENTICATION', userId, deviceId } }), 409, 'DEVICE_LOCKED');
    expect(named.lockReason).toBe('TOO_MANY_FAILED_ATTEMPTS');
    await expectProblem(await api('/v1/operations', { method: 'POST', json: { type: 'AUTHENTICATION', userId } }), 409, 'NO_ACTIVE_DEVICE');
    await expectProblem(
      await api('/v1/operations', { method: 'POST', json: { type: 'AUTHORISATION', userId, transaction: { amount: '1.00', currency: 'EUR', payee: { name: 'P' } } } }),
      409,
      'NO_ACTIVE_DEVICE',
    );
    expect(await countRows('operations', 'user_id = ?1', userId)).toBe(rows);
    expect((await getDevice(api, deviceId)).failedAttempts).toBe(5);
  });

  it('PSD2 RTS art. 4(3)(b): POST /v1/devices/{id}/unlock resets failedAttempts to 0 and a valid assertion then completes', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    for (let i = 0; i < 5; i++) await failOnce(api, authenticator, userId);
    expect((await getDevice(api, deviceId)).status).toBe('LOCKED');

    const res = await api(`/v1/devices/${deviceId}/unlock`, { method: 'POST' });
    expect(res.status, await res.clone().text()).toBe(200);
    const unlocked = await res.json<DeviceJson>();
    expect(unlocked).toMatchObject({ id: deviceId, status: 'ACTIVE', failedAttempts: 0 });
    expect(unlocked.lockReason).toBeUndefined();
    expect(await getDevice(api, deviceId)).toMatchObject({ status: 'ACTIVE', failedAttempts: 0 });

    await succeedOnce(api, authenticator, userId);
    expect((await getDevice(api, deviceId)).failedAttempts).toBe(0);
    // The count starts again from zero: one failure is one, not six.
    await failOnce(api, authenticator, userId);
    expect(await getDevice(api, deviceId)).toMatchObject({ status: 'ACTIVE', failedAttempts: 1 });
  });

  it('PSD2 RTS art. 4(3)(b): failures must be consecutive — 2 failures then 1 success → failedAttempts 0, and 4 more do not lock', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    await failOnce(api, authenticator, userId);
    await failOnce(api, authenticator, userId);
    expect((await getDevice(api, deviceId)).failedAttempts).toBe(2);
    await succeedOnce(api, authenticator, userId);
    expect((await getDevice(api, deviceId)).failedAttempts).toBe(0);
    for (let i = 0; i < 4; i++) await failOnce(api, authenticator, userId);
    expect(await getDevice(api, deviceId)).toMatchObject({ status: 'ACTIVE', failedAttempts: 4 });
  });

  it('PSD2 RTS art. 4(3)(b): tenant maxFailedAttempts 2 locks after the second failure', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled({ maxFailedAttempts: 2 });
    await failOnce(api, authenticator, userId);
    expect(await getDevice(api, deviceId)).toMatchObject({ status: 'ACTIVE', failedAttempts: 1 });
    await failOnce(api, authenticator, userId);
    expect(await getDevice(api, deviceId)).toMatchObject({ status: 'LOCKED', lockReason: 'TOO_MANY_FAILED_ATTEMPTS', failedAttempts: 2 });
    await expectProblem(await api('/v1/operations', { method: 'POST', json: { type: 'AUTHENTICATION', userId } }), 409, 'NO_ACTIVE_DEVICE');
  });

  it('PSD2 RTS art. 4(3)(b): tenant maxFailedAttempts 1 locks on the first failure', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled({ maxFailedAttempts: 1 });
    await failOnce(api, authenticator, userId);
    expect(await getDevice(api, deviceId)).toMatchObject({ status: 'LOCKED', lockReason: 'TOO_MANY_FAILED_ATTEMPTS', failedAttempts: 1 });
  });

  it('PSD2 RTS art. 4(3)(b): a tenant cannot allow more than 5 (or fewer than 1) failed attempts', async () => {
    const tenants = await countRows('tenants');
    for (const maxFailedAttempts of [6, 0]) {
      const res = await adminFetch('/admin/v1/tenants', {
        method: 'POST', json: { name: 'Lax', rpId: 'localhost', origins: [ORIGIN], policy: { maxFailedAttempts } },
      });
      await expectProblem(res, 400, 'VALIDATION_FAILED');
    }
    expect(await countRows('tenants')).toBe(tenants);
  });
});

describe('PSD2: a failed verification says no more than VERIFICATION_FAILED', () => {
  it('PSD2: every cause of failure answers the same problem body (code, type, title, detail, members)', async () => {
    // A dozen operations for one user within a minute: above the default maxStartsPerUserPerMinute (10).
    const { api, userId, authenticator, deviceId } = await enrolled({ maxStartsPerUserPerMinute: 100 });
    const otherUser = await createUser(api);
    const stranger = await registerPasskey(api, otherUser.id);
    const impostor = await newAuthenticator();
    const payment = { amount: '10.00', currency: 'EUR', payee: { name: 'Shop' } };
    await succeedOnce(api, authenticator, userId); // stored counter 1, so that counter 0 is a regression

    // Each cause leaves the device unlocked again, so that the next one reaches verification.
    const unlock = async (): Promise<void> => {
      expect((await api(`/v1/devices/${deviceId}/unlock`, { method: 'POST' })).status).toBe(200);
    };
    const bodies: Record<string, Problem> = {};
    const record = async (cause: string, res: Response): Promise<void> => {
      bodies[cause] = await expectProblem(res, 400, 'VERIFICATION_FAILED');
      await unlock();
    };

    await record('UV=0', (await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { uv: false } })).finish);
    await record('wrong origin', (await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { origin: 'https://evil.example' } })).finish);
    await record('wrong signer', (await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { signWith: impostor } })).finish);
    await record('counter regression', (await approve(api, authenticator, { type: 'AUTHENTICATION', userId }, { knobs: { counter: 0 } })).finish);
    {
      const op = await startOperation(api, { type: 'AUTHORISATION', userId, transaction: payment });
      const { publicKey } = await sdkStart(op);
      const challenge = (publicKey as { challenge: string }).challenge;
      const tampered = await relinked(challenge, { ...payment, amount: '10.01' });
      await record('amount tampered', await sdkFetch(op, 'finish', { credential: await authenticator.assert(publicKey as never, { challenge: tampered }) }));
    }
    {
      const op = await startOperation(api, { type: 'AUTHENTICATION', userId, numberMatching: true });
      const start = await sdkStart(op);
      const wrong = (start.operation.numberMatchChoices as string[]).find((c) => c !== op.numberMatch)!;
      await record('wrong number', await sdkFetch(op, 'finish', { credential: await authenticator.assert(start.publicKey as never), numberMatch: wrong }));
    }
    {
      const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
      const { publicKey } = await sdkStart(op);
      await record('foreign credential', await sdkFetch(op, 'finish', { credential: await stranger.authenticator.assert(publicKey as never, { skipClientChecks: true }) }));
    }
    {
      const first = await approve(api, authenticator, { type: 'AUTHENTICATION', userId });
      expect(first.finish.status).toBe(200);
      const replayed = await authenticator.assert(first.start.publicKey as never);
      const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
      await sdkStart(op);
      await record('replayed assertion', await sdkFetch(op, 'finish', { credential: replayed }));
    }
    {
      const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
      await sdkStart(op);
      await record('garbage credential', await sdkFetch(op, 'finish', { credential: { id: authenticator.credentialId, rawId: authenticator.credentialId, type: 'public-key', response: {} } }));
    }

    const shapes = Object.entries(bodies).map(([cause, body]) => {
      const { traceId, ...rest } = body;
      expect(traceId, cause).toEqual(expect.any(String));
      return { cause, rest };
    });
    expect(shapes).toHaveLength(9);
    const reference = shapes[0]!.rest;
    expect(reference).toMatchObject({ status: 400, code: 'VERIFICATION_FAILED' });
    for (const { cause, rest } of shapes) expect(rest, cause).toEqual(reference);
  });
});

describe('a blocked user or device completes nothing, even mid-flight', () => {
  it('PSD2 / API.md §1: locking the user cancels the in-flight operation; the valid assertion then gets 409 OPERATION_FINAL', async () => {
    const { api, userId, authenticator } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
    const { publicKey } = await sdkStart(op);
    const credential = await authenticator.assert(publicKey as never);
    expect((await api(`/v1/users/${userId}/lock`, { method: 'POST', json: { reason: 'fraud suspected' } })).status).toBe(200);
    expect((await getOperation(api, op.id)).status).toBe('CANCELLED');
    expect((await expectProblem(await sdkFetch(op, 'finish', { credential }), 409, 'OPERATION_FINAL')).operationStatus).toBe('CANCELLED');
    expect(await storedCounter(authenticator.credentialId)).toBe(0);
  });

  it('PSD2: a user locked behind the operation\'s back (no cancellation reached it) still cannot complete it: 409 USER_NOT_ACTIVE', async () => {
    const { api, userId, authenticator } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
    const { publicKey } = await sdkStart(op);
    await env.DB.prepare("UPDATE users SET status = 'LOCKED' WHERE id = ?1").bind(userId).run();
    const res = await sdkFetch(op, 'finish', { credential: await authenticator.assert(publicKey as never) });
    expect((await expectProblem(res, 409, 'USER_NOT_ACTIVE')).operationStatus).toBe('CANCELLED');
    const after = await getOperation(api, op.id);
    expect(after).toMatchObject({ status: 'CANCELLED', failure: { code: 'USER_NOT_ACTIVE' } });
    expect(after.result).toBeUndefined();
    expect(await storedCounter(authenticator.credentialId)).toBe(0);
  });

  it('PSD2 / API.md §1: locking the named device cancels its in-flight operation; the valid assertion then gets 409 OPERATION_FINAL', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId, deviceId });
    const { publicKey } = await sdkStart(op);
    const credential = await authenticator.assert(publicKey as never);
    expect((await api(`/v1/devices/${deviceId}/lock`, { method: 'POST', json: {} })).status).toBe(200);
    expect((await getOperation(api, op.id)).status).toBe('CANCELLED');
    await expectProblem(await sdkFetch(op, 'finish', { credential }), 409, 'OPERATION_FINAL');
    expect(await storedCounter(authenticator.credentialId)).toBe(0);
  });

  it('PSD2: a broadcast operation survives a device lock, but the locked device\'s valid assertion cannot complete it', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
    const { publicKey } = await sdkStart(op);
    const credential = await authenticator.assert(publicKey as never);
    expect((await api(`/v1/devices/${deviceId}/lock`, { method: 'POST', json: {} })).status).toBe(200);
    const res = await sdkFetch(op, 'finish', { credential });
    expect((await expectProblem(res, 409, 'DEVICE_NOT_ACTIVE')).operationStatus).toBe('CANCELLED');
    const after = await getOperation(api, op.id);
    expect(after).toMatchObject({ status: 'CANCELLED', failure: { code: 'DEVICE_NOT_ACTIVE' } });
    expect(after.result).toBeUndefined();
    expect(await storedCounter(authenticator.credentialId)).toBe(0);
  });
});

describe('PSD2 RTS art. 4(3)(b) under concurrency', () => {
  it('PSD2 RTS art. 4(3)(b): five failures finished at the same time still count five and lock the device once', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const ops = await Promise.all(Array.from({ length: 5 }, () => startOperation(api, { type: 'AUTHENTICATION', userId })));
    const bodies: { credential: unknown }[] = [];
    for (const op of ops) bodies.push({ credential: await authenticator.assert((await sdkStart(op)).publicKey as never, { uv: false }) });
    const results = await Promise.all(ops.map((op, i) => sdkFetch(op, 'finish', bodies[i])));
    for (const res of results) await expectProblem(res, 400, 'VERIFICATION_FAILED');
    expect(await getDevice(api, deviceId)).toMatchObject({ status: 'LOCKED', lockReason: 'TOO_MANY_FAILED_ATTEMPTS', failedAttempts: 5 });
    expect((await auditOf(api, userId)).filter((e) => e.action === 'device.locked')).toHaveLength(1);
  });
});
