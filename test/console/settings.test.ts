// The console's tenant policy fields, branding (merge-patch removal, live preview markup), user search by attribute and
// erasure with a typed confirmation (docs/console.md); every refusal shown in place with nothing written.
import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, setupTenant, workerFetch, type TenantSetup } from '../helpers/api';
import { createUser, registerPasskey } from '../helpers/ceremony';
import { bootstrapOperator, csrfOf, page, postForm, type Signed } from './kit';

const tenantRow = (id: string) => env.DB.prepare('SELECT policy, branding, updated_at FROM tenants WHERE id = ?1').bind(id).first<{ policy: string; branding: string; updated_at: string }>();

/** Every field the settings form posts, as the browser would send it with the stored values untouched. */
function settingsForm(setup: TenantSetup, csrf: string, overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const base: Record<string, string | undefined> = {
    csrf, name: setup.tenant.name, rpName: setup.tenant.name, rpId: setup.tenant.rpId, origins: setup.tenant.origins.join('\n'), allowedOrigins: '',
    operationTtlSeconds: '300', maxFailedAttempts: '5', requireScaForNewDevice: 'true', pushNotifications: 'true', numberMatching: 'PUSHED',
    maxLiveOperationsPerUser: '5', maxLiveOperationsPerDevice: '5', maxStartsPerUserPerMinute: '30', ...overrides,
  };
  return Object.fromEntries(Object.entries(base).filter((e): e is [string, string] => e[1] !== undefined));
}

