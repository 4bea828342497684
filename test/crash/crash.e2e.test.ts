// Kills a real `wrangler dev` (SIGKILL to wrangler and workerd) in the middle of finishes, cancels, locks and an expiry, restarts it on the same state, and checks that D1, the operation, the audit chain and the webhooks agree.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateVars } from '../../scripts/dev-vars.mjs';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { verifyWebhook } from '../../packages/node/src/webhooks.ts';
import { call, crashPicture, freshState, recordedEvents, root, sleep, startReceiver, waitFor, Wrangler, type Answer, type CrashPicture, type Received } from './harness.ts';

const PORT = 8792;
const HOOK_PORT = 8795;
const ORIGIN = `http://localhost:${PORT}`;
const persistDir = join(root, '.wrangler/crash-state');
const logDir = join(root, 'test-artifacts/crash');
const FINAL = new Set(['COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED']);

/** Finish kills: the delay after the request left, in ms. A finish takes ~10–40 ms here, so both sides of its commit are hit. */
const FINISH_DELAYS = [0, 5, 10, 15, 20, 28, 40, 60];
const CANCEL_DELAYS = [3, 12];
const LOCK_DELAYS = [4, 15];
/** Expiry: kill this long after expiresAt, while the shard's alarm is expiring the operation. */
const EXPIRY_DELAY = 8;

interface Row {
  iteration: number;
  kind: string;
  killMs: number;
  firstAnswer: string;
  /** D1 on disk at the kill: the history row's status (final = the first request's commit had happened). */
  d1AtKill: string;
  committed: boolean;
  /** The shard's stored state at the kill (and a pending intent, if any). */
  shardAtKill: string;
  retry: string;
  outcome: string;
}

let wrangler: Wrangler;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let adminToken = '';
let accessToken = '';
let webhookSecret = '';
let tenantId = '';
let userId = '';
let deviceId = '';
let authenticator: SoftAuthenticator;
const rows: Row[] = [];
/** Every operation this suite drove to a final state, with that state: the webhook check at the end goes through them. */
const finals = new Map<string, string>();

const admin = (method: string, path: string, json?: unknown): Promise<Answer> => call(PORT, method, path, { headers: { authorization: `Bearer ${adminToken}` }, json });
const rp = (method: string, path: string, json?: unknown): Promise<Answer> => call(PORT, method, path, { headers: { authorization: `Bearer ${accessToken}` }, json });
const sdk = (op: { id: string; sdk: { token: string } }, action: string, json: unknown): Promise<Answer> =>
  call(PORT, 'POST', `/sdk/v1/operations/${op.id}/${action}`, { headers: { authorization: `Bearer ${op.sdk.token}` }, json });

