-- Access tokens moved to one AccessTokensDO per API client (src/durable-objects/access-tokens.ts): a token check
-- is then one call to an existing object instead of a D1 round trip, and revocation stays immediate. Tokens live
-- 15 minutes, so dropping the old table only makes clients fetch a new one, which OAuth clients do on a 401.
DROP TABLE IF EXISTS access_tokens;
