-- Webhooks (API.md §3): each tenant's endpoint and secrets, the events sent to it, and every delivery attempt.

-- One endpoint per tenant. `secret` and `previous_secret` hold either the whsec_ secret itself or,
-- when WEBHOOK_SECRET_KEY is set, its AES-GCM ciphertext ("enc:v1:…"); deliveries must be able to sign.
CREATE TABLE webhook_endpoints (
  tenant_id                   TEXT PRIMARY KEY REFERENCES tenants(id),
  url                         TEXT NOT NULL,
  secret                      TEXT NOT NULL,
  previous_secret             TEXT,              -- still signs during a rotation, until it expires
  previous_secret_expires_at  TEXT,
  disabled_at                 TEXT,              -- set when the endpoint answered 410 Gone
  disabled_reason             TEXT,
  created_at                  TEXT NOT NULL,
  updated_at                  TEXT NOT NULL
);

-- Events emitted while the tenant had an enabled endpoint; `payload` is the exact body that is signed and sent.
CREATE TABLE events (
  id            TEXT PRIMARY KEY,                -- evt_…, also the webhook-id header
  tenant_id     TEXT NOT NULL,
  type          TEXT NOT NULL,
  payload       TEXT NOT NULL,
  created_at    TEXT NOT NULL
);
CREATE INDEX events_tenant ON events(tenant_id, id);

-- One row per delivery attempt (and one closing row when a delivery is abandoned), written by WebhookDeliveryDO.
CREATE TABLE webhook_deliveries (
  id               TEXT PRIMARY KEY,             -- whd_…, time-ordered
  event_id         TEXT NOT NULL,
  tenant_id        TEXT NOT NULL,
  event_type       TEXT NOT NULL,
  webhook_id       TEXT NOT NULL,                -- the webhook-id header sent: the event id, unchanged across retries
  attempt          INTEGER NOT NULL,
  at               TEXT NOT NULL,
  outcome          TEXT NOT NULL CHECK (outcome IN ('SUCCEEDED','FAILED')),
  response_status  INTEGER,
  error            TEXT,
  next_attempt_at  TEXT
);
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries(tenant_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(tenant_id, event_id, id);
