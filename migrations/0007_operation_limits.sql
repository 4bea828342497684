-- Abuse limits on starting operations (docs/operations.md#limits): an index that keeps counting a user's live
-- operations cheap, and a guard table whose named CHECKs roll a start's write batch back when a limit is reached.

-- Live rows only (a row's status stays PENDING in D1 until the operation is final), for both counts the start
-- makes: the user's live operations and, among them, those naming one device. It holds at most
-- maxLiveOperationsPerUser unexpired rows per user (plus expired ones the shard's alarm has not finalised yet),
-- so a count reads a handful of rows, and a row leaves it when its operation ends.
CREATE INDEX operations_live ON operations (tenant_id, user_id, expires_at)
  WHERE status IN ('PENDING', 'IN_PROGRESS');

-- Never holds a row after a batch: a start inserts one and deletes it; each column is 1 when its limit still has room.
-- The constraint names are the policy fields, so a refused batch says which limit it hit.
CREATE TABLE start_limit_guards (
  live_user INTEGER NOT NULL CONSTRAINT maxLiveOperationsPerUser CHECK (live_user = 1),
  live_device INTEGER NOT NULL CONSTRAINT maxLiveOperationsPerDevice CHECK (live_device = 1),
  recent_starts INTEGER NOT NULL CONSTRAINT maxStartsPerUserPerMinute CHECK (recent_starts = 1)
);
