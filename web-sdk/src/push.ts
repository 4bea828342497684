// Push channels: the Web Push subscription (or native token) a bound device gives the service, so it is asked instead of polled.
import { base64UrlToBytes } from './base64.js';
import { CustosError } from './errors.js';
import type { PushChannel, WebPushChannel } from './types.js';

/** What `setPushChannel` takes: a browser PushSubscription, its `toJSON()`, or a channel already tagged with its type. */
export type PushChannelInput = PushSubscription | PushSubscriptionJSON | PushChannel;

/** An uncompressed P-256 point (0x04 ‖ x ‖ y): a VAPID public key (RFC 8292) or a subscription's p256dh (RFC 8291). */
function p256Point(text: unknown): Uint8Array<ArrayBuffer> | undefined {
  const bytes = typeof text === 'string' ? base64UrlToBytes(text.replace(/=+$/, '')) : undefined;
  return bytes !== undefined && bytes.length === 65 && bytes[0] === 0x04 ? bytes : undefined;
}

/** The applicationServerKey for pushManager.subscribe from the config's `webPush.vapidPublicKey` (base64url). */
export function vapidKeyBytes(vapidPublicKey: string): Uint8Array<ArrayBuffer> {
  const bytes = p256Point(vapidPublicKey);
  if (bytes === undefined) throw new TypeError('vapidPublicKey must be the base64url of a 65-byte uncompressed P-256 point');
  return bytes;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function webPushChannel(json: Record<string, unknown>): WebPushChannel {
  const endpoint = json['endpoint'];
  const keys = json['keys'];
  let url: URL | undefined;
  try {
    url = typeof endpoint === 'string' ? new URL(endpoint) : undefined;
  } catch {
    url = undefined;
  }
  // Only the server knows whether a loopback http endpoint is allowed (local development); anything else is refused here.
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw new TypeError('A Web Push subscription needs an https endpoint');
  if (!isRecord(keys) || p256Point(keys['p256dh']) === undefined) throw new TypeError('keys.p256dh must be the base64url of a 65-byte P-256 point');
  const auth = typeof keys['auth'] === 'string' ? base64UrlToBytes(keys['auth'].replace(/=+$/, '')) : undefined;
  if (auth === undefined || auth.length !== 16) throw new TypeError('keys.auth must be the base64url of 16 bytes');
  // expirationTime is left out: the server ignores it, and the push service tells it when a subscription is gone.
  return { type: 'WEB_PUSH', endpoint: endpoint as string, keys: { p256dh: keys['p256dh'] as string, auth: keys['auth'] as string } };
}

/** Checks and normalises what `setPushChannel` was given into the request body; throws TypeError before any request. */
export function toPushChannel(input: PushChannelInput): PushChannel {
  if (!isRecord(input)) throw new TypeError('setPushChannel needs a PushSubscription or a push channel');
  // A live PushSubscription: its toJSON() is the wire form (endpoint + base64url keys).
  const live = input as { toJSON?: () => unknown };
  const json = typeof live.toJSON === 'function' ? (live.toJSON() as Record<string, unknown>) : (input as Record<string, unknown>);
  if (!isRecord(json)) throw new TypeError('The PushSubscription has no JSON form');
  const type = json['type'] ?? 'WEB_PUSH';
  switch (type) {
    case 'WEB_PUSH':
      return webPushChannel(json);
    case 'FCM': {
      const token = json['token'];
      if (typeof token !== 'string' || token === '') throw new TypeError('An FCM channel needs its registration token');
      return { type: 'FCM', token };
    }
    case 'APNS': {
      const { token, environment } = json;
      if (typeof token !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(token)) throw new TypeError('An APNs channel needs the hex device token');
      if (environment !== 'production' && environment !== 'sandbox') throw new TypeError('An APNs channel needs environment "production" or "sandbox"');
      return { type: 'APNS', token, environment };
    }
    default:
      throw new TypeError(`Unknown push channel type ${String(type)}`);
  }
}

function pushError(error: unknown): CustosError {
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'NotAllowedError') return new CustosError('PUSH_DENIED', message || 'Notifications are not allowed for this app', { cause: error });
  if (name === 'NotSupportedError') return new CustosError('NOT_SUPPORTED', message || 'This browser cannot receive push messages', { cause: error });
  return new CustosError('PUSH_FAILED', message || 'The browser could not subscribe to push messages', { cause: error });
}

/**
 * Subscribes the service worker `registration` to Web Push with the service's VAPID key (`webPush.vapidPublicKey` of
 * `/sdk/v1/config`) and returns the channel for `setPushChannel`. Call it after Notification permission was granted
 * (from a user's tap). A subscription the browser holds for another key (a rotated VAPID key) is replaced.
 */
export async function subscribeWebPush(registration: ServiceWorkerRegistration, vapidPublicKey: string): Promise<WebPushChannel> {
  const applicationServerKey = vapidKeyBytes(vapidPublicKey);
  const pushManager = (registration as Partial<ServiceWorkerRegistration>).pushManager;
  if (pushManager === undefined) throw new CustosError('NOT_SUPPORTED', 'This browser cannot receive push messages');
  const options: PushSubscriptionOptionsInit = { userVisibleOnly: true, applicationServerKey };
  let subscription: PushSubscription;
  try {
    subscription = await pushManager.subscribe(options);
  } catch (error) {
    if (!(error instanceof Error && error.name === 'InvalidStateError')) throw pushError(error);
    // Subscribed earlier under another applicationServerKey: drop that subscription and make one for this key.
    try {
      await (await pushManager.getSubscription())?.unsubscribe();
      subscription = await pushManager.subscribe(options);
    } catch (retryError) {
      throw pushError(retryError);
    }
  }
  return webPushChannel(subscription.toJSON() as Record<string, unknown>);
}
