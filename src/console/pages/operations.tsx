// Console pages of operations: the tenant's history (live), one operation with its timeline and result token, and "Try it out".
import type { Context, Hono } from 'hono';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { AppEnv } from '../../env';
import { ERROR_CODES } from '../../errors';
import { isId } from '../../domain/ids';
import { FINAL_STATUSES, OPERATION_STATUSES, OPERATION_TYPES } from '../../domain/operation-state';
import type { OperationView } from '../../schemas/operations';
import type { Problem } from '../api';
import { type ApiOf, type C, type List, type UserView, formOf, render, sessionOf, tenantOf, unwrap, when, listQuery, nextPage } from '../kit';
import { consoleRelyingParty, type ConsoleEnv, type ConsoleSession } from '../session';
import { Csrf, Field, ProblemBox, Select, Table } from '../views';

/** The types an administrator can start here; a REGISTRATION binds a device, which is the user's own step, not a trial. */
const TRY_TYPES = ['AUTHENTICATION', 'AUTHORISATION', 'SIGNATURE'] as const;
const PAGE_SIZE = 25;

const isFinal = (status: string): boolean => (FINAL_STATUSES as readonly string[]).includes(status);

/** A filter's choices: "any" first, then the fixed values as themselves. */
const choices = (any: string, values: readonly string[]) => [{ value: '', label: any }, ...values.map((v) => ({ value: v, label: v }))];

