// GET /docs: Swagger UI over /openapi.json, its assets served by the worker itself (no CDN); and the document's info and tags.
import type { Context } from 'hono';

/** The `info` of /openapi.json. */
export const OPENAPI_INFO = {
  title: 'Custos API',
  version: '1.0.0',
  description:
    'Identity store and device-bound strong customer authentication (PSD2 SCA with dynamic linking). Errors are RFC 9457 '
    + 'problem+json with a stable `code` (docs/errors.md); every response carries `X-Trace-Id`.',
  license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
};

/** One tag per audience and resource, in the order a reader meets them. */
export const OPENAPI_TAGS = [
  { name: 'OAuth', description: 'Access tokens for relying-party servers: OAuth 2.0 client credentials.' },
  { name: 'OpenID Connect CIBA', description: 'One OpenID Provider per tenant for any OIDC client: discovery, backchannel authentication, the CIBA token grant (docs/ciba.md).' },
  { name: 'Users', description: 'The identity store: users, their external reference and attributes, lock and erasure. Scope `users`.' },
  { name: 'Devices', description: 'Passkeys and native devices bound to users: inspect, rename, lock, deactivate. Scope `devices`.' },
  { name: 'Operations', description: 'Registration, authentication, payment authorisation and document signing on a user’s device. Scope `operations`.' },
  { name: 'Webhooks', description: 'The relying party’s view of event delivery: the attempt log and a test event. Scope `operations`.' },
  { name: 'Audit', description: 'The tenant’s hash-chained audit log and its verification. Scope `audit`.' },
  { name: 'Device SDK', description: 'Called by the web SDK, the authenticator app and native apps with an sdk token or a device proof (docs/sdk.md).' },
  { name: 'Operators', description: 'Deployment operators (ADMIN_TOKEN): tenants, their API clients and webhook endpoints.' },
  { name: 'Well-known', description: 'Public keys for verifying result tokens, and readiness.' },
];

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Custos API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>`;

export function docsPage(c: Context): Response {
  return c.html(PAGE);
}
