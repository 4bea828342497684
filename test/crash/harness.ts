// The crash test's machinery: a `wrangler dev` that can be killed with SIGKILL and restarted on the same state, a webhook receiver, an HTTP client and a read-only look into the persisted SQLite files.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export const root = new URL('../..', import.meta.url).pathname;
const wranglerJs = join(root, 'node_modules/wrangler/bin/wrangler.js');

/**
 * Like bench/lib/server.mjs: no metrics, no config watching, no local observability or explorer (each adds work to
 * every request, which on 2 cores moves the timing windows this test aims at).
 */
const WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', WRANGLER_CI_DISABLE_CONFIG_WATCHING: 'true', X_LOCAL_OBSERVABILITY: 'false', X_LOCAL_EXPLORER: 'false',
  // npm test built public/ already, and this run brings its own state dir and vars (scripts/build.mjs).
  CUSTOS_PREBUILT: '1',
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs` naming `what`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, { timeoutMs = 30_000, everyMs = 200 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface Answer {
  status: number;
  body: any;
}

/**
 * One request to 127.0.0.1 without keep-alive (the server is killed under it). Resolves with the answer, or rejects
 * when the connection dies first: that rejection is "the answer was lost".
 */
export function call(port: number, method: string, path: string, { headers = {}, json, form, timeoutMs = 30_000 }: { headers?: Record<string, string>; json?: unknown; form?: Record<string, string>; timeoutMs?: number } = {}): Promise<Answer> {
  const payload = json !== undefined ? JSON.stringify(json) : form !== undefined ? new URLSearchParams(form).toString() : undefined;
  const all: Record<string, string | number> = { ...headers };
  if (payload !== undefined) {
    all['content-type'] ??= json !== undefined ? 'application/json' : 'application/x-www-form-urlencoded';
    all['content-length'] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: all, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        if ((res.headers['content-type'] ?? '').includes('json') && text.length > 0) body = JSON.parse(text);
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** A port the OS has free on 127.0.0.1 right now (for wrangler's inspector, so it never takes a fixed one others use). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createNetServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Pids whose process group is `pgid` (read from /proc): what is left of a killed wrangler dev. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // comm may hold spaces: the fields after it start behind the last ')'; pgrp is the 3rd of them.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') members.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return members;
}

export interface WranglerOptions {
  port: number;
  persistDir: string;
  vars: Record<string, string>;
  logDir: string;
}

/** Applies the D1 migrations to a fresh persist dir (deleted first). */
export function freshState(persistDir: string): void {
  rmSync(persistDir, { recursive: true, force: true });
  mkdirSync(persistDir, { recursive: true });
  const migrate = spawnSync(process.execPath, [wranglerJs, 'd1', 'migrations', 'apply', 'custos', '--local', '--persist-to', persistDir], {
    cwd: root, encoding: 'utf8', env: { ...process.env, ...WRANGLER_ENV }, timeout: 120_000,
  });
  if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);
}

/** `wrangler dev` in its own process group (wrangler, its proxy workerd and the runtime workerd), so one signal ends all of it. */
export class Wrangler {
  private child: ChildProcess | null = null;
  private starts = 0;
  constructor(private readonly options: WranglerOptions) {}

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    const { port, persistDir, vars, logDir } = this.options;
    if (!(await portIsFree(port))) throw new Error(`port ${port} is taken: stop that process first`);
    mkdirSync(logDir, { recursive: true });
    const logFile = join(logDir, `wrangler-${String(++this.starts).padStart(2, '0')}.log`);
    const log = openSync(logFile, 'w');
    const args = [
      wranglerJs, 'dev', '--port', String(port), '--ip', '127.0.0.1', '--inspector-port', String(await freePort()), '--inspector-ip', '127.0.0.1',
      '--persist-to', persistDir, '--show-interactive-dev-session=false', '--log-level', 'warn',
      ...Object.entries(vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
    ];
    const child = spawn(process.execPath, args, { cwd: root, detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...WRANGLER_ENV } });
    closeSync(log);
    this.child = child;
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (!this.running) throw new Error(`wrangler dev exited while starting; see ${logFile}:\n${tail(logFile)}`);
      try {
        if ((await call(port, 'GET', '/healthz', { timeoutMs: 2000 })).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`wrangler dev was not healthy within 120 s; see ${logFile}:\n${tail(logFile)}`);
      }
      await sleep(250);
    }
  }

  /** SIGKILL to the whole group, then waits (bounded) until no member is left and the port is free again. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    const pgid = child.pid;
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    const deadline = Date.now() + 15_000;
    while (groupMembers(pgid).length > 0 || !(await portIsFree(this.options.port))) {
      if (Date.now() > deadline) throw new Error(`wrangler dev (process group ${pgid}) did not go away after SIGKILL`);
      await sleep(50);
    }
    this.child = null;
  }

  /** Ends it for good (the suite's teardown). */
  async stop(): Promise<void> {
    await this.kill();
  }
}

function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-30).join('\n') : '(no log)';
}

export interface Received {
  at: number;
  headers: IncomingHttpHeaders;
  /** The raw body bytes, as verifyWebhook needs them. */
  body: Uint8Array;
  /** The same bytes as text (what retries are compared on). */
  text: string;
}

/** A receiver on 127.0.0.1:port that records every request (headers and raw body) and answers 200. */
export async function startReceiver(port: number): Promise<{ received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ at: Date.now(), headers: req.headers, body: new Uint8Array(body), text: body.toString('utf8') });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    received,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The persisted SQLite files of one binding kind (`d1` or a Durable Object class), as miniflare lays them out. */
function sqliteFiles(persistDir: string, kind: 'd1' | 'OperationDO'): string[] {
  const dir = kind === 'd1' ? join(persistDir, 'v3/d1/miniflare-D1DatabaseObject') : join(persistDir, 'v3/do/custos-OperationDO');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite').map((f) => join(dir, f));
}

export interface CrashPicture {
  /** The operation's D1 history row status (and failure code) as it was on disk when the server died. */
  d1: { status: string; failureCode: string | null } | null;
  /** The user's status in D1 at that moment. */
  userStatus: string | null;
  /** The operation's state in its shard's storage: status, and whether an intent was pending. */
  shard: { status: string; intent: string | null; finishDigest: boolean } | null;
  /** Events of this operation recorded in D1, and whether any delivery attempt was recorded for them. */
  events: { type: string; delivered: boolean }[];
}

/**
 * What D1 and the operation's shard held on disk while the server was dead: read-only, before the restart, so it
 * shows which side of the commit the kill landed on without anything reconciling it first.
 */
export function crashPicture(persistDir: string, operationId: string, userId: string): CrashPicture {
  const picture: CrashPicture = { d1: null, userStatus: null, shard: null, events: [] };
  for (const file of sqliteFiles(persistDir, 'd1')) {
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      const hasOps = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'operations'`).get();
      if (!hasOps) continue;
      const row = db.prepare('SELECT status, failure_code FROM operations WHERE id = ?').get(operationId) as { status: string; failure_code: string | null } | undefined;
      if (row) picture.d1 = { status: row.status, failureCode: row.failure_code };
      const user = db.prepare('SELECT status FROM users WHERE id = ?').get(userId) as { status: string } | undefined;
      picture.userStatus = user?.status ?? null;
      const events = db
        .prepare(`SELECT e.type, EXISTS (SELECT 1 FROM webhook_deliveries AS d WHERE d.event_id = e.id) AS delivered FROM events AS e WHERE e.payload LIKE ? ORDER BY e.created_at`)
        .all(`%"operationId":"${operationId}"%`) as { type: string; delivered: number }[];
      picture.events = events.map((e) => ({ type: e.type, delivered: e.delivered === 1 }));
    } finally {
      db.close();
    }
  }
  for (const file of sqliteFiles(persistDir, 'OperationDO')) {
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      const hasOps = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'ops'`).get();
      if (!hasOps) continue;
      // The intent lives in its own column beside the state (src/durable-objects/operation.ts writeIntent).
      const row = db.prepare('SELECT state, intent FROM ops WHERE id = ?').get(operationId) as { state: string; intent: string | null } | undefined;
      if (!row) continue;
      const state = JSON.parse(row.state) as { status: string; finishDigest?: string };
      const intent = row.intent ? (JSON.parse(row.intent) as { status: string }) : null;
      picture.shard = { status: state.status, intent: intent?.status ?? null, finishDigest: state.finishDigest !== undefined };
    } finally {
      db.close();
    }
  }
  return picture;
}

/** Every event D1 holds (id, type, and the operation it reports, if any), read from disk while the server runs (WAL readers do not block it). */
export function recordedEvents(persistDir: string): { id: string; type: string; operationId: string | null }[] {
  const out: { id: string; type: string; operationId: string | null }[] = [];
  for (const file of sqliteFiles(persistDir, 'd1')) {
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      if (!db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'events'`).get()) continue;
      for (const row of db.prepare('SELECT id, type, payload FROM events ORDER BY created_at').all() as { id: string; type: string; payload: string }[]) {
        const data = (JSON.parse(row.payload) as { data?: { operationId?: string } }).data;
        out.push({ id: row.id, type: row.type, operationId: data?.operationId ?? null });
      }
    } finally {
      db.close();
    }
  }
  return out;
}
