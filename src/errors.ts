// One error model: ApiError + the registry of stable problem codes, rendered as RFC 9457 problem+json.
import type { Context } from 'hono';
import type { ZodError } from 'zod';

export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  MALFORMED_JSON: { status: 400, title: 'The request body is not valid JSON' },
  INVALID_CURSOR: { status: 400, title: 'The cursor is not valid' },
  VERIFICATION_FAILED: { status: 400, title: 'Verification failed' },
  WEBHOOK_URL_REFUSED: { status: 400, title: 'The webhook URL is refused' },
  // Native-app envelopes (docs/native-protocol.md): refused before they reach the operation, nothing written.
  ENVELOPE_MALFORMED: { status: 400, title: 'The body is not a valid request envelope' },
  E2E_KEY_UNKNOWN: { status: 400, title: 'The envelope is encrypted to a key this service does not hold' },
  ENVELOPE_UNREADABLE: { status: 400, title: 'The envelope does not decrypt' },
  DEVICE_SIGNATURE_INVALID: { status: 401, title: 'The envelope is not signed by the key of the device it names' },
  ENVELOPE_STALE: { status: 401, title: 'The envelope is too old or dated in the future' },
  ENVELOPE_REPLAYED: { status: 401, title: 'The envelope was already used' },
  ENVELOPE_BINDING_MISMATCH: { status: 401, title: 'The envelope was made for another request' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication is required' },
  INSUFFICIENT_SCOPE: { status: 403, title: 'The token lacks the scope this call needs' },
  CONSOLE_FORBIDDEN: { status: 403, title: 'Your console role does not allow this' },
  CONSOLE_ADMIN_NOT_FOUND: { status: 404, title: 'No such console administrator' },
  CONSOLE_LAST_OPERATOR: { status: 409, title: 'The last operator cannot be removed' },
  CONSOLE_SELF_REMOVAL: { status: 409, title: 'You cannot remove yourself' },
  CSRF_REFUSED: { status: 403, title: 'The request did not come from a console page' },
  ORIGIN_NOT_ALLOWED: { status: 403, title: 'This web origin may not call the SDK API for this tenant' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  TENANT_NOT_FOUND: { status: 404, title: 'Tenant not found' },
  CLIENT_NOT_FOUND: { status: 404, title: 'API client not found' },
  USER_NOT_FOUND: { status: 404, title: 'User not found' },
  DEVICE_NOT_FOUND: { status: 404, title: 'Device not found' },
  OPERATION_NOT_FOUND: { status: 404, title: 'Operation not found' },
  WEBHOOK_NOT_CONFIGURED: { status: 404, title: 'The tenant has no webhook endpoint' },
  WEBHOOK_DELIVERY_NOT_FOUND: { status: 404, title: 'Webhook delivery not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  CONSOLE_ALREADY_SET_UP: { status: 409, title: 'The console already has an operator' },
  INVITE_NOT_VALID: { status: 410, title: 'The invitation is used, expired or unknown' },
  EXTERNAL_REF_TAKEN: { status: 409, title: 'The externalRef is already used by another user' },
  USER_NOT_ACTIVE: { status: 409, title: 'The user is not active' },
  USER_DEACTIVATED: { status: 409, title: 'The user is deactivated' },
  DEVICE_LOCKED: { status: 409, title: 'The device is locked' },
  DEVICE_NOT_ACTIVE: { status: 409, title: 'The device is not active' },
  DEVICE_DEACTIVATED: { status: 409, title: 'The device is deactivated' },
  DEVICE_NOT_NATIVE: { status: 409, title: 'The device is not a native device' },
  NO_ACTIVE_DEVICE: { status: 409, title: 'The user has no active device' },
  OPERATION_FINAL: { status: 409, title: 'The operation is already final' },
  OPERATION_CONFLICT: { status: 409, title: 'The operation is being completed by another request' },
  WEBHOOK_DISABLED: { status: 409, title: 'The webhook endpoint is disabled' },
  WEBHOOK_ENDPOINT_MISSING: { status: 409, title: 'There is no webhook endpoint to send to' },
  SCA_REQUIRED: { status: 409, title: 'Strong customer authentication is required first' },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, title: 'A request with this Idempotency-Key is still being processed' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'This Idempotency-Key was used with another request' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported Content-Type' },
  NATIVE_ENVELOPE_REQUIRED: { status: 415, title: 'This operation must be answered with an application/jose envelope' },
  // Abuse limits: each answer carries Retry-After (and retryAfterSeconds); the refused request wrote nothing.
  TOO_MANY_LIVE_OPERATIONS: { status: 429, title: 'Too many live operations for this user or device' },
  RATE_LIMITED: { status: 429, title: 'Too many operations were started for this user' },
  AUTHENTICATION_THROTTLED: { status: 429, title: 'Too many failed authentications from this address' },
  INTERNAL: { status: 500, title: 'Internal error' },
  // The deployment is not ready for the request (configuration or schema missing): an operator fixes it, a client retries later.
  PUBLIC_URL_NOT_CONFIGURED: { status: 503, title: 'The service has no public URL configured' },
  SIGNING_KEYS_NOT_CONFIGURED: { status: 503, title: 'The service has no result-token signing key configured' },
  E2E_KEYS_NOT_CONFIGURED: { status: 503, title: 'The service has no E2E key configured for native devices' },
  PUSH_CREDENTIAL_NOT_FOUND: { status: 404, title: 'The tenant has no push credential of that provider' },
  VAPID_KEYS_NOT_CONFIGURED: { status: 503, title: 'The service has no VAPID key configured for Web Push' },
  MIGRATIONS_PENDING: { status: 503, title: 'The database schema is not up to date' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface InvalidParam {
  name: string;
  reason: string;
}

export interface ProblemExtras {
  invalidParams?: InvalidParam[];
  [member: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly extras: ProblemExtras;

  constructor(code: ErrorCode, detail?: string, extras: ProblemExtras = {}) {
    super(detail ?? ERROR_CODES[code].title);
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.extras = extras;
  }
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  traceId: string;
  invalidParams?: InvalidParam[];
  [member: string]: unknown;
}

export function problemBody(error: ApiError, traceId: string): ProblemBody {
  return {
    type: `https://custos.dev/problems/${error.code.toLowerCase().replaceAll('_', '-')}`,
    title: ERROR_CODES[error.code].title,
    status: error.status,
    detail: error.message,
    code: error.code,
    traceId,
    ...error.extras,
  };
}

export function problemResponse(c: Context, error: ApiError): Response {
  const traceId = (c.get('traceId') as string | undefined) ?? 'unknown';
  const headers: Record<string, string> = { 'content-type': 'application/problem+json', 'x-trace-id': traceId };
  // RFC 9110 §10.2.3: a 429 says when to come back, in the header clients and proxies read as well as in the body.
  const retryAfter = error.extras.retryAfterSeconds;
  if (typeof retryAfter === 'number' && Number.isInteger(retryAfter) && retryAfter > 0) headers['retry-after'] = String(retryAfter);
  return new Response(JSON.stringify(problemBody(error, traceId)), { status: error.status, headers });
}

/** Turns zod issues into a 400 VALIDATION_FAILED listing each bad parameter. */
export function problemFromValidation(c: Context, error: ZodError): Response {
  const invalidParams = error.issues.map((issue): InvalidParam => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return { name: [path, ...issue.keys].filter(Boolean).join('.'), reason: 'unknown field' };
    }
    return { name: path || '(body)', reason: issue.message };
  });
  return problemResponse(c, new ApiError('VALIDATION_FAILED', 'One or more parameters are not valid.', { invalidParams }));
}
