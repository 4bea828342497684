// `npm run bench`: Custos (two ceremony shapes), a lean floor and a Node peer, each under 1…128 clients;
// ceremonies per CPU-second from /proc over the whole measured window, latency, per-step CPU and round trips.
import { cpus, totalmem } from 'node:os';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { SoftAuthenticator } from '../test/helpers/soft-authenticator.ts';
import { generateVars } from '../scripts/dev-vars.mjs';
import {
  buildFloorWorker, buildFrozenWorker, cpuByRole, cpuNsByRole, directEntry, freePort, freshState, portIsFree, serverProcesses, settle, startPeer, startWrangler,
} from './lib/server.mjs';
import { createClient } from './lib/http.mjs';
import { median, percentiles, render } from './lib/report.mjs';

const root = new URL('..', import.meta.url).pathname;
const TYPES = ['AUTHENTICATION', 'AUTHORISATION', 'SIGNATURE'];
const SHAPES = ['decoupled', 'same-device'];
/** The server calls of each shape, in order (signing happens between the start and the finish, on the client). */
const SHAPE_STEPS = { decoupled: ['rpStart', 'sdkStart', 'sdkFinish', 'rpStatus'], 'same-device': ['rpStart', 'sdkFinish'] };

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    port: { type: 'string', default: '8799' },
    'floor-port': { type: 'string', default: '8798' },
    'peer-port': { type: 'string', default: '8796' },
    'via-proxy': { type: 'boolean', default: false },
    clients: { type: 'string', short: 'c', default: '1,16,128' },
    seconds: { type: 'string', short: 't', default: '4' },
    warmup: { type: 'string', default: '1' },
    runs: { type: 'string', default: '1' },
    scales: { type: 'string', default: '1000' },
    types: { type: 'string', default: 'AUTHENTICATION,AUTHORISATION' },
    shapes: { type: 'string', default: SHAPES.join(',') },
    'users-per-client': { type: 'string', default: '1' },
    'step-reps': { type: 'string', default: '20' },
    'no-floor': { type: 'boolean', default: false },
    'no-peer': { type: 'boolean', default: false },
    out: { type: 'string', default: join(root, 'bench/results/latest.json') },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opts.help) {
  console.log(`npm run bench -- [options]
  Starts Custos (wrangler dev, bench/worker), the lean floor (wrangler dev, bench/floor) and the Node peer
  (bench/peer), runs each load point for a bounded time and prints one table; JSON in --out.
  --url URL             use a running Custos (127.0.0.1 only; needs BENCH_COUNTERS=true for counters/seeding)
  --port N              Custos's wrangler dev port (default 8799)
  --floor-port N        the lean floor's wrangler dev port (default 8798)
  --peer-port N         the Node peer's port (default 8796)
  --via-proxy           send Custos and floor traffic through wrangler dev's proxy workerd; by default the bench
                        calls the runtime workerd's own entry port directly (proxy CPU is counted either way)
  -c, --clients LIST    concurrent clients per load point (default 1,16,128)
  -t, --seconds N       timed length of each load point (default 4; ceremonies in flight at the end finish)
  --warmup N            untimed seconds before each load point (default 1)
  --runs N              repeat each load point N times and report medians (default 1)
  --scales LIST         store sizes in users, ascending (default 1000; up to 1000000)
  --types LIST          operation types for Custos, among ${TYPES.join(',')} (default AUTHENTICATION,AUTHORISATION);
                        the peer only logs in (AUTHENTICATION)
  --shapes LIST         ${SHAPES.join(',')} (default both): 4 calls (RP start, SDK start, SDK finish, RP status)
                        or 2 (RP start with sameDevice, SDK finish)
  --users-per-client N  live users (with a registered passkey) per client of the largest -c (default 1;
                        with fewer clients each takes a wider slice of them)
  --step-reps N         per-step probe: each step repeated N times in a row, one client (default 20; 0 = off,
                        which also turns the floor off: it replays the probe's round trips)
  --no-floor            skip the lean floor
  --no-peer             skip the Node peer
  --out FILE            JSON result file (default bench/results/latest.json)
  --quiet               no progress lines on stderr`);
  process.exit(0);
}

