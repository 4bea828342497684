// Authenticates callers: operators by ADMIN_TOKEN, relying parties by OAuth bearer tokens with scopes.
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { secretsEqual } from '../domain/secrets';
import { findAccessToken } from '../services/access-tokens';
import { countFailure, sourceKey, throttleVerdict } from '../services/auth-throttle';
import { adminActor, consolePrincipalOf, type ConsolePrincipal } from './console-principal';

const TENANT_PATH = /^\/admin\/v1\/tenants\/([^/]+)(\/.*)?$/;

/**
 * A console administrator on the operator API: operators everywhere; a tenant administrator only under their own
 * tenant (reading it, its clients and webhook), never creating, listing or reconfiguring tenants (docs/console.md).
 */
function consoleMayCallOperatorApi(principal: ConsolePrincipal, method: string, pathname: string): boolean {
  if (principal.role === 'operator') return true;
  const match = TENANT_PATH.exec(pathname);
  if (!match || match[1] !== principal.tenantId) return false;
  return match[2] !== undefined || method === 'GET';
}

function throttled(retryAfterSeconds: number): ApiError {
  return new ApiError('AUTHENTICATION_THROTTLED', `Too many wrong operator tokens from this address; retry in ${retryAfterSeconds} s.`, { retryAfterSeconds });
}

export const SCOPES = ['users', 'devices', 'operations', 'audit'] as const;
export type Scope = (typeof SCOPES)[number];

function bearer(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer ([A-Za-z0-9._~+/=-]+)$/);
  return match?.[1];
}

/**
 * Operators: `Authorization: Bearer $ADMIN_TOKEN`, compared in constant time. A source address that sent
 * THROTTLE_RULES.adminAddress.limit wrong tokens within the window is refused without its token being
 * compared (429), so the one operator secret cannot be guessed online faster than that; other addresses,
 * the operator's own included, are not affected.
 */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const principal = consolePrincipalOf(c.req.raw);
  if (principal) {
    // OWASP ASVS 4.2.1: a tenant administrator reaches no other tenant through the operator API.
    if (!consoleMayCallOperatorApi(principal, c.req.method, new URL(c.req.url).pathname)) {
      throw new ApiError('CONSOLE_FORBIDDEN', 'Your console role does not allow this.');
    }
    c.set('operatorActor', adminActor(principal.adminId));
    await next();
    return;
  }
  const source = sourceKey(c);
  // OWASP ASVS 2.2.1: throttle online guessing of the operator token, per source address.
  if (source) {
    const verdict = await throttleVerdict(c.env, 'adminAddress', source);
    if (verdict.throttled) throw throttled(verdict.retryAfterSeconds);
  }
  const presented = bearer(c.req.header('authorization'));
  const expected = c.env.ADMIN_TOKEN;
  // Without a configured token the admin API is closed, never open.
  if (!expected || expected.length < 16 || !presented || !(await secretsEqual(presented, expected))) {
    if (source) {
      const verdict = await countFailure(c.env, 'adminAddress', source);
      // Failures that raced past the check above while the limit was being reached.
      if (verdict.throttled) throw throttled(verdict.retryAfterSeconds);
    }
    throw new ApiError('UNAUTHENTICATED', 'A valid operator token is required.');
  }
  await next();
});

/** Relying parties: a live access token of a non-revoked client holding `scope`. */
export function requireScope(scope: Scope) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const principal = consolePrincipalOf(c.req.raw);
    if (principal) {
      // The console acts on one tenant per call: a tenant administrator's own, or the one an operator opened.
      if (!principal.tenantId) throw new ApiError('CONSOLE_FORBIDDEN', 'Open a tenant first.');
      c.set('auth', { tenantId: principal.tenantId, clientId: adminActor(principal.adminId), scopes: new Set(SCOPES), actor: adminActor(principal.adminId) });
      await next();
      return;
    }
    const token = bearer(c.req.header('authorization'));
    if (!token) throw new ApiError('UNAUTHENTICATED', 'Send an access token from POST /oauth/token.');
    const found = await findAccessToken(c.env, token);
    if (!found) throw new ApiError('UNAUTHENTICATED', 'The access token is not valid.');
    if (!found.scopes.has(scope)) {
      throw new ApiError('INSUFFICIENT_SCOPE', `This call needs the '${scope}' scope.`, { requiredScope: scope });
    }
    c.set('auth', found);
    await next();
  });
}
