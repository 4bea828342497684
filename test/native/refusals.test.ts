// Native envelopes that must be refused: each with its stable code and nothing written; and the PSD2 rules as for passkeys.
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:test';
import { operationStub } from '../../src/durable-objects/operation';
import { base64url, CompactSign } from 'jose';
import { BASE_URL, countRows, expectProblem, setupTenant } from '../helpers/api';
import type { Api, Problem } from '../helpers/api';
import { createUser, ORIGIN, RP_ID, sdkFetch, sdkStart, startOperation } from '../helpers/ceremony';
import { SoftAuthenticator } from '../helpers/soft-authenticator';
import { generateDeviceKey, generateReplyKey, publicJwkOf, sealEnvelope, signRequest } from '../../web-sdk/src/native';
import type { E2EKey, PreparedCall, RequestSigner } from '../../web-sdk/src/native';
import { nativeClient, postJose, registerNative, snapshot } from './helpers';
import type { RegisteredNative, StateSnapshot } from './helpers';

const TRANSACTION = { amount: '49.99', currency: 'EUR', payee: { name: 'ACME Ltd' } };

interface Arranged {
  api: Api;
  tenantId: string;
  userId: string;
  a: RegisteredNative;
  b: RegisteredNative;
  opId: string;
  opToken: string;
  challenge: string;
  signerA: RequestSigner;
  e2eKey: E2EKey;
  /** A valid finish of the operation by device A, built and not sent; `claims` override or add claims. */
  finish: (claims?: Record<string, unknown>) => Promise<PreparedCall>;
  state: () => Promise<StateSnapshot>;
}

/** A tenant, a user with native device A (an AUTHORISATION addressed to it, started), and another user's device B. */
async function arrange(policy: Record<string, unknown> = {}): Promise<Arranged> {
  const { api, tenant } = await setupTenant({ policy });
  const user = await createUser(api);
  const a = await registerNative(api, { userId: user.id });
  const b = await registerNative(api, { userId: (await createUser(api)).id });
  const op = await startOperation(api, { type: 'AUTHORISATION', userId: user.id, deviceId: a.device.deviceId, transaction: TRANSACTION });
  const client = nativeClient();
  const signerA: RequestSigner = { kind: 'device', deviceId: a.device.deviceId, privateKey: a.keyPair.privateKey };
  const { challenge } = await client.start(signerA, tenant.id, op.id);
  const { e2eKey } = await client.config(tenant.id);
  return {
    api, tenantId: tenant.id, userId: user.id, a, b, opId: op.id, opToken: op.sdk.token, challenge, signerA, e2eKey,
    finish: (claims = {}) => client.prepare({ signer: signerA, tenantId: tenant.id, operationId: op.id, action: 'finish', claims: { challenge, uv: 'fpt', ...claims } }),
    state: () => snapshot(api, { operationId: op.id, deviceId: a.device.deviceId, tenantId: tenant.id }),
  };
}

/** The problem, and proof that nothing moved: the operation, device A, the device table, the audit log, the jti store. */
async function expectRefused(t: Arranged, response: Response, status: number, code: string, before: StateSnapshot): Promise<Problem> {
  const problem = await expectProblem(response, status, code);
  expect(await t.state()).toEqual(before);
  return problem;
}

/** The operation was not consumed: a correct finish still completes it. */
async function expectStillCompletable(t: Arranged): Promise<void> {
  const call = await t.finish();
  const response = await postJose(call.url, call.envelope);
  expect(response.status, await response.clone().text()).toBe(200);
  expect(((await (await t.api(`/v1/operations/${t.opId}`)).json()) as { status: string }).status).toBe('COMPLETED');
}

function flipCharAt(text: string, index: number): string {
  return `${text.slice(0, index)}${text[index] === 'A' ? 'B' : 'A'}${text.slice(index + 1)}`;
}

