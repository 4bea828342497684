// Reads and edits what a client's AccessTokensDO stores, for tests that check how tokens are kept.
import { env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { accessTokensStub } from '../../src/durable-objects/access-tokens';

/** The stored token rows of a client (hash, expiry), expired ones included. */
export function storedTokens(clientId: string): Promise<{ token_hash: string; expires_at: number }[]> {
  return runInDurableObject(accessTokensStub(env, clientId), async (_instance, state) =>
    state.storage.sql.exec<{ token_hash: string; expires_at: number }>('SELECT token_hash, expires_at FROM tokens').toArray());
}

/** Moves a stored token's expiry and restarts the object, so nothing it remembered in memory survives. */
export async function setTokenExpiry(clientId: string, tokenHash: string, expiresAt: number): Promise<void> {
  const stub = accessTokensStub(env, clientId);
  await runInDurableObject(stub, async (_instance, state) => {
    state.storage.sql.exec('UPDATE tokens SET expires_at = ?2 WHERE token_hash = ?1', tokenHash, expiresAt);
  });
  await evictDurableObject(stub);
}