const int = (name, min, max) => {
  const value = Number(opts[name]);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`--${name} must be an integer in ${min}…${max}`);
  return value;
};
const list = (name) => opts[name].split(',').map((s) => s.trim()).filter(Boolean);
const config = {
  clients: list('clients').map(Number),
  seconds: int('seconds', 1, 600),
  warmup: int('warmup', 0, 60),
  runs: int('runs', 1, 20),
  usersPerClient: int('users-per-client', 1, 64),
  stepReps: int('step-reps', 0, 1000),
  scales: list('scales').map(Number),
  types: list('types').map((t) => t.toUpperCase()),
  shapes: list('shapes'),
  floor: !opts['no-floor'] && Number(opts['step-reps']) > 0,
  peer: !opts['no-peer'],
};
if (config.clients.some((c) => !Number.isInteger(c) || c < 1 || c > 512)) throw new Error('--clients must be integers in 1…512');
if (config.scales.some((s, i) => !Number.isInteger(s) || s < 1 || s > 1_000_000 || (i > 0 && s <= config.scales[i - 1]))) {
  throw new Error('--scales must be ascending integers (1 … 1000000)');
}
if (config.types.some((t) => !TYPES.includes(t))) throw new Error(`--types must be among ${TYPES.join(',')}`);
if (config.shapes.some((s) => !SHAPES.includes(s))) throw new Error(`--shapes must be among ${SHAPES.join(',')}`);
const maxClients = Math.max(...config.clients);
const liveUsers = maxClients * config.usersPerClient;
if (liveUsers > config.scales[0]) throw new Error(`the smallest scale (${config.scales[0]}) must hold the ${liveUsers} live users`);
const ports = { custos: int('port', 1, 65535), floor: int('floor-port', 1, 65535), peer: int('peer-port', 1, 65535) };

const log = (...args) => {
  if (!opts.quiet) console.error('·', new Date().toISOString().slice(11, 19), ...args);
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ── servers ───────────────────────────────────────────────────────────────────────────────────────
const started = [];
const cleanup = () => {
  for (const s of started) s.stop();
};
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}
async function requireFree(port, what) {
  if (!(await portIsFree(port))) throw new Error(`port ${port} (${what}) is taken: stop what listens there, or pass another port`);
}

/** A server the bench measures: where requests go, and which processes' CPU counts for it. */
async function wranglerTarget({ name, port, wranglerPid, server }) {
  const list = () => serverProcesses({ wranglerPid, port });
  const processes = list();
  if (!processes.some((p) => p.role === 'worker')) log(`${name}: could not find the runtime workerd process: CPU figures will be missing`);
  let url = server?.url ?? `http://127.0.0.1:${port}`;
  let route = server ? 'proxy' : 'url';
  if (server && !opts['via-proxy']) {
    const direct = await directEntry(processes);
    if (direct) {
      url = direct;
      route = 'direct';
    } else {
      log(`${name}: found no direct entry in the runtime workerd; going through the dev proxy`);
    }
  }
  log(`${name}: traffic to ${url} (${route})`);
  return { name, url, route, proxyUrl: server?.url ?? null, server, list, processes };
}

let adminToken;
let custos;
if (opts.url) {
  const url = new URL(opts.url);
  if (url.hostname !== '127.0.0.1') throw new Error('--url must be http://127.0.0.1:<port>');
  ports.custos = Number(url.port || 80);
  adminToken = process.env.ADMIN_TOKEN ?? devVar('ADMIN_TOKEN');
  if (!adminToken) throw new Error('set ADMIN_TOKEN (or keep it in .dev.vars) to use --url');
  custos = await wranglerTarget({ name: 'custos', port: ports.custos });
} else {
  await requireFree(ports.custos, 'Custos');
  const persistDir = join(root, '.wrangler/bench-state');
  log('bundling the worker into .wrangler/bench-build (the run serves this snapshot of src/)');
  const configPath = buildFrozenWorker(root, join(root, '.wrangler/bench-build'));
  log('applying migrations to a fresh', persistDir);
  freshState(root, configPath, persistDir);
  const vars = await generateVars();
  adminToken = vars.ADMIN_TOKEN;
  log(`starting Custos (wrangler dev) on 127.0.0.1:${ports.custos}`);
  const server = await startWrangler({
    root, configPath, port: ports.custos, persistDir, logFile: join(root, 'bench/results/wrangler.log'),
    vars: { ...vars, BENCH_COUNTERS: 'true', DEMO: 'false', ALLOW_LOCAL_WEBHOOKS: 'false' },
  });
  started.push(server);
  custos = await wranglerTarget({ name: 'custos', port: ports.custos, wranglerPid: server.pid, server });
}

let floor = null;
if (config.floor) {
  await requireFree(ports.floor, 'the lean floor');
  log(`starting the lean floor (wrangler dev, bench/floor) on 127.0.0.1:${ports.floor}`);
  const persistDir = join(root, '.wrangler/bench-floor-state');
  emptyDir(persistDir);
  const configPath = buildFloorWorker(root, join(root, '.wrangler/bench-floor-build'));
  const server = await startWrangler({
    root, configPath, port: ports.floor, persistDir, logFile: join(root, 'bench/results/wrangler-floor.log'), vars: {},
  });
  started.push(server);
  floor = await wranglerTarget({ name: 'floor', port: ports.floor, wranglerPid: server.pid, server });
}
function emptyDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}

