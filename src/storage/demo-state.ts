// The demo relying party's one row (demo_state, local development only): its tenant and API client.

export interface DemoState {
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

interface DemoStateRow {
  tenant_id: string;
  client_id: string;
  client_secret: string;
}

export async function readDemoState(db: D1Database): Promise<DemoState | null> {
  const row = await db.prepare('SELECT tenant_id, client_id, client_secret FROM demo_state WHERE id = 1').first<DemoStateRow>();
  return row ? { tenantId: row.tenant_id, clientId: row.client_id, clientSecret: row.client_secret } : null;
}

/** Keeps the first state written: two first calls at once both create a tenant, and only one is remembered. */
export async function saveDemoStateOnce(db: D1Database, state: DemoState, at: string): Promise<void> {
  await db
    .prepare('INSERT OR IGNORE INTO demo_state (id, tenant_id, client_id, client_secret, created_at) VALUES (1, ?1, ?2, ?3, ?4)')
    .bind(state.tenantId, state.clientId, state.clientSecret, at)
    .run();
}
