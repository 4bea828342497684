// The console's administrators page: who can sign in, and removal (signed out at once, passkeys and open invitations
// gone, audited); never oneself, never the last operator, a tenant administrator only within their tenant.
import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTenant } from '../helpers/api';
import { bootstrapOperator, counts, csrfOf, page, postForm, postJson, signIn, inviteAdmin, type Signed } from './kit';
import type { SoftAuthenticator } from '../helpers/soft-authenticator';

type Admin = Signed & { key: SoftAuthenticator };

const problemCode = async (response: Response): Promise<string | undefined> => ((await response.clone().json().catch(() => ({}))) as { code?: string }).code ?? /data-code="([A-Z_]+)"/.exec(await response.text())?.[1];

describe('console administrators', () => {
  let olga: Admin;
  let tenantA: string;
  let tenantB: string;

  beforeAll(async () => {
    olga = await bootstrapOperator('Olga Operator');
    tenantA = (await createTenant({ name: 'A' })).id;
    tenantB = (await createTenant({ name: 'B' })).id;
  });

  it('an operator sees every administrator with their passkeys and last sign-in; a tenant administrator only their tenant\'s', async () => {
    const tess = await inviteAdmin(olga.cookie, 'Tess A', { role: 'tenant', tenantId: tenantA });
    await inviteAdmin(olga.cookie, 'Ben B', { role: 'tenant', tenantId: tenantB });
    const all = await (await page('/console/admins', olga.cookie)).text();
    for (const name of ['Olga Operator', 'Tess A', 'Ben B']) expect(all).toContain(name);
    expect(all).toContain('aria-label="Remove Tess A"');
    expect(all).not.toContain('aria-label="Remove Olga Operator"');
    const theirs = await (await page('/console/admins', tess.cookie)).text();
    expect(theirs).toContain('Tess A');
    expect(theirs).not.toContain('Ben B');
    expect(theirs).not.toContain('Olga Operator');
  });

  it('removal asks first, then signs the administrator out, deletes their passkey and their unused invitation, and is audited', async () => {
    const rita = await inviteAdmin(olga.cookie, 'Rita A', { role: 'tenant', tenantId: tenantA });
    // Rita invites someone, who has not accepted yet.
    const ritaCsrf = await csrfOf(rita.cookie);
    expect((await postForm('/console/invites', rita.cookie, { csrf: ritaCsrf })).status).toBe(200);
    const open = async () => (await env.DB.prepare('SELECT COUNT(*) AS n FROM console_invites WHERE invited_by = ?1 AND used_at IS NULL').bind(rita.adminId).first<{ n: number }>())!.n;
    expect(await open()).toBe(1);
    const csrf = await csrfOf(olga.cookie, '/console/admins');
    const asked = await postForm(`/console/admins/${rita.adminId}/remove`, olga.cookie, { csrf });
    expect(await asked.text()).toContain('is signed out now, their passkeys are deleted');
    expect((await page('/console/invites', rita.cookie)).status).toBe(200);
    const removed = await postForm(`/console/admins/${rita.adminId}/remove`, olga.cookie, { csrf, confirm: 'yes' });
    expect(removed.status, await removed.clone().text()).toBe(200);
    expect(await removed.text()).toContain('Rita A is removed');
    // Her session ends at once, her passkey signs nobody in, her invitation is void.
    expect((await page('/console/invites', rita.cookie)).status).toBe(303);
    const again = await signIn(rita.key);
    expect(again.status).not.toBe(200);
    expect(await open()).toBe(0);
    const audit = await env.DB.prepare("SELECT actor, target_id FROM audit_events WHERE tenant_id = ?1 AND action = 'console.admin_removed'").bind(tenantA).first<{ actor: string; target_id: string }>();
    expect(audit).toEqual({ actor: `admin:${olga.adminId}`, target_id: rita.adminId });
    // Removing her twice: she is gone.
    const twice = await postForm(`/console/admins/${rita.adminId}/remove`, olga.cookie, { csrf, confirm: 'yes' });
    expect(twice.status).toBe(404);
  });

  it('nobody removes themselves, and two operators removing each other at once leave exactly one', async () => {
    const csrf = await csrfOf(olga.cookie, '/console/admins');
    const before = await counts();
    const self = await postForm(`/console/admins/${olga.adminId}/remove`, olga.cookie, { csrf, confirm: 'yes' });
    expect(self.status).toBe(409);
    expect(await problemCode(self)).toBe('CONSOLE_SELF_REMOVAL');
    expect(await counts()).toEqual(before);

    const otto = await inviteAdmin(olga.cookie, 'Otto Operator', { role: 'operator' });
    const ottoCsrf = await csrfOf(otto.cookie, '/console/admins');
    const [byOlga, byOtto] = await Promise.all([
      postForm(`/console/admins/${otto.adminId}/remove`, olga.cookie, { csrf, confirm: 'yes' }),
      postForm(`/console/admins/${olga.adminId}/remove`, otto.cookie, { csrf: ottoCsrf, confirm: 'yes' }),
    ]);
    const statuses = [byOlga.status, byOtto.status].sort();
    expect(statuses[0]).toBe(200);
    // The loser either found the console down to one operator (the precondition) or was signed out already.
    expect([401, 403, 404, 409]).toContain(statuses[1]);
    const operators = await env.DB.prepare("SELECT COUNT(*) AS n FROM console_admins WHERE role = 'operator' AND removed_at IS NULL").first<{ n: number }>();
    expect(operators!.n).toBe(1);
    if (byOtto.status === 200) olga = otto;
  });

  it("a tenant administrator removes a co-administrator of their tenant, but never an operator or another tenant's administrator; nothing is written", async () => {
    const tara = await inviteAdmin(olga.cookie, 'Tara A', { role: 'tenant', tenantId: tenantA });
    const tom = await inviteAdmin(olga.cookie, 'Tom A', { role: 'tenant', tenantId: tenantA });
    const bea = await inviteAdmin(olga.cookie, 'Bea B', { role: 'tenant', tenantId: tenantB });
    const csrf = await csrfOf(tara.cookie, '/console/admins');
    const before = await counts();
    const operator = await postForm(`/console/admins/${olga.adminId}/remove`, tara.cookie, { csrf, confirm: 'yes' });
    expect(operator.status).toBe(404);
    const other = await postForm(`/console/admins/${bea.adminId}/remove`, tara.cookie, { csrf, confirm: 'yes' });
    expect(other.status).toBe(404);
    expect(await problemCode(other)).toBe('CONSOLE_ADMIN_NOT_FOUND');
    const noToken = await postForm(`/console/admins/${tom.adminId}/remove`, tara.cookie, { confirm: 'yes' });
    expect(noToken.status).toBe(403);
    expect(await counts()).toEqual(before);
    const done = await postForm(`/console/admins/${tom.adminId}/remove`, tara.cookie, { csrf, confirm: 'yes' });
    expect(done.status).toBe(200);
    expect((await page('/console/invites', tom.cookie)).status).toBe(303);
    expect((await postJson('/console/api/sign-in/options', {})).status).toBe(200);
  });
});
