// PushDeliveryDO: one object per pushed operation. It sends the operation's notifications off the start's path, retries
// them while the operation is live, withdraws them when it ends, and reports each device's outcome to the operation.
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../env';
import { pushRetryDelayMs, topicOf, ttlSecondsUntil } from '../domain/push';
import type { NotificationRecord, PushChannelType, PushMessage, PendingPushMessage } from '../domain/push';
import { removePushChannel } from '../storage/push';
import { openChannel } from '../services/push-channels';
import { sendPush } from '../services/push-send';
import type { SendOutcome } from '../services/push-send';
import { operationStub } from './operation';

/** One device to reach: its channel as stored (sealed), opened only when sending. */
export interface PushTarget {
  deviceId: string;
  channel: PushChannelType;
  sealed: string;
}

/** What the start hands over. Nothing secret but the sealed channels: the message carries ids and display text only. */
export interface PushJob {
  tenantId: string;
  operationId: string;
  expiresAt: string;
  message: PendingPushMessage;
  targets: PushTarget[];
}

interface TargetState extends NotificationRecord {
  /** Epoch ms of the next attempt while QUEUED or RETRYING. */
  nextAt?: number;
  /** The closing message went out (or there was nothing to close). */
  closed?: boolean;
  /** Attempts at the closing message so far. */
  closeTries?: number;
}

interface PushState {
  job?: PushJob;
  targets: TargetState[];
  /** The operation's final status, once withdraw() was called. */
  finalStatus?: string;
  /** Withdrawn before any job came: when the object forgets that (a late enqueue within it sends nothing). */
  forgetAt?: number;
  /** The operation has been told the records at least once (it starts with them all QUEUED). */
  reported?: boolean;
}

const STATE_KEY = 'push';
/** After the operation's expiry (or its end), the object keeps its record this long, then deletes itself. */
const KEEP_MS = 10 * 60 * 1000;
/** How long a step may take before its alarm fires again (a process that died mid-send). */
const LEASE_MS = 60_000;
/** Attempts at the closing message per device. */
const CLOSE_ATTEMPTS = 3;

export function pushStub(env: Pick<Bindings, 'PUSHES'>, operationId: string): DurableObjectStub<PushDeliveryDO> {
  return env.PUSHES.get(env.PUSHES.idFromName(operationId));
}

/** The initial records the operation shows before the first attempt. */
export function queuedRecords(targets: readonly PushTarget[], at: string): NotificationRecord[] {
  return targets.map((t) => ({ deviceId: t.deviceId, channel: t.channel, status: 'QUEUED', attempts: 0, at }));
}

export class PushDeliveryDO extends DurableObject<Bindings> {
  private busy = false;

  /** Takes the job over (stored before it answers, so it survives a restart) and sends on the alarm; a repeat is a no-op. */
  async enqueue(job: PushJob): Promise<void> {
    const state = (await this.ctx.storage.get<PushState>(STATE_KEY)) ?? { targets: [] };
    if (state.job) return;
    const at = new Date().toISOString();
    // withdraw() may have come first (the operation ended before the hand-over): then nothing is ever shown.
    const targets: TargetState[] = job.targets.map((t) =>
      state.finalStatus
        ? { deviceId: t.deviceId, channel: t.channel, status: 'NOT_SENT', attempts: 0, at, reason: 'OPERATION_FINAL', closed: true }
        : { deviceId: t.deviceId, channel: t.channel, status: 'QUEUED', attempts: 0, at, nextAt: Date.now() },
    );
    await this.save({ ...state, job, targets }, Date.now());
  }

  /** The operation ended: pending sends are dropped, shown notifications are closed (same Topic / collapse key). */
  async withdraw(finalStatus: string): Promise<void> {
    const state = (await this.ctx.storage.get<PushState>(STATE_KEY)) ?? { targets: [] };
    if (state.finalStatus) return;
    await this.save({ ...state, targets: withdrawn(state.targets), finalStatus }, Date.now());
  }

  /** What happened so far, per device (tests and the operation read it). */
  async records(): Promise<NotificationRecord[]> {
    const state = await this.ctx.storage.get<PushState>(STATE_KEY);
    return (state?.targets ?? []).map(recordOf);
  }

