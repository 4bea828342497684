// Guards request bodies before any handler runs: size limit, JSON-only Content-Type, parseable JSON.
// The body is read once, here: its bytes and text go into Hono's body cache (c.req.bodyCache), and
// c.req.json() answers with the value parsed here, so the routes' validators and the idempotency hash
// reuse them instead of cloning the request or parsing it again.
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';
import { ApiError } from '../errors';

export const MAX_BODY_BYTES = 256 * 1024;
const JSON_TYPE = /^application\/(merge-patch\+)?json\s*(;.*)?$/i;

/** What HonoRequest#cachedBody keeps per read (its type says Partial<Body>; at run time each entry is the read's promise). */
interface CachedReads {
  arrayBuffer?: Promise<ArrayBuffer>;
  text?: Promise<string>;
}

function cacheOf(c: Context<AppEnv>): CachedReads {
  return c.req.bodyCache as unknown as CachedReads;
}

function tooLarge(): ApiError {
  return new ApiError('PAYLOAD_TOO_LARGE', `The body must be at most ${MAX_BODY_BYTES} bytes.`);
}

/**
 * The request's body, at most MAX_BODY_BYTES (413 beyond, also for a stream without Content-Length:
 * reading stops at the first chunk past the limit). Read once per request: the bytes go into Hono's
 * body cache, so a later c.req.arrayBuffer() / text() is served from it and nothing reads the stream again.
 */
export async function boundedBody(c: Context<AppEnv>): Promise<Uint8Array> {
  const cached = cacheOf(c).arrayBuffer;
  if (cached) {
    const buffer = await cached;
    if (buffer.byteLength > MAX_BODY_BYTES) throw tooLarge();
    return new Uint8Array(buffer);
  }
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const stream = c.req.raw.body;
  let bytes = new Uint8Array(0);
  if (stream !== null) {
    const chunks: Uint8Array[] = [];
    let length = 0;
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.byteLength;
      if (length > MAX_BODY_BYTES) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge();
      }
      chunks.push(value);
    }
    bytes = new Uint8Array(length);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.byteLength;
    }
  }
  const buffer = bytes.buffer;
  cacheOf(c).arrayBuffer = Promise.resolve(buffer);
  return new Uint8Array(buffer);
}

/**
 * For methods with a body: refuse more than 256 KiB (413), anything but JSON (415) and malformed
 * JSON (400). An empty body is allowed (action calls take an optional body) and reads as `{}`.
 */
export const jsonBody = createMiddleware<AppEnv>(async (c, next) => {
  const method = c.req.method;
  if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') return next();
  const bytes = await boundedBody(c);
  const contentType = c.req.header('content-type');
  let value: unknown;
  let text: string;
  if (bytes.byteLength === 0) {
    if (contentType !== undefined && !JSON_TYPE.test(contentType)) {
      throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json.');
    }
    // An empty body is no body: the route's JSON validator reads `{}` rather than failing to parse ''.
    value = {};
    text = '';
  } else {
    if (contentType === undefined || !JSON_TYPE.test(contentType)) {
      throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json (PATCH also takes application/merge-patch+json).');
    }
    if (/^application\/merge-patch\+json/i.test(contentType) && method !== 'PATCH') {
      throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'application/merge-patch+json is for PATCH only.');
    }
    try {
      // fatal: invalid UTF-8 is malformed, not replaced; a leading BOM is dropped, as Request.text() does.
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
      value = JSON.parse(text) as unknown;
    } catch {
      throw new ApiError('MALFORMED_JSON', 'The body is not valid UTF-8 JSON.');
    }
  }
  // Hono's cache: text() (the idempotency hash) is served from here; json() would parse that text
  // again, so this request's json() answers with the value parsed above. Only the route's validator
  // reads it (zod builds its own output), so nothing changes it.
  cacheOf(c).text = Promise.resolve(text);
  const parsed = Promise.resolve(value);
  c.req.json = <T>() => parsed as Promise<T>;
  return next();
});

