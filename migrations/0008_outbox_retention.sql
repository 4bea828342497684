-- The outbox sweeper and the retention job (src/durable-objects/maintenance.ts) read these by time.
CREATE INDEX events_created ON events (created_at);
CREATE INDEX webhook_deliveries_event_only ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
-- Live operations (the lock-cascade repair looks for those of users and devices no longer ACTIVE).
CREATE INDEX operations_live ON operations (user_id) WHERE status IN ('PENDING', 'IN_PROGRESS');
