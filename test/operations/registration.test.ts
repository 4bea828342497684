// Passkey REGISTRATION through the worker's fetch: the full ceremony, every verification check broken on its own, start validation.
import type { DeviceRow } from '../../src/storage/devices';
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { CompactSign, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { Api, Problem } from '../helpers/api';
import { BASE_URL, countRows, expectProblem, setupTenant, workerFetch } from '../helpers/api';
import { approve, createUser, getOperation, newAuthenticator, RP_ID, sdkFetch, sdkStart, startOperation } from '../helpers/ceremony';
import type { StartedOperation } from '../helpers/ceremony';
import { b64url, SoftAuthenticator } from '../helpers/soft-authenticator';
import type { CreationOptionsJSON, Knobs, SoftAuthenticatorInit } from '../helpers/soft-authenticator';


interface CredentialRowJson {
  tenant_id: string;
  id: string;
  device_id: string;
  user_id: string;
  public_key: string;
  public_key_jwk: string;
  counter: number;
}

/** The problem members every refusal carries; a failed verification must add nothing (no reason leaks). */
const PROBLEM_MEMBERS = ['code', 'detail', 'status', 'title', 'traceId', 'type'];

async function deviceRows(userId: string): Promise<DeviceRow[]> {
  return (await env.DB.prepare('SELECT * FROM devices WHERE user_id = ?1 ORDER BY id').bind(userId).all<DeviceRow>()).results;
}

async function credentialRows(userId: string): Promise<CredentialRowJson[]> {
  return (await env.DB.prepare('SELECT * FROM credentials WHERE user_id = ?1 ORDER BY id').bind(userId).all<CredentialRowJson>()).results;
}

async function historyRow(id: string): Promise<{ status: string; failure_code: string | null; device_id: string | null } | null> {
  return env.DB.prepare('SELECT status, failure_code, device_id FROM operations WHERE id = ?1').bind(id).first();
}

async function auditActions(tenantId: string, targetId: string): Promise<{ action: string; actor: string; data: string }[]> {
  return (
    await env.DB.prepare('SELECT action, actor, data FROM audit_events WHERE tenant_id = ?1 AND target_id = ?2 ORDER BY seq')
      .bind(tenantId, targetId)
      .all<{ action: string; actor: string; data: string }>()
  ).results;
}

/** A started REGISTRATION whose device has fetched the creation options. */
async function startedRegistration(api: Api, userId: string, extra: Record<string, unknown> = {}): Promise<{ op: StartedOperation; publicKey: CreationOptionsJSON }> {
  const op = await startOperation(api, { type: 'REGISTRATION', userId, ...extra });
  const { publicKey } = await sdkStart(op);
  return { op, publicKey: publicKey as unknown as CreationOptionsJSON };
}

/** Asserts the PSD2 refusal of a failed verification: 400 VERIFICATION_FAILED, op FAILED, nothing of the device written. */
async function expectVerificationFailed(api: Api, res: Response, op: { id: string }, userId: string): Promise<Problem> {
  const problem = await expectProblem(res, 400, 'VERIFICATION_FAILED');
  // PSD2: a failed verification says no more than VERIFICATION_FAILED.
  expect(Object.keys(problem).sort()).toEqual(PROBLEM_MEMBERS);
  const status = await getOperation(api, op.id);
  expect(status.status).toBe('FAILED');
  expect(status.failure).toEqual({ code: 'VERIFICATION_FAILED' });
  expect(status).not.toHaveProperty('result');
  expect(await historyRow(op.id)).toMatchObject({ status: 'FAILED', failure_code: 'VERIFICATION_FAILED' });
  expect(await deviceRows(userId)).toEqual([]);
  expect(await credentialRows(userId)).toEqual([]);
  return problem;
}

/** An ES256 key pair made with WebCrypto and its public JWK (kty, crv, x, y only). */
async function deviceKeyPair(): Promise<{ privateKey: CryptoKey; publicJwk: JsonWebKey }> {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const { kty, crv, x, y } = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey;
  return { privateKey: pair.privateKey, publicJwk: { kty, crv, x, y } };
}

/** API.md §2: a compact ES256 JWS over { operationId, challenge }. */
async function bindingSignature(privateKey: CryptoKey, claims: { operationId: string; challenge: string }): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
}

