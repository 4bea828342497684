-- A write batch that must only land while its preconditions still hold (e.g. the device is still
-- ACTIVE when an operation completes) inserts one row here: 0 violates the CHECK and rolls the
-- whole batch back. The batch deletes its row again before it ends.
CREATE TABLE guards (
  ok INTEGER NOT NULL CHECK (ok = 1)
);

-- Device proofs (API.md §2) are single use: each jti is remembered until its proof has expired.
CREATE TABLE device_proof_jtis (
  jti         TEXT PRIMARY KEY,
  device_id   TEXT NOT NULL,
  expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX device_proof_jtis_expiry ON device_proof_jtis(expires_at);
