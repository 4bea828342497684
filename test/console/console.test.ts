// The console's sign-in, sessions, CSRF, roles and invitations through the worker (docs/console.md); nothing written on a refusal.
import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, workerFetch } from '../helpers/api';
import { SoftAuthenticator, type CreationOptionsJSON, type RequestOptionsJSON } from '../helpers/soft-authenticator';
import { ORIGIN, RP_ID, cookieOf, counts, createTenant, csrfOf, enrol, page, postForm, postJson, signIn, type Signed } from './kit';

describe('console', () => {
  let operator: Signed;
  let operatorKey: SoftAuthenticator;

  beforeAll(async () => {
    operatorKey = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
    const finished = await enrol('bootstrap', { token: ADMIN_TOKEN, name: 'Olga Operator' }, operatorKey);
    expect(finished.status).toBe(201);
    const row = await env.DB.prepare("SELECT id FROM console_admins WHERE role = 'operator'").first<{ id: string }>();
    operator = { cookie: cookieOf(finished), adminId: row!.id };
  });

  it('bootstrap sets a __Host- session cookie: HttpOnly, Secure, SameSite=Strict, Path=/; only its hash is stored (OWASP ASVS 3.4)', async () => {
    expect(operator.cookie).toMatch(/^__Host-custos_console=cses_/);
    const secret = operator.cookie.split('=')[1]!;
    const stored = await env.DB.prepare('SELECT id_hash FROM console_sessions').all<{ id_hash: string }>();
    expect(stored.results.map((r) => r.id_hash)).not.toContain(secret);
    const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(secret)))].map((b) => b.toString(16).padStart(2, '0')).join('');
    expect(stored.results.map((r) => r.id_hash)).toContain(digest);
  });

  it('the cookie attributes are exactly the strict ones', async () => {
    const response = await signIn(operatorKey);
    expect(response.status).toBe(200);
    const header = response.headers.get('set-cookie') ?? '';
    expect(header).toMatch(/HttpOnly/);
    expect(header).toMatch(/Secure/);
    expect(header).toMatch(/SameSite=Strict/);
    expect(header).toMatch(/Path=\//);
    expect(header).not.toMatch(/Domain=/i);
    expect(header).toMatch(/Max-Age=1800/);
  });

  it('the operator token enrols only the first operator: a second bootstrap is CONSOLE_ALREADY_SET_UP and writes nothing', async () => {
    const before = await counts();
    const response = await postJson('/console/api/bootstrap/options', { token: ADMIN_TOKEN, name: 'Mallory' });
    expect(response.status).toBe(409);
    expect(((await response.json()) as { code: string }).code).toBe('CONSOLE_ALREADY_SET_UP');
    expect(await counts()).toEqual(before);
  });

  it('a wrong operator token is UNAUTHENTICATED and writes nothing', async () => {
    const before = await counts();
    const response = await postJson('/console/api/bootstrap/options', { token: 'wrong-token-0123456789', name: 'Mallory' });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
    expect(await counts()).toEqual(before);
  });

  it('a ceremony from another origin is CSRF_REFUSED (login CSRF)', async () => {
    const response = await postJson('/console/api/sign-in/options', {}, { origin: 'https://evil.example' });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { code: string }).code).toBe('CSRF_REFUSED');
  });

  it('a challenge is single-use: replaying a sign-in answer is VERIFICATION_FAILED (WebAuthn §13.4.3)', async () => {
    const { options } = (await (await postJson('/console/api/sign-in/options', {})).json()) as { options: RequestOptionsJSON };
    const answer = await operatorKey.assert(options);
    expect((await postJson('/console/api/sign-in/finish', { response: answer })).status).toBe(200);
    const replay = await postJson('/console/api/sign-in/finish', { response: answer });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { code: string }).code).toBe('VERIFICATION_FAILED');
  });

  it('a signed-in operator sees the tenants page; without a session the browser is sent to sign in', async () => {
    const signedIn = await page('/console/tenants', operator.cookie);
    expect(signedIn.status).toBe(200);
    expect(signedIn.headers.get('content-security-policy')).not.toMatch(/unsafe-inline/);
    expect(signedIn.headers.get('cache-control')).toBe('no-store');
    const anonymous = await page('/console/tenants', '');
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('/console/sign-in');
  });

  it('OWASP CSRF: a form post without the token, with a wrong one, or from another origin is CSRF_REFUSED and writes nothing', async () => {
    const csrf = await csrfOf(operator.cookie, '/console/tenants');
    const fields = { name: 'Forged', rpId: 'forged.example', origins: 'https://forged.example' };
    const before = await counts();
    const refused = [
      [{}, {}], [{ csrf: 'x'.repeat(48) }, {}], [{ csrf }, { origin: 'https://evil.example' }],
      // Origin: null (what a browser sends under Referrer-Policy: no-referrer) is only taken with Fetch Metadata saying same-origin.
      [{ csrf }, { origin: 'null', 'sec-fetch-site': 'cross-site' }], [{ csrf }, { origin: 'null' }],
    ] as const;
    for (const [extra, headers] of refused) {
      const response = await postForm('/console/tenants', operator.cookie, { ...fields, ...extra }, headers);
      expect(response.status).toBe(403);
      expect(((await response.json()) as { code: string }).code).toBe('CSRF_REFUSED');
    }
    expect(await counts()).toEqual(before);
  });

  it('a same-origin form post with Origin: null (no-referrer) and the token is accepted', async () => {
    const csrf = await csrfOf(operator.cookie, '/console/tenants');
    const response = await postForm('/console/tenants', operator.cookie, { csrf, name: 'Null Origin Bank', rpId: 'null-origin.example', origins: 'https://null-origin.example' }, { origin: 'null', 'sec-fetch-site': 'same-origin' });
    expect(response.status).toBeLessThan(400);
  });

  it('creating a tenant goes through the operator API and is audited with the administrator as actor', async () => {
    const tenantId = await createTenant(operator.cookie, 'Audited Bank');
    const audit = await env.DB.prepare('SELECT actor, action FROM audit_events WHERE tenant_id = ?1').bind(tenantId).all<{ actor: string; action: string }>();
    expect(audit.results).toEqual([{ actor: `admin:${operator.adminId}`, action: 'tenant.created' }]);
  });

  it('bad input is the API problem shown in place (VALIDATION_FAILED, 400) and writes nothing', async () => {
    const csrf = await csrfOf(operator.cookie, '/console/tenants');
    const before = await counts();
    const response = await postForm('/console/tenants', operator.cookie, { csrf, name: 'No origins', rpId: 'x.example', origins: '' }, { accept: 'text/html' });
    expect(response.status).toBe(400);
    const html = await response.text();
    expect(html).toMatch(/data-code="VALIDATION_FAILED"/);
    expect(html).toMatch(/trace id <code>[0-9a-f-]{36}<\/code>/);
    expect(await counts()).toEqual(before);
  });

  it('an API client is created with its secret shown once, and revoked only after a confirmation', async () => {
    const tenantId = await createTenant(operator.cookie, 'Client Bank');
    const csrf = await csrfOf(operator.cookie, `/console/tenants/${tenantId}`);
    const created = await postForm(`/console/tenants/${tenantId}/clients`, operator.cookie, { csrf, name: 'Backend', scopes: ['users', 'audit'] });
    expect(created.status).toBe(200);
    const html = await created.text();
    expect(html).toMatch(/cs_[A-Za-z0-9_-]{43}/);
    const clientId = /cli_[0-9a-z]{36}/.exec(html)![0];
    expect((await (await page(`/console/tenants/${tenantId}`, operator.cookie)).text())).not.toMatch(/cs_[A-Za-z0-9_-]{43}/);
    const asked = await postForm(`/console/tenants/${tenantId}/clients/${clientId}/revoke`, operator.cookie, { csrf });
    expect(await asked.text()).toMatch(/Please confirm/);
    const row = () => env.DB.prepare('SELECT revoked_at FROM api_clients WHERE id = ?1').bind(clientId).first<{ revoked_at: string | null }>();
    expect((await row())!.revoked_at).toBeNull();
    await postForm(`/console/tenants/${tenantId}/clients/${clientId}/revoke`, operator.cookie, { csrf, confirm: 'yes' });
    expect((await row())!.revoked_at).not.toBeNull();
    const audit = await env.DB.prepare("SELECT actor FROM audit_events WHERE tenant_id = ?1 AND action = 'client.revoked'").bind(tenantId).first<{ actor: string }>();
    expect(audit!.actor).toBe(`admin:${operator.adminId}`);
  });

  describe('a tenant administrator', () => {
    let tenantA: string;
    let tenantB: string;
    let admin: Signed;
    let inviteToken: string;

    beforeAll(async () => {
      tenantA = await createTenant(operator.cookie, 'Tenant A');
      tenantB = await createTenant(operator.cookie, 'Tenant B');
      const csrf = await csrfOf(operator.cookie);
      const invited = await postForm('/console/invites', operator.cookie, { csrf, role: 'tenant', tenantId: tenantA });
      inviteToken = /\/console\/invite#(inv_[A-Za-z0-9_-]{43})/.exec(await invited.text())![1]!;
      const key = await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN });
      const finished = await enrol('invite', { invite: inviteToken, name: 'Tina Tenant' }, key);
      expect(finished.status).toBe(201);
      const row = await env.DB.prepare("SELECT id FROM console_admins WHERE role = 'tenant' AND tenant_id = ?1").bind(tenantA).first<{ id: string }>();
      admin = { cookie: cookieOf(finished), adminId: row!.id };
    });

    it('the invitation is stored only as a hash and works once: a second use is INVITE_NOT_VALID and writes nothing', async () => {
      const stored = await env.DB.prepare('SELECT token_hash, used_at FROM console_invites').all<{ token_hash: string; used_at: string | null }>();
      expect(stored.results.map((r) => r.token_hash)).not.toContain(inviteToken);
      const before = await counts();
      const again = await postJson('/console/api/invite/options', { invite: inviteToken, name: 'Second' });
      expect(again.status).toBe(410);
      expect(((await again.json()) as { code: string }).code).toBe('INVITE_NOT_VALID');
      expect(await counts()).toEqual(before);
    });

    it('an invitation whose options were taken before it was used cannot enrol twice (inviteUnused precondition)', async () => {
      const csrf = await csrfOf(operator.cookie);
      const invited = await postForm('/console/invites', operator.cookie, { csrf, role: 'tenant', tenantId: tenantA });
      const token = /\/console\/invite#(inv_[A-Za-z0-9_-]{43})/.exec(await invited.text())![1]!;
      const [one, two] = await Promise.all([1, 2].map(async () => {
        const options = (await (await postJson('/console/api/invite/options', { invite: token, name: 'Racer' })).json()) as { options: CreationOptionsJSON };
        return { options: options.options, key: await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN }) };
      }));
      const before = await counts();
      const first = await postJson('/console/api/invite/finish', { response: await one!.key.register(one!.options) });
      expect(first.status).toBe(201);
      const afterFirst = await counts();
      const second = await postJson('/console/api/invite/finish', { response: await two!.key.register(two!.options) });
      expect(second.status).toBe(410);
      expect(((await second.json()) as { code: string }).code).toBe('INVITE_NOT_VALID');
      expect(afterFirst['admins']).toBe((before['admins'] ?? 0) + 1);
      expect(await counts()).toEqual(afterFirst);
    });

    it('sees their own tenant', async () => {
      expect((await page(`/console/tenants/${tenantA}`, admin.cookie)).status).toBe(200);
      expect((await page(`/console/tenants/${tenantA}/users`, admin.cookie)).status).toBe(200);
    });

    it('OWASP ASVS 4.2.1: another tenant, the tenant list and tenant creation are CONSOLE_FORBIDDEN and write nothing', async () => {
      for (const path of [`/console/tenants/${tenantB}`, `/console/tenants/${tenantB}/users`, `/console/tenants/${tenantB}/audit`, '/console/tenants']) {
        const response = await workerFetch(path, { headers: { cookie: admin.cookie } });
        expect(response.status, path).toBe(403);
        expect(((await response.json()) as { code: string }).code).toBe('CONSOLE_FORBIDDEN');
      }
      const csrf = await csrfOf(admin.cookie);
      const before = await counts();
      const client = await postForm(`/console/tenants/${tenantB}/clients`, admin.cookie, { csrf, name: 'Sneaky', scopes: ['users'] });
      expect(client.status).toBe(403);
      const tenant = await postForm('/console/tenants', admin.cookie, { csrf, name: 'Mine', rpId: 'mine.example', origins: 'https://mine.example' });
      expect(tenant.status).toBe(403);
      expect(await counts()).toEqual(before);
    });

    it('locks a user of their tenant after a confirmation, audited as admin:<id>', async () => {
      const userId = 'usr_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h00';
      const at = new Date().toISOString();
      await env.DB.prepare("INSERT INTO users (id, tenant_id, external_ref, status, created_at, updated_at) VALUES (?1, ?2, 'customer-7', 'ACTIVE', ?3, ?3)").bind(userId, tenantA, at).run();
      const found = await (await page(`/console/tenants/${tenantA}/users?externalRef=customer-7`, admin.cookie)).text();
      expect(found).toContain(userId);
      const csrf = await csrfOf(admin.cookie, `/console/tenants/${tenantA}/users/${userId}`);
      const asked = await postForm(`/console/tenants/${tenantA}/users/${userId}/lock`, admin.cookie, { csrf });
      expect(await asked.text()).toMatch(/live operations are cancelled/);
      const status = () => env.DB.prepare('SELECT status FROM users WHERE id = ?1').bind(userId).first<{ status: string }>();
      expect((await status())!.status).toBe('ACTIVE');
      const locked = await postForm(`/console/tenants/${tenantA}/users/${userId}/lock`, admin.cookie, { csrf, confirm: 'yes' });
      expect(locked.status, await locked.clone().text()).toBe(200);
      expect((await status())!.status).toBe('LOCKED');
      const audit = await env.DB.prepare("SELECT actor FROM audit_events WHERE tenant_id = ?1 AND action = 'user.locked'").bind(tenantA).first<{ actor: string }>();
      expect(audit!.actor).toBe(`admin:${admin.adminId}`);
      // Tenant B's users are not reachable through tenant A's administrator, even by id.
      const other = await workerFetch(`/console/tenants/${tenantB}/users/${userId}`, { headers: { cookie: admin.cookie } });
      expect(other.status).toBe(403);
    });

    it('the audit page shows the chain verification', async () => {
      const html = await (await page(`/console/tenants/${tenantA}/audit`, admin.cookie)).text();
      expect(html).toMatch(/data-valid="true"/);
      expect(html).toContain(`admin:${admin.adminId}`);
    });
  });

  it('an expired session signs nobody in (short-lived sessions, OWASP ASVS 3.3.1)', async () => {
    const response = await signIn(operatorKey);
    const cookie = cookieOf(response);
    const hash = [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(cookie.split('=')[1]!)))].map((b) => b.toString(16).padStart(2, '0')).join('');
    await env.DB.prepare('UPDATE console_sessions SET expires_at = 0 WHERE id_hash = ?1').bind(hash).run();
    expect((await page('/console/tenants', cookie)).status).toBe(303);
  });

  it('signing out deletes the session: the cookie no longer works', async () => {
    const response = await signIn(operatorKey);
    const cookie = cookieOf(response);
    const csrf = await csrfOf(cookie);
    const out = await postForm('/console/sign-out', cookie, { csrf });
    expect(out.status).toBe(303);
    expect((await page('/console/tenants', cookie)).status).toBe(303);
  });
});
