// Secrets the service must read back (webhook signing secrets, push channels, push credentials): sealed with AES-GCM
// under WEBHOOK_SECRET_KEY when the deployment sets one, else stored as they are; one rule for every kind.
import type { Bindings } from '../env';
import { importSecretBoxKey, isSealed, openSecret, sealSecret } from '../domain/secret-box';

type SealingEnv = Pick<Bindings, 'WEBHOOK_SECRET_KEY'>;

/** The value as it goes into D1. `context` is bound into the seal: it opens only for the same row (tenant, device). */
export async function sealForStorage(env: SealingEnv, value: string, context: string): Promise<string> {
  if (!env.WEBHOOK_SECRET_KEY) return value;
  return sealSecret(await importSecretBoxKey(env.WEBHOOK_SECRET_KEY), value, context);
}

/** The value read back; one stored before the key was configured stays readable. Throws when the seal does not open. */
export async function openFromStorage(env: SealingEnv, stored: string, context: string): Promise<string> {
  if (!isSealed(stored)) return stored;
  if (!env.WEBHOOK_SECRET_KEY) throw new Error('a sealed value needs WEBHOOK_SECRET_KEY');
  return openSecret(await importSecretBoxKey(env.WEBHOOK_SECRET_KEY), stored, context);
}
