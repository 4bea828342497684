// Reference native-device client (docs/native-protocol.md): device keys, request envelopes and sealed replies on WebCrypto + jose.
import { base64url, CompactEncrypt, CompactSign, compactDecrypt, decodeProtectedHeader } from 'jose';
import { CustosError, codeForProblem } from './errors.js';
import { verifyDynamicLinking } from './linking.js';
import type { ConfirmationDetails, OperationDetails, OperationStatus, ProblemDetails } from './types.js';

/** Replaces the global fetch (tests, telemetry). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export const JOSE_MEDIA_TYPE = 'application/jose';
export const ENVELOPE_ALG = 'ECDH-ES+A256KW';
export const ENVELOPE_ENC = 'A256GCM';
export const ENVELOPE_CTY = 'JWT';
export const REQUEST_TYPE = 'custos-request+jwt';
export const DEVICE_PROOF_TYPE = 'device-proof+jwt';

/** How the app verified the user before signing (RFC 8176): face, fingerprint, or the device PIN. */
export type UvMethod = 'face' | 'fpt' | 'pin';
export type NativeAction = 'start' | 'finish' | 'reject';

/** A P-256 public key as the protocol carries it: exactly these four members. */
export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/** The service's E2E public key from GET /sdk/v1/config. */
export interface E2EKey extends PublicJwk {
  kid: string;
}

export interface NativeConfig {
  tenantId: string;
  branding: { name: string; logoUrl?: string; primaryColor?: string };
  rpId: string;
  e2eKey: E2EKey;
}

/** What a REGISTRATION's sdk.url (the activation code, often a QR code) carries. */
export interface Activation {
  baseUrl: string;
  operationId: string;
  token: string;
  tenantId: string;
}

/** A registered native device: its id (the JWS kid) and its signing key. */
export interface NativeDevice {
  deviceId: string;
  tenantId: string;
  privateKey: CryptoKey;
}

/** Who signs a request: a registered device, or a new key with the activation code that authorises it. */
export type RequestSigner =
  | { kind: 'device'; deviceId: string; privateKey: CryptoKey }
  | { kind: 'new-key'; keyPair: CryptoKeyPair; activationToken: string };

/** The operation as a native start returns it, with the challenge to sign. */
export interface NativeStart {
  operation: OperationDetails & { expiresAt?: string };
  challenge: string;
}

/** Fixed encryption inputs, for reproducing the published test vectors only. */
export interface VectorInputs {
  epk: CryptoKey;
  cek: Uint8Array;
  iv: Uint8Array;
}

/** One call, built and not yet sent: what tests tamper with, and what `send` posts. */
export interface PreparedCall {
  url: string;
  envelope: string;
  claims: Record<string, unknown>;
  /** The ephemeral key the reply is sealed to; it never leaves this object. */
  replyKey: CryptoKey;
}

// ---------------------------------------------------------------------------------------------
// Keys

/**
 * The device signing key: ECDSA P-256 (ES256). On a phone this lives in the Secure Enclave or
 * StrongBox and cannot be exported; here `extractable` exists only for the simulated phone (CLI).
 */
export async function generateDeviceKey(options: { extractable?: boolean } = {}): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, options.extractable === true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** The public JWK with only kty, crv, x, y. */
export async function publicJwkOf(publicKey: CryptoKey): Promise<PublicJwk> {
  const jwk = (await crypto.subtle.exportKey('jwk', publicKey)) as JsonWebKey;
  if (jwk.crv !== 'P-256' || jwk.x === undefined || jwk.y === undefined) throw new TypeError('not a P-256 public key');
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
}

/** A fresh ECDH P-256 key pair for one reply: the private half is not extractable and is dropped after the reply. */
export async function generateReplyKey(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair;
}

// ---------------------------------------------------------------------------------------------
// Protocol primitives (each is specified in docs/native-protocol.md and covered by the test vectors)

