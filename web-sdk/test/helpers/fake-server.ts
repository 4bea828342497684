// A fake fetch for unit tests: records every request and answers from canned replies per path.

export interface RecordedRequest {
  method: string;
  url: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

export interface CannedReply {
  status?: number;
  /** Sent as JSON unless it is a string, which is sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

export type Route = CannedReply | ((request: RecordedRequest) => CannedReply);

export interface FakeServer {
  fetch: (input: string, init: RequestInit) => Promise<Response>;
  requests: RecordedRequest[];
  /** Paths in the order they were called, e.g. "POST /sdk/v1/operations/op_1/start". */
  calls(): string[];
}

export function fakeServer(routes: Record<string, Route>): FakeServer {
  const requests: RecordedRequest[] = [];
  const fetch = async (input: string, init: RequestInit): Promise<Response> => {
    const url = new URL(input);
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const text = typeof init.body === 'string' ? init.body : undefined;
    const request: RecordedRequest = {
      method: init.method ?? 'GET',
      url: input,
      path: url.pathname,
      headers,
      body: text === undefined ? undefined : (JSON.parse(text) as unknown),
    };
    requests.push(request);
    const route = routes[`${request.method} ${request.path}`];
    const reply: CannedReply =
      route === undefined
        ? { status: 404, body: { type: 'about:blank', title: 'Not Found', status: 404, code: 'NOT_FOUND', traceId: 'trc_404' } }
        : typeof route === 'function'
          ? route(request)
          : route;
    const status = reply.status ?? 200;
    const isText = typeof reply.body === 'string';
    const contentType = status >= 400 && !isText ? 'application/problem+json' : isText ? 'text/html' : 'application/json';
    return new Response(reply.body === undefined ? null : isText ? (reply.body as string) : JSON.stringify(reply.body), {
      status,
      headers: { 'Content-Type': contentType, ...reply.headers },
    });
  };
  return { fetch, requests, calls: () => requests.map((request) => `${request.method} ${request.path}`) };
}

export function problem(status: number, code: string, extra: Record<string, unknown> = {}): CannedReply {
  return {
    status,
    body: { type: `https://custos.dev/problems/${code.toLowerCase()}`, title: code, status, detail: `detail of ${code}`, code, traceId: `trc_${code}`, ...extra },
  };
}
