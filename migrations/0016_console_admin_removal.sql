-- A console administrator can be removed (docs/console.md#administrators): the row stays, so the audit log's
-- admin:<id> and the invitations they sent still name someone, but a removed administrator has no session, no
-- passkey and no open invitation, and signs in no more.
ALTER TABLE console_admins ADD COLUMN removed_at TEXT;
ALTER TABLE console_admins ADD COLUMN removed_by TEXT;
