// Demo Bank page: asks its backend (/demo/api) to start operations and runs the passkey side with the Custos web SDK.
import { createCustos, confirmIn, formatAmount, CustosError, localhostUrlFor } from '/sdk/custos.js';

const FINAL = new Set(['COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED']);
/** API.md: authorisedBy must be a COMPLETED AUTHENTICATION from the last 5 minutes. */
const SCA_WINDOW_MS = 5 * 60 * 1000;
const LONG_POLL_SECONDS = 25;
/** The page stops following an operation this long after its expiry (its final state is known by then). */
const WATCH_GRACE_MS = 40_000;

const custos = createCustos({ baseUrl: location.origin });
const state = { user: null, lastLogin: null };
const $ = (id) => document.getElementById(id);

class DemoApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `The demo backend answered HTTP ${status}`);
    this.status = status;
    this.code = problem?.code;
    this.traceId = problem?.traceId;
  }
}

async function api(path, { method = 'GET', body } = {}) {
  const response = await fetch(`/demo/api${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  if (!response.ok) throw new DemoApiError(response.status, data);
  return data;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function describeError(error) {
  if (error instanceof CustosError) {
    if (error.code === 'ALREADY_REGISTERED') {
      return 'ALREADY_REGISTERED: this browser\'s passkey provider already holds a passkey of this customer for this site (e.g. made in the authenticator app).';
    }
    return `${error.code}: ${error.message}${error.traceId ? ` (trace ${error.traceId})` : ''}`;
  }
  if (error instanceof DemoApiError) {
    if (error.code === 'SCA_REQUIRED') {
      return 'This customer already has a device: sign in with it first (step 3). Adding a device needs a completed sign-in from the last 5 minutes.';
    }
    return `${error.code ?? error.status}: ${error.message}${error.traceId ? ` (trace ${error.traceId})` : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}

function showPageError(error) {
  const box = $('page-error');
  box.textContent = describeError(error);
  box.hidden = false;
}

function clearPageError() {
  $('page-error').hidden = true;
}

// ── customer and devices ─────────────────────────────────────────────────────

function renderDevices(devices) {
  const list = $('devices');
  list.replaceChildren();
  if (devices.length === 0) {
    const empty = document.createElement('li');
    empty.className = 'devices__empty';
    empty.textContent = 'No device yet: register one (step 2).';
    list.append(empty);
    return;
  }
  for (const device of devices) {
    const item = document.createElement('li');
    const name = document.createElement('strong');
    name.textContent = device.name;
    const meta = document.createElement('span');
    meta.className = 'devices__meta';
    meta.textContent = `${device.kind} · ${device.status} · ${device.id}`;
    item.append(name, meta);
    list.append(item);
  }
}

async function refreshDevices() {
  if (!state.user) return;
  const { items } = await api(`/users/${state.user.id}/devices`);
  renderDevices(items);
}

function setUserButtons(enabled) {
  for (const button of document.querySelectorAll('[data-needs-user]')) button.disabled = !enabled;
}

$('customer-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  clearPageError();
  const name = $('customer-name').value.trim();
  try {
    const { user, devices } = await api('/users', { method: 'POST', body: { name } });
    state.user = { id: user.id, name };
    state.lastLogin = null;
    localStorage.setItem('demo.customer', name);
    $('customer-label').textContent = name;
    $('customer-id').textContent = user.id;
    $('customer').hidden = false;
    renderDevices(devices);
    setUserButtons(true);
  } catch (error) {
    showPageError(error);
  }
});

// ── operations ──────────────────────────────────────────────────────────────

function authorisedBy() {
  const login = state.lastLogin;
  return login && Date.now() - login.at < SCA_WINDOW_MS ? { authorisedBy: login.id } : {};
}

function newCard(operation, title) {
  const item = $('operation-template').content.firstElementChild.cloneNode(true);
  item.dataset.operationId = operation.id;
  item.dataset.type = operation.type;
  item.querySelector('.op__title').textContent = title;
  item.querySelector('.op__id code').textContent = operation.id;
  const link = item.querySelector('.op__link');
  link.href = operation.sdk.url;
  item.querySelector('.op__qr img').src = `/demo/api/qr?data=${encodeURIComponent(operation.sdk.url)}`;
  $('ops-empty').hidden = true;
  $('operations').prepend(item);
  setStatus(item, operation.status);
  item.scrollIntoView({ block: 'nearest', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
  return item;
}

function setStatus(card, status) {
  card.dataset.status = status;
  const badge = card.querySelector('.badge');
  badge.textContent = status.replace('_', ' ');
  badge.dataset.status = status;
}

/** What the push to the customer's phones did so far (`notifications` of the operation), in words. */
function describeNotifications(notifications) {
  if (!notifications || notifications.length === 0) return 'No device of this customer has notifications on: open the authenticator app, or scan the QR code.';
  const counts = new Map();
  for (const { status } of notifications) counts.set(status, (counts.get(status) ?? 0) + 1);
  const words = { QUEUED: 'waiting to be sent', SENT: 'delivered to the push service', RETRYING: 'being retried', GONE: 'refused (the subscription is gone)', FAILED: 'failed', WITHDRAWN: 'withdrawn' };
  return `Push to ${notifications.length === 1 ? 'your phone' : `${notifications.length} devices`}: ${[...counts].map(([status, n]) => `${notifications.length === 1 ? '' : `${n} `}${words[status] ?? status.toLowerCase()}`).join(', ')}.`;
}

function showPush(card, operation) {
  if (card.dataset.toPhone !== 'true') return;
  const number = card.querySelector('.op__number');
  if (operation.numberMatch) {
    number.querySelector('strong').textContent = operation.numberMatch;
    number.hidden = FINAL.has(operation.status);
  }
  const notified = card.querySelector('.op__notified');
  notified.textContent = describeNotifications(operation.notifications);
  notified.hidden = FINAL.has(operation.status);
}

function setMessage(card, text, { error = false } = {}) {
  const message = card.querySelector('.op__message');
  message.textContent = text;
  message.classList.toggle('op__message--error', error);
  message.hidden = text === '';
}

function showResult(card, resultToken) {
  const box = card.querySelector('.op__result');
  const checks = box.querySelector('.checks');
  checks.replaceChildren();
  for (const { check, ok } of resultToken.checks) {
    const item = document.createElement('li');
    item.className = ok ? 'checks__ok' : 'checks__bad';
    item.textContent = `${ok ? '✓' : '✗'} ${check}`;
    checks.append(item);
  }
  box.querySelector('.op__header').textContent = JSON.stringify(resultToken.header, null, 2);
  box.querySelector('.op__claims').textContent = JSON.stringify(resultToken.claims, null, 2);
  box.hidden = false;
}

function finalise(card, operation, resultToken) {
  setStatus(card, operation.status);
  card.querySelector('.op__app').open = false;
  // Approved or declined elsewhere (the app, another tab): this page's confirmation no longer applies.
  card.querySelector('.op__confirm').replaceChildren();
  if (card.dataset.inApp === 'true') setMessage(card, `${operation.status === 'COMPLETED' ? 'Done' : 'Ended'} in the authenticator app.`);
  if (operation.status === 'FAILED') setMessage(card, `Failed: ${operation.failure?.code ?? 'unknown'}`, { error: true });
  if (operation.status === 'COMPLETED' && resultToken) showResult(card, resultToken);
  if (operation.status === 'COMPLETED' && operation.type === 'AUTHENTICATION') state.lastLogin = { id: operation.id, at: Date.now() };
  if (operation.status === 'COMPLETED' && operation.type === 'REGISTRATION') refreshDevices().catch(showPageError);
}

/** A push still on its way: the card asks again soon instead of long-polling (a long poll wakes on status changes only). */
const pushPending = (card, operation) => card.dataset.toPhone === 'true' && (operation.notifications ?? []).some((n) => n.status === 'QUEUED' || n.status === 'RETRYING');

/** Follows the operation with long polls until it is final: this is how the bank's backend learns the outcome. */
async function watch(operation, card) {
  let status = operation.status;
  let latest = operation;
  const expires = Date.parse(operation.expiresAt);
  // 300 s is the longest an operation lives (API.md).
  const until = (Number.isFinite(expires) ? expires : Date.now() + 300_000) + WATCH_GRACE_MS;
  while (!FINAL.has(status) && Date.now() < until) {
    try {
      const wait = pushPending(card, latest) ? 1 : LONG_POLL_SECONDS;
      const answer = await api(`/operations/${operation.id}?wait=${wait}`);
      latest = answer.operation;
      status = latest.status;
      showPush(card, latest);
      if (FINAL.has(status)) finalise(card, latest, answer.resultToken);
      else setStatus(card, status);
    } catch {
      await sleep(2000);
    }
  }
}

function addCancel(card, operation) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'link-button';
  button.textContent = 'Cancel';
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await api(`/operations/${operation.id}/cancel`, { method: 'POST' });
    } catch (error) {
      setMessage(card, describeError(error), { error: true });
    }
  });
  card.querySelector('.op__head').append(button);
  const observer = new MutationObserver(() => {
    if (FINAL.has(card.dataset.status)) {
      button.remove();
      observer.disconnect();
    }
  });
  observer.observe(card, { attributes: true, attributeFilter: ['data-status'] });
}