let peer = null;
if (config.peer) {
  await requireFree(ports.peer, 'the Node peer');
  log(`starting the Node peer (Hono + @simplewebauthn/server + node:sqlite) on 127.0.0.1:${ports.peer}`);
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  const server = await startPeer({
    root, port: ports.peer, dbPath: join(root, 'bench/results/peer.sqlite'), origin: `http://localhost:${ports.peer}`, logFile: join(root, 'bench/results/peer.log'),
  });
  started.push(server);
  const processes = [{ pid: server.pid, role: 'worker', comm: 'node' }];
  peer = { name: 'peer', url: server.url, route: 'direct', proxyUrl: null, server, list: () => processes, processes };
}

function devVar(name) {
  const file = join(root, '.dev.vars');
  if (!existsSync(file)) return undefined;
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${name}=`));
  return line?.slice(name.length + 1).replace(/^"|"$/g, '');
}

const sockets = maxClients * 2 + 8;
custos.http = createClient(custos.url, { sockets });
if (floor) floor.http = createClient(floor.url, { sockets });
if (peer) peer.http = createClient(peer.url, { sockets });
const http = custos.http;
// The WebAuthn origin stays the wrangler dev port whichever entry carries the requests.
const origin = `http://localhost:${ports.custos}`;

async function expectOk(promise, expected, what) {
  const res = await promise;
  if (res.status !== expected) throw new Error(`${what}: ${res.status} ${typeof res.body === 'string' ? res.body : JSON.stringify(res.body)}`);
  return res.body;
}
const admin = (method, path, json) => http.call(method, path, { headers: { authorization: `Bearer ${adminToken}` }, json });

// ── CPU and counters ─────────────────────────────────────────────────────────────────────────────
/** CPU seconds by role (utime + stime of the whole process tree, read anew) and of this client process. */
function cpuNow(target) {
  const usage = process.cpuUsage();
  return { ...cpuByRole(target.list()), client: (usage.user + usage.system) / 1e6 };
}
const round = (v, digits = 2) => (v === null || v === undefined || !Number.isFinite(v) ? null : Math.round(v * 10 ** digits) / 10 ** digits);

const countersOn = (await http.call('GET', '/__bench/counters')).status === 200;
if (!countersOn) log('BENCH_COUNTERS is off on this server: no round-trip counts, crypto floor, bulk seeding or lean floor');
async function counters() {
  if (!countersOn) return null;
  return expectOk(http.call('GET', '/__bench/counters'), 200, 'counters');
}
function counterDelta(after, before, per) {
  if (!after || !before) return null;
  const d = (source, k) => (after[source][k] - before[source][k]) / per;
  return {
    d1RoundTrips: round(d('worker', 'd1RoundTrips') + d('do', 'd1RoundTrips'), 3),
    d1Statements: round(d('worker', 'd1Statements') + d('do', 'd1Statements'), 3),
    doCalls: round(d('worker', 'doCalls') + d('do', 'doCalls'), 3),
    workerD1RoundTrips: round(d('worker', 'd1RoundTrips'), 3),
    doD1RoundTrips: round(d('do', 'd1RoundTrips'), 3),
  };
}

let cryptoFloor = null;
if (countersOn) {
  log('measuring the crypto floor in workerd');
  const f = await expectOk(http.call('GET', '/__bench/crypto-floor?ms=500'), 200, 'crypto floor');
  cryptoFloor = { ...f, ceremonyCryptoPerSecond: Math.round(1 / (1 / f.es256VerifyPlusSha256.perSecond + 1 / f.es256Sign.perSecond)) };
}

// ── tenant, live users with passkeys (Custos and peer) ───────────────────────────────────────────
log('Custos: creating the bench tenant, its client and', liveUsers, 'users with a passkey each');
const tenant = await expectOk(admin('POST', '/admin/v1/tenants', {
  name: 'Bench', rpId: 'localhost', rpName: 'Bench', origins: [origin, `http://127.0.0.1:${ports.custos}`],
  // A few users run ceremonies back to back: far above the abuse limits meant for real users (docs/operations.md#limits).
  policy: { requireScaForNewDevice: false, maxStartsPerUserPerMinute: 600, maxLiveOperationsPerUser: 50, maxLiveOperationsPerDevice: 50 },
}), 201, 'create tenant');
const apiClient = await expectOk(admin('POST', `/admin/v1/tenants/${tenant.id}/clients`, { name: 'bench' }), 201, 'create client');
let accessToken;
async function refreshToken() {
  const basic = Buffer.from(`${encodeURIComponent(apiClient.clientId)}:${encodeURIComponent(apiClient.clientSecret)}`).toString('base64');
  const body = await expectOk(http.call('POST', '/oauth/token', { headers: { authorization: `Basic ${basic}` }, form: { grant_type: 'client_credentials' } }), 200, 'token');
  accessToken = body.access_token;
}
await refreshToken();
const rp = (method, path, json) => http.call(method, path, { headers: { authorization: `Bearer ${accessToken}` }, json });
const sdk = (op, action, json) => http.call('POST', `/sdk/v1/operations/${op.id}/${action}`, { headers: { authorization: `Bearer ${op.sdk.token}` }, json });

async function registerUser(i) {
  const user = await expectOk(rp('POST', '/v1/users', { externalRef: `bench-live-${i}` }), 201, 'create user');
  const authenticator = await SoftAuthenticator.create({ rpId: 'localhost', origin });
  const op = await expectOk(rp('POST', '/v1/operations', { type: 'REGISTRATION', userId: user.id }), 201, 'start registration');
  const { publicKey } = await expectOk(sdk(op, 'start', {}), 200, 'sdk start (registration)');
  const credential = await authenticator.register(publicKey);
  await expectOk(sdk(op, 'finish', { credential }), 200, 'sdk finish (registration)');
  const status = await expectOk(rp('GET', `/v1/operations/${op.id}`), 200, 'registration status');
  if (status.status !== 'COMPLETED') throw new Error(`registration ended ${status.status}`);
  return { id: user.id, authenticator };
}
async function registerPeerUser(i) {
  const id = `live-${i}`;
  const authenticator = await SoftAuthenticator.create({ rpId: 'localhost', origin: `http://localhost:${ports.peer}` });
  const options = await expectOk(peer.http.call('POST', '/register/options', { json: { userId: id } }), 200, 'peer register options');
  const credential = await authenticator.register(options.publicKey);
  await expectOk(peer.http.call('POST', '/register/verify', { json: { id: options.id, credential } }), 200, 'peer register verify');
  return { id, authenticator };
}
// Setup is not measured: a few at a time keeps it clear of the tenant's audit-chain contention.
async function inGroups(count, fn, width = 8) {
  const out = [];
  for (let i = 0; i < count; i += width) out.push(...(await Promise.all(Array.from({ length: Math.min(width, count - i) }, (_, k) => fn(i + k)))));
  return out;
}
const users = await inGroups(liveUsers, registerUser);
let peerUsers = [];
if (peer) {
  log('peer: registering', liveUsers, 'users with a passkey each');
  peerUsers = await inGroups(liveUsers, registerPeerUser);
}

// ── ceremonies ───────────────────────────────────────────────────────────────────────────────────
const DOCUMENT = '# Loan agreement\n\nI, the borrower, agree to repay 1 000 EUR in 12 monthly instalments.\n'.repeat(8);
function startBody(type, userId, n, shape) {
  const same = shape === 'same-device' ? { sameDevice: true } : {};
  if (type === 'AUTHORISATION') {
    return { type, userId, ...same, transaction: { amount: `${(n % 900) + 10}.50`, currency: 'EUR', payee: { name: 'ACME Shop', account: 'DE89370400440532013000' }, reference: `bench-${n}` } };
  }
  if (type === 'SIGNATURE') return { type, userId, ...same, document: { content: DOCUMENT, mimeType: 'text/markdown', title: 'Loan agreement' } };
  return { type, userId, ...same, context: { title: 'Sign in to Bench' } };
}

class StepError extends Error {
  constructor(step, res) {
    super(`${step} → ${res.status}`);
    this.key = `${step}:${res.status}:${res.body?.code ?? res.body?.error ?? ''}`;
  }
}

/** One Custos ceremony of the given shape; `mark(step)` after each call (and after signing). */
async function custosCeremony({ type, shape, user, n, mark }) {
  const started = await rp('POST', '/v1/operations', startBody(type, user.id, n, shape));
  if (started.status !== 201) throw new StepError('rpStart', started);
  mark('rpStart');
  const op = started.body;
  let publicKey;
  if (shape === 'same-device') {
    if (op.status !== 'IN_PROGRESS' || !op.device?.publicKey) throw new StepError('rpStart(device)', started);
    publicKey = op.device.publicKey;
  } else {
    const options = await sdk(op, 'start', {});
    if (options.status !== 200) throw new StepError('sdkStart', options);
    mark('sdkStart');
    publicKey = options.body.publicKey;
  }
  const credential = await user.authenticator.assert(publicKey);
  mark('sign');
  const finished = await sdk(op, 'finish', { credential });
  if (finished.status !== 200) throw new StepError('sdkFinish', finished);
  mark('sdkFinish');
  if (shape === 'same-device') {
    if (!finished.body.result?.token) throw new StepError('sdkFinish(result)', finished);
    return;
  }
  const status = await rp('GET', `/v1/operations/${op.id}`);
  if (status.status !== 200 || status.body.status !== 'COMPLETED' || !status.body.result?.token) throw new StepError('rpStatus', status);
  mark('rpStatus');
}

/** The peer's login: options → sign → verify (its only shape; two calls like same-device). */
async function peerCeremony({ user, mark }) {
  const options = await peer.http.call('POST', '/login/options', { json: { userId: user.id } });
  if (options.status !== 200) throw new StepError('options', options);
  mark('options');
  const credential = await user.authenticator.assert(options.body.publicKey);
  mark('sign');
  const verified = await peer.http.call('POST', '/login/verify', { json: { id: options.body.id, credential } });
  if (verified.status !== 200 || verified.body.verified !== true) throw new StepError('verify', verified);
  mark('verify');
}

/**
 * The floor's ceremony: the same calls (method, path shape, body) as Custos's, each told to make the D1
 * round trips and DO calls Custos made in that step (fractions spread over requests so the mean is exact).
 * No signing: the floor verifies nothing.
 */
const CANNED_CREDENTIAL = { id: 'x'.repeat(43), rawId: 'x'.repeat(43), type: 'public-key', response: { clientDataJSON: 'x'.repeat(250), authenticatorData: 'x'.repeat(50), signature: 'x'.repeat(96) }, authenticatorAttachment: 'platform', clientExtensionResults: {} };
function floorPlan(stepCounts) {
  const acc = {};
  return (step) => {
    const want = stepCounts[step];
    const q = [];
    for (const [param, key] of [['d1', 'workerD1RoundTrips'], ['do', 'doCalls'], ['dod1', 'doD1RoundTrips']]) {
      const id = `${step}.${param}`;
      const before = acc[id] ?? 0;
      acc[id] = before + (want?.[key] ?? 0);
      const n = Math.round(acc[id]) - Math.round(before);
      if (n > 0) q.push(`${param}=${n}`);
    }
    return q.length ? `?${q.join('&')}` : '';
  };
}
async function floorCeremony({ type, shape, user, n, mark, plan }) {
  const call = async (method, path, step, json) => {
    const res = await floor.http.call(method, path + plan(step), { headers: { authorization: 'Bearer floor-token-0123456789abcdef' }, json });
    if (res.status !== 200) throw new StepError(step, res);
    mark(step);
  };
  const id = `op_floor${n}`;
  await call('POST', '/v1/operations', 'rpStart', startBody(type, user.id, n, shape));
  if (shape === 'decoupled') await call('POST', `/sdk/v1/operations/${id}/start`, 'sdkStart', {});
  await call('POST', `/sdk/v1/operations/${id}/finish`, 'sdkFinish', { credential: CANNED_CREDENTIAL });
  if (shape === 'decoupled') await call('GET', `/v1/operations/${id}`, 'rpStatus');
}

/**
 * One load point: C clients run ceremonies until the deadline (those in flight then finish); CPU is read
 * (utime + stime of every process of the target) after the target settles before the first request and
 * after it settles behind the last response, so work done after a response is inside the window.
 */
async function loadPoint(target, clients, seconds, ceremonyFn, { measure, usersOf }) {
  const samples = { ceremony: [] };
  const errors = {};
  let errorCount = 0;
  let completed = 0;
  let n = 0;
  const beforeCounters = measure && target === custos ? await counters() : null;
  if (measure) await settle(target.processes);
  const beforeCpu = cpuNow(target);
  const retriesBefore = target.http.stats.staleSocketRetries;
  const begin = performance.now();
  const deadline = begin + seconds * 1000;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    const mine = usersOf(c);
    for (let i = 0; performance.now() < deadline && errorCount < 1000; i++) {
      const t0 = performance.now();
      let t = t0;
      const mark = (step) => {
        const now = performance.now();
        (samples[step] ??= []).push(now - t);
        t = now;
      };
      try {
        await ceremonyFn({ user: mine[i % mine.length], n: n++, mark });
        samples.ceremony.push(performance.now() - t0);
        completed++;
      } catch (error) {
        errorCount++;
        const key = error instanceof StepError ? error.key : `client:${error.message}`;
        errors[key] = (errors[key] ?? 0) + 1;
      }
    }
  }));
  const loadEnd = performance.now();
  for (const s of started) if (s.exited()) throw new Error(`a server exited during a load point (${JSON.stringify(s.exited())}); see bench/results/*.log`);
  if (!measure) return null;
  await settle(target.processes);
  const afterCpu = cpuNow(target);
  const afterCounters = target === custos ? await counters() : null;
  const cpu = Object.fromEntries(Object.keys(afterCpu).map((k) => [k, afterCpu[k] - beforeCpu[k]]));
  const elapsed = (loadEnd - begin) / 1000;
  const per = (x) => (completed > 0 ? round((x / completed) * 1000, 3) : null);
  // Everything of wrangler dev but the runtime: its proxy workerd, its node process, any helper (esbuild).
  const proxy = cpu.proxy + cpu.wrangler + cpu.other;
  return {
    clients, ceremonies: completed, seconds: round(elapsed), windowSeconds: round((performance.now() - begin) / 1000), perSecond: round(completed / elapsed, 1),
    errorCount, errors, staleSocketRetries: target.http.stats.staleSocketRetries - retriesBefore,
    latency: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, percentiles(v)])),
    cpuSeconds: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, round(v, 3)])),
    cpuMsPerCeremony: { runtime: per(cpu.worker), proxy: per(proxy), proxyWorkerd: per(cpu.proxy), wranglerNode: per(cpu.wrangler), other: per(cpu.other), client: per(cpu.client) },
    ceremoniesPerRuntimeCpuSecond: cpu.worker > 0 ? round(completed / cpu.worker, 1) : null,
    ceremoniesPerServerCpuSecond: cpu.worker + proxy > 0 ? round(completed / (cpu.worker + proxy), 1) : null,
    perCeremony: counterDelta(afterCounters, beforeCounters, completed || 1),
  };
}

