// D1 queries of the browser console (migrations/0013_console.sql): administrators, passkeys, sessions, invitations, challenges.
import { precondition } from './precondition';

export type ConsoleRole = 'operator' | 'tenant';

export interface ConsoleAdmin {
  id: string;
  name: string;
  role: ConsoleRole;
  tenantId: string | null;
  createdAt: string;
}

export interface ConsoleCredential {
  credentialId: string;
  adminId: string;
  publicKey: string;
  counter: number;
  backupEligible: boolean;
  transports: string[];
}

export interface ConsoleInvite {
  tokenHash: string;
  role: ConsoleRole;
  tenantId: string | null;
  invitedBy: string;
  expiresAt: number;
  usedAt: string | null;
}

export type ChallengePurpose = 'sign-in' | 'bootstrap' | 'invite';

interface AdminRow { id: string; name: string; role: ConsoleRole; tenant_id: string | null; created_at: string }

const toAdmin = (row: AdminRow): ConsoleAdmin => ({ id: row.id, name: row.name, role: row.role, tenantId: row.tenant_id, createdAt: row.created_at });

export async function operatorExists(db: D1Database): Promise<boolean> {
  return (await db.prepare("SELECT 1 AS one FROM console_admins WHERE role = 'operator' LIMIT 1").first()) !== null;
}

export async function saveChallenge(db: D1Database, challengeHash: string, purpose: ChallengePurpose, data: Record<string, unknown>, expiresAt: number): Promise<void> {
  await db
    .prepare('INSERT INTO console_challenges (challenge_hash, purpose, data, expires_at) VALUES (?1, ?2, ?3, ?4)')
    .bind(challengeHash, purpose, JSON.stringify(data), expiresAt)
    .run();
}

/** Takes the challenge out (single use, WebAuthn §13.4.3): it answers once, live or not, and is gone afterwards. */
export async function consumeChallenge(db: D1Database, challengeHash: string, purpose: ChallengePurpose, now: number): Promise<Record<string, unknown> | null> {
  const row = await db
    .prepare('DELETE FROM console_challenges WHERE challenge_hash = ?1 RETURNING purpose, data, expires_at')
    .bind(challengeHash)
    .first<{ purpose: string; data: string; expires_at: number }>();
  if (!row || row.purpose !== purpose || row.expires_at <= now) return null;
  return JSON.parse(row.data) as Record<string, unknown>;
}

export async function credentialWithAdmin(db: D1Database, credentialId: string): Promise<{ credential: ConsoleCredential; admin: ConsoleAdmin } | null> {
  const row = await db
    .prepare(
      `SELECT c.credential_id, c.admin_id, c.public_key, c.counter, c.backup_eligible, c.transports, a.id, a.name, a.role, a.tenant_id, a.created_at
       FROM console_credentials c JOIN console_admins a ON a.id = c.admin_id WHERE c.credential_id = ?1 AND a.removed_at IS NULL`,
    )
    .bind(credentialId)
    .first<AdminRow & { credential_id: string; admin_id: string; public_key: string; counter: number; backup_eligible: number; transports: string }>();
  if (!row) return null;
  return {
    credential: {
      credentialId: row.credential_id, adminId: row.admin_id, publicKey: row.public_key, counter: row.counter,
      backupEligible: row.backup_eligible === 1, transports: JSON.parse(row.transports) as string[],
    },
    admin: toAdmin(row),
  };
}

/** The passkey signed in: its counter moves on (WebAuthn §7.2 step 21). */
export function touchCredentialStatement(db: D1Database, credentialId: string, counter: number, at: string): D1PreparedStatement {
  return db.prepare('UPDATE console_credentials SET counter = ?2, last_used_at = ?3 WHERE credential_id = ?1').bind(credentialId, counter, at);
}

/** Bootstrap only: the batch commits while there is still no operator, so the operator token enrols exactly one. */
export function noOperatorYetStatement(db: D1Database): D1PreparedStatement {
  return precondition(db, 'noOperatorYet', "NOT EXISTS (SELECT 1 FROM console_admins WHERE role = 'operator')");
}

/** An invitation is used once: the batch commits only while it is still unused and live. */
export function inviteUnusedStatement(db: D1Database, tokenHash: string, now: number): D1PreparedStatement {
  return precondition(db, 'inviteUnused', 'EXISTS (SELECT 1 FROM console_invites WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2)', tokenHash, now);
}

export function markInviteUsedStatement(db: D1Database, tokenHash: string, adminId: string, at: string): D1PreparedStatement {
  return db.prepare('UPDATE console_invites SET used_at = ?2, used_by = ?3 WHERE token_hash = ?1').bind(tokenHash, at, adminId);
}

export function insertAdminStatements(db: D1Database, admin: ConsoleAdmin, credential: ConsoleCredential): D1PreparedStatement[] {
  return [
    db.prepare('INSERT INTO console_admins (id, name, role, tenant_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)').bind(admin.id, admin.name, admin.role, admin.tenantId, admin.createdAt),
    db
      .prepare('INSERT INTO console_credentials (credential_id, admin_id, public_key, counter, backup_eligible, transports, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)')
      .bind(credential.credentialId, admin.id, credential.publicKey, credential.counter, credential.backupEligible ? 1 : 0, JSON.stringify(credential.transports), admin.createdAt),
  ];
}

export function insertSessionStatement(db: D1Database, idHash: string, adminId: string, at: string, expiresAt: number): D1PreparedStatement {
  return db.prepare('INSERT INTO console_sessions (id_hash, admin_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)').bind(idHash, adminId, at, expiresAt);
}

