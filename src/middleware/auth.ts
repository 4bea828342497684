// Authenticates callers: operators by ADMIN_TOKEN, relying parties by OAuth bearer tokens with scopes.
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { secretsEqual } from '../domain/secrets';
import { findAccessToken } from '../storage/clients';

export const SCOPES = ['users', 'devices', 'operations', 'audit'] as const;
export type Scope = (typeof SCOPES)[number];

function bearer(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer ([A-Za-z0-9._~+/=-]+)$/);
  return match?.[1];
}

/** Operators: `Authorization: Bearer $ADMIN_TOKEN`, compared in constant time. */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const presented = bearer(c.req.header('authorization'));
  const expected = c.env.ADMIN_TOKEN;
  // Without a configured token the admin API is closed, never open.
  if (!expected || expected.length < 16 || !presented || !(await secretsEqual(presented, expected))) {
    throw new ApiError('UNAUTHENTICATED', 'A valid operator token is required.');
  }
  await next();
});

/** Relying parties: a live access token of a non-revoked client holding `scope`. */
export function requireScope(scope: Scope) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const token = bearer(c.req.header('authorization'));
    if (!token) throw new ApiError('UNAUTHENTICATED', 'Send an access token from POST /oauth/token.');
    const found = await findAccessToken(c.env.DB, token, Math.floor(Date.now() / 1000));
    if (!found) throw new ApiError('UNAUTHENTICATED', 'The access token is not valid.');
    if (!found.scopes.has(scope)) {
      throw new ApiError('INSUFFICIENT_SCOPE', `This call needs the '${scope}' scope.`, { requiredScope: scope });
    }
    c.set('auth', found);
    await next();
  });
}
