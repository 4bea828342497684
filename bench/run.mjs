// `npm run bench`: full ceremonies against `wrangler dev` with C concurrent clients; prints rates, latencies, CPU and storage round trips.
import { cpus, totalmem } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { SoftAuthenticator } from '../test/helpers/soft-authenticator.ts';
import { generateVars } from '../scripts/dev-vars.mjs';
import { buildFrozenWorker, cpuByRole, cpuNsByRole, directEntry, freePort, freshState, portIsFree, serverProcesses, startWrangler } from './lib/server.mjs';
import { createClient } from './lib/http.mjs';
import { median, medianOf, percentiles, render, SERVER_STEPS, STEPS } from './lib/report.mjs';

const root = new URL('..', import.meta.url).pathname;
const TYPES = ['AUTHENTICATION', 'AUTHORISATION', 'SIGNATURE'];

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    port: { type: 'string', default: '8799' },
    'via-proxy': { type: 'boolean', default: false },
    clients: { type: 'string', short: 'c', default: '16' },
    seconds: { type: 'string', short: 't', default: '10' },
    warmup: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
    scales: { type: 'string', default: '1000,100000' },
    types: { type: 'string', default: TYPES.join(',') },
    'users-per-client': { type: 'string', default: '4' },
    probes: { type: 'string', default: '10' },
    out: { type: 'string', default: join(root, 'bench/results/latest.json') },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opts.help) {
  console.log(`npm run bench -- [options]
  --url URL             use a running server (127.0.0.1 only; needs BENCH_COUNTERS=true for counters/seeding)
  --port N              port for the wrangler dev the bench starts (default 8799; another free one if taken)
  --via-proxy           send traffic through wrangler dev's proxy workerd on --port; by default the bench
                        finds the runtime workerd's own entry port and calls it directly (proxy ms ≈ 0)
  -c, --clients N       concurrent clients (default 16)
  -t, --seconds N       timed phase length per ceremony type (default 10)
  --warmup N            untimed seconds per type before the timed phase (default 2)
  --runs N              repeat the timed phases N times and report medians (default 3)
  --scales LIST         store sizes in users, ascending (default 1000,100000)
  --types LIST          ${TYPES.join(',')}
  --users-per-client N  live users (with a registered passkey) per client (default 4)
  --probes N            sequential ceremonies per type for the per-step round-trip counts (default 10)
  --out FILE            JSON result file (default bench/results/latest.json)
  --quiet               no progress lines on stderr`);
  process.exit(0);
}

const int = (name, min, max) => {
  const value = Number(opts[name]);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`--${name} must be an integer in ${min}…${max}`);
  return value;
};
const config = {
  clients: int('clients', 1, 256),
  seconds: int('seconds', 1, 600),
  warmup: int('warmup', 0, 60),
  runs: int('runs', 1, 20),
  usersPerClient: int('users-per-client', 1, 64),
  probes: int('probes', 0, 1000),
  scales: opts.scales.split(',').map(Number),
  types: opts.types.split(',').map((t) => t.trim().toUpperCase()),
};
if (config.scales.some((s, i) => !Number.isInteger(s) || s < 1 || s > 1_000_000 || (i > 0 && s <= config.scales[i - 1]))) {
  throw new Error('--scales must be ascending integers (1 … 1000000)');
}
if (config.types.some((t) => !TYPES.includes(t))) throw new Error(`--types must be among ${TYPES.join(',')}`);
const liveUsers = config.clients * config.usersPerClient;
if (liveUsers > config.scales[0]) throw new Error(`the smallest scale (${config.scales[0]}) must hold the ${liveUsers} live users`);

const log = (...args) => {
  if (!opts.quiet) console.error('·', ...args);
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ── server ────────────────────────────────────────────────────────────────────────────────────────
let server = null;
let adminToken;
let port;
let baseUrl;
// 'direct' (the runtime workerd's own entry), 'proxy' (wrangler dev's proxy workerd on --port) or 'url' (--url).
let route = 'url';
const cleanup = () => server?.stop();
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}

