// Every event type of API.md §3 is emitted when its state change happens, and arrives signed at the relying party.
import { env } from 'cloudflare:test';
import { fireOperationTimer } from '../helpers/operation-shard';
import { describe, expect, it } from 'vitest';
import { setupTenant } from '../helpers/api';
import { approve, createUser, registerPasskey, sdkFetch, sdkStart, startOperation } from '../helpers/ceremony';
import { verifyWebhook } from '../../packages/node/src/webhooks';
import type { WebhookEvent, WebhookEventType } from '../../packages/node/src/webhooks';
import { configureWebhook, eventsOf, Receiver } from './harness';

describe('webhook events', () => {
  it('API.md §3: operation, device (incl. the automatic lock, PSD2 RTS art. 4(3)(b)) and user events, each signed and verifiable', async () => {
    // maxFailedAttempts 1: the first failed verification locks the device.
    const { tenant, api } = await setupTenant({ policy: { maxFailedAttempts: 1 } });
    const receiver = Receiver.create();
    const secret = await configureWebhook(tenant.id, receiver.url());
    const user = await createUser(api);

    // device.registered + operation.completed
    const { authenticator, deviceId, operationId: registrationId } = await registerPasskey(api, user.id);
    // operation.rejected
    const rejected = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id });
    expect((await sdkFetch(rejected, 'reject')).status).toBe(200);
    // operation.cancelled
    const cancelled = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id });
    expect((await api(`/v1/operations/${cancelled.id}/cancel`, { method: 'POST' })).status).toBe(200);
    // operation.expired: the operation's expiry alarm, run now
    const expired = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id, ttlSeconds: 1 });
    expect(await fireOperationTimer(expired.id)).toBe(true);
    // operation.failed + device.locked (TOO_MANY_FAILED_ATTEMPTS): no user verification
    const failed = await approve(api, authenticator, { type: 'AUTHENTICATION', userId: user.id }, { knobs: { uv: false } });
    expect(failed.finish.status).toBe(400);
    // device.unlocked, device.locked (by the relying party), device.deactivated
    for (const action of ['unlock', 'lock', 'deactivate']) {
      expect((await api(`/v1/devices/${deviceId}/${action}`, { method: 'POST' })).status).toBe(200);
    }
    // user.locked, user.unlocked, user.deactivated
    for (const action of ['lock', 'unlock', 'deactivate']) {
      expect((await api(`/v1/users/${user.id}/${action}`, { method: 'POST' })).status).toBe(200);
    }

    const expected = 13;
    const requests = await receiver.waitForRequests(expected);
    expect(requests).toHaveLength(expected);
    const received: WebhookEvent[] = [];
    for (const request of requests) received.push(await verifyWebhook(secret, request.headers, request.body));
    // Each event is its own delivery, so arrival order is not emission order: compare by event id (time-ordered).
    received.sort((a, b) => (a.id < b.id ? -1 : 1));
    const recorded = await eventsOf(tenant.id);
    expect(received.map((e) => e.id)).toEqual(recorded.map((e) => e.id));
    for (const event of received) {
      expect(Object.keys(event)).toEqual(['id', 'type', 'timestamp', 'tenantId', 'data']);
      expect(event.tenantId).toBe(tenant.id);
    }

    const byType = (type: WebhookEventType): WebhookEvent['data'][] => received.filter((e) => e.type === type).map((e) => e.data);
    expect(byType('device.registered')).toEqual([{ deviceId, userId: user.id, kind: 'PASSKEY', operationId: registrationId }]);
    expect(byType('operation.completed')).toEqual([expect.objectContaining({ operationId: registrationId, type: 'REGISTRATION', status: 'COMPLETED', userId: user.id, deviceId })]);
    expect(byType('operation.rejected')).toEqual([expect.objectContaining({ operationId: rejected.id, status: 'REJECTED' })]);
    expect(byType('operation.cancelled')).toEqual([expect.objectContaining({ operationId: cancelled.id, status: 'CANCELLED' })]);
    expect(byType('operation.expired')).toEqual([expect.objectContaining({ operationId: expired.id, status: 'EXPIRED' })]);
    expect(byType('operation.failed')).toEqual([expect.objectContaining({ operationId: failed.op.id, status: 'FAILED', failure: { code: 'VERIFICATION_FAILED' } })]);
    expect(byType('device.locked')).toEqual([
      { deviceId, userId: user.id, status: 'LOCKED', lockReason: 'TOO_MANY_FAILED_ATTEMPTS' },
      expect.objectContaining({ deviceId, userId: user.id, status: 'LOCKED', lockReason: 'LOCKED_BY_RELYING_PARTY' }),
    ]);
    expect(byType('device.unlocked')).toEqual([expect.objectContaining({ deviceId, status: 'ACTIVE' })]);
    expect(byType('device.deactivated')).toEqual([expect.objectContaining({ deviceId, status: 'DEACTIVATED' })]);
    expect(byType('user.locked')).toEqual([{ userId: user.id, status: 'LOCKED', lockReason: 'LOCKED_BY_RELYING_PARTY' }]);
    expect(byType('user.unlocked')).toEqual([{ userId: user.id, status: 'ACTIVE' }]);
    expect(byType('user.deactivated')).toEqual([{ userId: user.id, status: 'DEACTIVATED' }]);
  });

  it('API.md §1 (tenant isolation): events are per tenant: another tenant\'s changes never reach this endpoint', async () => {
    const mine = await setupTenant();
    const other = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(mine.tenant.id, receiver.url());
    const otherUser = await createUser(other.api);
    expect((await other.api(`/v1/users/${otherUser.id}/lock`, { method: 'POST' })).status).toBe(200);
    const myUser = await createUser(mine.api);
    expect((await mine.api(`/v1/users/${myUser.id}/lock`, { method: 'POST' })).status).toBe(200);

    const [request] = await receiver.waitForRequests(1);
    expect(JSON.parse(request!.body)).toMatchObject({ tenantId: mine.tenant.id, data: { userId: myUser.id } });
    expect(await eventsOf(other.tenant.id)).toEqual([]);
  });

  it('events are recorded in the batch of the change they report: an assertion whose device was locked meanwhile records operation.cancelled, never operation.completed', async () => {
    const { tenant, api } = await setupTenant();
    const receiver = Receiver.create();
    await configureWebhook(tenant.id, receiver.url());
    const user = await createUser(api);
    const { authenticator, deviceId } = await registerPasskey(api, user.id);
    const op = await startOperation(api, { type: 'AUTHENTICATION', userId: user.id });
    const { publicKey } = await sdkStart(op);
    const credential = await authenticator.assert(publicKey as never);
    // Locked behind the operation's back (no lifecycle hook runs): only the finish batch's guard can see it.
    await env.DB.prepare("UPDATE devices SET status = 'LOCKED', lock_reason = 'TEST' WHERE id = ?1").bind(deviceId).run();
    expect((await sdkFetch(op, 'finish', { credential })).status).toBe(409);
    const types = (await eventsOf(tenant.id)).filter((e) => (JSON.parse(e.payload) as { data: { operationId?: string } }).data.operationId === op.id).map((e) => e.type);
    expect(types).toEqual(['operation.cancelled']);
    const audit = await env.DB.prepare('SELECT action FROM audit_events WHERE tenant_id = ?1 AND target_id = ?2 ORDER BY seq').bind(tenant.id, op.id).all<{ action: string }>();
    expect(audit.results.map((r) => r.action)).toEqual(['operation.started', 'operation.cancelled']);
  });
});
