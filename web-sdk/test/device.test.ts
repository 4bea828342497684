// Device proofs, device-authorised calls, pending() and rpScope against a fake server (API.md §2).
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { compactVerify, decodeProtectedHeader } from 'jose';
import { createCustos, createDeviceProof, CustosError, type DeviceCredential } from '../src/index.js';
import { fakeServer, problem, type RecordedRequest, type Route } from './helpers/fake-server.js';
import { authenticationCredential, authenticationStart, authorisationStart, registrationCredential, registrationStart } from './helpers/fixtures.js';
import { startAuthentication, startRegistration } from './helpers/webauthn-stub.js';

vi.mock('@simplewebauthn/browser', () => import('./helpers/webauthn-stub.js'));

const BASE = 'https://custos.test';
const DEVICE_ID = 'dev_0123456789abcdefghijklmnop';
const PENDING_PATH = '/sdk/v1/devices/me/operations';

async function deviceKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
}

interface ProofClaims {
  htm: string;
  htu: string;
  iat: number;
  jti: string;
}

/** Verifies the Authorization: Device proof of a recorded request with the device's public key. */
async function proofOf(request: RecordedRequest | undefined, publicKey: CryptoKey): Promise<{ header: Record<string, unknown>; claims: ProofClaims }> {
  const match = request?.headers['authorization']?.match(/^Device ([A-Za-z0-9_.-]+)$/);
  expect(match, 'Authorization: Device <proof>').not.toBeNull();
  const verified = await compactVerify(match![1]!, publicKey, { algorithms: ['ES256'] });
  return { header: verified.protectedHeader as Record<string, unknown>, claims: JSON.parse(new TextDecoder().decode(verified.payload)) as ProofClaims };
}

function opRoutes(id: string, start: unknown, finish: Route = { body: { status: 'COMPLETED' } }): Record<string, Route> {
  return {
    [`POST /sdk/v1/operations/${id}/start`]: { body: start },
    [`POST /sdk/v1/operations/${id}/finish`]: finish,
    [`POST /sdk/v1/operations/${id}/reject`]: { body: { status: 'REJECTED' } },
  };
}

beforeEach(() => {
  vi.clearAllMocks();
  startRegistration.mockResolvedValue(registrationCredential as never);
  startAuthentication.mockResolvedValue(authenticationCredential as never);
});

describe('createDeviceProof', () => {
  it('is an ES256 device-proof+jwt naming the device, with htm, htu without query, iat in seconds and a long jti (API.md §2, RFC 9449 §4.2)', async () => {
    const pair = await deviceKeys();
    const proof = await createDeviceProof({ id: DEVICE_ID, privateKey: pair.privateKey }, 'post', `${BASE}/sdk/v1/operations/op_1/start?x=1#frag`, {
      now: () => 1_700_000_000_999,
    });

    expect(decodeProtectedHeader(proof)).toEqual({ alg: 'ES256', typ: 'device-proof+jwt', kid: DEVICE_ID });
    const verified = await compactVerify(proof, pair.publicKey, { algorithms: ['ES256'] });
    const claims = JSON.parse(new TextDecoder().decode(verified.payload)) as ProofClaims;
    expect(Object.keys(claims).sort()).toEqual(['htm', 'htu', 'iat', 'jti']);
    expect(claims).toMatchObject({ htm: 'POST', htu: `${BASE}/sdk/v1/operations/op_1/start`, iat: 1_700_000_000 });
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{16,}$/);
  });

  it('uses a fresh jti on every proof, so none can be replayed (each jti once, API.md §2)', async () => {
    const pair = await deviceKeys();
    const device = { id: DEVICE_ID, privateKey: pair.privateKey };
    const jtis = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { payload } = await compactVerify(await createDeviceProof(device, 'GET', `${BASE}${PENDING_PATH}`), pair.publicKey);
      jtis.add((JSON.parse(new TextDecoder().decode(payload)) as ProofClaims).jti);
    }
    expect(jtis.size).toBe(20);
  });

  it('does not verify under another device key', async () => {
    const pair = await deviceKeys();
    const other = await deviceKeys();
    const proof = await createDeviceProof({ id: DEVICE_ID, privateKey: pair.privateKey }, 'GET', `${BASE}${PENDING_PATH}`);
    await expect(compactVerify(proof, other.publicKey, { algorithms: ['ES256'] })).rejects.toThrow();
  });

  it('refuses a key that is not ECDSA P-256 (the server only binds ES256 keys)', async () => {
    const p384 = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign', 'verify']);
    await expect(createDeviceProof({ id: DEVICE_ID, privateKey: p384.privateKey }, 'GET', `${BASE}/x`)).rejects.toBeInstanceOf(TypeError);
    const pair = await deviceKeys();
    await expect(createDeviceProof({ id: '', privateKey: pair.privateKey }, 'GET', `${BASE}/x`)).rejects.toBeInstanceOf(TypeError);
  });
});

