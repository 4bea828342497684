// The example bank's server: starts Custos operations with @custos/node, verifies their result tokens and webhooks, serves the page.
//
// Only node:http and the published packages. Sessions, pinned device keys and webhook events live in memory: a
// real bank keeps them in its database. Read README.md first; `npm run setup` writes the .env this file reads.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createCustosClient, documentDigest, ResultTokenError, verifyResultToken, verifyWebhook, WebhookVerificationError } from '@custos/node';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
// Variables already in the environment win over the file (process.loadEnvFile never overwrites them).
if (existsSync(here('.env'))) process.loadEnvFile(here('.env'));

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set: run \`npm run setup\` first (README.md), or set it in the environment.`);
    process.exit(1);
  }
  return value;
}

const BANK = 'Example Bank';
const CUSTOS_URL = required('CUSTOS_URL').replace(/\/+$/, '');
const TENANT_ID = required('CUSTOS_TENANT_ID');
const WEBHOOK_SECRET = process.env.CUSTOS_WEBHOOK_SECRET || undefined;
const PORT = Number(process.env.PORT || 3000);
// This page's own origin: the tenant's passkey origin, and where the browser must be for WebAuthn to accept rpId localhost.
const ORIGIN = (process.env.RP_ORIGIN || `http://localhost:${PORT}`).replace(/\/+$/, '');
// Where the page imports the SDK from: the service's bundle (no bundler, cross-origin, CORS) or this package's copy.
const SDK_SOURCE = process.env.CUSTOS_SDK === 'package' ? 'package' : 'service';
const LONG_POLL_SECONDS = 25;
const FINAL = new Set(['COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED']);
const MAX_EVENTS = 50;
const MAX_BODY_BYTES = 256 * 1024;

const custos = createCustosClient({ baseUrl: CUSTOS_URL, clientId: required('CUSTOS_CLIENT_ID'), clientSecret: required('CUSTOS_CLIENT_SECRET') });

/** What every result token must satisfy (docs/verifying-tokens.md): Custos's signature for this tenant, used on this page. */
const trust = {
  issuer: CUSTOS_URL,
  audience: TENANT_ID,
  jwksUrl: `${CUSTOS_URL}/.well-known/jwks.json`,
  maxTokenAge: '10m',
  rp: { rpId: new URL(ORIGIN).hostname, origins: [ORIGIN] },
};

/** sid → { userId, name, lastLogin?: { id, at }, operations: Map<operationId, what this session asked for> }. */
const sessions = new Map();
/** deviceId → the public key its REGISTRATION token carried: later tokens of that device must carry the same key. */
const pinnedKeys = new Map();
/** The last verified webhook events, newest first, deduplicated on event.id (deliveries are at least once). */
const events = [];

// ── helpers ───────────────────────────────────────────────────────────────────────────────────

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'cache-control': 'no-store', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers });
  res.end(text);
}

async function readRaw(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'BODY_TOO_LARGE');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

class HttpError extends Error {
  constructor(status, code, detail) {
    super(detail ?? code);
    this.status = status;
    this.code = code;
  }
}

/**
 * A JSON body. Requiring `application/json` is also the CSRF defence of this example: a cross-site form cannot
 * send it, and a cross-site fetch with it needs a CORS preflight this server never grants.
 */
async function readJson(req) {
  if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new HttpError(415, 'JSON_REQUIRED');
  try {
    return JSON.parse((await readRaw(req)).toString('utf8'));
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, 'INVALID_JSON');
  }
}

function sessionOf(req) {
  const sid = /(?:^|;\s*)rp_sid=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '')?.[1];
  const session = sid === undefined ? undefined : sessions.get(sid);
  if (session === undefined) throw new HttpError(401, 'NO_CUSTOMER', 'Choose a customer first.');
  return session;
}

