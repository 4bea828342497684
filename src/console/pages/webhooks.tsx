// Console page of a tenant's webhook: the endpoint (set, replace, rotate), a test event, and the delivery log with replay.
import type { Hono } from 'hono';
import type { ConsoleEnv } from '../session';
import { type ApiOf, type C, type List, render, sessionOf, tenantOf, formOf, when, listQuery, nextPage } from '../kit';
import type { Problem } from '../api';
import { Csrf, Field, Notice, ProblemBox, SecretOnce, Table } from '../views';

interface EndpointView { url: string; disabled: boolean; disabledReason?: string; previousSecretExpiresAt?: string }
interface DeliveryView {
  id: string; eventId: string; eventType: string; attempt: number; at: string; outcome: 'SUCCEEDED' | 'FAILED';
  responseStatus?: number; error?: string; nextAttemptAt?: string; responseTimeMs?: number;
}

const PAGE_SIZE = 25;

/** One attempt in words, for the test event's result: what the receiver would see in its own logs. */
function attemptSummary(d: DeliveryView): string {
  const parts = [d.outcome === 'SUCCEEDED' ? 'succeeded' : 'failed'];
  if (d.responseStatus !== undefined) parts.push(`HTTP ${d.responseStatus}`);
  if (d.error) parts.push(d.error);
  if (d.responseTimeMs !== undefined) parts.push(`${d.responseTimeMs} ms`);
  return `${parts.join(', ')}${d.nextAttemptAt ? `; retried at ${when(d.nextAttemptAt)}` : ''}`;
}

