// Reading an operation as GET /v1/operations/{id} shows it: the live view from its Durable Object, else the D1 history row.
import type { Bindings } from '../env';
import { isId } from '../domain/ids';
import { operationStub } from '../durable-objects/operation';
import type { OperationView } from '../schemas/operations';
import { getHistoryRow } from '../storage/operations';
import type { HistoryRow } from '../storage/operations';

export function historyView(row: HistoryRow): OperationView {
  const summary = row.summary ? (JSON.parse(row.summary) as Partial<OperationView>) : {};
  return {
    id: row.id, type: row.type, status: row.status, userId: row.user_id,
    ...(row.device_id ? { deviceId: row.device_id } : {}),
    createdAt: row.created_at, expiresAt: row.expires_at,
    ...(row.completed_at ? { completedAt: row.completed_at } : {}),
    ...summary,
    ...(row.failure_code ? { failure: { code: row.failure_code } } : {}),
  };
}

/** The tenant's operation, or null when it has none by this id; `waitSeconds` (≤ 30) long-polls until it is final. */
export async function readOperation(env: Pick<Bindings, 'OPERATIONS' | 'DB'>, tenantId: string, operationId: string, options: { waitSeconds?: number | undefined } = {}): Promise<OperationView | null> {
  if (!isId(operationId, 'op')) return null;
  const live = (await operationStub(env, operationId).status({ tenantId, ...(options.waitSeconds !== undefined ? { waitSeconds: options.waitSeconds } : {}) })) as OperationView | null;
  if (live) return live;
  // The object forgets a final operation after a day; the history row remains.
  const row = await getHistoryRow(env.DB, tenantId, operationId);
  return row ? historyView(row) : null;
}
