// The one way the SDK talks to the server: JSON requests with a bearer token or device proof, problems as CustosError.
import { CustosError, codeForProblem } from './errors.js';
import type { ProblemDetails } from './types.js';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface JsonRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  /** The whole Authorization header value: `Bearer <sdk token>` or `Device <proof>`. */
  authorization: string;
  /** Sent as JSON; GET and DELETE requests carry none. */
  body?: unknown;
}

export async function requestJson(fetchFn: FetchLike, request: JsonRequest): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = {
    Authorization: request.authorization,
    Accept: 'application/json, application/problem+json',
  };
  if (request.body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetchFn(request.url, {
      method: request.method,
      headers,
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      // The header is the only credential; ambient cookies must not ride along cross-origin.
      credentials: 'omit',
    });
  } catch (error) {
    throw new CustosError('NETWORK', 'Could not reach the Custos service', { cause: error });
  }

  const headerTraceId = response.headers.get('X-Trace-Id') ?? undefined;
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw new CustosError('NETWORK', 'The connection to the Custos service broke off', {
      status: response.status,
      cause: error,
      ...(headerTraceId === undefined ? {} : { traceId: headerTraceId }),
    });
  }
  // 204 No Content (a DELETE): an empty record, so callers need no special case.
  if (response.status === 204) return {};
  const parsed = parseJson(text);

  if (!response.ok) {
    const problem = isRecord(parsed) ? (parsed as ProblemDetails) : undefined;
    const code = codeForProblem(response.status, problem);
    const message = problem?.detail ?? problem?.title ?? `The Custos service answered HTTP ${response.status}`;
    throw new CustosError(code, message, {
      status: response.status,
      ...(problem === undefined ? {} : { problem }),
      ...(headerTraceId === undefined ? {} : { traceId: problem?.traceId ?? headerTraceId }),
    });
  }
  if (!isRecord(parsed)) {
    throw new CustosError('SERVER_ERROR', 'The Custos service sent an unreadable answer', {
      status: response.status,
      ...(headerTraceId === undefined ? {} : { traceId: headerTraceId }),
    });
  }
  return parsed;
}
