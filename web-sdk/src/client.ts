// createCustos: drives one operation through start → (confirm) → WebAuthn → finish on the device.
import {
  browserSupportsWebAuthn,
  startAuthentication,
  startRegistration,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/browser';
import { assertDeviceKeyPair, exportDevicePublicKey, generateDeviceKeyPair, signDeviceBinding } from './device-key.js';
import { createDeviceProof, type DeviceCredential } from './device-proof.js';
import { CustosError, fromWebAuthnError } from './errors.js';
import { requestJson, type FetchLike } from './http.js';
import { verifyDynamicLinking } from './linking.js';
import { toPushChannel, type PushChannelInput } from './push.js';
import type {
  ApproveResult,
  ConfirmationDetails,
  OperationDetails,
  OperationRef,
  OperationResult,
  OperationStatus,
  PendingOperation,
  PushChannelResult,
  RegisterResult,
  RejectResult,
  RpScope,
} from './types.js';

export interface CustosOptions {
  /** Origin (and optional path prefix) of the Custos service, e.g. "https://custos.example.com". */
  baseUrl: string;
  /** Replaces the global fetch, e.g. to add telemetry or in tests. */
  fetch?: FetchLike;
  /**
   * A device bound earlier (its id and the private key bound at registration). Calls on an
   * operation given without a token, and `pending()`, are then authorised by a fresh device proof
   * per request (`Authorization: Device <proof>`, API.md §2).
   */
  device?: DeviceCredential;
}

export interface NumberMatchOptions {
  /**
   * Required when the operation asks for number matching: show the choices and resolve with the one
   * the user picks (the one the relying party displays on its other screen).
   */
  chooseNumber?: (choices: string[]) => Promise<string> | string;
}

export interface StartOptions {
  /**
   * REGISTRATION only: whose rpId the new passkey gets. `tenant` (the default) for the relying
   * party's own pages; `service` for the white-label authenticator app on the Custos origin.
   */
  rpScope?: RpScope;
}

export interface RegisterOptions extends NumberMatchOptions, StartOptions {
  /** Binds this key pair (ECDSA P-256) to the new device. */
  deviceKey?: CryptoKeyPair;
  /** Generates a non-extractable P-256 key pair, binds it, and returns it as `deviceKeyPair`. */
  bindDeviceKey?: boolean;
}

export interface ApproveOptions extends NumberMatchOptions {
  /**
   * Called with exactly what the signature will bind, before the passkey prompt. Resolve false
   * and the SDK rejects the operation instead (the user declined).
   */
  confirm?: (details: ConfirmationDetails) => Promise<boolean> | boolean;
}

export interface CustosClient {
  register(op: OperationRef, options?: RegisterOptions): Promise<RegisterResult>;
  approve(op: OperationRef, options?: ApproveOptions): Promise<ApproveResult>;
  reject(op: OperationRef): Promise<RejectResult>;
  /**
   * Starts the operation and returns what it is about, so the app can show its own UI first; a later
   * register/approve on the same client reuses that start and its challenge.
   */
  getOperation(op: OperationRef, options?: StartOptions): Promise<OperationDetails>;
  /** The operations waiting for this client's `device` (its user's broadcast ones included). */
  pending(): Promise<PendingOperation[]>;
  /**
   * Registers (or replaces) where the service pushes this client's `device`: a PushSubscription (or its toJSON(), or
   * `subscribeWebPush`'s answer), or a native `{ type: 'FCM', token }` / `{ type: 'APNS', token, environment }`.
   */
  setPushChannel(channel: PushChannelInput): Promise<PushChannelResult>;
  /** Removes this client's `device` push channel: the device is polled again, not pushed. */
  removePushChannel(): Promise<void>;
}

interface StartedOperation {
  operation: OperationDetails;
  publicKey: PublicKeyCredentialCreationOptionsJSON | PublicKeyCredentialRequestOptionsJSON;
  rpScope?: RpScope;
}

interface ResolvedRef {
  id: string;
  /** Absent: the call is authorised by a device proof. */
  token?: string;
  /** A sameDevice operation's start answer, handed over by the relying party: no SDK start call is needed. */
  inline?: Record<string, unknown>;
}

const OPERATION_TYPES: ReadonlySet<string> = new Set(['REGISTRATION', 'AUTHENTICATION', 'AUTHORISATION', 'SIGNATURE']);
const OPERATION_STATUSES: ReadonlySet<string> = new Set([
  'PENDING',
  'IN_PROGRESS',
  'COMPLETED',
  'REJECTED',
  'FAILED',
  'CANCELLED',
  'EXPIRED',
]);

function resolveRef(op: OperationRef, device: DeviceCredential | undefined): ResolvedRef {
  const token = 'token' in op ? op.token : 'sdk' in op ? op.sdk?.token : undefined;
  if (typeof op.id !== 'string' || op.id === '') throw new TypeError('op must have an id');
  if (token === undefined && device !== undefined) return { id: op.id };
  if (typeof token !== 'string' || token === '') {
    throw new TypeError('op must be { id, token } or { id, sdk: { token } }, or { id } on a client created with a device');
  }
  const inline = 'device' in op && op.device !== undefined ? (op.device as unknown as Record<string, unknown>) : undefined;
  return { id: op.id, token, ...(inline ? { inline } : {}) };
}

function malformed(what: string): CustosError {
  return new CustosError('SERVER_ERROR', `The Custos service sent a malformed ${what}`);
}

function readStart(body: Record<string, unknown>, id: string): StartedOperation {
  const operation = body['operation'] as Partial<OperationDetails> | undefined;
  const publicKey = body['publicKey'] as { challenge?: unknown } | undefined;
  if (
    typeof operation !== 'object' ||
    operation === null ||
    operation.id !== id ||
    typeof operation.type !== 'string' ||
    !OPERATION_TYPES.has(operation.type) ||
    typeof publicKey !== 'object' ||
    publicKey === null ||
    typeof publicKey.challenge !== 'string'
  ) {
    throw malformed('operation start');
  }
  return body as unknown as StartedOperation;
}

function readStatus(body: Record<string, unknown>): OperationStatus {
  const status = body['status'];
  if (typeof status !== 'string' || !OPERATION_STATUSES.has(status)) throw malformed('operation status');
  return status as OperationStatus;
}

function readPending(body: Record<string, unknown>): PendingOperation[] {
  const items = body['items'];
  if (!Array.isArray(items)) throw malformed('pending operations list');
  for (const item of items as Array<Partial<PendingOperation> | null>) {
    if (typeof item !== 'object' || item === null || typeof item.id !== 'string' || typeof item.type !== 'string' || !OPERATION_TYPES.has(item.type)) {
      throw malformed('pending operation');
    }
  }
  return items as PendingOperation[];
}

function readPushChannel(body: Record<string, unknown>): PushChannelResult {
  const channel = body['pushChannel'] as Partial<PushChannelResult['pushChannel']> | undefined;
  if (typeof body['deviceId'] !== 'string' || typeof channel !== 'object' || channel === null || typeof channel.type !== 'string') {
    throw malformed('push channel answer');
  }
  return body as unknown as PushChannelResult;
}

function confirmationDetails(operation: OperationDetails): ConfirmationDetails {
  const { numberMatchChoices: _choices, ...details } = operation;
  return details;
}

export function createCustos(options: CustosOptions): CustosClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  // Looked up per call, not captured, so a fetch polyfilled or wrapped after setup is still used.
  const fetchFn: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  // A start issues the challenge; keeping it lets getOperation() and a retry after a dismissed
  // prompt reuse it instead of starting the operation again.
  const started = new Map<string, StartedOperation>();

  const device = options.device;
  const url = (id: string, action: string): string => `${baseUrl}/sdk/v1/operations/${encodeURIComponent(id)}/${action}`;

  async function authorization(ref: ResolvedRef | undefined, method: string, target: string): Promise<string> {
    if (ref?.token !== undefined) return `Bearer ${ref.token}`;
    if (device === undefined) throw new TypeError('This call needs an sdk token or a client created with a device');
    // A proof is single-use and bound to method and URL, so every request gets its own.
    return `Device ${await createDeviceProof(device, method, target)}`;
  }

  async function post(ref: ResolvedRef, action: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const target = url(ref.id, action);
    return requestJson(fetchFn, { method: 'POST', url: target, authorization: await authorization(ref, 'POST', target), body });
  }

  async function start(ref: ResolvedRef, rpScope?: RpScope): Promise<StartedOperation> {
    const cached = started.get(ref.id);
    // A start for another rpScope issues other creation options, so only a matching one is reused.
    if (cached !== undefined && (rpScope === undefined || cached.rpScope === rpScope)) return cached;
    // Two-call ceremony: the relying party's start already answered what SDK start would (validated the same way).
    const session = ref.inline !== undefined && rpScope !== 'service'
      ? readStart(ref.inline, ref.id)
      : readStart(await post(ref, 'start', rpScope === undefined ? {} : { rpScope }), ref.id);
    if (rpScope !== undefined) session.rpScope = rpScope;
    started.set(ref.id, session);
    return session;
  }

  async function finish(ref: ResolvedRef, body: Record<string, unknown>): Promise<{ status: OperationStatus; deviceId?: string; result?: OperationResult }> {
    // Whatever the answer, the server has seen this challenge once; it cannot be used again.
    started.delete(ref.id);
    const answer = await post(ref, 'finish', body);
    const deviceId = answer['deviceId'];
    const result = answer['result'] as OperationResult | undefined;
    return {
      status: readStatus(answer),
      ...(typeof deviceId === 'string' ? { deviceId } : {}),
      ...(result && typeof result === 'object' && typeof result.token === 'string' ? { result } : {}),
    };
  }

  async function reject(op: OperationRef): Promise<RejectResult> {
    const ref = resolveRef(op, device);
    started.delete(ref.id);
    const status = readStatus(await post(ref, 'reject', {}));
    if (status !== 'REJECTED') throw malformed('reject answer');
    return { status };
  }

  function assertWebAuthn(): void {
    if (!browserSupportsWebAuthn()) {
      throw new CustosError('NOT_SUPPORTED', 'This browser does not support WebAuthn passkeys');
    }
  }

  /**
   * Returns how to ask for the number, or nothing when the operation does not use number matching.
   * A missing hook throws here, before any prompt, so it surfaces as a programming error and not
   * as a ceremony abandoned half-way.
   */
  function numberMatcher(operation: OperationDetails, chooseNumber: NumberMatchOptions['chooseNumber']): (() => Promise<string>) | undefined {
    const choices = operation.numberMatchChoices ?? [];
    if (choices.length === 0) return undefined;
    if (chooseNumber === undefined) {
      throw new CustosError('NUMBER_MATCH_REQUIRED', 'This operation needs number matching: pass chooseNumber');
    }
    return async () => chooseNumber([...choices]);
  }

  async function register(op: OperationRef, registerOptions: RegisterOptions = {}): Promise<RegisterResult> {
    const ref = resolveRef(op, device);
    // A wrong key found after the passkey was created would waste the user's ceremony.
    if (registerOptions.deviceKey !== undefined) assertDeviceKeyPair(registerOptions.deviceKey);
    assertWebAuthn();
    const { operation, publicKey } = await start(ref, registerOptions.rpScope);
    if (operation.type !== 'REGISTRATION') {
      throw new CustosError('WRONG_OPERATION_TYPE', `register() needs a REGISTRATION operation, not ${operation.type}`);
    }
    const numberMatch = await numberMatcher(operation, registerOptions.chooseNumber)?.();

    let credential: unknown;
    try {
      credential = await startRegistration({ optionsJSON: publicKey as PublicKeyCredentialCreationOptionsJSON });
    } catch (error) {
      throw fromWebAuthnError(error);
    }

    const deviceKeyPair = registerOptions.deviceKey ?? (registerOptions.bindDeviceKey === true ? await generateDeviceKeyPair() : undefined);
    const body: Record<string, unknown> = { credential };
    if (deviceKeyPair !== undefined) {
      body['deviceKey'] = await exportDevicePublicKey(deviceKeyPair);
      body['deviceSignature'] = await signDeviceBinding(deviceKeyPair, operation.id, publicKey.challenge);
    }
    if (numberMatch !== undefined) body['numberMatch'] = numberMatch;

    const { status, deviceId, result } = await finish(ref, body);
    return {
      status,
      operation,
      ...(result === undefined ? {} : { result }),
      ...(deviceKeyPair === undefined ? {} : { deviceKeyPair }),
      ...(deviceId === undefined ? {} : { deviceId }),
    };
  }

  async function approve(op: OperationRef, approveOptions: ApproveOptions = {}): Promise<ApproveResult> {
    const ref = resolveRef(op, device);
    assertWebAuthn();
    const { operation, publicKey } = await start(ref);
    if (operation.type === 'REGISTRATION') {
      throw new CustosError('WRONG_OPERATION_TYPE', 'approve() cannot complete a REGISTRATION operation: use register()');
    }
    await verifyDynamicLinking(operation, publicKey.challenge);
    const matchNumber = numberMatcher(operation, approveOptions.chooseNumber);

    if (approveOptions.confirm !== undefined && !(await approveOptions.confirm(confirmationDetails(operation)))) {
      const { status } = await reject(ref);
      return { status, operation };
    }
    const numberMatch = await matchNumber?.();

    let credential: unknown;
    try {
      credential = await startAuthentication({ optionsJSON: publicKey as PublicKeyCredentialRequestOptionsJSON });
    } catch (error) {
      throw fromWebAuthnError(error);
    }

    const body: Record<string, unknown> = { credential };
    if (numberMatch !== undefined) body['numberMatch'] = numberMatch;
    const { status, result } = await finish(ref, body);
    return { status, operation, ...(result === undefined ? {} : { result }) };
  }

  async function getOperation(op: OperationRef, startOptions: StartOptions = {}): Promise<OperationDetails> {
    const { operation } = await start(resolveRef(op, device), startOptions.rpScope);
    return operation;
  }

  async function pending(): Promise<PendingOperation[]> {
    if (device === undefined) throw new TypeError('pending() needs a client created with a device');
    const target = `${baseUrl}/sdk/v1/devices/me/operations`;
    const answer = await requestJson(fetchFn, {
      method: 'GET',
      url: `${target}?status=PENDING`,
      authorization: await authorization(undefined, 'GET', target),
    });
    return readPending(answer);
  }

  const pushChannelUrl = `${baseUrl}/sdk/v1/device/push-channel`;

  async function setPushChannel(input: PushChannelInput): Promise<PushChannelResult> {
    if (device === undefined) throw new TypeError('setPushChannel() needs a client created with a device');
    // Checked before the proof is made: a malformed subscription is a programming error, not a server answer.
    const body = toPushChannel(input);
    const answer = await requestJson(fetchFn, { method: 'PUT', url: pushChannelUrl, authorization: await authorization(undefined, 'PUT', pushChannelUrl), body });
    return readPushChannel(answer);
  }

  async function removePushChannel(): Promise<void> {
    if (device === undefined) throw new TypeError('removePushChannel() needs a client created with a device');
    await requestJson(fetchFn, { method: 'DELETE', url: pushChannelUrl, authorization: await authorization(undefined, 'DELETE', pushChannelUrl) });
  }

  return { register, approve, reject, getOperation, pending, setPushChannel, removePushChannel };
}