async function measurePoint(target, clients, ceremonyFn, usersOf) {
  if (config.warmup > 0) await loadPoint(target, clients, config.warmup, ceremonyFn, { measure: false, usersOf });
  const runs = [];
  for (let r = 0; r < config.runs; r++) {
    runs.push(await loadPoint(target, clients, config.seconds, ceremonyFn, { measure: true, usersOf }));
    await sleep(100);
  }
  const pick = (fn) => median(runs.map(fn));
  const m = runs[0];
  return {
    clients,
    perSecond: pick((r) => r.perSecond),
    p50: pick((r) => r.latency.ceremony.p50), p99: pick((r) => r.latency.ceremony.p99),
    runtimeCpuMs: pick((r) => r.cpuMsPerCeremony.runtime), proxyCpuMs: pick((r) => r.cpuMsPerCeremony.proxy), clientCpuMs: pick((r) => r.cpuMsPerCeremony.client),
    ceremoniesPerRuntimeCpuSecond: pick((r) => r.ceremoniesPerRuntimeCpuSecond), ceremoniesPerServerCpuSecond: pick((r) => r.ceremoniesPerServerCpuSecond),
    d1RoundTrips: pick((r) => r.perCeremony?.d1RoundTrips), doCalls: pick((r) => r.perCeremony?.doCalls),
    errors: runs.reduce((s, r) => s + r.errorCount, 0), staleSocketRetries: runs.reduce((s, r) => s + r.staleSocketRetries, 0), errorKinds: mergeErrors(runs), ceremonies: runs.reduce((s, r) => s + r.ceremonies, 0),
    stepLatency: Object.fromEntries(Object.keys(m.latency).filter((k) => k !== 'ceremony').map((k) => [k, { p50: pick((r) => r.latency[k]?.p50), p99: pick((r) => r.latency[k]?.p99) }])),
    runs,
  };
}
function mergeErrors(runs) {
  const out = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.errors)) out[k] = (out[k] ?? 0) + v;
  return out;
}

