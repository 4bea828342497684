// /console: the operator and tenant console, server-rendered pages and form posts over the public JSON API (docs/console.md).
import { Hono, type Context } from 'hono';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { ApiError, problemResponse } from '../errors';
import { hashSecret, newSecret } from '../domain/secrets';
import { adminActor } from '../middleware/console-principal';
import { commitWithAudit } from '../storage/audit';
import { deleteSessionStatement, insertInviteStatement, operatorExists } from '../storage/console';
import type { ConsoleRole } from '../storage/console';
import { consoleApi, type ConsoleApi, type Problem } from './api';
import { auditChainOf, bootstrapFinish, bootstrapOptions, CONSOLE_AUDIT_CHAIN, inviteFinish, inviteOptions, signInFinish, signInOptions } from './ceremonies';
import { clearSessionCookie, consoleRelyingParty, loadSession, type ConsoleEnv } from './session';
import { Csrf, Field, Notice, ProblemBox, SecretOnce } from './views';
import { ConsoleProblem, formOf, problemOf, render, sessionOf, unwrap, wantsHtml, type C, type List, type TenantView, INVITE_TTL_MS } from './kit';
import { tenantPages } from './pages/tenants';
import { userPages } from './pages/users';
import { auditPages } from './pages/audit';
import { adminPages } from './pages/admins';
import { webhookPages } from './pages/webhooks';
import { operationPages } from './pages/operations';

