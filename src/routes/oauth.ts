// POST /oauth/token: OAuth 2.0 client credentials (RFC 6749 §4.4); errors in the §5.2 shape OAuth libraries expect.
import { Hono } from 'hono';
import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { newSecret } from '../domain/secrets';
import { authenticateClient, storeAccessToken } from '../storage/clients';

export const TOKEN_TTL_SECONDS = 900;

export const oauth = new Hono<AppEnv>();

function oauthError(status: 400 | 401, error: string, description: string): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  // RFC 6749 §5.2: invalid_client over HTTP Basic answers 401 with a challenge.
  if (status === 401) headers['www-authenticate'] = 'Basic realm="custos"';
  return new Response(JSON.stringify({ error, error_description: description }), { status, headers });
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | null | 'malformed' {
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
  const basic = basicCredentials(c.req.header('authorization'));
  if (basic === 'malformed') return oauthError(401, 'invalid_client', 'Malformed Basic credentials.');
  const postId = form.get('client_id');
  const postSecret = form.get('client_secret');
  // RFC 6749 §2.3: a client uses one authentication method per request.
  if (basic && (postId !== null || postSecret !== null)) {
    return oauthError(400, 'invalid_request', 'Use either HTTP Basic or client_secret_post, not both.');
  }
  const credentials = basic ?? (postId && postSecret ? { id: postId, secret: postSecret } : null);
  if (!credentials) return oauthError(401, 'invalid_client', 'Client authentication is required.');
  const client = await authenticateClient(c.env.DB, credentials.id, credentials.secret);
  if (!client) return oauthError(401, 'invalid_client', 'Client authentication failed.');

  let scopes = client.scopes;
  const requested = form.get('scope');
  if (requested !== null) {
    const asked = requested.split(' ').filter(Boolean);
    if (asked.length === 0 || asked.some((s) => !client.scopes.includes(s))) {
      return oauthError(400, 'invalid_scope', `Allowed scopes: ${client.scopes.join(' ')}.`);
    }
    scopes = [...new Set(asked)];
  }
  const token = newSecret('cat');
  const expiresAt = Math.floor(Date.now() / 1000) + TOKEN_TTL_SECONDS;
  await storeAccessToken(c.env.DB, token, { clientId: client.clientId, tenantId: client.tenantId, scopes, expiresAt });
  c.header('cache-control', 'no-store');
  return c.json({ access_token: token, token_type: 'Bearer', expires_in: TOKEN_TTL_SECONDS, scope: scopes.join(' ') });
});

/** The OpenAPI entry of POST /oauth/token: a plain Hono handler (its errors are RFC 6749's, not problem+json), documented here. */
export function registerOAuthDocs(app: OpenAPIHono<AppEnv>): void {
  const OAuthError = z
    .object({
      error: z.enum(['invalid_request', 'invalid_client', 'unsupported_grant_type', 'invalid_scope']),
      error_description: z.string(),
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
      + 'Errors follow RFC 6749 §5.2 (`{ error, error_description }`), the shape OAuth client libraries expect.',
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
    },
  });
}
