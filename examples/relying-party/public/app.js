// Example Bank's page: loads the Custos SDK from the service, starts every operation through the bank's own server and shows what that server verified.
const $ = (id) => document.getElementById(id);
const FINAL_POLLS = 20; // an operation lives at most 300 s; each poll waits up to 25 s on the server

let sdk;
let custos;
let busy = false;

function setStatus(text, kind = 'info') {
  const status = $('status');
  status.textContent = text;
  status.dataset.kind = kind;
}

/** The bank's own API (same origin). Errors carry the server's code and detail. */
async function bank(path, { method = 'GET', body } = {}) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!response.ok) throw new Error(`${data?.error ?? response.status}${data?.detail ? `: ${data.detail}` : ''}`);
  return { status: response.status, data };
}

function describe(error) {
  if (sdk && error instanceof sdk.CustosError) return `${error.code}: ${error.message}${error.traceId ? ` (trace ${error.traceId})` : ''}`;
  return error instanceof Error ? error.message : String(error);
}

function enable(on) {
  for (const el of document.querySelectorAll('#register, #sign-in, #pay-form button, #sign-form button')) el.disabled = !on;
}

function showResult(claims) {
  const item = document.createElement('li');
  item.dataset.op = claims.op;
  item.dataset.operationId = claims.jti;
  const heading = document.createElement('strong');
  heading.textContent = `${claims.op} ${claims.jti}`;
  const pre = document.createElement('pre');
  pre.className = 'result__claims';
  pre.textContent = JSON.stringify(claims, null, 2);
  item.append(heading, pre);
  $('results').prepend(item);
}

/** Asks the bank's server for the verified outcome until the operation is final (the server long-polls Custos). */
async function verifiedOutcome(operationId) {
  for (let i = 0; i < FINAL_POLLS; i++) {
    const { status, data } = await bank(`/api/operations/${operationId}/result`);
    if (status === 200) return data;
  }
  throw new Error('The operation did not end in time.');
}

/**
 * One flow: the bank's server starts the operation, the SDK runs the passkey ceremony against Custos (cross-origin),
 * then the bank's server verifies the result token and says what it proved.
 */
async function flow(label, body, ceremony) {
  if (busy) return;
  busy = true;
  enable(false);
  setStatus(`${label}: starting…`);
  try {
    const { data: operation } = await bank('/api/operations', { method: 'POST', body });
    setStatus(`${label}: waiting for your passkey…`);
    const answer = await ceremony(operation);
    if (answer.status === 'REJECTED') {
      setStatus(`${label}: you declined.`, 'error');
      return;
    }
    setStatus(`${label}: the bank's server is verifying the result…`);
    const outcome = await verifiedOutcome(operation.id);
    if (outcome.status !== 'COMPLETED') {
      setStatus(`${label}: ${outcome.status}${outcome.failure ? ` (${outcome.failure})` : ''}.`, 'error');
      return;
    }
    showResult(outcome.claims);
    setStatus(`${label}: verified by the bank's server.`, 'ok');
  } catch (error) {
    setStatus(`${label}: ${describe(error)}`, 'error');
  } finally {
    $('confirm').replaceChildren();
    busy = false;
    enable(true);
  }
}

const approve = (operation) => custos.approve(operation, { confirm: sdk.confirmIn($('confirm'), { labels: { reject: 'Decline' } }) });

$('customer-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const { data } = await bank('/api/customer', { method: 'POST', body: { name: $('customer-name').value } });
    $('customer-id').textContent = data.userId;
    $('customer-devices').textContent = `(${data.devices} active device${data.devices === 1 ? '' : 's'})`;
    enable(true);
    setStatus(`Customer ${data.name} chosen.`, 'ok');
  } catch (error) {
    setStatus(`Customer: ${describe(error)}`, 'error');
  }
});

// rpScope tenant: the passkey belongs to this bank's rpId, usable on this bank's own pages.
$('register').addEventListener('click', () => flow('Register a passkey', { type: 'REGISTRATION' }, (operation) => custos.register(operation, { rpScope: 'tenant' })));
$('sign-in').addEventListener('click', () => flow('Sign in', { type: 'AUTHENTICATION' }, approve));
$('pay-form').addEventListener('submit', (event) => {
  event.preventDefault();
  flow('Payment', { type: 'AUTHORISATION', amount: $('amount').value, currency: $('currency').value, payee: $('payee').value }, approve);
});
$('sign-form').addEventListener('submit', (event) => {
  event.preventDefault();
  flow('Signature', { type: 'SIGNATURE', title: $('title').value, text: $('text').value }, approve);
});

async function refreshEvents() {
  try {
    const { data } = await bank('/api/events');
    const list = $('events');
    list.replaceChildren(
      ...data.events.map((event) => {
        const item = document.createElement('li');
        item.dataset.type = event.type;
        item.textContent = `${event.type} ${event.data.operationId ?? event.data.deviceId ?? ''} (${event.id})`;
        return item;
      }),
    );
    if (!data.configured) list.textContent = 'Webhooks are not configured (see README.md).';
  } catch (error) {
    setStatus(`Events: ${describe(error)}`, 'error');
  }
}
$('refresh-events').addEventListener('click', refreshEvents);

async function start() {
  enable(false);
  try {
    const { data: config } = await bank('/api/config');
    $('sdk-url').textContent = config.sdkUrl;
    // A cross-origin module import: Custos answers it with CORS for this tenant's allowed origins only.
    sdk = await import(config.sdkUrl);
    custos = sdk.createCustos({ baseUrl: config.custosUrl });
    document.body.dataset.ready = 'true';
    setStatus('Ready: choose a customer.');
  } catch (error) {
    setStatus(`Could not load the Custos SDK: ${describe(error)}`, 'error');
  }
}

start();
