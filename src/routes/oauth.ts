// POST /oauth/token: OAuth 2.0 client credentials (RFC 6749 §4.4); errors in the §5.2 shape OAuth libraries expect.
import { Hono } from 'hono';
import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { authenticateClient } from '../storage/clients';
import { issueAccessToken } from '../services/access-tokens';
import { isId } from '../domain/ids';
import { THROTTLE_RULES } from '../domain/throttle';
import { countFailures, sourceKey, throttleVerdict } from '../services/auth-throttle';

export const TOKEN_TTL_SECONDS = 900;

export const oauth = new Hono<AppEnv>();

function oauthError(status: 400 | 401, error: string, description: string): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  // RFC 6749 §5.2: invalid_client over HTTP Basic answers 401 with a challenge.
  if (status === 401) headers['www-authenticate'] = 'Basic realm="custos"';
  return new Response(JSON.stringify({ error, error_description: description }), { status, headers });
}

/**
 * 429 in RFC 6749 §5.2's shape, so OAuth libraries still read `error`: `slow_down` is the token endpoint's
 * "poll less often" of RFC 8628 §3.5; `retry_after` repeats the Retry-After header for clients that only parse the body.
 */
/** RFC 6749 §5.2 shape for a throttled client authentication (429 with Retry-After); /oidc answers the same. */
export function slowDown(retryAfterSeconds: number): Response {
  return new Response(
    JSON.stringify({ error: 'slow_down', error_description: `Too many failed client authentications; retry in ${retryAfterSeconds} s.`, retry_after: retryAfterSeconds }),
    { status: 429, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'retry-after': String(retryAfterSeconds) } },
  );
}

export function basicCredentials(header: string | undefined): { id: string; secret: string } | null | 'malformed' {
  if (!header) return null;
  const match = header.match(/^Basic ([A-Za-z0-9+/=]+)$/);
  if (!match?.[1]) return 'malformed';
  try {
    const decoded = atob(match[1]);
    const colon = decoded.indexOf(':');
    if (colon < 0) return 'malformed';
    return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
  } catch {
    return 'malformed';
  }
}

oauth.post('/token', async (c) => {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/x-www-form-urlencoded/i.test(type)) {
    return oauthError(400, 'invalid_request', 'Send application/x-www-form-urlencoded.');
  }
  const raw = new TextDecoder().decode(await c.req.arrayBuffer());
  if (raw.length > 4096) return oauthError(400, 'invalid_request', 'The request is too large.');
  const form = new URLSearchParams(raw);
  if (form.get('grant_type') !== 'client_credentials') {
    return oauthError(400, 'unsupported_grant_type', 'Only client_credentials is supported.');
  }
  const source = sourceKey(c);
  // OWASP ASVS 2.2.1: an address that failed too often is refused before its credentials are looked at.
  if (source) {
    const verdict = await throttleVerdict(c.env, 'oauthAddress', source);
    if (verdict.throttled) return slowDown(verdict.retryAfterSeconds);
  }
  /*
   * A failure counts against its address and against the client_id it named. The client_id's count only turns
   * further wrong answers into 429s: a correct secret is checked and accepted whatever the count, so someone
   * who knows a client_id (it is not a secret) cannot lock the real client out; guessing a 256-bit secret is
   * hopeless anyway, and the address throttle is what slows a guesser down.
   */
  const refuse = async (clientId: string | null, description: string): Promise<Response> => {
    const verdict = await countFailures(c.env, [['oauthAddress', source], ['oauthClient', clientId !== null && isId(clientId, 'cli') ? clientId : null]]);
    return verdict.throttled ? slowDown(verdict.retryAfterSeconds) : oauthError(401, 'invalid_client', description);
  };
  const basic = basicCredentials(c.req.header('authorization'));
  if (basic === 'malformed') return refuse(null, 'Malformed Basic credentials.');
  const postId = form.get('client_id');
  const postSecret = form.get('client_secret');
  // RFC 6749 §2.3: a client uses one authentication method per request.
  if (basic && (postId !== null || postSecret !== null)) {
    return oauthError(400, 'invalid_request', 'Use either HTTP Basic or client_secret_post, not both.');
  }
  const credentials = basic ?? (postId && postSecret ? { id: postId, secret: postSecret } : null);
  if (!credentials) return refuse(null, 'Client authentication is required.');
  const client = await authenticateClient(c.env.DB, credentials.id, credentials.secret);
  if (!client) return refuse(credentials.id, 'Client authentication failed.');

  let scopes = client.scopes;
  const requested = form.get('scope');
  if (requested !== null) {
    const asked = requested.split(' ').filter(Boolean);
    if (asked.length === 0 || asked.some((s) => !client.scopes.includes(s))) {
      return oauthError(400, 'invalid_scope', `Allowed scopes: ${client.scopes.join(' ')}.`);
    }
    scopes = [...new Set(asked)];
  }
  const expiresAt = Math.floor(Date.now() / 1000) + TOKEN_TTL_SECONDS;
  const token = await issueAccessToken(c.env, { clientId: client.clientId, tenantId: client.tenantId, scopes, expiresAt });
  // Revoked between the secret check and the issue: the revocation wins.
  if (!token) return refuse(client.clientId, 'Client authentication failed.');
  c.header('cache-control', 'no-store');
  return c.json({ access_token: token, token_type: 'Bearer', expires_in: TOKEN_TTL_SECONDS, scope: scopes.join(' ') });
});

