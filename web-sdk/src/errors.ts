// CustosError and the mapping of server problems and browser WebAuthn failures onto its codes.
import type { ProblemDetails } from './types.js';

export type CustosErrorCode =
  /** The user dismissed the browser's passkey prompt (NotAllowedError / AbortError). */
  | 'USER_CANCELLED'
  /**
   * The page's origin may not use this relying party (SecurityError): the rpId is not the page's host or a parent
   * domain of it, or the page is opened on an IP address (http://127.0.0.1: open http://localhost instead).
   */
  | 'RP_ID_MISMATCH'
  /** The authenticator already holds a passkey of this user for this relying party (InvalidStateError at registration). */
  | 'ALREADY_REGISTERED'
  /** No WebAuthn in this browser, or no authenticator that can do what is asked. */
  | 'NOT_SUPPORTED'
  /** Any other failure inside the browser's WebAuthn call. */
  | 'WEBAUTHN_FAILED'
  | 'VERIFICATION_FAILED'
  | 'EXPIRED'
  | 'OPERATION_FINAL'
  | 'UNAUTHORIZED'
  | 'NETWORK'
  | 'NUMBER_MATCH_REQUIRED'
  /** register() on an operation that is not a REGISTRATION, or approve() on one that is. */
  | 'WRONG_OPERATION_TYPE'
  /** The details shown do not hash to what the challenge binds (PSD2 RTS art. 5). */
  | 'LINKING_MISMATCH'
  /** The user (or the browser's policy) refused notifications for this app: push cannot be used, polling stays. */
  | 'PUSH_DENIED'
  /** The browser could not subscribe to its push service (e.g. unreachable). */
  | 'PUSH_FAILED'
  /** A 4xx the SDK has no specific code for; `problem.code` says which. */
  | 'REQUEST_FAILED'
  | 'SERVER_ERROR';

export interface CustosErrorInit {
  status?: number;
  problem?: ProblemDetails;
  traceId?: string;
  cause?: unknown;
}

export class CustosError extends Error {
  override name = 'CustosError';
  readonly code: CustosErrorCode;
  readonly status?: number;
  readonly problem?: ProblemDetails;
  /** The server's trace id for this request: quote it when reporting a problem. */
  readonly traceId?: string;

  constructor(code: CustosErrorCode, message: string, init: CustosErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    if (init.status !== undefined) this.status = init.status;
    if (init.problem !== undefined) this.problem = init.problem;
    const traceId = init.traceId ?? init.problem?.traceId;
    if (traceId !== undefined) this.traceId = traceId;
  }
}

/** Chooses the SDK code for an HTTP error answer; the problem's own `code` wins over the status. */
export function codeForProblem(status: number, problem: ProblemDetails | undefined): CustosErrorCode {
  switch (problem?.code) {
    case 'VERIFICATION_FAILED':
      return 'VERIFICATION_FAILED';
    case 'OPERATION_EXPIRED':
      return 'EXPIRED';
    case 'OPERATION_FINAL':
      // An operation that ran out of time is reported as expired: the user can do nothing but start over.
      return problem.operationStatus === 'EXPIRED' ? 'EXPIRED' : 'OPERATION_FINAL';
  }
  if (status === 401) return 'UNAUTHORIZED';
  if (status >= 500 || problem === undefined) return 'SERVER_ERROR';
  return 'REQUEST_FAILED';
}

/**
 * Maps what `@simplewebauthn/browser` throws. Its WebAuthnError keeps the DOMException's name,
 * which is the one signal browsers give consistently; the message varies by platform.
 */
export function fromWebAuthnError(error: unknown): CustosError {
  if (error instanceof CustosError) return error;
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  switch (name) {
    case 'NotAllowedError':
    case 'AbortError':
      return new CustosError('USER_CANCELLED', message || 'The user cancelled the passkey prompt', { cause: error });
    case 'SecurityError': {
      const localhost = localhostUrlFor((globalThis as { location?: { href?: string } }).location?.href);
      const hint = localhost ? ` Passkeys need a domain name, not an IP address: open ${localhost}` : '';
      return new CustosError('RP_ID_MISMATCH', `${message || 'This page may not use passkeys of this relying party'}.${hint}`, { cause: error });
    }
    case 'InvalidStateError':
      return new CustosError('ALREADY_REGISTERED', message || 'This authenticator already holds a passkey of this user', { cause: error });
    case 'NotSupportedError':
    case 'ConstraintError':
      return new CustosError('NOT_SUPPORTED', message || 'No authenticator supports this request', { cause: error });
    default:
      return new CustosError('WEBAUTHN_FAILED', message || 'The passkey ceremony failed', { cause: error });
  }
}

/**
 * The same page on `localhost` when it is opened on a loopback IP (127.0.0.1, [::1]), else null. WebAuthn refuses IP
 * addresses as relying parties, so a page opened from wrangler's printed http://127.0.0.1 URL must say so up front.
 */
export function localhostUrlFor(href: string | undefined): string | null {
  if (!href) return null;
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return null;
  }
  if (!/^127(\.\d{1,3}){3}$/.test(url.hostname) && url.hostname !== '[::1]') return null;
  url.hostname = 'localhost';
  return url.href;
}