  override async alarm(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.step();
    } finally {
      this.busy = false;
    }
  }

  private async step(): Promise<void> {
    const state = await this.ctx.storage.get<PushState>(STATE_KEY);
    const job = state?.job;
    if (!state) return;
    if (!job) {
      // withdraw() without a job: keep the final status a while (a late enqueue must see it), then forget.
      if (state.forgetAt !== undefined && Date.now() >= state.forgetAt) return this.forget();
      const forgetAt = state.forgetAt ?? Date.now() + KEEP_MS;
      await this.save({ ...state, forgetAt }, forgetAt);
      return;
    }
    const expiresAt = Date.parse(job.expiresAt);
    if (Date.now() > expiresAt + KEEP_MS) return this.forget();
    // Lease: should the process die mid-send, the alarm comes back and the step runs again (a target already SENT
    // was saved as such only after its send, so at worst one message goes twice; the Topic makes the second replace it).
    await this.ctx.storage.setAlarm(Date.now() + LEASE_MS);
    const topic = await topicOf(job.operationId);
    const changed: TargetState[] = [];
    for (const [i, target] of state.targets.entries()) {
      const next = await this.attempt(job, target, topic, state.finalStatus);
      if (next !== target) {
        state.targets[i] = next;
        changed.push(next);
      }
    }
    const tell = changed.length > 0 || !state.reported;
    state.reported = true;
    // withdraw() may have run while this step waited on a push service: its final status is not lost by this save.
    const latest = await this.ctx.storage.get<PushState>(STATE_KEY);
    const endedMeanwhile = latest?.finalStatus !== undefined && state.finalStatus === undefined;
    if (endedMeanwhile) {
      state.finalStatus = latest.finalStatus;
      state.targets = withdrawn(state.targets);
    }
    // The next timer: now (closing what was sent), the earliest retry, or the clean-up after expiry; one write with the state.
    const retries = state.targets.map((t) => t.nextAt).filter((t): t is number => t !== undefined);
    const next = endedMeanwhile ? Date.now() : retries.length > 0 ? Math.min(...retries) : Math.max(Date.now(), expiresAt) + KEEP_MS;
    await this.save(state, next);
    if (tell) await this.report(job, state.targets);
  }

  /** The state and the next alarm, issued with no await between them: Durable Object storage commits them together. */
  private async save(state: PushState, alarmAt: number): Promise<void> {
    await Promise.all([this.ctx.storage.put(STATE_KEY, state), this.ctx.storage.setAlarm(alarmAt)]);
  }

  /** One target's step: send the pending message, or (the operation ended) the closing one; returns the new state. */
  private async attempt(job: PushJob, target: TargetState, topic: string, finalStatus: string | undefined): Promise<TargetState> {
    const now = Date.now();
    const sealed = job.targets.find((t) => t.deviceId === target.deviceId)?.sealed;
    if (!sealed) return target;
    if (finalStatus) {
      // Close only what may be showing; one closing message per device, a couple of tries.
      if (target.status !== 'SENT' || target.closed) return target;
      if (target.nextAt !== undefined && target.nextAt > now) return target;
      const closing: PushMessage = { v: 1, type: 'operation.closed', operationId: job.operationId, tenantId: job.tenantId, status: finalStatus };
      const sent = await this.send(job, target, sealed, closing, topic, 60);
      const tries = (target.closeTries ?? 0) + 1;
      return sent.outcome === 'RETRY' && tries < CLOSE_ATTEMPTS ? { ...target, closeTries: tries, nextAt: now + pushRetryDelayMs(tries) } : { ...target, closeTries: tries, closed: true, closedAt: new Date(now).toISOString(), nextAt: undefined };
    }
    if (target.status !== 'QUEUED' && target.status !== 'RETRYING') return target;
    if (target.nextAt !== undefined && target.nextAt > now) return target;
    const at = new Date(now).toISOString();
    if (now >= Date.parse(job.expiresAt)) return { ...target, status: 'NOT_SENT', reason: 'OPERATION_EXPIRED', at, nextAt: undefined };
    const sent = await this.send(job, target, sealed, job.message, topic, ttlSecondsUntil(job.expiresAt, now));
    const attempts = target.attempts + 1;
    if (sent.outcome === 'SENT') return { ...target, status: 'SENT', attempts, at, reason: undefined, nextAt: undefined };
    if (sent.outcome === 'RETRY') {
      const nextAt = now + pushRetryDelayMs(attempts);
      if (nextAt < Date.parse(job.expiresAt)) return { ...target, status: 'RETRYING', attempts, at, reason: sent.reason, nextAt };
      return { ...target, status: 'FAILED', attempts, at, reason: sent.reason, nextAt: undefined };
    }
    if (sent.outcome === 'GONE') {
      // The push service says the channel is dead: forget it (only that one: the device may have registered a new one).
      await removePushChannel(this.env.DB, { deviceId: target.deviceId, reason: `PUSH_SERVICE_${sent.reason ?? 'GONE'}`, at, onlyIf: sealed });
      return { ...target, status: 'GONE', attempts, at, reason: sent.reason, nextAt: undefined };
    }
    return { ...target, status: 'FAILED', attempts, at, reason: sent.reason, nextAt: undefined };
  }

  private async send(job: PushJob, target: TargetState, sealed: string, message: PushMessage, topic: string, ttlSeconds: number): Promise<SendOutcome> {
    let channel;
    try {
      channel = await openChannel(this.env, target.deviceId, sealed);
    } catch {
      return { outcome: 'FAILED', reason: 'CHANNEL_UNREADABLE' };
    }
    return sendPush(this.env, channel, {
      tenantId: job.tenantId, message, ttlSeconds, collapseKey: topic, expiresAtEpoch: Math.floor(Date.parse(job.expiresAt) / 1000),
    });
  }

  /** The operation shows the records (best effort: should it fail, the next change reports them all again). */
  private async report(job: PushJob, targets: TargetState[]): Promise<void> {
    try {
      await operationStub(this.env, job.operationId).notified({ notifications: targets.map(recordOf) });
    } catch (error) {
      console.warn(JSON.stringify({ level: 'warn', message: 'push outcome not reported to the operation', operationId: job.operationId, error: error instanceof Error ? error.message : String(error) }));
    }
  }

  private async forget(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }
}

/** The operation ended: what was still to be sent never will be (it counts as closed: nothing to replace). */
function withdrawn(targets: TargetState[]): TargetState[] {
  const at = new Date().toISOString();
  return targets.map((t) => (t.status === 'QUEUED' || t.status === 'RETRYING' ? { ...t, status: 'WITHDRAWN', at, reason: 'OPERATION_FINAL', nextAt: undefined, closed: true } : t));
}

function recordOf(t: TargetState): NotificationRecord {
  return {
    deviceId: t.deviceId, channel: t.channel, status: t.status, attempts: t.attempts, at: t.at,
    ...(t.reason ? { reason: t.reason } : {}), ...(t.closedAt ? { closedAt: t.closedAt } : {}),
  };
}
