// Access tokens of API clients: issued and checked by the client's own AccessTokensDO (why: durable-objects/access-tokens.ts).
import type { AuthContext, Bindings } from '../env';
import { hashSecret, newSecret } from '../domain/secrets';
import { accessTokensStub, tokenClientId } from '../durable-objects/access-tokens';

/** A new token for an authenticated client, or null when the client was revoked meanwhile. */
export async function issueAccessToken(
  env: Pick<Bindings, 'ACCESS_TOKENS'>,
  grant: { clientId: string; tenantId: string; scopes: string[]; expiresAt: number },
): Promise<string | null> {
  const token = `${newSecret('cat')}.${grant.clientId}`;
  const stored = await accessTokensStub(env, grant.clientId).issue(grant.clientId, await hashSecret(token), {
    tenantId: grant.tenantId, scopes: grant.scopes, expiresAt: grant.expiresAt,
  });
  return stored ? token : null;
}

/** The caller a bearer token stands for: one call to its client's object, no D1. */
export async function findAccessToken(env: Pick<Bindings, 'ACCESS_TOKENS'>, token: string): Promise<AuthContext | null> {
  const clientId = tokenClientId(token);
  if (!clientId) return null;
  const grant = await accessTokensStub(env, clientId).check(clientId, await hashSecret(token));
  if (!grant) return null;
  return { clientId: grant.clientId, tenantId: grant.tenantId, scopes: new Set(grant.scopes) };
}

/** Every token of the client stops working now, and none is issued again. Run before D1 records the revocation. */
export async function revokeAccessTokens(env: Pick<Bindings, 'ACCESS_TOKENS'>, clientId: string, at: string): Promise<void> {
  await accessTokensStub(env, clientId).revoke(at);
}
