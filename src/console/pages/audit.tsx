// Console pages of the audit log: a tenant's chain and the console's own, with the hash-chain verification.
import type { Hono } from 'hono';
import type { ConsoleEnv } from '../session';
import { type ApiOf, type C, type AuditView, type ChainView, type List, render, sessionOf, requireOperator, tenantOf, unwrap, when } from '../kit';
import { Table } from '../views';
import { CONSOLE_AUDIT_CHAIN } from '../ceremonies';

export function auditPages(router: Hono<ConsoleEnv>, api: ApiOf): void {
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

}