export function operationPages(router: Hono<ConsoleEnv>, api: ApiOf): void {
  // ── the tenant's operations ──────────────────────────────────────────────────────────────────
  router.get('/tenants/:tenantId/operations', async (c) => {
    const session = sessionOf(c);
    const tenantId = tenantOf(c, session);
    const filter = { type: c.req.query('type') ?? '', status: c.req.query('status') ?? '', userId: (c.req.query('userId') ?? '').trim() };
    const cursor = c.req.query('cursor') ?? '';
    // Whatever the address says goes to the API as is: its validation names a bad filter or cursor, shown in place.
    const found = await api(c).call<List<OperationView>>('GET', `/v1/operations?${listQuery(filter, PAGE_SIZE, cursor)}`, { tenantId });
    const base = `/console/tenants/${tenantId}/operations`;
    const filtered = new URLSearchParams(Object.entries(filter).filter(([, v]) => v !== ''));
    const older = nextPage(base, filter, found);
    return render(c, 'Operations', (
      <>
        <form method="get" action={base} class="card search" role="search" aria-label="Filter operations">
          <div class="field-row">
            <Select name="type" label="Type" options={choices('Any type', OPERATION_TYPES)} value={filter.type} />
            <Select name="status" label="Status" options={choices('Any status', OPERATION_STATUSES)} value={filter.status} />
            <Field name="userId" label="User id" value={filter.userId} hint="usr_…: one user's operations" />
          </div>
          <button type="submit">Show operations</button>
        </form>
        {/* The console script refreshes this region from the same address while the tab is visible (client/console.ts). */}
        <div class="live-controls" data-live-controls hidden>
          <button type="button" class="secondary" data-live-toggle aria-pressed="false" aria-controls="operations-results">Pause live updates</button>
          <span class="live-status" role="status" aria-live="polite" data-live-status></span>
        </div>
        <div id="operations-results" data-live-region>
          {found.ok ? (
            <>
              <Table label={cursor ? 'Older operations' : 'Operations, newest first'} head={['Operation', 'Type', 'Status', 'User', 'Device', 'Started', 'Finalised']}
                empty={filtered.size > 0 ? 'No operation matches these filters.' : 'This tenant has no operations yet. Start one with “Try it out”.'}
                rows={found.data.items.map((o) => [
                  <a href={`${base}/${o.id}`}><code>{o.id}</code></a>, o.type, <span data-status={o.status}>{o.status}</span>,
                  <a href={`/console/tenants/${tenantId}/users/${o.userId}`}><code>{o.userId}</code></a>,
                  o.deviceId ? <code>{o.deviceId}</code> : '—', when(o.createdAt), isFinal(o.status) ? when(o.completedAt) : '—',
                ])} />
              <nav aria-label="Pages of operations" class="actions">
                {cursor ? <a class="button secondary" href={filtered.size > 0 ? `${base}?${filtered}` : base}>Newest operations</a> : null}
                {older ? <a class="button secondary" href={older}>Older operations</a> : null}
              </nav>
            </>
          ) : <ProblemBox problem={found.problem} />}
        </div>
      </>
    ), { tenantId, status: found.ok ? undefined : found.problem.status });
  });

  // ── one operation ────────────────────────────────────────────────────────────────────────────
  router.get('/tenants/:tenantId/operations/:operationId', async (c) => {
    const session = sessionOf(c);
    const tenantId = tenantOf(c, session);
    const operationId = c.req.param('operationId');
    const op = unwrap(await api(c).call<OperationView>('GET', `/v1/operations/${encodeURIComponent(operationId)}`, { tenantId }));
    const live = !isFinal(op.status);
    const base = `/console/tenants/${tenantId}`;
    return render(c, `Operation ${op.id}`, (
      <>
        <dl class="facts">
          <dt>Type</dt><dd>{op.type}</dd>
          <dt>Status</dt><dd data-testid="operation-status">{op.status}</dd>
          <dt>User</dt><dd><a href={`${base}/users/${op.userId}`}><code>{op.userId}</code></a></dd>
          <dt>Device</dt><dd>{op.deviceId ? <code>{op.deviceId}</code> : 'any active device of the user (broadcast)'}</dd>
          {op.context ? <><dt>Context</dt><dd>{op.context.title}{op.context.text ? `: ${op.context.text}` : ''}</dd></> : null}
          {op.transaction ? <><dt>Transaction</dt><dd>{transactionText(op.transaction)}</dd></> : null}
          {op.transactions ? <><dt>Transactions</dt><dd>{`${op.transactions.length} payments, total ${op.total?.amount ?? '?'} ${op.total?.currency ?? ''}`}<ul>{op.transactions.map((t) => <li>{transactionText(t)}</li>)}</ul></dd></> : null}
          {op.document ? <><dt>Document</dt><dd>{`${op.document.title ?? 'untitled'} (${op.document.mimeType}), SHA-256 `}<code>{op.document.sha256}</code></dd></> : null}
          {op.numberMatch ? <><dt>Number to match</dt><dd>{op.numberMatch}</dd></> : null}
          {op.failure ? <><dt>Failure</dt><dd><code>{op.failure.code}</code></dd></> : null}
        </dl>
        {live ? <DeviceLink op={op} pollUrl={`/console/api/tenants/${tenantId}/operations/${op.id}`} appBase={`${consoleRelyingParty(c as unknown as Context<AppEnv>).origin}/app/`} /> : null}
        <h2 id="timeline-title">Timeline</h2>
        <ol class="timeline" aria-labelledby="timeline-title">
          {timelineOf(op).map((step) => <li><span class="timeline__when">{step.at ? when(step.at) : 'time not recorded'}</span> {step.what}</li>)}
        </ol>
        <h2>Result token</h2>
        {op.result ? <ResultToken token={op.result.token} issuer={consoleRelyingParty(c as unknown as Context<AppEnv>).origin} tenantId={tenantId} operationId={op.id} />
          : <p>{op.status === 'COMPLETED'
            ? 'No result token is kept any more: the service keeps it for 24 hours after the operation ends, then shows the operation from its history in D1 only.'
            : 'An operation has a result token only once it is COMPLETED.'}</p>}
        <p><a href={`${base}/operations`}>All operations</a></p>
      </>
    ), { tenantId });
  });

  // What the detail page's script long-polls while the operation is live: the API's view, held up to 25 s until it is final.
  router.get('/api/tenants/:tenantId/operations/:operationId', async (c) => {
    const session = sessionOf(c);
    const tenantId = tenantOf(c, session);
    const op = unwrap(await api(c).call<OperationView>('GET', `/v1/operations/${encodeURIComponent(c.req.param('operationId'))}?wait=25`, { tenantId }));
    c.header('cache-control', 'no-store');
    return c.json(op);
  });

  // ── Try it out ───────────────────────────────────────────────────────────────────────────────
  router.get('/tenants/:tenantId/try', (c) => tryPage(c, sessionOf(c), {}));

  router.post('/tenants/:tenantId/try', async (c) => {
    const { session, form } = await formOf(c);
    const tenantId = tenantOf(c, session);
    const client = api(c);
    const userRef = (form['user'] ?? '').trim();
    const userId = await resolveUser(c, tenantId, userRef);
    if (typeof userId !== 'string') return tryPage(c, session, form, userId);
    const started = await client.call<OperationView & { sdk: { url: string } }>('POST', '/v1/operations', { tenantId, body: startBody(form, userId) });
    if (!started.ok) return tryPage(c, session, form, started.problem);
    // The device link carries the operation's sdk token, which the API shows only in this answer: it travels in the
    // fragment, so it reaches no server log, and the detail page's script shows it (docs/console.md).
    return c.redirect(`/console/tenants/${tenantId}/operations/${started.data.id}#device=${encodeURIComponent(started.data.sdk.url)}`, 303);
  });

  /** The user an administrator typed: a user id (or nothing, which the API names) as is, anything else an externalRef looked up through the API. */
  async function resolveUser(c: C, tenantId: string, typed: string): Promise<string | Problem> {
    if (typed === '' || isId(typed, 'usr')) return typed;
    const found = await api(c).call<List<UserView>>('GET', `/v1/users?externalRef=${encodeURIComponent(typed)}`, { tenantId });
    if (!found.ok) return found.problem;
    return found.data.items[0]?.id
      ?? { status: 404, code: 'USER_NOT_FOUND', title: ERROR_CODES.USER_NOT_FOUND.title, detail: `No user has the externalRef “${typed}”.`, traceId: c.get('traceId') };
  }
}