/** An API answer that was not a success, as this server reports it: the problem's code and trace id, never the request. */
function apiFailure(what, error) {
  return new HttpError(502, error?.code ?? 'CUSTOS_ERROR', `${what}: ${error?.detail ?? error?.title ?? 'failed'}${error?.traceId ? ` (trace ${error.traceId})` : ''}`);
}

const text = (value, max) => (typeof value === 'string' ? value.trim().slice(0, max) : '');

// ── customers and operations ──────────────────────────────────────────────────────────────────

/** Signs a customer in by name: the Custos user whose externalRef is the name, created on first use. */
async function chooseCustomer(req, res) {
  const name = text((await readJson(req)).name, 64);
  if (name === '') throw new HttpError(400, 'NAME_REQUIRED', 'Enter a customer name.');
  const found = await custos.GET('/v1/users', { params: { query: { externalRef: name } } });
  if (found.error) throw apiFailure('Looking up the customer', found.error);
  let user = found.data.items[0];
  if (user === undefined) {
    const created = await custos.POST('/v1/users', { body: { externalRef: name, attributes: { displayName: name } } });
    if (created.error) throw apiFailure('Creating the customer', created.error);
    user = created.data;
  }
  const devices = await custos.GET('/v1/users/{userId}/devices', { params: { path: { userId: user.id } } });
  if (devices.error) throw apiFailure('Listing the devices', devices.error);
  const sid = randomBytes(24).toString('base64url');
  sessions.set(sid, { userId: user.id, name, lastLogin: undefined, operations: new Map() });
  send(res, 200, { userId: user.id, name, devices: devices.data.items.filter((d) => d.status === 'ACTIVE').length }, {
    'set-cookie': `rp_sid=${sid}; Path=/; HttpOnly; SameSite=Lax`,
  });
}

/** The body of POST /v1/operations for what the page asked, and what the result token must later show. */
function operationFor(session, input) {
  const common = { userId: session.userId };
  switch (input.type) {
    case 'REGISTRATION': {
      // Custos requires a fresh sign-in before a customer who already has a device binds another (requireScaForNewDevice).
      const recent = session.lastLogin && Date.now() - session.lastLogin.at < 5 * 60_000 ? { authorisedBy: session.lastLogin.id } : {};
      return { body: { type: 'REGISTRATION', ...common, deviceName: 'Passkey', context: { title: 'Register a passkey', text: `Add a passkey for ${BANK}.` }, ...recent }, expect: {} };
    }
    case 'AUTHENTICATION':
      return { body: { type: 'AUTHENTICATION', ...common, context: { title: `Sign in to ${BANK}`, text: 'Confirm that it is you.' } }, expect: {} };
    case 'AUTHORISATION': {
      const transaction = { amount: text(input.amount, 32), currency: text(input.currency, 3), payee: { name: text(input.payee, 128) } };
      return { body: { type: 'AUTHORISATION', ...common, context: { title: 'Approve payment', text: `A transfer to ${transaction.payee.name}.` }, transaction }, expect: { transaction } };
    }
    case 'SIGNATURE': {
      const content = typeof input.text === 'string' ? input.text : '';
      const title = text(input.title, 128);
      const document = { content, mimeType: 'text/plain', ...(title ? { title } : {}) };
      return { body: { type: 'SIGNATURE', ...common, context: { title: 'Sign a document', text: 'Read it, then sign it with your passkey.' }, document }, expect: { content } };
    }
    default:
      throw new HttpError(400, 'UNKNOWN_TYPE', 'type is REGISTRATION, AUTHENTICATION, AUTHORISATION or SIGNATURE.');
  }
}

/** Starts an operation for the session's customer and gives the page only what the SDK needs: the id and the sdk token. */
async function startOperation(req, res) {
  const session = sessionOf(req);
  const { body, expect } = operationFor(session, await readJson(req));
  const started = await custos.POST('/v1/operations', { body });
  if (started.error) throw new HttpError(400, started.error.code ?? 'CUSTOS_ERROR', `${started.error.detail ?? started.error.title}${started.error.traceId ? ` (trace ${started.error.traceId})` : ''}`);
  session.operations.set(started.data.id, { type: body.type, ...expect });
  send(res, 201, { id: started.data.id, sdk: { token: started.data.sdk.token } });
}

