// The console's webhook page through the worker (docs/console.md): endpoint, test event, delivery log, replay; refusals write nothing.
import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids';
import { countRows, workerFetch } from '../helpers/api';
import { SoftAuthenticator } from '../helpers/soft-authenticator';
import { Receiver } from '../webhooks/harness';
import { ORIGIN, RP_ID, bootstrapOperator, cookieOf, createTenant, csrfOf, enrol, page, postForm, type Signed } from './kit';

/** What a refused console post must leave untouched: attempts, replay marks, endpoints and the audit chain. */
async function written(): Promise<number[]> {
  return [
    await countRows('webhook_deliveries'), await countRows('events'), await countRows('events', 'replay_requested_at IS NOT NULL'),
    await countRows('webhook_endpoints'), await countRows('audit_events'),
  ];
}

function replayForms(html: string, tenantId: string): string[] {
  return [...html.matchAll(new RegExp(`action="/console/tenants/${tenantId}/webhook/deliveries/(whd_[0-9a-z]+)/replay"`, 'g'))].map((m) => m[1]!);
}

describe('console webhook page', () => {
  let operator: Signed;
  let tenantA: string;
  let tenantB: string;
  let adminB: Signed;
  const receiver = Receiver.create();
  const webhookPath = () => `/console/tenants/${tenantA}/webhook`;

  beforeAll(async () => {
    operator = await bootstrapOperator();
    tenantA = await createTenant(operator.cookie, 'Tenant A');
    tenantB = await createTenant(operator.cookie, 'Tenant B');
    const csrf = await csrfOf(operator.cookie);
    const invited = await postForm('/console/invites', operator.cookie, { csrf, role: 'tenant', tenantId: tenantB });
    const invite = /\/console\/invite#(inv_[A-Za-z0-9_-]{43})/.exec(await invited.text())![1]!;
    const finished = await enrol('invite', { invite, name: 'Bea of B' }, await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN }));
    expect(finished.status).toBe(201);
    const row = await env.DB.prepare("SELECT id FROM console_admins WHERE role = 'tenant' AND tenant_id = ?1").bind(tenantB).first<{ id: string }>();
    adminB = { cookie: cookieOf(finished), adminId: row!.id };
  });

  it('before an endpoint: the page offers to set one, and the log has its empty state', async () => {
    const html = await (await page(webhookPath(), operator.cookie)).text();
    expect(html).toContain('No webhook endpoint is set');
    expect(html).toContain('>Set endpoint</button>');
    expect(html).toContain('No deliveries yet');
    expect(html).toContain(`href="/console/tenants/${tenantA}/webhook">Webhook</a>`);
  });

  it('sets the endpoint with the secret shown once; the tenant page keeps a one-line summary linking here', async () => {
    const csrf = await csrfOf(operator.cookie, webhookPath());
    const set = await postForm(webhookPath(), operator.cookie, { csrf, url: receiver.url() });
    expect(set.status).toBe(200);
    const html = await set.text();
    expect(html).toMatch(/id="webhook-secret" class="secret__value">whsec_/);
    expect(html).toContain(`Events go to <code>${receiver.url()}</code>`);

    const tenantPage = await (await page(`/console/tenants/${tenantA}`, operator.cookie)).text();
    expect(tenantPage).toContain(`<a href="/console/tenants/${tenantA}/webhook">Webhook and deliveries</a>`);
    expect(tenantPage).toContain(`Events go to <code>${receiver.url()}</code>`);
    expect(tenantPage).not.toContain(`action="/console/tenants/${tenantA}/webhook"`);
  });

  it('"Send a test event" posts through the API and shows the attempt in place; the log lists it with its response time', async () => {
    await receiver.script([{ status: 200, delayMs: 150 }]);
    const csrf = await csrfOf(operator.cookie, webhookPath());
    const sent = await postForm(`${webhookPath()}/test`, operator.cookie, { csrf });
    expect(sent.status).toBe(200);
    const html = await sent.text();
    const result = /Test event <code>(evt_[0-9a-z]+)<\/code>: succeeded, HTTP 200, (\d+) ms/.exec(html);
    expect(result, html).not.toBeNull();
    expect(Number(result![2])).toBeGreaterThanOrEqual(150);
    expect((await receiver.requests()).map((r) => r.headers.get('webhook-id'))).toEqual([result![1]]);

    const log = await (await page(webhookPath(), operator.cookie)).text();
    expect(log).toContain(`<td data-label="Event id"><code>${result![1]}</code></td>`);
    expect(log).toContain(`<td data-label="Response time (ms)">${result![2]}</td>`);
    expect(log).toContain('<td data-label="HTTP status">200</td>');
    expect(log).toContain(`aria-label="Replay webhook.test ${result![1]}"`);
    expect(replayForms(log, tenantA)).toHaveLength(1);
  });

  it('Replay through the console form (with CSRF) queues the event again, shows a notice and is audited as admin:<id>', async () => {
    const csrf = await csrfOf(operator.cookie, webhookPath());
    const [deliveryId] = replayForms(await (await page(webhookPath(), operator.cookie)).text(), tenantA);
    const before = (await receiver.requests()).length;
    const replayed = await postForm(`${webhookPath()}/deliveries/${deliveryId}/replay`, operator.cookie, { csrf });
    expect(replayed.status).toBe(200);
    const html = await replayed.text();
    expect(html).toMatch(/Event evt_[0-9a-z]+ is queued to be sent again/);
    expect(html).toContain('Delivery log');

    const requests = await receiver.waitForRequests(before + 1);
    expect(requests.at(-1)!.headers.get('webhook-id')).toBe(requests.at(-2)!.headers.get('webhook-id'));
    const audit = await env.DB.prepare("SELECT actor, target_id FROM audit_events WHERE tenant_id = ?1 AND action = 'webhook.replayed'").bind(tenantA).all<{ actor: string; target_id: string }>();
    expect(audit.results).toEqual([{ actor: `admin:${operator.adminId}`, target_id: deliveryId }]);
  });

  it('OWASP CSRF: a replay without the token, or with a wrong one, is CSRF_REFUSED (403) and queues nothing', async () => {
    const [deliveryId] = replayForms(await (await page(webhookPath(), operator.cookie)).text(), tenantA);
    const before = await written();
    const requests = (await receiver.requests()).length;
    for (const fields of [{}, { csrf: 'not-the-token' }] as Record<string, string>[]) {
      const refused = await postForm(`${webhookPath()}/deliveries/${deliveryId}/replay`, operator.cookie, fields);
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { code: string }).code).toBe('CSRF_REFUSED');
    }
    expect(await written()).toEqual(before);
    expect(await receiver.requests()).toHaveLength(requests);
  });

  it('an unknown delivery is the API problem in place (404 WEBHOOK_DELIVERY_NOT_FOUND, with the trace id) and writes nothing', async () => {
    const csrf = await csrfOf(operator.cookie, webhookPath());
    const before = await written();
    const refused = await postForm(`${webhookPath()}/deliveries/whd_00000000000000000000000000000000000/replay`, operator.cookie, { csrf }, { accept: 'text/html' });
    expect(refused.status).toBe(404);
    const html = await refused.text();
    expect(html).toContain('data-code="WEBHOOK_DELIVERY_NOT_FOUND"');
    expect(html).toMatch(/trace id <code>[^<]+<\/code>/);
    expect(html).toContain('Delivery log');
    expect(await written()).toEqual(before);
  });

  it('filters the log by event id and pages it with nextCursor; a forged cursor is shown in place', async () => {
    // 30 recorded attempts of one event, written as the delivery object writes them, to page through.
    const eventId = newId('evt');
    const rows = Array.from({ length: 30 }, (_, i) => env.DB.prepare(
      `INSERT INTO webhook_deliveries (id, event_id, tenant_id, event_type, webhook_id, attempt, at, outcome, response_status, error, next_attempt_at, response_time_ms)
       VALUES (?1, ?2, ?3, 'user.locked', ?2, ?4, ?5, 'FAILED', 500, 'HTTP_ERROR', NULL, 40)`,
    ).bind(newId('whd', Date.now() + i), eventId, tenantA, i + 1, new Date(Date.now() + i).toISOString()));
    await env.DB.batch(rows);

    const first = await (await page(`${webhookPath()}?eventId=${eventId}`, operator.cookie)).text();
    expect(replayForms(first, tenantA)).toHaveLength(25);
    expect(first).not.toContain('<td data-label="Event type">webhook.test</td>');
    expect(first).toContain('Show all deliveries');
    const next = /href="([^"]+)">Older deliveries<\/a>/.exec(first)![1]!.replaceAll('&amp;', '&');
    expect(next).toContain(`eventId=${eventId}`);
    const second = await (await page(next, operator.cookie)).text();
    expect(replayForms(second, tenantA)).toHaveLength(5);
    expect(second).not.toContain('Older deliveries');

    const unknown = await (await page(`${webhookPath()}?eventId=evt_nothing`, operator.cookie)).text();
    expect(unknown).toContain('No deliveries of evt_nothing.');
    const forged = await page(`${webhookPath()}?cursor=bm90LWEtY3Vyc29y`, operator.cookie);
    expect(forged.status).toBe(200);
    expect(await forged.text()).toContain('data-code="INVALID_CURSOR"');
  });

  describe('a tenant administrator', () => {
    it('sees their own tenant\'s webhook page', async () => {
      const own = await page(`/console/tenants/${tenantB}/webhook`, adminB.cookie);
      expect(own.status).toBe(200);
      const html = await own.text();
      expect(html).toContain('No webhook endpoint is set');
      expect(html).toContain('No deliveries yet');
    });

    it('OWASP ASVS 4.2.1: another tenant\'s webhook page, test event, endpoint and replay are CONSOLE_FORBIDDEN and write nothing', async () => {
      const response = await workerFetch(webhookPath(), { headers: { cookie: adminB.cookie } });
      expect(response.status).toBe(403);
      expect(((await response.json()) as { code: string }).code).toBe('CONSOLE_FORBIDDEN');

      const [deliveryId] = replayForms(await (await page(webhookPath(), operator.cookie)).text(), tenantA);
      const csrf = await csrfOf(adminB.cookie, `/console/tenants/${tenantB}/webhook`);
      const before = await written();
      const requests = (await receiver.requests()).length;
      for (const [path, fields] of [
        [`${webhookPath()}/deliveries/${deliveryId}/replay`, { csrf }],
        [`${webhookPath()}/test`, { csrf }],
        [webhookPath(), { csrf, url: 'https://attacker.example/hook' }],
        [`${webhookPath()}/rotate`, { csrf }],
      ] as const) {
        const refused = await postForm(path, adminB.cookie, fields);
        expect(refused.status, path).toBe(403);
        expect(((await refused.json()) as { code: string }).code).toBe('CONSOLE_FORBIDDEN');
      }
      expect(await written()).toEqual(before);
      expect(await receiver.requests()).toHaveLength(requests);
    });
  });
});
