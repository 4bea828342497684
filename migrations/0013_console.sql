-- The browser console (docs/console.md): its administrators, their passkeys, sessions, invitations and the
-- challenges of their passkey ceremonies. Every secret (session id, invitation token, challenge) is stored as SHA-256 only.
CREATE TABLE console_admins (
  id          TEXT PRIMARY KEY,                          -- adm_<random>
  name        TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('operator', 'tenant')),
  tenant_id   TEXT REFERENCES tenants(id),               -- set exactly for a tenant administrator
  created_at  TEXT NOT NULL,
  CHECK ((role = 'operator') = (tenant_id IS NULL))
);

CREATE TABLE console_credentials (
  credential_id  TEXT PRIMARY KEY,                       -- base64url, as the browser reports it
  admin_id       TEXT NOT NULL REFERENCES console_admins(id),
  public_key     TEXT NOT NULL,                          -- COSE, base64url
  counter        INTEGER NOT NULL,
  backup_eligible INTEGER NOT NULL,
  transports     TEXT NOT NULL DEFAULT '[]',
  created_at     TEXT NOT NULL,
  last_used_at   TEXT
);
CREATE INDEX console_credentials_admin ON console_credentials(admin_id);

CREATE TABLE console_sessions (
  id_hash     TEXT PRIMARY KEY,                          -- SHA-256 of the cookie value
  admin_id    TEXT NOT NULL REFERENCES console_admins(id),
  created_at  TEXT NOT NULL,
  expires_at  INTEGER NOT NULL                           -- epoch ms
) WITHOUT ROWID;

CREATE TABLE console_invites (
  token_hash  TEXT PRIMARY KEY,                          -- SHA-256 of the token in the link
  role        TEXT NOT NULL CHECK (role IN ('operator', 'tenant')),
  tenant_id   TEXT REFERENCES tenants(id),
  invited_by  TEXT NOT NULL REFERENCES console_admins(id),
  created_at  TEXT NOT NULL,
  expires_at  INTEGER NOT NULL,                          -- epoch ms
  used_at     TEXT,
  used_by     TEXT
) WITHOUT ROWID;

-- One row per passkey ceremony started; the finish deletes it (single use) whatever the outcome.
CREATE TABLE console_challenges (
  challenge_hash TEXT PRIMARY KEY,                       -- SHA-256 of the base64url challenge
  purpose     TEXT NOT NULL CHECK (purpose IN ('sign-in', 'bootstrap', 'invite')),
  data        TEXT NOT NULL DEFAULT '{}',                -- the enrolment's name, admin id, invitation hash
  expires_at  INTEGER NOT NULL                           -- epoch ms
) WITHOUT ROWID;
