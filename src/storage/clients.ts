// D1 queries for API clients and their short-lived access tokens (both stored only as hashes).
import type { AuthContext } from '../env';
import { hashSecret, digestsEqual } from '../domain/secrets';

export interface ApiClient {
  clientId: string;
  tenantId: string;
  name: string;
  scopes: string[];
  createdAt: string;
  revokedAt: string | null;
}

interface ClientRow {
  id: string;
  tenant_id: string;
  name: string;
  secret_hash: string;
  scopes: string;
  created_at: string;
  revoked_at: string | null;
}

function toClient(row: ClientRow): ApiClient {
  return {
    clientId: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    scopes: row.scopes.split(' ').filter(Boolean),
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

export async function insertClientStatement(db: D1Database, client: ApiClient, secret: string): Promise<D1PreparedStatement> {
  return db
    .prepare('INSERT INTO api_clients (id, tenant_id, name, secret_hash, scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)')
    .bind(client.clientId, client.tenantId, client.name, await hashSecret(secret), client.scopes.join(' '), client.createdAt);
}

export async function listClients(db: D1Database, tenantId: string): Promise<ApiClient[]> {
  const rows = await db.prepare('SELECT * FROM api_clients WHERE tenant_id = ?1 ORDER BY id').bind(tenantId).all<ClientRow>();
  return rows.results.map(toClient);
}

export async function getClient(db: D1Database, tenantId: string, clientId: string): Promise<ApiClient | null> {
  const row = await db.prepare('SELECT * FROM api_clients WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, clientId).first<ClientRow>();
  return row ? toClient(row) : null;
}

/** Revokes the client and deletes its tokens so they stop working at once. */
export function revokeClientStatements(db: D1Database, clientId: string, at: string): D1PreparedStatement[] {
  return [
    db.prepare('UPDATE api_clients SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL').bind(clientId, at),
    db.prepare('DELETE FROM access_tokens WHERE client_id = ?1').bind(clientId),
  ];
}

/** The client whose secret matches, if it exists and is not revoked. */
export async function authenticateClient(db: D1Database, clientId: string, secret: string): Promise<ApiClient | null> {
  const row = await db.prepare('SELECT * FROM api_clients WHERE id = ?1').bind(clientId).first<ClientRow>();
  // Hash the presented secret even for unknown clients so timing does not reveal which ids exist.
  const presented = await hashSecret(secret);
  if (!row) return null;
  if (!digestsEqual(presented, row.secret_hash) || row.revoked_at !== null) return null;
  return toClient(row);
}

export async function storeAccessToken(
  db: D1Database,
  token: string,
  grant: { clientId: string; tenantId: string; scopes: string[]; expiresAt: number },
): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await db.batch([
    db
      .prepare('INSERT INTO access_tokens (token_hash, client_id, tenant_id, scopes, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)')
      .bind(await hashSecret(token), grant.clientId, grant.tenantId, grant.scopes.join(' '), grant.expiresAt),
    // Housekeeping: expired tokens are useless; drop a few on every issue.
    db.prepare('DELETE FROM access_tokens WHERE token_hash IN (SELECT token_hash FROM access_tokens WHERE expires_at < ?1 LIMIT 50)').bind(now),
  ]);
}

/** Looks a bearer token up by its hash; the client must still exist and be unrevoked. */
export async function findAccessToken(db: D1Database, token: string, nowSeconds: number): Promise<AuthContext | null> {
  const row = await db
    .prepare(
      `SELECT t.client_id, t.tenant_id, t.scopes FROM access_tokens t JOIN api_clients c ON c.id = t.client_id
       WHERE t.token_hash = ?1 AND t.expires_at > ?2 AND c.revoked_at IS NULL`,
    )
    .bind(await hashSecret(token), nowSeconds)
    .first<{ client_id: string; tenant_id: string; scopes: string }>();
  if (!row) return null;
  return { clientId: row.client_id, tenantId: row.tenant_id, scopes: new Set(row.scopes.split(' ')) };
}