/** The OpenAPI entry of POST /oauth/token: a plain Hono handler (its errors are RFC 6749's, not problem+json), documented here. */
export function registerOAuthDocs(app: OpenAPIHono<AppEnv>): void {
  const OAuthError = z
    .object({
      error: z.enum(['invalid_request', 'invalid_client', 'unsupported_grant_type', 'invalid_scope', 'slow_down']),
      error_description: z.string(),
      retry_after: z.number().int().min(1).optional().openapi({ description: 'slow_down only: seconds to wait, as in Retry-After' }),
    })
    .openapi('OAuthError');
  const oauthError = (description: string) => ({ description, content: { 'application/json': { schema: OAuthError } } });
  app.openAPIRegistry.registerComponent('securitySchemes', 'clientBasic', {
    type: 'http', scheme: 'basic', description: 'client_id:client_secret of an API client (or client_id and client_secret in the form: client_secret_post)',
  });
  app.openAPIRegistry.registerPath({
    method: 'post', path: '/oauth/token', tags: ['OAuth'], operationId: 'issueAccessToken', summary: 'Client credentials grant (RFC 6749 §4.4)',
    description: `Exchanges an API client's credentials for a bearer token valid ${TOKEN_TTL_SECONDS / 60} minutes. Authenticate with HTTP Basic `
      + 'or client_secret_post, not both. An optional `scope` (space-separated) narrows the token to some of the client’s scopes. '
      + 'Errors follow RFC 6749 §5.2 (`{ error, error_description }`), the shape OAuth client libraries expect. '
      + `Failed client authentications are throttled: after ${THROTTLE_RULES.oauthClient.limit} in ${THROTTLE_RULES.oauthClient.windowMs / 1000} s for one client_id `
      + 'further wrong credentials for it answer 429 `slow_down` (a correct secret is still accepted); after '
      + `${THROTTLE_RULES.oauthAddress.limit} in ${THROTTLE_RULES.oauthAddress.windowMs / 1000} s from one address (CF-Connecting-IP, IPv6 by /64) `
      + 'every request from it answers 429 `slow_down` until the window has passed. Both carry `Retry-After` and `retry_after`.',
    security: [{ clientBasic: [] }],
    request: {
      body: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': {
            schema: z
              .object({
                grant_type: z.literal('client_credentials'),
                scope: z.string().optional().openapi({ description: 'Space-separated subset of users, devices, operations, audit', example: 'operations' }),
                client_id: z.string().optional().openapi({ description: 'client_secret_post only' }),
                client_secret: z.string().optional().openapi({ description: 'client_secret_post only' }),
              })
              .openapi('TokenRequest'),
          },
        },
      },
    },
    responses: {
      200: {
        description: 'A bearer token',
        content: {
          'application/json': {
            schema: z
              .object({ access_token: z.string(), token_type: z.literal('Bearer'), expires_in: z.number().int().openapi({ example: TOKEN_TTL_SECONDS }), scope: z.string() })
              .openapi('TokenResponse'),
          },
        },
      },
      400: oauthError('invalid_request, unsupported_grant_type, invalid_scope'),
      401: oauthError('invalid_client (with WWW-Authenticate: Basic)'),
      429: {
        ...oauthError('slow_down: too many failed client authentications for this client_id or from this address'),
        headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer', minimum: 1 } } },
      },
    },
  });
}
