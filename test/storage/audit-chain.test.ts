// The audit chain under concurrent writers and stale heads: appends take turns, and a wrong head is retried, never written.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { chainHash, commitWithAudit, verifyAuditChain } from '../../src/storage/audit';
import { newId } from '../../src/domain/ids';
import { countRows, createTenant, setupTenant } from '../helpers/api';

const entry = (n: number) => ({ actor: 'system', action: 'test.appended', targetType: 'test', targetId: `t${n}` });

describe('audit chain appends', () => {
  it('hash chain: 24 concurrent user creations in one tenant all succeed, and the chain verifies with no gap', async () => {
    const { api, tenant } = await setupTenant();
    const before = await countRows('audit_events', 'tenant_id = ?1', tenant.id);
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => api('/v1/users', { method: 'POST', json: { externalRef: `concurrent-${i}` } })));
    expect(results.map((r) => r.status)).toEqual(Array(24).fill(201));
    expect(await countRows('audit_events', 'tenant_id = ?1', tenant.id)).toBe(before + 24);
    const chain = await verifyAuditChain(env.DB, tenant.id);
    expect(chain).toMatchObject({ valid: true, checked: before + 24, headSeq: before + 24 });
  });

  it('hash chain: an append by another isolate makes the remembered head stale; the append is retried on the real head, no fork', async () => {
    const tenant = await createTenant();
    await commitWithAudit(env.DB, tenant.id, [], [entry(1)]);
    const head = await verifyAuditChain(env.DB, tenant.id);
    // Another writer (another isolate) appends behind this isolate's back, with a correct link.
    const other = { tenantId: tenant.id, seq: head.headSeq + 1, id: newId('aud'), at: new Date().toISOString(), actor: 'system', action: 'test.elsewhere', targetType: 'test', targetId: 'x', userId: null, data: {} };
    const otherHash = await chainHash(head.headHash, other);
    await env.DB.prepare(
      `INSERT INTO audit_events (tenant_id, seq, id, at, actor, action, target_type, target_id, user_id, data, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, '{}', ?9, ?10)`,
    ).bind(tenant.id, other.seq, other.id, other.at, other.actor, other.action, other.targetType, other.targetId, head.headHash, otherHash).run();
    await commitWithAudit(env.DB, tenant.id, [], [entry(2)]);
    const chain = await verifyAuditChain(env.DB, tenant.id);
    expect(chain).toMatchObject({ valid: true, headSeq: head.headSeq + 2 });
  });

  it('hash chain: a head whose hash is not the stored one is refused in SQL (no row links to a hash that does not exist)', async () => {
    const tenant = await createTenant();
    await commitWithAudit(env.DB, tenant.id, [], [entry(1)]);
    const real = await verifyAuditChain(env.DB, tenant.id);
    // Claims seq+1 so no UNIQUE conflict could catch it: only the link check can.
    await commitWithAudit(env.DB, tenant.id, [], [entry(2)], undefined, { head: { seq: real.headSeq + 1, hash: 'f'.repeat(64) } });
    const chain = await verifyAuditChain(env.DB, tenant.id);
    expect(chain).toMatchObject({ valid: true, headSeq: real.headSeq + 1 });
    const row = await env.DB.prepare('SELECT prev_hash FROM audit_events WHERE tenant_id = ?1 AND seq = ?2').bind(tenant.id, real.headSeq + 1).first<{ prev_hash: string }>();
    expect(row?.prev_hash).toBe(real.headHash);
  });

  it('hash chain: a failing batch writes neither its statements nor its audit entry', async () => {
    const tenant = await createTenant();
    const before = await countRows('audit_events', 'tenant_id = ?1', tenant.id);
    await expect(commitWithAudit(env.DB, tenant.id, [env.DB.prepare("INSERT INTO precondition (name, holds) VALUES ('stillLive', 0)")], [entry(1)])).rejects.toThrow(/precondition failed: stillLive/);
    expect(await countRows('audit_events', 'tenant_id = ?1', tenant.id)).toBe(before);
    await commitWithAudit(env.DB, tenant.id, [], [entry(2)]);
    expect(await verifyAuditChain(env.DB, tenant.id)).toMatchObject({ valid: true, headSeq: before + 1 });
  });

  it('hash chain: appends queued together commit together, and one whose statements fail (a guard) fails alone', async () => {
    const tenant = await createTenant();
    const before = await countRows('audit_events', 'tenant_id = ?1', tenant.id);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        commitWithAudit(env.DB, tenant.id, i === 5 ? [env.DB.prepare("INSERT INTO precondition (name, holds) VALUES ('stillLive', 0)")] : [], [entry(i)]),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual(Array.from({ length: 12 }, (_, i) => (i === 5 ? 'rejected' : 'fulfilled')));
    expect(String((outcomes[5] as PromiseRejectedResult).reason)).toMatch(/precondition failed: stillLive/);
    expect(await countRows('audit_events', 'tenant_id = ?1', tenant.id)).toBe(before + 11);
    expect(await countRows('audit_events', "tenant_id = ?1 AND target_id = 't5'", tenant.id)).toBe(0);
    expect(await verifyAuditChain(env.DB, tenant.id)).toMatchObject({ valid: true, headSeq: before + 11 });
  });
});
