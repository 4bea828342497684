// CibaPingDO: one object per ping-mode CIBA request; it waits for the operation to end, then notifies the client (CIBA Core §10.2).
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../env';
import { checkWebhookUrl, nextRetryDelay, parseRetryAfter } from '../domain/webhook-url';
import { attemptTimeoutMs } from './webhook-delivery';
import { readOperation } from '../services/operation-read';

/** What the object needs to notify: kept in its own storage until it has notified or given up, then deleted. */
export interface PingJob {
  tenantId: string;
  operationId: string;
  /** Sent back in the body: the client matches it to its request. */
  authReqId: string;
  endpoint: string;
  /** The client's own bearer token for its endpoint (CIBA Core §10.2); never logged. */
  notificationToken: string;
  /** Epoch ms: after it the auth_req_id cannot be exchanged, so a ping is pointless. */
  giveUpAt: number;
}

interface PingState {
  job: PingJob;
  /** Failed notification attempts so far. */
  failures: number;
}

const STATE_KEY = 'ping';
/** How long one look at the operation waits for it to end (the status long-poll's ceiling is 30 s). */
const WATCH_SECONDS = 25;
const FINAL = new Set(['COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED']);

export function cibaPingStub(env: Pick<Bindings, 'CIBA_PINGS'>, operationId: string): DurableObjectStub<CibaPingDO> {
  return env.CIBA_PINGS.get(env.CIBA_PINGS.idFromName(operationId));
}

export class CibaPingDO extends DurableObject<Bindings> {
  private busy = false;

  /** Takes the job over (stored first, so it survives a restart) and starts watching on the alarm; a repeat is a no-op. */
  async watch(job: PingJob): Promise<void> {
    if (await this.ctx.storage.get(STATE_KEY)) return;
    await this.ctx.storage.put(STATE_KEY, { job, failures: 0 } satisfies PingState);
    await this.ctx.storage.setAlarm(Date.now());
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

  /** One step: wait (long-poll) for the operation to end; once it has, POST the ping; retry failures like webhooks. */
  private async step(): Promise<void> {
    const state = await this.ctx.storage.get<PingState>(STATE_KEY);
    if (!state) return;
    const { job } = state;
    if (Date.now() >= job.giveUpAt) return this.forget();
    // Lease: should the object die mid-wait, the alarm comes back.
    await this.ctx.storage.setAlarm(Date.now() + (WATCH_SECONDS + 35) * 1000);
    const view = await readOperation(this.env, job.tenantId, job.operationId, { waitSeconds: WATCH_SECONDS });
    if (!view) return this.forget();
    if (!FINAL.has(view.status)) {
      await this.ctx.storage.setAlarm(Date.now());
      return;
    }
    const sent = await this.notify(job);
    if (sent.ok) return this.forget();
    const failures = state.failures + 1;
    const next = Date.now() + nextRetryDelay({ attempt: failures, retryAfterMs: sent.retryAfterMs });
    if (next >= job.giveUpAt) {
      console.warn(JSON.stringify({ level: 'warn', message: 'CIBA ping given up', operationId: job.operationId, failures }));
      return this.forget();
    }
    await this.ctx.storage.put(STATE_KEY, { job, failures } satisfies PingState);
    await this.ctx.storage.setAlarm(next);
  }

  private async notify(job: PingJob): Promise<{ ok: boolean; retryAfterMs?: number | undefined }> {
    // OWASP SSRF prevention: the webhook URL rules, checked again at send time.
    const checked = checkWebhookUrl(job.endpoint, { allowLocal: this.env.ALLOW_LOCAL_WEBHOOKS === 'true' });
    if (!checked.ok) return { ok: false };
    try {
      const response = await fetch(checked.url.href, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${job.notificationToken}`, 'user-agent': 'Custos-CIBA/1.0' },
        body: JSON.stringify({ auth_req_id: job.authReqId }),
        // A redirect could lead where the URL check never looked.
        redirect: 'manual',
        signal: AbortSignal.timeout(attemptTimeoutMs(this.env)),
      });
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return { ok: true };
      return { ok: false, retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), Date.now()) };
    } catch {
      return { ok: false };
    }
  }

  private async forget(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }
}
