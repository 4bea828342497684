// MaintenanceDO: one object whose alarm runs the outbox sweeper, repairs unfinished lock cascades and purges expired state.
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../env';
import { deliverRecorded, deliveryStub, prepareEvent } from '../services/events';
import { operationStub } from './operation';
import { expireOrphanStatements, pendingReplays, purgeExpired, staleLiveOperations, strandedLiveOperations, undeliveredEvents } from '../storage/maintenance';
import { commitWithAudit } from '../storage/audit';

/** How often the sweep runs while the object is armed (it re-arms itself for ever once poked); OUTBOX_SWEEP_SECONDS overrides. */
export const SWEEP_INTERVAL_MS = 30_000;
/** An event younger than this is still being handed to its delivery object by the request that recorded it. */
export const SWEEP_GRACE_MS = 30_000;

/** The sweep period and grace: 30 s, or OUTBOX_SWEEP_SECONDS (2–300; the crash test runs it at a few seconds). */
function sweepPeriodMs(env: Pick<Bindings, 'OUTBOX_SWEEP_SECONDS'>): number {
  const seconds = Number(env.OUTBOX_SWEEP_SECONDS);
  return Number.isInteger(seconds) && seconds >= 2 && seconds <= 300 ? seconds * 1000 : SWEEP_INTERVAL_MS;
}
/** How far back the sweeper looks: older undelivered events are past the 24 h retry promise anyway. */
export const SWEEP_HORIZON_MS = 24 * 3600_000;
const SWEEP_LIMIT = 200;
/** Retention: at most once an hour, in bounded batches. */
const RETENTION_INTERVAL_MS = 3600_000;
const RETENTION_BATCH = 500;
const RETENTION_ROUNDS = 10;
/** A live history row this long past its expiry has no shard that will expire it (see sweep). */
const ORPHAN_GRACE_MS = 5 * 60_000;
/** Webhook events and their delivery attempts are kept this long (docs/webhooks.md). */
export const DELIVERY_RETENTION_DAYS = 30;
const IDEMPOTENCY_RETENTION_S = 24 * 3600;

export interface SweepReport {
  handedOver: number;
  replays: number;
  cascades: number;
  orphans: number;
  purged: Record<string, number> | null;
}

/**
 * The transactional outbox's second half. Every event is inserted in the D1 batch of the change it reports; the
 * request that committed it hands it to its delivery object at once. If that never happened (the process died,
 * a deploy, the object was unreachable), the sweep finds the event without any delivery attempt and hands it over
 * again: WebhookDeliveryDO.enqueue is idempotent per event id, so at-least-once holds and a duplicate is only
 * possible where a crash makes it unavoidable (the receiver sees the same webhook-id).
 */
