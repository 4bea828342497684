// Input edges: ill-formed UTF-16 in any stored string is a 400 naming the field, astral characters round-trip, branding.logoUrl by parsed host.
import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { isWellFormed } from '../../src/schemas/common';
import { adminFetch, createClient, expectProblem, setupTenant } from '../helpers/api';
import type { Api, TenantSetup } from '../helpers/api';
import { createUser, registerPasskey, startOperation } from '../helpers/ceremony';

// The three ways a JSON string can be ill-formed UTF-16 (JSON.stringify escapes each as \udXXX, so they reach the server).
const ILL_FORMED = [
  ['lone high surrogate', 'pay\uD83Dee'],
  ['lone low surrogate', '\uDE00 at the start'],
  ['reversed pair', 'end \uDE00\uD83D'],
] as const;

// Astral characters (surrogate pairs in UTF-16), a combining sequence and a ZWJ emoji: all well-formed.
const ASTRAL = 'Ada 🦀 𝄞 é 👩‍💻';

const TABLES = [
  'tenants', 'api_clients', 'tenant_web_origins', 'users', 'user_attributes', 'devices', 'credentials', 'operations',
  'audit_events', 'events', 'webhook_endpoints', 'webhook_deliveries', 'idempotency_keys',
];

/** Row counts of every table a refused request could touch. */
async function snapshot(): Promise<Record<string, number>> {
  const rows = await env.DB.batch(TABLES.map((table) => env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table}`)));
  return Object.fromEntries(rows.map((result, i) => [TABLES[i]!, (result.results[0] as { n: number }).n]));
}

interface Case {
  what: string;
  field: string;
  send: (bad: string) => Promise<Response>;
  /** A read of the resource a refused update must leave unchanged. */
  read?: () => Promise<unknown>;
}

let setup: TenantSetup;
let api: Api;
let userId: string;
let deviceId: string;

beforeAll(async () => {
  setup = await setupTenant();
  api = setup.api;
  userId = (await createUser(api, { externalRef: 'edges-user', attributes: { tier: 'gold' } })).id;
  deviceId = (await registerPasskey(api, userId)).deviceId;
});

const json = async (res: Response): Promise<unknown> => res.json();
const op = (extra: Record<string, unknown>) => ({ userId, ...extra });
const payment = (payee: Record<string, unknown>, reference?: string) =>
  op({ type: 'AUTHORISATION', transaction: { amount: '10.00', currency: 'EUR', payee: { name: 'ACME', ...payee }, ...(reference === undefined ? {} : { reference }) } });

const CASES: Case[] = [
  { what: 'POST /v1/users', field: 'externalRef', send: (bad) => api('/v1/users', { method: 'POST', json: { externalRef: bad } }) },
  { what: 'POST /v1/users', field: 'attributes.email', send: (bad) => api('/v1/users', { method: 'POST', json: { attributes: { email: bad } } }) },
  { what: 'POST /v1/users (attribute key)', field: 'attributes', send: (bad) => api('/v1/users', { method: 'POST', json: { attributes: { [bad]: 'x' } } }) },
  {
    what: 'PATCH /v1/users/{id}', field: 'attributes.tier', read: () => api(`/v1/users/${userId}`).then(json),
    send: (bad) => api(`/v1/users/${userId}`, { method: 'PATCH', json: { attributes: { tier: bad } } }),
  },
  {
    what: 'PATCH /v1/users/{id}', field: 'externalRef', read: () => api(`/v1/users/${userId}`).then(json),
    send: (bad) => api(`/v1/users/${userId}`, { method: 'PATCH', json: { externalRef: bad } }),
  },
  {
    what: 'POST /v1/users/{id}/lock', field: 'reason', read: () => api(`/v1/users/${userId}`).then(json),
    send: (bad) => api(`/v1/users/${userId}/lock`, { method: 'POST', json: { reason: bad } }),
  },
  {
    what: 'PATCH /v1/devices/{id}', field: 'name', read: () => api(`/v1/devices/${deviceId}`).then(json),
    send: (bad) => api(`/v1/devices/${deviceId}`, { method: 'PATCH', json: { name: bad } }),
  },
  {
    what: 'POST /v1/devices/{id}/lock', field: 'reason', read: () => api(`/v1/devices/${deviceId}`).then(json),
    send: (bad) => api(`/v1/devices/${deviceId}/lock`, { method: 'POST', json: { reason: bad } }),
  },
  { what: 'POST /v1/operations', field: 'context.title', send: (bad) => api('/v1/operations', { method: 'POST', json: op({ type: 'AUTHENTICATION', context: { title: bad } }) }) },
  { what: 'POST /v1/operations', field: 'context.text', send: (bad) => api('/v1/operations', { method: 'POST', json: op({ type: 'AUTHENTICATION', context: { title: 'Sign in', text: bad } }) }) },
  { what: 'POST /v1/operations', field: 'deviceName', send: (bad) => api('/v1/operations', { method: 'POST', json: op({ type: 'REGISTRATION', deviceName: bad }) }) },
  { what: 'POST /v1/operations', field: 'transaction.payee.name', send: (bad) => api('/v1/operations', { method: 'POST', json: payment({ name: bad }) }) },
  { what: 'POST /v1/operations', field: 'transaction.payee.account', send: (bad) => api('/v1/operations', { method: 'POST', json: payment({ account: bad }) }) },
  { what: 'POST /v1/operations', field: 'transaction.reference', send: (bad) => api('/v1/operations', { method: 'POST', json: payment({}, bad) }) },
  {
    what: 'POST /v1/operations', field: 'document.title',
    send: (bad) => api('/v1/operations', { method: 'POST', json: op({ type: 'SIGNATURE', document: { title: bad, content: 'text', mimeType: 'text/plain' } }) }),
  },
  {
    what: 'POST /v1/operations', field: 'document.content',
    send: (bad) => api('/v1/operations', { method: 'POST', json: op({ type: 'SIGNATURE', document: { content: bad, mimeType: 'text/plain' } }) }),
  },
  { what: 'POST /admin/v1/tenants', field: 'name', send: (bad) => adminFetch('/admin/v1/tenants', { method: 'POST', json: { name: bad, rpId: 'localhost', origins: ['http://localhost:8787'] } }) },
  {
    what: 'POST /admin/v1/tenants', field: 'rpName',
    send: (bad) => adminFetch('/admin/v1/tenants', { method: 'POST', json: { name: 'T', rpName: bad, rpId: 'localhost', origins: ['http://localhost:8787'] } }),
  },
  {
    what: 'PATCH /admin/v1/tenants/{id}', field: 'branding.name', read: () => adminFetch(`/admin/v1/tenants/${setup.tenant.id}`).then(json),
    send: (bad) => adminFetch(`/admin/v1/tenants/${setup.tenant.id}`, { method: 'PATCH', json: { branding: { name: bad } } }),
  },
  {
    what: 'PATCH /admin/v1/tenants/{id}', field: 'name', read: () => adminFetch(`/admin/v1/tenants/${setup.tenant.id}`).then(json),
    send: (bad) => adminFetch(`/admin/v1/tenants/${setup.tenant.id}`, { method: 'PATCH', json: { name: bad } }),
  },
  { what: 'POST /admin/v1/tenants/{id}/clients', field: 'name', send: (bad) => adminFetch(`/admin/v1/tenants/${setup.tenant.id}/clients`, { method: 'POST', json: { name: bad } }) },
  {
    what: 'PUT /admin/v1/tenants/{id}/webhook', field: 'url',
    send: (bad) => adminFetch(`/admin/v1/tenants/${setup.tenant.id}/webhook`, { method: 'PUT', json: { url: `https://hooks.example/${bad}` } }),
  },
];

