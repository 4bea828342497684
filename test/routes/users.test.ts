// /v1/users: the identity store (API.md §1 Users) and its refusals, each checked to write nothing.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Api } from '../helpers/api';
import { countRows, expectProblem, setupTenant, workerFetch } from '../helpers/api';

interface UserJson {
  id: string;
  externalRef?: string;
  status: 'ACTIVE' | 'LOCKED' | 'DEACTIVATED';
  lockReason?: string;
  attributes: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

async function createUser(api: Api, json: unknown = {}): Promise<UserJson> {
  const res = await api('/v1/users', { method: 'POST', json });
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json<UserJson>();
}

/** Every row the tenant owns in the identity store, for "nothing written" checks. */
async function snapshot(tenantId: string): Promise<{ users: number; attributes: number; audit: number; rows: unknown[] }> {
  const rows = await env.DB.prepare(
    `SELECT u.id, u.external_ref, u.status, u.lock_reason, u.updated_at,
            (SELECT json_group_object(a.key, a.value) FROM user_attributes a WHERE a.user_id = u.id) AS attrs
     FROM users u WHERE u.tenant_id = ?1 ORDER BY u.id`,
  ).bind(tenantId).all();
  return {
    users: await countRows('users', 'tenant_id = ?1', tenantId),
    attributes: await countRows('user_attributes', 'tenant_id = ?1', tenantId),
    audit: await countRows('audit_events', 'tenant_id = ?1', tenantId),
    rows: rows.results,
  };
}

function manyAttributes(n: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, `v${i}`]));
}

