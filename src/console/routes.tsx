// /console: the operator and tenant console, server-rendered pages and form posts over the public JSON API (docs/console.md).
import { Hono, type Context } from 'hono';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Child } from 'hono/jsx';
import type { AppEnv } from '../env';
import { ApiError, ERROR_CODES, problemResponse } from '../errors';
import { isId } from '../domain/ids';
import { hashSecret, newSecret } from '../domain/secrets';
import { adminActor } from '../middleware/console-principal';
import { commitWithAudit } from '../storage/audit';
import { deleteSessionStatement, insertInviteStatement, operatorExists } from '../storage/console';
import type { ConsoleRole } from '../storage/console';
import { consoleApi, type ApiAnswer, type ConsoleApi, type Problem } from './api';
import { auditChainOf, bootstrapFinish, bootstrapOptions, CONSOLE_AUDIT_CHAIN, inviteFinish, inviteOptions, signInFinish, signInOptions } from './ceremonies';
import { clearSessionCookie, consoleRelyingParty, loadSession, requireCsrf, type ConsoleEnv, type ConsoleSession } from './session';
import { Confirm, Csrf, Field, Layout, Notice, ProblemBox, SecretOnce, Table } from './views';

const INVITE_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_FORM_BYTES = 64 * 1024;
const SCOPES = ['users', 'devices', 'operations', 'audit'] as const;

type C = Context<ConsoleEnv>;

interface TenantView {
  id: string; name: string; rpId: string; rpName: string; origins: string[]; allowedOrigins: string[];
  policy: { operationTtlSeconds: number; maxFailedAttempts: number; deviceBoundOnly: boolean; requireScaForNewDevice: boolean };
  createdAt: string;
}
interface ClientView { clientId: string; name: string; scopes: string[]; createdAt: string; revokedAt?: string }
interface UserView { id: string; externalRef?: string; status: string; lockReason?: string; attributes: Record<string, string>; createdAt: string }
interface DeviceView { id: string; kind: string; name: string; status: string; lockReason?: string; lastUsedAt?: string; failedAttempts: number; createdAt: string }
interface OperationView { id: string; type: string; status: string; createdAt?: string; finalisedAt?: string; failure?: { code?: string } }
interface AuditView { seq: number; at: string; actor: string; action: string; targetType: string; targetId: string }
interface ChainView { valid: boolean; checked: number; headSeq: number; headHash: string; brokenAtSeq?: number; reason?: string }
interface List<T> { items: T[]; nextCursor: string | null }

async function render(c: C, title: string, body: Child, options: { status?: number | undefined; tenantId?: string } = {}): Promise<Response> {
  const page = <Layout title={title} session={c.get('session')} tenantId={options.tenantId}>{body}</Layout>;
  // Pages carry a CSRF token and tenant data: never stored by a cache.
  c.header('cache-control', 'no-store');
  return c.html(`<!doctype html>${await page.toString()}`, (options.status ?? 200) as 200);
}

function problemOf(c: C, error: ApiError): Problem {
  return { status: error.status, code: error.code, title: ERROR_CODES[error.code].title, detail: error.message, traceId: c.get('traceId') };
}

function wantsHtml(c: C): boolean {
  return /text\/html/.test(c.req.header('accept') ?? '') && !c.req.path.startsWith('/console/api/');
}

/** The signed-in administrator, or a refusal (pages send the browser to sign in instead). */
function sessionOf(c: C): ConsoleSession {
  const session = c.get('session');
  if (!session) throw new ApiError('UNAUTHENTICATED', 'Sign in to the console first.');
  return session;
}

function requireOperator(session: ConsoleSession): void {
  if (session.admin.role !== 'operator') throw new ApiError('CONSOLE_FORBIDDEN', 'Only operators manage tenants.');
}

/** OWASP ASVS 4.2.1: a tenant administrator's pages name only their own tenant; another tenant id is refused, not redirected. */
function tenantOf(c: C, session: ConsoleSession): string {
  const tenantId = c.req.param('tenantId') ?? '';
  if (!isId(tenantId, 'ten')) throw new ApiError('TENANT_NOT_FOUND', `No tenant ${tenantId}.`);
  if (session.admin.role === 'tenant' && session.admin.tenantId !== tenantId) throw new ApiError('CONSOLE_FORBIDDEN', 'You administer another tenant.');
  return tenantId;
}

