// The public origin of a request's answers (from PUBLIC_URL, never the Host), and CORS for relying-party pages calling /sdk/v1.
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv, Bindings } from '../env';
import { ApiError } from '../errors';
import { resolvePublicOrigin } from '../domain/public-origin';
import { isWebOriginKnown, isWebOriginOfOperation, isWebOriginOfTenant } from '../storage/tenants';

export interface RequestOrigin {
  /** The origin URLs and identifiers handed out are built from. */
  origin: string;
  /** PUBLIC_URL unset or loopback, and the request came to a loopback host: keys may be generated, Host stands in. */
  localDevelopment: boolean;
}

/** What the origin helpers read of a request context: its bindings and its URL. */
type RequestContext = { env: Bindings; req: { url: string } };

/** The public origin for this request, or 503 PUBLIC_URL_NOT_CONFIGURED: nothing is ever derived from a public Host. */
export function publicOriginOf(c: RequestContext): RequestOrigin {
  const resolved = resolvePublicOrigin(c.env.PUBLIC_URL, c.req.url);
  if (!resolved.ok) throw new ApiError('PUBLIC_URL_NOT_CONFIGURED', `${resolved.reason}. Set PUBLIC_URL (docs/deployment.md).`);
  return { origin: resolved.origin, localDevelopment: resolved.localDevelopment };
}

/** True only for a local-development request (see RequestOrigin); never throws. */
export function isLocalDevelopment(c: RequestContext): boolean {
  const resolved = resolvePublicOrigin(c.env.PUBLIC_URL, c.req.url);
  return resolved.ok && resolved.localDevelopment;
}

/**
 * The URL a device proof's `htu` must name (RFC 9449 §4.3): the public origin and this path. In local development
 * the request's own loopback origin (a device may call 127.0.0.1 while links say localhost).
 */
export function proofTargetUrl(c: RequestContext): string {
  const url = new URL(c.req.url);
  if (isLocalDevelopment(c)) return `${url.origin}${url.pathname}`;
  return `${publicOriginOf(c).origin}${url.pathname}`;
}

// PUT and DELETE: a device's push channel (docs/push.md).
const ALLOWED_METHODS = 'GET, POST, PUT, DELETE';
const ALLOWED_HEADERS = 'authorization, content-type, x-trace-id';
const EXPOSED_HEADERS = 'x-trace-id, retry-after';
const PREFLIGHT_MAX_AGE_S = '600';

/** A cross-origin caller's Origin, or null when the request is same-origin or from no browser at all. */
function foreignOrigin(c: Context<AppEnv>): string | null {
  const origin = c.req.header('origin');
  if (origin === undefined) return null; // server, native app, CLI: CORS is a browser matter
  const resolved = resolvePublicOrigin(c.env.PUBLIC_URL, c.req.url);
  if (resolved.ok && origin === resolved.origin) return null;
  if (resolved.ok && resolved.localDevelopment && origin === new URL(c.req.url).origin) return null;
  return origin;
}

function refuse(origin: string): never {
  // The Origin is echoed in the detail only as a JSON string value; no header carries it back.
  throw new ApiError('ORIGIN_NOT_ALLOWED', `The origin ${JSON.stringify(origin)} is not an allowed web origin of this tenant (admin API: allowedOrigins).`);
}

/**
 * CORS for /sdk/*. A preflight names no tenant, so it passes when some tenant allows the Origin; the real call is
 * then checked against the tenant it acts for (`allowOriginFor…`), and only that check adds Access-Control-Allow-Origin.
 */
export const sdkCors: MiddlewareHandler<AppEnv> = async (c, next) => {
  const origin = foreignOrigin(c);
  c.header('vary', 'Origin', { append: true });
  if (origin === null) return next();
  if (c.req.method === 'OPTIONS') {
    if (origin === 'null' || !(await isWebOriginKnown(c.env.DB, origin))) refuse(origin);
    return new Response(null, {
      status: 204,
      headers: {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': ALLOWED_METHODS,
        'access-control-allow-headers': ALLOWED_HEADERS,
        'access-control-max-age': PREFLIGHT_MAX_AGE_S,
        vary: 'Origin',
        'x-trace-id': c.get('traceId'),
      },
    });
  }
  c.set('corsOrigin', origin);
  return next();
};

function allow(c: Context<AppEnv>, origin: string): void {
  c.header('access-control-allow-origin', origin);
  c.header('access-control-expose-headers', EXPOSED_HEADERS);
}

/** A cross-origin SDK call for this tenant: allowed origins get CORS headers, any other gets 403 before anything happens. */
export async function allowOriginForTenant(c: Context<AppEnv>, tenantId: string): Promise<void> {
  const origin = c.get('corsOrigin');
  if (origin === undefined) return;
  if (!(await isWebOriginOfTenant(c.env.DB, origin, tenantId))) refuse(origin);
  allow(c, origin);
}

/** Same, for a call on one operation (its tenant is looked up with the origin in one query; unknown ids answer alike). */
export async function allowOriginForOperation(c: Context<AppEnv>, operationId: string): Promise<void> {
  const origin = c.get('corsOrigin');
  if (origin === undefined) return;
  if (!(await isWebOriginOfOperation(c.env.DB, origin, operationId))) refuse(origin);
  allow(c, origin);
}

/** The SDK bundle: any origin some tenant allows may import it (it holds no tenant data). */
export async function allowOriginForBundle(c: Context<AppEnv>): Promise<void> {
  const origin = c.get('corsOrigin');
  if (origin === undefined) return;
  if (origin === 'null' || !(await isWebOriginKnown(c.env.DB, origin))) refuse(origin);
  allow(c, origin);
}