describe('users: happy paths', () => {
  it('API.md §1: POST /v1/users → 201 + Location, ACTIVE, attributes stored', async () => {
    const { tenant, api } = await setupTenant();
    const res = await api('/v1/users', { method: 'POST', json: { externalRef: 'cust-1', attributes: { email: 'ada@example.com', tier: 'gold' } } });
    expect(res.status).toBe(201);
    const user = await res.json<UserJson>();
    expect(user.id).toMatch(/^usr_[0-9a-z]{36}$/);
    expect(res.headers.get('location')).toBe(`/v1/users/${user.id}`);
    expect(user).toMatchObject({ externalRef: 'cust-1', status: 'ACTIVE', attributes: { email: 'ada@example.com', tier: 'gold' } });
    expect(user).not.toHaveProperty('lockReason');
    expect(new Date(user.createdAt).toISOString()).toBe(user.createdAt);
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(1);
    expect(await countRows('user_attributes', 'user_id = ?1', user.id)).toBe(2);
  });

  it('API.md §1: an empty body creates a user without externalRef or attributes', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api, {});
    expect(user).not.toHaveProperty('externalRef');
    expect(user.attributes).toEqual({});
  });

  it('API.md §1: GET /v1/users/{id} returns the user with attributes', async () => {
    const { api } = await setupTenant();
    const created = await createUser(api, { attributes: { email: 'a@example.com' } });
    const res = await api(`/v1/users/${created.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(created);
  });

  it('API.md §1: GET /v1/users?externalRef= resolves to a list of 0 or 1', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api, { externalRef: 'ref-42' });
    await createUser(api, { externalRef: 'ref-43' });
    const hit = await (await api('/v1/users?externalRef=ref-42')).json<Page<UserJson>>();
    expect(hit).toEqual({ items: [user], nextCursor: null });
    const miss = await (await api('/v1/users?externalRef=nobody')).json<Page<UserJson>>();
    expect(miss).toEqual({ items: [], nextCursor: null });
  });

  it('API.md §1: externalRef is unique per tenant, not globally', async () => {
    const a = await setupTenant();
    const b = await setupTenant();
    await createUser(a.api, { externalRef: 'shared' });
    const other = await createUser(b.api, { externalRef: 'shared' });
    expect((await (await b.api('/v1/users?externalRef=shared')).json<Page<UserJson>>()).items.map((u) => u.id)).toEqual([other.id]);
  });

  it('API.md conventions: GET /v1/users pages through every user once, in order, to a null nextCursor', async () => {
    const { api } = await setupTenant();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await createUser(api, { externalRef: `page-${i}` })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
      const res = await api(`/v1/users${query}`);
      expect(res.status).toBe(200);
      const body = await res.json<Page<UserJson>>();
      // Every page that a cursor points to has items: the last page says nextCursor null itself.
      expect(body.items.length).toBeGreaterThan(0);
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items.map((u) => u.id));
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(seen).toEqual([...ids].sort());
    expect(pages).toBe(2);
  });

  it('API.md conventions: the default page size is 20', async () => {
    const { api } = await setupTenant();
    for (let i = 0; i < 21; i++) await createUser(api);
    const body = await (await api('/v1/users')).json<Page<UserJson>>();
    expect(body.items).toHaveLength(20);
    expect(body.nextCursor).toEqual(expect.any(String));
    const rest = await (await api(`/v1/users?cursor=${encodeURIComponent(body.nextCursor!)}`)).json<Page<UserJson>>();
    expect(rest.items).toHaveLength(1);
    expect(rest.nextCursor).toBeNull();
  });

  it('API.md §1: users can be looked up by an attribute value', async () => {
    const { api } = await setupTenant();
    const ada = await createUser(api, { attributes: { email: 'ada@example.com' } });
    await createUser(api, { attributes: { email: 'bob@example.com' } });
    const body = await (await api('/v1/users?attributeKey=email&attributeValue=ada%40example.com')).json<Page<UserJson>>();
    expect(body.items.map((u) => u.id)).toEqual([ada.id]);
    await expectProblem(await api('/v1/users?attributeKey=email'), 400, 'VALIDATION_FAILED');
  });

  it('API.md §1 / RFC 7396: PATCH with application/merge-patch+json sets, replaces and (null) deletes attributes', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api, { externalRef: 'before', attributes: { keep: '1', change: 'old', drop: 'x' } });
    const res = await api(`/v1/users/${user.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      json: { externalRef: 'after', attributes: { change: 'new', drop: null, added: 'yes' } },
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const updated = await res.json<UserJson>();
    expect(updated).toMatchObject({ id: user.id, externalRef: 'after', attributes: { keep: '1', change: 'new', added: 'yes' } });
    expect(updated.attributes).not.toHaveProperty('drop');
    expect(await (await api(`/v1/users/${user.id}`)).json()).toEqual(updated);
    expect(await countRows('user_attributes', 'user_id = ?1', user.id)).toBe(3);
  });

  it('RFC 7396: externalRef null removes it; application/json PATCH also accepted', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api, { externalRef: 'temp' });
    const res = await api(`/v1/users/${user.id}`, { method: 'PATCH', json: { externalRef: null } });
    expect(res.status).toBe(200);
    expect(await res.json()).not.toHaveProperty('externalRef');
    expect((await (await api('/v1/users?externalRef=temp')).json<Page<UserJson>>()).items).toEqual([]);
  });

  it('API.md §1: a user at the 100-attribute limit can still change and replace attributes', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api, { attributes: manyAttributes(100) });
    const changed = await api(`/v1/users/${user.id}`, { method: 'PATCH', json: { attributes: { k0: 'changed' } } });
    expect(changed.status, await changed.clone().text()).toBe(200);
    expect((await changed.json<UserJson>()).attributes.k0).toBe('changed');
    // One removed and one added in the same patch keeps the user at 100.
    const swapped = await api(`/v1/users/${user.id}`, { method: 'PATCH', json: { attributes: { fresh: 'new', k1: null } } });
    expect(swapped.status, await swapped.clone().text()).toBe(200);
    const after = await swapped.json<UserJson>();
    expect(Object.keys(after.attributes)).toHaveLength(100);
    expect(after.attributes.fresh).toBe('new');
    expect(after.attributes).not.toHaveProperty('k1');
  });

  it('API.md §1: lock with a reason → LOCKED + lockReason; unlock → ACTIVE without lockReason', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const locked = await api(`/v1/users/${user.id}/lock`, { method: 'POST', json: { reason: 'fraud suspected' } });
    expect(locked.status).toBe(200);
    expect(await locked.json()).toMatchObject({ id: user.id, status: 'LOCKED', lockReason: 'fraud suspected' });
    expect(await (await api(`/v1/users/${user.id}`)).json()).toMatchObject({ status: 'LOCKED', lockReason: 'fraud suspected' });

    const unlocked = await api(`/v1/users/${user.id}/unlock`, { method: 'POST' });
    expect(unlocked.status, await unlocked.clone().text()).toBe(200);
    const body = await unlocked.json<UserJson>();
    expect(body.status).toBe('ACTIVE');
    expect(body).not.toHaveProperty('lockReason');
  });

  it('API.md conventions: action calls take an optional body: none, an empty JSON body, or {}', async () => {
    const { api, token } = await setupTenant();
    const user = await createUser(api);
    const noType = await workerFetch(`/v1/users/${user.id}/lock`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(noType.status, await noType.clone().text()).toBe(200);
    // A client library that always sends Content-Type: application/json with an empty body.
    const emptyJson = await api(`/v1/users/${user.id}/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(emptyJson.status, await emptyJson.clone().text()).toBe(200);
    const braces = await api(`/v1/users/${user.id}/lock`, { method: 'POST', json: {} });
    expect(braces.status).toBe(200);
    expect(await braces.json()).toMatchObject({ status: 'LOCKED' });
  });

  it('API.md §1: TOO_MANY_FAILED_ATTEMPTS is reserved for automatic locks → 400, user unchanged', async () => {
    const { tenant, api } = await setupTenant();
    const user = await createUser(api);
    const before = await snapshot(tenant.id);
    await expectProblem(await api(`/v1/users/${user.id}/lock`, { method: 'POST', json: { reason: 'TOO_MANY_FAILED_ATTEMPTS' } }), 400, 'VALIDATION_FAILED');
    expect(await snapshot(tenant.id)).toEqual(before);
  });

  it('API.md §1: deactivate is final: a second deactivate, unlock, lock or patch → 409, nothing written', async () => {
    const { tenant, api } = await setupTenant();
    const user = await createUser(api, { attributes: { a: '1' } });
    const res = await api(`/v1/users/${user.id}/deactivate`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'DEACTIVATED' });
    const before = await snapshot(tenant.id);
    await expectProblem(await api(`/v1/users/${user.id}/deactivate`, { method: 'POST' }), 409, 'USER_DEACTIVATED');
    await expectProblem(await api(`/v1/users/${user.id}/unlock`, { method: 'POST' }), 409, 'USER_DEACTIVATED');
    await expectProblem(await api(`/v1/users/${user.id}/lock`, { method: 'POST', json: { reason: 'x' } }), 409, 'USER_DEACTIVATED');
    await expectProblem(await api(`/v1/users/${user.id}`, { method: 'PATCH', json: { attributes: { a: '2' } } }), 409, 'USER_DEACTIVATED');
    expect(await snapshot(tenant.id)).toEqual(before);
  });

  it('API.md §1: DELETE erases the user (204): users and user_attributes rows gone, audit keeps pseudonymous entries without attribute values', async () => {
    const { tenant, api } = await setupTenant();
    const secretValue = 'ada.lovelace+erasure@example.com';
    const user = await createUser(api, { externalRef: 'erase-me-ref', attributes: { email: secretValue, phone: '+44 20 7946 0000' } });
    await api(`/v1/users/${user.id}`, { method: 'PATCH', json: { attributes: { city: 'London-secret-city' } } });
    await api(`/v1/users/${user.id}/lock`, { method: 'POST', json: { reason: 'checking' } });

    const res = await api(`/v1/users/${user.id}`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(await countRows('users', 'id = ?1', user.id)).toBe(0);
    expect(await countRows('user_attributes', 'user_id = ?1', user.id)).toBe(0);
    await expectProblem(await api(`/v1/users/${user.id}`), 404, 'USER_NOT_FOUND');
    expect((await (await api('/v1/users?externalRef=erase-me-ref')).json<Page<UserJson>>()).items).toEqual([]);

    const audit = await env.DB.prepare('SELECT * FROM audit_events WHERE tenant_id = ?1 AND user_id = ?2 ORDER BY seq').bind(tenant.id, user.id).all<Record<string, unknown>>();
    expect(audit.results.map((r) => r.action)).toEqual(['user.created', 'user.updated', 'user.locked', 'user.erased']);
    const everything = JSON.stringify((await env.DB.prepare('SELECT * FROM audit_events WHERE tenant_id = ?1').bind(tenant.id).all()).results);
    for (const value of [secretValue, '+44 20 7946 0000', 'London-secret-city', 'erase-me-ref']) expect(everything).not.toContain(value);
    // The audit API agrees.
    const listed = await (await api(`/v1/audit-events?userId=${user.id}`)).json<Page<{ action: string }>>();
    expect(listed.items.map((e) => e.action)).toEqual(['user.created', 'user.updated', 'user.locked', 'user.erased']);
    expect(JSON.stringify(listed)).not.toContain(secretValue);
  });

  it('API.md §1: after erasure the externalRef is free again', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api, { externalRef: 'reuse' });
    expect((await api(`/v1/users/${user.id}`, { method: 'DELETE' })).status).toBe(204);
    await createUser(api, { externalRef: 'reuse' });
  });
});

describe('users: refusals write nothing', () => {
  const badCreates: [string, unknown, string][] = [
    ['unknown field', { externalRef: 'x', nickname: 'y' }, 'nickname'],
    ['wrong type (externalRef number)', { externalRef: 12 }, 'externalRef'],
    ['wrong type (attribute value number)', { attributes: { age: 42 } }, 'attributes'],
    ['wrong type (attributes array)', { attributes: ['a'] }, 'attributes'],
    ['bad attribute key characters', { attributes: { 'e mail': 'x' } }, 'attributes'],
    ['attribute key with a slash', { attributes: { 'a/b': 'x' } }, 'attributes'],
    ['attribute key over 64 characters', { attributes: { ['k'.repeat(65)]: 'x' } }, 'attributes'],
    ['the attribute key __proto__ (would be dropped silently)', JSON.parse('{"attributes":{"__proto__":"x","ok":"y"}}'), 'attributes'],
    ['a 1025-character value', { attributes: { bio: 'x'.repeat(1025) } }, 'attributes'],
    ['a 101st attribute', { attributes: manyAttributes(101) }, 'attributes'],
    ['an empty externalRef', { externalRef: '' }, 'externalRef'],
    ['a JSON array body', [], '(body)'],
  ];
  for (const [what, json, param] of badCreates) {
    it(`API.md §1 / conventions: POST /v1/users with ${what} → 400 VALIDATION_FAILED, nothing written`, async () => {
      const { tenant, api } = await setupTenant();
      const before = await snapshot(tenant.id);
      const problem = await expectProblem(await api('/v1/users', { method: 'POST', json }), 400, 'VALIDATION_FAILED');
      expect(problem.invalidParams?.some((p) => p.name.startsWith(param)), JSON.stringify(problem.invalidParams)).toBe(true);
      expect(await snapshot(tenant.id)).toEqual(before);
    });
  }

  it('API.md §1: exactly 100 attributes and a 1024-character value are accepted', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api, { attributes: { ...manyAttributes(99), bio: 'x'.repeat(1024) } });
    expect(Object.keys(user.attributes)).toHaveLength(100);
  });

  it('API.md §1: a duplicate externalRef → 409 EXTERNAL_REF_TAKEN, nothing written (create and patch)', async () => {
    const { tenant, api } = await setupTenant();
    await createUser(api, { externalRef: 'dup' });
    const other = await createUser(api, { externalRef: 'other' });
    const before = await snapshot(tenant.id);
    await expectProblem(await api('/v1/users', { method: 'POST', json: { externalRef: 'dup', attributes: { a: 'b' } } }), 409, 'EXTERNAL_REF_TAKEN');
    await expectProblem(await api(`/v1/users/${other.id}`, { method: 'PATCH', json: { externalRef: 'dup', attributes: { a: 'b' } } }), 409, 'EXTERNAL_REF_TAKEN');
    expect(await snapshot(tenant.id)).toEqual(before);
  });

  const badPatches: [string, unknown][] = [
    ['unknown field', { status: 'LOCKED' }],
    ['wrong type', { attributes: { a: 1 } }],
    ['bad attribute key characters', { attributes: { 'bad key!': 'v' } }],
    ['the attribute key __proto__', JSON.parse('{"attributes":{"__proto__":"v"}}')],
    ['a 1025-character value', { attributes: { a: 'x'.repeat(1025) } }],
  ];
  for (const [what, json] of badPatches) {
    it(`API.md §1 / conventions: PATCH with ${what} → 400 VALIDATION_FAILED, nothing written`, async () => {
      const { tenant, api } = await setupTenant();
      const user = await createUser(api, { attributes: { a: 'original' } });
      const before = await snapshot(tenant.id);
      await expectProblem(await api(`/v1/users/${user.id}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json }), 400, 'VALIDATION_FAILED');
      expect(await snapshot(tenant.id)).toEqual(before);
    });
  }

  it('API.md §1: a patch adding the 101st attribute → 400 VALIDATION_FAILED, nothing written', async () => {
    const { tenant, api } = await setupTenant();
    const user = await createUser(api, { attributes: manyAttributes(100) });
    const before = await snapshot(tenant.id);
    await expectProblem(await api(`/v1/users/${user.id}`, { method: 'PATCH', json: { attributes: { k0: 'changed', extra: 'one too many' } } }), 400, 'VALIDATION_FAILED');
    expect(await snapshot(tenant.id)).toEqual(before);
    // Built up across patches too.
    const small = await createUser(api, { attributes: manyAttributes(60) });
    const more = Object.fromEntries(Array.from({ length: 41 }, (_, i) => [`m${i}`, 'v']));
    const mid = await snapshot(tenant.id);
    await expectProblem(await api(`/v1/users/${small.id}`, { method: 'PATCH', json: { attributes: more } }), 400, 'VALIDATION_FAILED');
    expect(await snapshot(tenant.id)).toEqual(mid);
  });

  it('API.md §1: a lock reason over 256 characters or an unknown field → 400, user unchanged', async () => {
    const { tenant, api } = await setupTenant();
    const user = await createUser(api);
    const before = await snapshot(tenant.id);
    await expectProblem(await api(`/v1/users/${user.id}/lock`, { method: 'POST', json: { reason: 'r'.repeat(257) } }), 400, 'VALIDATION_FAILED');
    await expectProblem(await api(`/v1/users/${user.id}/lock`, { method: 'POST', json: { why: 'x' } }), 400, 'VALIDATION_FAILED');
    await expectProblem(await api(`/v1/users/${user.id}/deactivate`, { method: 'POST', json: { force: true } }), 400, 'VALIDATION_FAILED');
    expect(await snapshot(tenant.id)).toEqual(before);
  });

  it('API.md §1: another tenant\'s user id → 404 USER_NOT_FOUND (never 403) on every call, and nothing changes', async () => {
    const mine = await setupTenant();
    const theirs = await setupTenant();
    const victim = await createUser(theirs.api, { externalRef: 'victim', attributes: { email: 'v@example.com' } });
    const before = await snapshot(theirs.tenant.id);
    const mineBefore = await snapshot(mine.tenant.id);
    const path = `/v1/users/${victim.id}`;
    await expectProblem(await mine.api(path), 404, 'USER_NOT_FOUND');
    await expectProblem(await mine.api(path, { method: 'PATCH', json: { attributes: { email: 'pwned@example.com' } } }), 404, 'USER_NOT_FOUND');
    await expectProblem(await mine.api(`${path}/lock`, { method: 'POST', json: { reason: 'x' } }), 404, 'USER_NOT_FOUND');
    await expectProblem(await mine.api(`${path}/unlock`, { method: 'POST' }), 404, 'USER_NOT_FOUND');
    await expectProblem(await mine.api(`${path}/deactivate`, { method: 'POST' }), 404, 'USER_NOT_FOUND');
    await expectProblem(await mine.api(path, { method: 'DELETE' }), 404, 'USER_NOT_FOUND');
    expect((await (await mine.api('/v1/users?externalRef=victim')).json<Page<UserJson>>()).items).toEqual([]);
    expect((await (await mine.api('/v1/users?attributeKey=email&attributeValue=v%40example.com')).json<Page<UserJson>>()).items).toEqual([]);
    expect(await snapshot(theirs.tenant.id)).toEqual(before);
    expect(await snapshot(mine.tenant.id)).toEqual(mineBefore);
  });

  it('API.md §1: an unknown or malformed user id → 404 USER_NOT_FOUND', async () => {
    const { api } = await setupTenant();
    await expectProblem(await api('/v1/users/usr_00000000000000000000000000000000000'), 404, 'USER_NOT_FOUND');
    await expectProblem(await api('/v1/users/not-an-id'), 404, 'USER_NOT_FOUND');
  });

  for (const limit of ['0', '101', 'x', '-1', '1.5']) {
    it(`API.md conventions: ?limit=${limit} → 400 VALIDATION_FAILED`, async () => {
      const { api } = await setupTenant();
      const problem = await expectProblem(await api(`/v1/users?limit=${limit}`), 400, 'VALIDATION_FAILED');
      expect(problem.invalidParams?.map((p) => p.name)).toContain('limit');
    });
  }

  it('API.md conventions: limits 1 and 100 are accepted', async () => {
    const { api } = await setupTenant();
    expect((await api('/v1/users?limit=1')).status).toBe(200);
    expect((await api('/v1/users?limit=100')).status).toBe(200);
  });

  for (const [what, cursor] of [
    ['garbage', 'not-a-cursor!'],
    ['base64 of plain text', btoa('hello')],
    ['a cursor with a key of the wrong kind', btoa(JSON.stringify({ k: 7 }))],
    ['a cursor with a non-id key', btoa(JSON.stringify({ k: "' OR 1=1 --" }))],
    ['a cursor of another list (tenant ids)', btoa(JSON.stringify({ k: 'ten_00000000000000000000000000000000000' }))],
  ] as const) {
    it(`API.md conventions: a forged cursor (${what}) → 400 INVALID_CURSOR`, async () => {
      const { api } = await setupTenant();
      await expectProblem(await api(`/v1/users?cursor=${encodeURIComponent(cursor)}`), 400, 'INVALID_CURSOR');
    });
  }
});
