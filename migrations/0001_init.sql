-- Custos schema v1: tenants, API clients, users and attributes, devices and credentials,
-- operation history, the hash-chained audit log and idempotency records.

CREATE TABLE tenants (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  rp_id         TEXT NOT NULL,
  rp_name       TEXT NOT NULL,
  origins       TEXT NOT NULL,           -- JSON array of allowed WebAuthn origins
  branding      TEXT NOT NULL DEFAULT '{}',
  policy        TEXT NOT NULL,           -- JSON TenantPolicy (defaults filled in)
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);

CREATE TABLE api_clients (
  id            TEXT PRIMARY KEY,        -- client_id
  tenant_id     TEXT NOT NULL REFERENCES tenants(id),
  name          TEXT NOT NULL,
  secret_hash   TEXT NOT NULL,           -- SHA-256 (hex) of the client secret
  scopes        TEXT NOT NULL,           -- space separated
  created_at    TEXT NOT NULL,
  revoked_at    TEXT
);
CREATE INDEX api_clients_tenant ON api_clients(tenant_id, id);

CREATE TABLE access_tokens (
  token_hash    TEXT PRIMARY KEY,        -- SHA-256 (hex) of the bearer token
  client_id     TEXT NOT NULL REFERENCES api_clients(id),
  tenant_id     TEXT NOT NULL,
  scopes        TEXT NOT NULL,
  expires_at    INTEGER NOT NULL         -- epoch seconds
);
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);

CREATE TABLE users (
  id            TEXT PRIMARY KEY,        -- time-ordered, so id order is creation order
  tenant_id     TEXT NOT NULL REFERENCES tenants(id),
  external_ref  TEXT,
  status        TEXT NOT NULL CHECK (status IN ('ACTIVE','LOCKED','DEACTIVATED')),
  lock_reason   TEXT,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX users_tenant_external_ref ON users(tenant_id, external_ref) WHERE external_ref IS NOT NULL;
CREATE INDEX users_tenant_id ON users(tenant_id, id);

CREATE TABLE user_attributes (
  user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  tenant_id     TEXT NOT NULL,
  key           TEXT NOT NULL,
  value         TEXT NOT NULL,
  PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
-- Look a user up by an attribute value (e.g. email) with one index probe.
CREATE INDEX user_attributes_lookup ON user_attributes(tenant_id, key, value);

CREATE TABLE devices (
  id              TEXT PRIMARY KEY,
  tenant_id       TEXT NOT NULL,
  user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  kind            TEXT NOT NULL CHECK (kind IN ('PASSKEY','NATIVE')),
  status          TEXT NOT NULL CHECK (status IN ('ACTIVE','LOCKED','DEACTIVATED')),
  lock_reason     TEXT,
  name            TEXT NOT NULL,
  rp_id           TEXT,                  -- the rpId the passkey is scoped to
  aaguid          TEXT,
  backup_eligible INTEGER NOT NULL DEFAULT 0,
  backed_up       INTEGER NOT NULL DEFAULT 0,
  transports      TEXT,                  -- JSON array
  device_key_jwk  TEXT,                  -- P-256 public JWK bound at registration (device proofs, native)
  failed_attempts INTEGER NOT NULL DEFAULT 0,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  last_used_at    TEXT
);
CREATE INDEX devices_user ON devices(tenant_id, user_id, id);

CREATE TABLE credentials (
  tenant_id     TEXT NOT NULL,
  id            TEXT NOT NULL,           -- WebAuthn credential id, base64url
  device_id     TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  user_id       TEXT NOT NULL,
  public_key    TEXT NOT NULL,           -- COSE public key, base64url
  public_key_jwk TEXT NOT NULL,          -- the same key as JWK, for evidence
  counter       INTEGER NOT NULL DEFAULT 0,
  created_at    TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX credentials_device ON credentials(device_id);

-- History of operations; the live state is owned by the operation's Durable Object.
CREATE TABLE operations (
  id            TEXT PRIMARY KEY,
  tenant_id     TEXT NOT NULL,
  user_id       TEXT NOT NULL,
  device_id     TEXT,                    -- the named device, or the one that completed it
  type          TEXT NOT NULL,
  status        TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  expires_at    TEXT NOT NULL,
  completed_at  TEXT,
  failure_code  TEXT,
  summary       TEXT                     -- JSON: context, transaction(s), document digest
);
CREATE INDEX operations_device ON operations(tenant_id, device_id, id);
CREATE INDEX operations_user ON operations(tenant_id, user_id, id);

-- Append-only, hash-chained per tenant: hash = SHA-256(prev_hash ‖ JCS(entry)).
CREATE TABLE audit_events (
  tenant_id     TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  id            TEXT NOT NULL,
  at            TEXT NOT NULL,
  actor         TEXT NOT NULL,
  action        TEXT NOT NULL,
  target_type   TEXT NOT NULL,
  target_id     TEXT NOT NULL,
  user_id       TEXT,
  data          TEXT NOT NULL DEFAULT '{}',
  prev_hash     TEXT NOT NULL,
  hash          TEXT NOT NULL,
  PRIMARY KEY (tenant_id, seq)
) WITHOUT ROWID;
CREATE INDEX audit_events_user ON audit_events(tenant_id, user_id, seq);

CREATE TABLE idempotency_keys (
  client_id     TEXT NOT NULL,
  key           TEXT NOT NULL,
  request_hash  TEXT NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('PROCESSING','DONE')),
  status        INTEGER,
  headers       TEXT,
  body          TEXT,
  created_at    INTEGER NOT NULL,        -- epoch seconds; rows older than 24 h are ignored and replaced
  PRIMARY KEY (client_id, key)
) WITHOUT ROWID;

-- At most 100 attributes per user, enforced where concurrent patches cannot race past it.
CREATE TRIGGER user_attributes_limit BEFORE INSERT ON user_attributes
WHEN (SELECT COUNT(*) FROM user_attributes WHERE user_id = NEW.user_id) >= 100
BEGIN
  SELECT RAISE(ABORT, 'ATTRIBUTE_LIMIT');
END;