function expectStatus(answer: Answer, status: number, what: string): any {
  if (answer.status !== status) throw new Error(`${what}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Settles a request the server may die under: the answer, or null when it was lost with the connection. */
async function settle(request: Promise<Answer>): Promise<Answer | null> {
  try {
    return await request;
  } catch {
    return null;
  }
}

const describeAnswer = (answer: Answer | null): string =>
  answer === null ? 'lost' : `${answer.status} ${answer.body?.status ?? answer.body?.code ?? ''}`.trim();

function pictureOf(picture: CrashPicture): { d1AtKill: string; committed: boolean; shardAtKill: string } {
  const d1 = picture.d1?.status ?? 'no row';
  const shard = picture.shard ? `${picture.shard.status}${picture.shard.intent ? ` +intent ${picture.shard.intent}` : ''}${picture.shard.finishDigest ? ' +digest' : ''}` : 'no state';
  return { d1AtKill: d1, committed: FINAL.has(d1), shardAtKill: shard };
}

/** Kills the server `delayMs` after `request` left, reads the disk while it is dead, restarts it. */
async function killDuring(request: Promise<Answer>, delayMs: number, operationId: string): Promise<{ first: Answer | null; picture: CrashPicture }> {
  const first = settle(request);
  await sleep(delayMs);
  await wrangler.kill();
  const answer = await first;
  const picture = crashPicture(persistDir, operationId, userId);
  await wrangler.start();
  return { first: answer, picture };
}

async function startOperation(body: Record<string, unknown>): Promise<{ id: string; expiresAt: string; sdk: { token: string } }> {
  return expectStatus(await rp('POST', '/v1/operations', { userId, ...body }), 201, `start ${String(body.type)}`);
}

function kindBody(kind: 'AUTHENTICATION' | 'AUTHORISATION', n: number): Record<string, unknown> {
  if (kind === 'AUTHORISATION') {
    return { type: kind, transaction: { amount: `${10 + n}.50`, currency: 'EUR', payee: { name: 'ACME Shop', account: 'DE89370400440532013000' }, reference: `crash-${n}` } };
  }
  return { type: kind, context: { title: `Sign in (crash ${n})` } };
}

/** All audit entries of the test user, in chain order (paged). */
async function auditOfUser(): Promise<{ action: string; targetId: string; seq: number }[]> {
  const items: { action: string; targetId: string; seq: number }[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 50; page++) {
    const body = expectStatus(await rp('GET', `/v1/audit-events?userId=${userId}&limit=100${cursor ? `&cursor=${cursor}` : ''}`), 200, 'audit events');
    items.push(...body.items);
    cursor = body.nextCursor;
    if (!cursor) return items;
  }
  throw new Error('more than 50 pages of audit events');
}

async function historyStatus(operationId: string): Promise<string | undefined> {
  const body = expectStatus(await rp('GET', `/v1/devices/${deviceId}/operations?limit=100`), 200, 'device history');
  return (body.items as { id: string; status: string }[]).find((o) => o.id === operationId)?.status;
}

/**
 * The agreement after a restart: the operation's status, the D1 history row and the audit trail say the same final
 * state, it stays so, a cancel is refused as final, the device counted no failure and the chain verifies.
 */
async function expectAgreement(operationId: string, expected: string): Promise<void> {
  const read = async () => {
    const live = expectStatus(await rp('GET', `/v1/operations/${operationId}`), 200, 'operation status');
    return { live: live.status as string, history: await historyStatus(operationId) };
  };
  const first = await read();
  expect(first, `operation ${operationId}: status and D1 history`).toEqual({ live: expected, history: expected });
  // A final state never changes: the same a few seconds later (alarms, the sweeper and reconciling have run meanwhile).
  await sleep(2000);
  expect(await read(), `operation ${operationId} a few seconds later`).toEqual(first);
  const cancel = await rp('POST', `/v1/operations/${operationId}/cancel`, {});
  expect([cancel.status, cancel.body?.code, cancel.body?.operationStatus]).toEqual([409, 'OPERATION_FINAL', expected]);

  const device = expectStatus(await rp('GET', `/v1/devices/${deviceId}`), 200, 'device');
  // No unearned failure (a replayed or re-verified assertion counted as wrong, a COUNTER_REGRESSION).
  expect({ status: device.status, failedAttempts: device.failedAttempts }).toEqual({ status: 'ACTIVE', failedAttempts: 0 });

  const verify = expectStatus(await rp('GET', '/v1/audit-events/verify'), 200, 'audit verify');
  expect(verify.valid, JSON.stringify(verify)).toBe(true);
  const actions = (await auditOfUser()).filter((e) => e.targetId === operationId).map((e) => e.action);
  expect(actions, `audit of ${operationId}`).toEqual(['operation.started', `operation.${expected.toLowerCase()}`]);
  finals.set(operationId, expected);
}

beforeAll(async () => {
  for (const asset of ['public/sdk/custos.js', 'public/app/index.html']) {
    if (!existsSync(join(root, asset))) throw new Error(`${asset} is missing: run \`npm run build\` first (npm test builds before its suites).`);
  }
  freshState(persistDir);
  const keys = await generateVars();
  adminToken = keys.ADMIN_TOKEN;
  receiver = await startReceiver(HOOK_PORT);
  wrangler = new Wrangler({
    port: PORT, persistDir, logDir,
    vars: {
      ADMIN_TOKEN: keys.ADMIN_TOKEN, SIGNING_KEYS: keys.SIGNING_KEYS, E2E_KEYS: keys.E2E_KEYS, WEBHOOK_SECRET_KEY: keys.WEBHOOK_SECRET_KEY,
      ALLOW_LOCAL_WEBHOOKS: 'true', OUTBOX_SWEEP_SECONDS: '3',
    },
  });
  await wrangler.start();

  const tenant = expectStatus(await admin('POST', '/admin/v1/tenants', {
    name: 'Crash', rpId: 'localhost', origins: [ORIGIN],
    // One user runs every iteration within a minute or two: the abuse limits' defaults (10 starts a minute) are for people.
    policy: { maxStartsPerUserPerMinute: 600, maxLiveOperationsPerUser: 50 },
  }), 201, 'tenant');
  tenantId = tenant.id;
  const client = expectStatus(await admin('POST', `/admin/v1/tenants/${tenantId}/clients`, { name: 'crash' }), 201, 'client');
  const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64');
  const token = expectStatus(await call(PORT, 'POST', '/oauth/token', { headers: { authorization: `Basic ${basic}` }, form: { grant_type: 'client_credentials' } }), 200, 'token');
  accessToken = token.access_token;
  // The endpoint first: events are recorded only for a tenant that has one (and this PUT arms the outbox sweeper).
  webhookSecret = expectStatus(await admin('PUT', `/admin/v1/tenants/${tenantId}/webhook`, { url: `http://127.0.0.1:${HOOK_PORT}/hook` }), 200, 'webhook').secret;

  userId = expectStatus(await rp('POST', '/v1/users', { externalRef: 'crash-user' }), 201, 'user').id;
  authenticator = await SoftAuthenticator.create({ rpId: 'localhost', origin: ORIGIN });
  const registration = await startOperation({ type: 'REGISTRATION' });
  const { publicKey } = expectStatus(await sdk(registration, 'start', {}), 200, 'registration start');
  const finished = expectStatus(await sdk(registration, 'finish', { credential: await authenticator.register(publicKey) }), 200, 'registration finish');
  expect(finished.status).toBe('COMPLETED');
  deviceId = finished.deviceId;
}, 240_000);

