// Push channels and the messages sent to them: pure rules, no I/O (docs/push.md).
import { toB64url, utf8 } from './encoding';

export type PushChannelType = 'WEB_PUSH' | 'FCM' | 'APNS';

/** A device's channel as the sender needs it (stored sealed: the Web Push keys and native tokens address one device). */
export type PushChannel =
  | { type: 'WEB_PUSH'; endpoint: string; p256dh: string; auth: string }
  | { type: 'FCM'; token: string }
  | { type: 'APNS'; token: string; environment: 'production' | 'sandbox' };

/** What the devices API shows of a channel: never the keys or the token. */
export interface PushChannelView {
  type: PushChannelType;
  endpointOrigin?: string;
  environment?: 'production' | 'sandbox';
  updatedAt: string;
}

export function channelView(channel: PushChannel, updatedAt: string): PushChannelView {
  if (channel.type === 'WEB_PUSH') return { type: channel.type, endpointOrigin: new URL(channel.endpoint).origin, updatedAt };
  if (channel.type === 'APNS') return { type: channel.type, environment: channel.environment, updatedAt };
  return { type: channel.type, updatedAt };
}

/** Per device, what happened to the notification of one operation (the Operation's `notifications`). */
export type NotificationStatus = 'QUEUED' | 'SENT' | 'RETRYING' | 'FAILED' | 'GONE' | 'WITHDRAWN' | 'NOT_SENT';

export interface NotificationRecord {
  deviceId: string;
  channel: PushChannelType;
  status: NotificationStatus;
  attempts: number;
  at: string;
  /** Why it failed, went or was not sent (a push service's status, UNREACHABLE, CREDENTIALS_MISSING, OPERATION_FINAL). */
  reason?: string;
  /** A SENT notification the service replaced with a closing one when the operation ended. */
  closedAt?: string;
}

/** The operation context the relying party sets (schemas/operations.ts bounds its lengths). */
export interface OperationContext {
  title: string;
  text?: string;
  completedText?: string;
  locale?: string;
}

const DEFAULT_TITLES: Record<string, string> = {
  AUTHENTICATION: 'Confirm it is you',
  AUTHORISATION: 'Approve a payment',
  SIGNATURE: 'Sign a document',
  REGISTRATION: 'Add this device',
};

/** What a pending notification shows: the relying party's context, or a plain default per type. */
export function notificationText(input: { type: string; context?: OperationContext; tenantName: string }): { title: string; body: string } {
  const title = input.context?.title ?? DEFAULT_TITLES[input.type] ?? 'A request is waiting';
  const body = input.context?.text ?? `${input.tenantName} asks you to answer in the app.`;
  // Push services cap a message at 4 KiB; the text is cut well below, on a code point boundary.
  return { title: cut(title, 64), body: cut(body, 240) };
}

function cut(text: string, max: number): string {
  const points = [...text];
  return points.length <= max ? text : `${points.slice(0, max - 1).join('')}…`;
}

/** The decrypted Web Push body of a pending operation (the sdk token rides only in this end-to-end encrypted form). */
export interface PendingPushMessage {
  v: 1;
  type: 'operation.pending';
  operationId: string;
  tenantId: string;
  operationType: string;
  title: string;
  body: string;
  expiresAt: string;
  url: string;
}

/** Sent when the operation is final: the device closes what it shows for it. */
export interface ClosedPushMessage {
  v: 1;
  type: 'operation.closed';
  operationId: string;
  tenantId: string;
  status: string;
}

export type PushMessage = PendingPushMessage | ClosedPushMessage;

/**
 * RFC 8030 §5.4: a Topic is at most 32 characters of the base64url alphabet; a later message with the same topic
 * replaces one the push service still holds. One per operation: the first 32 characters of its id's SHA-256.
 */
export async function topicOf(operationId: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(operationId)));
  return toB64url(digest).slice(0, 32);
}

/** Seconds a pending message may wait at the push service: the operation's remaining lifetime (at least 1). */
export function ttlSecondsUntil(expiresAt: string, now: number): number {
  return Math.max(1, Math.floor((Date.parse(expiresAt) - now) / 1000));
}

/** When to try a failed send again: 2 s, 8 s, 30 s, then every 60 s, while the operation is live. */
export function pushRetryDelayMs(attempts: number): number {
  return [2_000, 8_000, 30_000][attempts - 1] ?? 60_000;
}

/** What a push service's answer means for the channel: delivered, gone for good (forget the channel), or worth a retry. */
export function classifyPushAnswer(status: number): 'SENT' | 'GONE' | 'RETRY' | 'FAILED' {
  if (status >= 200 && status < 300) return 'SENT';
  if (status === 404 || status === 410) return 'GONE';
  if (status === 429 || status >= 500) return 'RETRY';
  return 'FAILED';
}
