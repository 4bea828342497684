// `npm run setup`: as the Custos operator, creates this example's tenant, API client and webhook endpoint, and writes them to .env.
//
// Needs CUSTOS_URL (default http://localhost:8787) and ADMIN_TOKEN (Custos's operator token: `npm run dev` keeps it
// in .dev.vars). PORT (default 3000) is where server.mjs will listen. Prints no secret: they go to .env only.
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const envFile = fileURLToPath(new URL('.env', import.meta.url));
const CUSTOS_URL = (process.env.CUSTOS_URL || 'http://localhost:8787').replace(/\/+$/, '');
const ADMIN_TOKEN = process.env.ADMIN_TOKEN;
const PORT = Number(process.env.PORT || 3000);
const ORIGIN = `http://localhost:${PORT}`;

if (!ADMIN_TOKEN) {
  console.error('ADMIN_TOKEN is not set. With `npm run dev` it is in the .dev.vars of your Custos checkout:\n  ADMIN_TOKEN=$(grep ^ADMIN_TOKEN= ../../.dev.vars | cut -d= -f2-) npm run setup');
  process.exit(1);
}
// Each run makes a new tenant: refuse to overwrite the credentials a running server.mjs may be using.
if (existsSync(envFile) && !process.argv.includes('--force')) {
  console.error(`${envFile} exists already; pass --force (npm run setup -- --force) to make a new tenant and replace it.`);
  process.exit(1);
}

/** One operator call; a refusal stops the setup with the problem's code and detail (never the token). */
async function admin(method, path, body) {
  let response;
  try {
    response = await fetch(`${CUSTOS_URL}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    // fetch's cause is the socket error, or an AggregateError of both address families for localhost.
    const why = error.cause?.code ?? error.cause?.errors?.[0]?.code ?? error.message;
    console.error(`${method} /admin/v1${path} did not reach ${CUSTOS_URL} (${why}): is Custos running (npm run dev)?`);
    process.exit(1);
  }
  const data = await response.json().catch(() => ({}));
  return { status: response.status, ok: response.ok, data };
}

function must(what, answer) {
  if (!answer.ok) {
    console.error(`${what} failed: HTTP ${answer.status} ${answer.data.code ?? ''} ${answer.data.detail ?? ''}`.trim());
    process.exit(1);
  }
  return answer.data;
}

const tenant = must(
  'Creating the tenant',
  await admin('POST', '/tenants', {
    name: 'Example Bank',
    rpId: new URL(ORIGIN).hostname,
    rpName: 'Example Bank',
    // The page's origin is both where its passkeys are used and where it calls /sdk/v1 from (allowedOrigins defaults to it).
    origins: [ORIGIN],
    branding: { name: 'Example Bank' },
  }),
);
console.log(`tenant ${tenant.id} (rpId ${tenant.rpId}, origins ${tenant.origins.join(', ')})`);

const client = must('Creating the API client', await admin('POST', `/tenants/${tenant.id}/clients`, { name: 'example relying-party server' }));
console.log(`API client ${client.clientId} (scopes ${client.scopes.join(' ')})`);

// Custos takes http://localhost targets only when it runs with ALLOW_LOCAL_WEBHOOKS=true (`npm run dev` sets it).
let webhookSecret = '';
const webhook = await admin('PUT', `/tenants/${tenant.id}/webhook`, { url: `${ORIGIN}/webhooks` });
if (webhook.ok) {
  webhookSecret = webhook.data.secret;
  console.log(`webhook endpoint ${webhook.data.url}`);
} else if (webhook.data.code === 'WEBHOOK_URL_REFUSED') {
  console.warn(`webhook endpoint not set: Custos refused ${ORIGIN}/webhooks (start Custos with ALLOW_LOCAL_WEBHOOKS=true to receive events locally).`);
} else {
  must('Setting the webhook endpoint', webhook);
}

const lines = [
  '# Written by `npm run setup`. Holds secrets: keep it out of version control.',
  `CUSTOS_URL=${CUSTOS_URL}`,
  `CUSTOS_TENANT_ID=${tenant.id}`,
  `CUSTOS_CLIENT_ID=${client.clientId}`,
  `CUSTOS_CLIENT_SECRET=${client.clientSecret}`,
  `CUSTOS_WEBHOOK_SECRET=${webhookSecret}`,
  `PORT=${PORT}`,
];
writeFileSync(envFile, `${lines.join('\n')}\n`, { mode: 0o600 });
console.log(`wrote ${envFile} (client secret${webhookSecret ? ' and webhook secret' : ''} inside, not printed). Next: npm start, then open ${ORIGIN}/`);
