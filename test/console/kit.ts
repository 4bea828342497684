// Shared by the console's workers tests: sign in with a software passkey, read a page's CSRF token, post a form.
import { env } from 'cloudflare:test';
import { expect } from 'vitest';
import { ADMIN_TOKEN, BASE_URL, workerFetch } from '../helpers/api';
import { SoftAuthenticator, type CreationOptionsJSON, type RequestOptionsJSON } from '../helpers/soft-authenticator';

export const ORIGIN = BASE_URL;
export const RP_ID = new URL(BASE_URL).hostname;

export interface Signed { cookie: string; adminId: string }

export async function counts(): Promise<Record<string, number>> {
  const row = await env.DB.prepare(
    `SELECT (SELECT COUNT(*) FROM console_admins) AS admins, (SELECT COUNT(*) FROM console_sessions) AS sessions,
            (SELECT COUNT(*) FROM console_invites) AS invites, (SELECT COUNT(*) FROM tenants) AS tenants,
            (SELECT COUNT(*) FROM api_clients) AS clients, (SELECT COUNT(*) FROM audit_events) AS audit`,
  ).first<Record<string, number>>();
  return row!;
}

export function postJson(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return workerFetch(path, { method: 'POST', headers: { 'content-type': 'application/json', origin: ORIGIN, ...headers }, body: JSON.stringify(body) });
}

export function postForm(path: string, cookie: string, fields: Record<string, string | string[]>, headers: Record<string, string> = {}): Promise<Response> {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
  return workerFetch(path, { method: 'POST', redirect: 'manual', headers: { cookie, origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: form.toString() });
}

export function page(path: string, cookie: string): Promise<Response> {
  return workerFetch(path, { redirect: 'manual', headers: { cookie, accept: 'text/html' } });
}

export function cookieOf(response: Response): string {
  const set = response.headers.get('set-cookie') ?? '';
  return set.split(';')[0] ?? '';
}

export async function csrfOf(cookie: string, path = '/console/invites'): Promise<string> {
  const html = await (await page(path, cookie)).text();
  const match = /name="csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error(`no CSRF token on ${path}`);
  return match[1]!;
}

export async function enrol(kind: 'bootstrap' | 'invite', start: Record<string, string>, authenticator: SoftAuthenticator): Promise<Response> {
  const options = await postJson(`/console/api/${kind}/options`, start);
  expect(options.status).toBe(200);
  const { options: creation } = (await options.json()) as { options: CreationOptionsJSON };
  const response = await authenticator.register(creation);
  return postJson(`/console/api/${kind}/finish`, { response });
}

export async function signIn(authenticator: SoftAuthenticator): Promise<Response> {
  const { options } = (await (await postJson('/console/api/sign-in/options', {})).json()) as { options: RequestOptionsJSON };
  return postJson('/console/api/sign-in/finish', { response: await authenticator.assert(options) });
}

export async function createTenant(cookie: string, name: string): Promise<string> {
  const csrf = await csrfOf(cookie, '/console/tenants');
  const created = await postForm('/console/tenants', cookie, { csrf, name, rpId: 'bank.example', origins: 'https://bank.example' });
  expect(created.status).toBe(303);
  return /\/console\/tenants\/(ten_[0-9a-z]+)/.exec(created.headers.get('location') ?? '')![1]!;
}

/** The first operator of a fresh test database, bootstrapped with the operator token and a software passkey. */
export async function bootstrapOperator(name = 'Olga Operator'): Promise<Signed & { key: SoftAuthenticator }> {
  const key = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
  const finished = await enrol('bootstrap', { token: ADMIN_TOKEN, name }, key);
  expect(finished.status).toBe(201);
  const row = await env.DB.prepare("SELECT id FROM console_admins WHERE role = 'operator' ORDER BY created_at DESC LIMIT 1").first<{ id: string }>();
  return { cookie: cookieOf(finished), adminId: row!.id, key };
}

/** An administrator invited by `inviter` and enrolled with a fresh software passkey (a tenant's, or an operator). */
export async function inviteAdmin(inviter: string, name: string, invite: { role: 'tenant'; tenantId: string } | { role: 'operator' }): Promise<Signed & { key: SoftAuthenticator }> {
  const csrf = await csrfOf(inviter);
  const invited = await postForm('/console/invites', inviter, { csrf, ...invite });
  const token = /\/console\/invite#(inv_[A-Za-z0-9_-]{43})/.exec(await invited.text())![1]!;
  const key = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
  const finished = await enrol('invite', { invite: token, name }, key);
  expect(finished.status).toBe(201);
  const row = await env.DB.prepare('SELECT id FROM console_admins WHERE name = ?1 ORDER BY created_at DESC LIMIT 1').bind(name).first<{ id: string }>();
  return { cookie: cookieOf(finished), adminId: row!.id, key };
}