if (opts.url) {
  const url = new URL(opts.url);
  if (url.hostname !== '127.0.0.1') throw new Error('--url must be http://127.0.0.1:<port>');
  baseUrl = url.origin;
  port = Number(url.port || 80);
  adminToken = process.env.ADMIN_TOKEN ?? devVar('ADMIN_TOKEN');
  if (!adminToken) throw new Error('set ADMIN_TOKEN (or keep it in .dev.vars) to use --url');
} else {
  port = Number(opts.port);
  if (!(await portIsFree(port))) {
    const taken = port;
    port = await freePort();
    log(`port ${taken} is taken; using ${port}`);
  }
  const persistDir = join(root, '.wrangler/bench-state');
  log('bundling the worker into .wrangler/bench-build (the run serves this snapshot of src/)');
  const configPath = buildFrozenWorker(root, join(root, '.wrangler/bench-build'));
  log('applying migrations to a fresh', persistDir);
  freshState(root, configPath, persistDir);
  const vars = await generateVars();
  adminToken = vars.ADMIN_TOKEN;
  log(`starting wrangler dev on 127.0.0.1:${port}`);
  server = await startWrangler({
    root, configPath, port, persistDir, logFile: join(root, 'bench/results/wrangler.log'),
    vars: { ...vars, BENCH_COUNTERS: 'true', DEMO: 'false', ALLOW_LOCAL_WEBHOOKS: 'false' },
  });
  baseUrl = server.url;
  route = 'proxy';
}