// ── per-step probe ───────────────────────────────────────────────────────────────────────────────
/**
 * One client, sequential: K consecutive calls of the same step (K operations brought to that step first),
 * the target settled before and after, CPU from schedstat (ns) of every process; counters read outside.
 */
async function stepBatch(target, count, fn) {
  const c0 = await counters();
  await settle(target.processes);
  const before = cpuNsByRole(target.processes);
  const t0 = performance.now();
  const out = [];
  for (let i = 0; i < count; i++) out.push(await fn(i));
  const ms = (performance.now() - t0) / count;
  await settle(target.processes);
  const after = cpuNsByRole(target.processes);
  const c1 = await counters();
  const d = (role) => (after[role] - before[role]) / 1e6 / count;
  return { out, figures: { runtimeCpuMs: round(d('worker'), 3), proxyCpuMs: round(d('proxy') + d('wrangler') + d('other'), 3), latencyMs: round(ms, 2), ...counterDelta(c1, c0, count) } };
}
async function probeSteps(type, shape) {
  const K = config.stepReps;
  const steps = {};
  // Users in turn, so no single user meets the tenant's per-user limits.
  const userOf = (i) => users[i % users.length];
  const startedOps = await stepBatch(custos, K, async (i) => expectOk(rp('POST', '/v1/operations', startBody(type, userOf(i).id, i, shape)), 201, 'probe rpStart'));
  steps.rpStart = startedOps.figures;
  let options;
  if (shape === 'same-device') {
    options = startedOps.out.map((op) => op.device.publicKey);
  } else {
    const s = await stepBatch(custos, K, async (i) => (await expectOk(sdk(startedOps.out[i], 'start', {}), 200, 'probe sdkStart')).publicKey);
    steps.sdkStart = s.figures;
    options = s.out;
  }
  const credentials = [];
  for (let i = 0; i < K; i++) credentials.push(await userOf(i).authenticator.assert(options[i]));
  steps.sdkFinish = (await stepBatch(custos, K, async (i) => expectOk(sdk(startedOps.out[i], 'finish', { credential: credentials[i] }), 200, 'probe sdkFinish'))).figures;
  if (shape === 'decoupled') {
    steps.rpStatus = (await stepBatch(custos, K, async (i) => expectOk(rp('GET', `/v1/operations/${startedOps.out[i].id}`), 200, 'probe rpStatus'))).figures;
  }
  const sum = (k) => round(Object.values(steps).reduce((s, f) => s + (f[k] ?? 0), 0), 3);
  steps.total = { runtimeCpuMs: sum('runtimeCpuMs'), proxyCpuMs: sum('proxyCpuMs'), latencyMs: sum('latencyMs'), d1RoundTrips: sum('d1RoundTrips'), d1Statements: sum('d1Statements'), doCalls: sum('doCalls'), workerD1RoundTrips: sum('workerD1RoundTrips'), doD1RoundTrips: sum('doD1RoundTrips') };
  return steps;
}

