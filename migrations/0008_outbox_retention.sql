-- The outbox sweeper and the retention job (src/durable-objects/maintenance.ts) read these by time.
CREATE INDEX events_created ON events (created_at);
CREATE INDEX webhook_deliveries_event_only ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
-- The lock-cascade repair reads live operations through operations_live (0007, a partial index on live rows).
