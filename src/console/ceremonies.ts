// The console's passkey ceremonies (JSON, called by the console script): enrol the first operator, sign in, accept an invitation.
import type { Context } from 'hono';
import { z } from 'zod';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';
import { newId } from '../domain/ids';
import { hashSecret, secretsEqual } from '../domain/secrets';
import { fromB64url, randomBytes, toB64url } from '../domain/encoding';
import { authenticationOptions, registrationOptions, verifyAssertion, verifyRegistration } from '../domain/webauthn';
import { countFailure, sourceKey, throttleVerdict } from '../services/auth-throttle';
import { commitWithAudit } from '../storage/audit';
import { failedPrecondition } from '../storage/precondition';
import type { ConsoleAdmin, ConsoleRole } from '../storage/console';
import {
  consumeChallenge, credentialWithAdmin, getInvite, insertAdminStatements, insertSessionStatement, inviteUnusedStatement,
  markInviteUsedStatement, noOperatorYetStatement, operatorExists, saveChallenge, touchCredentialStatement,
} from '../storage/console';
import { adminActor } from '../middleware/console-principal';
import { consoleRelyingParty, newSessionSecret, requireSameOrigin, setSessionCookie, SESSION_TTL_MS } from './session';

const CEREMONY_TTL_MS = 5 * 60 * 1000;
const RP_NAME = 'Custos console';
/** The audit chain of deployment-wide console events (operators have no tenant); tenant administrators' go to their tenant's. */
export const CONSOLE_AUDIT_CHAIN = 'console';

export const auditChainOf = (admin: Pick<ConsoleAdmin, 'role' | 'tenantId'>): string => (admin.role === 'tenant' && admin.tenantId ? admin.tenantId : CONSOLE_AUDIT_CHAIN);

const Name = z.string().trim().min(1).max(100);
const BootstrapStart = z.object({ token: z.string().min(1).max(512), name: Name }).strict();
const InviteStart = z.object({ invite: z.string().regex(/^inv_[A-Za-z0-9_-]{43}$/), name: Name }).strict();
const Finish = z.object({ response: z.record(z.string(), z.unknown()) }).strict();

async function jsonOf<T>(c: Context<AppEnv>, schema: z.ZodType<T>): Promise<T> {
  // Login CSRF: a ceremony starts and ends only from a console page of this origin.
  requireSameOrigin(c);
  if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json.');
  if (Number(c.req.header('content-length') ?? '0') > 64 * 1024) throw new ApiError('PAYLOAD_TOO_LARGE');
  const body: unknown = await c.req.json().catch(() => {
    throw new ApiError('MALFORMED_JSON');
  });
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new ApiError('VALIDATION_FAILED', 'One or more fields are not valid.', {
      invalidParams: parsed.error.issues.map((i) => ({ name: i.path.map(String).join('.') || '(body)', reason: i.message })),
    });
  }
  return parsed.data;
}

async function newChallenge(): Promise<{ challenge: Uint8Array; hash: string }> {
  const challenge = randomBytes(32);
  return { challenge, hash: await hashSecret(toB64url(challenge)) };
}

/** The challenge the browser signed, read from clientDataJSON; the verification below checks it matches. */
function challengeOf(response: Record<string, unknown>): string | null {
  try {
    const inner = response['response'] as { clientDataJSON?: string } | undefined;
    const data = JSON.parse(new TextDecoder().decode(fromB64url(String(inner?.clientDataJSON ?? '')))) as { challenge?: unknown };
    return typeof data.challenge === 'string' ? data.challenge : null;
  } catch {
    return null;
  }
}

async function takeChallenge(c: Context<AppEnv>, response: Record<string, unknown>, purpose: 'sign-in' | 'bootstrap' | 'invite'): Promise<{ challenge: string; data: Record<string, unknown> }> {
  const challenge = challengeOf(response);
  const data = challenge ? await consumeChallenge(c.env.DB, await hashSecret(challenge), purpose, Date.now()) : null;
  if (!challenge || !data) throw new ApiError('VERIFICATION_FAILED', 'This passkey request expired or was already used: start again.');
  return { challenge, data };
}

