// Test hooks on the OperationDO shard that holds an operation: its stored row, its timer, and firing it now.
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { shardStub } from '../../src/durable-objects/operation';
import type { OperationSnapshot } from '../../src/durable-objects/operation';

export function shardOfOperation(operationId: string) {
  return shardStub(env, operationId);
}

/** The operation as its shard stores it, its next timer, and the shard's alarm (null when none is set). */
export async function storedOperation(operationId: string): Promise<{ state: OperationSnapshot | null; dueAt: number | null; alarm: number | null; rows: number }> {
  return runInDurableObject(shardOfOperation(operationId), async (_instance, state) => {
    const row = state.storage.sql.exec<{ state: string; due_at: number }>('SELECT state, due_at FROM ops WHERE id = ?', operationId).toArray()[0];
    const rows = state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM ops WHERE id = ?', operationId).one().n;
    return { state: row ? (JSON.parse(row.state) as OperationSnapshot) : null, dueAt: row?.due_at ?? null, alarm: await state.storage.getAlarm(), rows };
  });
}

/** Rewrites the stored state (e.g. to age it); the in-memory copy is dropped by evicting the shard afterwards. */
export async function rewriteStoredOperation(operationId: string, change: (op: OperationSnapshot) => OperationSnapshot): Promise<void> {
  await runInDurableObject(shardOfOperation(operationId), async (_instance, state) => {
    const row = state.storage.sql.exec<{ state: string }>('SELECT state FROM ops WHERE id = ?', operationId).one();
    state.storage.sql.exec('UPDATE ops SET state = ?2 WHERE id = ?1', operationId, JSON.stringify(change(JSON.parse(row.state) as OperationSnapshot)));
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
