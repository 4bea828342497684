// Security headers: CSP per page, frame-ancestors, nosniff, referrer and permissions policy on pages, assets, JSON and problems.
import { createExecutionContext, env, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { API_CSP, APP_CSP, assetsHeadersFile, BASE_HEADERS, DEMO_CSP, DOCS_CSP } from '../../src/security-headers.mjs';
import { expectProblem, setupTenant, workerFetch } from '../helpers/api';
import appHtml from '../../web-sdk/app/index.html?raw';
import appJs from '../../web-sdk/app/app.js?raw';
import demoHtml from '../../web-sdk/demo/index.html?raw';
import demoJs from '../../web-sdk/demo/demo.js?raw';

/** A CSP as directive → sources; a header holding two policies (joined by a comma) is refused, it would be enforced twice. */
function parseCsp(header: string | null): Map<string, string[]> {
  expect(header, 'a Content-Security-Policy header').toBeTruthy();
  expect(header, 'exactly one policy').not.toContain(',');
  const directives = new Map<string, string[]>();
  for (const part of header!.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) directives.set(name.toLowerCase(), sources);
  }
  return directives;
}

/** The sources that really govern scripts (or styles): the directive itself, else default-src (CSP3 §6.8.1). */
function effective(policy: Map<string, string[]>, directive: string): string[] {
  return policy.get(directive) ?? policy.get('default-src') ?? [];
}