describe('console: tenant settings, branding, user search and erasure', () => {
  let operator: Signed;
  let setup: TenantSetup;
  let tenantId: string;

  beforeAll(async () => {
    operator = await bootstrapOperator();
    setup = await setupTenant();
    tenantId = setup.tenant.id;
  });

  it('the settings form shows and saves every policy: push, number matching, new-device SCA and the abuse limits', async () => {
    const html = await (await page(`/console/tenants/${tenantId}`, operator.cookie)).text();
    for (const name of ['pushNotifications', 'numberMatching', 'requireScaForNewDevice', 'maxLiveOperationsPerUser', 'maxStartsPerUserPerMinute']) expect(html).toContain(`name="${name}"`);
    const csrf = await csrfOf(operator.cookie, `/console/tenants/${tenantId}`);
    // pushNotifications and requireScaForNewDevice unticked: a checkbox that is not ticked posts nothing.
    const saved = await postForm(`/console/tenants/${tenantId}`, operator.cookie, settingsForm(setup, csrf, { pushNotifications: undefined, requireScaForNewDevice: undefined, numberMatching: 'DECOUPLED', maxStartsPerUserPerMinute: '12' }));
    expect(saved.status, await saved.clone().text()).toBe(200);
    const policy = JSON.parse((await tenantRow(tenantId))!.policy) as Record<string, unknown>;
    expect(policy).toMatchObject({ pushNotifications: false, requireScaForNewDevice: false, numberMatching: 'DECOUPLED', maxStartsPerUserPerMinute: 12 });
    const shown = await (await page(`/console/tenants/${tenantId}`, operator.cookie)).text();
    expect(shown).toMatch(/<option value="DECOUPLED" selected/);
    expect(shown).not.toMatch(/name="pushNotifications" value="true" checked/);
  });

  it('a number-matching value outside the three, or a limit out of range, is refused in place with what was typed kept, and nothing is written', async () => {
    const csrf = await csrfOf(operator.cookie, `/console/tenants/${tenantId}`);
    const before = await tenantRow(tenantId);
    const wrongMatch = await postForm(`/console/tenants/${tenantId}`, operator.cookie, settingsForm(setup, csrf, { numberMatching: 'ALWAYS' }));
    expect(wrongMatch.status).toBe(400);
    const limit = await postForm(`/console/tenants/${tenantId}`, operator.cookie, settingsForm(setup, csrf, { maxLiveOperationsPerUser: '0' }));
    expect(limit.status).toBe(400);
    const html = await limit.text();
    expect(html).toContain('VALIDATION_FAILED');
    expect(html).toContain('policy.maxLiveOperationsPerUser');
    expect(html).toMatch(/name="maxLiveOperationsPerUser" type="number" value="0"/);
    expect(await tenantRow(tenantId)).toEqual(before);
  });

  it('branding is saved from the console, an emptied field is removed (JSON merge patch null), and the preview carries the values', async () => {
    const csrf = await csrfOf(operator.cookie, `/console/tenants/${tenantId}`);
    const saved = await postForm(`/console/tenants/${tenantId}/branding`, operator.cookie, { csrf, brandName: 'Bank Secure', logoUrl: 'https://cdn.bank.example/logo.png', primaryColor: '#0a5c36' });
    expect(saved.status, await saved.clone().text()).toBe(200);
    expect(JSON.parse((await tenantRow(tenantId))!.branding)).toEqual({ name: 'Bank Secure', logoUrl: 'https://cdn.bank.example/logo.png', primaryColor: '#0a5c36' });
    const html = await (await page(`/console/tenants/${tenantId}`, operator.cookie)).text();
    expect(html).toMatch(/data-brand-preview="true" data-name="Bank Secure" data-logo="https:\/\/cdn.bank.example\/logo.png" data-colour="#0a5c36"/);
    const cleared = await postForm(`/console/tenants/${tenantId}/branding`, operator.cookie, { csrf, brandName: 'Bank Secure', logoUrl: '', primaryColor: '' });
    expect(cleared.status).toBe(200);
    expect(JSON.parse((await tenantRow(tenantId))!.branding)).toEqual({ name: 'Bank Secure' });
  });

  it('a bad brand colour or a plain-http logo is refused in place, the typed values kept, and nothing is written', async () => {
    const csrf = await csrfOf(operator.cookie, `/console/tenants/${tenantId}`);
    const before = await tenantRow(tenantId);
    for (const fields of [{ primaryColor: 'green' }, { logoUrl: 'http://evil.example/logo.png' }]) {
      const refused = await postForm(`/console/tenants/${tenantId}/branding`, operator.cookie, { csrf, brandName: 'X', logoUrl: '', primaryColor: '', ...fields });
      expect(refused.status).toBe(400);
      const html = await refused.text();
      expect(html).toContain('VALIDATION_FAILED');
      expect(html).toContain(`value="${Object.values(fields)[0]}"`);
    }
    expect(await tenantRow(tenantId)).toEqual(before);
  });

  it('the operator API takes null to remove one branding field and keeps the others', async () => {
    await adminFetch(`/admin/v1/tenants/${tenantId}`, { method: 'PATCH', json: { branding: { primaryColor: '#112233', logoUrl: 'https://cdn.bank.example/l.png' } } });
    const patched = await adminFetch(`/admin/v1/tenants/${tenantId}`, { method: 'PATCH', json: { branding: { logoUrl: null } } });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as { branding: unknown }).branding).toEqual({ name: 'Bank Secure', primaryColor: '#112233' });
  });

  it('the console CSP lets the preview load an https logo and still allows no inline script or style', async () => {
    const response = await page(`/console/tenants/${tenantId}`, operator.cookie);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("img-src 'self' https: data:");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
  });

  it('the audit page filters by action family and time (a date alone runs to the end of that day), newest first; a bad value is shown in place', async () => {
    await setup.api('/v1/users', { method: 'POST', json: { externalRef: 'cust-audit' } });
    const rows = (html: string) => [...html.matchAll(/<td data-label="Action">([^<]+)<\/td>/g)].map((m) => m[1]);
    const all = rows(await (await page(`/console/tenants/${tenantId}/audit`, operator.cookie)).text());
    expect(all[0]).toBe('user.created');
    expect(all.at(-1)).toBe('tenant.created');
    const family = rows(await (await page(`/console/tenants/${tenantId}/audit?action=tenant.`, operator.cookie)).text());
    expect(family.length).toBeGreaterThan(0);
    expect(family.every((a) => a?.startsWith('tenant.'))).toBe(true);
    const today = new Date().toISOString().slice(0, 10);
    expect(rows(await (await page(`/console/tenants/${tenantId}/audit?until=${today}`, operator.cookie)).text())).toEqual(all);
    expect(rows(await (await page(`/console/tenants/${tenantId}/audit?until=2000-01-01`, operator.cookie)).text())).toEqual([]);
    const refused = await page(`/console/tenants/${tenantId}/audit?since=last+week`, operator.cookie);
    expect(refused.status).toBe(400);
    const html = await refused.text();
    expect(html).toContain('VALIDATION_FAILED');
    expect(html).toContain('value="last week"');
  });

  describe('users', () => {
    let userId: string;

    beforeAll(async () => {
      const created = await setup.api('/v1/users', { method: 'POST', json: { externalRef: 'cust-erase-1', attributes: { email: 'ada@bank.example', tier: 'gold' } } });
      expect(created.status).toBe(201);
      userId = ((await created.json()) as { id: string }).id;
      for (let i = 0; i < 3; i++) await setup.api('/v1/users', { method: 'POST', json: { externalRef: `cust-page-${i}`, attributes: { tier: 'silver' } } });
    });

    it('finds a user by an attribute value, and says plainly when none has it', async () => {
      const html = await (await page(`/console/tenants/${tenantId}/users?attributeKey=email&attributeValue=ada%40bank.example`, operator.cookie)).text();
      expect(html).toContain(userId);
      expect(html).not.toContain('cust-page-0');
      const none = await (await page(`/console/tenants/${tenantId}/users?attributeKey=email&attributeValue=nobody%40bank.example`, operator.cookie)).text();
      expect(none).toContain('No user has email = “nobody@bank.example”.');
    });

    it('a malformed attribute key is the API refusal shown in place (400), not a crash', async () => {
      const response = await page(`/console/tenants/${tenantId}/users?attributeKey=no%20spaces&attributeValue=x`, operator.cookie);
      expect(response.status).toBe(400);
      expect(await response.text()).toContain('VALIDATION_FAILED');
    });

    it('erasure asks for the externalRef typed out; a wrong text erases nothing (422), the right one erases and says so', async () => {
      const csrf = await csrfOf(operator.cookie, `/console/tenants/${tenantId}/users/${userId}`);
      const exists = async () => (await env.DB.prepare('SELECT COUNT(*) AS n FROM users WHERE id = ?1').bind(userId).first<{ n: number }>())!.n;
      const asked = await postForm(`/console/tenants/${tenantId}/users/${userId}/erase`, operator.cookie, { csrf });
      expect(asked.status).toBe(200);
      const question = await asked.text();
      expect(question).toContain('Type cust-erase-1 to confirm');
      expect(question).toContain('cannot be undone');
      // confirm=yes alone (a replayed click) is not enough: the text must be typed.
      for (const typed of [undefined, 'cust-erase', ` ${userId}`]) {
        const wrong = await postForm(`/console/tenants/${tenantId}/users/${userId}/erase`, operator.cookie, { csrf, confirm: 'yes', ...(typed === undefined ? {} : { typed }) });
        expect(wrong.status).toBe(422);
        expect(await wrong.text()).toContain('CONFIRMATION_MISMATCH');
      }
      expect(await exists()).toBe(1);
      const erased = await postForm(`/console/tenants/${tenantId}/users/${userId}/erase`, operator.cookie, { csrf, confirm: 'yes', typed: 'cust-erase-1' });
      expect(erased.status).toBe(303);
      expect(erased.headers.get('location')).toBe(`/console/tenants/${tenantId}/users?erased=${userId}`);
      expect(await exists()).toBe(0);
      const audit = await env.DB.prepare("SELECT actor FROM audit_events WHERE tenant_id = ?1 AND action = 'user.erased'").bind(tenantId).first<{ actor: string }>();
      expect(audit!.actor).toBe(`admin:${operator.adminId}`);
    });

    it("a device is locked, unlocked and deactivated from its user's page, each after a confirmation; another user's device is refused", async () => {
      const owner = await createUser(setup.api, { externalRef: 'cust-device' });
      const { deviceId, operationId } = await registerPasskey(setup.api, owner.id);
      const stranger = await createUser(setup.api, { externalRef: 'cust-stranger' });
      const status = async () => (await env.DB.prepare('SELECT status FROM devices WHERE id = ?1').bind(deviceId).first<{ status: string }>())!.status;
      const base = `/console/tenants/${tenantId}/users/${owner.id}/devices/${deviceId}`;
      const html = await (await page(`/console/tenants/${tenantId}/users/${owner.id}`, operator.cookie)).text();
      expect(html).toContain(`action="${base}/lock"`);
      // The user's operations come from their whole history, each linking to its page; the list filters to one user.
      expect(html).toContain(`href="/console/tenants/${tenantId}/operations/${operationId}"`);
      const theirs = await (await page(`/console/tenants/${tenantId}/operations?userId=${owner.id}`, operator.cookie)).text();
      expect(theirs).toContain(operationId);
      expect(await (await page(`/console/tenants/${tenantId}/operations?userId=${stranger.id}`, operator.cookie)).text()).not.toContain(operationId);
      const csrf = await csrfOf(operator.cookie, `/console/tenants/${tenantId}/users/${owner.id}`);
      const asked = await postForm(`${base}/lock`, operator.cookie, { csrf });
      expect(await asked.text()).toContain('the operations addressed to it are cancelled');
      expect(await status()).toBe('ACTIVE');
      for (const [action, after] of [['lock', 'LOCKED'], ['unlock', 'ACTIVE']] as const) {
        const done = await postForm(`${base}/${action}`, operator.cookie, { csrf, confirm: 'yes' });
        expect(done.status, await done.clone().text()).toBe(200);
        expect(await status(), `${action}: ${(await done.clone().text()).replace(/<[^>]+>/g, ' ').slice(-1500)}`).toBe(after);
      }
      // A path that merely ends in an action word is no action (the route's pattern is anchored), and the user is untouched.
      const sly = await postForm(`/console/tenants/${tenantId}/users/${owner.id}/xdeactivate`, operator.cookie, { csrf, confirm: 'yes' });
      expect(sly.status).toBe(404);
      expect((await env.DB.prepare('SELECT status FROM users WHERE id = ?1').bind(owner.id).first<{ status: string }>())!.status).toBe('ACTIVE');
      // The same device through another user's page: refused, unchanged.
      const crossed = await postForm(`/console/tenants/${tenantId}/users/${stranger.id}/devices/${deviceId}/deactivate`, operator.cookie, { csrf, confirm: 'yes' });
      expect(crossed.status).toBe(404);
      expect(await status()).toBe('ACTIVE');
      const gone = await postForm(`${base}/deactivate`, operator.cookie, { csrf, confirm: 'yes' });
      expect(gone.status).toBe(200);
      expect(await status()).toBe('DEACTIVATED');
    });

    it('erasure without the CSRF token is refused and erases nothing', async () => {
      const other = await setup.api('/v1/users', { method: 'POST', json: { externalRef: 'cust-keep' } });
      const keepId = ((await other.json()) as { id: string }).id;
      const refused = await postForm(`/console/tenants/${tenantId}/users/${keepId}/erase`, operator.cookie, { confirm: 'yes', typed: 'cust-keep' });
      expect(refused.status).toBe(403);
      expect((await env.DB.prepare('SELECT COUNT(*) AS n FROM users WHERE id = ?1').bind(keepId).first<{ n: number }>())!.n).toBe(1);
      const missing = await workerFetch(`/console/tenants/${tenantId}/users/${keepId}`, { headers: { cookie: operator.cookie } });
      expect(missing.status).toBe(200);
    });
  });
});
