// The console's one browser script (bundled to /console/assets/console.js): passkey ceremonies, copy buttons, the live
// operations list, watching a live operation, and verifying a result token as a relying party would.
import { startAuthentication, startRegistration } from '@simplewebauthn/browser';
import { wireBrandingPreview } from './branding';
import { wireBusyForms } from './forms';
import { renderSVG } from 'uqr';
import { verdictOf } from './result-token';

interface ProblemJson { code?: string; title?: string; detail?: string; traceId?: string; invalidParams?: { name: string; reason: string }[] }

class ShownProblem extends Error {
  constructor(readonly problem: ProblemJson) {
    super(problem.title ?? 'Something went wrong');
  }
}

async function post<T>(path: string, body: unknown): Promise<T> {
  const response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' });
  const json = (await response.json().catch(() => ({}))) as T & ProblemJson;
  if (!response.ok) throw new ShownProblem(json);
  return json;
}

/** Errors in place, in plain words, with the trace id (the same shape the server renders). */
function showProblem(form: HTMLFormElement, error: unknown): void {
  const box = form.querySelector<HTMLElement>('[data-problem]');
  if (!box) return;
  const problem: ProblemJson = error instanceof ShownProblem
    ? error.problem
    : { title: 'The passkey step did not finish', detail: error instanceof Error ? `${error.message} Try again, or use another passkey.` : 'Try again.', code: 'BROWSER' };
  box.replaceChildren();
  const wrap = document.createElement('div');
  wrap.className = 'problem';
  wrap.setAttribute('role', 'alert');
  wrap.dataset['code'] = problem.code ?? '';
  const title = document.createElement('p');
  title.className = 'problem__title';
  const strong = document.createElement('strong');
  strong.textContent = problem.title ?? 'Something went wrong';
  title.append(strong);
  wrap.append(title);
  if (problem.detail) {
    const detail = document.createElement('p');
    detail.textContent = problem.detail;
    wrap.append(detail);
  }
  for (const param of problem.invalidParams ?? []) {
    const p = document.createElement('p');
    p.textContent = `${param.name}: ${param.reason}`;
    wrap.append(p);
  }
  const trace = document.createElement('p');
  trace.className = 'problem__trace';
  trace.textContent = `Code ${problem.code ?? 'unknown'} · trace id ${problem.traceId ?? 'none'}`;
  wrap.append(trace);
  box.append(wrap);
}

function busy(form: HTMLFormElement, on: boolean): void {
  const button = form.querySelector<HTMLButtonElement>('button[type="submit"]');
  if (button) {
    button.disabled = on;
    button.setAttribute('aria-busy', String(on));
  }
}

function field(form: HTMLFormElement, name: string): string {
  return (form.elements.namedItem(name) as HTMLInputElement | null)?.value ?? '';
}

type Options = { options: Parameters<typeof startRegistration>[0]['optionsJSON'] };
type SignInOptions = { options: Parameters<typeof startAuthentication>[0]['optionsJSON'] };

const ceremonies: Record<string, (form: HTMLFormElement) => Promise<{ redirect: string }>> = {
  async bootstrap(form) {
    const { options } = await post<Options>('/console/api/bootstrap/options', { token: field(form, 'token'), name: field(form, 'name') });
    const response = await startRegistration({ optionsJSON: options });
    return post('/console/api/bootstrap/finish', { response });
  },
  async invite(form) {
    const invite = location.hash.slice(1);
    const { options } = await post<Options>('/console/api/invite/options', { invite, name: field(form, 'name') });
    const response = await startRegistration({ optionsJSON: options });
    return post('/console/api/invite/finish', { response });
  },
  async 'sign-in'() {
    const { options } = await post<SignInOptions>('/console/api/sign-in/options', {});
    const response = await startAuthentication({ optionsJSON: options });
    return post('/console/api/sign-in/finish', { response });
  },
};

for (const form of document.querySelectorAll<HTMLFormElement>('form[data-ceremony]')) {
  const run = ceremonies[form.dataset['ceremony'] ?? ''];
  if (!run) continue;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(form, true);
    run(form)
      .then(({ redirect }) => location.assign(redirect))
      .catch((error: unknown) => {
        showProblem(form, error);
        busy(form, false);
      });
  });
}

for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-copy]')) {
  button.addEventListener('click', () => {
    const source = document.getElementById(button.dataset['copy'] ?? '');
    const status = button.parentElement?.querySelector<HTMLElement>('.copy-status');
    navigator.clipboard.writeText(source?.textContent ?? '').then(
      () => { if (status) status.textContent = 'Copied.'; },
      () => { if (status) status.textContent = 'Copy failed: select the text and copy it by hand.'; },
    );
  });
}

wireBrandingPreview();
wireBusyForms();
const FINAL = ['COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED'];
const LIVE_INTERVAL_MS = 5000;

/**
 * The operations list refreshes its table from the same address every 5 s while the tab is visible and updates are not
 * paused; a change is announced politely. It waits while focus is inside the table, so a keyboard user keeps their place.
 */
