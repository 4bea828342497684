// Failure throttles in front of client and operator authentication: which key a request counts under, asking and counting.
import type { Context } from 'hono';
import type { AppEnv, Bindings } from '../env';
import { sourceKeyOf } from '../domain/throttle';
import type { ThrottleRuleName, ThrottleVerdict } from '../domain/throttle';

function stub(env: Bindings, rule: ThrottleRuleName, key: string) {
  return env.AUTH_THROTTLE.get(env.AUTH_THROTTLE.idFromName(`${rule}:${key}`));
}

/** The request's source key: CF-Connecting-IP, which Cloudflare sets and a client cannot; null when absent (local development). */
export function sourceKey(c: Context<AppEnv>): string | null {
  return sourceKeyOf(c.req.header('cf-connecting-ip'));
}

/** Whether `key` is throttled under `rule` now; counts nothing. */
export async function throttleVerdict(env: Bindings, rule: ThrottleRuleName, key: string): Promise<ThrottleVerdict> {
  return stub(env, rule, key).check(rule);
}

/** Counts one failure of `key` under `rule`; `throttled` when the key was already at its limit. */
export async function countFailure(env: Bindings, rule: ThrottleRuleName, key: string): Promise<ThrottleVerdict> {
  return stub(env, rule, key).fail(rule);
}

/** Counts one failure under each (rule, key) pair in parallel and answers the strictest verdict. */
export async function countFailures(env: Bindings, pairs: [ThrottleRuleName, string | null][]): Promise<ThrottleVerdict> {
  const verdicts = await Promise.all(pairs.filter((p): p is [ThrottleRuleName, string] => p[1] !== null).map(([rule, key]) => countFailure(env, rule, key)));
  const throttled = verdicts.filter((v) => v.throttled);
  return throttled.length === 0
    ? { throttled: false, retryAfterSeconds: 0 }
    : { throttled: true, retryAfterSeconds: Math.max(...throttled.map((v) => v.retryAfterSeconds)) };
}