// ── the run ──────────────────────────────────────────────────────────────────────────────────────
const result = {
  at: new Date().toISOString(),
  machine: {
    cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.versions.node, wrangler: JSON.parse(readFileSync(join(root, 'node_modules/wrangler/package.json'), 'utf8')).version,
  },
  config: {
    ...config, liveUsers,
    targets: Object.fromEntries([custos, floor, peer].filter(Boolean).map((t) => [t.name, { url: t.url, route: t.route, proxyUrl: t.proxyUrl }])),
  },
  cryptoFloor,
  scales: [],
};

const usersOfClient = (pool, clients) => (c) => {
  // Each client its own users; with fewer clients than the largest -c, each takes a wider slice.
  const per = Math.floor(pool.length / clients);
  return pool.slice(c * per, (c + 1) * per);
};

if (floor) await expectOk(floor.http.call('POST', '/__floor/setup', { json: {} }), 200, 'floor setup');

/** What each server burns doing nothing (ms of CPU per second, 2 s with no traffic): the noise floor of a window. */
async function idleCpu(target) {
  await settle(target.processes);
  const before = cpuNow(target);
  await sleep(2000);
  const after = cpuNow(target);
  const ms = (k) => round((after[k] - before[k]) * 1000 / 2, 2);
  return { runtimeMsPerSecond: ms('worker'), proxyMsPerSecond: round(ms('proxy') + ms('wrangler') + ms('other'), 2), proxyWorkerdMsPerSecond: ms('proxy'), wranglerNodeMsPerSecond: ms('wrangler'), otherMsPerSecond: ms('other') };
}
log('idle CPU of each server (2 s each)');
result.idleCpu = {};
for (const t of [custos, floor, peer].filter(Boolean)) result.idleCpu[t.name] = await idleCpu(t);