describe('REGISTRATION: the full ceremony', () => {
  it('WebAuthn §7.1: a valid registration writes the device and credential rows, audits it and returns a result token', async () => {
    const { tenant, api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const user = await createUser(api, { externalRef: 'reg-full' });
    const aaguid = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    const authenticator = await newAuthenticator({ aaguid, backupEligible: true, backedUp: true });
    const { op, publicKey } = await startedRegistration(api, user.id, { deviceName: 'Ada’s laptop' });

    // The creation options ask for what PSD2 needs: UV required, our RP, the user handle, ES256 offered.
    expect(publicKey.rp).toMatchObject({ id: RP_ID });
    expect(publicKey.user.name).toBe('reg-full');
    expect(publicKey.pubKeyCredParams.map((p) => p.alg)).toContain(-7);
    expect((publicKey as unknown as { authenticatorSelection: { userVerification: string } }).authenticatorSelection.userVerification).toBe('required');
    expect(publicKey.excludeCredentials ?? []).toEqual([]);
    expect((await getOperation(api, op.id)).status).toBe('IN_PROGRESS');

    const credential = await authenticator.register(publicKey, { counter: 7 });
    const finish = await sdkFetch(op, 'finish', { credential });
    expect(finish.status, await finish.clone().text()).toBe(200);
    const finished = await finish.json<{ status: string; deviceId?: string }>();
    expect(finished.status).toBe('COMPLETED');

    const done = await getOperation(api, op.id);
    expect(done.status).toBe('COMPLETED');
    expect(done.result).toMatchObject({ userVerified: true, authMethod: 'passkey' });
    const deviceId = done.result!.deviceId;
    expect(deviceId).toMatch(/^dev_/);
    expect(done.deviceId).toBe(deviceId);
    // The device learns its own id (kept by the authenticator app for device proofs).
    expect(finished.deviceId).toBe(deviceId);
    expect(typeof done.result!.token).toBe('string');

    const [device, ...moreDevices] = await deviceRows(user.id);
    expect(moreDevices).toEqual([]);
    expect(device).toMatchObject({
      id: deviceId, tenant_id: tenant.id, kind: 'PASSKEY', status: 'ACTIVE', name: 'Ada’s laptop', rp_id: RP_ID,
      aaguid: '01020304-0506-0708-090a-0b0c0d0e0f10', backup_eligible: 1, backed_up: 1, device_key_jwk: null, failed_attempts: 0,
    });
    expect(JSON.parse(device!.transports!)).toEqual(['internal']);

    const [stored, ...moreCredentials] = await credentialRows(user.id);
    expect(moreCredentials).toEqual([]);
    expect(stored).toMatchObject({ tenant_id: tenant.id, id: authenticator.credentialId, device_id: deviceId, counter: 7 });
    expect(stored!.public_key).toBe(b64url(authenticator.publicKeyCose));
    expect(JSON.parse(stored!.public_key_jwk)).toMatchObject({ kty: 'EC', crv: 'P-256', x: authenticator.publicKeyJwk.x, y: authenticator.publicKeyJwk.y });

    expect((await auditActions(tenant.id, deviceId)).map((a) => a.action)).toEqual(['device.registered']);
    expect((await auditActions(tenant.id, op.id)).map((a) => a.action)).toEqual(['operation.started', 'operation.completed']);
    expect(await historyRow(op.id)).toMatchObject({ status: 'COMPLETED', failure_code: null, device_id: deviceId });

    // API.md: the result token is an ES256 JWT checkable against the published JWKS, carrying the registration evidence.
    const token = done.result!.token;
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', typ: 'custos-result+jwt' });
    const jwks = createLocalJWKSet(await (await workerFetch('/.well-known/jwks.json')).json());
    const { payload } = await jwtVerify(token, jwks, { algorithms: ['ES256'], issuer: BASE_URL, audience: tenant.id, typ: 'custos-result+jwt' });
    expect(payload).toMatchObject({ sub: user.id, jti: op.id, op: 'REGISTRATION', device: deviceId });
    expect(payload.amr).toContain('hwk');
    expect(payload.evidence).toEqual({
      credentialId: authenticator.credentialId,
      publicKeyJwk: { kty: 'EC', crv: 'P-256', x: authenticator.publicKeyJwk.x, y: authenticator.publicKeyJwk.y },
      attestationObject: credential.response.attestationObject,
      clientDataJSON: credential.response.clientDataJSON,
    });

    // The devices API shows the same device.
    const view = await (await api(`/v1/devices/${deviceId}`)).json<Record<string, unknown>>();
    expect(view).toMatchObject({
      id: deviceId, userId: user.id, status: 'ACTIVE', kind: 'PASSKEY', name: 'Ada’s laptop', failedAttempts: 0,
      authenticator: { aaguid: '01020304-0506-0708-090a-0b0c0d0e0f10', backupEligible: true, backedUp: true, transports: ['internal'] },
    });
  });

  it('WebAuthn §8.2: packed self attestation is accepted as well as none', async () => {
    const { api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const user = await createUser(api);
    const authenticator = await newAuthenticator();
    const { op, publicKey } = await startedRegistration(api, user.id);
    const res = await sdkFetch(op, 'finish', { credential: await authenticator.register(publicKey, { fmt: 'packed' }) });
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await credentialRows(user.id)).map((c) => c.id)).toEqual([authenticator.credentialId]);
  });
});