describe('native envelopes: refused with their code, nothing written', () => {
  it('RFC 9449 §11.1 (replay): the same envelope twice → 401 ENVELOPE_REPLAYED, for start and for finish', async () => {
    const t = await arrange();
    const client = nativeClient();
    const start = await client.prepare({ signer: t.signerA, tenantId: t.tenantId, operationId: t.opId, action: 'start' });
    expect((await postJose(start.url, start.envelope)).status).toBe(200);
    let before = await t.state();
    await expectRefused(t, await postJose(start.url, start.envelope), 401, 'ENVELOPE_REPLAYED', before);

    const finish = await t.finish();
    expect((await postJose(finish.url, finish.envelope)).status).toBe(200);
    before = await t.state();
    expect(before.operationStatus).toBe('COMPLETED');
    // Refused as a replay, before the operation is even asked.
    await expectRefused(t, await postJose(finish.url, finish.envelope), 401, 'ENVELOPE_REPLAYED', before);
  });

  it('freshness: iat more than 60 s old or more than 10 s ahead → 401 ENVELOPE_STALE with serverTime', async () => {
    const t = await arrange();
    const before = await t.state();
    const now = Math.floor(Date.now() / 1000);
    for (const iat of [now - 120, now + 60]) {
      const call = await t.finish({ iat });
      const problem = await expectRefused(t, await postJose(call.url, call.envelope), 401, 'ENVELOPE_STALE', before);
      expect(typeof problem.serverTime).toBe('number');
      expect(Math.abs((problem.serverTime as number) - now)).toBeLessThan(30);
    }
    await expectStillCompletable(t);
  });

  it('E2E key id: an unknown kid → 400 E2E_KEY_UNKNOWN; a kid naming another key than the one used → 400 ENVELOPE_UNREADABLE', async () => {
    const t = await arrange();
    const before = await t.state();
    const call = await t.finish();
    const jws = await signRequest({ privateKey: t.a.keyPair.privateKey, kid: t.a.device.deviceId }, call.claims);
    const unknown = await sealEnvelope(jws, { ...t.e2eKey, kid: 'e2e-unknown' });
    await expectRefused(t, await postJose(call.url, unknown), 400, 'E2E_KEY_UNKNOWN', before);

    const foreign = await publicJwkOf((await generateReplyKey()).publicKey);
    const swapped = await sealEnvelope(jws, { ...foreign, kid: t.e2eKey.kid });
    await expectRefused(t, await postJose(call.url, swapped), 400, 'ENVELOPE_UNREADABLE', before);
    await expectStillCompletable(t);
  });

  it('RFC 7516 §5.2 (integrity): a tampered ciphertext or a tampered protected header → 400 ENVELOPE_UNREADABLE', async () => {
    const t = await arrange();
    const before = await t.state();
    const call = await t.finish();
    const parts = call.envelope.split('.');
    const ciphertext = [...parts.slice(0, 3), flipCharAt(parts[3]!, 10), parts[4]].join('.');
    await expectRefused(t, await postJose(call.url, ciphertext), 400, 'ENVELOPE_UNREADABLE', before);

    const header = JSON.parse(new TextDecoder().decode(base64url.decode(parts[0]!))) as Record<string, unknown>;
    const reheadered = [base64url.encode(new TextEncoder().encode(JSON.stringify({ ...header, cty: 'jwt' }))), ...parts.slice(1)].join('.');
    await expectRefused(t, await postJose(call.url, reheadered), 400, 'ENVELOPE_UNREADABLE', before);
    // The untouched envelope was never consumed.
    expect((await postJose(call.url, call.envelope)).status).toBe(200);
  });

  it('device key: a JWS by another device’s key, a kid swapped to another device, an unknown device → 401 DEVICE_SIGNATURE_INVALID', async () => {
    const t = await arrange();
    const before = await t.state();
    const call = await t.finish();
    const variants = [
      await signRequest({ privateKey: t.b.keyPair.privateKey, kid: t.a.device.deviceId }, call.claims),
      await signRequest({ privateKey: t.a.keyPair.privateKey, kid: t.b.device.deviceId }, call.claims),
      await signRequest({ privateKey: t.a.keyPair.privateKey, kid: `dev_${'0'.repeat(36)}` }, call.claims),
    ];
    for (const jws of variants) {
      await expectRefused(t, await postJose(call.url, await sealEnvelope(jws, t.e2eKey)), 401, 'DEVICE_SIGNATURE_INVALID', before);
    }
    await expectStillCompletable(t);
  });

  it('RFC 9449 §4.3 (binding): an envelope made for another operation or another URL → 401 ENVELOPE_BINDING_MISMATCH', async () => {
    const t = await arrange();
    const other = await startOperation(t.api, { type: 'AUTHENTICATION', userId: t.userId, deviceId: t.a.device.deviceId });
    const before = await t.state();
    const call = await t.finish();
    await expectRefused(t, await postJose(`${BASE_URL}/sdk/v1/operations/${other.id}/finish`, call.envelope), 401, 'ENVELOPE_BINDING_MISMATCH', before);
    await expectRefused(t, await postJose(call.url.replace(/finish$/, 'reject'), call.envelope), 401, 'ENVELOPE_BINDING_MISMATCH', before);
    // Claims naming the other operation, sent to this operation's URL.
    const renamed = await t.finish({ op: other.id });
    await expectRefused(t, await postJose(renamed.url, renamed.envelope), 401, 'ENVELOPE_BINDING_MISMATCH', before);
    expect(((await (await t.api(`/v1/operations/${other.id}`)).json()) as { status: string }).status).toBe('PENDING');
    await expectStillCompletable(t);
  });

  it('an operation for a NATIVE device answered in plain JSON → 415 NATIVE_ENVELOPE_REQUIRED (start and finish), nothing counted', async () => {
    const t = await arrange();
    const op = await startOperation(t.api, { type: 'AUTHENTICATION', userId: t.userId, deviceId: t.a.device.deviceId });
    const before = await snapshot(t.api, { operationId: op.id, deviceId: t.a.device.deviceId, tenantId: t.tenantId });
    await expectProblem(await sdkFetch(op, 'start'), 415, 'NATIVE_ENVELOPE_REQUIRED');
    const credential = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA' }, clientExtensionResults: {} };
    await expectProblem(await sdkFetch(op, 'finish', { credential }), 415, 'NATIVE_ENVELOPE_REQUIRED');
    expect(await snapshot(t.api, { operationId: op.id, deviceId: t.a.device.deviceId, tenantId: t.tenantId })).toEqual(before);
    expect(before).toMatchObject({ operationStatus: 'PENDING', failedAttempts: 0 });
  });

  it('not an envelope: an empty body, a JSON body sent as application/jose, a JWS instead of a JWE → 400 ENVELOPE_MALFORMED', async () => {
    const t = await arrange();
    const before = await t.state();
    const call = await t.finish();
    const jws = await signRequest({ privateKey: t.a.keyPair.privateKey, kid: t.a.device.deviceId }, call.claims);
    for (const body of ['', '{"credential":{}}', jws]) {
      await expectRefused(t, await postJose(call.url, body), 400, 'ENVELOPE_MALFORMED', before);
    }
    await expectStillCompletable(t);
  });

  it('the activation code in an envelope registers a device and acts on nothing else → 404 OPERATION_NOT_FOUND', async () => {
    const t = await arrange();
    const before = await t.state();
    const keyPair = await generateDeviceKey();
    const call = await nativeClient().prepare({
      signer: { kind: 'new-key', keyPair, activationToken: t.opToken }, tenantId: t.tenantId, operationId: t.opId, action: 'finish', claims: { challenge: t.challenge, uv: 'face' },
    });
    await expectProblem(await postJose(call.url, call.envelope), 404, 'OPERATION_NOT_FOUND');
    // Only its jti is remembered.
    expect(await t.state()).toEqual({ ...before, jtis: before.jtis + 1 });
    expect(await countRows('devices', 'tenant_id = ?1', t.tenantId)).toBe(before.devices);
    await expectStillCompletable(t);
  });

  it('a registration whose ath is not the activation code’s hash → 401 UNAUTHENTICATED (a forged token), no device', async () => {
    const { api, tenant } = await setupTenant();
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    const keyPair = await generateDeviceKey();
    const call = await nativeClient().prepare({ signer: { kind: 'new-key', keyPair, activationToken: `${op.sdk.token}x` }, tenantId: tenant.id, operationId: op.id, action: 'start' });
    await expectProblem(await postJose(call.url, call.envelope), 401, 'UNAUTHENTICATED');
    expect(((await (await api(`/v1/operations/${op.id}`)).json()) as { status: string }).status).toBe('PENDING');
    expect(await countRows('devices', 'tenant_id = ?1', tenant.id)).toBe(0);
  });

  it('a passkey device with a bound device key cannot answer with an envelope → 409 DEVICE_NOT_NATIVE', async () => {
    const { api, tenant } = await setupTenant();
    const user = await createUser(api);
    const reg = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    const { publicKey } = await sdkStart(reg);
    const authenticator = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const credential = await authenticator.register(publicKey as never);
    const keyPair = await generateDeviceKey();
    // API.md §2: the web SDK's device binding, a JWS by the key over { operationId, challenge }.
    const deviceSignature = await new CompactSign(new TextEncoder().encode(JSON.stringify({ operationId: reg.id, challenge: publicKey.challenge })))
      .setProtectedHeader({ alg: 'ES256' })
      .sign(keyPair.privateKey);
    const finished = await sdkFetch(reg, 'finish', { credential, deviceKey: await publicJwkOf(keyPair.publicKey), deviceSignature });
    const { deviceId } = (await finished.json()) as { deviceId: string };
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id, deviceId });
    const before = await snapshot(api, { operationId: op.id, deviceId, tenantId: tenant.id });
    const call = await nativeClient().prepare({ signer: { kind: 'device', deviceId, privateKey: keyPair.privateKey }, tenantId: tenant.id, operationId: op.id, action: 'start' });
    await expectProblem(await postJose(call.url, call.envelope), 409, 'DEVICE_NOT_NATIVE');
    expect(await snapshot(api, { operationId: op.id, deviceId, tenantId: tenant.id })).toEqual(before);
  });
});

