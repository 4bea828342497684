// Health and well-known documents.
import { Hono } from 'hono';
import type { AppEnv } from '../env';
import { publicJwks } from '../domain/result-token';

export const wellKnown = new Hono<AppEnv>();

wellKnown.get('/healthz', async (c) => {
  const db = await c.env.DB.prepare('SELECT 1 AS ok').first<{ ok: number }>().then(() => 'ok', () => 'unavailable');
  return c.json({ status: db === 'ok' ? 'ok' : 'degraded', checks: { d1: db } }, db === 'ok' ? 200 : 503);
});

wellKnown.get('/.well-known/jwks.json', async (c) => {
  c.header('cache-control', 'public, max-age=300');
  return c.json(await publicJwks(c.env.SIGNING_KEYS));
});