function devVar(name) {
  const file = join(root, '.dev.vars');
  if (!existsSync(file)) return undefined;
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${name}=`));
  return line?.slice(name.length + 1).replace(/^"|"$/g, '');
}

const processes = serverProcesses({ wranglerPid: server?.pid, port });
if (!processes.some((p) => p.role === 'worker')) log('could not find the workerd process: CPU figures will be missing');
if (server && !opts['via-proxy']) {
  const direct = await directEntry(processes);
  if (direct) {
    baseUrl = direct;
    route = 'direct';
  } else {
    log('found no direct entry in the runtime workerd; going through the dev proxy');
  }
}
log(`sending traffic to ${baseUrl}`, { direct: '(runtime workerd\'s own entry; dev proxy bypassed)', proxy: '(through wrangler dev\'s proxy workerd)', url: '(--url)' }[route]);

const http = createClient(baseUrl, { sockets: config.clients * 2 + 4 });
// The WebAuthn origin stays the wrangler dev port whichever entry carries the requests.
const origin = `http://localhost:${port}`;

async function expectOk(promise, expected, what) {
  const res = await promise;
  if (res.status !== expected) throw new Error(`${what}: ${res.status} ${typeof res.body === 'string' ? res.body : JSON.stringify(res.body)}`);
  return res.body;
}
const admin = (method, path, json) => http.call(method, path, { headers: { authorization: `Bearer ${adminToken}` }, json });

// ── counters, CPU, crypto floor ──────────────────────────────────────────────────────────────────
const countersOn = (await http.call('GET', '/__bench/counters')).status === 200;
if (!countersOn) log('BENCH_COUNTERS is off on this server: no round-trip counts, crypto floor or bulk seeding');

async function counters() {
  if (!countersOn) return null;
  return expectOk(http.call('GET', '/__bench/counters'), 200, 'counters');
}
function addCounters(a, b, sign = 1) {
  const out = {};
  for (const source of ['worker', 'do']) {
    out[source] = {};
    for (const k of Object.keys(a[source])) out[source][k] = a[source][k] + sign * (b?.[source]?.[k] ?? 0);
  }
  return out;
}
function flatCounters(delta, per = 1) {
  const sum = (k) => (delta.worker[k] + delta.do[k]) / per;
  return { d1RoundTrips: sum('d1RoundTrips'), d1Statements: sum('d1Statements'), d1Batches: sum('d1Batches'), doCalls: sum('doCalls'), doD1RoundTrips: delta.do.d1RoundTrips / per };
}

const cpuNs = () => cpuNsByRole(processes).worker;
const cpuNow = () => ({ ...cpuByRole(processes), client: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 });

let cryptoFloor = null;
if (countersOn) {
  log('measuring the crypto floor in workerd');
  const floor = await expectOk(http.call('GET', '/__bench/crypto-floor?ms=1000'), 200, 'crypto floor');
  const ceremonyCrypto = 1 / (1 / floor.es256VerifyPlusSha256.perSecond + 1 / floor.es256Sign.perSecond);
  cryptoFloor = { ...floor, ceremonyCryptoPerSecond: Math.round(ceremonyCrypto) };
}

// The runtime's own cost of one HTTP request that does no I/O: what 4 requests cost before any work.
// Median of 3 batches of 500 sequential requests, each after 50 unmeasured ones (sockets open, code hot),
// read from schedstat (ns): the 10 ms ticks of /proc/<pid>/stat would be several % of a batch.
const FLOOR = { batches: 3, warmup: 50, requests: 500 };
async function floorBatch() {
  for (let i = 0; i < FLOOR.warmup; i++) await http.call('GET', '/__bench/counters');
  const before = cpuNsByRole(processes);
  for (let i = 0; i < FLOOR.requests; i++) await http.call('GET', '/__bench/counters');
  const after = cpuNsByRole(processes);
  const ms = (role) => (after[role] - before[role]) / 1e6 / FLOOR.requests;
  return { worker: ms('worker'), proxy: ms('proxy') };
}
let requestFloor = null;
if (countersOn) {
  log(`measuring the request floor (${FLOOR.batches} × ${FLOOR.requests} empty requests)`);
  const batches = [];
  for (let b = 0; b < FLOOR.batches; b++) batches.push(await floorBatch());
  const round3 = (v) => Math.round(v * 1000) / 1000;
  requestFloor = {
    ...FLOOR, workerCpuMsPerRequest: round3(median(batches.map((b) => b.worker))), proxyCpuMsPerRequest: round3(median(batches.map((b) => b.proxy))),
    batchWorkerCpuMsPerRequest: batches.map((b) => round3(b.worker)),
  };
}
// A ceremony is 4 requests (RP start, SDK start, SDK finish, RP status).
const REQUESTS_PER_CEREMONY = SERVER_STEPS.length;

// ── tenant, live users with passkeys ─────────────────────────────────────────────────────────────
log('creating the bench tenant, its client and', liveUsers, 'users with a passkey each');
const tenant = await expectOk(admin('POST', '/admin/v1/tenants', {
  name: 'Bench', rpId: 'localhost', rpName: 'Bench', origins: [origin, `http://127.0.0.1:${port}`],
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
const users = [];
// Setup is not measured: a few at a time keeps it clear of the tenant's audit-chain contention.
const SETUP_CONCURRENCY = 4;
for (let i = 0; i < liveUsers; i += SETUP_CONCURRENCY) {
  users.push(...(await Promise.all(Array.from({ length: Math.min(SETUP_CONCURRENCY, liveUsers - i) }, (_, k) => registerUser(i + k)))));
}

// ── ceremonies ───────────────────────────────────────────────────────────────────────────────────
const DOCUMENT = '# Loan agreement\n\nI, the borrower, agree to repay 1 000 EUR in 12 monthly instalments.\n'.repeat(8);
function startBody(type, userId, n) {
  if (type === 'AUTHORISATION') {
    return { type, userId, transaction: { amount: `${(n % 900) + 10}.50`, currency: 'EUR', payee: { name: 'ACME Shop', account: 'DE89370400440532013000' }, reference: `bench-${n}` } };
  }
  if (type === 'SIGNATURE') return { type, userId, document: { content: DOCUMENT, mimeType: 'text/markdown', title: 'Loan agreement' } };
  return { type, userId, context: { title: 'Sign in to Bench' } };
}

class StepError extends Error {
  constructor(step, res) {
    super(`${step} → ${res.status}`);
    this.key = `${step}:${res.status}:${res.body?.code ?? ''}`;
  }
}

/** One full ceremony; `onStep(step, ms)` after each; throws StepError on an unexpected answer. */
async function ceremony(type, user, n, onStep) {
  let t = performance.now();
  const mark = (step) => {
    const now = performance.now();
    onStep(step, now - t);
    t = now;
  };
  const started = await rp('POST', '/v1/operations', startBody(type, user.id, n));
  if (started.status !== 201) throw new StepError('rpStart', started);
  mark('rpStart');
  const op = started.body;
  const options = await sdk(op, 'start', {});
  if (options.status !== 200) throw new StepError('sdkStart', options);
  mark('sdkStart');
  const credential = await user.authenticator.assert(options.body.publicKey);
  mark('sign');
  const finished = await sdk(op, 'finish', { credential });
  if (finished.status !== 200) throw new StepError('sdkFinish', finished);
  mark('sdkFinish');
  const status = await rp('GET', `/v1/operations/${op.id}`);
  if (status.status !== 200 || status.body.status !== 'COMPLETED' || !status.body.result?.token) throw new StepError('rpStatus', status);
  mark('rpStatus');
}

/** C clients run ceremonies of one type until the deadline; each client cycles through its own users. */
async function phase(type, seconds, { measure }) {
  const samples = Object.fromEntries([...STEPS, 'ceremony'].map((s) => [s, []]));
  const errors = {};
  let errorCount = 0;
  let completed = 0;
  let n = 0;
  const beforeCounters = measure ? await counters() : null;
  const beforeCpu = cpuNow();
  const begin = performance.now();
  const deadline = begin + seconds * 1000;
  await Promise.all(Array.from({ length: config.clients }, async (_, c) => {
    const mine = users.slice(c * config.usersPerClient, (c + 1) * config.usersPerClient);
    // Bounded: stops at the deadline, or after too many errors.
    for (let i = 0; performance.now() < deadline && errorCount < 1000; i++) {
      const t0 = performance.now();
      try {
        await ceremony(type, mine[i % mine.length], n++, (step, ms) => samples[step].push(ms));
        samples.ceremony.push(performance.now() - t0);
        completed++;
      } catch (error) {
        errorCount++;
        const key = error instanceof StepError ? error.key : `client:${error.message}`;
        errors[key] = (errors[key] ?? 0) + 1;
      }
    }
  }));
  const elapsed = (performance.now() - begin) / 1000;
  if (server?.exited()) throw new Error(`wrangler dev exited during the ${type} phase (${JSON.stringify(server.exited())}); see bench/results/wrangler.log`);
  const afterCpu = cpuNow();
  const afterCounters = measure ? await counters() : null;
  const cpu = Object.fromEntries(Object.keys(afterCpu).map((k) => [k, Math.round((afterCpu[k] - beforeCpu[k]) * 1000) / 1000]));
  const per = (x) => (completed > 0 ? Math.round((x / completed) * 1e5) / 100 : null);
  const ceremoniesPerWorkerCpuSecond = cpu.worker > 0 ? Math.round(completed / cpu.worker) : null;
  // Our own code's CPU: the worker's, less what the runtime spends on 4 empty requests per ceremony.
  const appCpu = requestFloor && completed > 0 ? cpu.worker - (completed * REQUESTS_PER_CEREMONY * requestFloor.workerCpuMsPerRequest) / 1000 : null;
  return {
    ceremonies: completed, seconds: Math.round(elapsed * 100) / 100, perSecond: Math.round((completed / elapsed) * 10) / 10,
    errorCount, errors,
    latency: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, percentiles(v)])),
    cpuSeconds: cpu,
    cpuMsPerCeremony: { worker: per(cpu.worker), proxy: per(cpu.proxy), wrangler: per(cpu.wrangler), client: per(cpu.client) },
    ceremoniesPerWorkerCpuSecond,
    appCpuMsPerCeremony: appCpu === null ? null : per(appCpu),
    ceremoniesPerAppCpuSecond: appCpu > 0 ? Math.round(completed / appCpu) : null,
    fractionOfCryptoFloor: cryptoFloor && ceremoniesPerWorkerCpuSecond ? Math.round((ceremoniesPerWorkerCpuSecond / cryptoFloor.ceremonyCryptoPerSecond) * 1000) / 1000 : null,
    perCeremony: afterCounters && completed > 0 ? roundAll(flatCounters(addCounters(afterCounters, beforeCounters, -1), completed)) : null,
  };
}
function roundAll(o) {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v * 100) / 100]));
}

