// createCustos: drives one operation through start → (confirm) → WebAuthn → finish on the device.
import {
  browserSupportsWebAuthn,
  startAuthentication,
  startRegistration,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/browser';
import { assertDeviceKeyPair, exportDevicePublicKey, generateDeviceKeyPair, signDeviceBinding } from './device-key.js';
import { CustosError, fromWebAuthnError } from './errors.js';
import { postJson, type FetchLike } from './http.js';
import { verifyDynamicLinking } from './linking.js';
import type {
  ApproveResult,
  ConfirmationDetails,
  OperationDetails,
  OperationRef,
  OperationStatus,
  RegisterResult,
  RejectResult,
} from './types.js';

export interface CustosOptions {
  /** Origin (and optional path prefix) of the Custos service, e.g. "https://custos.example.com". */
  baseUrl: string;
  /** Replaces the global fetch, e.g. to add telemetry or in tests. */
  fetch?: FetchLike;
}

export interface NumberMatchOptions {
  /**
   * Required when the operation asks for number matching: show the choices and resolve with the one
   * the user picks (the one the relying party displays on its other screen).
   */
  chooseNumber?: (choices: string[]) => Promise<string> | string;
}

export interface RegisterOptions extends NumberMatchOptions {
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
  getOperation(op: OperationRef): Promise<OperationDetails>;
}

interface StartedOperation {
  operation: OperationDetails;
  publicKey: PublicKeyCredentialCreationOptionsJSON | PublicKeyCredentialRequestOptionsJSON;
}

interface ResolvedRef {
  id: string;
  token: string;
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

function resolveRef(op: OperationRef): ResolvedRef {
  const token = 'token' in op ? op.token : op.sdk?.token;
  if (typeof op.id !== 'string' || op.id === '' || typeof token !== 'string' || token === '') {
    throw new TypeError('op must be { id, token } or { id, sdk: { token } }');
  }
  return { id: op.id, token };
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

  const url = (id: string, action: string): string => `${baseUrl}/sdk/v1/operations/${encodeURIComponent(id)}/${action}`;

  async function start(ref: ResolvedRef): Promise<StartedOperation> {
    const cached = started.get(ref.id);
    if (cached !== undefined) return cached;
    const session = readStart(await postJson(fetchFn, url(ref.id, 'start'), ref.token, {}), ref.id);
    started.set(ref.id, session);
    return session;
  }

  async function finish(ref: ResolvedRef, body: Record<string, unknown>): Promise<OperationStatus> {
    // Whatever the answer, the server has seen this challenge once; it cannot be used again.
    started.delete(ref.id);
    return readStatus(await postJson(fetchFn, url(ref.id, 'finish'), ref.token, body));
  }

  async function reject(op: OperationRef): Promise<RejectResult> {
    const ref = resolveRef(op);
    started.delete(ref.id);
    const status = readStatus(await postJson(fetchFn, url(ref.id, 'reject'), ref.token, {}));
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
    const ref = resolveRef(op);
    // A wrong key found after the passkey was created would waste the user's ceremony.
    if (registerOptions.deviceKey !== undefined) assertDeviceKeyPair(registerOptions.deviceKey);
    assertWebAuthn();
    const { operation, publicKey } = await start(ref);
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

    const status = await finish(ref, body);
    return deviceKeyPair === undefined ? { status, operation } : { status, operation, deviceKeyPair };
  }

  async function approve(op: OperationRef, approveOptions: ApproveOptions = {}): Promise<ApproveResult> {
    const ref = resolveRef(op);
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
    return { status: await finish(ref, body), operation };
  }

  async function getOperation(op: OperationRef): Promise<OperationDetails> {
    const { operation } = await start(resolveRef(op));
    return operation;
  }

  return { register, approve, reject, getOperation };
}
