// The console's shared page kit: how a page renders, reads its session and tenant, takes a form, and shows an API refusal.
import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import { ApiError, ERROR_CODES } from '../errors';
import { isId } from '../domain/ids';
import type { ApiAnswer, ConsoleApi, Problem } from './api';
import { requireCsrf, type ConsoleEnv, type ConsoleSession } from './session';
import { Layout } from './views';

/** How a page reaches the API for the signed-in administrator (src/console/api.ts). */
export type ApiOf = (c: Context<ConsoleEnv>) => ConsoleApi;


export const INVITE_TTL_MS = 24 * 60 * 60 * 1000;
export const MAX_FORM_BYTES = 64 * 1024;
export const SCOPES = ['users', 'devices', 'operations', 'audit'] as const;

export type C = Context<ConsoleEnv>;

export interface TenantView {
  id: string; name: string; rpId: string; rpName: string; origins: string[]; allowedOrigins: string[];
  branding: { name?: string; logoUrl?: string; primaryColor?: string };
  policy: {
    operationTtlSeconds: number; maxFailedAttempts: number; deviceBoundOnly: boolean; requireScaForNewDevice: boolean;
    maxLiveOperationsPerUser: number; maxLiveOperationsPerDevice: number; maxStartsPerUserPerMinute: number;
    pushNotifications: boolean; numberMatching: 'PUSHED' | 'DECOUPLED' | 'REQUESTED';
  };
  createdAt: string;
}
export interface ClientView { clientId: string; name: string; scopes: string[]; createdAt: string; revokedAt?: string }
export interface UserView { id: string; externalRef?: string; status: string; lockReason?: string; attributes: Record<string, string>; createdAt: string }
export interface DeviceView { id: string; kind: string; name: string; status: string; lockReason?: string; lastUsedAt?: string; failedAttempts: number; createdAt: string }
export interface OperationView { id: string; type: string; status: string; createdAt?: string; finalisedAt?: string; failure?: { code?: string } }
export interface AuditView { seq: number; at: string; actor: string; action: string; targetType: string; targetId: string }
export interface ChainView { valid: boolean; checked: number; headSeq: number; headHash: string; brokenAtSeq?: number; reason?: string }
export interface List<T> { items: T[]; nextCursor: string | null }

export async function render(c: C, title: string, body: Child, options: { status?: number | undefined; tenantId?: string } = {}): Promise<Response> {
  const page = <Layout title={title} session={c.get('session')} tenantId={options.tenantId}>{body}</Layout>;
  // Pages carry a CSRF token and tenant data: never stored by a cache.
  c.header('cache-control', 'no-store');
  return c.html(`<!doctype html>${await page.toString()}`, (options.status ?? 200) as 200);
}

export function problemOf(c: C, error: ApiError): Problem {
  return { status: error.status, code: error.code, title: ERROR_CODES[error.code].title, detail: error.message, traceId: c.get('traceId') };
}

export function wantsHtml(c: C): boolean {
  return /text\/html/.test(c.req.header('accept') ?? '') && !c.req.path.startsWith('/console/api/');
}

/** The signed-in administrator, or a refusal (pages send the browser to sign in instead). */
export function sessionOf(c: C): ConsoleSession {
  const session = c.get('session');
  if (!session) throw new ApiError('UNAUTHENTICATED', 'Sign in to the console first.');
  return session;
}

export function requireOperator(session: ConsoleSession): void {
  if (session.admin.role !== 'operator') throw new ApiError('CONSOLE_FORBIDDEN', 'Only operators manage tenants.');
}

/** OWASP ASVS 4.2.1: a tenant administrator's pages name only their own tenant; another tenant id is refused, not redirected. */
export function tenantOf(c: C, session: ConsoleSession): string {
  const tenantId = c.req.param('tenantId') ?? '';
  if (!isId(tenantId, 'ten')) throw new ApiError('TENANT_NOT_FOUND', `No tenant ${tenantId}.`);
  if (session.admin.role === 'tenant' && session.admin.tenantId !== tenantId) throw new ApiError('CONSOLE_FORBIDDEN', 'You administer another tenant.');
  return tenantId;
}

/** A state-changing form: signed in, same origin, the session's CSRF token; only then are its fields read for use. */
export async function formOf(c: C): Promise<{ session: ConsoleSession; form: Record<string, string>; all: Record<string, string[]> }> {
  const session = sessionOf(c);
  if (Number(c.req.header('content-length') ?? '0') > MAX_FORM_BYTES) throw new ApiError('PAYLOAD_TOO_LARGE');
  const body = await c.req.parseBody({ all: true }).catch(() => {
    throw new ApiError('VALIDATION_FAILED', 'The form could not be read.');
  });
  const form: Record<string, string> = {};
  const all: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(body)) {
    const values = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
    all[key] = values;
    if (values[0] !== undefined) form[key] = values[0];
  }
  await requireCsrf(c, session, form['csrf']);
  return { session, form, all };
}

export const lines = (text: string | undefined): string[] => (text ?? '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
/** A number field: empty is left out, anything else goes to the API as typed, so the API's own validation names it. */
export const numberField = (text: string | undefined): number | string | undefined => (text === undefined || text.trim() === '' ? undefined : Number.isFinite(Number(text)) ? Number(text) : text);

export function unwrap<T>(answer: ApiAnswer<T>): T {
  if (!answer.ok) throw new ConsoleProblem(answer.problem);
  return answer.data;
}

/** An API refusal while building a page: the page shows it in place. */
export class ConsoleProblem extends Error {
  constructor(readonly problem: Problem) {
    super(problem.code);
  }
}

export const when = (iso: string | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '—');


/** The non-empty ones of a page's filters, as a query string's parameters. */
const given = (filters: Record<string, string | undefined>): [string, string][] => Object.entries(filters).filter((e): e is [string, string] => Boolean(e[1]));

/** The API query of a listed page: its filters (empty ones left out), the page size and the cursor the address carried. */
export function listQuery(filters: Record<string, string | undefined>, limit: number, cursor: string | undefined): URLSearchParams {
  return new URLSearchParams([...given(filters), ['limit', String(limit)], ...(cursor ? [['cursor', cursor] as [string, string]] : [])]);
}

/** The console address of the next page, keeping the page's filters; null on the last page or when the list was refused. */
export function nextPage(base: string, filters: Record<string, string | undefined>, answer: ApiAnswer<List<unknown>>, hash = ''): string | null {
  if (!answer.ok || !answer.data.nextCursor) return null;
  return `${base}?${new URLSearchParams([...given(filters), ['cursor', answer.data.nextCursor]])}${hash}`;
}