function liveUpdates(region: HTMLElement): void {
  const controls = document.querySelector<HTMLElement>('[data-live-controls]');
  const toggle = controls?.querySelector<HTMLButtonElement>('[data-live-toggle]');
  const status = controls?.querySelector<HTMLElement>('[data-live-status]');
  if (!controls || !toggle || !status) return;
  controls.hidden = false;
  let paused = false;
  let busy = false;
  let timer: number | undefined;
  const stop = (why: string): void => {
    window.clearInterval(timer);
    toggle.disabled = true;
    status.textContent = why;
  };
  const refresh = async (): Promise<void> => {
    if (paused || busy || document.hidden || region.contains(document.activeElement)) return;
    busy = true;
    try {
      const response = await fetch(location.href, { headers: { accept: 'text/html' }, credentials: 'same-origin' });
      const fresh = new DOMParser().parseFromString(await response.text(), 'text/html').querySelector('[data-live-region]');
      // Signed out, or the page is gone: the answer has no table to take.
      if (!response.ok || !fresh) return stop('Live updates stopped: reload the page (you may need to sign in again).');
      if (fresh.innerHTML === region.innerHTML) return;
      region.replaceChildren(...fresh.childNodes);
      status.textContent = `Operations updated at ${new Date().toLocaleTimeString()}.`;
    } catch {
      // Offline for a moment: the next tick tries again.
    } finally {
      busy = false;
    }
  };
  toggle.addEventListener('click', () => {
    paused = !paused;
    toggle.setAttribute('aria-pressed', String(paused));
    status.textContent = paused ? 'Live updates paused.' : 'Live updates resumed.';
    void refresh();
  });
  document.addEventListener('visibilitychange', () => void refresh());
  timer = window.setInterval(() => void refresh(), LIVE_INTERVAL_MS);
}

/**
 * A live operation's page: the device link and its QR code from the address's fragment (Try it out put it there; the
 * server never sees it), and a long poll of the console's JSON route that reloads the page once the operation is final.
 */
function watchOperation(section: HTMLElement): void {
  const link = new URLSearchParams(location.hash.slice(1)).get('device');
  const appBase = section.dataset['appBase'] ?? '';
  // Only the service's own authenticator-app link: a crafted address must not make this page offer another one.
  if (link && appBase && link.startsWith(appBase)) {
    const box = section.querySelector<HTMLElement>('[data-device-link]');
    const anchor = section.querySelector<HTMLAnchorElement>('[data-device-url]');
    const qr = section.querySelector<HTMLImageElement>('[data-device-qr]');
    if (box && anchor && qr) {
      anchor.href = link;
      anchor.textContent = link;
      qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(renderSVG(link))}`;
      box.hidden = false;
      section.querySelector<HTMLElement>('[data-device-missing]')?.setAttribute('hidden', '');
    }
  }
  const status = section.querySelector<HTMLElement>('[data-watch-status]');
  const url = section.dataset['watch'];
  if (!url) return;
  if (status) status.textContent = 'This page reloads by itself when the operation ends.';
  const poll = async (): Promise<void> => {
    for (;;) {
      let response: Response;
      try {
        response = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
      } catch {
        // Offline for a moment: try again shortly.
        await new Promise((resolve) => setTimeout(resolve, LIVE_INTERVAL_MS));
        continue;
      }
      const body = (await response.json().catch(() => ({}))) as { status?: string } & ProblemJson;
      if (!response.ok) {
        if (status) status.textContent = `Stopped watching: ${body.title ?? `the console answered ${response.status}`}. Reload the page.`;
        return;
      }
      if (body.status && FINAL.includes(body.status)) {
        if (status) status.textContent = `The operation is ${body.status}; loading its outcome.`;
        location.reload();
        return;
      }
      // The route holds each answer up to 25 s; a quick non-final one (a restarted shard) must not become a busy loop.
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  };
  void poll();
}

/** The result token verified in the browser against the service's public JWKS (same origin), the verdict in its status region. */
async function verifyResultToken(section: HTMLElement): Promise<void> {
  const verdict = section.querySelector<HTMLElement>('[data-verdict]');
  const { resultToken: token = '', issuer = '', audience = '', operation: operationId = '' } = section.dataset;
  if (!verdict) return;
  const response = await fetch('/.well-known/jwks.json', { headers: { accept: 'application/json' } }).catch(() => null);
  const result = response?.ok
    ? await verdictOf(token, (await response.json()) as Parameters<typeof verdictOf>[1], { issuer, audience, operationId })
    : { ok: false, text: `NOT verified: the JWKS could not be fetched (${response ? `HTTP ${response.status}` : 'network error'}).` };
  verdict.textContent = result.text;
  verdict.classList.add(result.ok ? 'verdict--ok' : 'verdict--bad');
}

const liveRegion = document.querySelector<HTMLElement>('[data-live-region]');
if (liveRegion) liveUpdates(liveRegion);
const watched = document.querySelector<HTMLElement>('[data-watch]');
if (watched) watchOperation(watched);
const resultToken = document.querySelector<HTMLElement>('[data-result-token]');
if (resultToken) void verifyResultToken(resultToken);
