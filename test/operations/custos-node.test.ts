// @custos/node against the real worker: its typed client drives the API with client-credentials tokens, and verifyResultToken accepts real result tokens.
import { SELF } from 'cloudflare:test';
import type { JSONWebKeySet } from 'jose';
import { describe, expect, it } from 'vitest';
import { createCustosClient, ResultTokenError, verifyResultToken } from '../../packages/node/src/index';
import { BASE_URL, createClient, createTenant, workerFetch } from '../helpers/api';
import { approve, enrolled, getOperation, ORIGIN, RP_ID } from '../helpers/ceremony';

async function jwks(): Promise<JSONWebKeySet> {
  return (await workerFetch('/.well-known/jwks.json')).json<JSONWebKeySet>();
}

describe('createCustosClient with the worker as fetch', () => {
  it('creates a user and starts an operation, fetching its own token from /oauth/token', async () => {
    const tenant = await createTenant();
    const credentials = await createClient(tenant.id);
    const custos = createCustosClient({ baseUrl: BASE_URL, clientId: credentials.clientId, clientSecret: credentials.clientSecret, fetch: SELF.fetch.bind(SELF) });

    const user = await custos.POST('/v1/users', { body: { externalRef: 'customer-42', attributes: { email: 'ada@example.com' } } });
    expect(user.response.status, JSON.stringify(user.error)).toBe(201);
    expect(user.data).toMatchObject({ externalRef: 'customer-42', status: 'ACTIVE' });

    const started = await custos.POST('/v1/operations', { body: { type: 'REGISTRATION', userId: user.data!.id } });
    expect(started.response.status, JSON.stringify(started.error)).toBe(201);
    expect(started.data).toMatchObject({ type: 'REGISTRATION', status: 'PENDING', userId: user.data!.id });

    const read = await custos.GET('/v1/operations/{operationId}', { params: { path: { operationId: started.data!.id } } });
    expect(read.data?.id).toBe(started.data!.id);

    const found = await custos.GET('/v1/users', { params: { query: { externalRef: 'customer-42' } } });
    expect(found.data?.items.map((u) => u.id)).toEqual([user.data!.id]);
  });

  it('a narrowed scope is what the token carries: an audit-only client cannot create users', async () => {
    const tenant = await createTenant();
    const credentials = await createClient(tenant.id);
    const custos = createCustosClient({ baseUrl: BASE_URL, clientId: credentials.clientId, clientSecret: credentials.clientSecret, scope: 'audit', fetch: SELF.fetch.bind(SELF) });
    const refused = await custos.POST('/v1/users', { body: { externalRef: 'nope' } });
    expect(refused.response.status).toBe(403);
    expect((await custos.GET('/v1/audit-events')).response.status).toBe(200);
  });
});

describe('verifyResultToken on a real ceremony', () => {
  it('accepts the AUTHORISATION token of a software-authenticator ceremony, with its evidence checked offline', async () => {
    const { api, tenantId, userId, authenticator, deviceId, registrationId } = await enrolled();
    const transaction = { amount: '120.00', currency: 'EUR', payee: { name: 'ACME', account: 'DE89370400440532013000' }, reference: 'INV-9' };
    const { op, finish } = await approve(api, authenticator, { type: 'AUTHORISATION', userId, transaction });
    expect(finish.status, await finish.clone().text()).toBe(200);
    const completed = await getOperation(api, op.id);
    const trust = { jwks: await jwks(), issuer: BASE_URL, audience: tenantId, rp: { rpId: RP_ID, origins: [ORIGIN] } };

    // Pin the device key from the REGISTRATION token, then require it of the AUTHORISATION.
    const registration = await verifyResultToken((await getOperation(api, registrationId)).result!.token, { ...trust, operationId: registrationId });
    expect(registration).toMatchObject({ op: 'REGISTRATION', device: deviceId });
    if (!('publicKeyJwk' in registration.evidence)) throw new Error('a passkey registration carries publicKeyJwk');

    const claims = await verifyResultToken(completed.result!.token, { ...trust, operationId: op.id, maxTokenAge: '5m', deviceKey: registration.evidence.publicKeyJwk });
    expect(claims).toMatchObject({ iss: BASE_URL, aud: tenantId, sub: userId, jti: op.id, op: 'AUTHORISATION', device: deviceId, txn: transaction });

    await expect(verifyResultToken(completed.result!.token, { ...trust, operationId: registrationId })).rejects.toMatchObject({ reason: 'OPERATION_MISMATCH' });
    await expect(verifyResultToken(completed.result!.token, { ...trust, rp: { rpId: 'bank.example', origins: [ORIGIN] } })).rejects.toMatchObject({ reason: 'RP_ID_MISMATCH' });
    await expect(verifyResultToken(completed.result!.token, { ...trust, audience: 'ten_other' })).rejects.toBeInstanceOf(ResultTokenError);
  });

  it('accepts SIGNATURE and AUTHENTICATION tokens of real ceremonies', async () => {
    const { api, tenantId, userId, authenticator } = await enrolled();
    const trust = { jwks: await jwks(), issuer: BASE_URL, audience: tenantId, rp: { rpId: RP_ID, origins: [ORIGIN] } };
    const signature = await approve(api, authenticator, { type: 'SIGNATURE', userId, document: { content: 'Ich stimme zu ✔', mimeType: 'text/plain', title: 'AGB' } });
    const signed = await verifyResultToken((await getOperation(api, signature.op.id)).result!.token, trust);
    expect(signed.doc).toMatchObject({ title: 'AGB', mimeType: 'text/plain' });
    const login = await approve(api, authenticator, { type: 'AUTHENTICATION', userId });
    await expect(verifyResultToken((await getOperation(api, login.op.id)).result!.token, trust)).resolves.toMatchObject({ op: 'AUTHENTICATION' });
  });
});
