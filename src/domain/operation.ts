// The live operation as a Durable Object holds it: its snapshot types and the pure rules on them (no bindings).
import type { ErrorCode } from '../errors';
import type { OperationStatus, OperationType } from './operation-state';
import type { TenantPolicy } from './policy';
import type { NewCredential, RelyingParty, StoredCredential } from './webauthn';
import type { OperationOutcome } from '../storage/operations';
import type { NotificationRecord, OperationContext } from './push';

/** An active device of the user as snapshotted at start (native devices have no WebAuthn credential). */
export interface DeviceSnapshot {
  id: string;
  kind: 'PASSKEY' | 'NATIVE';
  deviceKeyJwk: JsonWebKey | null;
}

/** Everything a ceremony needs, captured at start so the hot path does not go back to D1. */
export interface OperationSnapshot {
  id: string;
  tenantId: string;
  userId: string;
  type: OperationType;
  status: OperationStatus;
  createdAt: string;
  expiresAt: string;
  completedAt?: string;
  deviceId?: string;
  context?: OperationContext;
  transaction?: Record<string, unknown>;
  transactions?: Record<string, unknown>[];
  total?: { amount: string; currency: string };
  document?: { title?: string; mimeType: string; sha256: string };
  documentContent?: string;
  /** Per pushed device, what became of its notification (reported by the operation's PushDeliveryDO). */
  notifications?: NotificationRecord[];
  numberMatch?: string;
  numberMatchChoices?: string[];
  sdkTokenHash: string;
  challenge: string;
  issuer: string;
  rp: RelyingParty;
  /** The service's own origin: the rpId of passkeys registered in the white-label authenticator app. */
  serviceRp: { rpId: string; origin: string };
  /** REGISTRATION: the relying party chosen at SDK start (tenant, or the service for the app). */
  registrationRp?: RelyingParty;
  policy: TenantPolicy;
  /** Started with sameDevice: the start answered the device's options and the finish answers the result. */
  sameDevice?: true;
  userName: string;
  deviceName?: string;
  /** REGISTRATION: credentials to exclude; otherwise: credentials allowed to answer. */
  credentials: StoredCredential[];
  devices: DeviceSnapshot[];
  result?: { deviceId: string; userVerified: true; authMethod: string; token: string };
  failure?: { code: string };
  /**
   * SHA-256 of the finish request (caller and body) that ended the operation: the device's identical retry gets the
   * answer it had, or would have had had the process not died before that answer left (the shard cannot tell which).
   */
  finishDigest?: string;
  /**
   * Crash safety. Written to this object's storage before the final D1 batch is sent and cleared once it
   * committed: what the operation becomes if that batch committed. D1 is the truth for the final state; a copy
   * that still holds an intent (the process died between the two writes, or the batch's outcome is unknown)
   * asks D1 on its next load and either adopts the intent or drops it (see Operation.reconcile).
   */
  intent?: FinalState;
}

/** The part of an operation that its final D1 batch decides. */
export type FinalState = Pick<OperationSnapshot, 'status' | 'completedAt' | 'result' | 'failure' | 'finishDigest'>;

export type Caller = { kind: 'sdk'; tokenHash: string } | { kind: 'device'; deviceId: string };

export type DoResult<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; detail: string; extras?: Record<string, unknown> };

export interface FinishInput {
  credential?: unknown;
  deviceKey?: JsonWebKey;
  deviceSignature?: string;
  numberMatch?: string;
  /** Native devices: a verified signature by the device key over the operation challenge (see docs/native-protocol.md). */
  native?: { deviceId: string; jws: string; deviceKeyJwk: JsonWebKey; userVerification: string };
}

export interface FinishView {
  status: OperationStatus;
  deviceId?: string;
  /** sameDevice operations only: the signed result, so the two-call ceremony needs no status call. */
  result?: NonNullable<OperationSnapshot['result']>;
}

export interface SdkStartView {
  operation: {
    id: string;
    type: OperationType;
    context?: OperationContext;
    transaction?: Record<string, unknown>;
    transactions?: Record<string, unknown>[];
    total?: { amount: string; currency: string };
    document?: { title?: string; mimeType: string; sha256: string; content: string };
    numberMatchChoices?: string[];
    expiresAt: string;
  };
  publicKey: unknown;
}

export function fail<T>(code: ErrorCode, detail: string, extras?: Record<string, unknown>): DoResult<T> {
  return { ok: false, code, detail, ...(extras ? { extras } : {}) };
}

/** The bound object of dynamic linking (API.md): the transaction, the batch, or the document digest. */
export function boundOf(op: Pick<OperationSnapshot, 'transaction' | 'transactions' | 'document'>): unknown {
  if (op.transaction) return op.transaction;
  if (op.transactions) return { transactions: op.transactions };
  return op.document;
}