let storeUsers = liveUsers;
for (const [scaleIndex, scale] of config.scales.entries()) {
  const t0 = performance.now();
  if (scale > storeUsers) {
    if (!countersOn) {
      log(`skipping the ${scale}-user scale: seeding needs BENCH_COUNTERS=true`);
      continue;
    }
    log(`Custos: seeding ${scale - storeUsers} users (one passkey each) to reach ${scale}`);
    for (let seeded = 0; seeded < scale - storeUsers; seeded += 10_000) {
      const count = Math.min(10_000, scale - storeUsers - seeded);
      await expectOk(admin('POST', '/__bench/seed', { tenantId: tenant.id, count, label: `s${scale}-${seeded}` }), 200, 'seed');
    }
    if (peer) {
      log(`peer: seeding ${scale - storeUsers} users`);
      for (let seeded = 0; seeded < scale - storeUsers; seeded += 100_000) {
        const count = Math.min(100_000, scale - storeUsers - seeded);
        await expectOk(peer.http.call('POST', '/seed', { json: { count, label: `s${scale}-${seeded}` } }), 200, 'peer seed');
      }
    }
    storeUsers = scale;
  }
  const seedSeconds = round((performance.now() - t0) / 1000, 1);
  await refreshToken();
  const entry = { users: storeUsers, seedSeconds, steps: {}, points: [] };
  result.scales.push(entry);

  // Warm Custos (JIT, and nearly all of the 128 operation shards created) before anything is measured.
  log(`${storeUsers} users · Custos warm-up`);
  for (const shape of config.shapes) {
    await loadPoint(custos, 16, 2, (a) => custosCeremony({ ...a, type: config.types[0], shape }), { measure: false, usersOf: usersOfClient(users, 16) });
  }
  if (config.stepReps > 0 && countersOn) {
    for (const type of config.types) {
      entry.steps[type] = {};
      for (const shape of config.shapes) {
        log(`${storeUsers} users · per-step probe · ${type} ${shape} · ${config.stepReps} × each step`);
        entry.steps[type][shape] = await probeSteps(type, shape);
      }
    }
  }

  for (const clients of config.clients) {
    for (const shape of config.shapes) {
      for (const type of config.types) {
        log(`${storeUsers} users · Custos ${type} ${shape} · C=${clients} · ${config.seconds} s`);
        const point = await measurePoint(custos, clients, (a) => custosCeremony({ ...a, type, shape }), usersOfClient(users, clients));
        entry.points.push({ server: 'custos', shape, type, ...point });
      }
    }
  }
  // The floor replays this scale's per-step counts; its cost does not grow with Custos's store, so only the first scale runs it.
  if (floor && scaleIndex === 0 && Object.keys(entry.steps).length > 0) {
    await loadPoint(floor, 16, 2, (a) => floorCeremony({ ...a, type: config.types[0], shape: config.shapes[0], plan: floorPlan(entry.steps[config.types[0]][config.shapes[0]]) }), { measure: false, usersOf: usersOfClient(users, 16) });
    for (const clients of config.clients) {
      for (const shape of config.shapes) {
        for (const type of config.types) {
          log(`lean floor ${type} ${shape} · C=${clients} · ${config.seconds} s`);
          const plan = floorPlan(entry.steps[type][shape]);
          const point = await measurePoint(floor, clients, (a) => floorCeremony({ ...a, type, shape, plan }), usersOfClient(users, clients));
          // The round trips it was told to make (the Custos probe's totals), not counted by the floor itself.
          const told = entry.steps[type][shape].total;
          entry.points.push({ server: 'floor', shape, type, ...point, d1RoundTrips: told.d1RoundTrips, doCalls: told.doCalls });
        }
      }
    }
  }
  if (peer) {
    await loadPoint(peer, 16, 2, peerCeremony, { measure: false, usersOf: usersOfClient(peerUsers, 16) });
    for (const clients of config.clients) {
      log(`${storeUsers} users · Node peer login · C=${clients} · ${config.seconds} s`);
      const point = await measurePoint(peer, clients, peerCeremony, usersOfClient(peerUsers, clients));
      entry.points.push({ server: 'peer', shape: 'login', type: 'AUTHENTICATION', ...point });
    }
  }
  entry.ratios = ratios(entry, result.scales[0]);
}

