// /v1/audit-events: the tenant's hash-chained audit log, its listing and chain verification (tamper detection).
import type { ChainVerification } from '../../src/storage/audit';
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Api } from '../helpers/api';
import { expectProblem, setupTenant, sha256Hex } from '../helpers/api';
import { chainHash } from '../../src/storage/audit';

interface AuditEventJson {
  id: string;
  seq: number;
  at: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  userId: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}


async function createUser(api: Api, json: unknown = {}): Promise<{ id: string }> {
  const res = await api('/v1/users', { method: 'POST', json });
  expect(res.status).toBe(201);
  return res.json<{ id: string }>();
}

async function verify(api: Api): Promise<ChainVerification> {
  const res = await api('/v1/audit-events/verify');
  expect(res.status).toBe(200);
  return res.json<ChainVerification>();
}

/** A tenant whose chain has several entries: tenant.created, client.created, then four user entries. */
async function tenantWithHistory() {
  const setup = await setupTenant();
  const a = await createUser(setup.api, { attributes: { x: '1' } });
  const b = await createUser(setup.api);
  await setup.api(`/v1/users/${a.id}/lock`, { method: 'POST', json: { reason: 'r' } });
  await setup.api(`/v1/users/${b.id}`, { method: 'PATCH', json: { attributes: { y: '2' } } });
  return { ...setup, a, b };
}

