// Wire shapes of the device/SDK API (API.md §2) and the SDK's public result types.

/** Lifecycle of an operation (API.md §1); the last five never change once reached. */
export type OperationStatus = 'PENDING' | 'IN_PROGRESS' | 'COMPLETED' | 'REJECTED' | 'FAILED' | 'CANCELLED' | 'EXPIRED';

export type OperationType = 'REGISTRATION' | 'AUTHENTICATION' | 'AUTHORISATION' | 'SIGNATURE';

/**
 * The per-operation credential the relying party received from `POST /v1/operations`:
 * either flattened (`{ id, token }`) or the Operation itself with its `sdk` part.
 */
export type OperationRef =
  | { id: string; token: string; device?: InlineStart }
  | { id: string; sdk: { token: string }; device?: InlineStart }
  | DeviceOperationRef;

/**
 * What the relying party's start answered as `device` for a `sameDevice: true` operation (the two-call ceremony): the
 * operation's details and the WebAuthn options. Pass it along with the id and token; the SDK then skips its own start.
 */
export interface InlineStart {
  operation: Record<string, unknown>;
  publicKey: Record<string, unknown>;
}

/** The signed result a sameDevice operation's finish answers: send `token` to your server, which verifies it offline. */
export interface OperationResult {
  deviceId: string;
  userVerified: true;
  authMethod: string;
  token: string;
}

/**
 * An operation addressed by id only: the client's `device` authenticates each call with a device
 * proof (API.md §2). Only for operations of the device's user that are not REGISTRATIONs.
 */
export interface DeviceOperationRef {
  id: string;
}

/**
 * Which relying party a new passkey belongs to: `tenant` (the relying party's own rpId, for its
 * own pages) or `service` (the Custos service's origin, for the white-label authenticator app).
 */
export type RpScope = 'tenant' | 'service';

/**
 * What the relying party says about the operation (its `context`): shown in the notification, before the user decides
 * (`title`, `text`) and after a completion (`completedText`). Untrusted text: render it as text, never as HTML.
 */
export interface OperationContext {
  /** ≤ 64 characters. */
  title?: string;
  /** ≤ 1024 characters. */
  text?: string;
  /** ≤ 256 characters: what to show once the operation completed. */
  completedText?: string;
  /** BCP 47 language tag of the texts. */
  locale?: string;
}

export interface Payee {
  name: string;
  account?: string;
}

/** `amount` is a decimal string ("12.50") so that no float ever touches money. */
export interface Transaction {
  amount: string;
  currency: string;
  payee: Payee;
  reference?: string;
}

export interface Money {
  amount: string;
  currency: string;
}

/** The document to sign as the SDK start returns it: the echoed, bound fields plus the content. */
export interface SignedDocument {
  title?: string;
  mimeType: string;
  /** Lowercase hex SHA-256 of the content's UTF-8 bytes. */
  sha256: string;
  content: string;
}

/** The operation as `POST /sdk/v1/operations/{id}/start` describes it. */
export interface OperationDetails {
  id: string;
  type: OperationType;
  context?: OperationContext;
  transaction?: Transaction;
  transactions?: Transaction[];
  total?: Money;
  document?: SignedDocument;
  numberMatchChoices?: string[];
}

/** What the user is asked to agree to: exactly what the challenge binds, plus the context. */
export type ConfirmationDetails = Omit<OperationDetails, 'numberMatchChoices'>;

export interface ProblemDetails {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  traceId?: string;
  invalidParams?: Array<{ name: string; reason: string }>;
  /** Set with OPERATION_FINAL: the state the operation ended in. */
  operationStatus?: OperationStatus;
  [extension: string]: unknown;
}

export interface CeremonyResult {
  status: OperationStatus;
  operation: OperationDetails;
  /** sameDevice operations: the signed result (verify `token` on your server, e.g. with @custos/node verifyResultToken). */
  result?: OperationResult;
}

export interface RegisterResult extends CeremonyResult {
  /** The key pair bound to the device, when one was; store it (e.g. in IndexedDB) to prove this device later. */
  deviceKeyPair?: CryptoKeyPair;
  /** The new device's id (`dev_…`) when the registration completed: the `kid` of its device proofs. */
  deviceId?: string;
}

export type ApproveResult = CeremonyResult;

export interface RejectResult {
  status: 'REJECTED';
}

/** The echoed document of an Operation: its digest, without the content (the start returns that). */
export interface DocumentDigest {
  title?: string;
  mimeType: string;
  sha256: string;
}

/** An operation waiting for this device, as `GET /sdk/v1/devices/me/operations` lists it. */
export interface PendingOperation {
  id: string;
  type: OperationType;
  status: OperationStatus;
  createdAt: string;
  expiresAt: string;
  deviceId?: string;
  context?: OperationContext;
  transaction?: Transaction;
  transactions?: Transaction[];
  total?: Money;
  document?: DocumentDigest;
}

// ── push channels (PUT/DELETE /sdk/v1/device/push-channel) ─────────────────────────────────────

/** A Web Push subscription as `PushSubscription.toJSON()` gives it, tagged for the server. */
export interface WebPushChannel {
  type: 'WEB_PUSH';
  /** The push service's URL for this subscription (https; http on loopback only in local development). */
  endpoint: string;
  /** base64url: the subscription's P-256 public key (`p256dh`) and its 16-byte auth secret (`auth`), RFC 8291. */
  keys: { p256dh: string; auth: string };
  /** As the browser reports it; the server ignores it. */
  expirationTime?: number | null;
}

/** A Firebase Cloud Messaging registration token (Android). */
export interface FcmChannel {
  type: 'FCM';
  token: string;
}

/** An APNs device token (iOS), hex, and the APNs environment it was issued for. */
export interface ApnsChannel {
  type: 'APNS';
  token: string;
  environment: 'production' | 'sandbox';
}

/** Where the service sends this device's push notifications. */
export type PushChannel = WebPushChannel | FcmChannel | ApnsChannel;

/** What `setPushChannel` answers: the channel as the server stored it, without its secret parts. */
export interface PushChannelResult {
  deviceId: string;
  pushChannel: {
    type: PushChannel['type'];
    /** WEB_PUSH only: the origin of the push service's endpoint. */
    endpointOrigin?: string;
    updatedAt: string;
  };
}

/** The decrypted body of a Web Push the service sends when an operation for this device starts. */
export interface OperationPendingPush {
  v: 1;
  type: 'operation.pending';
  operationId: string;
  tenantId: string;
  operationType: OperationType;
  title: string;
  body: string;
  expiresAt: string;
  /** The authenticator app's link to the operation, with its sdk token (the one the relying party's QR code carries). */
  url: string;
}

/** The decrypted body of the Web Push that follows when the operation ends: withdraw its notification. */
export interface OperationClosedPush {
  v: 1;
  type: 'operation.closed';
  operationId: string;
  tenantId: string;
  status: OperationStatus;
}

export type PushPayload = OperationPendingPush | OperationClosedPush;
