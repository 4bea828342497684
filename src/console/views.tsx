// The console's HTML, rendered on the server with hono/jsx: the page frame, forms, tables, problems and confirmations.
import type { Child } from 'hono/jsx';
import type { Problem } from './api';
import type { ConsoleSession } from './session';

export const ASSET_VERSION = '2';

/** The frame of every page: skip link, navigation for the administrator's role, one main landmark. */
export function Layout(props: { title: string; session?: ConsoleSession | undefined; tenantId?: string | undefined; children?: Child }) {
  const session = props.session;
  const tenantId = session?.admin.role === 'tenant' ? session.admin.tenantId ?? undefined : props.tenantId;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Custos console`}</title>
        <link rel="stylesheet" href={`/console/assets/console.css?v=${ASSET_VERSION}`} />
        <script type="module" src={`/console/assets/console.js?v=${ASSET_VERSION}`}></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <a class="brand" href="/console">Custos console</a>
          {session ? (
            <nav aria-label="Console">
              <ul>
                {session.admin.role === 'operator' ? <li><a href="/console/tenants">Tenants</a></li> : null}
                {tenantId ? (
                  <>
                    <li><a href={`/console/tenants/${tenantId}`}>Settings and clients</a></li>
                    <li><a href={`/console/tenants/${tenantId}/webhook`}>Webhook</a></li>
                    <li><a href={`/console/tenants/${tenantId}/users`}>Users</a></li>
                    <li><a href={`/console/tenants/${tenantId}/operations`}>Operations</a></li>
                    <li><a href={`/console/tenants/${tenantId}/try`}>Try it out</a></li>
                    <li><a href={`/console/tenants/${tenantId}/audit`}>Audit</a></li>
                  </>
                ) : null}
                <li><a href="/console/admins">Administrators</a></li>
                <li><a href="/console/invites">Invite</a></li>
              </ul>
              <form method="post" action="/console/sign-out" class="inline">
                <input type="hidden" name="csrf" value={session.csrfToken} />
                <button type="submit" class="secondary">{`Sign out ${session.admin.name}`}</button>
              </form>
            </nav>
          ) : null}
        </header>
        <main id="main" tabindex={-1}>
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** An error in place, in plain words, with the trace id to quote. */
export function ProblemBox(props: { problem?: Problem | undefined }) {
  const p = props.problem;
  if (!p) return null;
  return (
    <div class="problem" role="alert" data-code={p.code}>
      <p class="problem__title"><strong>{p.title}</strong></p>
      {p.detail ? <p>{p.detail}</p> : null}
      {p.invalidParams?.length ? (
        <ul>{p.invalidParams.map((i) => <li><code>{i.name}</code>: {i.reason}</li>)}</ul>
      ) : null}
      <p class="problem__trace">Code <code>{p.code}</code> · trace id <code>{p.traceId ?? 'unknown'}</code></p>
    </div>
  );
}

export function Notice(props: { children?: Child }) {
  return <div class="notice" role="status">{props.children}</div>;
}

export function Csrf(props: { session: ConsoleSession }) {
  return <input type="hidden" name="csrf" value={props.session.csrfToken} />;
}

/**
 * A labelled text field; `hint` is tied to it with aria-describedby. The id is `f-<name>` unless `id` is given: a page
 * with two forms that share a field name (a tenant's name and an API client's) must give one its own id, or the
 * second label names the first form's field.
 */
export function Field(props: { name: string; label: string; id?: string; value?: string | undefined; type?: string; required?: boolean; hint?: string; autocomplete?: string; multiline?: boolean; inputmode?: 'numeric' | 'text' | 'url' }) {
  return (
    <Labelled name={props.name} id={props.id} label={props.label} hint={props.hint} control={(id, hintId) => props.multiline ? (
      <textarea id={id} name={props.name} rows={3} required={props.required} aria-describedby={hintId}>{props.value ?? ''}</textarea>
    ) : (
      <input id={id} name={props.name} type={props.type ?? 'text'} value={props.value ?? ''} required={props.required} aria-describedby={hintId} autocomplete={props.autocomplete ?? 'off'} inputmode={props.inputmode} />
    )} />
  );
}

/** The frame every form control shares: its label, an optional hint tied to it by aria-describedby, the control itself. */
function Labelled(props: { name: string; id?: string | undefined; label: string; hint?: string | undefined; control: (id: string, hintId: string | undefined) => Child }) {
  const id = props.id ?? `f-${props.name}`;
  const hintId = props.hint ? `${id}-hint` : undefined;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.hint ? <p class="hint" id={hintId}>{props.hint}</p> : null}
      {props.control(id, hintId)}
    </div>
  );
}

/**
 * A table that scrolls sideways when it must, the region focusable so a keyboard can scroll it; on a phone each row is
 * stacked, every cell led by its column's name (data-label, console.css).
 */
export function Table(props: { label: string; head: string[]; rows: Child[][]; empty: string }) {
  if (props.rows.length === 0) return <p class="empty">{props.empty}</p>;
  return (
    <div class="table-wrap" role="region" aria-label={props.label} tabindex={0}>
      <table>
        <caption class="visually-hidden">{props.label}</caption>
        <thead><tr>{props.head.map((h) => <th scope="col">{h}</th>)}</tr></thead>
        <tbody>{props.rows.map((r) => <tr>{r.map((cell, i) => <td data-label={props.head[i] ?? ''}>{cell}</td>)}</tr>)}</tbody>
      </table>
    </div>
  );
}

/** The confirmation step of a consequential action: it says what will happen, and the same form posts again with confirm=yes. */
export function Confirm(props: { session: ConsoleSession; action: string; consequence: string; button: string; back: string; fields?: Record<string, string>; typeToConfirm?: { expected: string; problem?: Problem | undefined } }) {
  return (
    <section class="confirm" aria-labelledby="confirm-title">
      <h2 id="confirm-title">Please confirm</h2>
      <p>{props.consequence}</p>
      <form method="post" action={props.action}>
        <Csrf session={props.session} />
        <input type="hidden" name="confirm" value="yes" />
        {props.typeToConfirm ? (
          <>
            <ProblemBox problem={props.typeToConfirm.problem} />
            <Field name="typed" label={`Type ${props.typeToConfirm.expected} to confirm`} required autocomplete="off" />
          </>
        ) : null}
        {Object.entries(props.fields ?? {}).map(([name, value]) => <input type="hidden" name={name} value={value} />)}
        <div class="actions">
          <button type="submit" class="danger">{props.button}</button>
          <a class="button secondary" href={props.back}>Cancel</a>
        </div>
      </form>
    </section>
  );
}

/** A secret shown once, with a copy button (the console script) and a plain warning. */
export function SecretOnce(props: { label: string; value: string; id: string }) {
  return (
    <div class="secret" role="status">
      <p><strong>{props.label}</strong> This is the only time it is shown: copy it now.</p>
      <p><code id={props.id} class="secret__value">{props.value}</code></p>
      <button type="button" class="secondary" data-copy={props.id}>Copy</button>
      <span class="copy-status" aria-live="polite"></span>
    </div>
  );
}

/** A labelled choice among fixed values; `hint` is tied to it like a Field's. */
export function Select(props: { name: string; label: string; options: readonly { value: string; label: string }[]; value?: string | undefined; hint?: string; id?: string }) {
  return (
    <Labelled name={props.name} id={props.id} label={props.label} hint={props.hint} control={(id, hintId) => (
      <select id={id} name={props.name} aria-describedby={hintId}>
        {props.options.map((o) => <option value={o.value} selected={o.value === props.value}>{o.label}</option>)}
      </select>
    )} />
  );
}

/** A checkbox that posts `true` when ticked (an unticked box posts nothing, which the handler reads as false). */
export function Check(props: { name: string; label: string; checked: boolean }) {
  return <label class="check"><input type="checkbox" name={props.name} value="true" checked={props.checked} /> {props.label}</label>;
}
