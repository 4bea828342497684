// AccessTokensDO: one object per API client holds that client's live access tokens (as SHA-256) and whether it is revoked.
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../env';
import { isId } from '../domain/ids';
import { TokenStore } from '../storage/token-store';

/*
 * Why the tokens live here and not in D1: every relying-party call checks its bearer token, and a D1 round
 * trip is the most expensive thing a request can do under workerd (~1.2 ms of CPU against ~0.4 ms for a call to
 * an existing Durable Object). A per-isolate cache would be cheaper still, but API.md promises that a revoked
 * client's tokens stop working at once, and an isolate cannot learn of a revocation made elsewhere.
 *
 * One object per client is the single place that both issues and checks the client's tokens, so the promise
 * holds by construction: `revoke` first marks the client revoked and deletes its tokens here (the admin route
 * does this before it writes D1), and from that instant `check` finds nothing and `issue` refuses. Calls to one
 * object are serialised, so no check can slip in between. The cost of that exactness: all of a client's calls
 * pass through one object (a few thousand checks per second); a relying party with more traffic than that uses
 * several API clients. Tokens are stored hashed, as everywhere; the raw token never reaches storage.
 */

/** An access token as the auth middleware needs it. */
export interface AccessGrant {
  clientId: string;
  tenantId: string;
  scopes: string[];
  /** Unix seconds. */
  expiresAt: number;
}

/** Tokens remembered in memory per object; the stored table is the truth. */
const MAX_CACHED = 1000;

export class AccessTokensDO extends DurableObject<Bindings> {
  private readonly cache = new Map<string, AccessGrant>();
  private revokedFlag: boolean;
  private readonly store: TokenStore;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.store = new TokenStore(ctx.storage.sql);
    this.revokedFlag = this.store.isRevoked();
  }

  /** Stores a new token for the client; false once the client is revoked (a revocation that raced the issue wins). */
  async issue(clientId: string, tokenHash: string, grant: Omit<AccessGrant, 'clientId'>): Promise<boolean> {
    if (this.revokedFlag) return false;
    const now = Math.floor(Date.now() / 1000);
    // Expired tokens are useless: a few go on every issue, the rest when the alarm below runs.
    this.store.insert(tokenHash, grant, now);
    this.remember(tokenHash, { clientId, ...grant });
    // A client that stops calling leaves no stored tokens behind: the alarm deletes them once they are expired.
    await this.ctx.storage.setAlarm((grant.expiresAt + 60) * 1000);
    return true;
  }

  /** The grant of a live token of this client, or null (unknown, expired, or the client is revoked). */
  check(clientId: string, tokenHash: string): AccessGrant | null {
    if (this.revokedFlag) return null;
    const now = Math.floor(Date.now() / 1000);
    let grant = this.cache.get(tokenHash);
    if (!grant) {
      const stored = this.store.find(tokenHash);
      if (!stored) return null;
      grant = { clientId, ...stored };
      this.remember(tokenHash, grant);
    }
    return grant.expiresAt > now ? grant : null;
  }

  /** Marks the client revoked and deletes its tokens: from now on every check fails and no token is issued. */
  revoke(at: string): void {
    this.revokedFlag = true;
    this.cache.clear();
    this.store.revoke(at);
  }

  /** How many stored tokens are live (tests and operators' curiosity; never the tokens themselves). */
  liveTokens(): number {
    return this.store.countLive(Math.floor(Date.now() / 1000));
  }

  override async alarm(): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const next = this.store.dropExpired(now);
    for (const [hash, grant] of this.cache) if (grant.expiresAt <= now) this.cache.delete(hash);
    if (next !== null) await this.ctx.storage.setAlarm((next + 60) * 1000);
  }

  private remember(tokenHash: string, grant: AccessGrant): void {
    this.cache.set(tokenHash, grant);
    if (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
  }
}

/**
 * An access token names its client after its secret part: `cat_<256 random bits>.<client id>`. The client id
 * is not a secret (it is in every Basic header); it only says which object holds the token's hash.
 */
export function tokenClientId(token: string): string | null {
  const dot = token.lastIndexOf('.');
  if (dot < 0) return null;
  const clientId = token.slice(dot + 1);
  return isId(clientId, 'cli') ? clientId : null;
}

export function accessTokensStub(env: Pick<Bindings, 'ACCESS_TOKENS'>, clientId: string): DurableObjectStub<AccessTokensDO> {
  return env.ACCESS_TOKENS.get(env.ACCESS_TOKENS.idFromName(clientId));
}
