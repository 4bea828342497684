// Adds the security headers (src/security-headers.mjs) to every response the worker sends: pages, assets it relays, JSON, problems.
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { securityHeadersFor } from '../security-headers.mjs';

/**
 * Runs after the handler and the error handler, so refusals get the headers too. `set`, not
 * `append`: an asset relayed from the ASSETS binding already carries the `_headers` values, and a
 * second CSP would be enforced alongside the first.
 */
export const securityHeaders = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  const headers = securityHeadersFor(new URL(c.req.url).pathname, c.res.headers.get('content-type'));
  for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
});
