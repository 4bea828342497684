// WebhookDeliveryDO: one Durable Object per event signs and POSTs it, retrying on its alarm until a 2xx, a 410 or 24 h.
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../env';
import { newId } from '../domain/ids';
import { signatureHeader } from '../domain/webhook-signature';
import { checkWebhookUrl, nextRetryDelay, parseRetryAfter, shouldGiveUp } from '../domain/webhook-url';
import { signingSecrets } from '../services/tenant-webhook';
import { commitWithAudit } from '../storage/audit';
import type { DeliveryError, DeliveryRecord } from '../storage/webhooks';
import { disableEndpointStatement, getEndpoint, insertDeliveryStatement, replayServedStatement } from '../storage/webhooks';

/** An event as handed over for delivery: `payload` is the exact body, signed and sent unchanged on every attempt. */
export interface QueuedEvent {
  id: string;
  tenantId: string;
  type: string;
  payload: string;
}

interface DeliveryState {
  event: QueuedEvent;
  /** Attempts made so far; the next one is number attempts + 1. */
  attempts: number;
  firstAttemptAt: number | null;
  done: boolean;
  /** Attempt records kept here first (durable), then written to D1; a failed write is retried. */
  unrecorded: DeliveryRecord[];
  /** A 410 seen but not yet written to D1. */
  disable: { url: string; at: string } | null;
  /** The replay (its request time, the mark on the event row) the next attempt serves; absent in states stored before replays. */
  replayRequestedAt?: string | null;
  /** A replay whose attempt was made: its mark is cleared in D1 with that attempt's record. */
  replayServed?: string | null;
}

interface SendResult {
  outcome: 'SUCCEEDED' | 'FAILED';
  responseStatus: number | null;
  error: DeliveryError | null;
  retryAfterMs?: number | undefined;
  responseTimeMs: number | null;
}

const STATE_KEY = 'delivery';
const DEFAULT_TIMEOUT_MS = 10_000;
const MIN_TIMEOUT_MS = 1_000;
const MAX_TIMEOUT_MS = 30_000;
/** Room beyond the attempt timeout before the lease alarm assumes the attempt died with the object. */
const LEASE_MARGIN_MS = 30_000;
/** When records could not be written to D1 after the last attempt, try again this much later. */
const RECORD_RETRY_MS = 30_000;
const USER_AGENT = 'Custos-Webhooks/1.0';

/** The per-attempt timeout: WEBHOOK_TIMEOUT_MS (1–30 s) or 10 s. */
export function attemptTimeoutMs(env: Pick<Bindings, 'WEBHOOK_TIMEOUT_MS'>): number {
  const configured = Number(env.WEBHOOK_TIMEOUT_MS);
  if (!env.WEBHOOK_TIMEOUT_MS || !Number.isFinite(configured)) return DEFAULT_TIMEOUT_MS;
  return Math.min(Math.max(Math.floor(configured), MIN_TIMEOUT_MS), MAX_TIMEOUT_MS);
}

const iso = (ms: number): string => new Date(ms).toISOString();

export class WebhookDeliveryDO extends DurableObject<Bindings> {
  /** An attempt is running in this instance; a second trigger (alarm and test hook racing) waits for the next alarm. */
  private busy = false;

  /**
   * Takes the event over: stored first, then an alarm for now, so the first attempt runs in the
   * alarm (not in the caller's request) and survives eviction or a restart. A repeat is a no-op.
   */
  async enqueue(event: QueuedEvent): Promise<void> {
    if (await this.load()) return;
    await this.save(initialState(event));
    await this.ctx.storage.setAlarm(Date.now());
  }

  /**
   * Sends the event again (POST /v1/webhooks/deliveries/{id}/replay): stored first, then an alarm for now, as enqueue.
   * A delivery still retrying is brought forward; a finished one starts again after its last attempt number, with a
   * fresh 24 h retry window. A repeat of the same replay (the sweeper after a crash) is a no-op. Should an attempt be
   * running meanwhile, it may write its state over this one; the mark in D1 stays until an attempt serves it, so the
   * sweeper hands the replay over again.
   */
  async replay(event: QueuedEvent, input: { requestedAt: string; lastAttempt: number }): Promise<void> {
    const state = await this.load();
    if (state && (state.replayRequestedAt === input.requestedAt || state.replayServed === input.requestedAt)) return;
    const next: DeliveryState = state
      ? { ...state, done: false, firstAttemptAt: state.done ? null : state.firstAttemptAt, replayRequestedAt: input.requestedAt }
      : { ...initialState(event), attempts: input.lastAttempt, replayRequestedAt: input.requestedAt };
    await this.save(next);
    await this.ctx.storage.setAlarm(Date.now());
  }

