// Console pages of users and devices: search, one user with attributes, devices and operations, and the user actions.
import type { Hono } from 'hono';
import type { ConsoleEnv } from '../session';
import { type ApiOf, type C, type UserView, type DeviceView, type OperationView, type List, render, sessionOf, tenantOf, formOf, unwrap, when } from '../kit';
import type { Problem } from '../api';
import { Confirm, Csrf, Field, Notice, ProblemBox, Table } from '../views';

export function userPages(router: Hono<ConsoleEnv>, api: ApiOf): void {
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

}
