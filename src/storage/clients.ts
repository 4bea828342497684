// D1 queries for API clients (secrets stored only as hashes); their access tokens live in AccessTokensDO.
import { hashSecret, digestsEqual } from '../domain/secrets';

export interface ApiClient {
  clientId: string;
  tenantId: string;
  name: string;
  scopes: string[];
  createdAt: string;
  revokedAt: string | null;
  /** CIBA (docs/ciba.md): how tokens reach the client, and its public keys for private_key_jwt. */
  ciba: CibaClientSettings;
}

export interface CibaClientSettings {
  deliveryMode: 'poll' | 'ping';
  notificationEndpoint: string | null;
  /** A public JWK set (JSON) or null when the client authenticates only with its secret. */
  jwks: string | null;
}

export const DEFAULT_CIBA_SETTINGS: CibaClientSettings = { deliveryMode: 'poll', notificationEndpoint: null, jwks: null };

interface ClientRow {
  id: string;
  tenant_id: string;
  name: string;
  secret_hash: string;
  scopes: string;
  created_at: string;
  revoked_at: string | null;
  jwks: string | null;
  ciba_delivery_mode: 'poll' | 'ping' | null;
  ciba_notification_endpoint: string | null;
}

function toClient(row: ClientRow): ApiClient {
  return {
    clientId: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    scopes: row.scopes.split(' ').filter(Boolean),
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    ciba: { deliveryMode: row.ciba_delivery_mode ?? 'poll', notificationEndpoint: row.ciba_notification_endpoint, jwks: row.jwks },
  };
}

export async function insertClientStatement(db: D1Database, client: ApiClient, secret: string): Promise<D1PreparedStatement> {
  return db
    .prepare(`INSERT INTO api_clients (id, tenant_id, name, secret_hash, scopes, created_at, jwks, ciba_delivery_mode, ciba_notification_endpoint)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)`)
    .bind(client.clientId, client.tenantId, client.name, await hashSecret(secret), client.scopes.join(' '), client.createdAt,
      client.ciba.jwks, client.ciba.deliveryMode, client.ciba.notificationEndpoint);
}

export async function listClients(db: D1Database, tenantId: string): Promise<ApiClient[]> {
  const rows = await db.prepare('SELECT * FROM api_clients WHERE tenant_id = ?1 ORDER BY id').bind(tenantId).all<ClientRow>();
  return rows.results.map(toClient);
}

export async function getClient(db: D1Database, tenantId: string, clientId: string): Promise<ApiClient | null> {
  const row = await db.prepare('SELECT * FROM api_clients WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, clientId).first<ClientRow>();
  return row ? toClient(row) : null;
}

/** Marks the client revoked in D1 (no new tokens); its live tokens die in its AccessTokensDO (services/access-tokens.ts). */
export function revokeClientStatements(db: D1Database, clientId: string, at: string): D1PreparedStatement[] {
  return [db.prepare('UPDATE api_clients SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL').bind(clientId, at)];
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

/** A live (not revoked) client by id alone: private_key_jwt names the client in its assertion, before any secret. */
export async function getLiveClient(db: D1Database, clientId: string): Promise<ApiClient | null> {
  const row = await db.prepare('SELECT * FROM api_clients WHERE id = ?1 AND revoked_at IS NULL').bind(clientId).first<ClientRow>();
  return row ? toClient(row) : null;
}
