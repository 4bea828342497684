// D1 queries for users and their key-value attributes.
export type UserStatus = 'ACTIVE' | 'LOCKED' | 'DEACTIVATED';

export interface User {
  id: string;
  tenantId: string;
  externalRef: string | null;
  status: UserStatus;
  lockReason: string | null;
  attributes: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

interface UserRow {
  id: string;
  tenant_id: string;
  external_ref: string | null;
  status: UserStatus;
  lock_reason: string | null;
  created_at: string;
  updated_at: string;
  attrs: string | null;
}

const SELECT_USER = `SELECT u.*, (SELECT json_group_object(a.key, a.value) FROM user_attributes a WHERE a.user_id = u.id) AS attrs FROM users u`;

function toUser(row: UserRow): User {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    externalRef: row.external_ref,
    status: row.status,
    lockReason: row.lock_reason,
    attributes: row.attrs ? (JSON.parse(row.attrs) as Record<string, string>) : {},
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function getUser(db: D1Database, tenantId: string, userId: string): Promise<User | null> {
  const row = await db.prepare(`${SELECT_USER} WHERE u.tenant_id = ?1 AND u.id = ?2`).bind(tenantId, userId).first<UserRow>();
  return row ? toUser(row) : null;
}

export interface UserFilter {
  externalRef?: string;
  attribute?: { key: string; value: string };
  afterId?: string;
  limit: number;
}

export async function listUsers(db: D1Database, tenantId: string, filter: UserFilter): Promise<User[]> {
  const after = filter.afterId ?? '';
  let statement: D1PreparedStatement;
  if (filter.externalRef !== undefined) {
    statement = db.prepare(`${SELECT_USER} WHERE u.tenant_id = ?1 AND u.external_ref = ?2 AND u.id > ?3 ORDER BY u.id LIMIT ?4`).bind(tenantId, filter.externalRef, after, filter.limit);
  } else if (filter.attribute) {
    // Served by user_attributes_lookup (tenant_id, key, value).
    statement = db
      .prepare(
        `${SELECT_USER} WHERE u.id IN (SELECT user_id FROM user_attributes WHERE tenant_id = ?1 AND key = ?2 AND value = ?3) AND u.tenant_id = ?1 AND u.id > ?4 ORDER BY u.id LIMIT ?5`,
      )
      .bind(tenantId, filter.attribute.key, filter.attribute.value, after, filter.limit);
  } else {
    statement = db.prepare(`${SELECT_USER} WHERE u.tenant_id = ?1 AND u.id > ?2 ORDER BY u.id LIMIT ?3`).bind(tenantId, after, filter.limit);
  }
  const rows = await statement.all<UserRow>();
  return rows.results.map(toUser);
}

export function insertUserStatements(db: D1Database, user: User): D1PreparedStatement[] {
  return [
    db
      .prepare('INSERT INTO users (id, tenant_id, external_ref, status, lock_reason, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)')
      .bind(user.id, user.tenantId, user.externalRef, user.status, user.lockReason, user.createdAt, user.updatedAt),
    ...Object.entries(user.attributes).map(([key, value]) =>
      db.prepare('INSERT INTO user_attributes (user_id, tenant_id, key, value) VALUES (?1, ?2, ?3, ?4)').bind(user.id, user.tenantId, key, value),
    ),
  ];
}

export interface UserPatch {
  externalRef?: string | null;
  attributes?: Record<string, string | null>;
}

export function patchUserStatements(db: D1Database, user: User, patch: UserPatch, at: string): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  if (patch.externalRef !== undefined) {
    statements.push(db.prepare('UPDATE users SET external_ref = ?2 WHERE id = ?1').bind(user.id, patch.externalRef));
  }
  const changes = Object.entries(patch.attributes ?? {});
  // Deletions first, and only keys that do not exist yet are INSERTed: the 100-attribute trigger fires
  // before every INSERT, even an upsert that ends as an update, so a full user could not change a value.
  for (const [key, value] of changes) {
    if (value === null) statements.push(db.prepare('DELETE FROM user_attributes WHERE user_id = ?1 AND key = ?2').bind(user.id, key));
  }
  for (const [key, value] of changes) {
    if (value === null) continue;
    statements.push(
      db.prepare('UPDATE user_attributes SET value = ?3 WHERE user_id = ?1 AND key = ?2').bind(user.id, key, value),
      db
        .prepare('INSERT INTO user_attributes (user_id, tenant_id, key, value) SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM user_attributes WHERE user_id = ?1 AND key = ?3)')
        .bind(user.id, user.tenantId, key, value),
    );
  }
  statements.push(db.prepare('UPDATE users SET updated_at = ?2 WHERE id = ?1').bind(user.id, at));
  return statements;
}

export function setUserStatusStatement(db: D1Database, userId: string, change: { status: UserStatus; lockReason: string | null; at: string }): D1PreparedStatement {
  return db.prepare('UPDATE users SET status = ?2, lock_reason = ?3, updated_at = ?4 WHERE id = ?1').bind(userId, change.status, change.lockReason, change.at);
}

/** Erasure: the user's attributes, devices, credentials, operation history and stored replays go; the audit log keeps pseudonymous ids only. */
export function eraseUserStatements(db: D1Database, tenantId: string, userId: string): D1PreparedStatement[] {
  return [
    db.prepare('DELETE FROM credentials WHERE tenant_id = ?1 AND user_id = ?2').bind(tenantId, userId),
    db.prepare('DELETE FROM devices WHERE tenant_id = ?1 AND user_id = ?2').bind(tenantId, userId),
    db.prepare('DELETE FROM operations WHERE tenant_id = ?1 AND user_id = ?2').bind(tenantId, userId),
    db.prepare('DELETE FROM user_attributes WHERE user_id = ?1').bind(userId),
    db.prepare('DELETE FROM users WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, userId),
    // Stored Idempotency-Key replays of the tenant's clients that carry the user (a create replays its attributes).
    db
      .prepare('DELETE FROM idempotency_keys WHERE client_id IN (SELECT id FROM api_clients WHERE tenant_id = ?1) AND instr(body, ?2) > 0')
      .bind(tenantId, userId),
  ];
}