/**
 * Starts an operation through the backend and follows it. `ceremony` runs the SDK side in this browser;
 * without it the operation waits for the authenticator app (its link and QR code are shown). `toPhone`: "Send to my
 * phone", the start pushes to the customer's devices and the card shows the number to pick there.
 */
async function run(body, title, ceremony, { toPhone = false } = {}) {
  clearPageError();
  let operation;
  try {
    operation = await api('/operations', { method: 'POST', body: { ...body, userId: state.user.id, ...(body.type === 'REGISTRATION' ? {} : { push: toPhone }) } });
  } catch (error) {
    showPageError(error);
    return;
  }
  const card = newCard(operation, title);
  card.dataset.toPhone = String(toPhone);
  addCancel(card, operation);
  showPush(card, operation);
  const watching = watch(operation, card);
  if (toPhone) {
    card.dataset.inApp = 'true';
    setMessage(card, 'Sent to the authenticator app: answer it on your phone.');
  } else if (ceremony === undefined) {
    card.querySelector('.op__app').open = true;
    card.dataset.inApp = 'true';
    setMessage(card, 'Open the link (or scan the QR code) with the authenticator app.');
  } else {
    try {
      const result = await ceremony(operation, card);
      if (result.status === 'REJECTED') setMessage(card, 'You declined.');
    } catch (error) {
      setMessage(card, describeError(error), { error: true });
    }
  }
  await watching;
}

