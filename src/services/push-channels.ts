// A device's push channel: registered by the device (SDK, device proof), stored sealed, opened only by the sender.
import type { Bindings } from '../env';
import { ApiError } from '../errors';
import { fromB64url, toB64url } from '../domain/encoding';
import { channelView } from '../domain/push';
import type { PushChannel, PushChannelView } from '../domain/push';
import { openFromStorage, sealForStorage } from './stored-secrets';
import { checkWebhookUrl } from '../domain/webhook-url';
import { removePushChannel, setPushChannel } from '../storage/push';
import { keyState } from './keys';

// Bound into each sealed channel: it opens only on its own device's row.
const sealContext = (deviceId: string): string => `custos push channel ${deviceId}`;

/** The channel as it goes into D1: sealed under WEBHOOK_SECRET_KEY when the deployment sets one (like webhook secrets). */
export function sealChannel(env: Pick<Bindings, 'WEBHOOK_SECRET_KEY'>, deviceId: string, channel: PushChannel): Promise<string> {
  return sealForStorage(env, JSON.stringify(channel), sealContext(deviceId));
}

/** Opens a stored channel; throws when it was sealed under another key or for another device. */
export async function openChannel(env: Pick<Bindings, 'WEBHOOK_SECRET_KEY'>, deviceId: string, stored: string): Promise<PushChannel> {
  return JSON.parse(await openFromStorage(env, stored, sealContext(deviceId))) as PushChannel;
}

/** The Web Push key pair's public half as pushManager.subscribe takes it (65-byte uncompressed point, base64url), or null. */
export async function vapidPublicKey(env: Bindings, options: { generate: boolean }): Promise<string | null> {
  const state = await keyState(env, 'VAPID_KEYS', { generate: options.generate });
  return state.status === 'configured' || state.status === 'generated' ? vapidPublicKeyOf(state.source) : null;
}

/** The public key of a VAPID key set's first (signing) key, as pushManager.subscribe takes it. */
export function vapidPublicKeyOf(source: string): string | null {
  const [key] = JSON.parse(source) as JsonWebKey[];
  if (!key?.x || !key.y) return null;
  const point = new Uint8Array(65);
  point[0] = 0x04;
  point.set(fromB64url(key.x), 1);
  point.set(fromB64url(key.y), 33);
  return toB64url(point);
}

export type PushChannelInput =
  | { type: 'WEB_PUSH'; endpoint: string; keys: { p256dh: string; auth: string } }
  | { type: 'FCM'; token: string }
  | { type: 'APNS'; token: string; environment: 'production' | 'sandbox' };

/** Checks what the device sent and turns it into the stored channel; throws VALIDATION_FAILED naming the field. */
export function channelOf(env: Pick<Bindings, 'ALLOW_LOCAL_WEBHOOKS'>, input: PushChannelInput): PushChannel {
  if (input.type === 'FCM') return { type: 'FCM', token: input.token };
  if (input.type === 'APNS') return { type: 'APNS', token: input.token.toLowerCase(), environment: input.environment };
  // The endpoint is where the service will POST: the webhook SSRF rules apply (https to a public host; loopback http
  // only where ALLOW_LOCAL_WEBHOOKS=true, as under `npm run dev`).
  const checked = checkWebhookUrl(input.endpoint, { allowLocal: env.ALLOW_LOCAL_WEBHOOKS === 'true' });
  if (!checked.ok) throw invalid('endpoint', checked.reason);
  const p256dh = bytesOf(input.keys.p256dh);
  if (p256dh?.length !== 65 || p256dh[0] !== 0x04) throw invalid('keys.p256dh', 'must be a base64url uncompressed P-256 point (65 bytes)');
  const auth = bytesOf(input.keys.auth);
  if (auth?.length !== 16) throw invalid('keys.auth', 'must be 16 bytes, base64url');
  return { type: 'WEB_PUSH', endpoint: checked.url.href, p256dh: toB64url(p256dh), auth: toB64url(auth) };
}

function bytesOf(text: string): Uint8Array | null {
  try {
    return fromB64url(text.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'));
  } catch {
    return null;
  }
}

function invalid(name: string, reason: string): ApiError {
  return new ApiError('VALIDATION_FAILED', `The push channel is not usable: ${name} ${reason}.`, { invalidParams: [{ name, reason }] });
}

/** Registers (or replaces) the device's channel; a WEB_PUSH channel needs the service's VAPID key to be of any use. */
export async function registerChannel(env: Bindings, input: { deviceId: string; channel: PushChannel; localDevelopment: boolean }): Promise<PushChannelView> {
  if (input.channel.type === 'WEB_PUSH' && !(await vapidPublicKey(env, { generate: input.localDevelopment }))) {
    throw new ApiError('VAPID_KEYS_NOT_CONFIGURED', 'VAPID_KEYS is not configured, so no Web Push can be sent. See docs/deployment.md.');
  }
  const at = new Date().toISOString();
  const view = channelView(input.channel, at);
  const stored = await setPushChannel(env.DB, { deviceId: input.deviceId, sealed: await sealChannel(env, input.deviceId, input.channel), view, at });
  if (!stored) throw new ApiError('DEVICE_NOT_ACTIVE', 'The device is not active.');
  return view;
}

export async function unregisterChannel(env: Bindings, deviceId: string): Promise<void> {
  await removePushChannel(env.DB, { deviceId, reason: 'REMOVED_BY_DEVICE', at: new Date().toISOString() });
}