describe('ill-formed UTF-16 is refused in every stored string (400 VALIDATION_FAILED naming the field, nothing written)', () => {
  for (const [kind, bad] of ILL_FORMED) {
    it.each(CASES)(`${kind}: $what $field`, async ({ field, send, read }) => {
      expect(isWellFormed(bad)).toBe(false);
      const before = await snapshot();
      const resourceBefore = read ? await read() : undefined;
      const body = await expectProblem(await send(bad), 400, 'VALIDATION_FAILED');
      const names = (body.invalidParams ?? []).map((p) => p.name);
      // A bad attribute key is named by its record (the key itself is the bad text).
      expect(names.some((name) => name === field || name.startsWith(`${field}.`)), JSON.stringify(body.invalidParams)).toBe(true);
      expect(await snapshot()).toEqual(before);
      if (read) expect(await read()).toEqual(resourceBefore);
    });
  }
});

describe('well-formed astral characters are accepted and come back unchanged', () => {
  it('user externalRef and attribute values', async () => {
    const res = await api('/v1/users', { method: 'POST', json: { externalRef: ASTRAL, attributes: { note: `${ASTRAL} ✓` } } });
    expect(res.status, await res.clone().text()).toBe(201);
    const { id } = await res.json<{ id: string }>();
    const read = await (await api(`/v1/users/${id}`)).json<{ externalRef: string; attributes: Record<string, string> }>();
    expect(read.externalRef).toBe(ASTRAL);
    expect(read.attributes['note']).toBe(`${ASTRAL} ✓`);
    // Byte for byte: the UTF-8 of what came back is the UTF-8 of what was sent.
    expect([...new TextEncoder().encode(read.externalRef)]).toEqual([...new TextEncoder().encode(ASTRAL)]);
    const found = await (await api(`/v1/users?externalRef=${encodeURIComponent(ASTRAL)}`)).json<{ items: Array<{ id: string }> }>();
    expect(found.items.map((u) => u.id)).toEqual([id]);
  });

  it('operation context and payee, tenant branding name, client name', async () => {
    const started = await startOperation(api, {
      ...payment({ name: ASTRAL }, `ref ${ASTRAL}`),
      context: { title: `Pay ${ASTRAL}`, text: ASTRAL },
    });
    const read = await (await api(`/v1/operations/${started.id}`)).json<{ context: { title: string; text: string }; transaction: { payee: { name: string }; reference: string } }>();
    expect(read.context).toEqual({ title: `Pay ${ASTRAL}`, text: ASTRAL });
    expect(read.transaction.payee.name).toBe(ASTRAL);
    expect(read.transaction.reference).toBe(`ref ${ASTRAL}`);
    const patched = await adminFetch(`/admin/v1/tenants/${setup.tenant.id}`, { method: 'PATCH', json: { branding: { name: ASTRAL } } });
    expect(patched.status).toBe(200);
    expect((await patched.json<{ branding: { name: string } }>()).branding.name).toBe(ASTRAL);
    expect((await createClient(setup.tenant.id, { name: ASTRAL })).name).toBe(ASTRAL);
  });
});

