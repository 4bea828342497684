// The console's one browser script (bundled to /console/assets/console.js): passkey ceremonies and the copy buttons.
import { startAuthentication, startRegistration } from '@simplewebauthn/browser';
import { wireBrandingPreview } from './branding';
import { wireBusyForms } from './forms';

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
