// Demo relying party ("Demo Bank", DEMO=true only): serves the demo page at / and a small backend that drives the real /v1 API.
import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from '@hono/zod-openapi';
import { renderSVG } from 'uqr';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import type { AppEnv, Bindings } from '../env';
import { ApiError } from '../errors';
import { isId } from '../domain/ids';
import { requireAdmin } from '../middleware/auth';
import { isLocalDevelopment, publicOriginOf } from '../middleware/origin';
import { readDemoState, saveDemoStateOnce } from '../storage/demo-state';
import type { DemoState } from '../storage/demo-state';

/** The worker's own fetch: the demo backend reaches /admin, /oauth and /v1 through it, like any relying party would over HTTP. */
export interface SelfFetch {
  fetch(request: Request, env: Bindings, executionCtx?: ExecutionContext): Response | Promise<Response>;
}

const DEMO_NAME = 'Demo Bank';
const DEMO_COLOUR = '#0b5fff';
const MAX_QR_DATA = 2048;

/** One access token per isolate, renewed a minute before it runs out. */
let cachedToken: { clientId: string; token: string; expiresAt: number } | undefined;

function notFound(c: Context<AppEnv>): never {
  // Off unless DEMO=true: indistinguishable from any other unknown path.
  throw new ApiError('NOT_FOUND', `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`);
}

/** The local-development landing page of a plain `wrangler dev` (no demo): links, and the localhost hint on 127.0.0.1. */
function localIndex(requestUrl: string): string {
  const url = new URL(requestUrl);
  const onIp = url.hostname !== 'localhost';
  const base = `${url.protocol}//localhost${url.port ? `:${url.port}` : ''}`;
  const link = (path: string, text: string): string => `<li><a href="${base}${path}">${text}</a></li>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Custos (local development)</title></head>
<body><main>
<h1>Custos is running (local development)</h1>
${onIp ? `<p><strong>Open <a href="${base}/">${base}/</a>: passkeys need a domain name, not an IP address.</strong></p>` : ''}
<ul>
${link('/docs', 'API reference (/docs)')}
${link('/app/', 'Authenticator app (/app)')}
${link('/healthz', 'Health and configuration (/healthz)')}
</ul>
<p>The demo relying party runs with <code>npm run dev</code>. Operator token: <code>ADMIN_TOKEN</code> in <code>.dev.vars</code>.</p>
</main></body></html>`;
}

function invalid(name: string, reason: string): ApiError {
  return new ApiError('VALIDATION_FAILED', `${name}: ${reason}`, { invalidParams: [{ name, reason }] });
}