describe('branding.logoUrl: https anywhere, http only for a loopback host, judged on the parsed URL', () => {
  it.each([
    'http://localhost.attacker.example/x.png',
    'http://localhost@attacker.example/x.png',
    'http://localhostattacker.example/x.png',
    'http://attacker.example/localhost.png',
    'https://user:pass@bank.example/logo.png',
    'https://user@bank.example/logo.png',
    'javascript:alert(document.domain)',
    'data:image/svg+xml,<svg xmlns="http://www.w3.org/2000/svg"/>',
    'ftp://bank.example/logo.png',
    'http://10.0.0.1/logo.png',
  ])('%s → 400 VALIDATION_FAILED branding.logoUrl, tenant unchanged', async (logoUrl) => {
    const before = await (await adminFetch(`/admin/v1/tenants/${setup.tenant.id}`)).json();
    const count = (await snapshot()).tenants;
    const patch = await adminFetch(`/admin/v1/tenants/${setup.tenant.id}`, { method: 'PATCH', json: { branding: { logoUrl } } });
    const body = await expectProblem(patch, 400, 'VALIDATION_FAILED');
    expect(body.invalidParams?.map((p) => p.name)).toContain('branding.logoUrl');
    const create = await adminFetch('/admin/v1/tenants', { method: 'POST', json: { name: 'T', rpId: 'localhost', origins: ['http://localhost:8787'], branding: { logoUrl } } });
    await expectProblem(create, 400, 'VALIDATION_FAILED');
    expect((await snapshot()).tenants).toBe(count);
    expect(await (await adminFetch(`/admin/v1/tenants/${setup.tenant.id}`)).json()).toEqual(before);
  });

  it.each(['http://localhost:8787/logo.svg', 'http://127.0.0.1:8787/logo.svg', 'http://[::1]/logo.svg', 'https://bank.example/logo.png'])('%s is accepted and stored as given', async (logoUrl) => {
    const patch = await adminFetch(`/admin/v1/tenants/${setup.tenant.id}`, { method: 'PATCH', json: { branding: { logoUrl } } });
    expect(patch.status, await patch.clone().text()).toBe(200);
    expect((await patch.json<{ branding: { logoUrl: string } }>()).branding.logoUrl).toBe(logoUrl);
  });
});
