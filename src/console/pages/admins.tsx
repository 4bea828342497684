// Console page of its administrators: who can sign in (operators see everyone, a tenant administrator their tenant's),
// and removal, which ends their sessions and deletes their passkeys and open invitations at once.
import type { Hono } from 'hono';
import { ApiError } from '../../errors';
import { isId } from '../../domain/ids';
import { adminActor } from '../../middleware/console-principal';
import { commitWithAudit } from '../../storage/audit';
import { getAdmin, listAdmins, removeAdminStatements } from '../../storage/console';
import { failedPrecondition } from '../../storage/precondition';
import { auditChainOf } from '../ceremonies';
import { type C, formOf, render, sessionOf, when } from '../kit';
import type { ConsoleEnv, ConsoleSession } from '../session';
import { Confirm, Csrf, Notice, Table } from '../views';

/** The administrator `adminId` if this session may remove them: never oneself, a tenant administrator only within their tenant. */
async function removable(c: C, session: ConsoleSession, adminId: string) {
  const target = isId(adminId, 'adm') ? await getAdmin(c.env.DB, adminId) : null;
  const visible = target && (session.admin.role === 'operator' || target.tenantId === session.admin.tenantId);
  // Someone a tenant administrator may not see answers as unknown, like an API's other-tenant id.
  if (!target || !visible || target.removedAt) throw new ApiError('CONSOLE_ADMIN_NOT_FOUND', `No administrator ${adminId}.`);
  if (session.admin.role === 'tenant' && target.role === 'operator') throw new ApiError('CONSOLE_FORBIDDEN', 'Only operators remove operators.');
  if (target.id === session.admin.id) throw new ApiError('CONSOLE_SELF_REMOVAL', 'Sign out instead, and ask another administrator to remove you.');
  return target;
}

export function adminPages(router: Hono<ConsoleEnv>): void {
  async function adminsPage(c: C, notice?: string): Promise<Response> {
    const session = sessionOf(c);
    const admins = await listAdmins(c.env.DB, session.admin.role === 'operator' ? null : session.admin.tenantId);
    return render(c, 'Administrators', (
      <>
        {notice ? <Notice>{notice}</Notice> : null}
        <p>{session.admin.role === 'operator' ? 'Everyone who can sign in to this console.' : 'The administrators of your tenant.'} <a href="/console/invites">Invite an administrator</a></p>
        <Table label="Console administrators" head={['Name', 'Role', 'Tenant', 'Passkeys', 'Last sign-in', 'Since', 'Status', '']} empty="No administrators."
          rows={admins.map((a) => [
            a.name, a.role === 'operator' ? 'operator' : 'tenant administrator', a.tenantId ? <code>{a.tenantId}</code> : '—', String(a.passkeys), when(a.lastSignInAt ?? undefined), when(a.createdAt),
            a.removedAt ? `removed ${when(a.removedAt)}` : a.id === session.admin.id ? 'you' : 'active',
            a.removedAt || a.id === session.admin.id || (session.admin.role === 'tenant' && a.role === 'operator') ? '' : (
              <form method="post" action={`/console/admins/${a.id}/remove`} class="inline">
                <Csrf session={session} />
                <button type="submit" class="danger" aria-label={`Remove ${a.name}`}>Remove</button>
              </form>
            ),
          ])} />
      </>
    ));
  }

  router.get('/admins', (c) => adminsPage(c));

  router.post('/admins/:adminId/remove', async (c) => {
    const { session, form } = await formOf(c);
    const target = await removable(c, session, c.req.param('adminId'));
    if (form['confirm'] !== 'yes') {
      return render(c, 'Remove an administrator', (
        <Confirm session={session} action={`/console/admins/${target.id}/remove`} back="/console/admins" button={`Remove ${target.name}`}
          consequence={`${target.name} (${target.role === 'operator' ? 'operator' : `administrator of ${target.tenantId}`}) is signed out now, their passkeys are deleted and the invitations they sent and nobody used stop working. To come back they need a new invitation.`} />
      ));
    }
    const at = new Date().toISOString();
    try {
      await commitWithAudit(c.env.DB, auditChainOf(target), removeAdminStatements(c.env.DB, target, session.admin.id, at), [
        { actor: adminActor(session.admin.id), action: 'console.admin_removed', targetType: 'console_admin', targetId: target.id, data: { role: target.role } },
      ], at);
    } catch (error) {
      const failed = failedPrecondition(error);
      if (failed === 'anotherOperatorRemains') throw new ApiError('CONSOLE_LAST_OPERATOR', 'Another operator must remain to run the console.');
      if (failed === 'adminActive') throw new ApiError('CONSOLE_ADMIN_NOT_FOUND', `${target.name} was removed already.`);
      throw error;
    }
    return adminsPage(c, `${target.name} is removed: signed out, passkeys deleted.`);
  });
}