export function webhookPages(router: Hono<ConsoleEnv>, api: ApiOf): void {
  type Extra = { problem?: Problem; section?: 'endpoint' | 'test' | 'log'; secret?: { label: string; value: string }; notice?: string; tested?: { eventId: string; delivery: DeliveryView } };

  async function webhookPage(c: C, extra: Extra = {}): Promise<Response> {
    const session = sessionOf(c);
    const tenantId = tenantOf(c, session);
    const client = api(c);
    const endpoint = await client.call<EndpointView>('GET', `/admin/v1/tenants/${tenantId}/webhook`, { tenantId });
    const eventId = c.req.query('eventId')?.trim() ?? '';
    // A bad cursor in the address is the API's refusal shown in the log's place, not an error page.
    const log = await client.call<List<DeliveryView>>('GET', `/v1/webhooks/deliveries?${listQuery({ eventId }, PAGE_SIZE, c.req.query('cursor'))}`, { tenantId });
    const at = (section: NonNullable<Extra['section']>) => (extra.section === section ? extra : {});
    const base = `/console/tenants/${tenantId}/webhook`;
    const next = nextPage(base, { eventId }, log, '#deliveries');

    return render(c, 'Webhook', (
      <>
        {extra.notice ? <Notice>{extra.notice}</Notice> : null}
        <section aria-labelledby="endpoint">
          <h2 id="endpoint">Endpoint</h2>
          <ProblemBox problem={at('endpoint').problem} />
          {at('endpoint').secret ? <SecretOnce label={at('endpoint').secret!.label} value={at('endpoint').secret!.value} id="webhook-secret" /> : null}
          <p>{endpoint.ok
            ? <>Events go to <code>{endpoint.data.url}</code>{endpoint.data.disabled ? ` (disabled: ${endpoint.data.disabledReason ?? 'unknown reason'}; setting the URL again re-enables it)` : ''}.</>
            : 'No webhook endpoint is set: events are not recorded until one is.'}</p>
          <form method="post" action={base} class="card">
            <Csrf session={session} />
            <Field name="url" label="Endpoint URL" type="url" required value={endpoint.ok ? endpoint.data.url : ''} hint="https to a public host" />
            <button type="submit">{endpoint.ok ? 'Replace endpoint (new secret)' : 'Set endpoint'}</button>
          </form>
          {endpoint.ok ? (
            <form method="post" action={`${base}/rotate`} class="inline">
              <Csrf session={session} />
              <button type="submit" class="secondary">Rotate the signing secret</button>
            </form>
          ) : null}
        </section>

        <section aria-labelledby="test-event">
          <h2 id="test-event">Send a test event</h2>
          <ProblemBox problem={at('test').problem} />
          {at('test').tested ? (
            <Notice>Test event <code>{at('test').tested!.eventId}</code>: {attemptSummary(at('test').tested!.delivery)}.</Notice>
          ) : null}
          <form method="post" action={`${base}/test`} class="inline">
            <Csrf session={session} />
            <button type="submit" class="secondary">Send a test event</button>
          </form>
          <p class="hint">A signed <code>webhook.test</code> event goes to the endpoint now; its first attempt is shown here and in the log.</p>
        </section>

        <section aria-labelledby="deliveries">
          <h2 id="deliveries">Delivery log</h2>
          <ProblemBox problem={at('log').problem} />
          <form method="get" action={`${base}#deliveries`} class="card" role="search" aria-label="Filter deliveries">
            <Field name="eventId" label="Event id" value={eventId} hint="evt_…: only that event's attempts" />
            <button type="submit" class="secondary">Filter</button>
            {eventId ? <a href={`${base}#deliveries`}>Show all deliveries</a> : null}
          </form>
          {!log.ok ? <ProblemBox problem={log.problem} /> : (
            <Table label="Delivery attempts, newest first" empty={eventId ? `No deliveries of ${eventId}.` : 'No deliveries yet: they appear here once an event is sent (try a test event).'}
              head={['Event type', 'Event id', 'Attempt', 'When', 'Outcome', 'HTTP status', 'Response time (ms)', 'Error', 'Next attempt', '']}
              rows={log.data.items.map((d) => [
                d.eventType, <code>{d.eventId}</code>, String(d.attempt), when(d.at), d.outcome === 'SUCCEEDED' ? 'succeeded' : 'failed',
                d.responseStatus === undefined ? '—' : String(d.responseStatus), d.responseTimeMs === undefined ? '—' : String(d.responseTimeMs),
                d.error ?? '—', when(d.nextAttemptAt),
                <form method="post" action={`${base}/deliveries/${d.id}/replay`} class="inline">
                  <Csrf session={session} />
                  <button type="submit" class="secondary" aria-label={`Replay ${d.eventType} ${d.eventId}`}>Replay</button>
                </form>,
              ])} />
          )}
          {next ? <p><a href={next}>Older deliveries</a></p> : null}
          <p class="hint">A replay sends the event again with the same <code>webhook-id</code> (receivers deduplicate on it) and a fresh signature; its attempt is added to the log.</p>
        </section>
      </>
    ), { tenantId, status: extra.problem?.status });
  }

  router.get('/tenants/:tenantId/webhook', (c) => webhookPage(c));

  router.post('/tenants/:tenantId/webhook', async (c) => {
    const { session, form } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const put = await api(c).call<{ url: string; secret: string }>('PUT', `/admin/v1/tenants/${tenantId}/webhook`, { tenantId, body: { url: form['url'] ?? '' } });
    if (!put.ok) return webhookPage(c, { problem: put.problem, section: 'endpoint' });
    return webhookPage(c, { section: 'endpoint', secret: { label: 'Webhook signing secret.', value: put.data.secret } });
  });

  router.post('/tenants/:tenantId/webhook/rotate', async (c) => {
    const { session } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const rotated = await api(c).call<{ secret: string }>('POST', `/admin/v1/tenants/${tenantId}/webhook/rotate-secret`, { tenantId });
    if (!rotated.ok) return webhookPage(c, { problem: rotated.problem, section: 'endpoint' });
    return webhookPage(c, { section: 'endpoint', secret: { label: 'New webhook signing secret (the previous one keeps signing for 24 hours).', value: rotated.data.secret } });
  });

  router.post('/tenants/:tenantId/webhook/test', async (c) => {
    const { session } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const sent = await api(c).call<{ eventId: string; delivery: DeliveryView }>('POST', '/v1/webhooks/test', { tenantId, body: {} });
    if (!sent.ok) return webhookPage(c, { problem: sent.problem, section: 'test' });
    return webhookPage(c, { section: 'test', tested: sent.data });
  });

  router.post('/tenants/:tenantId/webhook/deliveries/:deliveryId/replay', async (c) => {
    const { session } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const deliveryId = c.req.param('deliveryId');
    const replayed = await api(c).call<{ eventId: string; queuedAt: string }>('POST', `/v1/webhooks/deliveries/${encodeURIComponent(deliveryId)}/replay`, { tenantId });
    if (!replayed.ok) return webhookPage(c, { problem: replayed.problem, section: 'log' });
    return webhookPage(c, { notice: `Event ${replayed.data.eventId} is queued to be sent again (${when(replayed.data.queuedAt)}); its attempt appears in the log within seconds.` });
  });
}