export function consoleRouter(app: OpenAPIHono<AppEnv>): Hono<ConsoleEnv> {
  const router = new Hono<ConsoleEnv>();
  const api = (c: C): ConsoleApi => consoleApi(app, c as unknown as Context<AppEnv>, sessionOf(c));
  router.use('*', loadSession);

  router.onError(async (error, c) => {
    if (error instanceof ConsoleProblem || error instanceof ApiError) {
      const problem = error instanceof ConsoleProblem ? error.problem : problemOf(c, error);
      if (!wantsHtml(c)) return error instanceof ApiError ? problemResponse(c, error) : c.json({ ...problem, type: 'about:blank' }, problem.status as 400);
      if (problem.code === 'UNAUTHENTICATED' && c.req.method === 'GET') return c.redirect('/console/sign-in', 303);
      return render(c, 'Something went wrong', <><ProblemBox problem={problem} /><p><a href="/console">Back to the console</a></p></>, { status: problem.status });
    }
    throw error;
  });

  // ── sign-in, enrolment, sign-out ─────────────────────────────────────────────────────────────
  router.post('/api/bootstrap/options', (c) => bootstrapOptions(c as unknown as Context<AppEnv>));
  router.post('/api/bootstrap/finish', (c) => bootstrapFinish(c as unknown as Context<AppEnv>));
  router.post('/api/invite/options', (c) => inviteOptions(c as unknown as Context<AppEnv>));
  router.post('/api/invite/finish', (c) => inviteFinish(c as unknown as Context<AppEnv>));
  router.post('/api/sign-in/options', (c) => signInOptions(c as unknown as Context<AppEnv>));
  router.post('/api/sign-in/finish', (c) => signInFinish(c as unknown as Context<AppEnv>));

  router.get('/', (c) => {
    const session = c.get('session');
    if (!session) return c.redirect('/console/sign-in', 303);
    if (session.admin.role === 'operator') return c.redirect('/console/tenants', 303);
    return c.redirect(`/console/tenants/${session.admin.tenantId}`, 303);
  });

  router.get('/sign-in', async (c) => {
    consoleRelyingParty(c as unknown as Context<AppEnv>);
    const firstRun = !(await operatorExists(c.env.DB));
    return render(c, 'Sign in', (
      <>
        {firstRun ? <Notice>No operator is enrolled yet. <a href="/console/bootstrap">Set up the first operator</a> with the operator token.</Notice> : null}
        <p>Sign in with the passkey you registered for this console.</p>
        <form data-ceremony="sign-in" class="card">
          <div data-problem></div>
          <button type="submit">Sign in with a passkey</button>
        </form>
      </>
    ));
  });

  router.get('/bootstrap', async (c) => {
    if (await operatorExists(c.env.DB)) {
      return render(c, 'Set up the first operator', <><Notice>The first operator is enrolled already. Ask an operator for an invitation link.</Notice><p><a href="/console/sign-in">Sign in</a></p></>);
    }
    return render(c, 'Set up the first operator', (
      <>
        <p>Once only: the operator token (ADMIN_TOKEN) enrols the first operator, who then invites everyone else. The token is not stored by the console.</p>
        <form data-ceremony="bootstrap" class="card">
          <div data-problem></div>
          <Field name="token" label="Operator token" type="password" required autocomplete="off" />
          <Field name="name" label="Your name" required autocomplete="name" />
          <button type="submit">Register a passkey and sign in</button>
        </form>
      </>
    ));
  });

  router.get('/invite', (c) => render(c, 'Accept an invitation', (
    <>
      <p>Register a passkey on this device to become a console administrator. The link works once.</p>
      <form data-ceremony="invite" class="card">
        <div data-problem></div>
        <Field name="name" label="Your name" required autocomplete="name" />
        <button type="submit">Register a passkey and sign in</button>
      </form>
    </>
  )));

  router.post('/sign-out', async (c) => {
    const { session } = await formOf(c);
    const at = new Date().toISOString();
    await commitWithAudit(c.env.DB, auditChainOf(session.admin), [deleteSessionStatement(c.env.DB, session.idHash)], [
      { actor: adminActor(session.admin.id), action: 'console.signed_out', targetType: 'console_admin', targetId: session.admin.id },
    ], at);
    clearSessionCookie(c as unknown as Context<AppEnv>);
    return c.redirect('/console/sign-in', 303);
  });

  // ── invitations ──────────────────────────────────────────────────────────────────────────────
  async function invitePage(c: C, extra?: { problem?: Problem; link?: string }): Promise<Response> {
    const session = sessionOf(c);
    const tenants = session.admin.role === 'operator' ? unwrap(await api(c).call<List<TenantView>>('GET', '/admin/v1/tenants?limit=100')).items : [];
    return render(c, 'Invite an administrator', (
      <>
        <ProblemBox problem={extra?.problem} />
        {extra?.link ? <SecretOnce label="Invitation link (valid 24 hours, once)." value={extra.link} id="invite-link" /> : null}
        <form method="post" action="/console/invites" class="card">
          <Csrf session={session} />
          {session.admin.role === 'operator' ? (
            <>
              <fieldset>
                <legend>Role</legend>
                <label class="check"><input type="radio" name="role" value="tenant" checked /> Tenant administrator (one tenant)</label>
                <label class="check"><input type="radio" name="role" value="operator" /> Operator (every tenant)</label>
              </fieldset>
              <div class="field">
                <label for="f-tenantId">Tenant (for a tenant administrator)</label>
                <select id="f-tenantId" name="tenantId">
                  {tenants.map((t) => <option value={t.id}>{`${t.name} (${t.id})`}</option>)}
                </select>
              </div>
            </>
          ) : <p>The new administrator will manage your tenant only.</p>}
          <button type="submit">Create invitation link</button>
        </form>
      </>
    ), { status: extra?.problem?.status });
  }

  router.get('/invites', (c) => invitePage(c));
  router.post('/invites', async (c) => {
    const { session, form } = await formOf(c);
    let role: ConsoleRole = 'tenant';
    let tenantId = session.admin.tenantId;
    if (session.admin.role === 'operator') {
      role = form['role'] === 'operator' ? 'operator' : 'tenant';
      tenantId = role === 'operator' ? null : (form['tenantId'] ?? '');
      if (role === 'tenant') {
        // The tenant must exist: read through the API, which answers TENANT_NOT_FOUND otherwise.
        const found = await api(c).call<TenantView>('GET', `/admin/v1/tenants/${encodeURIComponent(tenantId ?? '')}`);
        if (!found.ok) return invitePage(c, { problem: found.problem });
      }
    }
    const token = newSecret('inv');
    const tokenHash = await hashSecret(token);
    const at = new Date().toISOString();
    const chain = role === 'operator' || !tenantId ? CONSOLE_AUDIT_CHAIN : tenantId;
    await commitWithAudit(c.env.DB, chain, [insertInviteStatement(c.env.DB, { tokenHash, role, tenantId, invitedBy: session.admin.id, expiresAt: Date.parse(at) + INVITE_TTL_MS, usedAt: null }, at)], [
      { actor: adminActor(session.admin.id), action: 'console.admin_invited', targetType: 'console_invite', targetId: `inv:${tokenHash.slice(0, 16)}`, data: { role } },
    ], at);
    // The token travels in the fragment: it reaches no server log and no Referer.
    return invitePage(c, { link: `${consoleRelyingParty(c as unknown as Context<AppEnv>).origin}/console/invite#${token}` });
  });

  tenantPages(router, api);
  userPages(router, api);
  auditPages(router, api);
  adminPages(router);
  webhookPages(router, api);
  operationPages(router, api);

  router.notFound((c) => {
    throw new ApiError('NOT_FOUND', `No console page ${c.req.path}.`);
  });
  return router;
}