async function enrolmentOptions(c: Context<AppEnv>, purpose: 'bootstrap' | 'invite', data: { adminId: string; name: string; inviteHash?: string }) {
  const rp = consoleRelyingParty(c);
  const { challenge, hash } = await newChallenge();
  await saveChallenge(c.env.DB, hash, purpose, data, Date.now() + CEREMONY_TTL_MS);
  return registrationOptions({ rp: { rpId: rp.rpId, rpName: RP_NAME, origins: [rp.origin] }, userId: data.adminId, userName: data.name, challenge, exclude: [], timeoutMs: CEREMONY_TTL_MS });
}

async function startSession(c: Context<AppEnv>, admin: ConsoleAdmin, at: string): Promise<{ statement: D1PreparedStatement; secret: string }> {
  const { secret, idHash } = await newSessionSecret();
  return { statement: insertSessionStatement(c.env.DB, idHash, admin.id, at, Date.parse(at) + SESSION_TTL_MS), secret };
}

/** Registers the new administrator's passkey and signs them in, in one batch behind its guard (bootstrap once, invite once). */
async function enrol(c: Context<AppEnv>, purpose: 'bootstrap' | 'invite'): Promise<Response> {
  const { response } = await jsonOf(c, Finish);
  const { challenge, data } = await takeChallenge(c, response, purpose);
  const inviteHash = typeof data['inviteHash'] === 'string' ? data['inviteHash'] : '';
  let role: ConsoleRole = 'operator';
  let tenantId: string | null = null;
  let enrolledBy = 'admin';
  if (purpose === 'invite') {
    const invite = await getInvite(c.env.DB, inviteHash);
    if (!invite || invite.usedAt !== null || invite.expiresAt <= Date.now()) throw new ApiError('INVITE_NOT_VALID', 'This invitation was used already or has expired.');
    ({ role, tenantId } = invite);
    enrolledBy = adminActor(invite.invitedBy);
  }
  const rp = consoleRelyingParty(c);
  const verified = await verifyRegistration({ response: response as unknown as RegistrationResponseJSON, challenge, rp: { rpId: rp.rpId, rpName: RP_NAME, origins: [rp.origin] }, deviceBoundOnly: false });
  if (!verified.ok) throw new ApiError('VERIFICATION_FAILED', 'The passkey could not be registered: try again.');
  const at = new Date().toISOString();
  const admin: ConsoleAdmin = { id: String(data['adminId']), name: String(data['name']), role, tenantId, createdAt: at };
  const session = await startSession(c, admin, at);
  const guard = purpose === 'bootstrap'
    ? [noOperatorYetStatement(c.env.DB)]
    : [inviteUnusedStatement(c.env.DB, inviteHash, Date.parse(at)), markInviteUsedStatement(c.env.DB, inviteHash, admin.id, at)];
  const credential = {
    credentialId: verified.value.credentialId, adminId: admin.id, publicKey: verified.value.publicKey, counter: verified.value.counter,
    backupEligible: verified.value.backupEligible, transports: verified.value.transports,
  };
  try {
    await commitWithAudit(c.env.DB, auditChainOf(admin), [...guard, ...insertAdminStatements(c.env.DB, admin, credential), session.statement], [
      { actor: enrolledBy, action: 'console.admin_enrolled', targetType: 'console_admin', targetId: admin.id, data: { role, via: purpose } },
      { actor: adminActor(admin.id), action: 'console.signed_in', targetType: 'console_admin', targetId: admin.id },
    ], at);
  } catch (error) {
    const failed = failedPrecondition(error);
    if (failed === 'noOperatorYet') throw new ApiError('CONSOLE_ALREADY_SET_UP', 'An operator is enrolled already: ask them for an invitation.');
    if (failed === 'inviteUnused') throw new ApiError('INVITE_NOT_VALID', 'This invitation was used already or has expired.');
    throw error;
  }
  setSessionCookie(c, session.secret);
  return c.json({ redirect: '/console' }, 201);
}

