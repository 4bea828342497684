// OAuth errors on the OIDC endpoints: RFC 6749 §5.2's `{error, error_description}` JSON (never problem+json), as OIDC clients expect.

export type OAuthErrorCode =
  | 'invalid_request' | 'invalid_scope' | 'invalid_client' | 'unauthorized_client' | 'unsupported_grant_type' | 'invalid_grant'
  | 'expired_login_hint_token' | 'unknown_user_id' | 'missing_user_code' | 'invalid_user_code' | 'invalid_binding_message'
  | 'invalid_authorization_details' | 'access_denied' | 'authorization_pending' | 'slow_down' | 'expired_token';

export interface OAuthFailure {
  status: 400 | 401 | 403;
  error: OAuthErrorCode;
  description: string;
}

export function failure(status: OAuthFailure['status'], error: OAuthErrorCode, description: string): OAuthFailure {
  return { status, error, description };
}

/** Thrown inside the CIBA layer; the routes render it. */
export class OAuthError extends Error {
  constructor(readonly failure: OAuthFailure) {
    super(failure.error);
  }
}

export function oauthErrorResponse(f: OAuthFailure): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  // RFC 6749 §5.2: invalid_client answers 401 with a challenge for HTTP Basic.
  if (f.status === 401) headers['www-authenticate'] = 'Basic realm="custos"';
  return new Response(JSON.stringify({ error: f.error, error_description: f.description }), { status: f.status, headers });
}
