// Reading an operation as GET /v1/operations/{id} shows it: the live view from its Durable Object, else the D1 history row.
import type { Bindings } from '../env';
import { isId } from '../domain/ids';
import { operationStub } from '../durable-objects/operation';
import type { OperationView } from '../schemas/operations';

interface HistoryRow {
  id: string;
  tenant_id: string;
  user_id: string;
  device_id: string | null;
  type: OperationView['type'];
  status: OperationView['status'];
  created_at: string;
  expires_at: string;
  completed_at: string | null;
  failure_code: string | null;
  summary: string | null;
}

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
  const row = await env.DB.prepare('SELECT * FROM operations WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, operationId).first<HistoryRow>();
  return row ? historyView(row) : null;
}
