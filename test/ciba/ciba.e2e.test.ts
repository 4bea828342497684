// CIBA interop: openid-client 6 (a third-party OIDC library) against a real `wrangler dev` on 127.0.0.1:8793, with a soft
// authenticator answering on the device as the authenticator app does. Discovery, poll, ping, a payment and a refusal.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { generateVars } from '../../scripts/dev-vars.mjs';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { answerOnDevice, pendingOperations, registerBoundDevice, type BoundDevice, type Http, type PendingOperation } from '../helpers/bound-device.ts';
import { call, freshState, root, waitFor, Wrangler } from '../crash/harness.ts';

const PORT = 8793;
const BASE = `http://127.0.0.1:${PORT}`;
const persistDir = join(root, '.wrangler/ciba-state');
const logDir = join(root, 'test-artifacts/ciba');
const IBAN = 'DE89370400440532013000';

let wrangler: Wrangler;
let adminToken = '';
let tenantId = '';
let issuer = '';
let rpToken = '';
let userId = '';
let device: BoundDevice;
let secretClient: { clientId: string; clientSecret: string };
let notifications: { authorization: string | undefined; body: string }[] = [];
let receiver: Server;
let receiverPort = 0;

const http: Http = (path, init) => fetch(`${BASE}${path}`, init);

function expectStatus(answer: { status: number; body: any }, status: number, what: string): any {
  if (answer.status !== status) throw new Error(`${what}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

const admin = (method: string, path: string, json?: unknown) => call(PORT, method, path, { headers: { authorization: `Bearer ${adminToken}` }, json });

/** The device's side: waits for the operation to be listed, checks what it shows, then approves or declines. */
async function onDevice(answer: 'approve' | 'reject', check: (op: PendingOperation) => void = () => undefined): Promise<string> {
  const op = await waitFor('the operation on the device', async () => (await pendingOperations(http, BASE, device))[0], { timeoutMs: 20_000, everyMs: 300 });
  check(op);
  const res = await answerOnDevice(http, BASE, device, op.id, answer);
  if (res.status !== 200) throw new Error(`device ${answer}: ${res.status} ${await res.text()}`);
  return op.id;
}

function insecure(): client.DiscoveryRequestOptions {
  // openid-client insists on https issuers; the loopback test server is http (the library's documented opt-out).
  return { execute: [client.allowInsecureRequests] };
}

beforeAll(async () => {
  for (const asset of ['public/sdk/custos.js', 'public/app/index.html']) {
    if (!existsSync(join(root, asset))) throw new Error(`${asset} is missing: run \`npm run build\` first (npm test builds before its suites).`);
  }
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      notifications.push({ authorization: req.headers.authorization, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  receiverPort = (receiver.address() as { port: number }).port;

  freshState(persistDir);
  const keys = await generateVars();
  adminToken = keys.ADMIN_TOKEN;
  wrangler = new Wrangler({
    port: PORT, persistDir, logDir,
    vars: {
      ADMIN_TOKEN: keys.ADMIN_TOKEN, SIGNING_KEYS: keys.SIGNING_KEYS, E2E_KEYS: keys.E2E_KEYS, WEBHOOK_SECRET_KEY: keys.WEBHOOK_SECRET_KEY,
      // The issuer comes from here, never from the Host header; loopback webhooks (the ping receiver) are allowed for the test.
      PUBLIC_URL: BASE, ALLOW_LOCAL_WEBHOOKS: 'true',
    },
  });
  await wrangler.start();

  const origin = `http://localhost:${PORT}`;
  const tenant = expectStatus(await admin('POST', '/admin/v1/tenants', { name: 'CIBA', rpId: 'localhost', origins: [origin] }), 201, 'tenant');
  tenantId = tenant.id;
  issuer = `${BASE}/oidc/${tenantId}`;
  secretClient = expectStatus(await admin('POST', `/admin/v1/tenants/${tenantId}/clients`, { name: 'oidc rp' }), 201, 'client');
  const basic = Buffer.from(`${encodeURIComponent(secretClient.clientId)}:${encodeURIComponent(secretClient.clientSecret)}`).toString('base64');
  rpToken = expectStatus(await call(PORT, 'POST', '/oauth/token', { headers: { authorization: `Basic ${basic}` }, form: { grant_type: 'client_credentials' } }), 200, 'token').access_token;
  userId = expectStatus(await call(PORT, 'POST', '/v1/users', { headers: { authorization: `Bearer ${rpToken}` }, json: { externalRef: 'alice' } }), 201, 'user').id;
  device = await registerBoundDevice(http, rpToken, userId, await SoftAuthenticator.create({ rpId: 'localhost', origin }));
}, 180_000);

afterAll(async () => {
  await wrangler?.stop();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
});