/** The start body from the form; anything missing or malformed goes as typed, so the API's validation names it. */
function startBody(form: Record<string, string>, userId: string): Record<string, unknown> {
  const type = form['type'] ?? '';
  const title = (form['title'] ?? '').trim() || 'Console test';
  const text = (form['message'] ?? '').trim();
  const body: Record<string, unknown> = { type, userId, context: { title, ...(text ? { text } : {}) } };
  // An unticked checkbox sends nothing: no push, the device opens the link or QR code instead.
  if (form['push'] !== 'yes') body['push'] = false;
  if (type === 'AUTHORISATION') {
    body['transaction'] = { amount: (form['amount'] ?? '').trim(), currency: (form['currency'] ?? '').trim().toUpperCase(), payee: { name: (form['payee'] ?? '').trim() } };
  }
  if (type === 'SIGNATURE') {
    const documentTitle = (form['documentTitle'] ?? '').trim();
    body['document'] = { content: form['document'] ?? '', mimeType: 'text/plain', ...(documentTitle ? { title: documentTitle } : {}) };
  }
  return body;
}

async function tryPage(c: C, session: ConsoleSession, form: Record<string, string>, problem?: Problem): Promise<Response> {
  const tenantId = tenantOf(c, session);
  const type = form['type'] ?? 'AUTHENTICATION';
  return render(c, 'Try it out', (
    <>
      <p>Start an operation for one of this tenant's users, as a relying party would, and watch it on the device and here.
        It is a real operation: it is audited as yours and counts against the user's limits.</p>
      <ProblemBox problem={problem} />
      <form method="post" action={`/console/tenants/${tenantId}/try`} class="card">
        <Csrf session={session} />
        <Field name="user" label="User (externalRef or user id)" value={form['user']} required />
        <fieldset>
          <legend>Type</legend>
          {TRY_TYPES.map((t) => <label class="check"><input type="radio" name="type" value={t} checked={type === t} /> {t}</label>)}
        </fieldset>
        <Field name="title" label="What the user is asked (context title)" value={form['title']} hint="Up to 64 characters; “Console test” if left empty." />
        <Field name="message" label="Context message (optional)" value={form['message']} multiline />
        <fieldset>
          <legend>Payment (AUTHORISATION)</legend>
          <Field name="amount" label="Amount" value={form['amount']} hint="A decimal such as 12.50" />
          <Field name="currency" label="Currency" value={form['currency'] ?? 'EUR'} hint="ISO 4217, such as EUR" />
          <Field name="payee" label="Payee" value={form['payee']} />
        </fieldset>
        <fieldset>
          <legend>Document (SIGNATURE)</legend>
          <Field name="documentTitle" label="Document title (optional)" value={form['documentTitle']} />
          <Field name="document" label="Document text" value={form['document']} multiline />
        </fieldset>
        <label class="check"><input type="checkbox" name="push" value="yes" checked={form['push'] === 'yes'} /> Send a push notification to the user's devices</label>
        <div class="actions"><button type="submit">Start the operation</button></div>
      </form>
    </>
  ), { tenantId, status: problem?.status });
}

