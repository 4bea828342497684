// createCustos against a fake server, with @simplewebauthn/browser stubbed as the browser boundary.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { compactVerify, importJWK } from 'jose';
import { createCustos, CustosError, type CustosErrorCode } from '../src/index.js';
import { fakeServer, problem, type Route } from './helpers/fake-server.js';
import {
  authenticationCredential,
  authenticationStart,
  authorisationStart,
  batch,
  batchStart,
  documentContent,
  payment,
  registrationCredential,
  registrationStart,
  signatureStart,
} from './helpers/fixtures.js';
import { browserSupportsWebAuthn, startAuthentication, startRegistration } from './helpers/webauthn-stub.js';

vi.mock('@simplewebauthn/browser', () => import('./helpers/webauthn-stub.js'));

const { WebAuthnError } = await vi.importActual<typeof import('@simplewebauthn/browser')>('@simplewebauthn/browser');

const BASE = 'https://custos.test';
const TOKEN = 'sdk_tok_secret';

function path(id: string, action: string): string {
  return `POST /sdk/v1/operations/${id}/${action}`;
}

function routesFor(id: string, start: unknown, finish: Route = { body: { status: 'COMPLETED' } }): Record<string, Route> {
  return {
    [path(id, 'start')]: { body: start },
    [path(id, 'finish')]: finish,
    [path(id, 'reject')]: { body: { status: 'REJECTED' } },
  };
}

async function caught(promise: Promise<unknown>): Promise<CustosError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CustosError);
    return error as CustosError;
  }
  throw new Error('expected the call to throw');
}

beforeEach(() => {
  vi.clearAllMocks();
  browserSupportsWebAuthn.mockReturnValue(true);
  startRegistration.mockResolvedValue(registrationCredential as never);
  startAuthentication.mockResolvedValue(authenticationCredential as never);
});

