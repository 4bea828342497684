// Shared wire pieces: well-formed strings, problem details, list pagination and the opaque cursor.
import { z } from '@hono/zod-openapi';
import { ApiError } from '../errors';

// In a `u` regex a valid surrogate pair is one (astral) code point, so only a lone half is a \p{Surrogate} match.
const LONE_SURROGATE = /\p{Surrogate}/u;

export const NOT_WELL_FORMED = 'must be well-formed Unicode (it holds a lone UTF-16 surrogate)';

/** String.prototype.isWellFormed (ES2024), written out so it needs no newer lib or runtime. */
export function isWellFormed(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

/**
 * Every string the API stores. JSON can carry a lone surrogate (`"\ud800"`), which UTF-8 cannot:
 * D1 would keep U+FFFD instead, so what is read back (or signed into a result token) would differ
 * from what was accepted. Refused up front instead, as 400 VALIDATION_FAILED naming the field.
 */
export function wellFormedString(): z.ZodString {
  return z.string().refine(isWellFormed, NOT_WELL_FORMED);
}

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ example: 'USER_NOT_FOUND' }),
    traceId: z.string(),
    invalidParams: z.array(z.object({ name: z.string(), reason: z.string() })).optional(),
  })
  .openapi('Problem');

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

const retryAfterHeader = { 'Retry-After': { description: 'Seconds until the request may succeed', schema: { type: 'integer' as const, minimum: 1 } } };

/** 429 of a rule that refuses for a while: problem+json with `retryAfterSeconds` and the Retry-After header. */
export const tooManyRequests = (codes: string) => ({
  429: { ...problem(`Too many requests (${codes}); retry after Retry-After seconds`), headers: retryAfterHeader },
});

/** 429 of the operator API: too many wrong operator tokens from this address (middleware/auth.ts). */
const operatorThrottled = tooManyRequests('AUTHENTICATION_THROTTLED');

// The body guard (middleware/body.ts) runs only for POST, PUT and PATCH, and only /v1 tokens carry scopes:
// each route lists the refusals it can really give, so the document does not promise a 415 on a GET.
const bodyErrors = {
  413: problem('Body over 256 KiB (PAYLOAD_TOO_LARGE)'),
  415: problem('Body is not JSON (UNSUPPORTED_MEDIA_TYPE)'),
} as const;

/** Error responses of a relying-party (/v1) route without a request body (GET, DELETE). */
export const readErrors = {
  400: problem('Invalid request (VALIDATION_FAILED, INVALID_CURSOR)'),
  401: problem('Missing, expired or revoked access token (UNAUTHENTICATED)'),
  403: problem('The token lacks the needed scope (INSUFFICIENT_SCOPE)'),
} as const;

/** Error responses of a relying-party (/v1) route that takes a body. */
export const commonErrors = {
  ...readErrors,
  400: problem('Invalid request (VALIDATION_FAILED, MALFORMED_JSON, INVALID_CURSOR)'),
  ...bodyErrors,
} as const;

/** Error responses of an operator (/admin/v1) route without a request body. */
export const operatorReadErrors = {
  400: problem('Invalid request (VALIDATION_FAILED, INVALID_CURSOR)'),
  401: problem('Missing or wrong ADMIN_TOKEN, or none configured (UNAUTHENTICATED)'),
  ...operatorThrottled,
} as const;

/** Error responses of an operator (/admin/v1) route that takes a body. */
export const operatorErrors = {
  ...operatorReadErrors,
  400: problem('Invalid request (VALIDATION_FAILED, MALFORMED_JSON)'),
  ...bodyErrors,
} as const;

/** 422 of a POST whose Idempotency-Key was already used with another body. */
export const idempotencyReused = { 422: problem('The Idempotency-Key was used with another request (IDEMPOTENCY_KEY_REUSED)') } as const;

export const notFound = (code: string) => ({ 404: problem(`Not found (${code})`) });
export const conflict = (codes: string) => ({ 409: problem(`Conflict (${codes})`) });

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ description: '1–100, default 20' }),
  cursor: z.string().max(200).optional().openapi({ description: 'Opaque cursor from a previous page' }),
});

export function encodeCursor(lastKey: string | number): string {
  return btoa(JSON.stringify({ k: lastKey })).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** Decodes a cursor and checks its key has the expected shape; anything forged is a 400. */
export function decodeCursor<T extends string | number>(cursor: string | undefined, isValid: (key: unknown) => key is T): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const json = atob(cursor.replaceAll('-', '+').replaceAll('_', '/'));
    const parsed = JSON.parse(json) as { k?: unknown };
    if (parsed && typeof parsed === 'object' && isValid(parsed.k)) return parsed.k;
  } catch {
    // fall through to the refusal below
  }
  throw new ApiError('INVALID_CURSOR', 'The cursor was not issued by this service.', {
    invalidParams: [{ name: 'cursor', reason: 'not a cursor issued by this service' }],
  });
}

/**
 * A page from `limit + 1` fetched rows: the extra row only proves another page exists, so the last
 * page says `nextCursor: null` itself (API.md conventions) instead of pointing at an empty page.
 */
export function pageAhead<T>(rows: T[], limit: number, keyOf: (item: T) => string | number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
}

/** A page from at most `limit` fetched rows; a full page always gets a cursor, even when nothing follows (prefer pageAhead). */
export function page<T>(items: T[], limit: number, keyOf: (item: T) => string | number): { items: T[]; nextCursor: string | null } {
  const last = items[items.length - 1];
  return { items, nextCursor: items.length === limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
}

export const listOf = <T extends z.ZodTypeAny>(item: T, name: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() }).openapi(name);

export const IdParam = (name: string, example: string) =>
  z.string().min(1).max(64).openapi({ param: { name, in: 'path' }, example });