describe('REGISTRATION: each verification check broken on its own → 400 VERIFICATION_FAILED, FAILED, nothing written', () => {
  const cases: { name: string; knobs: Knobs; policy?: Record<string, unknown>; init?: Partial<SoftAuthenticatorInit> }[] = [
    { name: 'WebAuthn §7.1 step 9: a foreign origin', knobs: { origin: 'https://evil.example' } },
    { name: 'WebAuthn §7.1 step 9: the right host on another port (http://localhost:9999)', knobs: { origin: 'http://localhost:9999' } },
    { name: 'WebAuthn §7.1 step 13: rpIdHash of another RP ID', knobs: { rpId: 'evil.example' } },
    { name: 'WebAuthn §7.1 step 8: a challenge that is not the operation’s', knobs: { challenge: b64url(crypto.getRandomValues(new Uint8Array(32))) } },
    { name: 'WebAuthn §7.1 step 7: clientData type webauthn.get', knobs: { type: 'webauthn.get' } },
    { name: 'WebAuthn §7.1 step 14: UP=0', knobs: { up: false } },
    { name: 'WebAuthn §7.1 step 15 + PSD2 RTS art. 4: UV=0', knobs: { uv: false } },
    { name: 'WebAuthn §6.1: BS=1 with BE=0', knobs: { be: false, bs: true } },
    { name: 'tenant policy deviceBoundOnly: BE=1 (a syncable passkey)', knobs: { be: true }, policy: { deviceBoundOnly: true } },
    { name: 'WebAuthn §7.1 step 17: alg -8 (EdDSA) claimed, not offered', knobs: { alg: -8 } },
    { name: 'WebAuthn §7.1 step 17: alg -35 (ES384) claimed, not offered', knobs: { alg: -35 } },
    { name: 'WebAuthn §8.7: fmt none with a non-empty attStmt', knobs: { attStmt: { sig: new Uint8Array(8) } as unknown as Record<string, unknown> } },
    { name: 'WebAuthn §7.1: a response id other than the credential id in authData', knobs: { credentialId: b64url(new Uint8Array(32)) } },
  ];

  for (const c of cases) {
    it(`${c.name} → VERIFICATION_FAILED, no device written`, async () => {
      const { tenant, api } = await setupTenant({ policy: { requireScaForNewDevice: false, ...c.policy } });
      const user = await createUser(api);
      const authenticator = await newAuthenticator(c.init);
      const { op, publicKey } = await startedRegistration(api, user.id);
      const credential = await authenticator.register(publicKey, c.knobs);
      const res = await sdkFetch(op, 'finish', { credential });
      await expectVerificationFailed(api, res, op, user.id);
      // The internal reason stays in the audit log.
      const failed = (await auditActions(tenant.id, op.id)).find((a) => a.action === 'operation.failed');
      expect(failed?.actor).toBe('sdk');
      expect(typeof (JSON.parse(failed!.data) as { reason?: unknown }).reason).toBe('string');
    });
  }

  it('tenant policy deviceBoundOnly: a device-bound passkey (BE=0) is still accepted', async () => {
    const { api } = await setupTenant({ policy: { requireScaForNewDevice: false, deviceBoundOnly: true } });
    const user = await createUser(api);
    const { op, publicKey } = await startedRegistration(api, user.id);
    const res = await sdkFetch(op, 'finish', { credential: await (await newAuthenticator()).register(publicKey) });
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await deviceRows(user.id))[0]).toMatchObject({ backup_eligible: 0, backed_up: 0 });
  });

  it('WebAuthn §7.1: a credential that is not an object, or lacks its response, is refused and nothing is written', async () => {
    const { api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const user = await createUser(api);
    const { op } = await startedRegistration(api, user.id);
    // Caught by the route before the DO: the operation stays usable.
    await expectProblem(await sdkFetch(op, 'finish', { credential: 'nope' }), 400, 'VALIDATION_FAILED');
    await expectProblem(await sdkFetch(op, 'finish', { credential: {}, extra: 1 }), 400, 'VALIDATION_FAILED');
    expect((await getOperation(api, op.id)).status).toBe('IN_PROGRESS');
    // A structurally empty credential reaches verification and fails it.
    await expectVerificationFailed(api, await sdkFetch(op, 'finish', { credential: { id: 'x', rawId: 'x', response: {}, type: 'public-key' } }), op, user.id);
  });
});

