// The typed Custos API client: openapi-fetch over the generated schema, authorised by OAuth client-credentials tokens it fetches and caches.
import createClient from 'openapi-fetch';
import type { Client, Middleware } from 'openapi-fetch';
import type { paths } from './schema.js';

/** What the client calls the network with; `SELF.fetch.bind(SELF)` or a test double fit as well as `fetch`. */
export type CustosFetch = (input: Request) => Promise<Response>;

export interface CustosClientOptions {
  /** The service's base URL, e.g. `https://custos.example.com` (no trailing `/v1`). */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** Narrows the token to these scopes (`users`, `devices`, `operations`, `audit`); the client's own scopes otherwise. */
  scope?: string | readonly string[];
  fetch?: CustosFetch;
  /** Seconds before `expires_in` runs out at which a cached token is replaced; default 30. */
  refreshLeewaySeconds?: number;
}

/** The openapi-fetch client over every path of docs/openapi.json: `client.POST('/v1/users', { body })`. */
export type CustosClient = Client<paths>;

/** A failed `POST /oauth/token`: the status and the problem `code`, never the credentials. */
export class CustosAuthError extends Error {
  override name = 'CustosAuthError';
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly traceId: string | undefined;

  constructor(message: string, details: { status?: number; code?: string; traceId?: string } = {}, options?: ErrorOptions) {
    super(message, options);
    this.status = details.status;
    this.code = details.code;
    this.traceId = details.traceId;
  }
}

interface CachedToken {
  value: string;
  /** Epoch milliseconds after which the token is not used again. */
  refreshAt: number;
}

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before they are joined and base64-encoded. */
function basicCredentials(clientId: string, clientSecret: string): string {
  const encode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+');
  const pair = new TextEncoder().encode(`${encode(clientId)}:${encode(clientSecret)}`);
  let binary = '';
  for (const byte of pair) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}

/**
 * Fetches and caches client-credentials tokens. Concurrent callers share one token request, so a
 * burst of API calls on a cold cache costs one `POST /oauth/token`.
 */
class TokenSource {
  private cached: CachedToken | undefined;
  private pending: Promise<string> | undefined;
  // Kept in a closure rather than a property so that logging or inspecting the client never shows the secret.
  private readonly authorization: () => string;

  constructor(
    private readonly tokenUrl: string,
    clientId: string,
    clientSecret: string,
    private readonly scope: string | undefined,
    private readonly fetcher: CustosFetch,
    private readonly leewayMs: number,
  ) {
    const header = basicCredentials(clientId, clientSecret);
    this.authorization = () => header;
  }

  /** A token valid for a while yet; `stale` is one the server just refused, so it is never handed out again. */
  async get(stale?: string): Promise<string> {
    if (this.cached && this.cached.value === stale) this.cached = undefined;
    if (this.cached && Date.now() < this.cached.refreshAt) return this.cached.value;
    this.pending ??= this.request().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async request(): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.scope !== undefined) form.set('scope', this.scope);
    const startedAt = Date.now();
    let response: Response;
    try {
      response = await this.fetcher(
        new Request(this.tokenUrl, {
          method: 'POST',
          headers: { authorization: this.authorization(), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: form.toString(),
        }),
      );
    } catch (error) {
      throw new CustosAuthError(`POST /oauth/token did not reach ${new URL(this.tokenUrl).origin}`, {}, { cause: error });
    }
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Left empty: the status below says what went wrong.
    }
    if (!response.ok) {
      const code = typeof body.code === 'string' ? body.code : typeof body.error === 'string' ? body.error : undefined;
      const traceId = typeof body.traceId === 'string' ? body.traceId : (response.headers.get('x-trace-id') ?? undefined);
      throw new CustosAuthError(`POST /oauth/token answered ${response.status}${code ? ` ${code}` : ''}`, {
        status: response.status,
        ...(code ? { code } : {}),
        ...(traceId ? { traceId } : {}),
      });
    }
    const token = body.access_token;
    const expiresIn = body.expires_in;
    if (typeof token !== 'string' || token.length === 0 || typeof expiresIn !== 'number' || !(expiresIn > 0)) {
      throw new CustosAuthError('POST /oauth/token answered without access_token and expires_in', { status: response.status });
    }
    // Measured from when the request was sent, so a slow answer cannot make the cache outlive the token.
    const leeway = Math.min(this.leewayMs, (expiresIn * 1000) / 2);
    this.cached = { value: token, refreshAt: startedAt + expiresIn * 1000 - leeway };
    return token;
  }
}

/**
 * A typed client for the relying-party API (`/v1`). Every request without an `Authorization` header of
 * its own gets `Bearer <token>`; a 401 answer makes it fetch a new token and send the request once more.
 */
export function createCustosClient(options: CustosClientOptions): CustosClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const fetcher: CustosFetch = options.fetch ?? ((request) => globalThis.fetch(request));
  const scope = typeof options.scope === 'string' ? options.scope : options.scope?.join(' ');
  const tokens = new TokenSource(`${baseUrl}/oauth/token`, options.clientId, options.clientSecret, scope, fetcher, (options.refreshLeewaySeconds ?? 30) * 1000);
  // Unsent copies of authorised requests, by openapi-fetch's request id, for the one retry after a 401.
  const retries = new Map<string, { request: Request; token: string }>();

  const auth: Middleware = {
    async onRequest({ request, id }) {
      // An explicit Authorization (the admin token, an sdk token) is the caller's choice: leave it alone.
      if (request.headers.has('authorization')) return undefined;
      const token = await tokens.get();
      const authorised = new Request(request);
      authorised.headers.set('authorization', `Bearer ${token}`);
      retries.set(id, { request: authorised.clone(), token });
      return authorised;
    },
    async onResponse({ response, id }) {
      const retry = retries.get(id);
      retries.delete(id);
      if (retry === undefined || response.status !== 401) return undefined;
      // The token was revoked or expired early (clock skew, key rotation): one fresh token, one more try.
      const token = await tokens.get(retry.token);
      retry.request.headers.set('authorization', `Bearer ${token}`);
      await response.body?.cancel();
      return fetcher(retry.request);
    },
    onError({ id }) {
      retries.delete(id);
      return undefined;
    },
  };

  const client = createClient<paths>({ baseUrl, fetch: fetcher });
  client.use(auth);
  return client;
}
