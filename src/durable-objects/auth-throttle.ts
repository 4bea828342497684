// AuthThrottleDO: one object per throttled key (a client_id or a source address) counts its recent authentication failures.
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../env';
import { liveFailures, THROTTLE_RULES, verdictOf } from '../domain/throttle';
import type { ThrottleRuleName, ThrottleVerdict } from '../domain/throttle';

/*
 * Why a Durable Object and not the Workers Rate Limiting binding or D1: the binding can only count (every
 * call increments, so "is this address blocked?" cannot be asked without spending a try), offers 10 s or
 * 60 s periods only, says nothing about when to retry, and is per colo and eventually consistent. D1 would
 * put an attacker's every wrong guess on the one database every ceremony writes to. One object per key is
 * exact, serialises its own key's calls, keeps an attacker's load on objects nobody else uses, and its
 * alarm deletes it again once the window has passed.
 */

const LOG_KEY = 'failures';

export class AuthThrottleDO extends DurableObject<Bindings> {
  private log: number[] = [];

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    // Loaded once before any call is delivered: each call then reads and updates the log with no await in between,
    // so concurrent failures can never both read the same count (a lazy load let two first calls race: 11 tries for 10).
    void ctx.blockConcurrencyWhile(async () => {
      this.log = (await ctx.storage.get<number[]>(LOG_KEY)) ?? [];
    });
  }

  /** Whether the key is throttled now, without counting anything. */
  async check(rule: ThrottleRuleName): Promise<ThrottleVerdict> {
    return verdictOf(this.log, THROTTLE_RULES[rule], Date.now());
  }

  /** Counts one failure. `throttled` says whether the key was already throttled before it; retryAfterSeconds is for after it. */
  async fail(rule: ThrottleRuleName): Promise<ThrottleVerdict> {
    const now = Date.now();
    const spec = THROTTLE_RULES[rule];
    const before = verdictOf(this.log, spec, now);
    this.log = liveFailures([...this.log, now], spec, now);
    await this.ctx.storage.put(LOG_KEY, this.log);
    await this.ctx.storage.setAlarm(now + spec.windowMs);
    return { throttled: before.throttled, retryAfterSeconds: verdictOf(this.log, spec, now).retryAfterSeconds || 1 };
  }

  /** The window after the last failure has passed: nothing is left to remember, so the object keeps no storage. */
  override async alarm(): Promise<void> {
    this.log = [];
    await this.ctx.storage.deleteAll();
  }
}