function expectPagePolicy(header: string | null): Map<string, string[]> {
  const policy = parseCsp(header);
  // Clickjacking of the approve screen: no page of ours may be framed.
  expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
  for (const directive of ['script-src', 'style-src']) {
    const sources = effective(policy, directive);
    expect(sources.length, `${directive} is restricted`).toBeGreaterThan(0);
    for (const unsafe of ["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "'wasm-unsafe-eval'", '*', 'data:', 'https:', 'http:']) {
      expect(sources, `${directive} allows ${unsafe}`).not.toContain(unsafe);
    }
  }
  expect(policy.get('base-uri')).toEqual(["'none'"]);
  return policy;
}

function expectBaseHeaders(res: Response): void {
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  const permissions = res.headers.get('permissions-policy') ?? '';
  for (const feature of ['camera', 'microphone', 'geolocation', 'payment', 'usb']) expect(permissions).toContain(`${feature}=()`);
  expect(permissions).toContain('publickey-credentials-get=(self)');
  expect(permissions).toContain('publickey-credentials-create=(self)');
}

/** The worker with DEMO on and no PUBLIC_URL, as `npm run dev` runs it. */
async function demoFetch(path: string): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await app.fetch(new Request(`http://localhost:8787${path}`), { ...env, PUBLIC_URL: undefined, DEMO: 'true' }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe('pages the worker serves', () => {
  it('GET /docs: the docs policy, no unsafe-inline or unsafe-eval, frame-ancestors none, every base header', async () => {
    const res = await workerFetch('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toBe(DOCS_CSP);
    const policy = expectPagePolicy(res.headers.get('content-security-policy'));
    // Swagger UI fetches /openapi.json and "Try it out" calls this origin only.
    expect(policy.get('connect-src')).toEqual(["'self'"]);
    expectBaseHeaders(res);
  });

  it.each(['/', '/demo/'])('GET %s (DEMO=true): the demo policy, the page calls only its own origin', async (path) => {
    const res = await demoFetch(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toBe(DEMO_CSP);
    const policy = expectPagePolicy(res.headers.get('content-security-policy'));
    expect(policy.get('connect-src')).toEqual(["'self'"]);
    expectBaseHeaders(res);
  });

  it('the page files hold no inline script, style or event handler (the CSP would block them)', async () => {
    const docs = await (await workerFetch('/docs')).text();
    for (const [name, html] of [['app', appHtml], ['demo', demoHtml], ['docs', docs]] as const) {
      expect(html, `${name}: inline <script>`).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
      expect(html, `${name}: <style>`).not.toMatch(/<style\b/i);
      expect(html, `${name}: style attribute`).not.toMatch(/\sstyle\s*=/i);
      expect(html, `${name}: inline event handler`).not.toMatch(/\son[a-z]+\s*=/i);
      expect(html, `${name}: javascript: URL`).not.toMatch(/javascript:/i);
    }
    for (const [name, js] of [['app.js', appJs], ['demo.js', demoJs]] as const) {
      expect(js, `${name}: markup with handlers or styles`).not.toMatch(/innerHTML|insertAdjacentHTML|outerHTML|document\.write/);
      expect(js, `${name}: handler or style set as an attribute`).not.toMatch(/setAttribute\(\s*['"](on[a-z]+|style)['"]/i);
      expect(js, `${name}: eval`).not.toMatch(/\beval\(|new Function\(/);
    }
  });
});

describe('JSON and problem responses', () => {
  it('the JWKS keeps its cache lifetime and gains nosniff and the strict policy', async () => {
    const res = await workerFetch('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(res.headers.get('content-security-policy')).toBe(API_CSP);
    expect(parseCsp(res.headers.get('content-security-policy')).get('frame-ancestors')).toEqual(["'none'"]);
    expectBaseHeaders(res);
  });

  it('/healthz and a token answer keep Cache-Control: no-store', async () => {
    const health = await workerFetch('/healthz');
    expect(health.headers.get('cache-control')).toBe('no-store');
    expectBaseHeaders(health);
    const { client } = await setupTenant();
    const token = await workerFetch('/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }).toString(),
    });
    expect(token.status).toBe(200);
    expect(token.headers.get('cache-control')).toBe('no-store');
    expect(token.headers.get('content-security-policy')).toBe(API_CSP);
    expectBaseHeaders(token);
  });

  it.each([
    ['GET', '/v1/users', 401, 'UNAUTHENTICATED'],
    ['GET', '/no/such/path', 404, 'NOT_FOUND'],
    ['GET', '/demo/', 404, 'NOT_FOUND'],
  ] as const)('%s %s: the problem carries the headers too', async (method, path, status, code) => {
    const res = await workerFetch(path, { method });
    await expectProblem(res.clone(), status, code);
    expect(res.headers.get('content-security-policy')).toBe(API_CSP);
    expectBaseHeaders(res);
  });

  it('a thrown error rendered by onError (malformed JSON) carries them', async () => {
    const res = await workerFetch('/admin/v1/tenants', { method: 'POST', headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, body: '{' });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expectBaseHeaders(res);
    expect(res.headers.get('content-security-policy')).toBe(API_CSP);
  });
});

describe('the SDK bundle (/sdk/custos.js, worker first for CORS)', () => {
  it('keeps its CORS headers, is JavaScript, nosniff, one strict policy', async () => {
    await setupTenant({ origins: ['https://shop.example'] });
    const res = await SELF.fetch('https://custos.test/sdk/custos.js', { headers: { origin: 'https://shop.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    expect(res.headers.get('vary')?.toLowerCase()).toContain('origin');
    // nosniff makes the browser refuse a module script whose type is not a JavaScript MIME type.
    expect(res.headers.get('content-type')).toMatch(/^(text|application)\/javascript\b/);
    expect(res.headers.get('content-security-policy')).toBe(API_CSP);
    expectBaseHeaders(res);
    await res.body?.cancel();
  });
});

/** The `_headers` rules as the assets layer applies them: every matching rule in order, `! name` first, a repeated header appended. */
function applyHeadersFile(file: string, pathname: string): Headers {
  const rules: Array<{ path: RegExp; set: Array<[string, string]>; unset: string[] }> = [];
  for (const raw of file.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('/')) {
      const pattern = line.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace('*', '.*');
      rules.push({ path: new RegExp(`^${pattern}$`), set: [], unset: [] });
      continue;
    }
    const rule = rules[rules.length - 1]!;
    if (line.startsWith('! ')) rule.unset.push(line.slice(2));
    else {
      const at = line.indexOf(':');
      rule.set.push([line.slice(0, at).trim(), line.slice(at + 1).trim()]);
    }
  }
  const headers = new Headers();
  const seen = new Set<string>();
  for (const rule of rules.filter((r) => r.path.test(pathname))) {
    for (const name of rule.unset) headers.delete(name);
    for (const [name, value] of rule.set) {
      if (seen.has(name.toLowerCase())) headers.append(name, value);
      else headers.set(name, value);
      seen.add(name.toLowerCase());
    }
  }
  return headers;
}

describe('static assets: public/_headers (assets served before the worker)', () => {
  const file = assetsHeadersFile();

  it.each([
    ['/app', APP_CSP],
    ['/app/', APP_CSP],
    ['/app/app.js', APP_CSP],
    ['/app/sw.js', APP_CSP],
    ['/sdk/custos.js', API_CSP],
    ['/docs/assets/swagger-ui-bundle.js', DOCS_CSP],
    ['/demo/demo.css', DEMO_CSP],
    ['/anything/else.txt', API_CSP],
  ])('%s gets exactly one policy, the right one, and every base header', (path, expected) => {
    const headers = applyHeadersFile(file, path);
    expect(headers.get('content-security-policy')).toBe(expected);
    for (const [name, value] of Object.entries(BASE_HEADERS)) expect(headers.get(name)).toBe(value);
  });

  it('the app policy: scripts, styles and API calls from this origin only, never framed', () => {
    const policy = expectPagePolicy(applyHeadersFile(file, '/app/').get('content-security-policy'));
    expect(policy.get('connect-src')).toEqual(["'self'"]);
    expect(policy.get('script-src')).toEqual(["'self'"]);
  });

  it('stays within the limits the assets layer parses (100 rules, 2000 characters a line)', () => {
    const lines = file.split('\n');
    expect(lines.filter((line) => line.startsWith('/')).length).toBeLessThanOrEqual(100);
    for (const line of lines) expect(line.length).toBeLessThan(2000);
  });

  it('the assets layer really applies the built file (ASSETS binding over public/, after `npm run build`)', async () => {
    const assets = env.ASSETS;
    expect(assets, 'the ASSETS binding (wrangler.toml [assets])').toBeDefined();
    const app = await assets!.fetch(new Request('https://custos.test/app/'));
    expect(app.status).toBe(200);
    expect(app.headers.get('content-security-policy')).toBe(APP_CSP);
    expectBaseHeaders(app);
    await app.body?.cancel();
    const swagger = await assets!.fetch(new Request('https://custos.test/docs/assets/swagger-ui-bundle.js'));
    expect(swagger.status).toBe(200);
    expect(swagger.headers.get('content-security-policy')).toBe(DOCS_CSP);
    expect(swagger.headers.get('x-content-type-options')).toBe('nosniff');
    await swagger.body?.cancel();
  });
});
