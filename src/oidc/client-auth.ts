// Client authentication at the CIBA endpoints: the tenant's API clients by secret (Basic or post) or private_key_jwt.
import { decodeJwt } from 'jose';
import type { Bindings } from '../env';
import { isId } from '../domain/ids';
import { hashSecret } from '../domain/secrets';
import type { ApiClient } from '../storage/clients';
import { authenticateClient, getLiveClient } from '../storage/clients';
import { useAssertionJti } from '../storage/ciba';
import { basicCredentials } from '../routes/oauth';
import { failure } from './errors';
import type { OAuthFailure } from './errors';
import { verifyClientJwt } from './tokens';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** An assertion valid longer than this is refused, which also bounds how long its jti is kept. */
const MAX_ASSERTION_LIFETIME_SECONDS = 600;

export type ClientAuthentication = { ok: true; client: ApiClient } | { ok: false; failure: OAuthFailure };

const unauthenticated = (description: string): ClientAuthentication => ({ ok: false, failure: failure(401, 'invalid_client', description) });

/**
 * The client of this request, which must belong to the issuer's tenant. `audience` is what a client assertion may
 * name as aud: the issuer and the endpoint it is sent to (RFC 7523 §3, OIDC Core §9).
 */
export async function authenticateCibaClient(
  env: Pick<Bindings, 'DB'>,
  input: { form: URLSearchParams; authorization: string | undefined; tenantId: string; audience: string[] },
): Promise<ClientAuthentication> {
  const { form } = input;
  const basic = basicCredentials(input.authorization);
  if (basic === 'malformed') return unauthenticated('Malformed Basic credentials.');
  const assertionType = form.get('client_assertion_type');
  const assertion = form.get('client_assertion');
  const postSecret = form.get('client_secret');
  // RFC 6749 §2.3: one authentication method per request.
  const methods = [basic !== null, postSecret !== null, assertionType !== null || assertion !== null].filter(Boolean).length;
  if (methods > 1) return { ok: false, failure: failure(400, 'invalid_request', 'Use exactly one client authentication method.') };
  for (const name of ['client_id', 'client_secret', 'client_assertion', 'client_assertion_type']) {
    if (form.getAll(name).length > 1) return { ok: false, failure: failure(400, 'invalid_request', `${name} is repeated.`) };
  }

  let client: ApiClient | null;
  if (assertionType !== null || assertion !== null) {
    const asserted = await byAssertion(env, form, assertionType, assertion, input.audience);
    if (typeof asserted === 'string') return unauthenticated(asserted);
    client = asserted;
  } else {
    const credentials = basic ?? (form.get('client_id') && postSecret ? { id: form.get('client_id')!, secret: postSecret } : null);
    if (!credentials) return unauthenticated('Client authentication is required.');
    // RFC 6749 §2.3.1: a client_id in the form must agree with the one authenticated over Basic.
    if (basic && form.has('client_id') && form.get('client_id') !== basic.id) return unauthenticated('client_id does not match the credentials.');
    client = await authenticateClient(env.DB, credentials.id, credentials.secret);
    if (!client) return unauthenticated('Client authentication failed.');
  }
  // A client of another tenant is no client of this issuer: the same answer as an unknown one.
  if (!client || client.tenantId !== input.tenantId) return unauthenticated('Client authentication failed.');
  return { ok: true, client };
}

/**
 * The client_id a request claims to be (Basic, the form, or a client assertion's `sub`), unverified: only the key its
 * failures are counted under, so a well-formed `cli_` id or null.
 */
export function claimedClientId(form: URLSearchParams, authorization: string | undefined): string | null {
  const basic = basicCredentials(authorization);
  let claimed: unknown = basic && basic !== 'malformed' ? basic.id : form.get('client_id');
  if (claimed === null && form.get('client_assertion')) {
    try {
      claimed = decodeJwt(form.get('client_assertion')!).sub;
    } catch {
      claimed = null;
    }
  }
  return typeof claimed === 'string' && isId(claimed, 'cli') ? claimed : null;
}

/** RFC 7523 §3 and OIDC Core §9 private_key_jwt; a string is the reason it was refused. */
async function byAssertion(env: Pick<Bindings, 'DB'>, form: URLSearchParams, type: string | null, assertion: string | null, audience: string[]): Promise<ApiClient | string> {
  if (type !== JWT_BEARER || !assertion) return `client_assertion_type must be ${JWT_BEARER}, with a client_assertion.`;
  let claimed: string | undefined;
  try {
    const unverified = decodeJwt(assertion);
    claimed = typeof unverified.sub === 'string' ? unverified.sub : undefined;
  } catch {
    return 'client_assertion is not a JWT.';
  }
  // OIDC Core §9: iss and sub are the client_id; a client_id in the form must name the same client.
  if (!claimed || (form.has('client_id') && form.get('client_id') !== claimed)) return 'Client authentication failed.';
  const client = await getLiveClient(env.DB, claimed);
  if (!client?.ciba.jwks) return 'Client authentication failed.';
  const verified = await verifyClientJwt(client.ciba.jwks, assertion, { clientId: client.clientId, subject: client.clientId, audience });
  if (!verified.ok) return verified.expired ? 'client_assertion has expired.' : 'Client authentication failed.';
  const { jti, exp } = verified.payload;
  const now = Math.floor(Date.now() / 1000);
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) return 'client_assertion needs a jti.';
  if (exp === undefined || exp - now > MAX_ASSERTION_LIFETIME_SECONDS) return `client_assertion must expire within ${MAX_ASSERTION_LIFETIME_SECONDS} s.`;
  // RFC 7523 §3 item 7: a jti is used once; a replayed assertion is refused.
  if (!(await useAssertionJti(env.DB, client.clientId, await hashSecret(jti), exp, now))) return 'client_assertion was already used (jti).';
  return client;
}