/** Stable JSON for comparing what was asked with what was signed (object keys sorted). */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  return JSON.stringify(value);
}

/**
 * Learns the outcome the way a bank must: long-polls GET /v1/operations/{id}, verifies the result token (Custos's
 * signature, the device's evidence, the pinned device key) and checks it is the customer and the very transaction
 * or document this session asked for. 202 while the operation is still live: the page asks again.
 */
async function operationResult(req, res, operationId) {
  const session = sessionOf(req);
  const asked = session.operations.get(operationId);
  if (asked === undefined) throw new HttpError(404, 'OPERATION_NOT_FOUND');
  const polled = await custos.GET('/v1/operations/{operationId}', { params: { path: { operationId }, query: { wait: LONG_POLL_SECONDS } } });
  if (polled.error) throw apiFailure('Reading the operation', polled.error);
  const operation = polled.data;
  if (!FINAL.has(operation.status)) return send(res, 202, { status: operation.status });
  if (operation.status !== 'COMPLETED') return send(res, 200, { status: operation.status, failure: operation.failure?.code ?? null });

  const deviceId = operation.result.deviceId;
  let claims;
  try {
    claims = await verifyResultToken(operation.result.token, { ...trust, operationId, deviceKey: pinnedKeys.get(deviceId) });
  } catch (error) {
    if (error instanceof ResultTokenError) throw new HttpError(502, 'RESULT_TOKEN_REFUSED', `The result token was refused: ${error.reason}`);
    throw error;
  }
  // The token is Custos's and the device signed it; now the bank's own checks: this customer, this device, what was asked.
  const mismatch =
    claims.sub !== session.userId ? 'sub' :
    claims.device !== deviceId ? 'device' :
    claims.op !== asked.type ? 'op' :
    asked.transaction !== undefined && canonical(claims.txn) !== canonical(asked.transaction) ? 'txn' :
    asked.content !== undefined && claims.doc?.sha256 !== (await documentDigest(asked.content)) ? 'doc' :
    undefined;
  if (mismatch !== undefined) throw new HttpError(502, 'RESULT_MISMATCH', `The result token's ${mismatch} is not what this session asked for.`);

  if (claims.op === 'REGISTRATION') pinnedKeys.set(claims.device, claims.evidence.publicKeyJwk ?? claims.evidence.deviceKeyJwk);
  if (claims.op === 'AUTHENTICATION') session.lastLogin = { id: operationId, at: Date.now() };
  session.operations.delete(operationId);
  const { iss, aud, sub, jti, iat, op, device, amr, txn, doc } = claims;
  send(res, 200, { status: 'COMPLETED', claims: { iss, aud, sub, jti, iat, op, device, amr, ...(txn ? { txn } : {}), ...(doc ? { doc } : {}) } });
}

// ── webhooks ──────────────────────────────────────────────────────────────────────────────────

/** Custos's signed events: verified over the raw bytes as received (parsed and re-serialised JSON would not verify). */
async function receiveWebhook(req, res) {
  if (WEBHOOK_SECRET === undefined) return send(res, 404, { error: 'WEBHOOKS_NOT_CONFIGURED' });
  const body = await readRaw(req);
  let event;
  try {
    event = await verifyWebhook(WEBHOOK_SECRET, req.headers, body);
  } catch (error) {
    if (error instanceof WebhookVerificationError) {
      console.warn(`webhook refused: ${error.reason}`);
      return send(res, 400, { error: error.reason });
    }
    throw error;
  }
  if (!events.some((known) => known.id === event.id)) {
    events.unshift({ id: event.id, type: event.type, timestamp: event.timestamp, data: event.data, verifiedAt: new Date().toISOString() });
    events.length = Math.min(events.length, MAX_EVENTS);
  }
  // Answer at once: Custos counts an attempt slower than 10 s as failed. A bank would queue the work here.
  send(res, 204);
}

