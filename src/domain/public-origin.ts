// The service's public origin comes from configuration (PUBLIC_URL); a request's Host is trusted only on loopback in local development.

/** Hostnames that only ever reach this machine: a request naming one is local development, never a deployed worker. */
export function isLoopbackHostname(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

export type PublicUrlCheck = { ok: true; origin: string; loopback: boolean } | { ok: false; reason: string };

/** PUBLIC_URL must be an absolute http(s) origin (no path, query, credentials); https unless it is a loopback host. */
export function checkPublicUrl(value: string | undefined): PublicUrlCheck {
  if (value === undefined || value.trim() === '') return { ok: false, reason: 'PUBLIC_URL is not set' };
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return { ok: false, reason: 'PUBLIC_URL is not an absolute URL' };
  }
  const loopback = isLoopbackHostname(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) return { ok: false, reason: 'PUBLIC_URL must be https (http only for localhost)' };
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    return { ok: false, reason: 'PUBLIC_URL must be a bare origin such as https://custos.example.com' };
  }
  return { ok: true, origin: url.origin, loopback };
}

export type PublicOrigin =
  | { ok: true; origin: string; hostname: string; localDevelopment: boolean }
  | { ok: false; reason: string };

/**
 * The origin every URL and identifier the service hands out is built from (sdk.url, result-token iss, the service rpId).
 * PUBLIC_URL when it is configured, whatever the request says. Without it, only a request to a loopback host (local
 * development: nothing outside this machine can send one to a deployed worker, whose routes are public names) may use
 * its own origin; any other request gets nothing derived from its Host.
 */
export function resolvePublicOrigin(publicUrl: string | undefined, requestUrl: string): PublicOrigin {
  const request = new URL(requestUrl);
  const requestIsLoopback = isLoopbackHostname(request.hostname);
  const configured = checkPublicUrl(publicUrl);
  if (configured.ok) {
    const hostname = new URL(configured.origin).hostname;
    return { ok: true, origin: configured.origin, hostname, localDevelopment: configured.loopback && requestIsLoopback };
  }
  if (publicUrl !== undefined && publicUrl.trim() !== '') return { ok: false, reason: configured.reason };
  // Loopback IPs become localhost: passkeys need a domain, so links handed out must open on one.
  if (requestIsLoopback) {
    const origin = serviceRelyingParty(request.origin).origin;
    return { ok: true, origin, hostname: new URL(origin).hostname, localDevelopment: true };
  }
  return { ok: false, reason: 'PUBLIC_URL is not set, and only loopback requests may stand in for it (local development)' };
}

/** Whether keys this service generated itself may be used: never once PUBLIC_URL names a public host. */
export function localKeysAllowed(publicUrl: string | undefined): boolean {
  if (publicUrl === undefined || publicUrl.trim() === '') return true;
  const configured = checkPublicUrl(publicUrl);
  return configured.ok && configured.loopback;
}

/**
 * The relying party of passkeys registered in the authenticator app: the public origin's host. WebAuthn needs a
 * domain as rpId (WebAuthn §5.1.2, not an IP address), so a loopback IP maps to `localhost` on the same port.
 */
export function serviceRelyingParty(origin: string): { rpId: string; origin: string } {
  const url = new URL(origin);
  if (isLoopbackHostname(url.hostname) && url.hostname !== 'localhost') {
    const local = `${url.protocol}//localhost${url.port ? `:${url.port}` : ''}`;
    return { rpId: 'localhost', origin: local };
  }
  return { rpId: url.hostname, origin: url.origin };
}
