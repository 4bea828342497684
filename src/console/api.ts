// The console's only way to read or change tenant data: the public JSON API, called in-process for the signed-in administrator.
import type { Context } from 'hono';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';
import { tagConsoleRequest } from '../middleware/console-principal';
import type { ConsoleSession } from './session';

/** A problem+json answer of the API, as the page shows it: plain words and the trace id to quote. */
export interface Problem {
  status: number;
  code: string;
  title: string;
  detail?: string;
  traceId?: string;
  invalidParams?: { name: string; reason: string }[];
}

export type ApiAnswer<T> = { ok: true; status: number; data: T } | { ok: false; problem: Problem };

export interface ConsoleApi {
  call<T>(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, options?: { tenantId?: string; body?: unknown }): Promise<ApiAnswer<T>>;
}

/**
 * Each call is a Request the API's auth middleware recognises as this administrator (src/middleware/console-principal.ts):
 * the same routes, validation, rules, audit and errors as any API client, with `admin:<id>` as the actor. A tenant
 * administrator's calls always name their own tenant, whatever the page asked for.
 */
export function consoleApi(app: OpenAPIHono<AppEnv>, c: Context<AppEnv>, session: ConsoleSession): ConsoleApi {
  return {
    async call<T>(method: string, path: string, options: { tenantId?: string; body?: unknown } = {}): Promise<ApiAnswer<T>> {
      const admin = session.admin;
      const tenantId = admin.role === 'tenant' ? admin.tenantId : (options.tenantId ?? null);
      const headers: Record<string, string> = { 'x-trace-id': c.get('traceId') };
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      const request = tagConsoleRequest(
        new Request(new URL(path, c.req.url), { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) }),
        { adminId: admin.id, role: admin.role, tenantId },
      );
      const response = await app.fetch(request, c.env, c.executionCtx);
      if (response.status === 204) return { ok: true, status: 204, data: undefined as T };
      const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      if (response.ok) return { ok: true, status: response.status, data: body as T };
      return {
        ok: false,
        problem: {
          status: response.status,
          code: String(body['code'] ?? 'INTERNAL'),
          title: String(body['title'] ?? 'Something went wrong'),
          ...(typeof body['detail'] === 'string' ? { detail: body['detail'] } : {}),
          traceId: String(body['traceId'] ?? c.get('traceId')),
          ...(Array.isArray(body['invalidParams']) ? { invalidParams: body['invalidParams'] as Problem['invalidParams'] } : {}),
        },
      };
    },
  };
}
