// Webhook test harness: a receiver bin (see receiver-server.mjs), endpoint setup through the admin API, and alarm-driven retries.
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { expect } from 'vitest';
import type { Api } from '../helpers/api';
import { adminFetch } from '../helpers/api';

const RECEIVER = 'https://hooks.receiver.example';
const CONTROL = 'https://control.receiver.example';

export interface ScriptedReply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  delayMs?: number;
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: Headers;
  /** The body bytes exactly as they arrived. */
  bytes: Uint8Array;
  /** The same bytes as UTF-8 text. */
  body: string;
  receivedAt: number;
}

interface RawRequest {
  method: string;
  url: string;
  headers: [string, string][];
  bodyBase64: string;
  receivedAt: number;
}

/** One isolated mailbox on the shared receiver: its own URL, script and request log. */
export class Receiver {
  readonly bin: string;

  private constructor(bin: string) {
    this.bin = bin;
  }

  static create(): Receiver {
    return new Receiver(crypto.randomUUID().replaceAll('-', ''));
  }

  url(path = '/hook'): string {
    return `${RECEIVER}/${this.bin}${path}`;
  }

  /** Replies for the next requests, in order; after them every request gets 200. */
  async script(replies: ScriptedReply[]): Promise<void> {
    const res = await fetch(`${CONTROL}/bins/${this.bin}/script`, { method: 'PUT', body: JSON.stringify(replies) });
    expect(res.status).toBe(204);
  }

  async requests(): Promise<ReceivedRequest[]> {
    const res = await fetch(`${CONTROL}/bins/${this.bin}/requests`);
    expect(res.status).toBe(200);
    const raw = await res.json<RawRequest[]>();
    return raw.map((r) => {
      const bytes = Uint8Array.from(atob(r.bodyBase64), (ch) => ch.charCodeAt(0));
      return { method: r.method, url: r.url, headers: new Headers(r.headers), bytes, body: new TextDecoder().decode(bytes), receivedAt: r.receivedAt };
    });
  }

  /** Waits until at least `count` requests arrived (alarms run on their own in workerd). */
  async waitForRequests(count: number): Promise<ReceivedRequest[]> {
    return eventually(async () => {
      const found = await this.requests();
      return found.length >= count ? found : undefined;
    }, `${count} webhook request(s) at ${this.bin}`);
  }
}

/** Polls `probe` until it returns a value; fails after ~15 s. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 150; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Sets the tenant's endpoint through the admin API and returns the secret shown once. */
export async function configureWebhook(tenantId: string, url: string): Promise<string> {
  const res = await adminFetch(`/admin/v1/tenants/${tenantId}/webhook`, { method: 'PUT', json: { url } });
  expect(res.status, await res.clone().text()).toBe(200);
  const body = await res.json<{ url: string; secret: string }>();
  expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
  return body.secret;
}

export interface DeliveryJson {
  id: string;
  eventId: string;
  eventType: string;
  webhookId: string;
  attempt: number;
  at: string;
  outcome: 'SUCCEEDED' | 'FAILED';
  responseStatus?: number;
  error?: string;
  nextAttemptAt?: string;
}

/** The event's delivery attempts from GET /v1/webhooks/deliveries, oldest first. */
export async function deliveriesOf(api: Api, eventId: string): Promise<DeliveryJson[]> {
  const res = await api(`/v1/webhooks/deliveries?eventId=${eventId}&limit=100`);
  expect(res.status, await res.clone().text()).toBe(200);
  const body = await res.json<{ items: DeliveryJson[] }>();
  return body.items.reverse();
}

/** Waits until the event has `count` recorded attempts. */
export async function waitForDeliveries(api: Api, eventId: string, count: number): Promise<DeliveryJson[]> {
  return eventually(async () => {
    const found = await deliveriesOf(api, eventId);
    return found.length >= count ? found : undefined;
  }, `${count} recorded attempt(s) of ${eventId}`);
}

export function deliveryStub(eventId: string): DurableObjectStub {
  return env.WEBHOOKS.get(env.WEBHOOKS.idFromName(eventId));
}

/** Runs the delivery object's pending alarm now instead of waiting out the backoff; true when one was pending. */
export async function runRetryNow(eventId: string): Promise<boolean> {
  return runDurableObjectAlarm(deliveryStub(eventId));
}

/** The alarm time the delivery object has scheduled, or null when none. */
export async function scheduledAlarm(eventId: string): Promise<number | null> {
  return runInDurableObject(deliveryStub(eventId), (_instance, state) => state.storage.getAlarm());
}

/** The events recorded for a tenant, oldest first, with their exact payloads. */
export async function eventsOf(tenantId: string): Promise<{ id: string; type: string; payload: string }[]> {
  const rows = await env.DB.prepare('SELECT id, type, payload FROM events WHERE tenant_id = ?1 ORDER BY id').bind(tenantId).all<{ id: string; type: string; payload: string }>();
  return rows.results;
}
