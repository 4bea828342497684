// The CIBA front door in the workers pool: discovery, the poll and ping flows, every error code, and the security rules.
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeJwt, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT } from 'jose';
import type { JWK } from 'jose';
import { adminFetch, apiWith, basicAuth, BASE_URL, countRows, createClient, getToken, setupTenant, workerFetch } from '../helpers/api';
import type { ClientCredentials } from '../helpers/api';
import { createUser, newAuthenticator } from '../helpers/ceremony';
import { answerOnDevice, pendingOperations, registerBoundDevice } from '../helpers/bound-device';
import type { BoundDevice, Http } from '../helpers/bound-device';
import { Receiver } from '../webhooks/harness';

const http: Http = (path, init) => workerFetch(path, init);
const GRANT = 'urn:openid:params:grant-type:ciba';
const IBAN = 'DE89370400440532013000';
const PAYMENT = [{ type: 'payment_initiation', instructedAmount: { amount: '42.50', currency: 'EUR' }, creditorName: 'Acme Shop', creditorAccount: { iban: IBAN } }];

interface Setup {
  tenantId: string;
  issuer: string;
  client: ClientCredentials;
  rpToken: string;
  userId: string;
  externalRef: string;
  device: BoundDevice;
}

/** A tenant, its all-scopes client, and a user (externalRef) with one passkey and device key. */
async function cibaSetup(): Promise<Setup> {
  const { tenant, client, token, api } = await setupTenant();
  const externalRef = `alice-${crypto.randomUUID()}`;
  const user = await createUser(api, { externalRef });
  const device = await registerBoundDevice(http, token, user.id, await newAuthenticator());
  return { tenantId: tenant.id, issuer: `${BASE_URL}/oidc/${tenant.id}`, client, rpToken: token, userId: user.id, externalRef, device };
}

type Auth = { basic: ClientCredentials } | { post: ClientCredentials } | { assertion: string; clientId?: string } | { none: true };

function post(tenantId: string, endpoint: 'bc-authorize' | 'token', params: Record<string, string>, auth: Auth, ip?: string): Promise<Response> {
  const form = new URLSearchParams(params);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', ...(ip ? { 'cf-connecting-ip': ip } : {}) };
  if ('basic' in auth) headers.authorization = basicAuth(auth.basic);
  if ('post' in auth) {
    form.set('client_id', auth.post.clientId);
    form.set('client_secret', auth.post.clientSecret);
  }
  if ('assertion' in auth) {
    form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    form.set('client_assertion', auth.assertion);
    if (auth.clientId) form.set('client_id', auth.clientId);
  }
  return workerFetch(`/oidc/${tenantId}/${endpoint}`, { method: 'POST', headers, body: form.toString() });
}

async function expectOAuthError(res: Response, status: number, error: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(body.error).toBe(error);
  expect(typeof body.error_description).toBe('string');
  return body;
}

async function authorize(s: Setup, params: Record<string, string> = {}, auth: Auth = { basic: s.client }): Promise<{ auth_req_id: string; expires_in: number; interval: number }> {
  const res = await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef, ...params }, auth);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

function token(s: Setup, authReqId: string, auth: Auth = { basic: s.client }): Promise<Response> {
  return post(s.tenantId, 'token', { grant_type: GRANT, auth_req_id: authReqId }, auth);
}

async function operationOf(authReqId: string): Promise<string> {
  const hash = [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(authReqId)))].map((b) => b.toString(16).padStart(2, '0')).join('');
  const row = await env.DB.prepare('SELECT operation_id FROM ciba_requests WHERE auth_req_hash = ?1').bind(hash).first<{ operation_id: string }>();
  if (!row) throw new Error('no ciba request row');
  return row.operation_id;
}

async function jwks(): Promise<ReturnType<typeof createLocalJWKSet>> {
  const res = await workerFetch('/.well-known/jwks.json');
  return createLocalJWKSet(await res.json());
}