describe('register', () => {
  it('starts, runs the creation ceremony with the server options and finishes with the credential', async () => {
    const server = fakeServer(routesFor('op_reg1', registrationStart));
    const custos = createCustos({ baseUrl: `${BASE}/`, fetch: server.fetch });

    const result = await custos.register({ id: 'op_reg1', token: TOKEN });

    expect(server.calls()).toEqual([path('op_reg1', 'start'), path('op_reg1', 'finish')]);
    for (const request of server.requests) {
      expect(request.url.startsWith(`${BASE}/sdk/v1/`)).toBe(true);
      expect(request.headers['authorization']).toBe(`Bearer ${TOKEN}`);
      expect(request.headers['content-type']).toBe('application/json');
    }
    expect(server.requests[0]?.body).toEqual({});
    expect(startRegistration).toHaveBeenCalledWith({ optionsJSON: registrationStart.publicKey });
    expect(startAuthentication).not.toHaveBeenCalled();
    expect(server.requests[1]?.body).toEqual({ credential: registrationCredential });
    expect(result).toEqual({ status: 'COMPLETED', operation: registrationStart.operation });
    expect(result.deviceKeyPair).toBeUndefined();
  });

  it('accepts the Operation shape { id, sdk: { token } } from POST /v1/operations', async () => {
    const server = fakeServer(routesFor('op_reg1', registrationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    await custos.register({ id: 'op_reg1', sdk: { token: TOKEN } });

    expect(server.requests.map((request) => request.headers['authorization'])).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
  });

  it('sameDevice (two-call ceremony): with the start answer handed over as `device`, it only finishes, and returns the result', async () => {
    const result = { deviceId: 'dev_1', userVerified: true, authMethod: 'passkey', token: 'eyJ.result.token' };
    const server = fakeServer(routesFor('op_reg1', registrationStart, { body: { status: 'COMPLETED', deviceId: 'dev_1', result } }));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    const answer = await custos.register({ id: 'op_reg1', sdk: { token: TOKEN }, device: registrationStart });

    expect(server.calls()).toEqual([path('op_reg1', 'finish')]);
    expect(startRegistration).toHaveBeenCalledWith({ optionsJSON: registrationStart.publicKey });
    expect(answer).toMatchObject({ status: 'COMPLETED', deviceId: 'dev_1', result });
  });

  it('sameDevice: a handed-over start for another operation is refused before the passkey prompt', async () => {
    const server = fakeServer(routesFor('op_reg2', registrationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    await caught(custos.register({ id: 'op_reg2', token: TOKEN, device: registrationStart }));
    expect(startRegistration).not.toHaveBeenCalled();
    expect(server.requests).toHaveLength(0);
  });

  it('refuses a malformed operation reference before any request', async () => {
    const server = fakeServer({});
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    await expect(custos.register({ id: 'op_reg1', token: '' })).rejects.toBeInstanceOf(TypeError);
    expect(server.requests).toHaveLength(0);
  });

  it('bindDeviceKey: sends the public JWK and an ES256 JWS over the exact operationId and challenge (API.md §2)', async () => {
    const server = fakeServer(routesFor('op_reg1', registrationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    const result = await custos.register({ id: 'op_reg1', token: TOKEN }, { bindDeviceKey: true });

    const finish = server.requests[1]?.body as { deviceKey: Record<string, string>; deviceSignature: string };
    expect(Object.keys(finish.deviceKey).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    expect(finish.deviceKey).toMatchObject({ kty: 'EC', crv: 'P-256' });

    const key = await importJWK(finish.deviceKey, 'ES256');
    const verified = await compactVerify(finish.deviceSignature, key, { algorithms: ['ES256'] });
    expect(verified.protectedHeader).toEqual({ alg: 'ES256', typ: 'device-binding+jwt' });
    const payload = new TextDecoder().decode(verified.payload);
    expect(payload).toBe(`{"operationId":"op_reg1","challenge":"${registrationStart.publicKey.challenge}"}`);

    // The key the app must keep is the one that was bound, and its private half cannot be exported.
    const pair = result.deviceKeyPair;
    expect(pair).toBeDefined();
    expect(pair?.privateKey.extractable).toBe(false);
    const returnedPublic = await crypto.subtle.exportKey('jwk', pair!.publicKey);
    expect({ x: returnedPublic.x, y: returnedPublic.y }).toEqual({ x: finish.deviceKey['x'], y: finish.deviceKey['y'] });
  });

  it('deviceKey: binds the given pair, and a signature by another key does not verify against the sent JWK', async () => {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    const other = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const server = fakeServer(routesFor('op_reg1', registrationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    const result = await custos.register({ id: 'op_reg1', token: TOKEN }, { deviceKey: pair });

    const finish = server.requests[1]?.body as { deviceKey: Record<string, string>; deviceSignature: string };
    const own = await crypto.subtle.exportKey('jwk', pair.publicKey);
    expect(finish.deviceKey).toEqual({ kty: 'EC', crv: 'P-256', x: own.x, y: own.y });
    await expect(compactVerify(finish.deviceSignature, pair.publicKey, { algorithms: ['ES256'] })).resolves.toBeDefined();
    await expect(compactVerify(finish.deviceSignature, other.publicKey, { algorithms: ['ES256'] })).rejects.toThrow();
    expect(result.deviceKeyPair).toBe(pair);
  });

  it('refuses a device key that is not P-256 before the ceremony starts', async () => {
    const p384 = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign', 'verify']);
    const server = fakeServer(routesFor('op_reg1', registrationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    await expect(custos.register({ id: 'op_reg1', token: TOKEN }, { deviceKey: p384 })).rejects.toBeInstanceOf(TypeError);
    expect(server.requests).toHaveLength(0);
    expect(startRegistration).not.toHaveBeenCalled();
  });

  it('refuses an operation that is not a REGISTRATION', async () => {
    const server = fakeServer(routesFor('op_auth1', authenticationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    const error = await caught(custos.register({ id: 'op_auth1', token: TOKEN }));
    expect(error.code).toBe('WRONG_OPERATION_TYPE');
    expect(startRegistration).not.toHaveBeenCalled();
  });

  it('number matching at registration: sends the number chosen', async () => {
    const start = { ...registrationStart, operation: { ...registrationStart.operation, numberMatchChoices: ['17', '42', '93'] } };
    const server = fakeServer(routesFor('op_reg1', start));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    await custos.register({ id: 'op_reg1', token: TOKEN }, { chooseNumber: () => '42' });

    expect(server.requests[1]?.body).toEqual({ credential: registrationCredential, numberMatch: '42' });
  });
});

describe('approve', () => {
  it('AUTHENTICATION: runs the request ceremony with the server options and finishes', async () => {
    const server = fakeServer(routesFor('op_auth1', authenticationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    const result = await custos.approve({ id: 'op_auth1', token: TOKEN });

    expect(server.calls()).toEqual([path('op_auth1', 'start'), path('op_auth1', 'finish')]);
    expect(startAuthentication).toHaveBeenCalledWith({ optionsJSON: authenticationStart.publicKey });
    expect(startRegistration).not.toHaveBeenCalled();
    expect(server.requests[1]?.body).toEqual({ credential: authenticationCredential });
    expect(result).toEqual({ status: 'COMPLETED', operation: authenticationStart.operation });
  });

  it('calls confirm with exactly the bound transaction before the passkey prompt (PSD2 RTS art. 5)', async () => {
    const start = await authorisationStart();
    const server = fakeServer(routesFor('op_pay1', start));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });
    const order: string[] = [];
    const confirm = vi.fn(() => {
      order.push('confirm');
      return true;
    });
    startAuthentication.mockImplementation(async () => {
      order.push('webauthn');
      return authenticationCredential as never;
    });

    const result = await custos.approve({ id: 'op_pay1', token: TOKEN }, { confirm });

    expect(confirm).toHaveBeenCalledWith({ id: 'op_pay1', type: 'AUTHORISATION', context: { title: 'Pay ACME' }, transaction: payment });
    expect(order).toEqual(['confirm', 'webauthn']);
    expect(result.status).toBe('COMPLETED');
  });

  it('confirm answering false rejects the operation and never invokes WebAuthn', async () => {
    const start = await authorisationStart();
    const server = fakeServer(routesFor('op_pay1', start));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    const result = await custos.approve({ id: 'op_pay1', token: TOKEN }, { confirm: async () => false });

    expect(server.calls()).toEqual([path('op_pay1', 'start'), path('op_pay1', 'reject')]);
    expect(server.requests[1]?.body).toEqual({});
    expect(server.requests[1]?.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    expect(startAuthentication).not.toHaveBeenCalled();
    expect(result).toEqual({ status: 'REJECTED', operation: start.operation });
  });

  it('shows a batch with its total', async () => {
    const start = await batchStart();
    const server = fakeServer(routesFor('op_batch1', start));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });
    const confirm = vi.fn(() => true);

    await custos.approve({ id: 'op_batch1', token: TOKEN }, { confirm });

    expect(confirm).toHaveBeenCalledWith({ id: 'op_batch1', type: 'AUTHORISATION', transactions: batch, total: { amount: '25.50', currency: 'EUR' } });
  });

  it('shows a document with its content and hash', async () => {
    const start = await signatureStart();
    const server = fakeServer(routesFor('op_sig1', start));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });
    const confirm = vi.fn(() => true);

    const result = await custos.approve({ id: 'op_sig1', token: TOKEN }, { confirm });

    expect(confirm).toHaveBeenCalledWith({ id: 'op_sig1', type: 'SIGNATURE', document: start.operation['document'] });
    expect(result.status).toBe('COMPLETED');
  });

  describe('dynamic linking is checked on the device (PSD2 RTS art. 5)', () => {
    async function expectMismatch(start: { operation: Record<string, unknown>; publicKey: Record<string, unknown> }): Promise<void> {
      const id = start.operation['id'] as string;
      const server = fakeServer(routesFor(id, start));
      const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });
      const confirm = vi.fn(() => true);

      const error = await caught(custos.approve({ id, token: TOKEN }, { confirm }));

      expect(error.code).toBe('LINKING_MISMATCH');
      expect(confirm).not.toHaveBeenCalled();
      expect(startAuthentication).not.toHaveBeenCalled();
      expect(server.calls()).toEqual([path(id, 'start')]);
    }

    it('a transaction other than the one the challenge binds is refused', async () => {
      const start = await authorisationStart();
      await expectMismatch({ ...start, operation: { ...start.operation, transaction: { ...payment, amount: '1250.00' } } });
    });

    it('a payee other than the one the challenge binds is refused', async () => {
      const start = await authorisationStart();
      await expectMismatch({ ...start, operation: { ...start.operation, transaction: { ...payment, payee: { name: 'Mallory' } } } });
    });

    it('a batch total that is not the sum of its transactions is refused', async () => {
      await expectMismatch(await batchStart({ amount: '255.00', currency: 'EUR' }));
    });

    it('document content that does not hash to the bound sha256 is refused', async () => {
      const start = await signatureStart();
      const document = start.operation['document'] as Record<string, unknown>;
      await expectMismatch({ ...start, operation: { ...start.operation, document: { ...document, content: `${documentContent}extra` } } });
    });

    it('a challenge that is not 64 bytes is refused', async () => {
      const start = await authorisationStart();
      await expectMismatch({ ...start, publicKey: { ...start.publicKey, challenge: 'c2hvcnQ' } });
    });
  });

  describe('number matching', () => {
    const choices = ['17', '42', '93'];

    it('asks chooseNumber with the choices after confirm and sends the choice with the credential', async () => {
      const start = await authorisationStart();
      const server = fakeServer(routesFor('op_pay1', { ...start, operation: { ...start.operation, numberMatchChoices: choices } }));
      const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });
      const order: string[] = [];
      const confirm = vi.fn((details: object) => {
        order.push('confirm');
        expect(details).not.toHaveProperty('numberMatchChoices');
        return true;
      });
      const chooseNumber = vi.fn(async (offered: string[]) => {
        order.push('choose');
        return offered[1] ?? '';
      });

      await custos.approve({ id: 'op_pay1', token: TOKEN }, { confirm, chooseNumber });

      expect(chooseNumber).toHaveBeenCalledWith(choices);
      expect(order).toEqual(['confirm', 'choose']);
      expect(server.requests[1]?.body).toEqual({ credential: authenticationCredential, numberMatch: '42' });
    });

    it('without chooseNumber throws NUMBER_MATCH_REQUIRED before confirm or WebAuthn', async () => {
      const server = fakeServer(
        routesFor('op_auth1', { ...authenticationStart, operation: { ...authenticationStart.operation, numberMatchChoices: choices } }),
      );
      const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });
      const confirm = vi.fn(() => true);

      const error = await caught(custos.approve({ id: 'op_auth1', token: TOKEN }, { confirm }));

      expect(error.code).toBe('NUMBER_MATCH_REQUIRED');
      expect(confirm).not.toHaveBeenCalled();
      expect(startAuthentication).not.toHaveBeenCalled();
      expect(server.calls()).toEqual([path('op_auth1', 'start')]);
    });
  });

  it('refuses a REGISTRATION operation', async () => {
    const server = fakeServer(routesFor('op_reg1', registrationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    const error = await caught(custos.approve({ id: 'op_reg1', token: TOKEN }));
    expect(error.code).toBe('WRONG_OPERATION_TYPE');
    expect(startAuthentication).not.toHaveBeenCalled();
  });

  it('getOperation starts once; approve then reuses that start and its challenge', async () => {
    const server = fakeServer(routesFor('op_auth1', authenticationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    const details = await custos.getOperation({ id: 'op_auth1', token: TOKEN });
    await custos.approve({ id: 'op_auth1', token: TOKEN });

    expect(details).toEqual(authenticationStart.operation);
    expect(server.calls()).toEqual([path('op_auth1', 'start'), path('op_auth1', 'finish')]);
  });

  it('after the user dismisses the prompt, a retry reuses the start', async () => {
    const server = fakeServer(routesFor('op_auth1', authenticationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });
    startAuthentication.mockRejectedValueOnce(new DOMException('The operation either timed out or was not allowed.', 'NotAllowedError'));

    const error = await caught(custos.approve({ id: 'op_auth1', token: TOKEN }));
    const result = await custos.approve({ id: 'op_auth1', token: TOKEN });

    expect(error.code).toBe('USER_CANCELLED');
    expect(result.status).toBe('COMPLETED');
    expect(server.calls()).toEqual([path('op_auth1', 'start'), path('op_auth1', 'finish')]);
  });
});

describe('reject', () => {
  it('posts {} to reject with the token', async () => {
    const server = fakeServer(routesFor('op_auth1', authenticationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    const result = await custos.reject({ id: 'op_auth1', token: TOKEN });

    expect(result).toEqual({ status: 'REJECTED' });
    expect(server.calls()).toEqual([path('op_auth1', 'reject')]);
    expect(server.requests[0]?.body).toEqual({});
    expect(server.requests[0]?.headers['authorization']).toBe(`Bearer ${TOKEN}`);
  });
});

describe('errors', () => {
  const serverCases: Array<{ name: string; finish: Route; code: CustosErrorCode; status: number }> = [
    { name: 'VERIFICATION_FAILED', finish: problem(400, 'VERIFICATION_FAILED'), code: 'VERIFICATION_FAILED', status: 400 },
    {
      name: 'OPERATION_FINAL that ended EXPIRED',
      finish: problem(409, 'OPERATION_FINAL', { operationStatus: 'EXPIRED' }),
      code: 'EXPIRED',
      status: 409,
    },
    { name: 'OPERATION_EXPIRED', finish: problem(409, 'OPERATION_EXPIRED'), code: 'EXPIRED', status: 409 },
    {
      name: 'OPERATION_FINAL that ended otherwise',
      finish: problem(409, 'OPERATION_FINAL', { operationStatus: 'CANCELLED' }),
      code: 'OPERATION_FINAL',
      status: 409,
    },
    { name: '401', finish: problem(401, 'UNAUTHORIZED'), code: 'UNAUTHORIZED', status: 401 },
    { name: 'another 4xx problem', finish: problem(409, 'DEVICE_LOCKED'), code: 'REQUEST_FAILED', status: 409 },
    { name: '500 problem', finish: problem(500, 'INTERNAL'), code: 'SERVER_ERROR', status: 500 },
  ];

  for (const { name, finish, code, status } of serverCases) {
    it(`maps ${name} to ${code} and keeps the problem and its traceId`, async () => {
      const server = fakeServer(routesFor('op_auth1', authenticationStart, finish));
      const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

      const error = await caught(custos.approve({ id: 'op_auth1', token: TOKEN }));

      const sent = (typeof finish === 'function' ? undefined : finish.body) as { code: string; traceId: string; detail: string };
      expect(error.code).toBe(code);
      expect(error.status).toBe(status);
      expect(error.problem?.code).toBe(sent.code);
      expect(error.traceId).toBe(sent.traceId);
      expect(error.message).toBe(sent.detail);
    });
  }

  it('maps an unparseable 502 to SERVER_ERROR with the X-Trace-Id header', async () => {
    const server = fakeServer(
      routesFor('op_auth1', authenticationStart, { status: 502, body: '<html>Bad gateway</html>', headers: { 'X-Trace-Id': 'trc_gw' } }),
    );
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    const error = await caught(custos.approve({ id: 'op_auth1', token: TOKEN }));
    expect(error.code).toBe('SERVER_ERROR');
    expect(error.status).toBe(502);
    expect(error.problem).toBeUndefined();
    expect(error.traceId).toBe('trc_gw');
  });

  it('maps a 2xx that is not JSON to SERVER_ERROR', async () => {
    const server = fakeServer({ [path('op_auth1', 'start')]: { status: 200, body: 'not json' } });
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    expect((await caught(custos.approve({ id: 'op_auth1', token: TOKEN }))).code).toBe('SERVER_ERROR');
  });

  it('maps a start for another operation id to SERVER_ERROR', async () => {
    const server = fakeServer({ [path('op_auth1', 'start')]: { body: { ...authenticationStart, operation: { id: 'op_other', type: 'AUTHENTICATION' } } } });
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    expect((await caught(custos.approve({ id: 'op_auth1', token: TOKEN }))).code).toBe('SERVER_ERROR');
    expect(startAuthentication).not.toHaveBeenCalled();
  });

  it('maps a fetch that throws to NETWORK', async () => {
    const cause = new TypeError('Failed to fetch');
    const custos = createCustos({ baseUrl: BASE, fetch: () => Promise.reject(cause) });

    const error = await caught(custos.approve({ id: 'op_auth1', token: TOKEN }));
    expect(error.code).toBe('NETWORK');
    expect(error.cause).toBe(cause);
  });

  it('maps a browser without WebAuthn to NOT_SUPPORTED before any request', async () => {
    browserSupportsWebAuthn.mockReturnValue(false);
    const server = fakeServer(routesFor('op_auth1', authenticationStart));
    const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

    expect((await caught(custos.approve({ id: 'op_auth1', token: TOKEN }))).code).toBe('NOT_SUPPORTED');
    expect((await caught(custos.register({ id: 'op_reg1', token: TOKEN }))).code).toBe('NOT_SUPPORTED');
    expect(server.requests).toHaveLength(0);
  });

  const browserCases: Array<{ name: string; code: CustosErrorCode }> = [
    { name: 'NotAllowedError', code: 'USER_CANCELLED' },
    { name: 'AbortError', code: 'USER_CANCELLED' },
    { name: 'SecurityError', code: 'RP_ID_MISMATCH' },
    { name: 'InvalidStateError', code: 'ALREADY_REGISTERED' },
    { name: 'NotSupportedError', code: 'NOT_SUPPORTED' },
    { name: 'UnknownError', code: 'WEBAUTHN_FAILED' },
  ];

  for (const { name, code } of browserCases) {
    it(`maps the browser's ${name} (as @simplewebauthn/browser wraps it) to ${code} and finishes nothing`, async () => {
      const cause = new DOMException('browser says no', name);
      startRegistration.mockRejectedValueOnce(new WebAuthnError({ message: 'wrapped', code: 'ERROR_PASSTHROUGH_SEE_CAUSE_PROPERTY', cause }));
      const server = fakeServer(routesFor('op_reg1', registrationStart));
      const custos = createCustos({ baseUrl: BASE, fetch: server.fetch });

      const error = await caught(custos.register({ id: 'op_reg1', token: TOKEN }));

      expect(error.code).toBe(code);
      expect(server.calls()).toEqual([path('op_reg1', 'start')]);
    });
  }
});
