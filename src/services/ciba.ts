// The CIBA adapter over the one engine: a backchannel request starts an ordinary operation; the token grant reads it back.
import { decodeJwt } from 'jose';
import type { Bindings } from '../env';
import { ApiError } from '../errors';
import { hashSecret, newSecret } from '../domain/secrets';
import { DEFAULT_POLICY, resolveTtl } from '../domain/policy';
import type { TenantPolicy } from '../domain/policy';
import type { RequestOrigin } from '../middleware/origin';
import type { StartOperationInput } from '../schemas/operations';
import type { ApiClient } from '../storage/clients';
import { getTenant } from '../storage/tenants';
import { consumeCibaRequest, getCibaRequest, insertCibaRequest, recordPoll, userIdByExternalRef } from '../storage/ciba';
import { startOperation } from './operation-start';
import { readOperation } from './operation-read';
import { requireKeySet } from './keys';
import { cibaPingStub } from '../durable-objects/ciba-ping';
import type { BackchannelRequest } from '../oidc/backchannel-request';
import { ACR_SCA } from '../oidc/backchannel-request';
import { failure, OAuthError } from '../oidc/errors';
import { signAccessToken, signIdToken, verifyClientJwt, verifyIdTokenHint, ACCESS_TOKEN_TTL_SECONDS } from '../oidc/tokens';

/** CIBA Core §7.3: the default minimum wait between polls. */
export const POLL_INTERVAL_SECONDS = 5;
/** A consent given just before the request expires can still be collected this long after it. */
export const COLLECTION_GRACE_SECONDS = 60;

export interface Issuer {
  tenantId: string;
  /** `{PUBLIC_URL}/oidc/{tenantId}`. */
  issuer: string;
  origin: RequestOrigin;
}

export interface BackchannelAnswer {
  auth_req_id: string;
  expires_in: number;
  interval: number;
}

/** Which user the hint names, or the CIBA error for it (CIBA Core §7.1, §13). */
async function resolveUser(env: Bindings, at: Issuer, client: ApiClient, request: BackchannelRequest): Promise<string> {
  const { hint } = request;
  let externalRef: string;
  if (hint.kind === 'id_token_hint') {
    const keys = await requireKeySet(env, 'SIGNING_KEYS', { generate: at.origin.localDevelopment });
    const verified = await verifyIdTokenHint(keys, hint.value, { issuer: at.issuer, clientId: client.clientId });
    if (!verified.ok) throw new OAuthError(failure(400, 'invalid_request', verified.expired ? 'id_token_hint has expired.' : 'id_token_hint is not an ID token this issuer gave this client.'));
    return verified.payload.sub!;
  }
  if (hint.kind === 'login_hint_token') {
    // docs/ciba.md: a login_hint_token is a JWT the client signs with its registered key: {iss, aud: issuer, exp, login_hint}.
    if (!client.ciba.jwks) throw new OAuthError(failure(400, 'invalid_request', 'login_hint_token needs a client with registered jwks (docs/ciba.md).'));
    const verified = await verifyClientJwt(client.ciba.jwks, hint.value, { clientId: client.clientId, audience: [at.issuer] });
    if (!verified.ok) {
      // CIBA Core §13: an expired login_hint_token has its own error.
      if (verified.expired) throw new OAuthError(failure(400, 'expired_login_hint_token', 'login_hint_token has expired.'));
      throw new OAuthError(failure(400, 'invalid_request', 'login_hint_token is not a valid JWT of this client for this issuer.'));
    }
    const named = verified.payload.login_hint;
    if (typeof named !== 'string' || named.length === 0) throw new OAuthError(failure(400, 'invalid_request', 'login_hint_token carries no login_hint claim.'));
    externalRef = named;
  } else {
    externalRef = hint.value;
  }
  const userId = await userIdByExternalRef(env.DB, at.tenantId, externalRef);
  // CIBA Core §13: unknown_user_id when the hint names nobody.
  if (!userId) throw new OAuthError(failure(400, 'unknown_user_id', 'No user of this tenant has that externalRef.'));
  return userId;
}

/** The engine's refusals in CIBA's words; anything else (a deployment problem) stays a problem for the error handler. */
function asOAuth(error: unknown): never {
  if (error instanceof ApiError) {
    switch (error.code) {
      case 'USER_NOT_FOUND': throw new OAuthError(failure(400, 'unknown_user_id', 'No such user.'));
      case 'USER_NOT_ACTIVE':
      case 'NO_ACTIVE_DEVICE':
      case 'TOO_MANY_LIVE_OPERATIONS':
      case 'RATE_LIMITED':
        // CIBA Core §13: access_denied, the OP refuses the request; the reason is the engine's.
        throw new OAuthError(failure(403, 'access_denied', error.message));
      case 'VALIDATION_FAILED': throw new OAuthError(failure(400, 'invalid_request', error.message));
    }
  }
  throw error;
}