describe('REGISTRATION: device key binding (API.md §2)', () => {
  it('API.md §2: deviceKey + a deviceSignature over { operationId, challenge } binds the key to the device row', async () => {
    const { api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const user = await createUser(api);
    const { op, publicKey } = await startedRegistration(api, user.id);
    const key = await deviceKeyPair();
    const deviceSignature = await bindingSignature(key.privateKey, { operationId: op.id, challenge: publicKey.challenge });
    const credential = await (await newAuthenticator()).register(publicKey);
    const res = await sdkFetch(op, 'finish', { credential, deviceKey: key.publicJwk, deviceSignature });
    expect(res.status, await res.clone().text()).toBe(200);
    const [device] = await deviceRows(user.id);
    expect(JSON.parse(device!.device_key_jwk!)).toEqual(key.publicJwk);
  });

  const badBindings: { name: string; make: (op: { id: string }, challenge: string, key: { privateKey: CryptoKey; publicJwk: JsonWebKey }) => Promise<Record<string, unknown>> }[] = [
    {
      name: 'signed by another key',
      make: async (op, challenge, key) => ({
        deviceKey: key.publicJwk,
        deviceSignature: await bindingSignature((await deviceKeyPair()).privateKey, { operationId: op.id, challenge }),
      }),
    },
    {
      name: 'over another operationId',
      make: async (_op, challenge, key) => ({
        deviceKey: key.publicJwk,
        deviceSignature: await bindingSignature(key.privateKey, { operationId: 'op_someotheroperation000000000000000', challenge }),
      }),
    },
    {
      name: 'over another challenge',
      make: async (op, _challenge, key) => ({
        deviceKey: key.publicJwk,
        deviceSignature: await bindingSignature(key.privateKey, { operationId: op.id, challenge: b64url(new Uint8Array(32)) }),
      }),
    },
    { name: 'a deviceKey without deviceSignature', make: async (_op, _challenge, key) => ({ deviceKey: key.publicJwk }) },
    {
      name: 'a deviceKey carrying its private part d',
      make: async (op, challenge, key) => {
        const full = (await crypto.subtle.exportKey('jwk', key.privateKey)) as JsonWebKey;
        return { deviceKey: { kty: full.kty, crv: full.crv, x: full.x, y: full.y, d: full.d }, deviceSignature: await bindingSignature(key.privateKey, { operationId: op.id, challenge }) };
      },
    },
  ];

  for (const bad of badBindings) {
    it(`API.md §2: a device binding ${bad.name} fails the operation with VERIFICATION_FAILED, no device written`, async () => {
      const { api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
      const user = await createUser(api);
      const { op, publicKey } = await startedRegistration(api, user.id);
      const extra = await bad.make(op, publicKey.challenge, await deviceKeyPair());
      const credential = await (await newAuthenticator()).register(publicKey);
      await expectVerificationFailed(api, await sdkFetch(op, 'finish', { credential, ...extra }), op, user.id);
    });
  }
});

describe('REGISTRATION: one credential, one device', () => {
  it('WebAuthn §7.1 step 22: a credential id already registered for another user of the tenant is refused, no second credential row', async () => {
    const { tenant, api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const alice = await createUser(api);
    const bob = await createUser(api);
    const authenticator = await newAuthenticator();
    const first = await startedRegistration(api, alice.id);
    expect((await sdkFetch(first.op, 'finish', { credential: await authenticator.register(first.publicKey) })).status).toBe(200);

    const second = await startedRegistration(api, bob.id);
    // Bob's exclude list cannot name Alice's credential, so the authenticator creates it again.
    expect(second.publicKey.excludeCredentials ?? []).toEqual([]);
    const res = await sdkFetch(second.op, 'finish', { credential: await authenticator.register(second.publicKey) });
    await expectVerificationFailed(api, res, second.op, bob.id);
    expect(await countRows('credentials', 'tenant_id = ?1', tenant.id)).toBe(1);
    expect(await countRows('devices', 'tenant_id = ?1', tenant.id)).toBe(1);
    expect((await credentialRows(alice.id))[0]?.user_id).toBe(alice.id);
    const failed = (await auditActions(tenant.id, second.op.id)).find((a) => a.action === 'operation.failed');
    expect(JSON.parse(failed!.data)).toMatchObject({ reason: 'CREDENTIAL_ALREADY_REGISTERED' });
  });

  it('WebAuthn §7.1 step 22: the same authenticator registered twice for the same user is refused, no second credential row', async () => {
    const { tenant, api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const user = await createUser(api);
    const authenticator = await newAuthenticator();
    const first = await startedRegistration(api, user.id);
    expect((await sdkFetch(first.op, 'finish', { credential: await authenticator.register(first.publicKey) })).status).toBe(200);
    const firstDevices = await deviceRows(user.id);

    const second = await startedRegistration(api, user.id);
    // A browser would refuse (InvalidStateError); a hostile client skips that check.
    const credential = await authenticator.register(second.publicKey, { skipClientChecks: true });
    const problem = await expectProblem(await sdkFetch(second.op, 'finish', { credential }), 400, 'VERIFICATION_FAILED');
    expect(Object.keys(problem).sort()).toEqual(PROBLEM_MEMBERS);
    expect((await getOperation(api, second.op.id)).status).toBe('FAILED');
    expect(await deviceRows(user.id)).toEqual(firstDevices);
    expect(await countRows('credentials', 'tenant_id = ?1', tenant.id)).toBe(1);
    const failed = (await auditActions(tenant.id, second.op.id)).find((a) => a.action === 'operation.failed');
    expect(JSON.parse(failed!.data)).toMatchObject({ reason: 'CREDENTIAL_ALREADY_REGISTERED' });
  });

  it('WebAuthn §5.4.3: excludeCredentials of a second registration lists the first credential with its transports', async () => {
    const { api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const user = await createUser(api);
    const authenticator = await newAuthenticator();
    const first = await startedRegistration(api, user.id);
    expect((await sdkFetch(first.op, 'finish', { credential: await authenticator.register(first.publicKey) })).status).toBe(200);
    const { publicKey } = await startedRegistration(api, user.id);
    expect(publicKey.excludeCredentials).toEqual([{ id: authenticator.credentialId, type: 'public-key', transports: ['internal'] }]);
    // And a browser holding that credential refuses to create another one.
    await expect(authenticator.register(publicKey)).rejects.toThrow(/InvalidStateError/);
  });
});

describe('REGISTRATION: start validation (nothing written)', () => {
  async function expectStartRefused(api: Api, tenantId: string, body: Record<string, unknown>, status: number, code: string): Promise<Problem> {
    const before = { ops: await countRows('operations', 'tenant_id = ?1', tenantId), audit: await countRows('audit_events', 'tenant_id = ?1', tenantId) };
    const problem = await expectProblem(await api('/v1/operations', { method: 'POST', json: body }), status, code);
    expect(await countRows('operations', 'tenant_id = ?1', tenantId)).toBe(before.ops);
    expect(await countRows('audit_events', 'tenant_id = ?1', tenantId)).toBe(before.audit);
    return problem;
  }

  it('PSD2 RTS art. 4(3)(d): ttlSeconds 0 → 400 VALIDATION_FAILED', async () => {
    const { tenant, api } = await setupTenant();
    const user = await createUser(api);
    const problem = await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: user.id, ttlSeconds: 0 }, 400, 'VALIDATION_FAILED');
    expect(problem.invalidParams?.map((p) => p.name)).toEqual(['ttlSeconds']);
  });

  it('PSD2 RTS art. 4(3)(d): ttlSeconds 301 → 400 VALIDATION_FAILED', async () => {
    const { tenant, api } = await setupTenant();
    const user = await createUser(api);
    const problem = await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: user.id, ttlSeconds: 301 }, 400, 'VALIDATION_FAILED');
    expect(problem.invalidParams?.map((p) => p.name)).toEqual(['ttlSeconds']);
  });

  it('API.md §1: ttlSeconds above the tenant’s operationTtlSeconds → 400; at it and at 1 → 201 with that lifetime', async () => {
    const { tenant, api } = await setupTenant({ policy: { operationTtlSeconds: 60 } });
    const user = await createUser(api);
    await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: user.id, ttlSeconds: 61 }, 400, 'VALIDATION_FAILED');
    for (const ttl of [1, 60]) {
      const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id, ttlSeconds: ttl });
      expect(Date.parse(op.expiresAt as string) - Date.parse(op.createdAt as string)).toBe(ttl * 1000);
    }
  });

  it('API.md: an unknown operation type → 400 VALIDATION_FAILED', async () => {
    const { tenant, api } = await setupTenant();
    const user = await createUser(api);
    await expectStartRefused(api, tenant.id, { type: 'ENROLMENT', userId: user.id }, 400, 'VALIDATION_FAILED');
  });

  it('API.md: deviceId on a REGISTRATION → 400 VALIDATION_FAILED', async () => {
    const { tenant, api } = await setupTenant();
    const user = await createUser(api);
    const problem = await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: user.id, deviceId: 'dev_00000000000000000000000000000000' }, 400, 'VALIDATION_FAILED');
    expect(problem.invalidParams?.map((p) => p.name)).toEqual(['deviceId']);
  });

  it('API.md: an unknown field on a REGISTRATION start → 400 VALIDATION_FAILED', async () => {
    const { tenant, api } = await setupTenant();
    const user = await createUser(api);
    await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: user.id, colour: 'red' }, 400, 'VALIDATION_FAILED');
  });

  it('API.md: an unknown user → 404 USER_NOT_FOUND; another tenant’s user → 404 too', async () => {
    const { tenant, api } = await setupTenant();
    await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: 'usr_0000000000000000000000000000000000' }, 404, 'USER_NOT_FOUND');
    await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: 'nobody' }, 404, 'USER_NOT_FOUND');
    const other = await setupTenant();
    const foreign = await createUser(other.api);
    await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: foreign.id }, 404, 'USER_NOT_FOUND');
  });

  it('API.md §1: a locked user → 409 USER_NOT_ACTIVE', async () => {
    const { tenant, api } = await setupTenant();
    const user = await createUser(api);
    expect((await api(`/v1/users/${user.id}/lock`, { method: 'POST', json: {} })).status).toBe(200);
    await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: user.id }, 409, 'USER_NOT_ACTIVE');
  });

  it('API.md §1: a deactivated user → 409 USER_NOT_ACTIVE', async () => {
    const { tenant, api } = await setupTenant();
    const user = await createUser(api);
    expect((await api(`/v1/users/${user.id}/deactivate`, { method: 'POST', json: {} })).status).toBe(200);
    await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: user.id }, 409, 'USER_NOT_ACTIVE');
  });

  it('PSD2 RTS art. 24(2)(b): requireScaForNewDevice — a user with an active device and no authorisedBy → 409 SCA_REQUIRED', async () => {
    const { tenant, api } = await setupTenant();
    expect(tenant.policy.requireScaForNewDevice).toBe(true);
    const user = await createUser(api);
    // The first device needs no prior SCA: there is nothing to authenticate with.
    const first = await startedRegistration(api, user.id);
    expect((await sdkFetch(first.op, 'finish', { credential: await (await newAuthenticator()).register(first.publicKey) })).status).toBe(200);
    await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: user.id }, 409, 'SCA_REQUIRED');
  });

  it('PSD2 RTS art. 24(2)(b): authorisedBy must be a COMPLETED AUTHENTICATION of the same user', async () => {
    const { tenant, api } = await setupTenant();
    const user = await createUser(api);
    const other = await createUser(api);
    const authenticator = await newAuthenticator();
    const first = await startedRegistration(api, user.id);
    expect((await sdkFetch(first.op, 'finish', { credential: await authenticator.register(first.publicKey) })).status).toBe(200);
    const otherFirst = await startedRegistration(api, other.id);
    const otherAuthenticator = await newAuthenticator();
    expect((await sdkFetch(otherFirst.op, 'finish', { credential: await otherAuthenticator.register(otherFirst.publicKey) })).status).toBe(200);

    // A registration is not an authentication; a pending authentication is not completed; another user's does not count.
    await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: user.id, authorisedBy: first.op.id }, 409, 'SCA_REQUIRED');
    const pending = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id });
    await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: user.id, authorisedBy: pending.id }, 409, 'SCA_REQUIRED');
    const othersAuth = await approve(api, otherAuthenticator, { type: 'AUTHENTICATION', userId: other.id });
    expect(othersAuth.finish.status).toBe(200);
    await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: user.id, authorisedBy: othersAuth.op.id }, 409, 'SCA_REQUIRED');
    await expectStartRefused(api, tenant.id, { type: 'REGISTRATION', userId: user.id, authorisedBy: 'op_unknown' }, 409, 'SCA_REQUIRED');

    // A fresh completed AUTHENTICATION of the user does authorise the second device.
    const auth = await approve(api, authenticator, { type: 'AUTHENTICATION', userId: user.id });
    expect(auth.finish.status).toBe(200);
    const second = await startedRegistration(api, user.id, { authorisedBy: auth.op.id });
    expect(second.publicKey.excludeCredentials?.map((c) => c.id)).toEqual([authenticator.credentialId]);
    expect((await sdkFetch(second.op, 'finish', { credential: await (await newAuthenticator()).register(second.publicKey) })).status).toBe(200);
    expect((await deviceRows(user.id)).length).toBe(2);
  });
});