  /** Stores the event and makes its first attempt now, returning that attempt; retries continue on the alarm. */
  async sendNow(event: QueuedEvent): Promise<DeliveryRecord> {
    if (this.busy) throw new Error('an attempt is already running');
    const state = (await this.load()) ?? initialState(event);
    await this.save(state);
    this.busy = true;
    try {
      return await this.attempt(state);
    } finally {
      this.busy = false;
    }
  }

  override async alarm(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const state = await this.load();
      if (!state) return;
      if (state.done) {
        await this.settle(state);
        return;
      }
      await this.attempt(state);
    } finally {
      this.busy = false;
    }
  }

  /** One attempt: re-read the endpoint, re-check its URL, sign, POST, record, then finish or schedule the next. */
  private async attempt(state: DeliveryState): Promise<DeliveryRecord> {
    const { event } = state;
    const timeoutMs = attemptTimeoutMs(this.env);
    const started = Date.now();
    // Lease: should this object be evicted or the process restart mid-attempt, the alarm tries again.
    await this.ctx.storage.setAlarm(started + timeoutMs + LEASE_MARGIN_MS);
    const base = {
      id: newId('whd', started), eventId: event.id, tenantId: event.tenantId, eventType: event.type,
      webhookId: event.id, attempt: state.attempts + 1, at: iso(started),
    };

    // Read every attempt, so a rotation, a new URL, a disable or a removal applies to retries too.
    const endpoint = await getEndpoint(this.env.DB, event.tenantId);
    if (!endpoint) return this.stop(state, base, 'ENDPOINT_REMOVED');
    if (endpoint.disabledAt) return this.stop(state, base, 'ENDPOINT_DISABLED');
    // OWASP SSRF prevention: the URL is checked again, as the deployment's rules may have tightened.
    const checked = checkWebhookUrl(endpoint.url, { allowLocal: this.env.ALLOW_LOCAL_WEBHOOKS === 'true' });
    if (!checked.ok) return this.stop(state, base, 'URL_REFUSED');

    let result: SendResult;
    try {
      const secrets = await signingSecrets(this.env, endpoint, started);
      result = await this.send(checked.url, event, secrets, timeoutMs);
    } catch (error) {
      // Only opening the secrets can throw here (a sealed secret without its key): fixable, so retried.
      console.error(JSON.stringify({ level: 'error', message: 'webhook secret unavailable', eventId: event.id, error: error instanceof Error ? error.message : String(error) }));
      result = { outcome: 'FAILED', responseStatus: null, error: 'SECRET_UNAVAILABLE', responseTimeMs: null };
    }

    const finished = Date.now();
    const firstAttemptAt = state.firstAttemptAt ?? started;
    const gone = result.error === 'ENDPOINT_GONE';
    // Standard Webhooks: retry failures with backoff, for at least 24 h; a 410 asks us to stop for good.
    const retry = result.outcome === 'FAILED' && !gone && !shouldGiveUp(firstAttemptAt, finished);
    const nextAttemptAt = retry ? finished + nextRetryDelay({ attempt: base.attempt, retryAfterMs: result.retryAfterMs }) : null;
    const record: DeliveryRecord = {
      ...base, outcome: result.outcome, responseStatus: result.responseStatus, error: result.error,
      nextAttemptAt: nextAttemptAt === null ? null : iso(nextAttemptAt), responseTimeMs: result.responseTimeMs,
    };
    const next: DeliveryState = {
      ...state, attempts: base.attempt, firstAttemptAt, done: !retry, unrecorded: [...state.unrecorded, record],
      disable: gone ? { url: endpoint.url, at: iso(finished) } : state.disable, ...served(state),
    };
    await this.save(next);
    if (nextAttemptAt !== null) await this.ctx.storage.setAlarm(nextAttemptAt);
    await this.settle(next);
    return record;
  }

  /** Ends the delivery without sending, leaving a closing record that says why. */
  private async stop(state: DeliveryState, base: Omit<DeliveryRecord, 'outcome' | 'responseStatus' | 'error' | 'nextAttemptAt' | 'responseTimeMs'>, error: DeliveryError): Promise<DeliveryRecord> {
    const record: DeliveryRecord = { ...base, outcome: 'FAILED', responseStatus: null, error, nextAttemptAt: null, responseTimeMs: null };
    const next: DeliveryState = { ...state, done: true, unrecorded: [...state.unrecorded, record], ...served(state) };
    await this.save(next);
    await this.settle(next);
    return record;
  }

  private async send(url: URL, event: QueuedEvent, secrets: string[], timeoutMs: number): Promise<SendResult> {
    // The timestamp is the attempt's own, so a receiver's 5-minute tolerance holds on a retry a day later.
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = await signatureHeader(secrets, { id: event.id, timestamp, body: event.payload });
    let response: Response;
    const sentAt = Date.now();
    try {
      response = await fetch(url.href, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          'webhook-id': event.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signature,
        },
        body: event.payload,
        // A redirect could lead to an internal address the URL check never saw (OWASP SSRF).
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      return { outcome: 'FAILED', responseStatus: null, error: timedOut ? 'TIMEOUT' : 'CONNECTION_FAILED', responseTimeMs: Date.now() - sentAt };
    }
    // fetch resolves at the response headers: the receiver's time to answer, not to send its body.
    const responseTimeMs = Date.now() - sentAt;
    // The body is never read; cancelling it releases the connection.
    await response.body?.cancel().catch(() => undefined);
    const status = response.status;
    if (status >= 200 && status < 300) return { outcome: 'SUCCEEDED', responseStatus: status, error: null, responseTimeMs };
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), Date.now());
    if (status === 410) return { outcome: 'FAILED', responseStatus: status, error: 'ENDPOINT_GONE', responseTimeMs };
    if (status >= 300 && status < 400) return { outcome: 'FAILED', responseStatus: status, error: 'REDIRECT_NOT_FOLLOWED', retryAfterMs, responseTimeMs };
    return { outcome: 'FAILED', responseStatus: status, error: 'HTTP_ERROR', retryAfterMs, responseTimeMs };
  }

  /**
   * Writes pending records (and a 410's disabling, with its audit entry) to D1 in one batch; once
   * the delivery is done and recorded, the object forgets it. A failed write keeps the records here.
   */
  private async settle(state: DeliveryState): Promise<void> {
    if (state.unrecorded.length > 0 || state.disable || state.replayServed) {
      const db = this.env.DB;
      const inserts = state.unrecorded.map((record) => insertDeliveryStatement(db, record));
      // In the same batch as the replay's attempt record, so the sweeper stops handing it over exactly when it is recorded.
      if (state.replayServed) inserts.push(replayServedStatement(db, { eventId: state.event.id, requestedAt: state.replayServed }));
      try {
        if (state.disable) {
          const { url, at } = state.disable;
          await commitWithAudit(db, state.event.tenantId, [disableEndpointStatement(db, { tenantId: state.event.tenantId, url, reason: 'ENDPOINT_GONE', at }), ...inserts], [
            { actor: 'system', action: 'webhook.disabled', targetType: 'webhook', targetId: state.event.tenantId, data: { reason: 'ENDPOINT_GONE', eventId: state.event.id } },
          ], at);
        } else {
          await db.batch(inserts);
        }
      } catch (error) {
        console.error(JSON.stringify({ level: 'error', message: 'webhook delivery not recorded', eventId: state.event.id, error: error instanceof Error ? error.message : String(error) }));
        // Not done: the next attempt's alarm writes them first. Done: come back just for the records.
        if (state.done) await this.ctx.storage.setAlarm(Date.now() + RECORD_RETRY_MS);
        return;
      }
      state = { ...state, unrecorded: [], disable: null, replayServed: null };
      await this.save(state);
    }
    if (state.done) {
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
    }
  }

  private async load(): Promise<DeliveryState | null> {
    return (await this.ctx.storage.get<DeliveryState>(STATE_KEY)) ?? null;
  }

  private async save(state: DeliveryState): Promise<void> {
    await this.ctx.storage.put(STATE_KEY, state);
  }
}

function initialState(event: QueuedEvent): DeliveryState {
  return { event, attempts: 0, firstAttemptAt: null, done: false, unrecorded: [], disable: null, replayRequestedAt: null, replayServed: null };
}

/** After an attempt (or a stop): a replay it served moves from pending to to-be-cleared-in-D1. */
function served(state: DeliveryState): Pick<DeliveryState, 'replayRequestedAt' | 'replayServed'> {
  return { replayRequestedAt: null, replayServed: state.replayRequestedAt ?? state.replayServed ?? null };
}