afterAll(async () => {
  await wrangler?.stop();
  await receiver?.close();
  if (rows.length > 0) {
    console.log('\ncrash iterations (committed = D1 held the final state on disk when the server died)');
    console.table(rows);
  }
});

describe('kill -9 of wrangler dev mid-request, then restart on the same state', () => {
  it('a finish: the device’s identical retry completes, whether or not the first commit happened', async () => {
    for (const [n, delay] of FINISH_DELAYS.entries()) {
      const kind = n % 2 === 0 ? 'AUTHENTICATION' : 'AUTHORISATION';
      const op = await startOperation(kindBody(kind, n));
      const { publicKey } = expectStatus(await sdk(op, 'start', {}), 200, 'sdk start');
      const body = { credential: await authenticator.assert(publicKey) };
      const { first, picture } = await killDuring(sdk(op, 'finish', body), delay, op.id);
      // The answer was lost: the device sends the very same request again.
      const retry = first === null ? await sdk(op, 'finish', body) : null;
      const row = { iteration: rows.length + 1, kind: `finish ${kind}`, killMs: delay, firstAnswer: describeAnswer(first), ...pictureOf(picture), retry: retry ? describeAnswer(retry) : 'none (answered)', outcome: '?' };
      rows.push(row);
      const answered = retry ?? first!;
      expect.soft({ status: answered.status, body: answered.body }, `${first ? 'first answer' : 'retry'} of ${op.id} (at the kill: ${JSON.stringify(picture)})`)
        .toEqual({ status: 200, body: { status: 'COMPLETED', deviceId } });
      await expectAgreement(op.id, 'COMPLETED');
      row.outcome = 'COMPLETED';
    }
  });

  it('a cancel: the operation ends CANCELLED and stays so', async () => {
    for (const [n, delay] of CANCEL_DELAYS.entries()) {
      const op = await startOperation({ ...kindBody('AUTHENTICATION', 100 + n), deviceId });
      // One still PENDING, one IN_PROGRESS (an SDK start ran).
      if (n % 2 === 1) expectStatus(await sdk(op, 'start', {}), 200, 'sdk start');
      const { first, picture } = await killDuring(rp('POST', `/v1/operations/${op.id}/cancel`, {}), delay, op.id);
      let retry: Answer | null = null;
      const row = { iteration: rows.length + 1, kind: 'cancel', killMs: delay, firstAnswer: describeAnswer(first), ...pictureOf(picture), retry: 'none (answered)', outcome: '?' };
      rows.push(row);
      if (first === null) {
        // The relying party never learnt the outcome and asks again: done (200) or done before (409 OPERATION_FINAL).
        retry = await rp('POST', `/v1/operations/${op.id}/cancel`, {});
        row.retry = describeAnswer(retry);
        const settled = retry.status === 200 ? retry.body.status : retry.body?.operationStatus;
        expect([retry.status === 200 || retry.body?.code === 'OPERATION_FINAL', settled]).toEqual([true, 'CANCELLED']);
      } else {
        expect([first.status, first.body?.status]).toEqual([200, 'CANCELLED']);
      }
      await expectAgreement(op.id, 'CANCELLED');
      row.outcome = 'CANCELLED';
    }
  });

  it('a user lock: its live operation ends CANCELLED (the sweeper finishes a cut cascade), and unlocking does not revive it', async () => {
    for (const [n, delay] of LOCK_DELAYS.entries()) {
      const op = await startOperation({ ...kindBody('AUTHORISATION', 200 + n), deviceId });
      expectStatus(await sdk(op, 'start', {}), 200, 'sdk start');
      const { first, picture } = await killDuring(rp('POST', `/v1/users/${userId}/lock`, {}), delay, op.id);
      const row = { iteration: rows.length + 1, kind: 'user lock', killMs: delay, firstAnswer: describeAnswer(first), ...pictureOf(picture), retry: 'none (answered)', outcome: '?' };
      rows.push(row);
      if (first !== null) {
        expect([first.status, first.body?.status]).toEqual([200, 'LOCKED']);
      } else if (picture.userStatus === 'LOCKED') {
        row.retry = 'none (lock committed)';
      } else {
        // The lock never committed: the relying party asks again.
        const retry = await rp('POST', `/v1/users/${userId}/lock`, {});
        row.retry = describeAnswer(retry);
        expect([retry.status, retry.body?.status]).toEqual([200, 'LOCKED']);
      }
      // Committed but unanswered, the cascade may have been cut: the outbox sweeper (every 3 s here) must finish it.
      await waitFor(`operation ${op.id} CANCELLED after the lock`, async () => {
        const status = expectStatus(await rp('GET', `/v1/operations/${op.id}`), 200, 'status').status;
        return status === 'CANCELLED' ? status : undefined;
      }, { timeoutMs: 30_000, everyMs: 500 });
      expect([expectStatus(await rp('POST', `/v1/users/${userId}/unlock`, {}), 200, 'unlock').status]).toEqual(['ACTIVE']);
      await expectAgreement(op.id, 'CANCELLED');
      row.outcome = 'CANCELLED';
    }
  });

  it('an expiry: killed while the shard expires the operation, it ends EXPIRED and stays so', async () => {
    const op = await startOperation({ ...kindBody('AUTHENTICATION', 300), deviceId, ttlSeconds: 2 });
    expectStatus(await sdk(op, 'start', {}), 200, 'sdk start');
    const killAt = Date.parse(op.expiresAt) + EXPIRY_DELAY;
    // The shard's alarm fires at expiresAt: the kill lands while it writes EXPIRED, or just after.
    await sleep(Math.max(killAt - Date.now(), 0));
    await wrangler.kill();
    const picture = crashPicture(persistDir, op.id, userId);
    const row = { iteration: rows.length + 1, kind: 'expiry', killMs: EXPIRY_DELAY, firstAnswer: '-', ...pictureOf(picture), retry: '-', outcome: '?' };
    rows.push(row);
    await wrangler.start();
    await waitFor(`operation ${op.id} EXPIRED`, async () => {
      const status = expectStatus(await rp('GET', `/v1/operations/${op.id}`), 200, 'status').status;
      return status === 'EXPIRED' ? status : undefined;
    }, { timeoutMs: 20_000, everyMs: 500 });
    await expectAgreement(op.id, 'EXPIRED');
    row.outcome = 'EXPIRED';
  });

  it('webhooks: every recorded event arrives, signed, with one webhook-id per operation outcome', async () => {
    expect(finals.size).toBeGreaterThan(0);
    const events = (r: Received) => JSON.parse(r.text) as { id: string; type: string; data: { operationId?: string } };
    const outcomeEventOf = (operationId: string, status: string) =>
      receiver.received.find((r) => {
        const event = events(r);
        return event.type === `operation.${status.toLowerCase()}` && event.data.operationId === operationId;
      });
    // The sweeper (every 3 s, 3 s grace) hands over what a kill left undelivered: bounded wait for all outcomes.
    const receivedIds = () => new Set(receiver.received.map((r) => r.headers['webhook-id'] as string));
    await waitFor('every event recorded in D1 received, and an operation.<status> webhook for every final operation', async () => {
      const ids = receivedIds();
      const allEvents = recordedEvents(persistDir).every((e) => ids.has(e.id));
      return allEvents && [...finals].every(([id, status]) => outcomeEventOf(id, status)) ? true : undefined;
    }, { timeoutMs: 60_000, everyMs: 500 });

    // Every delivery the service recorded was received, and every received request is correctly signed.
    const recorded = new Set<string>();
    let cursor: string | null = null;
    for (let page = 0; page < 50; page++) {
      const body = expectStatus(await rp('GET', `/v1/webhooks/deliveries?limit=100${cursor ? `&cursor=${cursor}` : ''}`), 200, 'deliveries');
      for (const d of body.items as { eventId: string }[]) recorded.add(d.eventId);
      cursor = body.nextCursor;
      if (!cursor) break;
    }
    const byId = new Map<string, Received[]>();
    for (const r of receiver.received) {
      const event = await verifyWebhook(webhookSecret, r.headers, r.body);
      const id = r.headers['webhook-id'] as string;
      expect(event.id).toBe(id);
      byId.set(id, [...(byId.get(id) ?? []), r]);
    }
    for (const eventId of recorded) expect(byId.has(eventId), `recorded delivery of ${eventId} was received`).toBe(true);
    // The outbox itself: every event D1 recorded (with its change) reached the receiver at least once.
    const inD1 = recordedEvents(persistDir);
    expect(inD1.filter((e) => e.operationId !== null && finals.has(e.operationId)).length).toBeGreaterThanOrEqual(finals.size);
    expect(inD1.filter((e) => !byId.has(e.id)).map((e) => `${e.type} ${e.id}`), 'events recorded in D1 but never received').toEqual([]);
    // A retry of an event is the same event: same webhook-id, same bytes.
    for (const [id, copies] of byId) {
      for (const copy of copies) expect(copy.text, `copies of ${id}`).toBe(copies[0]!.text);
    }
    // Exactly one outcome event per operation, of the final status, whatever the crashes did.
    for (const [operationId, status] of finals) {
      const outcomeIds = new Set(
        receiver.received.filter((r) => events(r).type.startsWith('operation.') && events(r).data.operationId === operationId).map((r) => events(r).type + ' ' + r.headers['webhook-id']),
      );
      expect([...outcomeIds].map((s) => s.split(' ')[0]), `outcome events of ${operationId}`).toEqual([`operation.${status.toLowerCase()}`]);
    }
    const duplicates = [...byId.values()].filter((copies) => copies.length > 1).length;
    console.log(`webhooks: ${inD1.length} events in D1, ${receiver.received.length} requests received, ${byId.size} distinct webhook-ids, ${duplicates} delivered more than once`);
  }, 120_000);
});
