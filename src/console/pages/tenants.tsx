// Console pages of tenants: the list and creation (operators), one tenant's settings and API clients (its webhook: pages/webhooks.tsx).
import type { Hono } from 'hono';
import type { ConsoleEnv } from '../session';
import { type ApiOf, SCOPES, type C, type TenantView, type ClientView, type List, render, sessionOf, requireOperator, tenantOf, formOf, lines, numberField, unwrap, when } from '../kit';
import type { Problem } from '../api';
import type { ConsoleSession } from '../session';
import { Check, Confirm, Csrf, Field, Notice, ProblemBox, SecretOnce, Select, Table } from '../views';

const NUMBER_MATCHING = [
  { value: 'PUSHED', label: 'Sign-ins sent to a phone by push (default)' },
  { value: 'DECOUPLED', label: 'Every sign-in on another device (QR code, link or push)' },
  { value: 'REQUESTED', label: 'Only when the start asks for it' },
] as const;

const LIMITS = [
  { name: 'maxLiveOperationsPerUser', label: 'Live operations one user may have at once (1–50)' },
  { name: 'maxLiveOperationsPerDevice', label: 'Live operations that may name one device at once (1–50)' },
  { name: 'maxStartsPerUserPerMinute', label: 'Operations started for one user per minute (1–600)' },
] as const;

const BRANDING_FIELDS = [
  { name: 'brandName', key: 'name', label: 'Name shown in the app', hint: 'Empty: “Authenticator”' },
  { name: 'logoUrl', key: 'logoUrl', label: 'Logo URL', hint: 'https (http only for localhost); square, shown at 40 px; empty: the app icon' },
  { name: 'primaryColor', key: 'primaryColor', label: 'Brand colour', hint: '#rrggbb; empty: the app default' },
] as const;

/**
 * The authenticator app's branding, with a preview drawn like the app's header and an approval card. The console script
 * repaints it as the fields change (the colour is applied through the CSSOM, which the CSP without 'unsafe-inline' allows).
 */
function Branding(props: { session: ConsoleSession; tenantId: string; branding: TenantView['branding']; editable: boolean; problem?: Problem | undefined; typed?: Record<string, string> | undefined }) {
  const value = (f: (typeof BRANDING_FIELDS)[number]): string => props.typed?.[f.name] ?? props.branding[f.key] ?? '';
  const [name, logo, colour] = BRANDING_FIELDS.map(value) as [string, string, string];
  return (
    <section aria-labelledby="branding">
      <h2 id="branding">Authenticator app branding</h2>
      <ProblemBox problem={props.problem} />
      <div class="branding">
        {props.editable ? (
          <form method="post" action={`/console/tenants/${props.tenantId}/branding`} class="card" data-branding-form>
            <Csrf session={props.session} />
            {BRANDING_FIELDS.map((f) => <Field name={f.name} label={f.label} hint={f.hint} value={value(f)} type={f.name === 'logoUrl' ? 'url' : 'text'} />)}
            <button type="submit">Save branding</button>
          </form>
        ) : null}
        <figure class="brand-preview" data-brand-preview data-name={name} data-logo={logo} data-colour={colour}>
          <div class="brand-preview__bar">
            <img class="brand-preview__logo" src="/app/icons/icon.svg" alt="" width="32" height="32" data-preview-logo />
            <span class="brand-preview__name" data-preview-name>{name || 'Authenticator'}</span>
          </div>
          <div class="brand-preview__card">
            <p>Sign in to your account?</p>
            <span class="brand-preview__button" data-preview-button>Approve</span>
          </div>
          <p class="brand-preview__warning" data-preview-contrast aria-live="polite"></p>
          <figcaption>{props.editable ? 'Preview: the authenticator app as users see it; it follows the fields as you type.' : 'The authenticator app as users see it.'}</figcaption>
        </figure>
      </div>
    </section>
  );
}

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
    const ticked = (key: string, stored: boolean): boolean => (typed ? typed[key] === 'true' : stored);
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
              <Check name="deviceBoundOnly" label="Device-bound passkeys only (refuse synced passkeys)" checked={ticked('deviceBoundOnly', tenant.policy.deviceBoundOnly)} />
              <Check name="requireScaForNewDevice" label="A further device is registered only after the user approves on a device they already have" checked={ticked('requireScaForNewDevice', tenant.policy.requireScaForNewDevice)} />
              <Check name="pushNotifications" label="Send push notifications to devices that have a push channel" checked={ticked('pushNotifications', tenant.policy.pushNotifications)} />
              <Select name="numberMatching" label="Number matching for sign-ins" value={shown('numberMatching', tenant.policy.numberMatching)} options={NUMBER_MATCHING}
                hint="Which sign-ins ask the user to pick the number shown on the screen they started from; a start's own numberMatching still wins" />
              <fieldset>
                <legend>Abuse limits</legend>
                {LIMITS.map((l) => <Field name={l.name} label={l.label} type="number" inputmode="numeric" value={shown(l.name, String(tenant.policy[l.name]))} />)}
              </fieldset>
              <button type="submit">Save settings</button>
            </form>
          ) : (
            <dl class="facts">
              <dt>rpId</dt><dd>{tenant.rpId}</dd>
              <dt>Passkey origins</dt><dd>{tenant.origins.join(', ')}</dd>
              <dt>Operation lifetime</dt><dd>{`${tenant.policy.operationTtlSeconds} s`}</dd>
              <dt>Lockout after</dt><dd>{`${tenant.policy.maxFailedAttempts} failed attempts`}</dd>
              <dt>Push notifications</dt><dd>{tenant.policy.pushNotifications ? 'on' : 'off'}</dd>
              <dt>Number matching</dt><dd>{NUMBER_MATCHING.find((o) => o.value === tenant.policy.numberMatching)?.label ?? tenant.policy.numberMatching}</dd>
            </dl>
          )}
        </section>
        <Branding session={session} tenantId={tenantId} branding={tenant.branding} editable={operator} problem={at('branding').problem} typed={at('branding').form} />
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
    const policy: Record<string, unknown> = {
      deviceBoundOnly: form['deviceBoundOnly'] === 'true',
      requireScaForNewDevice: form['requireScaForNewDevice'] === 'true',
      pushNotifications: form['pushNotifications'] === 'true',
      // Sent as chosen: the API names a value that is not one of its three.
      ...(form['numberMatching'] ? { numberMatching: form['numberMatching'] } : {}),
    };
    for (const key of ['operationTtlSeconds', 'maxFailedAttempts', ...LIMITS.map((l) => l.name)] as const) {
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

  router.post('/tenants/:tenantId/branding', async (c) => {
    const { session, form } = await formOf(c);
    requireOperator(session);
    const tenantId = tenantOf(c, session);
    // An emptied field is removed (merge-patch null), so the authenticator app shows its default again.
    const branding = Object.fromEntries(BRANDING_FIELDS.map((f) => [f.key, (form[f.name] ?? '').trim() || null]));
    const patched = await api(c).call<TenantView>('PATCH', `/admin/v1/tenants/${tenantId}`, { tenantId, body: { branding } });
    if (!patched.ok) return tenantPage(c, { problem: patched.problem, section: 'branding', form });
    return tenantPage(c, { notice: 'Branding saved: the authenticator app shows it from its next start.' });
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