/** A client with a registered P-256 key (private_key_jwt), and that key. */
async function keyClient(tenantId: string, ciba: Record<string, unknown> = {}): Promise<{ client: ClientCredentials; key: CryptoKey; kid: string }> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const kid = crypto.randomUUID();
  const jwk = { ...(await exportJWK(pair.publicKey)), kid };
  const res = await adminFetch(`/admin/v1/tenants/${tenantId}/clients`, { method: 'POST', json: { name: 'CIBA key client', ciba: { jwks: { keys: [jwk] }, ...ciba } } });
  expect(res.status, await res.clone().text()).toBe(201);
  return { client: await res.json(), key: pair.privateKey, kid };
}

function assertion(clientId: string, key: CryptoKey, kid: string, aud: string, claims: { exp?: number; jti?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).setIssuer(clientId).setSubject(clientId).setAudience(aud)
    .setIssuedAt(now).setExpirationTime(claims.exp ?? now + 60).setJti(claims.jti ?? crypto.randomUUID()).sign(key);
}

async function operationRows(tenantId: string): Promise<number> {
  return countRows('operations', "tenant_id = ?1 AND type != 'REGISTRATION'", tenantId);
}

describe('OIDC Discovery of a tenant issuer', () => {
  it('OIDC Discovery §3 / CIBA Core §4: the metadata names the CIBA endpoints, from PUBLIC_URL whatever the Host says', async () => {
    const { tenant } = await setupTenant();
    // The request goes to another host name: nothing in the answer may come from it.
    const res = await SELF.fetch(`https://attacker.example/oidc/${tenant.id}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const meta = await res.json<Record<string, unknown>>();
    const issuer = `https://custos.test/oidc/${tenant.id}`;
    expect(meta).toMatchObject({
      issuer,
      backchannel_authentication_endpoint: `${issuer}/bc-authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: 'https://custos.test/.well-known/jwks.json',
      backchannel_token_delivery_modes_supported: ['poll', 'ping'],
      backchannel_user_code_parameter_supported: false,
      grant_types_supported: ['urn:openid:params:grant-type:ciba'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      authorization_details_types_supported: ['payment_initiation'],
      id_token_signing_alg_values_supported: ['ES256'],
      subject_types_supported: ['public'],
      scopes_supported: ['openid'],
    });
    expect(JSON.stringify(meta)).not.toContain('attacker');
    expect(Array.isArray(meta.response_types_supported)).toBe(true);
  });

  it('an unknown tenant is no issuer: 404', async () => {
    const res = await workerFetch('/oidc/ten_00000000000000000000000000/.well-known/openid-configuration');
    expect(res.status).toBe(404);
  });
});

describe('CIBA poll mode', () => {
  it('CIBA Core §7–§11: one ordinary operation; pending, slow_down (+5 s), then the ID token once; a second exchange is invalid_grant', async () => {
    const s = await cibaSetup();
    const answer = await authorize(s, { binding_message: 'Sign in to Acme 7F3K', requested_expiry: '120' });
    expect(answer.interval).toBe(5);
    expect(answer.expires_in).toBeGreaterThan(100);
    expect(answer.expires_in).toBeLessThanOrEqual(120);
    expect(answer.auth_req_id).toMatch(/^areq_[A-Za-z0-9_-]{43}$/);
    // Only the hash of the auth_req_id is stored.
    expect(await countRows('ciba_requests', 'auth_req_hash = ?1', answer.auth_req_id)).toBe(0);

    // The operation is an ordinary one: the RP API shows it, the audit log has its start.
    const operationId = await operationOf(answer.auth_req_id);
    const api = apiWith(s.rpToken);
    const view = await (await api(`/v1/operations/${operationId}`)).json<Record<string, unknown>>();
    expect(view).toMatchObject({ type: 'AUTHENTICATION', status: 'PENDING', userId: s.userId, context: { title: 'Sign in to Acme 7F3K' } });
    expect(await countRows('audit_events', "target_id = ?1 AND action = 'operation.started'", operationId)).toBe(1);

    await expectOAuthError(await token(s, answer.auth_req_id), 400, 'authorization_pending');
    await expectOAuthError(await token(s, answer.auth_req_id), 400, 'slow_down');
    const row = await env.DB.prepare('SELECT poll_interval FROM ciba_requests WHERE operation_id = ?1').bind(operationId).first<{ poll_interval: number }>();
    expect(row?.poll_interval).toBe(10);

    // The device sees the binding message and approves.
    const pending = await pendingOperations(http, BASE_URL, s.device);
    expect(pending.find((op) => op.id === operationId)?.context?.title).toBe('Sign in to Acme 7F3K');
    expect((await answerOnDevice(http, BASE_URL, s.device, operationId, 'approve')).status).toBe(200);

    const res = await token(s, answer.auth_req_id);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const tokens = await res.json<{ access_token: string; token_type: string; expires_in: number; id_token: string }>();
    expect(tokens.token_type).toBe('Bearer');
    const { payload, protectedHeader } = await jwtVerify(tokens.id_token, await jwks(), { algorithms: ['ES256'], issuer: s.issuer, audience: s.client.clientId });
    expect(protectedHeader.typ).toBe('JWT');
    expect(payload.sub).toBe(s.userId);
    expect(payload['urn:openid:params:jwt:claim:auth_req_id']).toBe(answer.auth_req_id);
    expect(payload.acr).toBe('urn:custos:acr:sca');
    expect(payload.amr).toEqual(expect.arrayContaining(['hwk']));
    expect(typeof payload.auth_time).toBe('number');
    // The device evidence: the Custos result token of this operation.
    const result = await jwtVerify(payload.custos_result_token as string, await jwks(), { algorithms: ['ES256'], typ: 'custos-result+jwt' });
    expect(result.payload).toMatchObject({ jti: operationId, sub: s.userId, device: s.device.deviceId });
    const access = await jwtVerify(tokens.access_token, await jwks(), { algorithms: ['ES256'], issuer: s.issuer, audience: s.client.clientId, typ: 'at+jwt' });
    expect(access.payload).toMatchObject({ sub: s.userId, client_id: s.client.clientId, scope: 'openid' });

    // Single use.
    await expectOAuthError(await token(s, answer.auth_req_id), 400, 'invalid_grant');
  });

  it('RFC 9396 payment_initiation → an AUTHORISATION whose result token binds the same amount and payee', async () => {
    const s = await cibaSetup();
    const answer = await authorize(s, { authorization_details: JSON.stringify(PAYMENT), binding_message: 'Pay Acme Shop' }, { post: s.client });
    const operationId = await operationOf(answer.auth_req_id);
    const view = await (await apiWith(s.rpToken)(`/v1/operations/${operationId}`)).json<Record<string, unknown>>();
    expect(view).toMatchObject({ type: 'AUTHORISATION', transaction: { amount: '42.50', currency: 'EUR', payee: { name: 'Acme Shop', account: IBAN } } });
    expect((await answerOnDevice(http, BASE_URL, s.device, operationId, 'approve')).status).toBe(200);
    const res = await token(s, answer.auth_req_id, { post: s.client });
    expect(res.status, await res.clone().text()).toBe(200);
    const tokens = await res.json<{ id_token: string; authorization_details: unknown[] }>();
    expect(tokens.authorization_details).toEqual(PAYMENT);
    const idToken = decodeJwt(tokens.id_token);
    expect(idToken.authorization_details).toEqual(PAYMENT);
    const evidence = decodeJwt(idToken.custos_result_token as string);
    expect(evidence.txn).toMatchObject({ amount: '42.50', currency: 'EUR', payee: { name: 'Acme Shop', account: IBAN } });
  });

  it('CIBA Core §11: the user declines → access_denied; the request expires → expired_token', async () => {
    const s = await cibaSetup();
    const declined = await authorize(s);
    expect((await answerOnDevice(http, BASE_URL, s.device, await operationOf(declined.auth_req_id), 'reject')).status).toBe(200);
    await expectOAuthError(await token(s, declined.auth_req_id), 400, 'access_denied');

    const short = await authorize(s, { requested_expiry: '1' });
    expect(short.expires_in).toBeLessThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await expectOAuthError(await token(s, short.auth_req_id), 400, 'expired_token');
  });

  it('CIBA Core §7.1: requested_expiry is clamped to 300 s (PSD2)', async () => {
    const s = await cibaSetup();
    const answer = await authorize(s, { requested_expiry: '86400' });
    expect(answer.expires_in).toBeLessThanOrEqual(300);
    expect(answer.expires_in).toBeGreaterThan(290);
  });

  it('a cancelled operation (RP API) ends the grant as access_denied', async () => {
    const s = await cibaSetup();
    const answer = await authorize(s);
    const cancel = await apiWith(s.rpToken)(`/v1/operations/${await operationOf(answer.auth_req_id)}/cancel`, { method: 'POST', json: {} });
    expect(cancel.status).toBe(200);
    await expectOAuthError(await token(s, answer.auth_req_id), 400, 'access_denied');
  });
});

describe('backchannel authentication refusals: the CIBA error, and no operation written', () => {
  const refusals: [string, number, string, (s: Setup) => Promise<Response>][] = [
    ['no hint', 400, 'invalid_request', (s) => post(s.tenantId, 'bc-authorize', { scope: 'openid' }, { basic: s.client })],
    ['two hints', 400, 'invalid_request', (s) => post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef, id_token_hint: 'x.y.z' }, { basic: s.client })],
    ['user_code (unsupported)', 400, 'invalid_request', (s) => post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef, user_code: '1234' }, { basic: s.client })],
    ['a repeated parameter', 400, 'invalid_request', (s) => workerFetch(`/oidc/${s.tenantId}/bc-authorize`, {
      method: 'POST', headers: { authorization: basicAuth(s.client), 'content-type': 'application/x-www-form-urlencoded' },
      body: `scope=openid&login_hint=${encodeURIComponent(s.externalRef)}&login_hint=other`,
    })],
    ['a JSON body', 400, 'invalid_request', (s) => workerFetch(`/oidc/${s.tenantId}/bc-authorize`, {
      method: 'POST', headers: { authorization: basicAuth(s.client), 'content-type': 'application/json' }, body: JSON.stringify({ scope: 'openid', login_hint: s.externalRef }),
    })],
    ['requested_expiry not an integer', 400, 'invalid_request', (s) => post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef, requested_expiry: '1.5' }, { basic: s.client })],
    ['scope without openid', 400, 'invalid_scope', (s) => post(s.tenantId, 'bc-authorize', { scope: 'profile', login_hint: s.externalRef }, { basic: s.client })],
    ['an unsupported scope', 400, 'invalid_scope', (s) => post(s.tenantId, 'bc-authorize', { scope: 'openid email', login_hint: s.externalRef }, { basic: s.client })],
    ['an unknown login_hint', 400, 'unknown_user_id', (s) => post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: 'nobody-by-that-ref' }, { basic: s.client })],
    ['a binding_message too long', 400, 'invalid_binding_message', (s) => post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef, binding_message: 'x'.repeat(65) }, { basic: s.client })],
    ['a binding_message with a control character', 400, 'invalid_binding_message', (s) => post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef, binding_message: 'Pay\u0007now' }, { basic: s.client })],
    ['authorization_details of another type', 400, 'invalid_authorization_details', (s) => post(s.tenantId, 'bc-authorize', {
      scope: 'openid', login_hint: s.externalRef, authorization_details: JSON.stringify([{ ...PAYMENT[0], type: 'account_information' }]),
    }, { basic: s.client })],
    ['a payment to a bad IBAN', 400, 'invalid_authorization_details', (s) => post(s.tenantId, 'bc-authorize', {
      scope: 'openid', login_hint: s.externalRef, authorization_details: JSON.stringify([{ ...PAYMENT[0], creditorAccount: { iban: 'DE89370400440532013001' } }]),
    }, { basic: s.client })],
    ['a payment with a float amount', 400, 'invalid_authorization_details', (s) => post(s.tenantId, 'bc-authorize', {
      scope: 'openid', login_hint: s.externalRef, authorization_details: JSON.stringify([{ ...PAYMENT[0], instructedAmount: { amount: 42.5, currency: 'EUR' } }]),
    }, { basic: s.client })],
    ['a wrong client secret', 401, 'invalid_client', (s) => post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef }, { basic: { ...s.client, clientSecret: 'cs_wrong' } })],
    ['no client authentication', 401, 'invalid_client', (s) => post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef }, { none: true })],
  ];
  for (const [name, status, error, send] of refusals) {
    it(`CIBA Core §13: ${name} → ${status} ${error}, nothing written`, async () => {
      const s = await cibaSetup();
      const [ops, requests] = [await operationRows(s.tenantId), await countRows('ciba_requests', 'tenant_id = ?1', s.tenantId)];
      const res = await send(s);
      await expectOAuthError(res, status, error);
      if (status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
      expect(await operationRows(s.tenantId)).toBe(ops);
      expect(await countRows('ciba_requests', 'tenant_id = ?1', s.tenantId)).toBe(requests);
    });
  }

  it('CIBA Core §13 unauthorized_client: a client without the operations scope, nothing written', async () => {
    const s = await cibaSetup();
    const narrow = await createClient(s.tenantId, { scopes: ['users'] });
    await expectOAuthError(await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef }, { basic: narrow }), 400, 'unauthorized_client');
    expect(await operationRows(s.tenantId)).toBe(0);
  });

  it('CIBA Core §13 access_denied: a user with no active device (403), a locked user (403), nothing written', async () => {
    const s = await cibaSetup();
    const api = apiWith(s.rpToken);
    await createUser(api, { externalRef: 'no-device' });
    await expectOAuthError(await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: 'no-device' }, { basic: s.client }), 403, 'access_denied');
    expect((await api(`/v1/users/${s.userId}/lock`, { method: 'POST', json: {} })).status).toBe(200);
    await expectOAuthError(await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef }, { basic: s.client }), 403, 'access_denied');
    expect(await operationRows(s.tenantId)).toBe(0);
  });

  it('CIBA Core §7.1 login_hint_token: a client-signed JWT names the user; an expired one → expired_login_hint_token, nothing written', async () => {
    const s = await cibaSetup();
    const { client, key, kid } = await keyClient(s.tenantId);
    const hintToken = (exp: number) => new SignJWT({ login_hint: s.externalRef }).setProtectedHeader({ alg: 'ES256', kid }).setIssuer(client.clientId).setAudience(s.issuer).setExpirationTime(exp).sign(key);
    const now = Math.floor(Date.now() / 1000);
    await expectOAuthError(await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint_token: await hintToken(now - 60) }, { basic: client }), 400, 'expired_login_hint_token');
    expect(await operationRows(s.tenantId)).toBe(0);
    // Signed by a key the client never registered: refused as invalid_request.
    const stranger = await generateKeyPair('ES256');
    const forged = await new SignJWT({ login_hint: s.externalRef }).setProtectedHeader({ alg: 'ES256', kid }).setIssuer(client.clientId).setAudience(s.issuer).setExpirationTime(now + 60).sign(stranger.privateKey);
    await expectOAuthError(await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint_token: forged }, { basic: client }), 400, 'invalid_request');
    expect(await operationRows(s.tenantId)).toBe(0);
    const accepted = await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint_token: await hintToken(now + 60) }, { basic: client });
    expect(accepted.status, await accepted.clone().text()).toBe(200);
    expect(await operationRows(s.tenantId)).toBe(1);
  });
});

describe('CIBA token endpoint refusals', () => {
  it('RFC 6749 §5.2: another grant type → unsupported_grant_type; an unknown auth_req_id → invalid_grant; a wrong secret → 401 invalid_client', async () => {
    const s = await cibaSetup();
    await expectOAuthError(await post(s.tenantId, 'token', { grant_type: 'client_credentials' }, { basic: s.client }), 400, 'unsupported_grant_type');
    await expectOAuthError(await token(s, 'areq_unknown'), 400, 'invalid_grant');
    await expectOAuthError(await post(s.tenantId, 'token', { grant_type: GRANT }, { basic: s.client }), 400, 'invalid_request');
    const res = await token(s, 'areq_unknown', { basic: { ...s.client, clientSecret: 'cs_wrong' } });
    await expectOAuthError(res, 401, 'invalid_client');
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
  });
});

describe('CIBA security rules', () => {
  it('another client\'s auth_req_id → invalid_grant, and it stays unconsumed for its own client', async () => {
    const s = await cibaSetup();
    const answer = await authorize(s);
    const other = await createClient(s.tenantId);
    expect((await answerOnDevice(http, BASE_URL, s.device, await operationOf(answer.auth_req_id), 'approve')).status).toBe(200);
    await expectOAuthError(await token(s, answer.auth_req_id, { basic: other }), 400, 'invalid_grant');
    expect((await token(s, answer.auth_req_id)).status).toBe(200);
  });

  it('a wrong-tenant issuer: a client of tenant A at tenant B\'s endpoints → 401 invalid_client; A\'s auth_req_id at B → invalid_grant', async () => {
    const a = await cibaSetup();
    const b = await cibaSetup();
    await expectOAuthError(await post(b.tenantId, 'bc-authorize', { scope: 'openid', login_hint: b.externalRef }, { basic: a.client }), 401, 'invalid_client');
    expect(await operationRows(b.tenantId)).toBe(0);
    const answer = await authorize(a);
    await expectOAuthError(await token(b, answer.auth_req_id), 400, 'invalid_grant');
    // A client assertion made for tenant A's issuer is not accepted by tenant B's.
    const { client, key, kid } = await keyClient(b.tenantId);
    await expectOAuthError(await post(b.tenantId, 'bc-authorize', { scope: 'openid', login_hint: b.externalRef }, { assertion: await assertion(client.clientId, key, kid, a.issuer) }), 401, 'invalid_client');
    expect(await operationRows(b.tenantId)).toBe(0);
  });

  it('RFC 7523 §3 private_key_jwt: an assertion is accepted once; its replay (same jti) → 401 invalid_client; expired → 401', async () => {
    const s = await cibaSetup();
    const { client, key, kid } = await keyClient(s.tenantId);
    const signed = await assertion(client.clientId, key, kid, s.issuer);
    const first = await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef }, { assertion: signed, clientId: client.clientId });
    expect(first.status, await first.clone().text()).toBe(200);
    await expectOAuthError(await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef }, { assertion: signed }), 401, 'invalid_client');
    expect(await operationRows(s.tenantId)).toBe(1);
    const expired = await assertion(client.clientId, key, kid, `${s.issuer}/token`, { exp: Math.floor(Date.now() / 1000) - 120 });
    await expectOAuthError(await post(s.tenantId, 'token', { grant_type: GRANT, auth_req_id: 'x' }, { assertion: expired }), 401, 'invalid_client');
    // The token endpoint URL is an accepted audience as well.
    const atToken = await assertion(client.clientId, key, kid, `${s.issuer}/token`);
    await expectOAuthError(await post(s.tenantId, 'token', { grant_type: GRANT, auth_req_id: 'areq_x' }, { assertion: atToken }), 400, 'invalid_grant');
  });

  it('CIBA Core §7.1 id_token_hint: one this issuer gave this client works; forged, expired or another client\'s → invalid_request, nothing written', async () => {
    const s = await cibaSetup();
    const first = await authorize(s);
    expect((await answerOnDevice(http, BASE_URL, s.device, await operationOf(first.auth_req_id), 'approve')).status).toBe(200);
    const { id_token } = await (await token(s, first.auth_req_id)).json<{ id_token: string }>();
    const before = await operationRows(s.tenantId);

    const signing = (JSON.parse(env.SIGNING_KEYS as string) as JWK[])[0]!;
    const serviceKey = await importJWK({ ...signing, alg: 'ES256' }, 'ES256');
    const now = Math.floor(Date.now() / 1000);
    const hint = (key: CryptoKey | Uint8Array | JWK, aud: string, exp: number) => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: signing.kid!, typ: 'JWT' })
      .setIssuer(s.issuer).setSubject(s.userId).setAudience(aud).setIssuedAt(now - 10).setExpirationTime(exp).sign(key as CryptoKey);
    const forged = await hint((await generateKeyPair('ES256')).privateKey, s.client.clientId, now + 600);
    const expired = await hint(serviceKey as CryptoKey, s.client.clientId, now - 5);
    const otherClient = await hint(serviceKey as CryptoKey, 'cli_someone_else', now + 600);
    for (const bad of [forged, expired, otherClient, `${id_token}x`]) {
      await expectOAuthError(await post(s.tenantId, 'bc-authorize', { scope: 'openid', id_token_hint: bad }, { basic: s.client }), 400, 'invalid_request');
    }
    expect(await operationRows(s.tenantId)).toBe(before);
    const again = await post(s.tenantId, 'bc-authorize', { scope: 'openid', id_token_hint: id_token }, { basic: s.client });
    expect(again.status, await again.clone().text()).toBe(200);
    const view = await (await apiWith(s.rpToken)(`/v1/operations/${await operationOf((await again.json<{ auth_req_id: string }>()).auth_req_id)}`)).json<{ userId: string }>();
    expect(view.userId).toBe(s.userId);
  });

  it('two racing exchanges of one approved request: exactly one gets tokens', async () => {
    const s = await cibaSetup();
    const answer = await authorize(s);
    expect((await answerOnDevice(http, BASE_URL, s.device, await operationOf(answer.auth_req_id), 'approve')).status).toBe(200);
    const results = await Promise.all([token(s, answer.auth_req_id), token(s, answer.auth_req_id), token(s, answer.auth_req_id)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 400, 400]);
  });
});

describe('CIBA ping mode', () => {
  it('CIBA Core §10.2: a ping client is notified with its bearer token once the user approved, then collects the tokens', async () => {
    const s = await cibaSetup();
    const receiver = Receiver.create();
    const res = await adminFetch(`/admin/v1/tenants/${s.tenantId}/clients`, {
      method: 'POST', json: { name: 'ping client', ciba: { backchannelTokenDeliveryMode: 'ping', backchannelClientNotificationEndpoint: receiver.url('/ciba') } },
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const client = await res.json<ClientCredentials & { ciba: Record<string, unknown> }>();
    expect(client.ciba).toMatchObject({ backchannelTokenDeliveryMode: 'ping', backchannelClientNotificationEndpoint: receiver.url('/ciba') });
    const ping = { ...s, client };
    // A ping client must send its notification token.
    await expectOAuthError(await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef }, { basic: client }), 400, 'invalid_request');
    expect(await operationRows(s.tenantId)).toBe(0);
    const notificationToken = `nt-${crypto.randomUUID()}`;
    const answer = await authorize(ping, { client_notification_token: notificationToken });
    expect((await receiver.requests()).length).toBe(0);
    expect((await answerOnDevice(http, BASE_URL, s.device, await operationOf(answer.auth_req_id), 'approve')).status).toBe(200);
    const [notified] = await receiver.waitForRequests(1);
    expect(notified!.method).toBe('POST');
    expect(notified!.headers.get('authorization')).toBe(`Bearer ${notificationToken}`);
    expect(JSON.parse(notified!.body)).toEqual({ auth_req_id: answer.auth_req_id });
    const tokens = await token(ping, answer.auth_req_id);
    expect(tokens.status, await tokens.clone().text()).toBe(200);
  });

  it('a failed ping is retried with the webhook backoff, and the stored job is gone once it got through', async () => {
    const s = await cibaSetup();
    const receiver = Receiver.create();
    await receiver.script([{ status: 503 }]);
    const res = await adminFetch(`/admin/v1/tenants/${s.tenantId}/clients`, {
      method: 'POST', json: { name: 'ping client', ciba: { backchannelTokenDeliveryMode: 'ping', backchannelClientNotificationEndpoint: receiver.url('/ciba') } },
    });
    const client = await res.json<ClientCredentials>();
    const answer = await authorize({ ...s, client }, { client_notification_token: 'retry-token' });
    const operationId = await operationOf(answer.auth_req_id);
    // Nothing of the ping is in D1: the auth_req_id and the token live in the ping object only.
    expect(JSON.stringify(await env.DB.prepare('SELECT * FROM ciba_requests WHERE operation_id = ?1').bind(operationId).first())).not.toContain('retry-token');
    expect((await answerOnDevice(http, BASE_URL, s.device, operationId, 'approve')).status).toBe(200);
    await receiver.waitForRequests(1);
    const stub = env.CIBA_PINGS.get(env.CIBA_PINGS.idFromName(operationId));
    const retryAt = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
    // The first retry waits 5–10 s (equal jitter on 10 s), as a webhook's does.
    expect(retryAt! - Date.now()).toBeGreaterThan(3_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const [first, second] = await receiver.waitForRequests(2);
    expect(second!.body).toBe(first!.body);
    expect(second!.headers.get('authorization')).toBe('Bearer retry-token');
    expect(await runInDurableObject(stub, async (_instance, state) => [await state.storage.get('ping'), await state.storage.getAlarm()])).toEqual([undefined, null]);
  });

  it('a ping endpoint on a private host is refused at registration (webhook URL rules), nothing written', async () => {
    const { tenant } = await setupTenant();
    const before = await countRows('api_clients', 'tenant_id = ?1', tenant.id);
    const res = await adminFetch(`/admin/v1/tenants/${tenant.id}/clients`, {
      method: 'POST', json: { name: 'ping client', ciba: { backchannelTokenDeliveryMode: 'ping', backchannelClientNotificationEndpoint: 'https://169.254.169.254/latest' } },
    });
    expect(res.status).toBe(400);
    expect((await res.json<{ code: string }>()).code).toBe('WEBHOOK_URL_REFUSED');
    expect(await countRows('api_clients', 'tenant_id = ?1', tenant.id)).toBe(before);
    const token = await getToken((await createClient(tenant.id)));
    expect(token).toBeTruthy();
  });
});

describe('CIBA: failed client authentication is throttled like /oauth/token', () => {
  const wrongSecret = (client: ClientCredentials): ClientCredentials => ({ ...client, clientSecret: 'cs_wrong-secret-0000000000000000' });

  it('60 concurrent wrong secrets for one client_id → 10 × 401 invalid_client, then 429 slow_down with Retry-After; its correct secret still works', async () => {
    const s = await cibaSetup();
    const responses = await Promise.all(Array.from({ length: 60 }, () => token(s, 'areq_x', { basic: wrongSecret(s.client) })));
    expect(responses.filter((r) => r.status === 401)).toHaveLength(10);
    for (const res of responses.filter((r) => r.status !== 401)) {
      const body = await expectOAuthError(res, 429, 'slow_down');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(body.retry_after).toBe(Number(res.headers.get('retry-after')));
    }
    // Whoever fails in the client's name cannot lock it out: the right secret is still checked and accepted.
    const started = await authorize(s);
    expect(started.auth_req_id).toMatch(/^areq_/);
    // A client_secret_post or an assertion naming the same client counts under the same key.
    await expectOAuthError(await token(s, 'areq_x', { post: wrongSecret(s.client) }), 429, 'slow_down');
  });

  it('20 failures from one address → that address is refused outright (the right secret too), at /oidc and at /oauth/token alike; another address is not', async () => {
    const s = await cibaSetup();
    const attacker = '203.0.113.77';
    const unknown = (i: number): ClientCredentials => ({ ...s.client, clientId: `cli_${String(i).padStart(36, '7')}`, clientSecret: 'cs_whatever' });
    for (let i = 0; i < 20; i++) await expectOAuthError(await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef }, { basic: unknown(i) }, attacker), 401, 'invalid_client');
    const [opsBefore, requestsBefore] = [await operationRows(s.tenantId), await countRows('ciba_requests', 'tenant_id = ?1', s.tenantId)];
    await expectOAuthError(await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef }, { basic: s.client }, attacker), 429, 'slow_down');
    await expectOAuthError(await post(s.tenantId, 'token', { grant_type: GRANT, auth_req_id: 'areq_x' }, { basic: s.client }, attacker), 429, 'slow_down');
    const oauth = await workerFetch('/oauth/token', {
      method: 'POST', headers: { authorization: basicAuth(s.client), 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': attacker }, body: 'grant_type=client_credentials',
    });
    expect(oauth.status).toBe(429);
    expect([await operationRows(s.tenantId), await countRows('ciba_requests', 'tenant_id = ?1', s.tenantId)]).toEqual([opsBefore, requestsBefore]);
    const elsewhere = await post(s.tenantId, 'bc-authorize', { scope: 'openid', login_hint: s.externalRef }, { basic: s.client }, '198.51.100.77');
    expect(elsewhere.status, await elsewhere.clone().text()).toBe(200);
  });

  it('an unknown issuer counts as a failed client authentication too (no free guessing across tenant ids)', async () => {
    const attacker = '203.0.113.78';
    const nobody = 'ten_' + '0'.repeat(36);
    for (let i = 0; i < 20; i++) await expectOAuthError(await post(nobody, 'token', { grant_type: GRANT, auth_req_id: 'areq_x' }, { none: true }, attacker), 401, 'invalid_client');
    await expectOAuthError(await post(nobody, 'token', { grant_type: GRANT, auth_req_id: 'areq_x' }, { none: true }, attacker), 429, 'slow_down');
  });
});