/** CIBA Core §7: validates the rest, starts the operation (the one engine) and answers the auth_req_id. */
export async function requestBackchannelAuthentication(env: Bindings, at: Issuer, client: ApiClient, request: BackchannelRequest): Promise<BackchannelAnswer> {
  const userId = await resolveUser(env, at, client, request);
  const tenant = await getTenant(env.DB, at.tenantId);
  const policy: TenantPolicy = { ...DEFAULT_POLICY, ...(tenant?.policy ?? {}) };
  const longest = resolveTtl(undefined, policy);
  const max = longest.ok ? longest.seconds : 300;
  // CIBA Core §7.1 requested_expiry, clamped to the tenant's lifetime (PSD2 RTS art. 4(3)(d): at most 300 s).
  const ttlSeconds = Math.min(request.requestedExpiry ?? max, max);
  const context = request.bindingMessage !== undefined ? { title: request.bindingMessage } : undefined;
  const input: StartOperationInput = request.payment
    ? { type: 'AUTHORISATION', userId, ttlSeconds, transaction: request.payment.transaction, ...(context ? { context } : {}) }
    : { type: 'AUTHENTICATION', userId, ttlSeconds, ...(context ? { context } : {}) };
  const started = await startOperation(env, { tenantId: at.tenantId, clientId: client.clientId }, input, at.origin).catch(asOAuth);
  const { view } = started;

  const authReqId = newSecret('areq');
  const authReqHash = await hashSecret(authReqId);
  const expiresAt = Math.floor(Date.parse(view.expiresAt) / 1000);
  await insertCibaRequest(env.DB, {
    authReqHash, tenantId: at.tenantId, clientId: client.clientId, operationId: view.id, scope: request.scope.join(' '),
    authorizationDetails: request.payment ? [request.payment.granted] : null, deliveryMode: client.ciba.deliveryMode,
    pollInterval: POLL_INTERVAL_SECONDS, expiresAt, createdAt: new Date().toISOString(),
  });
  if (client.ciba.deliveryMode === 'ping' && client.ciba.notificationEndpoint && request.clientNotificationToken) {
    // CIBA Core §10.2: the object watches the operation and pings the client once it is final (durable, retried).
    await cibaPingStub(env, view.id).watch({
      tenantId: at.tenantId, operationId: view.id, authReqId, endpoint: client.ciba.notificationEndpoint,
      notificationToken: request.clientNotificationToken, giveUpAt: (expiresAt + COLLECTION_GRACE_SECONDS) * 1000,
    });
  }
  return { auth_req_id: authReqId, expires_in: Math.max(1, expiresAt - Math.floor(Date.now() / 1000)), interval: POLL_INTERVAL_SECONDS };
}

export interface TokenAnswer {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  id_token: string;
  authorization_details?: unknown[];
}

const invalidGrant = (description: string) => new OAuthError(failure(400, 'invalid_grant', description));

/** CIBA Core §10.1 and §11: the token request of grant urn:openid:params:grant-type:ciba. */
export async function exchangeAuthReqId(env: Bindings, at: Issuer, client: ApiClient, authReqId: string): Promise<TokenAnswer> {
  const hash = await hashSecret(authReqId);
  const request = await getCibaRequest(env.DB, at.tenantId, hash);
  // CIBA Core §11: an auth_req_id that is unknown, another client's, or already exchanged is invalid_grant (one answer for all).
  if (!request || request.clientId !== client.clientId) throw invalidGrant('The auth_req_id is not valid for this client.');
  if (request.consumedAt !== null) throw invalidGrant('The auth_req_id was already exchanged.');
  const nowMs = Date.now();
  const now = Math.floor(nowMs / 1000);
  const view = await readOperation(env, at.tenantId, request.operationId);
  if (!view) throw invalidGrant('The auth_req_id is not valid for this client.');

  switch (view.status) {
    case 'PENDING':
    case 'IN_PROGRESS': {
      if (now >= request.expiresAt) throw new OAuthError(failure(400, 'expired_token', 'The request has expired; start a new one.'));
      // CIBA Core §11: polled sooner than the interval → slow_down, and the interval grows by 5 s.
      if (!(await recordPoll(env.DB, hash, nowMs))) throw new OAuthError(failure(400, 'slow_down', `Poll at most every ${request.pollInterval + 5} s.`));
      throw new OAuthError(failure(400, 'authorization_pending', 'The user has not answered yet.'));
    }
    case 'EXPIRED': throw new OAuthError(failure(400, 'expired_token', 'The request has expired; start a new one.'));
    case 'REJECTED': throw new OAuthError(failure(400, 'access_denied', 'The user declined.'));
    case 'FAILED': throw new OAuthError(failure(400, 'access_denied', `The device could not complete it${view.failure ? ` (${view.failure.code})` : ''}.`));
    case 'CANCELLED': throw new OAuthError(failure(400, 'access_denied', 'The request was cancelled.'));
    case 'COMPLETED': break;
  }
  if (now >= request.expiresAt + COLLECTION_GRACE_SECONDS) throw new OAuthError(failure(400, 'expired_token', 'The request has expired; start a new one.'));
  const resultToken = view.result?.token;
  if (!resultToken) throw new Error(`completed operation ${view.id} has no result token`);
  // The exchange happens once: a conditional UPDATE that only one caller can win.
  if (!(await consumeCibaRequest(env.DB, hash, new Date(nowMs).toISOString()))) throw invalidGrant('The auth_req_id was already exchanged.');

  const keys = await requireKeySet(env, 'SIGNING_KEYS', { generate: at.origin.localDevelopment });
  const evidence = decodeJwt(resultToken);
  const amr = Array.isArray(evidence.amr) ? (evidence.amr as string[]) : ['hwk'];
  const details = request.authorizationDetails ?? undefined;
  const idToken = await signIdToken(keys, {
    issuer: at.issuer, clientId: client.clientId, userId: view.userId, issuedAt: now,
    authTime: Math.floor(Date.parse(view.completedAt ?? new Date(nowMs).toISOString()) / 1000),
    acr: ACR_SCA, amr, authReqId, resultToken, ...(details ? { authorizationDetails: details } : {}),
  });
  const accessToken = await signAccessToken(keys, { issuer: at.issuer, clientId: client.clientId, userId: view.userId, scope: request.scope, issuedAt: now, ...(details ? { authorizationDetails: details } : {}) });
  return { access_token: accessToken, token_type: 'Bearer', expires_in: ACCESS_TOKEN_TTL_SECONDS, id_token: idToken, ...(details ? { authorization_details: details } : {}) };
}