describe('GET /v1/audit-events', () => {
  it('API.md §4/§1: admin and client actions are recorded in chain order with linked hashes', async () => {
    const { tenant, client, api, a } = await tenantWithHistory();
    const res = await api('/v1/audit-events');
    expect(res.status).toBe(200);
    const { items, nextCursor } = await res.json<{ items: AuditEventJson[]; nextCursor: string | null }>();
    expect(nextCursor).toBeNull();
    expect(items.map((e) => e.action)).toEqual(['tenant.created', 'client.created', 'user.created', 'user.created', 'user.locked', 'user.updated']);
    expect(items.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(items[0]).toMatchObject({ actor: 'admin', targetType: 'tenant', targetId: tenant.id, prevHash: '0'.repeat(64) });
    expect(items[2]).toMatchObject({ actor: `client:${client.clientId}`, targetId: a.id, userId: a.id, data: { attributeKeys: ['x'] } });
    for (let i = 1; i < items.length; i++) expect(items[i]!.prevHash).toBe(items[i - 1]!.hash);
    for (const e of items) expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('API.md §1: ?userId= filters to that user; another tenant\'s events are never listed', async () => {
    const { api, a } = await tenantWithHistory();
    const other = await tenantWithHistory();
    const mine = await (await api(`/v1/audit-events?userId=${a.id}`)).json<{ items: AuditEventJson[] }>();
    expect(mine.items.map((e) => e.action)).toEqual(['user.created', 'user.locked']);
    expect(mine.items.every((e) => e.userId === a.id)).toBe(true);
    const foreign = await (await api(`/v1/audit-events?userId=${other.a.id}`)).json<{ items: AuditEventJson[] }>();
    expect(foreign.items).toEqual([]);
    const bogus = await (await api('/v1/audit-events?userId=nobody')).json<{ items: AuditEventJson[]; nextCursor: null }>();
    expect(bogus).toEqual({ items: [], nextCursor: null });
  });

  it('API.md conventions: audit events page with a cursor; forged cursor or bad limit → 400', async () => {
    const { api } = await tenantWithHistory();
    const first = await (await api('/v1/audit-events?limit=4')).json<{ items: AuditEventJson[]; nextCursor: string | null }>();
    expect(first.items.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await (await api(`/v1/audit-events?limit=4&cursor=${encodeURIComponent(first.nextCursor!)}`)).json<{ items: AuditEventJson[]; nextCursor: string | null }>();
    expect(second.items.map((e) => e.seq)).toEqual([5, 6]);
    expect(second.nextCursor).toBeNull();
    await expectProblem(await api(`/v1/audit-events?cursor=${btoa(JSON.stringify({ k: 'usr_x' }))}`), 400, 'INVALID_CURSOR');
    await expectProblem(await api(`/v1/audit-events?cursor=${btoa(JSON.stringify({ k: -3 }))}`), 400, 'INVALID_CURSOR');
    await expectProblem(await api('/v1/audit-events?cursor=%%%'), 400, 'INVALID_CURSOR');
    await expectProblem(await api('/v1/audit-events?limit=0'), 400, 'VALIDATION_FAILED');
    await expectProblem(await api('/v1/audit-events?limit=101'), 400, 'VALIDATION_FAILED');
  });

  type Page = { items: AuditEventJson[]; nextCursor: string | null };

  it('filters combine: an action or an action family, an actor, a target, a time window', async () => {
    const { api, client, a, b } = await tenantWithHistory();
    const actions = async (query: string) => (await (await api(`/v1/audit-events?${query}`)).json<Page>()).items.map((e) => e.action);
    expect(await actions('action=user.created')).toEqual(['user.created', 'user.created']);
    expect(await actions('action=user.')).toEqual(['user.created', 'user.created', 'user.locked', 'user.updated']);
    // A family is a prefix up to the dot, not any prefix: "user" without the dot matches only an action named exactly that.
    expect(await actions('action=user')).toEqual([]);
    expect(await actions(`actor=${encodeURIComponent(`client:${client.clientId}`)}`)).toEqual(['user.created', 'user.created', 'user.locked', 'user.updated']);
    expect(await actions('actor=admin')).toEqual(['tenant.created', 'client.created']);
    expect(await actions(`targetId=${b.id}`)).toEqual(['user.created', 'user.updated']);
    expect(await actions(`action=user.&targetId=${a.id}`)).toEqual(['user.created', 'user.locked']);
    const all = (await (await api('/v1/audit-events')).json<Page>()).items;
    const since = all[4]!.at;
    expect((await (await api(`/v1/audit-events?since=${since}`)).json<Page>()).items.every((e) => e.at >= since)).toBe(true);
    expect(await actions(`until=${encodeURIComponent('2000-01-01T00:00:00Z')}`)).toEqual([]);
    expect(await actions(`since=${encodeURIComponent('2000-01-01T00:00:00Z')}&until=${encodeURIComponent('2999-01-01T00:00:00Z')}`)).toHaveLength(6);
  });

  it('order=desc lists newest first and pages backwards; the pages join up with nothing twice', async () => {
    const { api } = await tenantWithHistory();
    const first = await (await api('/v1/audit-events?order=desc&limit=4')).json<Page>();
    expect(first.items.map((e) => e.seq)).toEqual([6, 5, 4, 3]);
    const second = await (await api(`/v1/audit-events?order=desc&limit=4&cursor=${encodeURIComponent(first.nextCursor!)}`)).json<Page>();
    expect(second.items.map((e) => e.seq)).toEqual([2, 1]);
    expect(second.nextCursor).toBeNull();
    const filtered = await (await api('/v1/audit-events?order=desc&action=user.&limit=3')).json<Page>();
    expect(filtered.items.map((e) => e.action)).toEqual(['user.updated', 'user.locked', 'user.created']);
  });

  it("bad filters are refused with problem+json naming the field; a filter value is bound, never SQL (another tenant's rows stay out)", async () => {
    const { api } = await tenantWithHistory();
    for (const [query, field] of [['action=USER.LOCKED', 'action'], ['action=user.*', 'action'], ['since=yesterday', 'since'], ['until=2026-12-08T10:00:00%2B01:00', 'until'], ['order=sideways', 'order'], ['actor=', 'actor']] as const) {
      const problem = await expectProblem(await api(`/v1/audit-events?${query}`), 400, 'VALIDATION_FAILED');
      expect(JSON.stringify(problem), query).toContain(field);
    }
    await tenantWithHistory();
    const injected = await (await api(`/v1/audit-events?actor=${encodeURIComponent("admin' OR '1'='1")}`)).json<Page>();
    expect(injected.items).toEqual([]);
  });
});

describe('GET /v1/audit-events/verify', () => {
  it('DESIGN.md audit chain: an untouched chain verifies', async () => {
    const { api } = await tenantWithHistory();
    const result = await verify(api);
    expect(result).toMatchObject({ valid: true, checked: 6, headSeq: 6 });
    const last = (await (await api('/v1/audit-events')).json<{ items: AuditEventJson[] }>()).items.at(-1)!;
    expect(result.headHash).toBe(last.hash);
    expect(result).not.toHaveProperty('reason');
  });

  it("DESIGN.md audit chain: one row's data edited in D1 → valid:false, HASH_MISMATCH at that seq", async () => {
    const { tenant, api } = await tenantWithHistory();
    await env.DB.prepare(`UPDATE audit_events SET data = '{"reason":"nothing to see"}' WHERE tenant_id = ?1 AND seq = 5`).bind(tenant.id).run();
    expect(await verify(api)).toMatchObject({ valid: false, brokenAtSeq: 5, reason: 'HASH_MISMATCH', checked: 4, headSeq: 4 });
  });

  it('DESIGN.md audit chain: an edited actor is detected as well', async () => {
    const { tenant, api } = await tenantWithHistory();
    await env.DB.prepare(`UPDATE audit_events SET actor = 'admin' WHERE tenant_id = ?1 AND seq = 3`).bind(tenant.id).run();
    expect(await verify(api)).toMatchObject({ valid: false, brokenAtSeq: 3, reason: 'HASH_MISMATCH' });
  });

  it('DESIGN.md audit chain: a middle row deleted → valid:false, SEQUENCE_GAP', async () => {
    const { tenant, api } = await tenantWithHistory();
    await env.DB.prepare('DELETE FROM audit_events WHERE tenant_id = ?1 AND seq = 4').bind(tenant.id).run();
    expect(await verify(api)).toMatchObject({ valid: false, brokenAtSeq: 5, reason: 'SEQUENCE_GAP', checked: 3, headSeq: 3 });
  });

  it('DESIGN.md audit chain: a row edited with its own hash recomputed → the next row\'s link breaks (LINK_MISMATCH)', async () => {
    const { tenant, api } = await tenantWithHistory();
    const row = await env.DB.prepare('SELECT * FROM audit_events WHERE tenant_id = ?1 AND seq = 3').bind(tenant.id).first<Record<string, string | number | null>>();
    const forged = {
      tenantId: tenant.id, seq: 3, id: String(row!.id), at: String(row!.at), actor: String(row!.actor), action: String(row!.action),
      targetType: String(row!.target_type), targetId: String(row!.target_id), userId: row!.user_id as string | null,
      data: { attributeKeys: ['forged'] },
    };
    const newHash = await chainHash(String(row!.prev_hash), forged);
    expect(newHash).not.toBe(row!.hash);
    await env.DB.prepare('UPDATE audit_events SET data = ?2, hash = ?3 WHERE tenant_id = ?1 AND seq = 3')
      .bind(tenant.id, JSON.stringify(forged.data), newHash)
      .run();
    expect(await verify(api)).toMatchObject({ valid: false, brokenAtSeq: 4, reason: 'LINK_MISMATCH', checked: 3 });
  });

  it('DESIGN.md audit chain: a row and every later link rewritten → still detected against an earlier headHash', async () => {
    const { tenant, api } = await tenantWithHistory();
    const before = await verify(api);
    // Rewriting the whole tail from seq 6 keeps the chain self-consistent, so only the kept head (seq, hash) reveals it.
    const row = await env.DB.prepare('SELECT * FROM audit_events WHERE tenant_id = ?1 AND seq = 6').bind(tenant.id).first<Record<string, string | number | null>>();
    const forged = {
      tenantId: tenant.id, seq: 6, id: String(row!.id), at: String(row!.at), actor: String(row!.actor), action: String(row!.action),
      targetType: String(row!.target_type), targetId: String(row!.target_id), userId: row!.user_id as string | null, data: { attributeKeys: [] },
    };
    const newHash = await chainHash(String(row!.prev_hash), forged);
    await env.DB.prepare('UPDATE audit_events SET data = ?2, hash = ?3 WHERE tenant_id = ?1 AND seq = 6').bind(tenant.id, JSON.stringify(forged.data), newHash).run();
    const after = await verify(api);
    expect(after.valid).toBe(true);
    expect(after.headSeq).toBe(before.headSeq);
    expect(after.headHash).not.toBe(before.headHash);
  });

  it("DESIGN.md audit chain: tampering in another tenant's chain does not affect this one", async () => {
    const mine = await tenantWithHistory();
    const theirs = await tenantWithHistory();
    await env.DB.prepare(`UPDATE audit_events SET data = '{}' WHERE tenant_id = ?1 AND seq = 2`).bind(theirs.tenant.id).run();
    expect((await verify(mine.api)).valid).toBe(true);
    expect(await verify(theirs.api)).toMatchObject({ valid: false, brokenAtSeq: 2, reason: 'HASH_MISMATCH' });
  });

  it('DESIGN.md audit chain: the hash is SHA-256 over prev_hash and the JCS of the entry', async () => {
    const { tenant, api } = await tenantWithHistory();
    const [first] = (await (await api('/v1/audit-events?limit=1')).json<{ items: AuditEventJson[] }>()).items;
    expect(first).toBeDefined();
    // Independent recomputation of the documented formula for entry 1 (keys sorted per RFC 8785).
    const tenantId = tenant.id;
    const canonical = JSON.stringify({
      action: first!.action, actor: first!.actor, at: first!.at, data: sortKeys(first!.data), id: first!.id, seq: first!.seq,
      targetId: first!.targetId, targetType: first!.targetType, tenantId, userId: first!.userId,
    });
    expect(first!.hash).toBe(await sha256Hex(`${'0'.repeat(64)}\n${canonical}`));
  });
});

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
  }
  return value;
}