/** The verified events about this session's customer, for the page to show. */
function listEvents(req, res) {
  const { userId } = sessionOf(req);
  send(res, 200, { configured: WEBHOOK_SECRET !== undefined, events: events.filter((e) => e.data?.userId === userId) });
}

// ── static files and the config the page starts from ──────────────────────────────────────────

const STATIC = { '/': ['public/index.html', 'text/html; charset=utf-8'], '/app.js': ['public/app.js', 'text/javascript; charset=utf-8'], '/app.css': ['public/app.css', 'text/css; charset=utf-8'] };
const PACKAGED_SDK = '/vendor/custos.js';

async function serveStatic(res, path) {
  const [file, type] = STATIC[path];
  res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
  res.end(await readFile(here(file)));
}

/** The installed package's self-contained browser bundle, for CUSTOS_SDK=package. */
async function servePackagedSdk(res) {
  const file = fileURLToPath(import.meta.resolve('@custos/web-sdk/custos.browser.js'));
  res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' });
  res.end(await readFile(file));
}

function config(res) {
  send(res, 200, { bank: BANK, custosUrl: CUSTOS_URL, sdkUrl: SDK_SOURCE === 'service' ? `${CUSTOS_URL}/sdk/custos.js` : PACKAGED_SDK });
}

async function route(req, res) {
  const url = new URL(req.url ?? '/', ORIGIN);
  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (method === 'GET' && path in STATIC) return serveStatic(res, path);
  if (method === 'GET' && path === PACKAGED_SDK && SDK_SOURCE === 'package') return servePackagedSdk(res);
  if (method === 'GET' && path === '/api/config') return config(res);
  if (method === 'POST' && path === '/api/customer') return chooseCustomer(req, res);
  if (method === 'POST' && path === '/api/operations') return startOperation(req, res);
  const result = /^\/api\/operations\/(op_[A-Za-z0-9]+)\/result$/.exec(path);
  if (method === 'GET' && result) return operationResult(req, res, result[1]);
  if (method === 'POST' && path === '/webhooks') return receiveWebhook(req, res);
  if (method === 'GET' && path === '/api/events') return listEvents(req, res);
  send(res, 404, { error: 'NOT_FOUND' });
}

async function handle(req, res) {
  try {
    await route(req, res);
  } catch (error) {
    if (error instanceof HttpError) return send(res, error.status, { error: error.code, detail: error.message });
    // The client's errors never carry the client secret (it is kept in a closure), so logging them is safe.
    console.error(error);
    if (!res.headersSent) send(res, 500, { error: 'INTERNAL', detail: 'See the server log.' });
  }
}

// Loopback only, on both address families: browsers and Custos's webhook sender may resolve localhost to either.
const listening = ['127.0.0.1', '::1'].map(
  (host) =>
    new Promise((resolve, reject) => {
      const server = createServer(handle);
      // A machine without IPv6 loopback has only the one; any other failure (port in use) is fatal.
      server.once('error', (error) => (error.code === 'EADDRNOTAVAIL' || error.code === 'EAFNOSUPPORT' ? resolve(null) : reject(error)));
      server.listen(PORT, host, () => resolve(host));
    }),
);
const hosts = (await Promise.all(listening)).filter(Boolean);
console.log(`${BANK} on ${ORIGIN} (listening on ${hosts.join(', ')} port ${PORT}); Custos at ${CUSTOS_URL}; SDK from ${SDK_SOURCE === 'service' ? `${CUSTOS_URL}/sdk/custos.js` : PACKAGED_SDK}; webhooks ${WEBHOOK_SECRET ? 'verified at /webhooks' : 'not configured'}`);