/** Per-step round trips: each step run alone between two counter reads. */
async function probeSteps(type) {
  const sums = Object.fromEntries([...SERVER_STEPS, 'total'].map((s) => [s, null]));
  const user = users[0];
  const cpuMs = Object.fromEntries(Object.keys(sums).map((s) => [s, 0]));
  const add = (step, delta, ns) => {
    sums[step] = sums[step] ? addCounters(sums[step], delta) : delta;
    cpuMs[step] += ns / 1e6;
  };
  for (let i = 0; i < config.probes; i++) {
    // Counters and CPU are read around each step; the CPU of the counter reads themselves stays outside.
    const c0 = await counters();
    let ns = cpuNs();
    const started = await expectOk(rp('POST', '/v1/operations', startBody(type, user.id, i)), 201, 'probe start');
    const n1 = cpuNs() - ns;
    const c1 = await counters();
    ns = cpuNs();
    const { publicKey } = await expectOk(sdk(started, 'start', {}), 200, 'probe sdk start');
    const n2 = cpuNs() - ns;
    const c2 = await counters();
    const credential = await user.authenticator.assert(publicKey);
    ns = cpuNs();
    await expectOk(sdk(started, 'finish', { credential }), 200, 'probe sdk finish');
    const n3 = cpuNs() - ns;
    const c3 = await counters();
    ns = cpuNs();
    await expectOk(rp('GET', `/v1/operations/${started.id}`), 200, 'probe status');
    const n4 = cpuNs() - ns;
    const c4 = await counters();
    add('rpStart', addCounters(c1, c0, -1), n1);
    add('sdkStart', addCounters(c2, c1, -1), n2);
    add('sdkFinish', addCounters(c3, c2, -1), n3);
    add('rpStatus', addCounters(c4, c3, -1), n4);
    add('total', addCounters(c4, c0, -1), n1 + n2 + n3 + n4);
  }
  return Object.fromEntries(Object.entries(sums).map(([step, delta]) => [step, roundAll({ ...flatCounters(delta, config.probes), workerCpuMs: cpuMs[step] / config.probes })]));
}

