// /oidc/{tenantId}: the OpenID Connect CIBA front door of one tenant (docs/ciba.md): discovery, backchannel authentication, token.
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { isId } from '../domain/ids';
import { publicOriginOf } from '../middleware/origin';
import { getTenant } from '../storage/tenants';
import { exchangeAuthReqId, requestBackchannelAuthentication } from '../services/ciba';
import type { Issuer } from '../services/ciba';
import { ACR_SCA, PAYMENT_DETAILS_TYPE, SUPPORTED_SCOPES, parseBackchannelRequest } from './backchannel-request';
import { authenticateCibaClient } from './client-auth';
import { failure, OAuthError, oauthErrorResponse } from './errors';
import type { OAuthFailure } from './errors';

export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
/** A form larger than this is refused: authorization_details and a client assertion fit easily. */
const MAX_FORM_BYTES = 16 * 1024;

export const oidc = new Hono<AppEnv>();

/** The issuer of a tenant: from PUBLIC_URL (publicOriginOf), never from the Host header. */
function issuerOf(c: Context<AppEnv>, tenantId: string): Issuer {
  const origin = publicOriginOf(c);
  return { tenantId, issuer: `${origin.origin}/oidc/${tenantId}`, origin };
}

function endpoints(issuer: string): { backchannel: string; token: string } {
  return { backchannel: `${issuer}/bc-authorize`, token: `${issuer}/token` };
}

async function knownTenant(c: Context<AppEnv>): Promise<string | null> {
  const tenantId = c.req.param('tenantId') ?? '';
  return isId(tenantId, 'ten') && (await getTenant(c.env.DB, tenantId)) ? tenantId : null;
}

async function readForm(c: Context<AppEnv>): Promise<URLSearchParams | OAuthFailure> {
  // CIBA Core §7.1 and RFC 6749 §3.2: the request is application/x-www-form-urlencoded.
  if (!/^application\/x-www-form-urlencoded/i.test(c.req.header('content-type') ?? '')) return failure(400, 'invalid_request', 'Send application/x-www-form-urlencoded.');
  const bytes = await c.req.arrayBuffer();
  if (bytes.byteLength > MAX_FORM_BYTES) return failure(400, 'invalid_request', 'The request is too large.');
  return new URLSearchParams(new TextDecoder().decode(bytes));
}

function rendered(error: unknown): Response {
  if (error instanceof OAuthError) return oauthErrorResponse(error.failure);
  throw error;
}

oidc.get('/:tenantId/.well-known/openid-configuration', async (c) => {
  const tenantId = await knownTenant(c);
  if (!tenantId) throw new ApiError('NOT_FOUND', 'No such issuer.');
  const { issuer, origin } = issuerOf(c, tenantId);
  const { backchannel, token } = endpoints(issuer);
  c.header('cache-control', 'public, max-age=300');
  // OIDC Discovery §3 and CIBA Core §4: what a client reads before it calls anything.
  return c.json({
    issuer,
    backchannel_authentication_endpoint: backchannel,
    token_endpoint: token,
    jwks_uri: `${origin.origin}/.well-known/jwks.json`,
    grant_types_supported: [CIBA_GRANT],
    backchannel_token_delivery_modes_supported: ['poll', 'ping'],
    backchannel_user_code_parameter_supported: false,
    backchannel_authentication_request_signing_alg_values_supported: [],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['ES256'],
    authorization_details_types_supported: [PAYMENT_DETAILS_TYPE],
    id_token_signing_alg_values_supported: ['ES256'],
    subject_types_supported: ['public'],
    scopes_supported: [...SUPPORTED_SCOPES],
    // OIDC Discovery §3 requires it; CIBA uses no authorization endpoint, so the one type an ID token comes in is listed.
    response_types_supported: ['id_token'],
    acr_values_supported: [ACR_SCA],
    claims_supported: ['iss', 'sub', 'aud', 'iat', 'exp', 'auth_time', 'acr', 'amr', 'urn:openid:params:jwt:claim:auth_req_id', 'authorization_details', 'custos_result_token'],
  });
});

oidc.post('/:tenantId/bc-authorize', async (c) => {
  try {
    const form = await readForm(c);
    if (!(form instanceof URLSearchParams)) return oauthErrorResponse(form);
    const tenantId = await knownTenant(c);
    if (!tenantId) return oauthErrorResponse(failure(401, 'invalid_client', 'Client authentication failed.'));
    const at = issuerOf(c, tenantId);
    const { backchannel } = endpoints(at.issuer);
    const auth = await authenticateCibaClient(c.env, { form, authorization: c.req.header('authorization'), tenantId, audience: [at.issuer, backchannel] });
    if (!auth.ok) return oauthErrorResponse(auth.failure);
    // CIBA Core §13 unauthorized_client: starting operations is what the client's `operations` scope allows.
    if (!auth.client.scopes.includes('operations')) return oauthErrorResponse(failure(400, 'unauthorized_client', 'The client lacks the operations scope.'));
    const parsed = parseBackchannelRequest(form, { deliveryMode: auth.client.ciba.deliveryMode });
    if (!parsed.ok) return oauthErrorResponse(parsed.failure);
    const answer = await requestBackchannelAuthentication(c.env, at, auth.client, parsed.request);
    c.header('cache-control', 'no-store');
    return c.json(answer, 200);
  } catch (error) {
    return rendered(error);
  }
});

oidc.post('/:tenantId/token', async (c) => {
  try {
    const form = await readForm(c);
    if (!(form instanceof URLSearchParams)) return oauthErrorResponse(form);
    const tenantId = await knownTenant(c);
    if (!tenantId) return oauthErrorResponse(failure(401, 'invalid_client', 'Client authentication failed.'));
    const at = issuerOf(c, tenantId);
    const { token } = endpoints(at.issuer);
    const auth = await authenticateCibaClient(c.env, { form, authorization: c.req.header('authorization'), tenantId, audience: [at.issuer, token] });
    if (!auth.ok) return oauthErrorResponse(auth.failure);
    if (form.getAll('grant_type').length !== 1 || form.getAll('auth_req_id').length > 1) return oauthErrorResponse(failure(400, 'invalid_request', 'grant_type and auth_req_id are sent once.'));
    // RFC 6749 §5.2: this token endpoint serves the CIBA grant only.
    if (form.get('grant_type') !== CIBA_GRANT) return oauthErrorResponse(failure(400, 'unsupported_grant_type', `Only ${CIBA_GRANT} is supported here.`));
    const authReqId = form.get('auth_req_id');
    if (!authReqId || authReqId.length > 256) return oauthErrorResponse(failure(400, 'invalid_request', 'auth_req_id is required.'));
    const answer = await exchangeAuthReqId(c.env, at, auth.client, authReqId);
    c.header('cache-control', 'no-store');
    return c.json(answer, 200);
  } catch (error) {
    return rendered(error);
  }
});
