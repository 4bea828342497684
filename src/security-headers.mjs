// The security headers of every response, one source for both the worker (middleware) and the static-assets `_headers` file.
// Plain JavaScript so scripts/build-assets.mjs can import it under Node without a TypeScript step (types: security-headers.d.mts).

/**
 * Powerful features no page of this service uses are switched off, so a script injected into a
 * page (or a page that frames ours, were framing allowed) cannot ask for them. WebAuthn stays on
 * for this origin only: the approve screen and the demo create and use passkeys themselves.
 */
export const PERMISSIONS_POLICY = [
  'accelerometer=()',
  'camera=()',
  'display-capture=()',
  'geolocation=()',
  'gyroscope=()',
  'hid=()',
  'magnetometer=()',
  'microphone=()',
  'midi=()',
  'payment=()',
  'serial=()',
  'usb=()',
  'xr-spatial-tracking=()',
  'publickey-credentials-create=(self)',
  'publickey-credentials-get=(self)',
].join(', ');

/** Sent with every response, HTML, asset or JSON alike. */
export const BASE_HEADERS = Object.freeze({
  // A JSON body or an uploaded-looking asset is never reinterpreted as HTML or script.
  'X-Content-Type-Options': 'nosniff',
  // sdk.url links carry an operation id in the fragment; no page here needs to tell others where it was.
  'Referrer-Policy': 'no-referrer',
  // Clickjacking of the approve screen: browsers without CSP frame-ancestors still honour this.
  'X-Frame-Options': 'DENY',
  'Permissions-Policy': PERMISSIONS_POLICY,
});

const csp = (/** @type {string[]} */ directives) => directives.join('; ');

/**
 * Anything that is not one of the pages below (JSON, problem+json, scripts, images): it may load
 * nothing and be framed by no one, so a response opened as a document cannot run anything.
 */
export const API_CSP = csp(["default-src 'none'", "frame-ancestors 'none'"]);

/**
 * The authenticator PWA (/app): its own scripts, styles, manifest and service worker; tenant logos
 * come from any https host (branding.logoUrl) or the page's own origin; it calls only its own API.
 */
export const APP_CSP = csp([
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' https: data:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "worker-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
]);

/** A page that loads scripts, styles, images (incl. data:) and API calls from its own origin only. */
const SAME_ORIGIN_PAGE_CSP = csp([
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
]);

/** The demo relying party (/ and /demo/*): its page, the SDK bundle and its QR images, all from this origin. */
export const DEMO_CSP = SAME_ORIGIN_PAGE_CSP;

/**
 * /docs (Swagger UI 5 from /docs/assets). It needs neither 'unsafe-inline' nor 'unsafe-eval':
 * - styles: React sets `style` props through the CSSOM (element.style), which CSP does not govern,
 *   and the bundle adds no <style> elements; the one markup style attribute it can emit (aligned
 *   columns in Markdown tables) is merely dropped, and our descriptions have no such tables;
 * - eval: its `Function(...)` calls are fallbacks behind globalThis/self and Function.prototype.bind,
 *   which every supported browser has, so they never run;
 * - images: swagger-ui.css draws its icons as data: SVG; the online validator badge is switched off
 *   in init.js (it would send the document's URL to validator.swagger.io).
 * "Try it out" calls the servers of /openapi.json, which is this origin (PUBLIC_URL).
 */
export const DOCS_CSP = SAME_ORIGIN_PAGE_CSP;

/**
 * The console (/console): its pages, its one bundled script and stylesheet, its own API; nothing else, no inline code.
 * Images may come from any https host too, for one reason: the branding preview shows the tenant's logo from where
 * the authenticator app will load it (the same rule as APP_CSP).
 */
export const CONSOLE_CSP = csp([
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' https: data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
]);

const under = (/** @type {string} */ path, /** @type {string} */ prefix) => path === prefix || path.startsWith(`${prefix}/`);

/** The CSP of an HTML page at `pathname`: each page gets exactly what it loads, anything else the API policy. */
export function pageCsp(pathname) {
  if (under(pathname, '/app')) return APP_CSP;
  if (under(pathname, '/docs')) return DOCS_CSP;
  if (under(pathname, '/console')) return CONSOLE_CSP;
  if (pathname === '/' || under(pathname, '/demo')) return DEMO_CSP;
  return API_CSP;
}

/** Every security header of a response the worker itself sends, from its path and Content-Type. */
export function securityHeadersFor(pathname, contentType) {
  const html = /^text\/html\b/i.test(contentType ?? '');
  return { ...BASE_HEADERS, 'Content-Security-Policy': html ? pageCsp(pathname) : API_CSP };
}

/**
 * The static-assets `_headers` file (Cloudflare Workers static assets; miniflare reads it under
 * `wrangler dev` and the vitest pool too). Rules that match one path are applied in order and a
 * header two rules set is joined with a comma (two CSPs, both enforced), so `/*` sets the strict
 * default and each page area first detaches it (`! name`) before setting its own.
 */
export function assetsHeadersFile() {
  const lines = ['# Generated by scripts/build-assets.mjs from src/security-headers.mjs: edit that file, not this one.', '/*'];
  for (const [name, value] of Object.entries(BASE_HEADERS)) lines.push(`  ${name}: ${value}`);
  lines.push(`  Content-Security-Policy: ${API_CSP}`);
  // /sdk/* (the bundle) keeps the strict default. /app itself only redirects to /app/, but gets the app's policy too.
  const areas = [
    ['/app', APP_CSP],
    ['/app/*', APP_CSP],
    ['/docs/*', DOCS_CSP],
    ['/demo/*', DEMO_CSP],
  ];
  for (const [path, policy] of areas) lines.push(path, '  ! Content-Security-Policy', `  Content-Security-Policy: ${policy}`);
  return `${lines.join('\n')}\n`;
}