function transactionText(t: Record<string, unknown>): string {
  const payee = t['payee'] as { name?: string; account?: string } | undefined;
  return `${String(t['amount'])} ${String(t['currency'])} to ${payee?.name ?? '?'}${payee?.account ? ` (${payee.account})` : ''}${t['reference'] ? `, reference ${String(t['reference'])}` : ''}`;
}

/** What happened, in order: the start, each push notification as it stands, and the end (or what it is waiting for). */
function timelineOf(op: OperationView): { at: string | undefined; what: string }[] {
  const steps: { at: string | undefined; what: string }[] = [{ at: op.createdAt, what: 'Started' }];
  for (const n of [...(op.notifications ?? [])].sort((a, b) => a.at.localeCompare(b.at))) {
    const attempts = n.attempts > 1 ? ` after ${n.attempts} attempts` : '';
    steps.push({ at: n.at, what: `Push notification to device ${n.deviceId} by ${n.channel}: ${n.status}${attempts}${n.reason ? ` (${n.reason})` : ''}${n.closedAt ? `, closed ${when(n.closedAt)}` : ''}` });
  }
  // The service records no time for a device's start, only that it happened.
  if (op.status === 'IN_PROGRESS') steps.push({ at: undefined, what: 'A device opened the operation and got the passkey request' });
  if (isFinal(op.status)) steps.push({ at: op.completedAt, what: `${op.status}${op.result ? ` on device ${op.result.deviceId}` : ''}${op.failure ? ` (${op.failure.code})` : ''}` });
  else steps.push({ at: op.expiresAt, what: 'Expires then, unless a device answers before' });
  return steps;
}

/**
 * The link and QR code the device opens. The server never has them after the start: the script reads them from the
 * address's fragment (put there by Try it out), draws the QR code and long-polls until the operation is final.
 */
function DeviceLink(props: { op: OperationView; pollUrl: string; appBase: string }) {
  return (
    <section class="card" aria-labelledby="device-title" data-watch={props.pollUrl} data-status={props.op.status} data-app-base={props.appBase}>
      <h2 id="device-title">Waiting for the device</h2>
      <div data-device-link hidden>
        <p>Open this link on the user's phone, or scan the QR code with it:</p>
        <p><a data-device-url href="#">the authenticator app link</a></p>
        <img class="device-qr" data-device-qr alt="QR code of the authenticator app link" width="240" height="240" />
      </div>
      <p data-device-missing>The device link is shown only on the page Try it out opens: the service hands it out once, at the start. A device of the user also finds the operation in its list.</p>
      <p role="status" aria-live="polite" data-watch-status>Reload this page to see whether the operation has ended.</p>
    </section>
  );
}

/**
 * The token decoded on the server, so the page reads without the script; whether it is genuine is for the browser to say:
 * the script verifies it against the public JWKS as a relying party would (docs/verifying-tokens.md).
 */
function ResultToken(props: { token: string; issuer: string; tenantId: string; operationId: string }) {
  const header = decodeProtectedHeader(props.token);
  const payload = decodeJwt(props.token);
  return (
    <section aria-label="Result token" data-result-token={props.token} data-issuer={props.issuer} data-audience={props.tenantId} data-operation={props.operationId}>
      <p class="verdict" role="status" data-verdict>{`Not checked yet: the console script verifies the signature with the key ${String(header.kid ?? '?')} from /.well-known/jwks.json.`}</p>
      <h3>Header</h3>
      <pre class="json" tabindex={0} aria-label="Result token header" data-testid="token-header">{JSON.stringify(header, null, 2)}</pre>
      <h3>Payload</h3>
      <pre class="json" tabindex={0} aria-label="Result token payload" data-testid="token-payload">{JSON.stringify(payload, null, 2)}</pre>
      <details>
        <summary>The token as issued</summary>
        <p><code class="token">{props.token}</code></p>
      </details>
    </section>
  );
}