describe('REGISTRATION: a user blocked mid-ceremony completes nothing', () => {
  for (const action of ['lock', 'deactivate'] as const) {
    it(`API.md §1: ${action} the user after the device fetched the options → finish 409 OPERATION_FINAL (CANCELLED), no device written`, async () => {
      const { api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
      const user = await createUser(api);
      const { op, publicKey } = await startedRegistration(api, user.id);
      const credential = await (await newAuthenticator()).register(publicKey);
      expect((await api(`/v1/users/${user.id}/${action}`, { method: 'POST', json: {} })).status).toBe(200);

      const problem = await expectProblem(await sdkFetch(op, 'finish', { credential }), 409, 'OPERATION_FINAL');
      expect(problem.operationStatus).toBe('CANCELLED');
      const status = await getOperation(api, op.id);
      expect(status.status).toBe('CANCELLED');
      expect(status).not.toHaveProperty('result');
      expect(await historyRow(op.id)).toMatchObject({ status: 'CANCELLED' });
      expect(await deviceRows(user.id)).toEqual([]);
      expect(await credentialRows(user.id)).toEqual([]);
    });
  }
});

describe('REGISTRATION: rpScope (tenant or the service’s own origin)', () => {
  const SERVICE_RP_ID = new URL(BASE_URL).hostname;

  it('API.md §2: rpScope "service" registers a passkey for the service’s origin and stores that rpId on the device', async () => {
    const { api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    const start = await sdkFetch(op, 'start', { rpScope: 'service' });
    expect(start.status, await start.clone().text()).toBe(200);
    const { publicKey } = await start.json<{ publicKey: CreationOptionsJSON }>();
    expect(publicKey.rp.id).toBe(SERVICE_RP_ID);
    const authenticator = await SoftAuthenticator.create({ rpId: SERVICE_RP_ID, origin: BASE_URL });
    const res = await sdkFetch(op, 'finish', { credential: await authenticator.register(publicKey) });
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await deviceRows(user.id))[0]?.rp_id).toBe(SERVICE_RP_ID);
  });

  it('WebAuthn §7.1 step 9/13: under rpScope "service" a credential made for the tenant’s origin and rpId → VERIFICATION_FAILED', async () => {
    const { api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    const { publicKey } = await (await sdkFetch(op, 'start', { rpScope: 'service' })).json<{ publicKey: CreationOptionsJSON }>();
    const credential = await (await newAuthenticator()).register(publicKey, { rpId: RP_ID });
    await expectVerificationFailed(api, await sdkFetch(op, 'finish', { credential }), op, user.id);
  });

  it('API.md §2: an rpScope other than tenant or service → 400 VALIDATION_FAILED, the operation stays PENDING', async () => {
    const { api } = await setupTenant({ policy: { requireScaForNewDevice: false } });
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    await expectProblem(await sdkFetch(op, 'start', { rpScope: 'elsewhere' }), 400, 'VALIDATION_FAILED');
    expect((await getOperation(api, op.id)).status).toBe('PENDING');
  });
});
