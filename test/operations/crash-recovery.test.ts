// Crash safety of an operation's end: the intent written before the final D1 batch, reconciled with D1 after a restart.
import { env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { finishDigestOf } from '../../src/durable-objects/operation';
import type { OperationSnapshot } from '../../src/durable-objects/operation';
import type { FinalState } from '../../src/domain/operation';
import { countRows, expectProblem, sha256Hex } from '../helpers/api';
import { enrolled, getDevice, getOperation, sdkFetch, sdkStart, startOperation } from '../helpers/ceremony';
import { rewriteStoredOperation, shardOfOperation, storedColumns, storedOperation } from '../helpers/operation-shard';

async function historyRow(id: string): Promise<{ status: string; completed_at: string | null } | null> {
  return env.DB.prepare('SELECT status, completed_at FROM operations WHERE id = ?1').bind(id).first();
}

async function auditActions(operationId: string): Promise<string[]> {
  const rows = await env.DB.prepare("SELECT action FROM audit_events WHERE target_id = ?1 AND target_type = 'operation' ORDER BY seq").bind(operationId).all<{ action: string }>();
  return rows.results.map((r) => r.action);
}

/** Puts the shard's stored copy back to where a process killed between the D1 commit and the Durable Object's save left it. */
async function rewindToIntent(operationId: string, intent: NonNullable<OperationSnapshot['intent']>): Promise<void> {
  await rewriteStoredOperation(operationId, (stored) => {
    const { result: _result, failure: _failure, completedAt: _completedAt, ...live } = stored;
    return { ...live, status: 'IN_PROGRESS', intent };
  });
  await evictDurableObject(shardOfOperation(operationId));
}

/** A user with a passkey and an AUTHENTICATION its device finished: the request, its answer, and what D1 and the audit hold. */
async function completedAuthentication() {
  const { api, userId, authenticator, deviceId } = await enrolled();
  const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
  const { publicKey } = await sdkStart(op);
  const body = { credential: await authenticator.assert(publicKey as never) };
  const first = await sdkFetch(op, 'finish', body);
  expect(first.status).toBe(200);
  const answer: unknown = await first.json();
  return { api, authenticator, deviceId, op, publicKey, body, answer, completed: await getOperation(api, op.id), auditBefore: await auditActions(op.id) };
}

describe('crash between the final D1 batch and the Durable Object save', () => {
  it('the batch committed: the device’s identical retry gets the same 200, the state is COMPLETED with its token, nothing counted twice', async () => {
    const { api, authenticator, deviceId, op, publicKey, body, answer, completed, auditBefore } = await completedAuthentication();
    const eventsBefore = await countRows('events');

    // What the intent held at the crash: the final state and the digest of the request whose answer was lost.
    const digest = await finishDigestOf({ caller: { kind: 'sdk', tokenHash: await sha256Hex(op.sdk.token) }, body: JSON.parse(JSON.stringify(body)) });
    await rewindToIntent(op.id, { status: 'COMPLETED', completedAt: completed.completedAt!, result: completed.result as NonNullable<OperationSnapshot['result']>, finishDigest: digest });
    expect((await storedOperation(op.id)).state?.status).toBe('IN_PROGRESS');

    // The honest device retries exactly what it sent: same answer, no COUNTER_REGRESSION, no failed attempt.
    const retry = await sdkFetch(op, 'finish', body);
    expect(retry.status, await retry.clone().text()).toBe(200);
    expect(await retry.json()).toEqual(answer);
    const after = await getOperation(api, op.id);
    expect(after).toEqual(completed);
    expect(after.result?.token).toBe(completed.result?.token);
    expect((await getDevice(api, deviceId)).failedAttempts).toBe(0);
    expect(await auditActions(op.id)).toEqual(auditBefore);
    expect(auditBefore.filter((a) => a === 'operation.completed')).toHaveLength(1);
    expect(await countRows('events')).toBe(eventsBefore);
    expect((await storedOperation(op.id)).state).not.toHaveProperty('intent');

    // Single use still holds for anything but that very request.
    const fresh = { credential: await authenticator.assert(publicKey as never) };
    await expectProblem(await sdkFetch(op, 'finish', fresh), 409, 'OPERATION_FINAL');
  });

  it('killed after the commit and the shard’s final save, before the answer left: the identical retry still gets the same 200', async () => {
    // What the crash suite (test/crash) found on disk after a SIGKILL ~10 ms into a finish: D1 COMPLETED, the shard's copy
    // COMPLETED without an intent, the event recorded but not handed over, and the device without its answer.
    const { api, authenticator, deviceId, op, publicKey, body, answer, completed, auditBefore } = await completedAuthentication();
    await evictDurableObject(shardOfOperation(op.id));

    // The shard cannot tell an answer that left from one that died with the process: the same request gets the same answer.
    const retry = await sdkFetch(op, 'finish', body);
    expect(retry.status, await retry.clone().text()).toBe(200);
    expect(await retry.json()).toEqual(answer);
    expect(await getOperation(api, op.id)).toEqual(completed);
    expect((await getDevice(api, deviceId)).failedAttempts).toBe(0);
    expect(await auditActions(op.id)).toEqual(auditBefore);

    // Single use still holds for anything but that very request.
    const fresh = { credential: await authenticator.assert(publicKey as never) };
    await expectProblem(await sdkFetch(op, 'finish', fresh), 409, 'OPERATION_FINAL');
  });

  it('the batch committed and the relying party asks first: status reconciles to COMPLETED without any device call', async () => {
    const { api, userId, authenticator } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
    const { publicKey } = await sdkStart(op);
    expect((await sdkFetch(op, 'finish', { credential: await authenticator.assert(publicKey as never) })).status).toBe(200);
    const completed = await getOperation(api, op.id);
    await rewindToIntent(op.id, { status: 'COMPLETED', completedAt: completed.completedAt!, result: completed.result as NonNullable<OperationSnapshot['result']> });
    expect(await getOperation(api, op.id)).toEqual(completed);
  });

  it('the batch never committed: the intent is dropped, the operation is live, and the device finishes it normally', async () => {
    const { api, userId, authenticator } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
    const { publicKey } = await sdkStart(op);
    await rewindToIntent(op.id, { status: 'COMPLETED', completedAt: new Date().toISOString() });
    expect((await historyRow(op.id))?.status).toBe('PENDING');

    const status = await getOperation(api, op.id);
    expect(status.status).toBe('IN_PROGRESS');
    expect((await storedOperation(op.id)).state).not.toHaveProperty('intent');
    const finish = await sdkFetch(op, 'finish', { credential: await authenticator.assert(publicKey as never) });
    expect(finish.status, await finish.clone().text()).toBe(200);
    expect((await getOperation(api, op.id)).status).toBe('COMPLETED');
    expect((await auditActions(op.id)).filter((a) => a === 'operation.completed')).toHaveLength(1);
  });

  it('a final state never changes in D1: a copy that missed a commit adopts it instead of writing a second outcome', async () => {
    const { api, userId, authenticator, deviceId } = await enrolled();
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId });
    const { publicKey } = await sdkStart(op);
    // D1 already says CANCELLED (as a lost commit would have left it); the shard's copy knows nothing of it.
    const at = new Date().toISOString();
    await env.DB.prepare("UPDATE operations SET status = 'CANCELLED', completed_at = ?2, failure_code = 'DEVICE_LOCKED' WHERE id = ?1").bind(op.id, at).run();
    const counterBefore = await env.DB.prepare('SELECT counter FROM credentials WHERE device_id = ?1').bind(deviceId).first<{ counter: number }>();

    const finish = await sdkFetch(op, 'finish', { credential: await authenticator.assert(publicKey as never) });
    expect(finish.status).not.toBe(200);
    expect(await historyRow(op.id)).toEqual({ status: 'CANCELLED', completed_at: at });
    const status = await getOperation(api, op.id);
    expect(status.status).toBe('CANCELLED');
    expect(status.failure).toEqual({ code: 'DEVICE_LOCKED' });
    expect(status).not.toHaveProperty('result');
    expect(await auditActions(op.id)).not.toContain('operation.completed');
    expect(await env.DB.prepare('SELECT counter FROM credentials WHERE device_id = ?1').bind(deviceId).first<{ counter: number }>()).toEqual(counterBefore);
  });
  it('a row of the old layout (whole snapshot in state, fixed NULL) with its intent column set reconciles the same way, and is split by that save', async () => {
    const { api, op, completed, auditBefore } = await completedAuthentication();
    const intent: FinalState = { status: 'COMPLETED', completedAt: completed.completedAt!, result: completed.result as NonNullable<OperationSnapshot['result']> };
    // What a shard of the old layout held between its writeIntent and the commit's save.
    await rewriteStoredOperation(op.id, (stored) => {
      const { result: _result, failure: _failure, completedAt: _completedAt, finishDigest: _finishDigest, ...live } = stored;
      return { ...live, status: 'IN_PROGRESS' };
    });
    await runInDurableObject(shardOfOperation(op.id), async (_instance, state) => {
      const row = state.storage.sql.exec<{ state: string; fixed: string }>('SELECT state, fixed FROM ops WHERE id = ?', op.id).one();
      const whole = { ...(JSON.parse(row.fixed) as object), ...(JSON.parse(row.state) as object) };
      state.storage.sql.exec('UPDATE ops SET state = ?2, fixed = NULL, intent = ?3 WHERE id = ?1', op.id, JSON.stringify(whole), JSON.stringify(intent));
    });
    await evictDurableObject(shardOfOperation(op.id));

    expect(await getOperation(api, op.id)).toEqual(completed);
    expect(await auditActions(op.id)).toEqual(auditBefore);
    const split = await storedColumns(op.id);
    expect(split?.fixed).not.toBeNull();
    expect(split?.intent).toBeNull();
    expect(JSON.parse(split!.state)).toMatchObject({ status: 'COMPLETED', completedAt: completed.completedAt });
    await evictDurableObject(shardOfOperation(op.id));
    expect(await getOperation(api, op.id)).toEqual(completed);
  });
});
