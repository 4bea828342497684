// Where the signing and E2E keys come from: configuration, or (local development only) a set the service made once and kept in D1.
import type { Bindings } from '../env';
import { ApiError } from '../errors';
import { generateKeySet, keySetProblem } from '../domain/key-set';
import type { KeySetKind } from '../domain/key-set';
import { localKeysAllowed } from '../domain/public-origin';
import { keepLocalKey, readLocalKey } from '../storage/local-keys';

export type KeyState =
  | { status: 'configured' | 'generated'; source: string }
  | { status: 'missing' | 'invalid'; reason: string };

/** Validation of a configured secret, once per isolate (it is parsed on the hot path otherwise). */
const checked = new Map<string, string | null>();

function problemOf(kind: KeySetKind, source: string): string | null {
  const key = `${kind}\n${source}`;
  if (!checked.has(key)) checked.set(key, keySetProblem(kind, source));
  return checked.get(key) ?? null;
}

const NOT_CONFIGURED = { SIGNING_KEYS: 'SIGNING_KEYS_NOT_CONFIGURED', E2E_KEYS: 'E2E_KEYS_NOT_CONFIGURED', VAPID_KEYS: 'VAPID_KEYS_NOT_CONFIGURED' } as const;

function log(message: string, kind: KeySetKind): void {
  console.warn(JSON.stringify({ level: 'warn', message, keys: kind, table: 'local_keys' }));
}

/**
 * The key set of this kind. Configured (a secret) wins. Without one, and only while PUBLIC_URL is unset or a
 * loopback URL (local development), the set this service generated: read from D1, and made once when `generate`
 * holds (the caller is a local-development request). A deployment with a public PUBLIC_URL never invents keys.
 */
export async function keyState(env: Bindings, kind: KeySetKind, options: { generate: boolean }): Promise<KeyState> {
  const configured = env[kind];
  if (configured !== undefined && configured.trim() !== '') {
    const problem = problemOf(kind, configured);
    return problem ? { status: 'invalid', reason: problem } : { status: 'configured', source: configured };
  }
  if (!localKeysAllowed(env.PUBLIC_URL)) return { status: 'missing', reason: `${kind} is not configured (a deployment must set it as a secret)` };
  // Read each time: only local development gets here, and D1 is the one truth across restarts and isolates.
  let stored = await readLocalKey(env.DB, kind);
  if (!stored && options.generate) {
    stored = await keepLocalKey(env.DB, kind, await generateKeySet(kind, new Date()), new Date().toISOString());
    log(`local development: no ${kind} configured, so this service generated its own and keeps it in D1 (never do this in production: set ${kind} as a secret)`, kind);
  }
  if (!stored) return { status: 'missing', reason: `${kind} is not configured` };
  return { status: 'generated', source: stored };
}

/** The key set, or a 503 problem that names what to configure (a deployment missing a secret is not a client error). */
export async function requireKeySet(env: Bindings, kind: KeySetKind, options: { generate: boolean }): Promise<string> {
  const state = await keyState(env, kind, options);
  if (state.status === 'configured' || state.status === 'generated') return state.source;
  const reason = 'reason' in state ? state.reason : `${kind} is not usable`;
  throw new ApiError(NOT_CONFIGURED[kind], `${reason}. See docs/deployment.md.`);
}
