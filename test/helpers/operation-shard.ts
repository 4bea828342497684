// Test hooks on the OperationDO shard that holds an operation: its stored row, its timer, and firing it now.
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { changingPart, fixedPart, shardStub, snapshotOfRow } from '../../src/durable-objects/operation';
import type { OperationSnapshot } from '../../src/durable-objects/operation';

export function shardOfOperation(operationId: string) {
  return shardStub(env, operationId);
}

/** The operation as its shard stores it, its next timer, and the shard's alarm (null when none is set). */
export async function storedOperation(operationId: string): Promise<{ state: OperationSnapshot | null; dueAt: number | null; alarm: number | null; rows: number }> {
  return runInDurableObject(shardOfOperation(operationId), async (_instance, state) => {
    // The stored state as the shard reads it: the fixed part, the changing part over it (an intent kept in its column is left out).
    const row = state.storage.sql.exec<{ state: string; fixed: string | null; due_at: number }>('SELECT state, fixed, due_at FROM ops WHERE id = ?', operationId).toArray()[0];
    const rows = state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM ops WHERE id = ?', operationId).one().n;
    return { state: row ? snapshotOfRow({ ...row, intent: null }) : null, dueAt: row?.due_at ?? null, alarm: await state.storage.getAlarm(), rows };
  });
}

/**
 * Rewrites the stored state (e.g. to age it), fixed and changing part both; an `intent` in the result is kept in the
 * changing part, where the shard reads it too. The in-memory copy is dropped by evicting the shard afterwards.
 */
export async function rewriteStoredOperation(operationId: string, change: (op: OperationSnapshot) => OperationSnapshot): Promise<void> {
  await runInDurableObject(shardOfOperation(operationId), async (_instance, state) => {
    const row = state.storage.sql.exec<{ state: string; fixed: string | null }>('SELECT state, fixed FROM ops WHERE id = ?', operationId).one();
    const next = change(snapshotOfRow({ ...row, intent: null }));
    const changing = { ...changingPart(next), ...(next.intent ? { intent: next.intent } : {}) };
    state.storage.sql.exec('UPDATE ops SET state = ?2, fixed = ?3 WHERE id = ?1', operationId, JSON.stringify(changing), JSON.stringify(fixedPart(next)));
  });
}

/** The stored columns of an operation's row as they are: to check what the shard writes where. */
export async function storedColumns(operationId: string): Promise<{ state: string; fixed: string | null; intent: string | null } | null> {
  return runInDurableObject(shardOfOperation(operationId), async (_instance, state) => {
    return state.storage.sql.exec<{ state: string; fixed: string | null; intent: string | null }>('SELECT state, fixed, intent FROM ops WHERE id = ?', operationId).toArray()[0] ?? null;
  });
}

/** Puts a row back into the layout shards wrote before the fixed/changing split: the whole snapshot in `state`, `fixed` NULL. */
export async function storeInOldLayout(operationId: string): Promise<void> {
  await runInDurableObject(shardOfOperation(operationId), async (_instance, state) => {
    const row = state.storage.sql.exec<{ state: string; fixed: string | null }>('SELECT state, fixed FROM ops WHERE id = ?', operationId).one();
    state.storage.sql.exec('UPDATE ops SET state = ?2, fixed = NULL WHERE id = ?1', operationId, JSON.stringify(snapshotOfRow({ ...row, intent: null })));
  });
}

/**
 * Fires the operation's timer now, as if its due time had come: its row is made due and the shard's
 * alarm runs (the shard's own logic then decides: expire, keep, or forget). True if an alarm ran.
 */
export async function fireOperationTimer(operationId: string): Promise<boolean> {
  const shard = shardOfOperation(operationId);
  await runInDurableObject(shard, async (_instance, state) => {
    state.storage.sql.exec('UPDATE ops SET due_at = ?2 WHERE id = ?1', operationId, Date.now() - 1);
    await state.storage.setAlarm(Date.now() + 60_000);
  });
  return runDurableObjectAlarm(shard);
}
