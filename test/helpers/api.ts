// Shared helpers for route tests: tenants, API clients and tokens through the real admin/OAuth API, and D1 row counts.
import { env, SELF } from 'cloudflare:test';
import { expect } from 'vitest';

/** Origin every test request goes to; the worker does not care about the host. */
export const BASE_URL = 'https://custos.test';

/** The operator token configured for tests in vitest.config.ts. */
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

/** A tenant as the admin API returns it. */
export interface TenantJson {
  id: string;
  name: string;
  rpId: string;
  rpName: string;
  origins: string[];
  branding: { name?: string; logoUrl?: string; primaryColor?: string };
  webhook?: { url: string; disabled?: boolean };
  policy: {
    maxFailedAttempts: number; operationTtlSeconds: number; deviceBoundOnly: boolean; requireScaForNewDevice: boolean;
    maxLiveOperationsPerUser: number; maxLiveOperationsPerDevice: number; maxStartsPerUserPerMinute: number;
  };
  createdAt: string;
  updatedAt: string;
}

/** An API client's credentials, as shown once at creation. */
export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  name: string;
  scopes: string[];
  createdAt: string;
}

/** RequestInit plus `json`: a value sent as the JSON body (overrides `body`). */
export type ApiInit = RequestInit & { json?: unknown };

/** Fetches a path of the worker under test. */
export function workerFetch(path: string, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(`${BASE_URL}${path}`, init);
}

function withDefaults(init: ApiInit, authorization: string): RequestInit {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (!headers.has('authorization')) headers.set('authorization', authorization);
  if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  return { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) };
}

/**
 * Calls the operator API: adds `Authorization: Bearer ADMIN_TOKEN` and `Content-Type: application/json`
 * unless the caller set them.
 */
export function adminFetch(path: string, init: ApiInit = {}): Promise<Response> {
  return workerFetch(path, withDefaults(init, `Bearer ${ADMIN_TOKEN}`));
}

/** The default tenant: rpId `localhost`, origin `http://localhost:8787`; `overrides` replace top-level fields. */
export async function createTenant(overrides: Record<string, unknown> = {}): Promise<TenantJson> {
  const res = await adminFetch('/admin/v1/tenants', {
    method: 'POST',
    json: { name: 'Test tenant', rpId: 'localhost', origins: ['http://localhost:8787'], ...overrides },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json<TenantJson>();
}

/** Creates an API client of the tenant (all four scopes unless `scopes` is given). */
export async function createClient(tenantId: string, options: { scopes?: string[]; name?: string } = {}): Promise<ClientCredentials> {
  const res = await adminFetch(`/admin/v1/tenants/${tenantId}/clients`, {
    method: 'POST',
    json: { name: options.name ?? 'Test client', ...(options.scopes ? { scopes: options.scopes } : {}) },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json<ClientCredentials>();
}

/** HTTP Basic credentials of a client (RFC 6749 §2.3.1: form-urlencoded, then base64). */
export function basicAuth(client: { clientId: string; clientSecret: string }): string {
  return `Basic ${btoa(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`)}`;
}

/** An access token from POST /oauth/token (client credentials over HTTP Basic), optionally narrowed to `scope`. */
export async function getToken(client: { clientId: string; clientSecret: string }, scope?: string): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (scope !== undefined) form.set('scope', scope);
  const res = await workerFetch('/oauth/token', {
    method: 'POST',
    headers: { authorization: basicAuth(client), 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  const body = await res.json<{ access_token: string }>();
  return body.access_token;
}

/** A fetch bound to one bearer token: adds `Authorization: Bearer <token>` and `Content-Type: application/json`. */
export type Api = (path: string, init?: ApiInit) => Promise<Response>;

export function apiWith(token: string): Api {
  return (path, init = {}) => workerFetch(path, withDefaults(init, `Bearer ${token}`));
}

export interface TenantSetup {
  tenant: TenantJson;
  client: ClientCredentials;
  token: string;
  api: Api;
}

/** A fresh tenant with one all-scopes client, a token of it, and an `api` fetch using that token. */
export async function setupTenant(options: { policy?: Record<string, unknown>; origins?: string[]; rpId?: string } = {}): Promise<TenantSetup> {
  const tenant = await createTenant({
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.origins ? { origins: options.origins } : {}),
    ...(options.rpId ? { rpId: options.rpId } : {}),
  });
  const client = await createClient(tenant.id);
  const token = await getToken(client);
  return { tenant, client, token, api: apiWith(token) };
}

/** `SELECT COUNT(*) FROM <table> [WHERE <where>]` on the D1 binding, with `?1`… binds. */
export async function countRows(table: string, where?: string, ...binds: unknown[]): Promise<number> {
  if (!/^[a-z_]+$/.test(table)) throw new Error(`not a table name: ${table}`);
  const sql = `SELECT COUNT(*) AS n FROM ${table}${where ? ` WHERE ${where}` : ''}`;
  const row = await env.DB.prepare(sql).bind(...binds).first<{ n: number }>();
  return row?.n ?? 0;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  traceId: string;
  invalidParams?: { name: string; reason: string }[];
  [member: string]: unknown;
}

/**
 * Asserts an RFC 9457 problem response (API.md conventions): the status, `application/problem+json`,
 * the stable `code`, and a `traceId` equal to the X-Trace-Id header. Returns the body.
 */
export async function expectProblem(res: Response, status: number, code: string): Promise<Problem> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(text) as Problem;
  expect(body).toMatchObject({ status, code });
  expect(typeof body.type).toBe('string');
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  const traceId = res.headers.get('x-trace-id');
  expect(traceId).toBeTruthy();
  expect(body.traceId).toBe(traceId);
  return body;
}

/** Lowercase hex SHA-256 of a UTF-8 string (how secrets, tokens and idempotency requests are hashed). */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