/** `ath`: base64url SHA-256 of the activation code (the operation's sdk token), as DPoP's ath (RFC 9449 §4.2). */
export async function activationHash(token: string): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))));
}

/** A random jti: 128 bits, base64url. */
export function newJti(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(16)));
}

/** The inner JWS: ES256 over the claims, naming the signer by `kid` (device id) or by `jwk` (registration). */
export async function signRequest(
  signer: { privateKey: CryptoKey; kid: string } | { privateKey: CryptoKey; jwk: PublicJwk },
  claims: Record<string, unknown>,
): Promise<string> {
  const header = 'kid' in signer ? { alg: 'ES256', typ: REQUEST_TYPE, kid: signer.kid } : { alg: 'ES256', typ: REQUEST_TYPE, jwk: signer.jwk };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader(header).sign(signer.privateKey);
}

/** The envelope: the JWS as the plaintext of a compact JWE to the service's E2E key. */
export async function sealEnvelope(jws: string, e2eKey: E2EKey, vector?: VectorInputs): Promise<string> {
  const key = await crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: e2eKey.x, y: e2eKey.y }, { name: 'ECDH', namedCurve: 'P-256' }, true, []);
  const jwe = new CompactEncrypt(new TextEncoder().encode(jws)).setProtectedHeader({ alg: ENVELOPE_ALG, enc: ENVELOPE_ENC, cty: ENVELOPE_CTY, kid: e2eKey.kid });
  if (vector !== undefined) jwe.setKeyManagementParameters({ epk: vector.epk }).setContentEncryptionKey(vector.cek).setInitializationVector(vector.iv);
  return jwe.encrypt(key);
}

/** Opens a reply sealed to the request's reply key; only the service could have made it (the key travelled encrypted). */
export async function openReply(jwe: string, replyPrivateKey: CryptoKey): Promise<unknown> {
  const header = decodeProtectedHeader(jwe);
  if (header.alg !== ENVELOPE_ALG || header.enc !== ENVELOPE_ENC) throw new TypeError('unexpected reply algorithms');
  const { plaintext } = await compactDecrypt(jwe, replyPrivateKey, { keyManagementAlgorithms: [ENVELOPE_ALG], contentEncryptionAlgorithms: [ENVELOPE_ENC] });
  return JSON.parse(new TextDecoder().decode(plaintext)) as unknown;
}

/** `Authorization: Device <proof>` (API.md §2); with `replyKey` the answer comes back sealed to it. */
export async function createDeviceProof(
  device: { deviceId: string; privateKey: CryptoKey },
  request: { method: string; url: string; iat: number; jti?: string; replyKey?: PublicJwk },
): Promise<string> {
  const url = new URL(request.url);
  const claims = {
    htm: request.method, htu: `${url.origin}${url.pathname}`, iat: request.iat, jti: request.jti ?? newJti(),
    ...(request.replyKey !== undefined ? { rek: request.replyKey } : {}),
  };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: 'ES256', typ: DEVICE_PROOF_TYPE, kid: device.deviceId })
    .sign(device.privateKey);
}