/** Which rpId a ceremony runs under: the tenant's, or the service's own (authenticator app, API.md §2). */
export type RpScope = 'tenant' | 'service';

/** The relying party a credential scoped to `rpId` is verified against. */
export function rpFor(op: Pick<OperationSnapshot, 'rp' | 'serviceRp'>, rpId: string | null): RelyingParty {
  if (rpId === null || rpId === op.rp.rpId) {
    // Locally the service and the tenant can share an rpId (localhost): then both origins are the tenant's.
    const origins = rpId !== null && op.serviceRp.rpId === op.rp.rpId ? [...new Set([...op.rp.origins, op.serviceRp.origin])] : op.rp.origins;
    return { ...op.rp, origins };
  }
  return { rpId: op.serviceRp.rpId, rpName: op.rp.rpName, origins: [op.serviceRp.origin] };
}

export type Success =
  | { ok: true; kind: 'registration'; deviceId: string; credential: NewCredential | null; deviceKeyJwk: JsonWebKey | null; userVerification?: string; evidence: Record<string, unknown> }
  | { ok: true; kind: 'assertion'; deviceId: string; credentialId: string; newCounter: number; backedUp: boolean; evidence: Record<string, unknown> }
  | { ok: true; kind: 'native'; deviceId: string; userVerification: string; evidence: Record<string, unknown> };

export function withoutIntent(op: OperationSnapshot): OperationSnapshot {
  if (op.intent === undefined) return op;
  const { intent: _intent, ...rest } = op;
  return rest;
}

/** What a finish answers for the final state it produced: replayed unchanged to an identical retry. */
export function finishAnswer(op: OperationSnapshot): DoResult<FinishView> {
  // PSD2: a failure says no more than VERIFICATION_FAILED, whatever the cause (a credential another operation
  // registered first included).
  if (op.status === 'FAILED') return fail('VERIFICATION_FAILED', 'The device response could not be verified.');
  if (op.status !== 'COMPLETED') {
    const code: ErrorCode = op.failure?.code === 'USER_NOT_ACTIVE' ? 'USER_NOT_ACTIVE' : 'DEVICE_NOT_ACTIVE';
    return fail(code, `The operation was ${op.status}: ${op.failure?.code ?? 'refused'}.`, { operationStatus: op.status });
  }
  // The device learns its own id (the authenticator app keeps it for device proofs); a sameDevice one also the result.
  return {
    ok: true,
    value: { status: op.status, ...(op.result ? { deviceId: op.result.deviceId } : {}), ...(op.sameDevice && op.result ? { result: op.result } : {}) },
  };
}

/** SHA-256 of a finish request as the operation remembers it (exported for the crash-recovery tests). */
export async function finishDigestOf(input: { caller: Caller; body: FinishInput }): Promise<string> {
  const caller = input.caller.kind === 'sdk' ? `sdk:${input.caller.tokenHash}` : `device:${input.caller.deviceId}`;
  const bytes = new TextEncoder().encode(`${caller}\n${JSON.stringify(input.body)}`);
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** A final state learnt from D1 alone (no intent to adopt): status, time and failure; a result token is not in D1. */
export function finalFromHistory(op: OperationSnapshot, row: OperationOutcome): OperationSnapshot {
  const { intent: _intent, ...rest } = op;
  return {
    ...rest, status: row.status, completedAt: row.completedAt ?? new Date().toISOString(),
    ...(row.failureCode && row.status !== 'COMPLETED' ? { failure: { code: row.failureCode } } : {}),
  };
}

export function success0(change: { success?: Success }): Success | undefined {
  return change.success;
}

/** docs/native-protocol.md: which transport may act on an operation; null when this one may. */
export function transportRefusal(op: OperationSnapshot, input: { caller: Caller; native: boolean; action: 'start' | 'finish' | 'reject' }): DoResult<never> | null {
  // An activation code inside an envelope registers a device; it acts on nothing else.
  if (input.native && input.caller.kind === 'sdk' && op.type !== 'REGISTRATION') return fail('OPERATION_NOT_FOUND', 'No such operation for these credentials.');
  // What only native devices can answer (it names one, or every candidate is one) is neither shown nor
  // answered in the clear; declining it in the relying party's own app stays possible.
  const onlyNative = op.type !== 'REGISTRATION' && op.devices.length > 0 && op.devices.every((d) => d.kind === 'NATIVE');
  if (!input.native && input.action !== 'reject' && onlyNative) {
    return fail('NATIVE_ENVELOPE_REQUIRED', 'This operation is for a native device: send an application/jose envelope.');
  }
  return null;
}
