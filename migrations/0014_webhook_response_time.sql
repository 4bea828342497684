-- The delivery log's response times, and replay of a delivery (docs/webhooks.md).

-- Milliseconds from just before the request was sent to its response headers or its failure; NULL when nothing was sent.
ALTER TABLE webhook_deliveries ADD COLUMN response_time_ms INTEGER;

-- A replay asked for and not yet attempted: set in the batch that audits the request, cleared in the batch that records
-- the replay's attempt. While it is set the outbox sweeper hands the event over again, so a crash between the commit and
-- the hand-over does not lose the replay.
ALTER TABLE events ADD COLUMN replay_requested_at TEXT;
CREATE INDEX events_replay_requested ON events (replay_requested_at) WHERE replay_requested_at IS NOT NULL;
