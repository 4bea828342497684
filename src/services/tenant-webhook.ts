// The tenant's webhook endpoint: its view on the tenant resource, and its secrets sealed for storage and opened for signing.
import type { Bindings } from '../env';
import { openFromStorage, sealForStorage } from './stored-secrets';
import type { EndpointRecord } from '../storage/webhooks';
import { getEndpoint } from '../storage/webhooks';

export interface WebhookView {
  url: string;
  disabled?: boolean;
}

/** How long the secret replaced by a rotation (or a new PUT) keeps signing (API.md §3). */
export const PREVIOUS_SECRET_TTL_MS = 24 * 60 * 60 * 1000;

export async function getWebhookView(db: D1Database, tenantId: string): Promise<WebhookView | null> {
  const endpoint = await getEndpoint(db, tenantId);
  if (!endpoint) return null;
  return { url: endpoint.url, ...(endpoint.disabledAt ? { disabled: true } : {}) };
}

// Additional data bound into each sealed secret: it opens only on its own tenant's row.
const sealContext = (tenantId: string): string => `custos webhook secret ${tenantId}`;

/**
 * The secret as it goes into D1: sealed with AES-GCM under WEBHOOK_SECRET_KEY when the deployment
 * sets one, else as is (signing needs the secret itself, so a hash will not do).
 */
export function secretForStorage(env: Pick<Bindings, 'WEBHOOK_SECRET_KEY'>, tenantId: string, secret: string): Promise<string> {
  return sealForStorage(env, secret, sealContext(tenantId));
}

function secretFromStorage(env: Pick<Bindings, 'WEBHOOK_SECRET_KEY'>, tenantId: string, stored: string): Promise<string> {
  return openFromStorage(env, stored, sealContext(tenantId));
}

/**
 * The secrets that sign an attempt at `now`: the current one, then the previous one while its
 * rotation window lasts. Throws when a sealed secret cannot be opened (key missing or changed).
 */
export async function signingSecrets(env: Pick<Bindings, 'WEBHOOK_SECRET_KEY'>, endpoint: EndpointRecord, now: number): Promise<string[]> {
  const secrets = [await secretFromStorage(env, endpoint.tenantId, endpoint.storedSecret)];
  const previousLive = endpoint.storedPreviousSecret !== null && endpoint.previousSecretExpiresAt !== null && Date.parse(endpoint.previousSecretExpiresAt) > now;
  if (previousLive) secrets.push(await secretFromStorage(env, endpoint.tenantId, endpoint.storedPreviousSecret!));
  return secrets;
}
