-- OpenID Connect CIBA (docs/ciba.md): how an API client takes part, its pending authentication requests, and the
-- client assertion ids it has used.

-- private_key_jwt: the client's public keys (a JWK set, JSON) that verify its client assertions and login_hint_tokens.
ALTER TABLE api_clients ADD COLUMN jwks TEXT;
-- 'poll' (default) or 'ping'; a ping client names the HTTPS endpoint Custos notifies when a request is final.
ALTER TABLE api_clients ADD COLUMN ciba_delivery_mode TEXT NOT NULL DEFAULT 'poll' CHECK (ciba_delivery_mode IN ('poll', 'ping'));
ALTER TABLE api_clients ADD COLUMN ciba_notification_endpoint TEXT;

-- One row per backchannel authentication request: the auth_req_id only as SHA-256, the operation it started.
CREATE TABLE ciba_requests (
  auth_req_hash       TEXT PRIMARY KEY,          -- SHA-256 (hex) of the auth_req_id
  tenant_id           TEXT NOT NULL REFERENCES tenants(id),
  client_id           TEXT NOT NULL REFERENCES api_clients(id),
  operation_id        TEXT NOT NULL,
  scope               TEXT NOT NULL,
  authorization_details TEXT,                    -- the granted RFC 9396 details (JSON) of a payment
  delivery_mode       TEXT NOT NULL CHECK (delivery_mode IN ('poll', 'ping')),
  poll_interval       INTEGER NOT NULL,          -- seconds; raised by 5 on each slow_down
  last_polled_at      INTEGER,                   -- epoch ms of the last token request
  expires_at          INTEGER NOT NULL,          -- epoch seconds: the operation's expiry
  consumed_at         TEXT,                      -- the one successful token exchange
  created_at          TEXT NOT NULL
);
CREATE INDEX ciba_requests_expiry ON ciba_requests(expires_at);
CREATE INDEX ciba_requests_operation ON ciba_requests(operation_id);

-- jti of every accepted client assertion until it expires (RFC 7523 §3: a jti is used once).
CREATE TABLE ciba_assertion_jtis (
  client_id   TEXT NOT NULL,
  jti_hash    TEXT NOT NULL,                     -- SHA-256 (hex) of the jti
  expires_at  INTEGER NOT NULL,                  -- epoch seconds: the assertion's exp
  PRIMARY KEY (client_id, jti_hash)
);
CREATE INDEX ciba_assertion_jtis_expiry ON ciba_assertion_jtis(expires_at);
