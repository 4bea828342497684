// The console's operations pages (docs/console.md): the list with filters, one operation's timeline and result token,
// Try it out (which starts a real operation through the API, or nothing on bad input), CSRF and tenant boundaries.
import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../helpers/api';
import { countRows, setupTenant, workerFetch } from '../helpers/api';
import { approve, createUser, enrolled, startOperation } from '../helpers/ceremony';
import { SoftAuthenticator } from '../helpers/soft-authenticator';
import { verdictOf } from '../../src/console/client/result-token';
import { ORIGIN, RP_ID, bootstrapOperator, cookieOf, csrfOf, enrol, page, postForm, type Signed } from './kit';

/** Page text as a reader sees it: the few entities hono/jsx writes for text and attributes, decoded. */
const decoded = (html: string): string =>
  html.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');

async function html(path: string, cookie: string, status = 200): Promise<string> {
  const response = await page(path, cookie);
  const text = await response.text();
  expect(response.status, text.slice(0, 500)).toBe(status);
  return decoded(text);
}

describe('console operations', () => {
  let operator: Signed;
  let api: Api;
  let tenantId: string;
  let userId: string;
  let authenticator: SoftAuthenticator;
  let completedId: string;
  let pendingId: string;
  let otherTenantId: string;
  let otherOperationId: string;
  /** A tenant administrator of the other tenant. */
  let stranger: Signed;

  beforeAll(async () => {
    operator = await bootstrapOperator();
    const setup = await enrolled();
    ({ api, tenantId, userId, authenticator } = setup);
    expect((await api(`/v1/users/${userId}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ externalRef: 'ada' }) })).status).toBe(200);
    const done = await approve(api, authenticator, { type: 'AUTHENTICATION', userId, context: { title: 'Log in to the bank' } });
    expect(done.finish.status).toBe(200);
    completedId = done.op.id;
    pendingId = (await startOperation(api, { type: 'AUTHORISATION', userId, push: false, transaction: { amount: '12.50', currency: 'EUR', payee: { name: 'Ada Shop' } } })).id;

    const other = await setupTenant();
    otherTenantId = other.tenant.id;
    otherOperationId = (await startOperation(other.api, { type: 'REGISTRATION', userId: (await createUser(other.api)).id })).id;
    const csrf = await csrfOf(operator.cookie);
    const invited = await postForm('/console/invites', operator.cookie, { csrf, role: 'tenant', tenantId: otherTenantId });
    const invite = /\/console\/invite#(inv_[A-Za-z0-9_-]{43})/.exec(await invited.text())![1]!;
    const finished = await enrol('invite', { invite, name: 'Sam Stranger' }, await SoftAuthenticator.create({ rpId: RP_ID, origin: ORIGIN }));
    expect(finished.status).toBe(201);
    const row = await env.DB.prepare("SELECT id FROM console_admins WHERE role = 'tenant' AND tenant_id = ?1").bind(otherTenantId).first<{ id: string }>();
    stranger = { cookie: cookieOf(finished), adminId: row!.id };
  });

  it('the list shows the tenant’s operations newest first with links, the labelled filters narrow it, and the live control is there', async () => {
    const all = await html(`/console/tenants/${tenantId}/operations`, operator.cookie);
    expect(all).toContain(`href="/console/tenants/${tenantId}/operations/${completedId}"`);
    expect(all.indexOf(pendingId)).toBeLessThan(all.indexOf(completedId));
    expect(all).toMatch(/<label for="f-type">Type<\/label>\s*<select id="f-type" name="type">/);
    expect(all).toMatch(/<label for="f-status">Status<\/label>\s*<select id="f-status" name="status">/);
    expect(all).toMatch(/<button type="button" class="secondary" data-live-toggle="true" aria-pressed="false"[^>]*>Pause live updates<\/button>/);
    expect(all).toContain('id="operations-results" data-live-region');
    expect(all).toContain('href="/console/tenants/' + tenantId + '/operations">Operations</a>');
    expect(all).toContain('href="/console/tenants/' + tenantId + '/try">Try it out</a>');

    const authorisations = await html(`/console/tenants/${tenantId}/operations?type=AUTHORISATION&status=`, operator.cookie);
    expect(authorisations).toContain(pendingId);
    expect(authorisations).not.toContain(completedId);
    expect(authorisations).toContain('<option value="AUTHORISATION" selected="">AUTHORISATION</option>');
    const none = await html(`/console/tenants/${tenantId}/operations?type=SIGNATURE`, operator.cookie);
    expect(none).toContain('No operation matches these filters.');
    // Another tenant's operations never appear.
    expect(all).not.toContain(otherOperationId);
  });

  it('pages with the API’s cursor, keeping the filter', async () => {
    const first = await html(`/console/tenants/${tenantId}/operations?status=COMPLETED`, operator.cookie);
    // The registration and the authentication: fewer than a page, so no link to older ones.
    expect(first).not.toContain('Older operations</a>');
    // 25 older ones (their ids from before this test's operations, as ids are time-ordered), so the list has two pages.
    const old = (i: number): string => `op_05${'y'.repeat(32)}${String(i).padStart(2, '0')}`;
    for (let i = 0; i < 25; i += 1) {
      await env.DB.prepare("INSERT INTO operations (id, tenant_id, user_id, device_id, type, status, created_at, expires_at, completed_at, summary) VALUES (?1, ?2, ?3, NULL, 'AUTHENTICATION', 'COMPLETED', ?4, ?4, ?4, '{}')")
        .bind(old(i), tenantId, userId, '2026-01-01T00:00:00.000Z').run();
    }
    const full = await html(`/console/tenants/${tenantId}/operations?status=COMPLETED`, operator.cookie);
    expect(full).toContain(completedId);
    expect(full).toContain(old(2));
    const older = /href="(\/console\/tenants\/[^"]+\?status=COMPLETED&cursor=[^"]+)">Older operations/.exec(full);
    expect(older).not.toBeNull();
    const second = await html(older![1]!, operator.cookie);
    expect(second).toContain(old(1));
    expect(second).toContain(old(0));
    expect(second).not.toContain(old(2));
    expect(second).not.toContain(completedId);
    expect(second).toContain('Newest operations</a>');
    expect(second).not.toContain('Older operations</a>');
  });

  it('a tampered filter in the address is shown as the API’s VALIDATION_FAILED', async () => {
    const text = await html(`/console/tenants/${tenantId}/operations?type=LOGIN`, operator.cookie, 400);
    expect(text).toContain('data-code="VALIDATION_FAILED"');
  });

  it('a completed operation shows its facts, an ordered timeline, and the result token decoded with a status region for the verdict', async () => {
    const api_view = (await (await api(`/v1/operations/${completedId}`)).json()) as { result: { token: string; deviceId: string } };
    const text = await html(`/console/tenants/${tenantId}/operations/${completedId}`, operator.cookie);
    expect(text).toContain('<dd data-testid="operation-status">COMPLETED</dd>');
    expect(text).toContain('Log in to the bank');
    const timeline = /<ol class="timeline"[^>]*>([\s\S]*?)<\/ol>/.exec(text)![1]!;
    const steps = [...timeline.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => m[1]!);
    expect(steps).toHaveLength(2);
    expect(steps[0]).toContain('Started');
    expect(steps[1]).toContain(`COMPLETED on device ${api_view.result.deviceId}`);
    // The header and payload as pretty JSON, and the token itself for the page's script to verify.
    const header = JSON.parse(/data-testid="token-header">([\s\S]*?)<\/pre>/.exec(text)![1]!) as Record<string, unknown>;
    expect(header).toMatchObject({ alg: 'ES256', typ: 'custos-result+jwt' });
    const payload = JSON.parse(/data-testid="token-payload">([\s\S]*?)<\/pre>/.exec(text)![1]!) as Record<string, unknown>;
    expect(payload).toMatchObject({ iss: 'https://custos.test', aud: tenantId, sub: userId, jti: completedId, op: 'AUTHENTICATION' });
    expect(text).toContain(`data-result-token="${api_view.result.token}" data-issuer="https://custos.test" data-audience="${tenantId}" data-operation="${completedId}"`);
    expect(text).toMatch(/<p class="verdict" role="status" data-verdict="true">Not checked yet: [^<]*key [^<]+<\/p>/);
    // A final operation is not watched.
    expect(text).not.toContain('data-watch=');
  });

  it('the page script’s check (the same module) verifies the token against the public JWKS and names what fails', async () => {
    const token = ((await (await api(`/v1/operations/${completedId}`)).json()) as { result: { token: string } }).result.token;
    const jwks = await (await workerFetch('/.well-known/jwks.json')).json<{ keys: { kid: string }[] }>();
    const expected = { issuer: 'https://custos.test', audience: tenantId, operationId: completedId };
    const good = await verdictOf(token, jwks, expected);
    expect(good).toMatchObject({ ok: true, kid: JSON.parse(atob(token.split('.')[0]!.replaceAll('-', '+').replaceAll('_', '/'))).kid });
    expect(good.text).toMatch(/^Signature verified with key sig-/);
    // One claim changed, the signature kept: the signature no longer matches.
    const [header, body, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(body.replaceAll('-', '+').replaceAll('_', '/')), (ch) => ch.charCodeAt(0)))) as Record<string, unknown>;
    const forged = btoa(JSON.stringify({ ...claims, sub: 'usr_someone_else' })).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
    expect((await verdictOf(`${header}.${forged}.${signature}`, jwks, expected)).text).toMatch(/^NOT verified: ERR_JWS_SIGNATURE_VERIFICATION_FAILED/);
    expect((await verdictOf(token, jwks, { ...expected, audience: otherTenantId })).text).toMatch(/^NOT verified: ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "aud"/);
    expect((await verdictOf(token, jwks, { ...expected, issuer: 'https://evil.example' })).text).toMatch(/^NOT verified: ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "iss"/);
    expect((await verdictOf(token, jwks, { ...expected, operationId: pendingId })).text).toContain('NOT verified: the token names operation');
    expect((await verdictOf(token, { keys: [] }, expected)).text).toMatch(/^NOT verified: ERR_JWKS_NO_MATCHING_KEY/);
  });

  it('without a kept token (D1 history only) the page says so plainly; the timeline shows each push notification in order', async () => {
    const old = `op_05${'y'.repeat(32)}03`;
    const text = await html(`/console/tenants/${tenantId}/operations/${old}`, operator.cookie);
    expect(text).toContain('No result token is kept any more');
    expect(text).not.toContain('data-result-token');

    // A pushed operation that expired, as its history row keeps it (src/storage/finalise.ts writes summary.notifications).
    const pushed = `op_05${'x'.repeat(34)}`;
    const notifications = [
      { deviceId: 'dev_b', channel: 'FCM', status: 'FAILED', attempts: 3, at: '2026-01-01T00:00:20.000Z', reason: 'HTTP_500' },
      { deviceId: 'dev_a', channel: 'WEB_PUSH', status: 'WITHDRAWN', attempts: 1, at: '2026-01-01T00:00:01.000Z', closedAt: '2026-01-01T00:05:00.000Z' },
    ];
    await env.DB.prepare("INSERT INTO operations (id, tenant_id, user_id, device_id, type, status, created_at, expires_at, completed_at, failure_code, summary) VALUES (?1, ?2, ?3, NULL, 'SIGNATURE', 'EXPIRED', '2026-01-01T00:00:00.000Z', '2026-01-01T00:05:00.000Z', '2026-01-01T00:05:00.000Z', 'EXPIRED', ?4)")
      .bind(pushed, tenantId, userId, JSON.stringify({ document: { title: 'Terms v3', mimeType: 'text/plain', sha256: 'ab'.repeat(32) }, notifications })).run();
    const history = await html(`/console/tenants/${tenantId}/operations/${pushed}`, operator.cookie);
    expect(history).toContain(`Terms v3 (text/plain), SHA-256 <code>${'ab'.repeat(32)}</code>`);
    expect(history).toContain('<dt>Failure</dt><dd><code>EXPIRED</code></dd>');
    const steps = [...(/<ol class="timeline"[^>]*>([\s\S]*?)<\/ol>/.exec(history)![1]!).matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => m[1]!.replace(/<[^>]+>/g, ''));
    expect(steps).toEqual([
      '2026-01-01 00:00:00 UTC Started',
      '2026-01-01 00:00:01 UTC Push notification to device dev_a by WEB_PUSH: WITHDRAWN, closed 2026-01-01 00:05:00 UTC',
      '2026-01-01 00:00:20 UTC Push notification to device dev_b by FCM: FAILED after 3 attempts (HTTP_500)',
      '2026-01-01 00:05:00 UTC EXPIRED (EXPIRED)',
    ]);
    expect(history).toContain('An operation has a result token only once it is COMPLETED.');
  });

  it('Try it out starts an AUTHORISATION for an externalRef through the API, audited as the administrator, and opens its live page', async () => {
    const before = await countRows('operations', 'tenant_id = ?1', tenantId);
    const csrf = await csrfOf(operator.cookie, `/console/tenants/${tenantId}/try`);
    const response = await postForm(`/console/tenants/${tenantId}/try`, operator.cookie, {
      csrf, user: 'ada', type: 'AUTHORISATION', amount: '99.90', currency: 'eur', payee: 'Bob Books', title: 'Pay Bob', message: 'Order 7',
    });
    expect(response.status, await response.clone().text()).toBe(303);
    const location = response.headers.get('location') ?? '';
    const [path, fragment] = location.split('#');
    const operationId = new RegExp(`^/console/tenants/${tenantId}/operations/(op_[0-9a-z]{36})$`).exec(path!)![1]!;
    const deviceUrl = new URLSearchParams(fragment).get('device');
    expect(deviceUrl).toMatch(new RegExp(`^https://custos\\.test/app/#op=${operationId}&token=sdk_`));

    expect(await countRows('operations', 'tenant_id = ?1', tenantId)).toBe(before + 1);
    const row = await env.DB.prepare('SELECT type, status, user_id, summary FROM operations WHERE id = ?1').bind(operationId).first<{ type: string; status: string; user_id: string; summary: string }>();
    expect(row).toMatchObject({ type: 'AUTHORISATION', status: 'PENDING', user_id: userId });
    expect(JSON.parse(row!.summary)).toMatchObject({ context: { title: 'Pay Bob', text: 'Order 7' }, transaction: { amount: '99.90', currency: 'EUR', payee: { name: 'Bob Books' } } });
    const audit = await env.DB.prepare("SELECT actor FROM audit_events WHERE action = 'operation.started' AND target_id = ?1").bind(operationId).first<{ actor: string }>();
    expect(audit?.actor).toBe(`admin:${operator.adminId}`);

    const detail = await html(path!, operator.cookie);
    expect(detail).toContain('<dd data-testid="operation-status">PENDING</dd>');
    expect(detail).toContain('99.90 EUR to Bob Books');
    expect(detail).toContain(`data-watch="/console/api/tenants/${tenantId}/operations/${operationId}" data-status="PENDING" data-app-base="https://custos.test/app/"`);
    expect(detail).toContain('An operation has a result token only once it is COMPLETED.');
    // The sdk token was in the redirect's fragment only: the page itself never carries it.
    expect(detail).not.toContain(new URLSearchParams(deviceUrl!.split('#')[1]).get('token')!);
  });

  it('Try it out with bad input shows the problem in place, keeps what was typed, and starts nothing', async () => {
    const before = await countRows('operations');
    const csrf = await csrfOf(operator.cookie, `/console/tenants/${tenantId}/try`);
    const unknown = await postForm(`/console/tenants/${tenantId}/try`, operator.cookie, { csrf, user: 'nobody-here', type: 'AUTHENTICATION', title: 'Hello there' }, { accept: 'text/html' });
    expect(unknown.status).toBe(404);
    const unknownText = decoded(await unknown.text());
    expect(unknownText).toContain('data-code="USER_NOT_FOUND"');
    expect(unknownText).toContain('No user has the externalRef “nobody-here”.');
    expect(unknownText).toContain('value="nobody-here"');
    expect(unknownText).toContain('value="Hello there"');

    const noAmount = await postForm(`/console/tenants/${tenantId}/try`, operator.cookie, { csrf, user: 'ada', type: 'AUTHORISATION', currency: 'EUR', payee: 'Kept Payee' }, { accept: 'text/html' });
    expect(noAmount.status).toBe(400);
    const noAmountText = decoded(await noAmount.text());
    expect(noAmountText).toContain('data-code="VALIDATION_FAILED"');
    expect(noAmountText).toMatch(/<code>transaction\.amount<\/code>/);
    expect(noAmountText).toContain('value="Kept Payee"');
    expect(noAmountText).toMatch(/<input type="radio" name="type" value="AUTHORISATION" checked=""/);
    expect(await countRows('operations')).toBe(before);
  });

  it('Try it out without the CSRF token is 403 CSRF_REFUSED and starts nothing', async () => {
    const before = await countRows('operations');
    const refused = await postForm(`/console/tenants/${tenantId}/try`, operator.cookie, { user: 'ada', type: 'AUTHENTICATION' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { code: string }).code).toBe('CSRF_REFUSED');
    const wrong = await postForm(`/console/tenants/${tenantId}/try`, operator.cookie, { csrf: 'x'.repeat(48), user: 'ada', type: 'AUTHENTICATION' });
    expect(wrong.status).toBe(403);
    expect(await countRows('operations')).toBe(before);
  });

  it('OWASP ASVS 4.2.1: a tenant administrator of another tenant gets CONSOLE_FORBIDDEN on every operations page and starts nothing', async () => {
    for (const path of [`/console/tenants/${tenantId}/operations`, `/console/tenants/${tenantId}/operations/${completedId}`, `/console/tenants/${tenantId}/try`]) {
      const response = await workerFetch(path, { headers: { cookie: stranger.cookie } });
      expect(response.status, path).toBe(403);
      expect(((await response.json()) as { code: string }).code).toBe('CONSOLE_FORBIDDEN');
    }
    const csrf = await csrfOf(stranger.cookie, `/console/tenants/${otherTenantId}/try`);
    const before = await countRows('operations');
    const refused = await postForm(`/console/tenants/${tenantId}/try`, stranger.cookie, { csrf, user: userId, type: 'AUTHENTICATION' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { code: string }).code).toBe('CONSOLE_FORBIDDEN');
    expect(await countRows('operations')).toBe(before);
    // Their own tenant's pages work.
    expect(await html(`/console/tenants/${otherTenantId}/operations`, stranger.cookie)).toContain(otherOperationId);
  });

  it('the JSON poll route answers the API’s view for the tenant, refuses another tenant, and finds no other tenant’s operation', async () => {
    const own = await workerFetch(`/console/api/tenants/${tenantId}/operations/${completedId}`, { headers: { cookie: operator.cookie } });
    expect(own.status).toBe(200);
    expect(own.headers.get('cache-control')).toBe('no-store');
    expect(((await own.json()) as { status: string; result?: { token: string } })).toMatchObject({ id: completedId, status: 'COMPLETED', result: { token: expect.any(String) } });

    const forbidden = await workerFetch(`/console/api/tenants/${tenantId}/operations/${completedId}`, { headers: { cookie: stranger.cookie } });
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { code: string }).code).toBe('CONSOLE_FORBIDDEN');
    // An operator naming one tenant and another tenant's operation: the API looks in the named tenant only.
    const crossed = await workerFetch(`/console/api/tenants/${tenantId}/operations/${otherOperationId}`, { headers: { cookie: operator.cookie } });
    expect(crossed.status).toBe(404);
    expect(((await crossed.json()) as { code: string }).code).toBe('OPERATION_NOT_FOUND');
    const anonymous = await workerFetch(`/console/api/tenants/${tenantId}/operations/${completedId}`);
    expect(anonymous.status).toBe(401);
  });
});
