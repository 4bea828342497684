// Console pages of tenants: the list and creation (operators), one tenant's settings and API clients (its webhook: pages/webhooks.tsx).
import type { Hono } from 'hono';
import type { ConsoleEnv } from '../session';
import { type ApiOf, SCOPES, type C, type TenantView, type ClientView, type List, render, sessionOf, requireOperator, tenantOf, formOf, lines, numberField, unwrap, when } from '../kit';
import type { Problem } from '../api';
import { Confirm, Csrf, Field, Notice, ProblemBox, SecretOnce, Table } from '../views';

export function tenantPages(router: Hono<ConsoleEnv>, api: ApiOf): void {
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

  // ── one tenant: settings, API clients, and where its webhook is ──────────────────────────────
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
          <p>{webhook.ok ? <>Events go to <code>{webhook.data.url}</code>{webhook.data.disabled ? ' (disabled)' : ''}.</> : 'No webhook endpoint is set.'} <a href={`/console/tenants/${tenantId}/webhook`}>Webhook and deliveries</a></p>
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
}