// ── the run ──────────────────────────────────────────────────────────────────────────────────────
const result = {
  at: new Date().toISOString(),
  machine: {
    cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.versions.node, wrangler: JSON.parse(readFileSync(join(root, 'node_modules/wrangler/package.json'), 'utf8')).version,
  },
  config: { ...config, url: baseUrl, route, proxyUrl: server?.url ?? null, liveUsers },
  cryptoFloor,
  requestFloor,
  roundTrips: null,
  scales: [],
};

let storeUsers = liveUsers;
for (const scale of config.scales) {
  if (scale > storeUsers) {
    if (!countersOn) {
      log(`skipping the ${scale}-user scale: seeding needs BENCH_COUNTERS=true`);
      continue;
    }
    log(`seeding ${scale - storeUsers} users (one passkey each) to reach ${scale}`);
    for (let seeded = 0; seeded < scale - storeUsers; seeded += 10_000) {
      const count = Math.min(10_000, scale - storeUsers - seeded);
      await expectOk(admin('POST', '/__bench/seed', { tenantId: tenant.id, count, label: `s${scale}-${seeded}` }), 200, 'seed');
    }
    storeUsers = scale;
    // Let the store settle (WAL checkpoint, page cache) so the first timed phase does not pay for the bulk insert.
    await phase(config.types[0], 5, { measure: false });
  }
  await refreshToken();
  if (config.probes > 0 && countersOn && !result.roundTrips) {
    // Warm the server first (about 400 ceremonies: JIT, and nearly all of the 128 operation shards created),
    // so the per-step CPU shows a steady ceremony rather than one-time object creation.
    log('warming up before the per-step probe');
    await phase(config.types[0], 5, { measure: false });
    log('counting round trips per step');
    result.roundTrips = {};
    for (const type of config.types) result.roundTrips[type] = await probeSteps(type);
  }
  const entry = { users: storeUsers, devices: storeUsers, types: {} };
  for (const type of config.types) {
    if (config.warmup > 0) await phase(type, config.warmup, { measure: false });
    const runs = [];
    for (let r = 0; r < config.runs; r++) {
      log(`${storeUsers} users · ${type} · run ${r + 1}/${config.runs} · ${config.seconds} s`);
      runs.push(await phase(type, config.seconds, { measure: true }));
      await sleep(250);
    }
    entry.types[type] = { median: medianOf(runs.map(({ errors: _errors, ...r }) => r)), errors: runs.reduce((s, r) => s + r.errorCount, 0), errorKinds: mergeErrors(runs), runs };
  }
  result.scales.push(entry);
}
function mergeErrors(runs) {
  const out = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.errors)) out[k] = (out[k] ?? 0) + v;
  return out;
}

http.close();
mkdirSync(join(opts.out, '..'), { recursive: true });
writeFileSync(opts.out, JSON.stringify(result, null, 2));
console.log(render(result));
console.log('\n' + JSON.stringify(summary(result)));
console.error(`· full results in ${opts.out}`);

function summary(r) {
  return {
    machine: r.machine, config: { clients: r.config.clients, seconds: r.config.seconds, runs: r.config.runs, url: r.config.url, route: r.config.route },
    requestFloor: r.requestFloor,
    cryptoFloor: r.cryptoFloor && {
      es256VerifyPlusSha256PerSecond: r.cryptoFloor.es256VerifyPlusSha256.perSecond, es256SignPerSecond: r.cryptoFloor.es256Sign.perSecond,
      ceremonyCryptoPerSecond: r.cryptoFloor.ceremonyCryptoPerSecond,
    },
    scales: r.scales.map((s) => ({
      users: s.users,
      types: Object.fromEntries(Object.entries(s.types).map(([type, t]) => [type, {
        perSecond: t.median.perSecond, p50: t.median.latency.ceremony.p50, p95: t.median.latency.ceremony.p95, p99: t.median.latency.ceremony.p99,
        workerCpuMsPerCeremony: t.median.cpuMsPerCeremony.worker, ceremoniesPerWorkerCpuSecond: t.median.ceremoniesPerWorkerCpuSecond,
        appCpuMsPerCeremony: t.median.appCpuMsPerCeremony, ceremoniesPerAppCpuSecond: t.median.ceremoniesPerAppCpuSecond,
        fractionOfCryptoFloor: t.median.fractionOfCryptoFloor, perCeremony: t.median.perCeremony, errors: t.errors,
      }])),
    })),
    roundTrips: r.roundTrips,
  };
}
cleanup();
process.exit(0);
