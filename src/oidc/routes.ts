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
import { authenticateCibaClient, claimedClientId } from './client-auth';
import { slowDown } from '../routes/oauth';
import { countFailures, sourceKey, throttleVerdict } from '../services/auth-throttle';
import type { ApiClient } from '../storage/clients';
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

/**
 * What both CIBA endpoints do first: read the form, find the issuer, authenticate the client. Failed client
 * authentications count under the same throttles as /oauth/token (per source address, and per claimed client_id,
 * which only turns further failures into 429s): an address over its limit is refused before any credential is read.
 */
async function authenticatedClient(
  c: Context<AppEnv>,
  endpoint: 'backchannel' | 'token',
): Promise<Response | { form: URLSearchParams; at: Issuer; client: ApiClient }> {
  const source = sourceKey(c);
  if (source) {
    const verdict = await throttleVerdict(c.env, 'oauthAddress', source);
    if (verdict.throttled) return slowDown(verdict.retryAfterSeconds);
  }
  const form = await readForm(c);
  if (!(form instanceof URLSearchParams)) return oauthErrorResponse(form);
  const authorization = c.req.header('authorization');
  const refuse = async (refusal: OAuthFailure): Promise<Response> => {
    if (refusal.error !== 'invalid_client') return oauthErrorResponse(refusal);
    const verdict = await countFailures(c.env, [['oauthAddress', source], ['oauthClient', claimedClientId(form, authorization)]]);
    return verdict.throttled ? slowDown(verdict.retryAfterSeconds) : oauthErrorResponse(refusal);
  };
  const tenantId = await knownTenant(c);
  if (!tenantId) return refuse(failure(401, 'invalid_client', 'Client authentication failed.'));
  const at = issuerOf(c, tenantId);
  const audience = [at.issuer, endpoints(at.issuer)[endpoint]];
  const auth = await authenticateCibaClient(c.env, { form, authorization, tenantId, audience });
  if (!auth.ok) return refuse(auth.failure);
  return { form, at, client: auth.client };
}

oidc.post('/:tenantId/bc-authorize', async (c) => {
  try {
    const caller = await authenticatedClient(c, 'backchannel');
    if (caller instanceof Response) return caller;
    const { form, at, client } = caller;
    // CIBA Core §13 unauthorized_client: starting operations is what the client's `operations` scope allows.
    if (!client.scopes.includes('operations')) return oauthErrorResponse(failure(400, 'unauthorized_client', 'The client lacks the operations scope.'));
    const parsed = parseBackchannelRequest(form, { deliveryMode: client.ciba.deliveryMode });
    if (!parsed.ok) return oauthErrorResponse(parsed.failure);
    const answer = await requestBackchannelAuthentication(c.env, at, client, parsed.request);
    c.header('cache-control', 'no-store');
    return c.json(answer, 200);
  } catch (error) {
    return rendered(error);
  }
});

oidc.post('/:tenantId/token', async (c) => {
  try {
    const caller = await authenticatedClient(c, 'token');
    if (caller instanceof Response) return caller;
    const { form, at, client } = caller;
    if (form.getAll('grant_type').length !== 1 || form.getAll('auth_req_id').length > 1) return oauthErrorResponse(failure(400, 'invalid_request', 'grant_type and auth_req_id are sent once.'));
    // RFC 6749 §5.2: this token endpoint serves the CIBA grant only.
    if (form.get('grant_type') !== CIBA_GRANT) return oauthErrorResponse(failure(400, 'unsupported_grant_type', `Only ${CIBA_GRANT} is supported here.`));
    const authReqId = form.get('auth_req_id');
    if (!authReqId || authReqId.length > 256) return oauthErrorResponse(failure(400, 'invalid_request', 'auth_req_id is required.'));
    const answer = await exchangeAuthReqId(c.env, at, client, authReqId);
    c.header('cache-control', 'no-store');
    return c.json(answer, 200);
  } catch (error) {
    return rendered(error);
  }
});
