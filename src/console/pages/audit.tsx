// Console pages of the audit log: a tenant's chain and the console's own, with the hash-chain verification.
import type { Hono } from 'hono';
import type { ConsoleEnv } from '../session';
import { type ApiOf, type C, type AuditView, type ChainView, type List, render, sessionOf, requireOperator, tenantOf, unwrap, when, listQuery, nextPage } from '../kit';
import { Field, ProblemBox, Select, Table } from '../views';
import { CONSOLE_AUDIT_CHAIN } from '../ceremonies';

const FILTERS = [
  { name: 'action', label: 'Action', hint: 'user.locked, or a family: user.' },
  { name: 'actor', label: 'Actor', hint: 'client:cli_…, admin:adm_… or admin' },
  { name: 'targetId', label: 'Target id', hint: 'a user, device, operation or client id' },
  { name: 'userId', label: 'User id', hint: 'everything about one user' },
  { name: 'since', label: 'From (UTC)', hint: '2026-12-08 or 2026-12-08T09:30' },
  { name: 'until', label: 'Until (UTC)', hint: 'inclusive' },
] as const;
type FilterName = (typeof FILTERS)[number]['name'];

/** A date or a date and time typed in the page, read as UTC and completed to the API's instant; anything else is passed on for the API to refuse. */
function asUtcInstant(text: string, end: boolean): string {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(:\d{2})?)?$/.exec(text);
  if (!m) return text;
  // "Until 2026-12-08" means to the end of that day (or minute), as a reader would take it.
  if (!m[2]) return `${m[1]}T${end ? '23:59:59.999' : '00:00:00'}Z`;
  return `${m[1]}T${m[2]}${m[3] ?? (end ? ':59.999' : ':00')}Z`;
}

export function auditPages(router: Hono<ConsoleEnv>, api: ApiOf): void {
  // ── audit ────────────────────────────────────────────────────────────────────────────────────
  async function auditPage(c: C, chain: string, tenantId: string | undefined): Promise<Response> {
    const client = api(c);
    // The page's filters, passed to the API as typed (its validation names a wrong one); times are read as UTC.
    const typed = Object.fromEntries(FILTERS.map((f) => [f.name, (c.req.query(f.name) ?? '').trim()])) as Record<FilterName, string>;
    const order = c.req.query('order') === 'asc' ? 'asc' : 'desc';
    const sent = { ...typed, since: typed.since && asUtcInstant(typed.since, false), until: typed.until && asUtcInstant(typed.until, true), order };
    const query = listQuery(sent, 50, c.req.query('cursor'));
    const verification = unwrap(await client.call<ChainView>('GET', '/v1/audit-events/verify', { tenantId: chain }));
    const events = await client.call<List<AuditView>>('GET', `/v1/audit-events?${query}`, { tenantId: chain });
    const base = tenantId ? `/console/tenants/${tenantId}/audit` : '/console/audit';
    const filtered = FILTERS.some((f) => typed[f.name]);
    const next = nextPage(base, { ...typed, order }, events);
    return render(c, tenantId ? 'Audit log' : 'Console audit log', (
      <>
        <div class={verification.valid ? 'verdict verdict--ok' : 'verdict verdict--bad'} role="status" data-valid={String(verification.valid)}>
          {verification.valid
            ? <p><strong>The hash chain is intact.</strong> {`${verification.checked} entries checked; head #${verification.headSeq}.`}</p>
            : <p><strong>The hash chain is broken</strong> {`at entry #${verification.brokenAtSeq ?? '?'} (${verification.reason ?? 'unknown'}).`}</p>}
          <p class="hint">Keep the head hash to notice a truncated tail later: <code>{verification.headHash}</code></p>
        </div>
        <form method="get" action={base} class="card search" role="search" aria-label="Filter audit events">
          <div class="field-row">
            {FILTERS.map((f) => <Field name={f.name} label={f.label} hint={f.hint} value={typed[f.name]} />)}
          </div>
          <Select name="order" label="Order" value={order} options={[{ value: 'desc', label: 'Newest first' }, { value: 'asc', label: 'Chain order (oldest first)' }]} />
          <div class="actions">
            <button type="submit">Filter</button>
            {filtered ? <a class="button secondary" href={base}>Clear filters</a> : null}
          </div>
        </form>
        {events.ok ? (
          <>
            <Table label="Audit events" head={['#', 'When', 'Actor', 'Action', 'Target']} empty={filtered ? 'No audit event matches these filters.' : 'No audit events yet.'}
              rows={events.data.items.map((e) => [String(e.seq), when(e.at), <code>{e.actor}</code>, e.action, <code>{`${e.targetType} ${e.targetId}`}</code>])} />
            {next ? <p><a href={next}>Next page</a></p> : null}
          </>
        ) : <ProblemBox problem={events.problem} />}
        {tenantId ? null : <p class="hint">Deployment-wide console events (operators enrolled, sign-ins, operator invitations) are chained under “console”.</p>}
      </>
    ), { tenantId, status: events.ok ? 200 : events.problem.status });
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

}
