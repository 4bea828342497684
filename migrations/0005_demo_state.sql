-- Demo relying party (DEMO=true only, src/routes/demo.ts): the "Demo Bank" tenant and API client the demo backend acts as.
-- One row. The client secret is kept in plain text because the demo backend must present it; this table is only
-- ever written when DEMO=true (local development), never in production.
CREATE TABLE demo_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  tenant_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  client_secret TEXT NOT NULL,
  created_at TEXT NOT NULL
);
