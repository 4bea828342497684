// Worker bindings, per-request variables and the typed Hono factory every router uses.
import { OpenAPIHono } from '@hono/zod-openapi';
import { problemFromValidation } from './errors';

export interface Bindings {
  DB: D1Database;
  OPERATIONS: DurableObjectNamespace<import('./durable-objects/operation').OperationDO>;
  /** One WebhookDeliveryDO per event: signs, delivers and retries it. */
  WEBHOOKS: DurableObjectNamespace<import('./durable-objects/webhook-delivery').WebhookDeliveryDO>;
  /** One MaintenanceDO: the outbox sweeper, lock-cascade repair and the retention job, on its alarm. */
  MAINTENANCE: DurableObjectNamespace<import('./durable-objects/maintenance').MaintenanceDO>;
  /** One AuthThrottleDO per throttled key: recent failed client or operator authentications. */
  AUTH_THROTTLE: DurableObjectNamespace<import('./durable-objects/auth-throttle').AuthThrottleDO>;
  /** One AccessTokensDO per API client: its live access tokens (hashed) and whether it is revoked. */
  ACCESS_TOKENS: DurableObjectNamespace<import('./durable-objects/access-tokens').AccessTokensDO>;
  /** One CibaPingDO per ping-mode CIBA request: waits for its operation to end, then notifies the client. */
  CIBA_PINGS: DurableObjectNamespace<import('./durable-objects/ciba-ping').CibaPingDO>;
  /** One PushDeliveryDO per pushed operation: sends its notifications, retries them, withdraws them when it ends. */
  PUSHES: DurableObjectNamespace<import('./durable-objects/push-delivery').PushDeliveryDO>;
  ASSETS?: Fetcher;
  ADMIN_TOKEN?: string;
  /** The service's public origin: every URL and identifier it hands out. Required outside local development. */
  PUBLIC_URL?: string;
  /** ES256 private JWKs (JSON array, newest first) that sign result tokens. */
  SIGNING_KEYS?: string;
  /** The tenant E2E key pairs for native devices (JSON array of private JWKs with kid, newest first). */
  E2E_KEYS?: string;
  /** ES256 private JWKs (JSON array, newest first; the first signs): the VAPID key of Web Push (RFC 8292). */
  VAPID_KEYS?: string;
  /** The VAPID `sub` claim (mailto: or https:); default PUBLIC_URL. */
  VAPID_SUBJECT?: string;
  /** FCM HTTP v1 base URL (default https://fcm.googleapis.com) and OAuth token URL (default https://oauth2.googleapis.com/token): tests point them at a local server. */
  FCM_ENDPOINT?: string;
  FCM_TOKEN_URL?: string;
  /** APNs base URL (default https://api.push.apple.com, or api.sandbox.push.apple.com for sandbox tokens). */
  APNS_ENDPOINT?: string;
  /** Also opens loopback http targets for push channels (local development only). */
  ALLOW_LOCAL_WEBHOOKS?: string;
  /** 32 bytes, base64: seals webhook signing secrets in D1 with AES-GCM; without it they are stored as is. */
  WEBHOOK_SECRET_KEY?: string;
  /** Per-attempt webhook timeout in ms (1000–30000, default 10000). */
  WEBHOOK_TIMEOUT_MS?: string;
  DEMO?: string;
  /** Outbox sweep period and grace in seconds (2–300, default 30). */
  OUTBOX_SWEEP_SECONDS?: string;
}

export interface AuthContext {
  tenantId: string;
  clientId: string;
  scopes: ReadonlySet<string>;
  /** The audit actor when it is not the client itself: `admin:<id>` for a console administrator (src/console). */
  actor?: string;
}

/** Who the audit log names for a relying-party call: the client, or the console administrator acting through it. */
export function auditActorOf(auth: AuthContext): string {
  return auth.actor ?? `client:${auth.clientId}`;
}

export interface Variables {
  traceId: string;
  auth: AuthContext;
  /** The audit actor of an operator call: `admin` for the operator token, `admin:<id>` for a console administrator. */
  operatorActor?: string;
  /** The Origin of a cross-origin browser call to /sdk/* (src/middleware/origin.ts), once the CORS middleware saw it. */
  corsOrigin?: string;
  /** The caller of an /sdk/v1 call and its operation id (routes/sdk/operations.ts), settled before the body is validated. */
  sdkCall?: { id: string; caller: import('./domain/operation').Caller };
}

export interface AppEnv {
  Bindings: Bindings;
  Variables: Variables;
}

/** A router with the shared validation hook: every schema failure becomes problem+json. */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        return problemFromValidation(c, result.error);
      }
      return undefined;
    },
  });
}