/** A state-changing form: signed in, same origin, the session's CSRF token; only then are its fields read for use. */
async function formOf(c: C): Promise<{ session: ConsoleSession; form: Record<string, string>; all: Record<string, string[]> }> {
  const session = sessionOf(c);
  if (Number(c.req.header('content-length') ?? '0') > MAX_FORM_BYTES) throw new ApiError('PAYLOAD_TOO_LARGE');
  const body = await c.req.parseBody({ all: true }).catch(() => {
    throw new ApiError('VALIDATION_FAILED', 'The form could not be read.');
  });
  const form: Record<string, string> = {};
  const all: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(body)) {
    const values = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
    all[key] = values;
    if (values[0] !== undefined) form[key] = values[0];
  }
  await requireCsrf(c, session, form['csrf']);
  return { session, form, all };
}

const lines = (text: string | undefined): string[] => (text ?? '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
/** A number field: empty is left out, anything else goes to the API as typed, so the API's own validation names it. */
const numberField = (text: string | undefined): number | string | undefined => (text === undefined || text.trim() === '' ? undefined : Number.isFinite(Number(text)) ? Number(text) : text);

function unwrap<T>(answer: ApiAnswer<T>): T {
  if (!answer.ok) throw new ConsoleProblem(answer.problem);
  return answer.data;
}

/** An API refusal while building a page: the page shows it in place. */
class ConsoleProblem extends Error {
  constructor(readonly problem: Problem) {
    super(problem.code);
  }
}

const when = (iso: string | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '—');

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

  // ── tenants (operators) ──────────────────────────────────────────────────────────────────────
  async function tenantsPage(c: C, extra?: { problem?: Problem; form?: Record<string, string> }): Promise<Response> {
    const session = sessionOf(c);
    requireOperator(session);
    const list = unwrap(await api(c).call<List<TenantView>>('GET', '/admin/v1/tenants?limit=100'));
    return render(c, 'Tenants', (
      <>
        <Table label="Tenants" head={['Name', 'rpId', 'Id', 'Created']} empty="No tenants yet: create the first one below."
          rows={list.items.map((t) => [<a href={`/console/tenants/${t.id}`}>{t.name}</a>, t.rpId, <code>{t.id}</code>, when(t.createdAt)])} />
        <h2 id="create-tenant">Create a tenant</h2>
        <ProblemBox problem={extra?.problem} />
        <form method="post" action="/console/tenants" class="card" aria-labelledby="create-tenant">
          <Csrf session={session} />
          <Field name="name" label="Name" required value={extra?.form?.['name']} />
          <Field name="rpId" label="Passkey rpId" required value={extra?.form?.['rpId']} hint="The relying party's domain, e.g. bank.example" />
          <Field name="origins" label="Passkey origins" required multiline value={extra?.form?.['origins']} hint="One origin per line, e.g. https://bank.example" />
          <button type="submit">Create tenant</button>
        </form>
      </>
    ), { status: extra?.problem?.status });
  }

  router.get('/tenants', (c) => tenantsPage(c));
  router.post('/tenants', async (c) => {
    const { session, form } = await formOf(c);
    requireOperator(session);
    const created = await api(c).call<TenantView>('POST', '/admin/v1/tenants', { body: { name: form['name'] ?? '', rpId: form['rpId'] ?? '', origins: lines(form['origins']) } });
    if (!created.ok) return tenantsPage(c, { problem: created.problem, form });
    return c.redirect(`/console/tenants/${created.data.id}?created=1`, 303);
  });

  // ── one tenant: settings, API clients, webhook ───────────────────────────────────────────────
  async function tenantPage(c: C, extra: { problem?: Problem; secret?: { label: string; value: string }; notice?: string; section?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const session = sessionOf(c);
    const tenantId = tenantOf(c, session);
    const client = api(c);
    const tenant = unwrap(await client.call<TenantView>('GET', `/admin/v1/tenants/${tenantId}`, { tenantId }));
    const clients = unwrap(await client.call<List<ClientView>>('GET', `/admin/v1/tenants/${tenantId}/clients`, { tenantId })).items;
    const webhook = await client.call<{ url: string; disabled: boolean }>('GET', `/admin/v1/tenants/${tenantId}/webhook`, { tenantId });
    const operator = session.admin.role === 'operator';
    const at = (section: string) => (extra.section === section ? extra : {});
    // A refused save shows what the administrator typed, not the stored values, so one wrong field costs one fix.
    const typed = at('settings').form;
    const shown = (key: string, stored: string): string => typed?.[key] ?? stored;
    return render(c, tenant.name, (
      <>
        {c.req.query('created') ? <Notice>Tenant created.</Notice> : null}
        {extra.notice ? <Notice>{extra.notice}</Notice> : null}
        <section aria-labelledby="settings">
          <h2 id="settings">Settings</h2>
          <ProblemBox problem={at('settings').problem} />
          {operator ? (
            <form method="post" action={`/console/tenants/${tenantId}`} class="card">
              <Csrf session={session} />
              <Field name="name" label="Name" required value={shown('name', tenant.name)} />
              <Field name="rpName" label="Name shown in passkey prompts" value={shown('rpName', tenant.rpName)} />
              <Field name="rpId" label="Passkey rpId" required value={shown('rpId', tenant.rpId)} />
              <Field name="origins" label="Passkey origins" multiline required value={shown('origins', tenant.origins.join('\n'))} hint="One origin per line" />
              <Field name="allowedOrigins" label="Allowed web origins (SDK calls)" multiline value={shown('allowedOrigins', tenant.allowedOrigins.join('\n'))} hint="One per line; empty means the passkey origins" />
              <Field name="operationTtlSeconds" label="Operation lifetime in seconds (1–300)" type="number" inputmode="numeric" value={shown('operationTtlSeconds', String(tenant.policy.operationTtlSeconds))} />
              <Field name="maxFailedAttempts" label="Failed attempts before a device locks (1–5)" type="number" inputmode="numeric" value={shown('maxFailedAttempts', String(tenant.policy.maxFailedAttempts))} />
              <label class="check"><input type="checkbox" name="deviceBoundOnly" value="true" checked={typed ? typed['deviceBoundOnly'] === 'true' : tenant.policy.deviceBoundOnly} /> Device-bound passkeys only (refuse synced passkeys)</label>
              <button type="submit">Save settings</button>
            </form>
          ) : (
            <dl class="facts">
              <dt>rpId</dt><dd>{tenant.rpId}</dd>
              <dt>Passkey origins</dt><dd>{tenant.origins.join(', ')}</dd>
              <dt>Operation lifetime</dt><dd>{`${tenant.policy.operationTtlSeconds} s`}</dd>
              <dt>Lockout after</dt><dd>{`${tenant.policy.maxFailedAttempts} failed attempts`}</dd>
            </dl>
          )}
        </section>
        <section aria-labelledby="clients">
          <h2 id="clients">API clients</h2>
          <ProblemBox problem={at('clients').problem} />
          {at('clients').secret ? <SecretOnce label={at('clients').secret!.label} value={at('clients').secret!.value} id="client-secret" /> : null}
          <Table label="API clients" head={['Name', 'Client id', 'Scopes', 'Status', '']} empty="No API clients yet."
            rows={clients.map((k) => [k.name, <code>{k.clientId}</code>, k.scopes.join(', '), k.revokedAt ? `revoked ${when(k.revokedAt)}` : 'active',
              k.revokedAt ? '' : (
                <form method="post" action={`/console/tenants/${tenantId}/clients/${k.clientId}/revoke`} class="inline">
                  <Csrf session={session} />
                  <button type="submit" class="danger" aria-label={`Revoke ${k.name}`}>Revoke</button>
                </form>
              )])} />
          <form method="post" action={`/console/tenants/${tenantId}/clients`} class="card">
            <Csrf session={session} />
            <Field name="name" id="f-client-name" label="Client name" required />
            <fieldset>
              <legend>Scopes</legend>
              {SCOPES.map((s) => <label class="check"><input type="checkbox" name="scopes" value={s} checked /> {s}</label>)}
            </fieldset>
            <button type="submit">Create API client</button>
          </form>
        </section>
        <section aria-labelledby="webhook">
          <h2 id="webhook">Webhook</h2>
          <ProblemBox problem={at('webhook').problem} />
          {at('webhook').secret ? <SecretOnce label={at('webhook').secret!.label} value={at('webhook').secret!.value} id="webhook-secret" /> : null}
          <p>{webhook.ok ? <>Events go to <code>{webhook.data.url}</code>{webhook.data.disabled ? ' (disabled)' : ''}.</> : 'No webhook endpoint is set.'}</p>
          <form method="post" action={`/console/tenants/${tenantId}/webhook`} class="card">
            <Csrf session={session} />
            <Field name="url" label="Endpoint URL" type="url" required value={webhook.ok ? webhook.data.url : ''} hint="https to a public host" />
            <button type="submit">{webhook.ok ? 'Replace endpoint (new secret)' : 'Set endpoint'}</button>
          </form>
          {webhook.ok ? (
            <form method="post" action={`/console/tenants/${tenantId}/webhook/rotate`} class="inline">
              <Csrf session={session} />
              <button type="submit" class="secondary">Rotate the signing secret</button>
            </form>
          ) : null}
        </section>
      </>
    ), { tenantId, status: extra.problem?.status });
  }

  router.get('/tenants/:tenantId', (c) => tenantPage(c));
  router.post('/tenants/:tenantId', async (c) => {
    const { session, form } = await formOf(c);
    requireOperator(session);
    const tenantId = tenantOf(c, session);
    const allowed = lines(form['allowedOrigins']);
    const policy: Record<string, unknown> = { deviceBoundOnly: form['deviceBoundOnly'] === 'true' };
    for (const key of ['operationTtlSeconds', 'maxFailedAttempts'] as const) {
      const value = numberField(form[key]);
      if (value !== undefined) policy[key] = value;
    }
    const patched = await api(c).call<TenantView>('PATCH', `/admin/v1/tenants/${tenantId}`, {
      tenantId,
      body: { name: form['name'] ?? '', rpName: form['rpName'] || form['name'] || '', rpId: form['rpId'] ?? '', origins: lines(form['origins']), allowedOrigins: allowed.length ? allowed : null, policy },
    });
    if (!patched.ok) return tenantPage(c, { problem: patched.problem, section: 'settings', form });
    return tenantPage(c, { notice: 'Settings saved.' });
  });

  router.post('/tenants/:tenantId/clients', async (c) => {
    const { session, form, all } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const created = await api(c).call<ClientView & { clientSecret: string }>('POST', `/admin/v1/tenants/${tenantId}/clients`, { tenantId, body: { name: form['name'] ?? '', scopes: all['scopes'] ?? [] } });
    if (!created.ok) return tenantPage(c, { problem: created.problem, section: 'clients' });
    return tenantPage(c, { section: 'clients', secret: { label: `Client secret of ${created.data.clientId}.`, value: created.data.clientSecret } });
  });

  router.post('/tenants/:tenantId/clients/:clientId/revoke', async (c) => {
    const { session, form } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const clientId = c.req.param('clientId');
    if (form['confirm'] !== 'yes') {
      return render(c, 'Revoke an API client', (
        <Confirm session={session} action={`/console/tenants/${tenantId}/clients/${clientId}/revoke`} back={`/console/tenants/${tenantId}#clients`} button="Revoke the client"
          consequence={`Client ${clientId} will not get new tokens, and the access tokens it holds stop working at once. This cannot be undone.`} />
      ), { tenantId });
    }
    const revoked = await api(c).call('DELETE', `/admin/v1/tenants/${tenantId}/clients/${encodeURIComponent(clientId)}`, { tenantId });
    if (!revoked.ok) return tenantPage(c, { problem: revoked.problem, section: 'clients' });
    return tenantPage(c, { notice: `Client ${clientId} is revoked.` });
  });

  router.post('/tenants/:tenantId/webhook', async (c) => {
    const { session, form } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const put = await api(c).call<{ url: string; secret: string }>('PUT', `/admin/v1/tenants/${tenantId}/webhook`, { tenantId, body: { url: form['url'] ?? '' } });
    if (!put.ok) return tenantPage(c, { problem: put.problem, section: 'webhook' });
    return tenantPage(c, { section: 'webhook', secret: { label: 'Webhook signing secret.', value: put.data.secret } });
  });

  router.post('/tenants/:tenantId/webhook/rotate', async (c) => {
    const { session } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const rotated = await api(c).call<{ secret: string }>('POST', `/admin/v1/tenants/${tenantId}/webhook/rotate-secret`, { tenantId });
    if (!rotated.ok) return tenantPage(c, { problem: rotated.problem, section: 'webhook' });
    return tenantPage(c, { section: 'webhook', secret: { label: 'New webhook signing secret (the previous one keeps signing for 24 hours).', value: rotated.data.secret } });
  });

  // ── users and devices ────────────────────────────────────────────────────────────────────────
  router.get('/tenants/:tenantId/users', async (c) => {
    const session = sessionOf(c);
    const tenantId = tenantOf(c, session);
    const externalRef = (c.req.query('externalRef') ?? '').trim();
    const query = externalRef ? `externalRef=${encodeURIComponent(externalRef)}` : 'limit=25';
    const found = await api(c).call<List<UserView>>('GET', `/v1/users?${query}`, { tenantId });
    return render(c, 'Users', (
      <>
        <form method="get" action={`/console/tenants/${tenantId}/users`} class="card search" role="search">
          <Field name="externalRef" label="Find a user by externalRef" value={externalRef} />
          <button type="submit">Search</button>
        </form>
        {found.ok ? (
          <Table label={externalRef ? `Users with externalRef ${externalRef}` : 'Users'} head={['User', 'externalRef', 'Status', 'Created']}
            empty={externalRef ? `No user has the externalRef “${externalRef}”.` : 'This tenant has no users yet.'}
            rows={found.data.items.map((u) => [<a href={`/console/tenants/${tenantId}/users/${u.id}`}><code>{u.id}</code></a>, u.externalRef ?? '—', u.status, when(u.createdAt)])} />
        ) : <ProblemBox problem={found.problem} />}
      </>
    ), { tenantId });
  });

  async function userPage(c: C, extra: { problem?: Problem; notice?: string } = {}): Promise<Response> {
    const session = sessionOf(c);
    const tenantId = tenantOf(c, session);
    const userId = c.req.param('userId') ?? '';
    const client = api(c);
    const user = unwrap(await client.call<UserView>('GET', `/v1/users/${encodeURIComponent(userId)}`, { tenantId }));
    const devices = unwrap(await client.call<List<DeviceView>>('GET', `/v1/users/${user.id}/devices`, { tenantId })).items;
    const operations = await Promise.all(devices.map(async (d) => {
      const answer = await client.call<List<OperationView>>('GET', `/v1/devices/${d.id}/operations?limit=10`, { tenantId });
      return answer.ok ? answer.data.items.map((o) => ({ ...o, deviceName: d.name })) : [];
    }));
    const action = (name: 'lock' | 'unlock' | 'deactivate', label: string, danger: boolean) => (
      <form method="post" action={`/console/tenants/${tenantId}/users/${user.id}/${name}`} class="inline">
        <Csrf session={session} />
        <button type="submit" class={danger ? 'danger' : 'secondary'}>{label}</button>
      </form>
    );
    return render(c, `User ${user.externalRef ?? user.id}`, (
      <>
        {extra.notice ? <Notice>{extra.notice}</Notice> : null}
        <ProblemBox problem={extra.problem} />
        <dl class="facts">
          <dt>Id</dt><dd><code>{user.id}</code></dd>
          <dt>externalRef</dt><dd>{user.externalRef ?? '—'}</dd>
          <dt>Status</dt><dd data-testid="user-status">{user.status}{user.lockReason ? ` (${user.lockReason})` : ''}</dd>
          <dt>Created</dt><dd>{when(user.createdAt)}</dd>
        </dl>
        <div class="actions">
          {user.status === 'ACTIVE' ? action('lock', 'Lock user', false) : null}
          {user.status === 'LOCKED' ? action('unlock', 'Unlock user', false) : null}
          {user.status !== 'DEACTIVATED' ? action('deactivate', 'Deactivate user', true) : null}
        </div>
        <h2>Attributes</h2>
        <Table label="Attributes" head={['Key', 'Value']} empty="No attributes." rows={Object.entries(user.attributes).map(([k, v]) => [<code>{k}</code>, v])} />
        <h2>Devices</h2>
        <Table label="Devices" head={['Name', 'Kind', 'Status', 'Last used', 'Failed attempts']} empty="No devices are bound to this user."
          rows={devices.map((d) => [d.name, d.kind, `${d.status}${d.lockReason ? ` (${d.lockReason})` : ''}`, when(d.lastUsedAt), String(d.failedAttempts)])} />
        <h2>Recent operations</h2>
        <Table label="Recent operations" head={['Operation', 'Type', 'Status', 'Device', 'Started']} empty="No operations yet."
          rows={operations.flat().map((o) => [<code>{o.id}</code>, o.type, o.status, o.deviceName, when(o.createdAt)])} />
      </>
    ), { tenantId, status: extra.problem?.status });
  }

  router.get('/tenants/:tenantId/users/:userId', (c) => userPage(c));

  const CONSEQUENCES = {
    lock: { button: 'Lock the user', text: 'The user cannot authenticate, authorise or sign until unlocked; their live operations are cancelled now.', done: 'The user is locked.' },
    unlock: { button: 'Unlock the user', text: 'The user can use their devices again.', done: 'The user is unlocked.' },
    deactivate: { button: 'Deactivate the user', text: 'Final: every device of the user is deactivated and their live operations are cancelled. It cannot be undone.', done: 'The user is deactivated.' },
  } as const;

  router.post('/tenants/:tenantId/users/:userId/:action{lock|unlock|deactivate}', async (c) => {
    const { session, form } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const userId = c.req.param('userId');
    const name = c.req.param('action') as keyof typeof CONSEQUENCES;
    const what = CONSEQUENCES[name];
    if (form['confirm'] !== 'yes') {
      return render(c, what.button, (
        <Confirm session={session} action={`/console/tenants/${tenantId}/users/${userId}/${name}`} back={`/console/tenants/${tenantId}/users/${userId}`} button={what.button}
          consequence={`${userId}: ${what.text}`} />
      ), { tenantId });
    }
    const done = await api(c).call('POST', `/v1/users/${encodeURIComponent(userId)}/${name}`, { tenantId, body: {} });
    if (!done.ok) return userPage(c, { problem: done.problem });
    return userPage(c, { notice: what.done });
  });

  // ── audit ────────────────────────────────────────────────────────────────────────────────────
  async function auditPage(c: C, chain: string, tenantId: string | undefined): Promise<Response> {
    const cursor = c.req.query('cursor');
    const client = api(c);
    const verification = unwrap(await client.call<ChainView>('GET', '/v1/audit-events/verify', { tenantId: chain }));
    const events = unwrap(await client.call<List<AuditView>>('GET', `/v1/audit-events?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { tenantId: chain }));
    const base = tenantId ? `/console/tenants/${tenantId}/audit` : '/console/audit';
    return render(c, tenantId ? 'Audit log' : 'Console audit log', (
      <>
        <div class={verification.valid ? 'verdict verdict--ok' : 'verdict verdict--bad'} role="status" data-valid={String(verification.valid)}>
          {verification.valid
            ? <p><strong>The hash chain is intact.</strong> {`${verification.checked} entries checked; head #${verification.headSeq}.`}</p>
            : <p><strong>The hash chain is broken</strong> {`at entry #${verification.brokenAtSeq ?? '?'} (${verification.reason ?? 'unknown'}).`}</p>}
          <p class="hint">Keep the head hash to notice a truncated tail later: <code>{verification.headHash}</code></p>
        </div>
        <Table label="Audit events" head={['#', 'When', 'Actor', 'Action', 'Target']} empty="No audit events yet."
          rows={events.items.map((e) => [String(e.seq), when(e.at), <code>{e.actor}</code>, e.action, <code>{`${e.targetType} ${e.targetId}`}</code>])} />
        {events.nextCursor ? <p><a href={`${base}?cursor=${encodeURIComponent(events.nextCursor)}`}>Next page</a></p> : null}
        {tenantId ? null : <p class="hint">Deployment-wide console events (operators enrolled, sign-ins, operator invitations) are chained under “console”.</p>}
      </>
    ), { tenantId });
  }

  router.get('/tenants/:tenantId/audit', (c) => {
    const session = sessionOf(c);
    const tenantId = tenantOf(c, session);
    return auditPage(c, tenantId, tenantId);
  });
  router.get('/audit', (c) => {
    requireOperator(sessionOf(c));
    return auditPage(c, CONSOLE_AUDIT_CHAIN, undefined);
  });

  router.notFound((c) => {
    throw new ApiError('NOT_FOUND', `No console page ${c.req.path}.`);
  });
  return router;
}