export class MaintenanceDO extends DurableObject<Bindings> {
  /** Arms the alarm if none is set: called when a tenant configures webhooks and by the Cron Trigger. */
  async poke(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + 1000);
  }

  override async alarm(): Promise<void> {
    try {
      await this.sweep(Date.now());
    } finally {
      await this.ctx.storage.setAlarm(Date.now() + sweepPeriodMs(this.env));
    }
  }

  /** One round: hand over stranded events, finish stranded lock cascades, and (hourly) purge what expired. */
  async sweep(now: number): Promise<SweepReport> {
    const db = this.env.DB;
    const stranded = await undeliveredEvents(db, {
      since: new Date(now - SWEEP_HORIZON_MS).toISOString(), until: new Date(now - Math.min(SWEEP_GRACE_MS, sweepPeriodMs(this.env))).toISOString(), limit: SWEEP_LIMIT,
    });
    let handedOver = 0;
    for (const event of stranded) {
      try {
        await deliveryStub(this.env, event.id).enqueue(event);
        handedOver++;
      } catch (error) {
        console.error(JSON.stringify({ level: 'error', message: 'outbox: event not handed over, next sweep retries', eventId: event.id, error: String(error) }));
      }
    }
    // A replay marked in D1 whose request died before the hand-over (replay() is a no-op for one already taken).
    let replays = 0;
    for (const pending of await pendingReplays(db, { until: new Date(now - Math.min(SWEEP_GRACE_MS, sweepPeriodMs(this.env))).toISOString(), limit: SWEEP_LIMIT })) {
      try {
        await deliveryStub(this.env, pending.event.id).replay(pending.event, { requestedAt: pending.requestedAt, lastAttempt: pending.lastAttempt });
        replays++;
      } catch (error) {
        console.error(JSON.stringify({ level: 'error', message: 'outbox: replay not handed over, next sweep retries', eventId: pending.event.id, error: String(error) }));
      }
    }
    // A user or device locked while its live operations were being cancelled (a crash mid-cascade): cancel the rest.
    const cascades = await strandedLiveOperations(db, 50);
    for (const op of cascades) {
      try {
        await operationStub(this.env, op.id).cancel({ tenantId: op.tenantId, reason: op.reason, actor: 'system' });
      } catch (error) {
        console.error(JSON.stringify({ level: 'error', message: 'maintenance: cascade cancel failed, next sweep retries', operationId: op.id, error: String(error) }));
      }
    }
    const orphans = await this.settleOrphans(now);
    let purged: Record<string, number> | null = null;
    const lastRetention = (await this.ctx.storage.get<number>('retentionAt')) ?? 0;
    if (now - lastRetention >= RETENTION_INTERVAL_MS) {
      purged = await this.retention(now);
      await this.ctx.storage.put('retentionAt', now);
    }
    if (handedOver > 0 || replays > 0 || cascades.length > 0 || orphans > 0 || (purged && Object.values(purged).some((n) => n > 0))) {
      console.log(JSON.stringify({ level: 'info', message: 'maintenance sweep', handedOver, replays, cascades: cascades.length, orphans, purged }));
    }
    return { handedOver, replays, cascades: cascades.length, orphans, purged };
  }

  /**
   * History rows still live well past their expiry. Their shard normally expires them on its alarm; asking it for the
   * status makes a lagging one do so now. A row no shard knows is an orphan: the process died between the start's D1
   * commit and the shard's begin (the relying party never got its 201). It ends EXPIRED, with its audit entry and its
   * event, so D1 and the audit chain agree with the (absent) operation.
   */
  private async settleOrphans(now: number): Promise<number> {
    const db = this.env.DB;
    let settled = 0;
    for (const row of await staleLiveOperations(db, new Date(now - ORPHAN_GRACE_MS).toISOString(), 50)) {
      try {
        if ((await operationStub(this.env, row.id).status({ tenantId: row.tenantId })) !== null) continue;
        const at = new Date().toISOString();
        const event = prepareEvent(db, row.tenantId, 'operation.expired', {
          operationId: row.id, type: row.type, status: 'EXPIRED', userId: row.userId, ...(row.deviceId ? { deviceId: row.deviceId } : {}), failure: { code: 'EXPIRED' },
        });
        const statements = [...expireOrphanStatements(db, row.id, at), event.statement];
        const results = await commitWithAudit(db, row.tenantId, statements, [
          { actor: 'system', action: 'operation.expired', targetType: 'operation', targetId: row.id, userId: row.userId, data: { type: row.type, reason: 'ORPHANED' } },
        ], at);
        await deliverRecorded(this.env, [{ prepared: event, result: results[statements.length - 1] }]);
        settled++;
      } catch (error) {
        console.error(JSON.stringify({ level: 'error', message: 'maintenance: orphan not settled, next sweep retries', operationId: row.id, error: String(error) }));
      }
    }
    return settled;
  }

  /**
   * Purges what has expired, in bounded batches: idempotency records after 24 h, expired access tokens and device-proof
   * jtis, webhook events and attempts after DELIVERY_RETENTION_DAYS. The audit log is never purged here, so its hash
   * chain stays verifiable end to end. Finished operations' Durable Object state is dropped by their shard 24 h after
   * they end (RETAIN_FINAL_MS); their D1 history rows stay with the user.
   */
  private async retention(now: number): Promise<Record<string, number>> {
    const cutoffs = {
      idempotencyBefore: Math.floor(now / 1000) - IDEMPOTENCY_RETENTION_S,
      expiredBefore: Math.floor(now / 1000),
      deliveriesBefore: new Date(now - DELIVERY_RETENTION_DAYS * 86_400_000).toISOString(),
    };
    const total: Record<string, number> = {};
    for (let round = 0; round < RETENTION_ROUNDS; round++) {
      const removed = await purgeExpired(this.env.DB, cutoffs, RETENTION_BATCH);
      for (const [kind, n] of Object.entries(removed)) total[kind] = (total[kind] ?? 0) + n;
      if (Object.values(removed).every((n) => n < RETENTION_BATCH)) break;
    }
    return total;
  }
}

/** The one maintenance object of this deployment. */
export function maintenanceStub(env: Pick<Bindings, 'MAINTENANCE'>): DurableObjectStub<MaintenanceDO> {
  return env.MAINTENANCE.get(env.MAINTENANCE.idFromName('maintenance'));
}
