// OpenAPI entries of the CIBA front door (plain Hono handlers in oidc/routes.ts: form bodies and RFC 6749 error JSON).
import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { ProblemSchema } from '../schemas/common';

const TAG = 'OpenID Connect CIBA';
const tenantParam = z.object({ tenantId: z.string().openapi({ param: { name: 'tenantId', in: 'path' }, example: 'ten_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h' }) });

const CibaError = z
  .object({
    error: z.enum([
      'invalid_request', 'invalid_scope', 'invalid_client', 'unauthorized_client', 'unsupported_grant_type', 'invalid_grant', 'expired_login_hint_token',
      'unknown_user_id', 'invalid_binding_message', 'invalid_authorization_details', 'access_denied', 'authorization_pending', 'slow_down', 'expired_token',
    ]),
    error_description: z.string(),
  })
  .openapi('CibaError');
const err = (description: string) => ({ description, content: { 'application/json': { schema: CibaError } } });

/** Both endpoints authenticate the client the same way, throttled like /oauth/token. */
const clientAuthErrors = {
  401: err('invalid_client (with WWW-Authenticate: Basic)'),
  429: err('slow_down with Retry-After: too many failed client authentications from this address or for this client_id (the /oauth/token throttles)'),
};

const ClientAuthFields = {
  client_id: z.string().optional().openapi({ description: 'client_secret_post (with client_secret), or optional with private_key_jwt' }),
  client_secret: z.string().optional().openapi({ description: 'client_secret_post only' }),
  client_assertion_type: z.literal('urn:ietf:params:oauth:client-assertion-type:jwt-bearer').optional().openapi({ description: 'private_key_jwt only' }),
  client_assertion: z.string().optional().openapi({ description: 'private_key_jwt: ES256 JWT, iss = sub = client_id, aud = the issuer or this endpoint, exp ≤ 10 min, jti used once' }),
};

export function registerOidcDocs(app: OpenAPIHono<AppEnv>): void {
  const registry = app.openAPIRegistry;
  registry.registerPath({
    method: 'get', path: '/oidc/{tenantId}/.well-known/openid-configuration', tags: [TAG], operationId: 'getOpenIdConfiguration',
    summary: 'OpenID Provider metadata of one tenant (OIDC Discovery, CIBA Core §4)',
    description: 'The issuer is `{PUBLIC_URL}/oidc/{tenantId}`; every URL here derives from PUBLIC_URL, never from the Host header. Cacheable for 5 minutes.',
    security: [], request: { params: tenantParam },
    responses: {
      200: { description: 'The metadata', content: { 'application/json': { schema: z.record(z.string(), z.unknown()).openapi('OpenIdConfiguration') } } },
      404: { description: 'NOT_FOUND: no such tenant', content: { 'application/problem+json': { schema: ProblemSchema } } },
    },
  });
  registry.registerPath({
    method: 'post', path: '/oidc/{tenantId}/bc-authorize', tags: [TAG], operationId: 'requestBackchannelAuthentication',
    summary: 'Backchannel authentication request (CIBA Core §7)',
    description: 'Starts an AUTHENTICATION, or with `authorization_details` of type `payment_initiation` an AUTHORISATION (PSD2 dynamic linking), '
      + 'for the user named by exactly one hint, on their device: an ordinary Custos operation (GET /v1/operations, the audit log, webhooks). '
      + '`requested_expiry` is clamped to the tenant lifetime (≤ 300 s). `user_code` is not supported. Errors are RFC 6749 §5.2 JSON; on a refusal nothing is written.',
    security: [{ clientBasic: [] }], request: {
      params: tenantParam,
      body: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': {
            schema: z.object({
              scope: z.string().openapi({ example: 'openid' }),
              login_hint: z.string().optional().openapi({ description: 'The user’s externalRef' }),
              login_hint_token: z.string().optional().openapi({ description: 'ES256 JWT signed with a key of the client’s jwks: iss = client_id, aud = issuer, exp, login_hint = externalRef' }),
              id_token_hint: z.string().optional().openapi({ description: 'An unexpired ID token this issuer gave this client' }),
              binding_message: z.string().optional().openapi({ description: '1–64 printable characters, shown on the device as the title' }),
              requested_expiry: z.string().optional().openapi({ description: 'Seconds; clamped to the tenant lifetime (≤ 300)' }),
              acr_values: z.string().optional(),
              client_notification_token: z.string().optional().openapi({ description: 'Required for ping clients: the bearer token of their notification' }),
              authorization_details: z.string().optional().openapi({ description: 'JSON array of one payment_initiation object (docs/ciba.md)' }),
              ...ClientAuthFields,
            }).openapi('BackchannelAuthenticationRequest'),
          },
        },
      },
    },
    responses: {
      200: {
        description: 'Accepted: poll the token endpoint (or wait for the ping) with auth_req_id',
        content: { 'application/json': { schema: z.object({ auth_req_id: z.string(), expires_in: z.number().int(), interval: z.number().int() }).openapi('BackchannelAuthenticationResponse') } },
      },
      400: err('invalid_request, invalid_scope, expired_login_hint_token, unknown_user_id, unauthorized_client, invalid_binding_message, invalid_authorization_details'),
      ...clientAuthErrors,
      403: err('access_denied: the user is not active, has no active device, or a start limit is reached'),
    },
  });
  registry.registerPath({
    method: 'post', path: '/oidc/{tenantId}/token', tags: [TAG], operationId: 'exchangeCibaGrant', summary: 'CIBA token request (CIBA Core §10.1, §11)',
    description: 'grant_type `urn:openid:params:grant-type:ciba`. Pending: `authorization_pending`; faster than `interval`: `slow_down` (the interval grows by 5 s). '
      + 'Completed: an ES256 ID token (with `custos_result_token`, the device evidence) and access token, once: a second exchange is `invalid_grant`.',
    security: [{ clientBasic: [] }], request: {
      params: tenantParam,
      body: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': {
            schema: z.object({ grant_type: z.literal('urn:openid:params:grant-type:ciba'), auth_req_id: z.string(), ...ClientAuthFields }).openapi('CibaTokenRequest'),
          },
        },
      },
    },
    responses: {
      200: {
        description: 'The tokens',
        content: {
          'application/json': {
            schema: z.object({
              access_token: z.string(), token_type: z.literal('Bearer'), expires_in: z.number().int(), id_token: z.string(),
              authorization_details: z.array(z.record(z.string(), z.unknown())).optional(),
            }).openapi('CibaTokenResponse'),
          },
        },
      },
      400: err('authorization_pending, slow_down, expired_token, access_denied, invalid_grant, invalid_request, unsupported_grant_type'),
      ...clientAuthErrors,
    },
  });
}
