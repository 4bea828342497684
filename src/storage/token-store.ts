// An AccessTokensDO's own SQLite: its client's live access tokens (hashed) and whether the client is revoked.

export interface StoredToken {
  tenantId: string;
  scopes: string[];
  /** Unix seconds. */
  expiresAt: number;
}

interface TokenRow extends Record<string, SqlStorageValue> {
  tenant_id: string;
  scopes: string;
  expires_at: number;
}

export class TokenStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec('CREATE TABLE IF NOT EXISTS tokens (token_hash TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, scopes TEXT NOT NULL, expires_at INTEGER NOT NULL)');
    sql.exec('CREATE TABLE IF NOT EXISTS client (revoked_at TEXT)');
  }

  isRevoked(): boolean {
    return this.sql.exec('SELECT 1 FROM client WHERE revoked_at IS NOT NULL').toArray().length > 0;
  }

  /** Stores a token, and drops a few expired ones on the way (the alarm drops the rest). */
  insert(tokenHash: string, token: StoredToken, now: number): void {
    this.sql.exec('DELETE FROM tokens WHERE token_hash IN (SELECT token_hash FROM tokens WHERE expires_at <= ? LIMIT 50)', now);
    this.sql.exec('INSERT INTO tokens (token_hash, tenant_id, scopes, expires_at) VALUES (?1, ?2, ?3, ?4)', tokenHash, token.tenantId, token.scopes.join(' '), token.expiresAt);
  }

  find(tokenHash: string): StoredToken | null {
    const row = this.sql.exec<TokenRow>('SELECT tenant_id, scopes, expires_at FROM tokens WHERE token_hash = ?', tokenHash).toArray()[0];
    return row ? { tenantId: row.tenant_id, scopes: row.scopes.split(' ').filter(Boolean), expiresAt: row.expires_at } : null;
  }

  /** Deletes every token and records the revocation (one object's storage calls run in one implicit transaction). */
  revoke(at: string): void {
    this.sql.exec('DELETE FROM tokens');
    this.sql.exec('DELETE FROM client');
    this.sql.exec('INSERT INTO client (revoked_at) VALUES (?)', at);
  }

  countLive(now: number): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM tokens WHERE expires_at > ?', now).one().n;
  }

  /** Deletes the expired tokens; answers the latest expiry left (null: none). */
  dropExpired(now: number): number | null {
    this.sql.exec('DELETE FROM tokens WHERE expires_at <= ?', now);
    return this.sql.exec<{ at: number | null }>('SELECT MAX(expires_at) AS at FROM tokens').one().at;
  }
}