describe('native approvals: PSD2 rules exactly as for passkeys', () => {
  it('PSD2 RTS art. 5(1)(b): a signature over another challenge → 400 VERIFICATION_FAILED, operation FAILED, one failed attempt', async () => {
    const t = await arrange();
    const call = await t.finish({ challenge: base64url.encode(new Uint8Array(64)) });
    await expectProblem(await postJose(call.url, call.envelope), 400, 'VERIFICATION_FAILED');
    const after = await t.state();
    expect(after).toMatchObject({ operationStatus: 'FAILED', failedAttempts: 1, deviceStatus: 'ACTIVE' });
    expect(await countRows('audit_events', "tenant_id = ?1 AND action = 'operation.failed' AND target_id = ?2", t.tenantId, t.opId)).toBe(1);
  });

  it('PSD2 RTS art. 4: an approval without a user verification method → 400 VERIFICATION_FAILED', async () => {
    const t = await arrange();
    const call = await t.finish({ uv: 'none' });
    await expectProblem(await postJose(call.url, call.envelope), 400, 'VERIFICATION_FAILED');
    expect(await t.state()).toMatchObject({ operationStatus: 'FAILED', failedAttempts: 1 });
  });

  it('number matching: a wrong number inside the envelope → 400 VERIFICATION_FAILED', async () => {
    const t = await arrange();
    const op = (await startOperation(t.api, { type: 'AUTHENTICATION', userId: t.userId, deviceId: t.a.device.deviceId, numberMatching: true })) as unknown as { id: string; numberMatch: string };
    const client = nativeClient();
    const { challenge } = await client.start(t.signerA, t.tenantId, op.id);
    const wrong = op.numberMatch === '10' ? '11' : '10';
    const call = await client.prepare({ signer: t.signerA, tenantId: t.tenantId, operationId: op.id, action: 'finish', claims: { challenge, uv: 'face', numberMatch: wrong } });
    await expectProblem(await postJose(call.url, call.envelope), 400, 'VERIFICATION_FAILED');
    expect(((await (await t.api(`/v1/operations/${op.id}`)).json()) as { status: string }).status).toBe('FAILED');
  });

  it('PSD2 RTS art. 4(3)(b): maxFailedAttempts failures lock the device; its next envelope → 409 DEVICE_LOCKED', async () => {
    const t = await arrange({ maxFailedAttempts: 2 });
    const bad = await t.finish({ uv: undefined });
    await expectProblem(await postJose(bad.url, bad.envelope), 400, 'VERIFICATION_FAILED');
    const client = nativeClient();
    const second = await startOperation(t.api, { type: 'AUTHENTICATION', userId: t.userId, deviceId: t.a.device.deviceId });
    const { challenge } = await client.start(t.signerA, t.tenantId, second.id);
    const wrong = await client.prepare({ signer: t.signerA, tenantId: t.tenantId, operationId: second.id, action: 'finish', claims: { challenge: `${challenge.slice(0, -2)}AA`, uv: 'face' } });
    await expectProblem(await postJose(wrong.url, wrong.envelope), 400, 'VERIFICATION_FAILED');

    const device = (await (await t.api(`/v1/devices/${t.a.device.deviceId}`)).json()) as { status: string; lockReason: string; failedAttempts: number };
    expect(device).toMatchObject({ status: 'LOCKED', lockReason: 'TOO_MANY_FAILED_ATTEMPTS', failedAttempts: 2 });
    await expectProblem(await t.api('/v1/operations', { method: 'POST', json: { type: 'AUTHENTICATION', userId: t.userId, deviceId: t.a.device.deviceId } }), 409, 'DEVICE_LOCKED');
    // A locked device is not authenticated at all, whatever the operation.
    const locked = await client.prepare({ signer: t.signerA, tenantId: t.tenantId, operationId: second.id, action: 'reject' });
    await expectProblem(await postJose(locked.url, locked.envelope), 409, 'DEVICE_LOCKED');
  });

  it('PSD2 RTS art. 4(3)(c): single use — after COMPLETED a fresh envelope → 409 OPERATION_FINAL', async () => {
    const t = await arrange();
    await expectStillCompletable(t);
    const again = await t.finish();
    const problem = await expectProblem(await postJose(again.url, again.envelope), 409, 'OPERATION_FINAL');
    expect(problem.operationStatus).toBe('COMPLETED');
  });

  it('PSD2 RTS art. 4(3)(d): an expired operation → 409 OPERATION_FINAL (EXPIRED)', async () => {
    const { api, tenant } = await setupTenant();
    const user = await createUser(api);
    const { device } = await registerNative(api, { userId: user.id });
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id, deviceId: device.deviceId, ttlSeconds: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const call = await nativeClient().prepare({ signer: { kind: 'device', deviceId: device.deviceId, privateKey: device.privateKey }, tenantId: tenant.id, operationId: op.id, action: 'start' });
    const problem = await expectProblem(await postJose(call.url, call.envelope), 409, 'OPERATION_FINAL');
    expect(problem.operationStatus).toBe('EXPIRED');
  });

  it('a native device deactivated while it answers: the completion is refused (DEVICE_NOT_ACTIVE) and the operation CANCELLED', async () => {
    const t = await arrange();
    const call = await t.finish();
    const jws = await signRequest({ privateKey: t.a.keyPair.privateKey, kid: t.a.device.deviceId }, call.claims);
    // The device stops being ACTIVE between the route's check and the operation's commit.
    await env.DB.prepare("UPDATE devices SET status = 'DEACTIVATED' WHERE id = ?1").bind(t.a.device.deviceId).run();
    const stub = operationStub(env, t.opId);
    const result = await stub.sdkFinish({
      caller: { kind: 'device', deviceId: t.a.device.deviceId },
      body: { native: { deviceId: t.a.device.deviceId, jws, deviceKeyJwk: await publicJwkOf(t.a.keyPair.publicKey), userVerification: 'fpt' } },
    });
    expect(result).toMatchObject({ ok: false, code: 'DEVICE_NOT_ACTIVE' });
    const op = (await (await t.api(`/v1/operations/${t.opId}`)).json()) as { status: string; failure?: { code: string } };
    expect(op).toMatchObject({ status: 'CANCELLED', failure: { code: 'DEVICE_NOT_ACTIVE' } });
    expect(await countRows('devices', "id = ?1 AND failed_attempts = 0 AND status = 'DEACTIVATED'", t.a.device.deviceId)).toBe(1);
  });
});
