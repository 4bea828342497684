// Console sessions: the cookie, its CSRF token, the origin check, and the middleware that loads the signed-in administrator.
import type { Context } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { hashSecret, newSecret, secretsEqual } from '../domain/secrets';
import { resolvePublicOrigin, serviceRelyingParty } from '../domain/public-origin';
import type { ConsoleAdmin } from '../storage/console';
import { sessionAdmin } from '../storage/console';

/**
 * `__Host-`: Secure, Path=/ and no Domain, so no subdomain or plain-http page can set or shadow it. Browsers treat
 * http://localhost as a secure context, so the same name works under `wrangler dev` (docs/console.md).
 */
export const SESSION_COOKIE = '__Host-custos_console';
const COOKIE_BASE_NAME = 'custos_console';
/** Short-lived (OWASP ASVS 3.3.1): an absolute lifetime, no sliding renewal. */
export const SESSION_TTL_MS = 30 * 60 * 1000;

export interface ConsoleSession {
  admin: ConsoleAdmin;
  /** The synchroniser token every state-changing form and call must send back. */
  csrfToken: string;
  idHash: string;
}

export type ConsoleEnv = AppEnv & { Variables: AppEnv['Variables'] & { session?: ConsoleSession } };

/** The origin and rpId of the console's own passkeys: PUBLIC_URL (or a loopback request in local development), never the Host. */
export function consoleRelyingParty(c: Context<AppEnv>): { rpId: string; origin: string } {
  const resolved = resolvePublicOrigin(c.env.PUBLIC_URL, c.req.url);
  if (!resolved.ok) throw new ApiError('PUBLIC_URL_NOT_CONFIGURED', resolved.reason);
  return serviceRelyingParty(resolved.origin);
}

/**
 * The CSRF token is derived from the session secret (only the session's hash is stored): whoever cannot read the cookie
 * cannot compute it, and it needs no storage of its own.
 */
export async function csrfTokenOf(sessionSecret: string): Promise<string> {
  return (await hashSecret(`csrf\n${sessionSecret}`)).slice(0, 48);
}

export async function newSessionSecret(): Promise<{ secret: string; idHash: string }> {
  const secret = newSecret('cses');
  return { secret, idHash: await hashSecret(secret) };
}

export function setSessionCookie(c: Context<AppEnv>, secret: string): void {
  setCookie(c, COOKIE_BASE_NAME, secret, { path: '/', secure: true, httpOnly: true, sameSite: 'Strict', maxAge: SESSION_TTL_MS / 1000, prefix: 'host' });
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  deleteCookie(c, COOKIE_BASE_NAME, { path: '/', secure: true, prefix: 'host' });
}

/** Loads the session named by the cookie, if it is live; never refuses (pages decide). */
export const loadSession = createMiddleware<ConsoleEnv>(async (c, next) => {
  const secret = getCookie(c, COOKIE_BASE_NAME, 'host');
  if (secret && /^cses_[A-Za-z0-9_-]{43}$/.test(secret)) {
    const idHash = await hashSecret(secret);
    const admin = await sessionAdmin(c.env.DB, idHash, Date.now());
    if (admin) c.set('session', { admin, csrfToken: await csrfTokenOf(secret), idHash });
  }
  await next();
});

/** OWASP CSRF cheat sheet: a state-changing request must come from a page of this origin (Origin header). */
export function requireSameOrigin(c: Context<AppEnv>): void {
  const origin = c.req.header('origin');
  if (origin === consoleRelyingParty(c).origin) return;
  // Referrer-Policy: no-referrer makes a browser send `Origin: null` with a form post; Fetch Metadata (a header pages
  // cannot set) then says whether the form was on this origin. The CSRF token is checked as well.
  if ((origin === undefined || origin === 'null') && c.req.header('sec-fetch-site') === 'same-origin') return;
  throw new ApiError('CSRF_REFUSED', 'This request did not come from a console page of this service.');
}

/** OWASP CSRF cheat sheet, synchroniser token: the form field or header must equal the session's token (constant time). */
export async function requireCsrf(c: Context<ConsoleEnv>, session: ConsoleSession, presented: string | undefined): Promise<void> {
  requireSameOrigin(c);
  if (!presented || !(await secretsEqual(presented, session.csrfToken))) {
    throw new ApiError('CSRF_REFUSED', 'The form is stale or did not come from the console: reload the page and try again.');
  }
}
