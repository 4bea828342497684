// The Node peer: a minimal passkey login server on well-known parts — Hono on @hono/node-server,
// @simplewebauthn/server, users and credentials in SQLite (node:sqlite, Node 22's built-in). Challenges are
// kept server-side and are single use. The bench starts it on 127.0.0.1:$PORT and drives it like Custos.
//   POST /register/options {userId}        → { id, publicKey }   (creates the user if new)
//   POST /register/verify  {id, credential}→ { verified }
//   POST /login/options    {userId}        → { id, publicKey }   (allowCredentials from SQLite)
//   POST /login/verify     {id, credential}→ { verified, userId, credentialId }
//   POST /seed             {count, label}  → placeholder users + credentials for the scale runs
import { DatabaseSync } from 'node:sqlite';
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
} from '@simplewebauthn/server';

const port = Number(process.env.PORT ?? 8796);
const rpID = process.env.RP_ID ?? 'localhost';
const origin = process.env.ORIGIN ?? `http://localhost:${port}`;
const CHALLENGE_TTL_MS = 5 * 60_000;

const db = new DatabaseSync(process.env.DB_PATH ?? ':memory:');
db.exec(`
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = NORMAL;
  CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS credentials (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), public_key BLOB NOT NULL,
    counter INTEGER NOT NULL, transports TEXT, created_at INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS credentials_user ON credentials(user_id);
  CREATE TABLE IF NOT EXISTS challenges (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, kind TEXT NOT NULL, challenge TEXT NOT NULL, expires_at INTEGER NOT NULL);
`);
const q = {
  userById: db.prepare('SELECT id, name FROM users WHERE id = ?'),
  insertUser: db.prepare('INSERT OR IGNORE INTO users (id, name, created_at) VALUES (?, ?, ?)'),
  credsOfUser: db.prepare('SELECT id, transports FROM credentials WHERE user_id = ?'),
  credById: db.prepare('SELECT id, user_id, public_key, counter, transports FROM credentials WHERE id = ?'),
  insertCred: db.prepare('INSERT INTO credentials (id, user_id, public_key, counter, transports, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
  updateCounter: db.prepare('UPDATE credentials SET counter = ? WHERE id = ?'),
  insertChallenge: db.prepare('INSERT INTO challenges (id, user_id, kind, challenge, expires_at) VALUES (?, ?, ?, ?, ?)'),
  // Single use: taking the challenge deletes it, whatever the verification then says.
  takeChallenge: db.prepare('DELETE FROM challenges WHERE id = ? AND kind = ? RETURNING user_id, challenge, expires_at'),
};

const app = new Hono();
app.get('/healthz', (c) => c.json({ ok: true, peer: true }));

app.post('/register/options', async (c) => {
  const { userId } = await c.req.json();
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > 64) return c.json({ error: 'userId' }, 400);
  q.insertUser.run(userId, userId, Date.now());
  const existing = q.credsOfUser.all(userId);
  const options = await generateRegistrationOptions({
    rpName: 'Peer', rpID, userName: userId, userID: new TextEncoder().encode(userId), attestationType: 'none',
    excludeCredentials: existing.map((cr) => ({ id: cr.id, transports: cr.transports ? JSON.parse(cr.transports) : undefined })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
  });
  const id = randomUUID();
  q.insertChallenge.run(id, userId, 'reg', options.challenge, Date.now() + CHALLENGE_TTL_MS);
  return c.json({ id, publicKey: options });
});

app.post('/register/verify', async (c) => {
  const { id, credential } = await c.req.json();
  const challenge = typeof id === 'string' ? q.takeChallenge.get(id, 'reg') : undefined;
  if (!challenge || challenge.expires_at < Date.now()) return c.json({ error: 'challenge' }, 400);
  let verification;
  try {
    verification = await verifyRegistrationResponse({
      response: credential, expectedChallenge: challenge.challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: true,
    });
  } catch (error) {
    return c.json({ error: 'verification', detail: String(error?.message ?? error) }, 400);
  }
  if (!verification.verified) return c.json({ verified: false }, 400);
  const { credential: cr } = verification.registrationInfo;
  q.insertCred.run(cr.id, challenge.user_id, Buffer.from(cr.publicKey), cr.counter, JSON.stringify(cr.transports ?? []), Date.now());
  return c.json({ verified: true });
});

app.post('/login/options', async (c) => {
  const { userId } = await c.req.json();
  const user = typeof userId === 'string' ? q.userById.get(userId) : undefined;
  if (!user) return c.json({ error: 'user' }, 404);
  const creds = q.credsOfUser.all(userId);
  const options = await generateAuthenticationOptions({
    rpID, userVerification: 'required',
    allowCredentials: creds.map((cr) => ({ id: cr.id, transports: cr.transports ? JSON.parse(cr.transports) : undefined })),
  });
  const id = randomUUID();
  q.insertChallenge.run(id, userId, 'auth', options.challenge, Date.now() + CHALLENGE_TTL_MS);
  return c.json({ id, publicKey: options });
});

app.post('/login/verify', async (c) => {
  const { id, credential } = await c.req.json();
  const challenge = typeof id === 'string' ? q.takeChallenge.get(id, 'auth') : undefined;
  if (!challenge || challenge.expires_at < Date.now()) return c.json({ error: 'challenge' }, 400);
  const stored = typeof credential?.id === 'string' ? q.credById.get(credential.id) : undefined;
  if (!stored || stored.user_id !== challenge.user_id) return c.json({ error: 'credential' }, 400);
  let verification;
  try {
    verification = await verifyAuthenticationResponse({
      response: credential, expectedChallenge: challenge.challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: true,
      credential: { id: stored.id, publicKey: new Uint8Array(stored.public_key), counter: stored.counter, transports: stored.transports ? JSON.parse(stored.transports) : undefined },
    });
  } catch (error) {
    return c.json({ error: 'verification', detail: String(error?.message ?? error) }, 400);
  }
  if (!verification.verified) return c.json({ verified: false }, 400);
  q.updateCounter.run(verification.authenticationInfo.newCounter, stored.id);
  return c.json({ verified: true, userId: challenge.user_id, credentialId: stored.id });
});

/** Placeholder users with one credential each (never asked to verify), so the store can be grown like Custos's. */
app.post('/seed', async (c) => {
  const { count, label } = await c.req.json();
  if (!Number.isInteger(count) || count < 1 || count > 1_000_000) return c.json({ error: 'count' }, 400);
  const now = Date.now();
  const key = Buffer.from('seeded');
  db.exec('BEGIN');
  try {
    for (let i = 0; i < count; i++) {
      const user = `${label}-${i}`;
      q.insertUser.run(user, user, now);
      q.insertCred.run(`${label}-${i}-${randomUUID()}`, user, key, 0, '["internal"]', now);
    }
    db.exec('COMMIT');
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
  return c.json({ seeded: count });
});

serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => console.log(`peer listening on 127.0.0.1:${port}`));