/** Reads an sdk.url (`<base>/app/#op=…&token=…&tenant=…`) into what registration needs. */
export function parseActivation(sdkUrl: string): Activation {
  let url: URL;
  try {
    url = new URL(sdkUrl);
  } catch {
    throw new TypeError('the activation code is not a URL');
  }
  const params = new URLSearchParams(url.hash.replace(/^#/, ''));
  const operationId = params.get('op');
  const token = params.get('token');
  const tenantId = params.get('tenant');
  if (!operationId || !token || !tenantId) throw new TypeError('the activation code lacks op, token or tenant');
  const path = url.pathname.replace(/\/app\/?$/, '').replace(/\/+$/, '');
  return { baseUrl: `${url.origin}${path}`, operationId, token, tenantId };
}

// ---------------------------------------------------------------------------------------------
// The client

export interface NativeClientOptions {
  /** Origin (and optional path prefix) of the Custos service. */
  baseUrl: string;
  fetch?: FetchLike;
  /** Milliseconds since the epoch; replaced in tests. */
  now?: () => number;
}

export interface NativeApproveOptions {
  /** Shown exactly what the signature binds; resolve false and the operation is rejected instead. */
  confirm?: (details: ConfirmationDetails) => Promise<boolean> | boolean;
  /** Required for number matching: resolve with the number the user picks. */
  chooseNumber?: (choices: string[]) => Promise<string> | string;
  /** Runs the platform's biometric or PIN prompt and says which one verified the user. */
  verifyUser: () => Promise<UvMethod> | UvMethod;
}

export interface NativeRegisterOptions extends Omit<NativeApproveOptions, 'confirm'> {
  /** The device signing key to bind; generated (non-extractable) when absent. */
  keyPair?: CryptoKeyPair;
}

export interface NativeRegisterResult {
  status: OperationStatus;
  deviceId: string;
  operation: NativeStart['operation'];
  keyPair: CryptoKeyPair;
}

export interface NativeClient {
  config(tenantId: string): Promise<NativeConfig>;
  register(activation: Pick<Activation, 'operationId' | 'token' | 'tenantId'>, options: NativeRegisterOptions): Promise<NativeRegisterResult>;
  approve(device: NativeDevice, operationId: string, options: NativeApproveOptions): Promise<{ status: OperationStatus; operation: NativeStart['operation'] }>;
  reject(device: NativeDevice, operationId: string): Promise<{ status: OperationStatus }>;
  start(signer: RequestSigner, tenantId: string, operationId: string): Promise<NativeStart>;
  /** Pending operations addressed to the device (or broadcast to its user), sealed to a reply key. */
  pending(device: NativeDevice): Promise<Record<string, unknown>[]>;
  /** Builds one call without sending it. */
  prepare(call: { signer: RequestSigner; tenantId: string; operationId: string; action: NativeAction; claims?: Record<string, unknown> }): Promise<PreparedCall>;
  /** Posts a prepared call and opens the sealed reply; problems become CustosError. */
  send(call: PreparedCall): Promise<Record<string, unknown>>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A compact JOSE body is ASCII; decoded from bytes, as runtimes warn about .text() on a type they do not know. */
async function joseBody(response: Response): Promise<string> {
  return new TextDecoder().decode(await response.arrayBuffer());
}

function problemCode(error: unknown): string | undefined {
  return error instanceof CustosError ? error.problem?.code : undefined;
}

export function createNativeClient(options: NativeClientOptions): NativeClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const fetchFn: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const now = options.now ?? (() => Date.now());
  // Seconds to add to the local clock: learnt from an ENVELOPE_STALE answer (phones drift).
  let clockOffset = 0;
  const configs = new Map<string, NativeConfig>();
  const seconds = (): number => Math.floor(now() / 1000) + clockOffset;

  async function request(url: string, init: RequestInit): Promise<Response> {
    try {
      // Only the envelope authorises; ambient cookies must not ride along cross-origin.
      return await fetchFn(url, { ...init, credentials: 'omit' } as RequestInit);
    } catch (error) {
      throw new CustosError('NETWORK', 'Could not reach the Custos service', { cause: error });
    }
  }

  async function failure(response: Response): Promise<CustosError> {
    const text = await response.text().catch(() => '');
    let problem: ProblemDetails | undefined;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (isRecord(parsed)) problem = parsed as ProblemDetails;
    } catch {
      problem = undefined;
    }
    const traceId = response.headers.get('X-Trace-Id') ?? undefined;
    return new CustosError(codeForProblem(response.status, problem), problem?.detail ?? `The Custos service answered HTTP ${response.status}`, {
      status: response.status,
      ...(problem === undefined ? {} : { problem }),
      ...(traceId === undefined ? {} : { traceId }),
    });
  }

  async function config(tenantId: string): Promise<NativeConfig> {
    const cached = configs.get(tenantId);
    if (cached !== undefined) return cached;
    const response = await request(`${baseUrl}/sdk/v1/config?tenant=${encodeURIComponent(tenantId)}`, { method: 'GET', headers: { Accept: 'application/json' } });
    if (!response.ok) throw await failure(response);
    const body = (await response.json()) as NativeConfig;
    if (!isRecord(body) || !isRecord(body.e2eKey) || typeof body.e2eKey.kid !== 'string') {
      throw new CustosError('SERVER_ERROR', 'The service offers no E2E key for native devices');
    }
    configs.set(tenantId, body);
    return body;
  }

  async function prepare(call: { signer: RequestSigner; tenantId: string; operationId: string; action: NativeAction; claims?: Record<string, unknown> }): Promise<PreparedCall> {
    const { e2eKey } = await config(call.tenantId);
    const url = `${baseUrl}/sdk/v1/operations/${encodeURIComponent(call.operationId)}/${call.action}`;
    const target = new URL(url);
    const replyKey = await generateReplyKey();
    const signer = call.signer;
    const claims: Record<string, unknown> = {
      htm: 'POST', htu: `${target.origin}${target.pathname}`, iat: seconds(), jti: newJti(), op: call.operationId,
      rek: await publicJwkOf(replyKey.publicKey),
      ...(signer.kind === 'new-key' ? { ath: await activationHash(signer.activationToken) } : {}),
      ...call.claims,
    };
    const jws =
      signer.kind === 'device'
        ? await signRequest({ privateKey: signer.privateKey, kid: signer.deviceId }, claims)
        : await signRequest({ privateKey: signer.keyPair.privateKey, jwk: await publicJwkOf(signer.keyPair.publicKey) }, claims);
    return { url, envelope: await sealEnvelope(jws, e2eKey), claims, replyKey: replyKey.privateKey };
  }

  async function send(call: PreparedCall): Promise<Record<string, unknown>> {
    const response = await request(call.url, {
      method: 'POST',
      headers: { 'Content-Type': JOSE_MEDIA_TYPE, Accept: `${JOSE_MEDIA_TYPE}, application/problem+json` },
      body: call.envelope,
    });
    if (!response.ok) throw await failure(response);
    let reply: unknown;
    try {
      reply = await openReply(await joseBody(response), call.replyKey);
    } catch (error) {
      throw new CustosError('SERVER_ERROR', 'The reply is not sealed to this request', { cause: error });
    }
    if (!isRecord(reply)) throw new CustosError('SERVER_ERROR', 'The reply is not a JSON object');
    return reply;
  }

  /** One call; a stale clock or a rotated E2E key is corrected and the call rebuilt once (new jti). */
  async function call(signer: RequestSigner, tenantId: string, operationId: string, action: NativeAction, claims?: Record<string, unknown>): Promise<Record<string, unknown>> {
    const attempt = async (): Promise<Record<string, unknown>> => send(await prepare({ signer, tenantId, operationId, action, ...(claims ? { claims } : {}) }));
    try {
      return await attempt();
    } catch (error) {
      const code = problemCode(error);
      const serverTime = error instanceof CustosError ? error.problem?.['serverTime'] : undefined;
      if (code === 'ENVELOPE_STALE' && typeof serverTime === 'number') {
        clockOffset = serverTime - Math.floor(now() / 1000);
        return attempt();
      }
      if (code === 'E2E_KEY_UNKNOWN') {
        configs.delete(tenantId);
        return attempt();
      }
      throw error;
    }
  }

  async function start(signer: RequestSigner, tenantId: string, operationId: string): Promise<NativeStart> {
    const body = await call(signer, tenantId, operationId, 'start');
    const operation = body['operation'];
    if (!isRecord(operation) || operation['id'] !== operationId || typeof body['challenge'] !== 'string') {
      throw new CustosError('SERVER_ERROR', 'The Custos service sent a malformed operation start');
    }
    return body as unknown as NativeStart;
  }

  async function pickNumber(operation: OperationDetails, chooseNumber: NativeApproveOptions['chooseNumber']): Promise<Record<string, string>> {
    const choices = operation.numberMatchChoices ?? [];
    if (choices.length === 0) return {};
    if (chooseNumber === undefined) throw new CustosError('NUMBER_MATCH_REQUIRED', 'This operation needs number matching: pass chooseNumber');
    return { numberMatch: await chooseNumber([...choices]) };
  }

  async function register(activation: Pick<Activation, 'operationId' | 'token' | 'tenantId'>, registerOptions: NativeRegisterOptions): Promise<NativeRegisterResult> {
    const keyPair = registerOptions.keyPair ?? (await generateDeviceKey());
    const signer: RequestSigner = { kind: 'new-key', keyPair, activationToken: activation.token };
    const { operation, challenge } = await start(signer, activation.tenantId, activation.operationId);
    if (operation.type !== 'REGISTRATION') throw new CustosError('WRONG_OPERATION_TYPE', `register() needs a REGISTRATION operation, not ${operation.type}`);
    const numberMatch = await pickNumber(operation, registerOptions.chooseNumber);
    const uv = await registerOptions.verifyUser();
    const body = await call(signer, activation.tenantId, activation.operationId, 'finish', { challenge, uv, ...numberMatch });
    if (typeof body['deviceId'] !== 'string') throw new CustosError('SERVER_ERROR', 'The registration reply names no device');
    return { status: body['status'] as OperationStatus, deviceId: body['deviceId'], operation, keyPair };
  }

  async function reject(device: NativeDevice, operationId: string): Promise<{ status: OperationStatus }> {
    const body = await call({ kind: 'device', deviceId: device.deviceId, privateKey: device.privateKey }, device.tenantId, operationId, 'reject');
    return { status: body['status'] as OperationStatus };
  }

  async function approve(device: NativeDevice, operationId: string, approveOptions: NativeApproveOptions): Promise<{ status: OperationStatus; operation: NativeStart['operation'] }> {
    const signer: RequestSigner = { kind: 'device', deviceId: device.deviceId, privateKey: device.privateKey };
    const { operation, challenge } = await start(signer, device.tenantId, operationId);
    if (operation.type === 'REGISTRATION') throw new CustosError('WRONG_OPERATION_TYPE', 'approve() cannot complete a REGISTRATION operation: use register()');
    // PSD2 RTS art. 5: the amount and payee (or document) shown must be what the challenge binds.
    await verifyDynamicLinking(operation, challenge);
    if (approveOptions.confirm !== undefined) {
      const { numberMatchChoices: _choices, ...details } = operation;
      if (!(await approveOptions.confirm(details))) {
        const { status } = await reject(device, operationId);
        return { status, operation };
      }
    }
    const numberMatch = await pickNumber(operation, approveOptions.chooseNumber);
    const uv = await approveOptions.verifyUser();
    const body = await call(signer, device.tenantId, operationId, 'finish', { challenge, uv, ...numberMatch });
    return { status: body['status'] as OperationStatus, operation };
  }

  async function pending(device: NativeDevice): Promise<Record<string, unknown>[]> {
    const url = `${baseUrl}/sdk/v1/devices/me/operations?status=PENDING`;
    const replyKey = await generateReplyKey();
    const proof = await createDeviceProof(device, { method: 'GET', url, iat: seconds(), replyKey: await publicJwkOf(replyKey.publicKey) });
    const response = await request(url, { method: 'GET', headers: { Authorization: `Device ${proof}`, Accept: `${JOSE_MEDIA_TYPE}, application/problem+json` } });
    if (!response.ok) throw await failure(response);
    const body = await openReply(await joseBody(response), replyKey.privateKey);
    if (!isRecord(body) || !Array.isArray(body['items'])) throw new CustosError('SERVER_ERROR', 'The pending list is malformed');
    return body['items'] as Record<string, unknown>[];
  }

  return { config, register, approve, reject, start, pending, prepare, send };
}
