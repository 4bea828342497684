// GET /v1/operations (docs/operations.md#listing-operations): the tenant's history newest first, filters, cursor paging,
// tenant isolation and the `operations` scope.
import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../helpers/api';
import { apiWith, createClient, expectProblem, getToken, setupTenant } from '../helpers/api';
import { approve, createUser, registerPasskey, startOperation } from '../helpers/ceremony';

interface OperationJson { id: string; type: string; status: string; userId: string; deviceId?: string; result?: unknown; sdk?: unknown }
interface Page { items: OperationJson[]; nextCursor: string | null }

/** Well-formed ids (36 Crockford base-32 characters): the newest possible operation, and a user nobody has. */
const BOB_OP = `op_${'z'.repeat(36)}`;
const NOBODY = `usr_${'a'.repeat(36)}`;

async function list(api: Api, query = ''): Promise<Page> {
  const res = await api(`/v1/operations${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json<Page>();
}

describe('GET /v1/operations', () => {
  let api: Api;
  let tenantId: string;
  let ada: string;
  let bob: string;
  let adaDevice: string;
  /** Every operation of the tenant, oldest first, as started. */
  const started: { id: string; type: string; userId: string }[] = [];
  let completedId: string;
  let cancelledId: string;
  let otherTenantOps: string[];

  beforeAll(async () => {
    const setup = await setupTenant({ policy: { maxLiveOperationsPerUser: 20, maxStartsPerUserPerMinute: 30 } });
    ({ api } = setup);
    tenantId = setup.tenant.id;
    ada = (await createUser(api, { externalRef: 'ada' })).id;
    bob = (await createUser(api, { externalRef: 'bob' })).id;
    const registration = await registerPasskey(api, ada);
    adaDevice = registration.deviceId;
    started.push({ id: registration.operationId, type: 'REGISTRATION', userId: ada });
    const done = await approve(api, registration.authenticator, { type: 'AUTHENTICATION', userId: ada });
    expect(done.finish.status).toBe(200);
    completedId = done.op.id;
    started.push({ id: completedId, type: 'AUTHENTICATION', userId: ada });
    for (const body of [
      { type: 'AUTHORISATION', userId: ada, transaction: { amount: '12.50', currency: 'EUR', payee: { name: 'Shop' } } },
      { type: 'SIGNATURE', userId: ada, document: { content: 'I agree', mimeType: 'text/plain' } },
      { type: 'AUTHENTICATION', userId: ada, push: false },
    ]) started.push({ id: (await startOperation(api, body)).id, type: body.type, userId: ada });
    const cancelled = await startOperation(api, { type: 'AUTHENTICATION', userId: ada, push: false });
    expect((await api(`/v1/operations/${cancelled.id}/cancel`, { method: 'POST', json: {} })).status).toBe(200);
    cancelledId = cancelled.id;
    started.push({ id: cancelledId, type: 'AUTHENTICATION', userId: ada });
    // Bob has no device: an operation of his cannot be started, so his history is written as a start would write it.
    await env.DB.prepare("INSERT INTO operations (id, tenant_id, user_id, device_id, type, status, created_at, expires_at, summary) VALUES (?4, ?1, ?2, NULL, 'AUTHENTICATION', 'EXPIRED', ?3, ?3, '{}')")
      .bind(tenantId, bob, new Date().toISOString(), BOB_OP).run();
    started.push({ id: BOB_OP, type: 'AUTHENTICATION', userId: bob });

    // Another tenant with operations of its own, some newer than all of the first tenant's.
    const other = await setupTenant();
    const eve = await createUser(other.api);
    const eveReg = await registerPasskey(other.api, eve.id);
    otherTenantOps = [eveReg.operationId, (await startOperation(other.api, { type: 'AUTHENTICATION', userId: eve.id })).id];
  });

  it('lists every operation of the tenant, newest first, from the D1 history (no sdk or result token)', async () => {
    const page = await list(api, '?limit=100');
    expect(page.items.map((o) => o.id)).toEqual([...started].map((o) => o.id).sort().reverse());
    expect(page.nextCursor).toBeNull();
    expect(page.items.every((o) => o.sdk === undefined && o.result === undefined)).toBe(true);
    const completed = page.items.find((o) => o.id === completedId)!;
    expect(completed).toMatchObject({ type: 'AUTHENTICATION', status: 'COMPLETED', userId: ada, deviceId: adaDevice });
    const authorisation = page.items.find((o) => o.type === 'AUTHORISATION') as OperationJson & { transaction?: unknown };
    expect(authorisation.transaction).toMatchObject({ amount: '12.50', currency: 'EUR' });
  });

  it('pages by cursor until nextCursor is null, each operation once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await list(api, `?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((o) => o.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(Math.ceil(started.length / 3));
    expect(seen).toEqual([...started].map((o) => o.id).sort().reverse());
  });

  it('filters by type, status, user and device, and they combine', async () => {
    expect((await list(api, '?type=AUTHORISATION')).items.map((o) => o.type)).toEqual(['AUTHORISATION']);
    expect((await list(api, '?status=CANCELLED')).items.map((o) => o.id)).toEqual([cancelledId]);
    expect((await list(api, `?userId=${bob}`)).items.map((o) => o.userId)).toEqual([bob]);
    const byDevice = await list(api, `?deviceId=${adaDevice}`);
    expect(byDevice.items.map((o) => o.id).sort()).toEqual([started[0]!.id, completedId].sort());
    const combined = await list(api, `?type=AUTHENTICATION&status=COMPLETED&userId=${ada}&deviceId=${adaDevice}`);
    expect(combined.items.map((o) => o.id)).toEqual([completedId]);
    expect((await list(api, `?type=AUTHENTICATION&userId=${ada}`)).items).toHaveLength(3);
    // A well-formed id of nobody matches nothing; it is not an error.
    expect((await list(api, `?userId=${NOBODY}`)).items).toEqual([]);
  });

  it('a filter page and its cursor keep the filter', async () => {
    const first = await list(api, `?userId=${ada}&limit=2`);
    expect(first.nextCursor).not.toBeNull();
    const second = await list(api, `?userId=${ada}&limit=2&cursor=${first.nextCursor}`);
    expect([...first.items, ...second.items].every((o) => o.userId === ada)).toBe(true);
    expect(second.items[0]!.id < first.items[1]!.id).toBe(true);
  });

  it("never lists another tenant's operations, not even when filtered by that tenant's user or device", async () => {
    const mine = await list(api, '?limit=100');
    for (const id of otherTenantOps) expect(mine.items.map((o) => o.id)).not.toContain(id);
    const row = await env.DB.prepare('SELECT user_id, device_id FROM operations WHERE id = ?1').bind(otherTenantOps[0]).first<{ user_id: string; device_id: string }>();
    expect((await list(api, `?userId=${row!.user_id}`)).items).toEqual([]);
    expect((await list(api, `?deviceId=${row!.device_id}`)).items).toEqual([]);
  });

  it('a bad filter value is 400 VALIDATION_FAILED (problem+json) naming the parameter', async () => {
    for (const [query, name] of [['?type=LOGIN', 'type'], ['?status=DONE', 'status'], ['?userId=ada', 'userId'], [`?deviceId=${NOBODY}`, 'deviceId'], ['?limit=0', 'limit']] as const) {
      const problem = await expectProblem(await api(`/v1/operations${query}`), 400, 'VALIDATION_FAILED');
      expect(problem.invalidParams?.map((p) => p.name)).toContain(name);
    }
    await expectProblem(await api(`/v1/operations?cursor=${btoa(JSON.stringify({ k: 'usr_x' }))}`), 400, 'INVALID_CURSOR');
  });

  it('needs the operations scope: a client without it is 403 INSUFFICIENT_SCOPE; without a token 401', async () => {
    const narrow = apiWith(await getToken(await createClient(tenantId, { scopes: ['users', 'devices'] })));
    await expectProblem(await narrow('/v1/operations'), 403, 'INSUFFICIENT_SCOPE');
    await expectProblem(await apiWith('not-a-token')('/v1/operations'), 401, 'UNAUTHENTICATED');
  });
});
