-- Keys a local development run made for itself (no SIGNING_KEYS / E2E_KEYS configured), and each tenant's allowed
-- web origins (CORS for /sdk/v1 and the SDK bundle), indexed by origin because a preflight names no tenant.
CREATE TABLE local_keys (
  name TEXT PRIMARY KEY CHECK (name IN ('SIGNING_KEYS', 'E2E_KEYS')),
  value TEXT NOT NULL,
  created_at TEXT NOT NULL
);

-- NULL: the tenant's passkey origins are its allowed web origins (the default); otherwise a JSON array of origins.
ALTER TABLE tenants ADD COLUMN allowed_origins TEXT;

CREATE TABLE tenant_web_origins (
  origin TEXT NOT NULL,
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  PRIMARY KEY (origin, tenant_id)
) WITHOUT ROWID;
CREATE INDEX tenant_web_origins_tenant ON tenant_web_origins (tenant_id);

INSERT OR IGNORE INTO tenant_web_origins (origin, tenant_id)
  SELECT j.value, t.id FROM tenants AS t, json_each(t.origins) AS j;