describe('a client with a device', () => {
  let pair: CryptoKeyPair;
  let device: DeviceCredential;

  beforeEach(async () => {
    pair = await deviceKeys();
    device = { id: DEVICE_ID, privateKey: pair.privateKey };
  });

  it('approve({ id }): start and finish each carry their own proof for their own URL', async () => {
    const start = await authorisationStart();
    const server = fakeServer(opRoutes('op_pay1', start));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch, device });

    const result = await custos.approve({ id: 'op_pay1' }, { confirm: () => true });

    expect(result.status).toBe('COMPLETED');
    expect(server.calls()).toEqual(['POST /sdk/v1/operations/op_pay1/start', 'POST /sdk/v1/operations/op_pay1/finish']);
    const startProof = await proofOf(server.requests[0], pair.publicKey);
    const finishProof = await proofOf(server.requests[1], pair.publicKey);
    expect(startProof.header).toEqual({ alg: 'ES256', typ: 'device-proof+jwt', kid: DEVICE_ID });
    expect(startProof.claims).toMatchObject({ htm: 'POST', htu: `${BASE}/sdk/v1/operations/op_pay1/start` });
    expect(finishProof.claims).toMatchObject({ htm: 'POST', htu: `${BASE}/sdk/v1/operations/op_pay1/finish` });
    expect(finishProof.claims.jti).not.toBe(startProof.claims.jti);
  });

  it('reject({ id }) is authorised by a device proof', async () => {
    const server = fakeServer(opRoutes('op_auth1', authenticationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch, device });

    await expect(custos.reject({ id: 'op_auth1' })).resolves.toEqual({ status: 'REJECTED' });

    const { claims } = await proofOf(server.requests[0], pair.publicKey);
    expect(claims).toMatchObject({ htm: 'POST', htu: `${BASE}/sdk/v1/operations/op_auth1/reject` });
  });

  it('an sdk token given with the operation still wins over the device', async () => {
    const server = fakeServer(opRoutes('op_auth1', authenticationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch, device });

    await custos.approve({ id: 'op_auth1', token: 'sdk_tok_secret' });

    expect(server.requests.map((request) => request.headers['authorization'])).toEqual(['Bearer sdk_tok_secret', 'Bearer sdk_tok_secret']);
  });

  it('pending(): GETs the device listing with status=PENDING and a proof whose htu has no query', async () => {
    const items = [
      { id: 'op_pay1', type: 'AUTHORISATION', status: 'PENDING', createdAt: '2026-01-01T00:00:00Z', expiresAt: '2026-01-01T00:05:00Z', transaction: { amount: '1.00', currency: 'EUR', payee: { name: 'A' } } },
    ];
    const server = fakeServer({ [`GET ${PENDING_PATH}`]: { body: { items, nextCursor: null } } });
    const custos = createCustos({ baseUrl: `${BASE}/`, fetch: server.fetch, device });

    await expect(custos.pending()).resolves.toEqual(items);

    const request = server.requests[0];
    expect(request?.method).toBe('GET');
    expect(request?.url).toBe(`${BASE}${PENDING_PATH}?status=PENDING`);
    expect(request?.body).toBeUndefined();
    expect(request?.headers['content-type']).toBeUndefined();
    const { claims } = await proofOf(request, pair.publicKey);
    expect(claims).toMatchObject({ htm: 'GET', htu: `${BASE}${PENDING_PATH}` });
  });

  it('pending(): a refused proof is UNAUTHORIZED and a malformed list is SERVER_ERROR', async () => {
    const refused = createCustos({ baseUrl: BASE, fetch: fakeServer({ [`GET ${PENDING_PATH}`]: problem(401, 'UNAUTHENTICATED') }).fetch, device });
    await expect(refused.pending()).rejects.toMatchObject({ code: 'UNAUTHORIZED', status: 401 });

    const malformed = createCustos({ baseUrl: BASE, fetch: fakeServer({ [`GET ${PENDING_PATH}`]: { body: { items: [{ id: 'op_1', type: 'NOPE' }] } } }).fetch, device });
    const error = await malformed.pending().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CustosError);
    expect((error as CustosError).code).toBe('SERVER_ERROR');
  });
});

describe('without a device', () => {
  it('refuses an operation given by id only, and pending(), before any request', async () => {
    const server = fakeServer({});
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    await expect(custos.approve({ id: 'op_auth1' })).rejects.toBeInstanceOf(TypeError);
    await expect(custos.reject({ id: 'op_auth1' })).rejects.toBeInstanceOf(TypeError);
    await expect(custos.pending()).rejects.toBeInstanceOf(TypeError);
    expect(server.requests).toHaveLength(0);
  });
});

describe('register with rpScope', () => {
  it('sends { rpScope } in the start body and returns the deviceId the finish names', async () => {
    const server = fakeServer(opRoutes('op_reg1', registrationStart, { body: { status: 'COMPLETED', deviceId: DEVICE_ID } }));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    const result = await custos.register({ id: 'op_reg1', token: 'sdk_tok_secret' }, { rpScope: 'service', bindDeviceKey: true });

    expect(server.requests[0]?.body).toEqual({ rpScope: 'service' });
    expect(result.status).toBe('COMPLETED');
    expect(result.deviceId).toBe(DEVICE_ID);
    expect(result.deviceKeyPair?.privateKey.extractable).toBe(false);
  });

  it('without rpScope sends an empty start body and no deviceId when the finish names none', async () => {
    const server = fakeServer(opRoutes('op_reg1', registrationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    const result = await custos.register({ id: 'op_reg1', token: 'sdk_tok_secret' });

    expect(server.requests[0]?.body).toEqual({});
    expect(result).not.toHaveProperty('deviceId');
  });

  it('reuses a start made by getOperation for the same rpScope, and starts again for another one', async () => {
    const server = fakeServer(opRoutes('op_reg1', registrationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });
    const op = { id: 'op_reg1', token: 'sdk_tok_secret' };

    await custos.getOperation(op, { rpScope: 'service' });
    await custos.register(op, { rpScope: 'service' });
    expect(server.calls()).toEqual(['POST /sdk/v1/operations/op_reg1/start', 'POST /sdk/v1/operations/op_reg1/finish']);

    await custos.getOperation(op, { rpScope: 'tenant' });
    await custos.register(op, { rpScope: 'service' });
    expect(server.requests.slice(2).map((request) => request.body)).toEqual([{ rpScope: 'tenant' }, { rpScope: 'service' }, { credential: registrationCredential }]);
  });
});