/** Custos against the floor (CPU per ceremony) and the peer (ceremonies per CPU-second, p99 at 16 clients). */
function ratios(entry, first) {
  const find = (server, shape, type, clients, from = entry) => from.points.find((p) => p.server === server && p.shape === shape && p.type === type && p.clients === clients);
  const out = [];
  for (const shape of config.shapes) {
    for (const type of config.types) {
      for (const clients of config.clients) {
        const c = find('custos', shape, type, clients);
        const f = find('floor', shape, type, clients, first);
        const p = type === 'AUTHENTICATION' ? find('peer', 'login', 'AUTHENTICATION', clients) : null;
        const div = (a, b) => (a === null || a === undefined || !b ? null : round(a / b, 2));
        out.push({
          shape, type, clients,
          runtimeCpuVsFloor: div(c?.runtimeCpuMs, f?.runtimeCpuMs),
          serverCpuVsFloor: div(c && c.runtimeCpuMs + c.proxyCpuMs, f && f.runtimeCpuMs + f.proxyCpuMs),
          perRuntimeCpuSecondVsPeer: div(c?.ceremoniesPerRuntimeCpuSecond, p?.ceremoniesPerRuntimeCpuSecond),
          perServerCpuSecondVsPeer: div(c?.ceremoniesPerServerCpuSecond, p?.ceremoniesPerServerCpuSecond),
          p99VsPeer: div(c?.p99, p?.p99),
        });
      }
    }
  }
  return out;
}

for (const t of [custos, floor, peer]) t?.http.close();
mkdirSync(join(opts.out, '..'), { recursive: true });
writeFileSync(opts.out, JSON.stringify(result, null, 2));
console.log(render(result));
console.error(`· full results in ${opts.out}`);
cleanup();
process.exit(0);