/** The administrator of a live session, or null (unknown, expired). */
export async function sessionAdmin(db: D1Database, idHash: string, now: number): Promise<ConsoleAdmin | null> {
  const row = await db
    .prepare(
      `SELECT a.id, a.name, a.role, a.tenant_id, a.created_at FROM console_sessions s JOIN console_admins a ON a.id = s.admin_id
       WHERE s.id_hash = ?1 AND s.expires_at > ?2 AND a.removed_at IS NULL`,
    )
    .bind(idHash, now)
    .first<AdminRow>();
  return row ? toAdmin(row) : null;
}

export function deleteSessionStatement(db: D1Database, idHash: string): D1PreparedStatement {
  return db.prepare('DELETE FROM console_sessions WHERE id_hash = ?1').bind(idHash);
}

export function insertInviteStatement(db: D1Database, invite: ConsoleInvite, at: string): D1PreparedStatement {
  return db
    .prepare('INSERT INTO console_invites (token_hash, role, tenant_id, invited_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)')
    .bind(invite.tokenHash, invite.role, invite.tenantId, invite.invitedBy, at, invite.expiresAt);
}

export async function getInvite(db: D1Database, tokenHash: string): Promise<ConsoleInvite | null> {
  const row = await db
    .prepare('SELECT token_hash, role, tenant_id, invited_by, expires_at, used_at FROM console_invites WHERE token_hash = ?1')
    .bind(tokenHash)
    .first<{ token_hash: string; role: ConsoleRole; tenant_id: string | null; invited_by: string; expires_at: number; used_at: string | null }>();
  return row ? { tokenHash: row.token_hash, role: row.role, tenantId: row.tenant_id, invitedBy: row.invited_by, expiresAt: row.expires_at, usedAt: row.used_at } : null;
}

/** Counts for tests and the operator's overview: how many rows each console table holds. */
export async function consoleRowCounts(db: D1Database): Promise<Record<'admins' | 'credentials' | 'sessions' | 'invites' | 'challenges', number>> {
  const row = await db
    .prepare(
      `SELECT (SELECT COUNT(*) FROM console_admins) AS admins, (SELECT COUNT(*) FROM console_credentials) AS credentials,
              (SELECT COUNT(*) FROM console_sessions) AS sessions, (SELECT COUNT(*) FROM console_invites) AS invites,
              (SELECT COUNT(*) FROM console_challenges) AS challenges`,
    )
    .first<Record<'admins' | 'credentials' | 'sessions' | 'invites' | 'challenges', number>>();
  return row ?? { admins: 0, credentials: 0, sessions: 0, invites: 0, challenges: 0 };
}

/** An administrator as the administrators page lists them: their passkeys and when one was last used. */
export interface ConsoleAdminListed extends ConsoleAdmin {
  passkeys: number;
  lastSignInAt: string | null;
  removedAt: string | null;
}

/** Every administrator (tenantId null), or those of one tenant; oldest first, removed ones included for the record. */
export async function listAdmins(db: D1Database, tenantId: string | null): Promise<ConsoleAdminListed[]> {
  const rows = await db
    .prepare(
      `SELECT a.id, a.name, a.role, a.tenant_id, a.created_at, a.removed_at, COUNT(c.credential_id) AS passkeys, MAX(c.last_used_at) AS last_used
       FROM console_admins a LEFT JOIN console_credentials c ON c.admin_id = a.id
       WHERE ?1 IS NULL OR a.tenant_id = ?1 GROUP BY a.id ORDER BY a.created_at, a.id`,
    )
    .bind(tenantId)
    .all<AdminRow & { removed_at: string | null; passkeys: number; last_used: string | null }>();
  return rows.results.map((r) => ({ ...toAdmin(r), passkeys: r.passkeys, lastSignInAt: r.last_used, removedAt: r.removed_at }));
}

export async function getAdmin(db: D1Database, adminId: string): Promise<(ConsoleAdmin & { removedAt: string | null }) | null> {
  const row = await db.prepare('SELECT id, name, role, tenant_id, created_at, removed_at FROM console_admins WHERE id = ?1').bind(adminId).first<AdminRow & { removed_at: string | null }>();
  return row ? { ...toAdmin(row), removedAt: row.removed_at } : null;
}

/**
 * Removal in one batch: still active when it commits, an operator only while another one remains (two operators
 * removing each other at once: the second batch fails), then no session, no passkey and no unused invitation left.
 */
export function removeAdminStatements(db: D1Database, admin: Pick<ConsoleAdmin, 'id' | 'role'>, removedBy: string, at: string): D1PreparedStatement[] {
  return [
    precondition(db, 'adminActive', 'EXISTS (SELECT 1 FROM console_admins WHERE id = ?1 AND removed_at IS NULL)', admin.id),
    ...(admin.role === 'operator'
      ? [precondition(db, 'anotherOperatorRemains', "EXISTS (SELECT 1 FROM console_admins WHERE role = 'operator' AND removed_at IS NULL AND id <> ?1)", admin.id)]
      : []),
    db.prepare('UPDATE console_admins SET removed_at = ?2, removed_by = ?3 WHERE id = ?1').bind(admin.id, at, removedBy),
    db.prepare('DELETE FROM console_sessions WHERE admin_id = ?1').bind(admin.id),
    db.prepare('DELETE FROM console_credentials WHERE admin_id = ?1').bind(admin.id),
    db.prepare('DELETE FROM console_invites WHERE invited_by = ?1 AND used_at IS NULL').bind(admin.id),
  ];
}
