// Guards request bodies before any handler runs: size limit, JSON-only Content-Type, parseable JSON.
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';

export const MAX_BODY_BYTES = 256 * 1024;
const JSON_TYPE = /^application\/(merge-patch\+)?json\s*(;.*)?$/i;

/**
 * For methods with a body: refuse more than 256 KiB (413), anything but JSON (415) and malformed
 * JSON (400). An empty body is allowed (action calls take an optional body) and reads as `{}`.
 */
export const jsonBody = createMiddleware<AppEnv>(async (c, next) => {
  const method = c.req.method;
  if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') return next();
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) throw new ApiError('PAYLOAD_TOO_LARGE', `The body must be at most ${MAX_BODY_BYTES} bytes.`);
  const buffer = await c.req.raw.clone().arrayBuffer();
  if (buffer.byteLength > MAX_BODY_BYTES) throw new ApiError('PAYLOAD_TOO_LARGE', `The body must be at most ${MAX_BODY_BYTES} bytes.`);
  const contentType = c.req.header('content-type');
  if (buffer.byteLength === 0) {
    if (contentType !== undefined && !JSON_TYPE.test(contentType)) {
      throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json.');
    }
    if (contentType !== undefined) {
      // An empty body is no body: without this, the route's JSON validator fails to parse '' (400) instead of reading `{}`.
      const headers = new Headers(c.req.raw.headers);
      headers.delete('content-type');
      c.req.raw = new Request(c.req.raw, { headers });
    }
    return next();
  }
  if (contentType === undefined || !JSON_TYPE.test(contentType)) {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json (PATCH also takes application/merge-patch+json).');
  }
  if (/^application\/merge-patch\+json/i.test(contentType) && method !== 'PATCH') {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'application/merge-patch+json is for PATCH only.');
  }
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(buffer));
  } catch {
    throw new ApiError('MALFORMED_JSON', 'The body is not valid UTF-8 JSON.');
  }
  return next();
});
