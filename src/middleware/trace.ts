// Gives every request a trace id (or keeps a sane caller-supplied one) and echoes it as X-Trace-Id.
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env';

const CALLER_TRACE = /^[A-Za-z0-9._-]{8,64}$/;

export const traceId = createMiddleware<AppEnv>(async (c, next) => {
  const supplied = c.req.header('x-trace-id');
  const id = supplied && CALLER_TRACE.test(supplied) ? supplied : crypto.randomUUID();
  c.set('traceId', id);
  await next();
  c.res.headers.set('x-trace-id', id);
});