describe('openid-client against the CIBA front door', () => {
  it('discovery, poll mode with client_secret_basic, and an ID token the library validates', async () => {
    const config = await client.discovery(new URL(issuer), secretClient.clientId, undefined, client.ClientSecretBasic(secretClient.clientSecret), insecure());
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(issuer);
    expect(meta.backchannel_authentication_endpoint).toBe(`${issuer}/bc-authorize`);
    expect(meta.backchannel_token_delivery_modes_supported).toEqual(['poll', 'ping']);

    const started = await client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: 'alice', binding_message: 'Sign in to Acme 4711' });
    expect(started.interval).toBe(5);
    expect(started.expires_in).toBeGreaterThan(250);
    const approved = onDevice('approve', (op) => expect(op.context?.title).toBe('Sign in to Acme 4711'));
    const tokens = await client.pollBackchannelAuthenticationGrant(config, started);
    const operationId = await approved;

    // claims() is the ID token after the library checked signature (jwks_uri), iss, aud, exp and iat.
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: issuer, sub: userId, aud: secretClient.clientId, acr: 'urn:custos:acr:sca', 'urn:openid:params:jwt:claim:auth_req_id': started.auth_req_id });
    expect(typeof claims.auth_time).toBe('number');
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    // The device evidence rides along: the Custos result token of the very operation the device approved.
    const jwks = createRemoteJWKSet(new URL(meta.jwks_uri!));
    const evidence = await jwtVerify(claims.custos_result_token as string, jwks, { algorithms: ['ES256'], typ: 'custos-result+jwt', issuer: BASE });
    expect(evidence.payload).toMatchObject({ jti: operationId, sub: userId, device: device.deviceId, op: 'AUTHENTICATION' });

    // The same operation is an ordinary one in the RP API.
    const view = expectStatus(await call(PORT, 'GET', `/v1/operations/${operationId}`, { headers: { authorization: `Bearer ${rpToken}` } }), 200, 'operation');
    expect(view).toMatchObject({ status: 'COMPLETED', type: 'AUTHENTICATION', context: { title: 'Sign in to Acme 4711' } });

    // Single use: the library's second exchange is refused.
    await expect(client.pollBackchannelAuthenticationGrant(config, { ...started, interval: 1 })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('ping mode with private_key_jwt: the notification reaches the loopback receiver with the client_notification_token', async () => {
    const keys = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'rp-key-1' };
    const registered = expectStatus(await admin('POST', `/admin/v1/tenants/${tenantId}/clients`, {
      name: 'ping rp', ciba: { backchannelTokenDeliveryMode: 'ping', backchannelClientNotificationEndpoint: `http://127.0.0.1:${receiverPort}/ciba/notify`, jwks: { keys: [jwk] } },
    }), 201, 'ping client');
    const config = await client.discovery(new URL(issuer), registered.clientId, undefined, client.PrivateKeyJwt({ key: keys.privateKey, kid: 'rp-key-1' }), insecure());
    notifications = [];
    const notificationToken = `ping-${crypto.randomUUID()}`;
    const started = await client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: 'alice', client_notification_token: notificationToken });
    expect(notifications).toHaveLength(0);
    await onDevice('approve');
    const ping = await waitFor('the ping notification', async () => notifications[0], { timeoutMs: 30_000 });
    expect(ping.authorization).toBe(`Bearer ${notificationToken}`);
    expect(JSON.parse(ping.body)).toEqual({ auth_req_id: started.auth_req_id });
    const tokens = await client.pollBackchannelAuthenticationGrant(config, { ...started, interval: 1 });
    expect(tokens.claims()).toMatchObject({ iss: issuer, sub: userId, aud: registered.clientId });
  });

  it('a payment through authorization_details: the device shows it, and the result token carries the same amount and payee', async () => {
    const config = await client.discovery(new URL(issuer), secretClient.clientId, undefined, client.ClientSecretPost(secretClient.clientSecret), insecure());
    const details = [{ type: 'payment_initiation', instructedAmount: { amount: '99.95', currency: 'EUR' }, creditorName: 'Merchant GmbH', creditorAccount: { iban: IBAN } }];
    const started = await client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: 'alice', binding_message: 'Pay Merchant GmbH', authorization_details: JSON.stringify(details) });
    const approved = onDevice('approve', (op) => {
      expect(op.type).toBe('AUTHORISATION');
      expect(op.transaction).toMatchObject({ amount: '99.95', currency: 'EUR', payee: { name: 'Merchant GmbH', account: IBAN } });
    });
    const tokens = await client.pollBackchannelAuthenticationGrant(config, started);
    await approved;
    expect(tokens.authorization_details).toEqual(details);
    const claims = tokens.claims()!;
    expect(claims.authorization_details).toEqual(details);
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    const evidence = await jwtVerify(claims.custos_result_token as string, jwks, { algorithms: ['ES256'], typ: 'custos-result+jwt' });
    expect(evidence.payload.txn).toMatchObject({ amount: '99.95', currency: 'EUR', payee: { name: 'Merchant GmbH', account: IBAN } });
  });

  it('the user declines: the library surfaces access_denied', async () => {
    const config = await client.discovery(new URL(issuer), secretClient.clientId, undefined, client.ClientSecretBasic(secretClient.clientSecret), insecure());
    const started = await client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: 'alice' });
    const declined = onDevice('reject');
    await expect(client.pollBackchannelAuthenticationGrant(config, started)).rejects.toMatchObject({ error: 'access_denied' });
    await declined;
  });

  it('an unknown user: the library surfaces unknown_user_id from the backchannel endpoint', async () => {
    const config = await client.discovery(new URL(issuer), secretClient.clientId, undefined, client.ClientSecretBasic(secretClient.clientSecret), insecure());
    await expect(client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: 'nobody' })).rejects.toMatchObject({ error: 'unknown_user_id' });
  });
});