async function readBody<T extends z.ZodTypeAny>(c: Context<AppEnv>, schema: T): Promise<z.infer<T>> {
  let value: unknown;
  try {
    const text = await c.req.text();
    value = text === '' ? {} : (JSON.parse(text) as unknown);
  } catch {
    throw new ApiError('MALFORMED_JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(issue?.path.join('.') || 'body', issue?.message ?? 'invalid');
  }
  return parsed.data as z.infer<T>;
}

/** WebAuthn forbids IP addresses as rpId (a valid domain string is required): a loopback IP gets `localhost`. */
function rpIdFor(hostname: string): string {
  return /^[0-9.]+$/.test(hostname) || hostname.includes(':') || hostname.startsWith('[') ? 'localhost' : hostname;
}

/** The page may be opened as localhost or 127.0.0.1: both are allowed origins of the demo tenant. */
function originsFor(url: URL): string[] {
  const origins = new Set([url.origin]);
  if (url.hostname === 'localhost' || url.hostname === '127.0.0.1') {
    const port = url.port ? `:${url.port}` : '';
    origins.add(`${url.protocol}//localhost${port}`);
    origins.add(`${url.protocol}//127.0.0.1${port}`);
  }
  return [...origins];
}

export function demoRouter(api: SelfFetch): Hono<AppEnv> {
  const demo = new Hono<AppEnv>();

  function executionCtx(c: Context<AppEnv>): ExecutionContext | undefined {
    try {
      return c.executionCtx as ExecutionContext;
    } catch {
      return undefined;
    }
  }

  /**
   * A request to the worker itself, on the origin the page was opened on (so sdk.url points back there),
   * under the page request's trace id so a relayed problem and its X-Trace-Id agree.
   */
  function call(c: Context<AppEnv>, path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('x-trace-id', c.get('traceId'));
    return Promise.resolve(api.fetch(new Request(new URL(path, c.req.url), { ...init, headers }), c.env, executionCtx(c)));
  }

  async function expectOk<T>(response: Response, what: string): Promise<T> {
    if (!response.ok) throw new Error(`demo: ${what} answered ${response.status}: ${await response.text()}`);
    return response.json<T>();
  }

  /** The demo tenant and its API client, created through the admin API on first use. */
  async function ensureState(c: Context<AppEnv>): Promise<{ state: DemoState; created: boolean }> {
    const existing = await readDemoState(c.env.DB);
    if (existing) return { state: existing, created: false };
    const adminToken = c.env.ADMIN_TOKEN;
    if (!adminToken) throw new Error('demo: ADMIN_TOKEN is not configured (npm run dev writes it into .dev.vars)');
    const admin = (path: string, body: unknown): Promise<Response> =>
      call(c, `/admin/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    // The tenant names the service's public origin (PUBLIC_URL, or this loopback host in local development).
    const url = new URL(publicOriginOf(c).origin);
    const rpId = rpIdFor(url.hostname);
    const tenant = await expectOk<{ id: string }>(
      await admin('/tenants', {
        name: DEMO_NAME, rpId, rpName: DEMO_NAME, origins: originsFor(url),
        branding: { name: DEMO_NAME, primaryColor: DEMO_COLOUR, ...(url.hostname === 'localhost' ? { logoUrl: `${url.origin}/demo/logo.svg` } : {}) },
      }),
      'creating the demo tenant',
    );
    const client = await expectOk<{ clientId: string; clientSecret: string }>(await admin(`/tenants/${tenant.id}/clients`, { name: 'demo backend' }), 'creating the demo client');
    // Two first calls at once: the first insert wins, the other tenant stays unused.
    await saveDemoStateOnce(c.env.DB, { tenantId: tenant.id, clientId: client.clientId, clientSecret: client.clientSecret }, new Date().toISOString());
    const state = (await readDemoState(c.env.DB))!;
    return { state, created: state.tenantId === tenant.id };
  }

  async function accessToken(c: Context<AppEnv>, state: DemoState): Promise<string> {
    const now = Date.now();
    if (cachedToken?.clientId === state.clientId && cachedToken.expiresAt > now + 60_000) return cachedToken.token;
    const basic = btoa(`${encodeURIComponent(state.clientId)}:${encodeURIComponent(state.clientSecret)}`);
    const answer = await expectOk<{ access_token: string; expires_in: number }>(
      await call(c, '/oauth/token', {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      }),
      'the token endpoint',
    );
    cachedToken = { clientId: state.clientId, token: answer.access_token, expiresAt: now + answer.expires_in * 1000 };
    return answer.access_token;
  }

  /** Calls /v1 with the demo client's token; a problem answer goes back to the page as it came. */
  async function v1(c: Context<AppEnv>, path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
    const { state } = await ensureState(c);
    const token = await accessToken(c, state);
    return call(c, `/v1${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${token}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  }

  function relay(response: Response): Response {
    return new Response(response.body, { status: response.status, headers: { 'content-type': response.headers.get('content-type') ?? 'application/json' } });
  }

  async function asset(c: Context<AppEnv>, path: string): Promise<Response> {
    if (!c.env.ASSETS) notFound(c);
    const response = await c.env.ASSETS.fetch(new Request(new URL(path, c.req.url), { headers: c.req.raw.headers }));
    if (response.status === 404) notFound(c);
    // The assets binding answers with immutable headers; the trace middleware still adds X-Trace-Id.
    return new Response(response.body, response);
  }

  // DEMO=true only (local development): in production / and /demo/* are plain 404s.
  // Without the demo, `/` is a 404 in production; in local development it says where things are (and to use localhost).
  demo.use('/', async (c, next) => (c.env.DEMO === 'true' ? next() : isLocalDevelopment(c) && c.req.method === 'GET' ? c.html(localIndex(c.req.url)) : notFound(c)));
  demo.use('/demo/*', async (c, next) => (c.env.DEMO === 'true' ? next() : notFound(c)));

  demo.get('/', (c) => asset(c, '/demo/'));

  demo.post('/demo/api/bootstrap', requireAdmin, async (c) => {
    const { state, created } = await ensureState(c);
    return c.json({ ...state, created }, created ? 201 : 200);
  });

  demo.get('/demo/api/config', async (c) => {
    const { state } = await ensureState(c);
    return c.json({ tenantId: state.tenantId, name: DEMO_NAME, rpId: rpIdFor(new URL(publicOriginOf(c).origin).hostname) });
  });

  const userBody = z.strictObject({ name: z.string().trim().min(1).max(64) });

  /** Signs a customer in by name: the user with that externalRef, created on first use. */
  demo.post('/demo/api/users', async (c) => {
    const { name } = await readBody(c, userBody);
    const found = await v1(c, `/users?externalRef=${encodeURIComponent(name)}`);
    if (!found.ok) return relay(found);
    let user = (await found.json<{ items: Array<{ id: string }> }>()).items[0];
    const isNew = user === undefined;
    if (user === undefined) {
      const created = await v1(c, '/users', { method: 'POST', body: { externalRef: name, attributes: { displayName: name } } });
      if (!created.ok) return relay(created);
      user = await created.json<{ id: string }>();
    }
    const devices = await v1(c, `/users/${user.id}/devices`);
    if (!devices.ok) return relay(devices);
    return c.json({ user, devices: (await devices.json<{ items: unknown[] }>()).items }, isNew ? 201 : 200);
  });

  demo.get('/demo/api/users/:userId/devices', async (c) => {
    const userId = c.req.param('userId');
    if (!isId(userId, 'usr')) throw new ApiError('USER_NOT_FOUND');
    return relay(await v1(c, `/users/${userId}/devices`));
  });

  // push: true is the page's "Send to my phone"; otherwise the page runs the ceremony itself (or shows the QR code), so
  // the start says push: false and the phone does not ring as well.
  const push = { push: z.boolean().optional() };
  const operationBody = z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('REGISTRATION'), userId: z.string(), deviceName: z.string().max(64).optional(), authorisedBy: z.string().optional() }),
    z.strictObject({ type: z.literal('AUTHENTICATION'), userId: z.string(), ...push }),
    z.strictObject({
      type: z.literal('AUTHORISATION'), userId: z.string(), amount: z.string(), currency: z.string(), payee: z.string(),
      account: z.string().optional(), reference: z.string().optional(), ...push,
    }),
    z.strictObject({ type: z.literal('SIGNATURE'), userId: z.string(), title: z.string().max(128).optional(), text: z.string(), ...push }),
  ]);

  /** Starts an operation the way a bank's backend would; validation of amounts, currencies etc. is the API's. */
  demo.post('/demo/api/operations', async (c) => {
    const input = await readBody(c, operationBody);
    const common = { type: input.type, userId: input.userId };
    let body: Record<string, unknown>;
    switch (input.type) {
      case 'REGISTRATION':
        body = {
          ...common, deviceName: input.deviceName ?? 'Passkey', context: { title: 'Register this device', text: `Add a passkey for ${DEMO_NAME}.` },
          ...(input.authorisedBy ? { authorisedBy: input.authorisedBy } : {}),
        };
        break;
      case 'AUTHENTICATION':
        body = { ...common, context: { title: `Sign in to ${DEMO_NAME}`, text: 'Confirm that it is you signing in to online banking.' } };
        break;
      case 'AUTHORISATION':
        body = {
          ...common,
          context: { title: 'Approve payment', text: `A transfer to ${input.payee}.` },
          transaction: {
            amount: input.amount, currency: input.currency, payee: { name: input.payee, ...(input.account ? { account: input.account } : {}) },
            ...(input.reference ? { reference: input.reference } : {}),
          },
        };
        break;
      case 'SIGNATURE':
        body = {
          ...common, context: { title: 'Sign document', text: 'Read the document, then sign it with your passkey.' },
          document: { content: input.text, mimeType: 'text/plain', ...(input.title ? { title: input.title } : {}) },
        };
        break;
    }
    if (input.type !== 'REGISTRATION') body['push'] = input.push === true;
    return relay(await v1(c, '/operations', { method: 'POST', body }));
  });

  /** Long-polls the operation; a COMPLETED one comes back with its result token decoded and checked as a relying party must. */
  demo.get('/demo/api/operations/:operationId', async (c) => {
    const operationId = c.req.param('operationId');
    if (!isId(operationId, 'op')) throw new ApiError('OPERATION_NOT_FOUND');
    const wait = Number(c.req.query('wait') ?? '0');
    if (!Number.isInteger(wait) || wait < 0 || wait > 30) throw invalid('wait', '0 to 30 seconds');
    const response = await v1(c, `/operations/${operationId}${wait > 0 ? `?wait=${wait}` : ''}`);
    if (!response.ok) return relay(response);
    const operation = await response.json<{ id: string; type: string; userId: string; status: string; result?: { token: string }; transaction?: unknown; document?: unknown }>();
    if (operation.status !== 'COMPLETED' || !operation.result?.token) return c.json({ operation });
    return c.json({ operation, resultToken: await inspectResultToken(c, operation as Required<Pick<typeof operation, 'result'>> & typeof operation) });
  });

  async function inspectResultToken(
    c: Context<AppEnv>,
    operation: { id: string; type: string; userId: string; result: { token: string }; transaction?: unknown; document?: unknown },
  ): Promise<Record<string, unknown>> {
    const token = operation.result.token;
    const header = decodeProtectedHeader(token);
    const claims = decodeJwt(token);
    const { state } = await ensureState(c);
    const checks: Array<{ check: string; ok: boolean }> = [];
    try {
      const jwks = await expectOk<JSONWebKeySet>(await call(c, '/.well-known/jwks.json', { method: 'GET' }), 'the JWKS');
      // What every relying party checks: signature by a published key, issuer, audience, type.
      await jwtVerify(token, createLocalJWKSet(jwks), {
        algorithms: ['ES256'], issuer: publicOriginOf(c).origin, audience: state.tenantId, typ: 'custos-result+jwt',
      });
      checks.push({ check: 'ES256 signature by a key in /.well-known/jwks.json, iss, aud = tenant, typ', ok: true });
    } catch {
      checks.push({ check: 'ES256 signature by a key in /.well-known/jwks.json, iss, aud = tenant, typ', ok: false });
    }
    checks.push({ check: 'jti = this operation', ok: claims.jti === operation.id });
    checks.push({ check: 'sub = this user', ok: claims.sub === operation.userId });
    checks.push({ check: 'op = this operation type', ok: claims['op'] === operation.type });
    if (operation.transaction !== undefined) checks.push({ check: 'txn = the transaction asked for', ok: JSON.stringify(claims['txn']) === JSON.stringify(operation.transaction) });
    if (operation.document !== undefined) checks.push({ check: 'doc = the document asked for', ok: JSON.stringify(claims['doc']) === JSON.stringify(operation.document) });
    return { header, claims, checks, valid: checks.every((item) => item.ok) };
  }

  demo.post('/demo/api/operations/:operationId/cancel', async (c) => {
    const operationId = c.req.param('operationId');
    if (!isId(operationId, 'op')) throw new ApiError('OPERATION_NOT_FOUND');
    return relay(await v1(c, `/operations/${operationId}/cancel`, { method: 'POST' }));
  });

  /** The sdk.url as a QR code, so a phone can open the authenticator app on the operation. */
  demo.get('/demo/api/qr', (c) => {
    const data = c.req.query('data') ?? '';
    if (data === '' || data.length > MAX_QR_DATA) throw invalid('data', `1 to ${MAX_QR_DATA} characters`);
    const svg = renderSVG(data, { ecc: 'M', border: 2, pixelSize: 6 });
    return c.body(svg, 200, { 'content-type': 'image/svg+xml', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  });

  // The page's own static files (public/demo/, built from web-sdk/demo/).
  demo.get('/demo/*', (c) => asset(c, new URL(c.req.url).pathname));

  return demo;
}
