// Console pages of users and devices: search, one user with attributes, devices and operations, and the user actions.
import type { Hono } from 'hono';
import { ApiError } from '../../errors';
import type { ConsoleEnv, ConsoleSession } from '../session';
import { type ApiOf, type C, type UserView, type DeviceView, type OperationView, type List, render, sessionOf, tenantOf, formOf, unwrap, when, listQuery, nextPage } from '../kit';
import type { Problem } from '../api';
import { Confirm, Csrf, Field, Notice, ProblemBox, Table } from '../views';

export function userPages(router: Hono<ConsoleEnv>, api: ApiOf): void {
  // ── users and devices ────────────────────────────────────────────────────────────────────────
  router.get('/tenants/:tenantId/users', async (c) => {
    const session = sessionOf(c);
    const tenantId = tenantOf(c, session);
    const search = { externalRef: (c.req.query('externalRef') ?? '').trim(), attributeKey: (c.req.query('attributeKey') ?? '').trim(), attributeValue: c.req.query('attributeValue') ?? '' };
    // One search at a time, as the API takes it: an externalRef, else an attribute's exact value, else the whole list.
    const filter: Record<string, string> = search.externalRef
      ? { externalRef: search.externalRef }
      : search.attributeKey ? { attributeKey: search.attributeKey, attributeValue: search.attributeValue } : {};
    const found = await api(c).call<List<UserView>>('GET', `/v1/users?${listQuery(filter, 25, c.req.query('cursor'))}`, { tenantId });
    const described = search.externalRef ? `the externalRef “${search.externalRef}”` : search.attributeKey ? `${search.attributeKey} = “${search.attributeValue}”` : '';
    const next = nextPage(`/console/tenants/${tenantId}/users`, filter, found);
    return render(c, 'Users', (
      <>
        {c.req.query('erased') ? <Notice>{`User ${c.req.query('erased')} is erased: attributes, devices and credentials are deleted.`}</Notice> : null}
        <form method="get" action={`/console/tenants/${tenantId}/users`} class="card search" role="search" aria-label="Find users">
          <Field name="externalRef" label="Find a user by externalRef" value={search.externalRef} />
          <p class="hint">or by an attribute's exact value:</p>
          <div class="field-row">
            <Field name="attributeKey" label="Attribute key" value={search.attributeKey} hint="e.g. email" />
            <Field name="attributeValue" label="Attribute value" value={search.attributeValue} />
          </div>
          <button type="submit">Search</button>
        </form>
        {found.ok ? (
          <>
            <Table label={described ? `Users with ${described}` : 'Users'} head={['User', 'externalRef', 'Status', 'Created']}
              empty={described ? `No user has ${described}.` : 'This tenant has no users yet.'}
              rows={found.data.items.map((u) => [<a href={`/console/tenants/${tenantId}/users/${u.id}`}><code>{u.id}</code></a>, u.externalRef ?? '—', u.status, when(u.createdAt)])} />
            {next ? <p><a href={next}>Next page</a></p> : null}
          </>
        ) : <ProblemBox problem={found.problem} />}
      </>
    ), { tenantId, status: found.ok ? 200 : found.problem.status });
  });

  async function userPage(c: C, extra: { problem?: Problem; notice?: string } = {}): Promise<Response> {
    const session = sessionOf(c);
    const tenantId = tenantOf(c, session);
    const userId = c.req.param('userId') ?? '';
    const client = api(c);
    const user = unwrap(await client.call<UserView>('GET', `/v1/users/${encodeURIComponent(userId)}`, { tenantId }));
    const devices = unwrap(await client.call<List<DeviceView>>('GET', `/v1/users/${user.id}/devices`, { tenantId })).items;
    // The user's whole history (broadcast operations no device answered too), newest first; the list page has the rest.
    const recent = await client.call<List<OperationView & { deviceId?: string }>>('GET', `/v1/operations?userId=${user.id}&limit=10`, { tenantId });
    const deviceName = (id: string | undefined): string => (id ? devices.find((d) => d.id === id)?.name ?? id : '—');
    const action = (name: 'lock' | 'unlock' | 'deactivate' | 'erase', label: string, danger: boolean) => (
      <form method="post" action={`/console/tenants/${tenantId}/users/${user.id}/${name}`} class="inline">
        <Csrf session={session} />
        <button type="submit" class={danger ? 'danger' : 'secondary'}>{label}</button>
      </form>
    );
    const deviceAction = (d: DeviceView, name: keyof typeof DEVICE_CONSEQUENCES, label: string) => (
      <form method="post" action={`/console/tenants/${tenantId}/users/${user.id}/devices/${d.id}/${name}`} class="inline">
        <Csrf session={session} />
        <button type="submit" class={name === 'deactivate' ? 'danger' : 'secondary'} aria-label={`${label} device ${d.name}`}>{label}</button>
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
          {action('erase', 'Erase user', true)}
        </div>
        <h2>Attributes</h2>
        <Table label="Attributes" head={['Key', 'Value']} empty="No attributes." rows={Object.entries(user.attributes).map(([k, v]) => [<code>{k}</code>, v])} />
        <h2>Devices</h2>
        <Table label="Devices" head={['Name', 'Kind', 'Status', 'Last used', 'Failed attempts', 'Actions']} empty="No devices are bound to this user."
          rows={devices.map((d) => [d.name, d.kind, `${d.status}${d.lockReason ? ` (${d.lockReason})` : ''}`, when(d.lastUsedAt), String(d.failedAttempts),
            d.status === 'DEACTIVATED' ? '—' : (
              <div class="actions actions--row">
                {d.status === 'ACTIVE' ? deviceAction(d, 'lock', 'Lock') : deviceAction(d, 'unlock', 'Unlock')}
                {deviceAction(d, 'deactivate', 'Deactivate')}
              </div>
            )])} />
        <h2>Recent operations</h2>
        {recent.ok ? (
          <>
            <Table label="Recent operations" head={['Operation', 'Type', 'Status', 'Device', 'Started']} empty="No operations yet."
              rows={recent.data.items.map((o) => [<a href={`/console/tenants/${tenantId}/operations/${o.id}`}><code>{o.id}</code></a>, o.type, o.status, deviceName(o.deviceId), when(o.createdAt)])} />
            {recent.data.nextCursor ? <p><a href={`/console/tenants/${tenantId}/operations?userId=${user.id}`}>All of this user's operations</a></p> : null}
          </>
        ) : <ProblemBox problem={recent.problem} />}
      </>
    ), { tenantId, status: extra.problem?.status });
  }

  router.get('/tenants/:tenantId/users/:userId', (c) => userPage(c));

  /**
   * A consequential action on the user's page: the first post shows what will happen, the confirmed one calls the API
   * and shows the user again with the outcome (or the API's refusal) in place.
   */
  async function confirmThenPost(c: C, step: {
    session: ConsoleSession; tenantId: string; userId: string; what: { button: string; text: string; done: string };
    confirmed: boolean; subject: string; action: string; api: string;
  }): Promise<Response> {
    if (!step.confirmed) {
      return render(c, step.what.button, (
        <Confirm session={step.session} action={step.action} back={`/console/tenants/${step.tenantId}/users/${step.userId}`} button={step.what.button}
          consequence={`${step.subject}: ${step.what.text}`} />
      ), { tenantId: step.tenantId });
    }
    const done = await api(c).call('POST', step.api, { tenantId: step.tenantId, body: {} });
    return userPage(c, done.ok ? { notice: step.what.done } : { problem: done.problem });
  }

  const CONSEQUENCES = {
    lock: { button: 'Lock the user', text: 'The user cannot authenticate, authorise or sign until unlocked; their live operations are cancelled now.', done: 'The user is locked.' },
    unlock: { button: 'Unlock the user', text: 'The user can use their devices again.', done: 'The user is unlocked.' },
    deactivate: { button: 'Deactivate the user', text: 'Final: every device of the user is deactivated and their live operations are cancelled. It cannot be undone.', done: 'The user is deactivated.' },
  } as const;

  // The group matters: Hono splices a param's pattern into its route regex unbracketed, so a bare `lock|unlock` would let
  // any path ending in `unlock` (a device's, say) match this route.
  router.post('/tenants/:tenantId/users/:userId/:action{(?:lock|unlock|deactivate)}', async (c) => {
    const { session, form } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const userId = c.req.param('userId');
    const name = c.req.param('action') as keyof typeof CONSEQUENCES;
    const what = CONSEQUENCES[name];
    return confirmThenPost(c, { session, tenantId, userId, what, confirmed: form['confirm'] === 'yes', subject: userId,
      action: `/console/tenants/${tenantId}/users/${userId}/${name}`, api: `/v1/users/${encodeURIComponent(userId)}/${name}` });
  });

  const DEVICE_CONSEQUENCES = {
    lock: { button: 'Lock the device', text: 'The device cannot answer operations until unlocked; the operations addressed to it are cancelled now.', done: 'The device is locked.' },
    unlock: { button: 'Unlock the device', text: 'The device can answer operations again and its failed-attempt counter restarts at 0.', done: 'The device is unlocked.' },
    deactivate: { button: 'Deactivate the device', text: 'Final: the device never answers an operation again; the user must register a new one. It cannot be undone.', done: 'The device is deactivated.' },
  } as const;

  router.post('/tenants/:tenantId/users/:userId/devices/:deviceId/:action{(?:lock|unlock|deactivate)}', async (c) => {
    const { session, form } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const userId = c.req.param('userId');
    const name = c.req.param('action') as keyof typeof DEVICE_CONSEQUENCES;
    const what = DEVICE_CONSEQUENCES[name];
    // The device must be this user's: a page about one user never changes another's device.
    const device = unwrap(await api(c).call<DeviceView & { userId: string }>('GET', `/v1/devices/${encodeURIComponent(c.req.param('deviceId'))}`, { tenantId }));
    if (device.userId !== userId) throw new ApiError('DEVICE_NOT_FOUND', `User ${userId} has no device ${device.id}.`);
    return confirmThenPost(c, { session, tenantId, userId, what, confirmed: form['confirm'] === 'yes', subject: `${device.name} (${device.id})`,
      action: `/console/tenants/${tenantId}/users/${userId}/devices/${device.id}/${name}`, api: `/v1/devices/${device.id}/${name}` });
  });

  // Erasure cannot be undone, so the confirmation asks for the user's reference typed out, not one more click.
  router.post('/tenants/:tenantId/users/:userId/erase', async (c) => {
    const { session, form } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const user = unwrap(await api(c).call<UserView>('GET', `/v1/users/${encodeURIComponent(c.req.param('userId'))}`, { tenantId }));
    const expected = user.externalRef ?? user.id;
    const typedRight = form['confirm'] === 'yes' && (form['typed'] ?? '').trim() === expected;
    if (!typedRight) {
      const problem: Problem | undefined = form['confirm'] === 'yes'
        ? { status: 422, code: 'CONFIRMATION_MISMATCH', title: 'The text does not match', detail: `Type ${expected} exactly; nothing was erased.`, traceId: c.get('traceId') }
        : undefined;
      return render(c, 'Erase the user', (
        <Confirm session={session} action={`/console/tenants/${tenantId}/users/${user.id}/erase`} back={`/console/tenants/${tenantId}/users/${user.id}`} button="Erase the user for good"
          consequence={`${expected}: every attribute, device and passkey of this user is deleted and their live operations are cancelled. This cannot be undone: the user must enrol again from nothing. The audit log keeps only ids and attribute keys.`}
          typeToConfirm={{ expected, problem }} />
      ), { tenantId, status: problem ? 422 : 200 });
    }
    const erased = await api(c).call('DELETE', `/v1/users/${user.id}`, { tenantId });
    if (!erased.ok) return userPage(c, { problem: erased.problem });
    return c.redirect(`/console/tenants/${tenantId}/users?erased=${encodeURIComponent(user.id)}`, 303);
  });

}
