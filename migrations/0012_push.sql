-- Push notifications (docs/push.md): each device's push channel, and each tenant's credentials for FCM and APNs.

-- The channel as the service sends to it: JSON of the Web Push subscription (endpoint, p256dh, auth) or the native
-- token, sealed with WEBHOOK_SECRET_KEY when the deployment sets it (enc:v1:…). NULL: the device is not pushed to.
ALTER TABLE devices ADD COLUMN push_channel TEXT;
-- What the devices API shows of it (never the secret parts): JSON { type, endpointOrigin?, environment?, updatedAt }.
ALTER TABLE devices ADD COLUMN push_meta TEXT;
-- Why the last channel went away (the push service answered 404/410, the device was deactivated, the device removed
-- it): JSON { type, reason, at }. Cleared when a new channel is registered.
ALTER TABLE devices ADD COLUMN push_removed TEXT;

-- A tenant's native push credentials: the FCM service account or the APNs token-signing key. `sealed` holds the
-- private parts (sealed like webhook secrets), `public` what the API shows (project id; team, key id, topic).
CREATE TABLE push_credentials (
  tenant_id   TEXT NOT NULL REFERENCES tenants(id),
  provider    TEXT NOT NULL CHECK (provider IN ('FCM', 'APNS')),
  sealed      TEXT NOT NULL,
  public      TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  PRIMARY KEY (tenant_id, provider)
);

-- Local development makes its own VAPID key set too: local_keys' CHECK gains the name (SQLite rebuilds the table).
CREATE TABLE local_keys_next (
  name TEXT PRIMARY KEY CHECK (name IN ('SIGNING_KEYS', 'E2E_KEYS', 'VAPID_KEYS')),
  value TEXT NOT NULL,
  created_at TEXT NOT NULL
);
INSERT INTO local_keys_next (name, value, created_at) SELECT name, value, created_at FROM local_keys;
DROP TABLE local_keys;
ALTER TABLE local_keys_next RENAME TO local_keys;