/** POST /console/api/bootstrap/options: the operator token, once, while no operator exists. */
export async function bootstrapOptions(c: Context<AppEnv>): Promise<Response> {
  const input = await jsonOf(c, BootstrapStart);
  const source = sourceKey(c);
  // OWASP ASVS 2.2.1: the same per-address throttle as the operator API guards the operator token here.
  if (source) {
    const verdict = await throttleVerdict(c.env, 'adminAddress', source);
    if (verdict.throttled) throw new ApiError('AUTHENTICATION_THROTTLED', `Too many wrong operator tokens; retry in ${verdict.retryAfterSeconds} s.`, { retryAfterSeconds: verdict.retryAfterSeconds });
  }
  const expected = c.env.ADMIN_TOKEN;
  if (!expected || expected.length < 16 || !(await secretsEqual(input.token, expected))) {
    if (source) await countFailure(c.env, 'adminAddress', source);
    throw new ApiError('UNAUTHENTICATED', 'That is not the operator token of this deployment.');
  }
  if (await operatorExists(c.env.DB)) throw new ApiError('CONSOLE_ALREADY_SET_UP', 'An operator is enrolled already: ask them for an invitation.');
  return c.json({ options: await enrolmentOptions(c, 'bootstrap', { adminId: newId('adm'), name: input.name }) }, 200);
}

export const bootstrapFinish = (c: Context<AppEnv>): Promise<Response> => enrol(c, 'bootstrap');

/** POST /console/api/invite/options: the token of the link, while the invitation is unused and live. */
export async function inviteOptions(c: Context<AppEnv>): Promise<Response> {
  const input = await jsonOf(c, InviteStart);
  const inviteHash = await hashSecret(input.invite);
  const invite = await getInvite(c.env.DB, inviteHash);
  if (!invite || invite.usedAt !== null || invite.expiresAt <= Date.now()) throw new ApiError('INVITE_NOT_VALID', 'This invitation was used already, has expired or does not exist.');
  return c.json({ options: await enrolmentOptions(c, 'invite', { adminId: newId('adm'), name: input.name, inviteHash }) }, 200);
}

export const inviteFinish = (c: Context<AppEnv>): Promise<Response> => enrol(c, 'invite');

export async function signInOptions(c: Context<AppEnv>): Promise<Response> {
  requireSameOrigin(c);
  const rp = consoleRelyingParty(c);
  const { challenge, hash } = await newChallenge();
  await saveChallenge(c.env.DB, hash, 'sign-in', {}, Date.now() + CEREMONY_TTL_MS);
  // No allowCredentials: the browser offers the console passkeys it holds for this rpId (discoverable credentials).
  return c.json({ options: await authenticationOptions({ rpId: rp.rpId, challenge, allow: [], timeoutMs: CEREMONY_TTL_MS }) }, 200);
}

export async function signInFinish(c: Context<AppEnv>): Promise<Response> {
  const { response } = await jsonOf(c, Finish);
  const { challenge } = await takeChallenge(c, response, 'sign-in');
  const found = await credentialWithAdmin(c.env.DB, String(response['id'] ?? ''));
  if (!found) throw new ApiError('VERIFICATION_FAILED', 'This passkey is not one of the console’s.');
  const rp = consoleRelyingParty(c);
  const verified = await verifyAssertion({
    response: response as unknown as AuthenticationResponseJSON, challenge, rp: { rpId: rp.rpId, rpName: RP_NAME, origins: [rp.origin] }, userId: found.admin.id,
    allowed: [{ ...found.credential, deviceId: found.admin.id, rpId: rp.rpId }],
  });
  if (!verified.ok) throw new ApiError('VERIFICATION_FAILED', 'The passkey did not verify: try again.');
  const at = new Date().toISOString();
  const session = await startSession(c, found.admin, at);
  await commitWithAudit(c.env.DB, auditChainOf(found.admin), [touchCredentialStatement(c.env.DB, found.credential.credentialId, verified.value.newCounter, at), session.statement], [
    { actor: adminActor(found.admin.id), action: 'console.signed_in', targetType: 'console_admin', targetId: found.admin.id },
  ], at);
  setSessionCookie(c, session.secret);
  return c.json({ redirect: '/console' }, 200);
}