const inBrowserApproval = (operation, card) =>
  custos.approve(operation, { confirm: confirmIn(card.querySelector('.op__confirm'), { labels: { reject: 'Decline' } }) });

$('register-browser').addEventListener('click', () =>
  run({ type: 'REGISTRATION', deviceName: `Browser passkey (${navigator.platform || 'this browser'})`, ...authorisedBy() }, 'Register this browser', (operation) =>
    // rpScope tenant: the passkey belongs to the bank's own rpId, usable on the bank's pages.
    custos.register(operation, { rpScope: 'tenant' }),
  ),
);

$('register-app').addEventListener('click', () =>
  run({ type: 'REGISTRATION', deviceName: 'Authenticator app', ...authorisedBy() }, 'Add the authenticator app'),
);

$('login').addEventListener('click', () => run({ type: 'AUTHENTICATION' }, 'Sign in', inBrowserApproval));
$('login-phone').addEventListener('click', () => run({ type: 'AUTHENTICATION' }, 'Sign in on your phone', undefined, { toPhone: true }));

$('pay-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.currentTarget);
  const amount = String(form.get('amount')).trim();
  const currency = String(form.get('currency'));
  const payee = String(form.get('payee')).trim();
  const account = String(form.get('account')).trim();
  const reference = String(form.get('reference')).trim();
  const body = { type: 'AUTHORISATION', amount, currency, payee, ...(account ? { account } : {}), ...(reference ? { reference } : {}) };
  const toPhone = event.submitter?.dataset.to === 'phone';
  run(body, `Payment of ${formatAmount(amount, currency)} to ${payee}`, toPhone ? undefined : inBrowserApproval, { toPhone });
});

$('sign-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const title = $('sign-title').value.trim();
  // The textarea's own value (LF line ends), exactly what is shown and hashed, not a form-encoded copy.
  const text = $('sign-text').value;
  const toPhone = event.submitter?.dataset.to === 'phone';
  run({ type: 'SIGNATURE', text, ...(title ? { title } : {}) }, `Sign “${title || 'text'}”`, toPhone ? undefined : inBrowserApproval, { toPhone });
});

// ── start-up ────────────────────────────────────────────────────────────────

async function init() {
  try {
    const config = await api('/config');
    // WebAuthn needs a domain as rpId: on 127.0.0.1 passkeys for "localhost" cannot work.
    if (location.hostname !== config.rpId) {
      const warning = $('host-warning');
      const target = new URL(location.href);
      target.hostname = config.rpId;
      warning.textContent = `Passkeys of this demo belong to "${config.rpId}". Open ${target.origin}/ instead of ${location.origin}/.`;
      warning.hidden = false;
    }
  } catch (error) {
    showPageError(error);
  }
  const remembered = localStorage.getItem('demo.customer');
  if (remembered) $('customer-name').value = remembered;
}

init();
