// The Hono app: middleware order, routers, the one error handler, the OpenAPI document and /docs.
import { HTTPException } from 'hono/http-exception';
import { createRouter } from './env';
import { ApiError, problemResponse } from './errors';
import { traceId } from './middleware/trace';
import { securityHeaders } from './middleware/security-headers';
import { jsonBody } from './middleware/body';
import { tenants } from './routes/admin/tenants';
import { webhooksAdmin } from './routes/admin/webhooks';
import { pushAdmin } from './routes/admin/push';
import { oauth, registerOAuthDocs } from './routes/oauth';
import { oidc } from './oidc/routes';
import { registerOidcDocs } from './oidc/docs';
import { users } from './routes/v1/users';
import { audit } from './routes/v1/audit';
import { operations } from './routes/v1/operations';
import { devices } from './routes/v1/devices';
import { webhooks } from './routes/v1/webhooks';
import { sdk } from './routes/sdk/operations';
import { registerSdkDocs } from './routes/sdk/openapi';
import { isJoseRequest } from './routes/sdk/native';
import { wellKnown } from './routes/well-known';
import { docsPage, OPENAPI_INFO, OPENAPI_TAGS } from './routes/docs';
import { registerWellKnownDocs } from './routes/well-known-docs';
import { demoRouter } from './routes/demo';
import { consoleRouter } from './console/routes';
import { allowOriginForBundle, sdkCors } from './middleware/origin';
import { resolvePublicOrigin } from './domain/public-origin';
import { MIGRATE_COMMAND_LOCAL } from './storage/schema';

export const app = createRouter();

app.use('*', traceId);
// CSP, nosniff, frame and referrer policy on everything the worker answers; the assets layer has public/_headers.
app.use('*', securityHeaders);
// Relying-party pages on their own origins call /sdk/* (CORS); /v1, /admin and /oauth are server to server: no CORS at all.
app.use('/sdk/*', sdkCors);
app.use('/v1/*', jsonBody);
app.use('/admin/*', jsonBody);
// Native apps send application/jose envelopes (docs/native-protocol.md); the native handler bounds their size itself.
app.use('/sdk/*', (c, next) => (isJoseRequest(c) ? next() : jsonBody(c, next)));

app.route('/oauth', oauth);
// OpenID Connect CIBA, one issuer per tenant (docs/ciba.md): server to server, OAuth error JSON, no CORS.
app.route('/oidc', oidc);
app.route('/admin/v1/tenants', tenants);
app.route('/admin/v1/tenants', webhooksAdmin);
app.route('/admin/v1/tenants', pushAdmin);
app.route('/v1/users', users);
app.route('/v1/audit-events', audit);
app.route('/v1/operations', operations);
app.route('/v1/webhooks', webhooks);
app.route('/v1', devices);
app.route('/sdk/v1', sdk);
// The SDK bundle is a static asset the worker sees first (wrangler.toml run_worker_first) to answer CORS for RP pages.
app.get('/sdk/custos.js', async (c) => {
  await allowOriginForBundle(c);
  if (!c.env.ASSETS) throw new ApiError('NOT_FOUND', 'No static assets are bound (run the build).');
  const asset = await c.env.ASSETS.fetch(new Request(new URL('/sdk/custos.js', 'https://assets.invalid'), { headers: c.req.raw.headers }));
  const response = new Response(asset.body, asset);
  c.res.headers.forEach((value, name) => {
    if (name.startsWith('access-control-') || name === 'vary') response.headers.set(name, value);
  });
  return response;
});
// The browser console (docs/console.md): HTML pages and form posts, built on the JSON API above, not part of /openapi.json.
app.route('/console', consoleRouter(app));
app.route('/', wellKnown);
// Demo relying party at / and /demo/*: answers 404 unless DEMO=true (local development only).
app.route('/', demoRouter(app));

app.openAPIRegistry.registerComponent('securitySchemes', 'oauth2', {
  type: 'oauth2',
  flows: { clientCredentials: { tokenUrl: '/oauth/token', scopes: { users: 'Identity store', devices: 'Device management', operations: 'Operations and webhooks', audit: 'Audit log' } } },
});
app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' });
app.openAPIRegistry.registerComponent('securitySchemes', 'sdkToken', { type: 'http', scheme: 'bearer', description: 'sdk.token of one operation' });
// Routes that are plain Hono handlers (other media types, other error shapes) are documented by hand.
registerOAuthDocs(app);
registerOidcDocs(app);
registerSdkDocs(app);
registerWellKnownDocs(app);

app.doc31('/openapi.json', (c) => ({
  openapi: '3.1.0',
  info: OPENAPI_INFO,
  tags: OPENAPI_TAGS,
  // From PUBLIC_URL (or a loopback request in local development), never from a public Host header.
  servers: ((o) => (o.ok ? [{ url: o.origin }] : []))(resolvePublicOrigin(c.env.PUBLIC_URL, c.req.url)),
}));
app.get('/docs', docsPage);

app.notFound((c) => problemResponse(c, new ApiError('NOT_FOUND', `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`)));

app.onError((error, c) => {
  if (error instanceof ApiError) return problemResponse(c, error);
  if (error instanceof HTTPException) {
    // Hono's own refusals (e.g. a media type the route does not declare): keep the status, use our codes.
    const status = error.status;
    const code = status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 400 ? 'MALFORMED_JSON' : status === 405 ? 'METHOD_NOT_ALLOWED' : 'INTERNAL';
    return problemResponse(c, new ApiError(code));
  }
  // A schema that is not there yet (migrations not applied) is the operator's to fix: say exactly how.
  if (error instanceof Error && /no such (table|column)/.test(error.message)) {
    console.error(JSON.stringify({ level: 'error', traceId: c.get('traceId'), message: 'D1 schema missing: migrations not applied', cause: error.message }));
    return problemResponse(c, new ApiError('MIGRATIONS_PENDING', `The D1 migrations are not applied. Run: ${MIGRATE_COMMAND_LOCAL} (or --remote for a deployed database).`));
  }
  // Internal causes are logged with the trace id, never sent.
  console.error(JSON.stringify({ level: 'error', traceId: c.get('traceId'), message: error instanceof Error ? error.message : String(error), stack: error instanceof Error ? error.stack : undefined }));
  return problemResponse(c, new ApiError('INTERNAL', 'Something went wrong on our side. Quote the trace id if you contact us.'));
});
