// Starts and stops `wrangler dev` for the bench (127.0.0.1 only) and reads the CPU time of its processes from /proc.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const CLOCK_TICKS = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number(out.stdout?.trim());
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
})();

/** True when nothing listens on 127.0.0.1:port. */
export function portIsFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port the OS says is free right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function wranglerJs(root) {
  const js = join(root, 'node_modules/wrangler/bin/wrangler.js');
  if (!existsSync(js)) throw new Error('wrangler is not installed: run npm install first');
  return js;
}

/**
 * No metrics, no config watching, and none of wrangler dev's local observability/explorer: those add a
 * tail worker and a SQLite write (with fsync) to every request, tripling the per-request CPU.
 */
const WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', WRANGLER_CI_DISABLE_CONFIG_WATCHING: 'true', X_LOCAL_OBSERVABILITY: 'false', X_LOCAL_EXPLORER: 'false',
};

function wrangler(root, args, what) {
  const result = spawnSync(process.execPath, [wranglerJs(root), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, ...WRANGLER_ENV } });
  if (result.status !== 0) throw new Error(`${what} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/**
 * Bundles the Worker once into buildDir and writes a config that serves that bundle as is (no
 * bundling, no static assets): `wrangler dev` then watches nothing that editing src/ or public/
 * would touch, so a run is never cut short by a reload. Returns the config path.
 */
export function buildFrozenWorker(root, buildDir) {
  rmSync(buildDir, { recursive: true, force: true });
  mkdirSync(buildDir, { recursive: true });
  const script = `const w = await import('wrangler'); process.stdout.write(JSON.stringify(w.experimental_readRawConfig({ config: ${JSON.stringify(join(root, 'wrangler.toml'))} }).rawConfig));`;
  const read = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, ...WRANGLER_ENV } });
  if (read.status !== 0) throw new Error(`reading wrangler.toml failed:\n${read.stderr}`);
  const raw = JSON.parse(read.stdout);
  delete raw.assets;
  delete raw.build; // the bench bundles its own snapshot: wrangler's custom build step is not for it
  for (const db of raw.d1_databases ?? []) db.migrations_dir = join(root, db.migrations_dir ?? 'migrations');
  const buildConfig = join(buildDir, 'build.json');
  // The bench's own entry (bench/worker/index.ts): the production worker plus counters, which src/ does not carry.
  writeFileSync(buildConfig, JSON.stringify({ ...raw, main: join(root, 'bench/worker/index.ts') }, null, 2));
  wrangler(root, ['deploy', '--dry-run', '--outdir', join(buildDir, 'dist'), '-c', buildConfig], 'bundling the worker');
  const config = join(buildDir, 'wrangler.json');
  writeFileSync(config, JSON.stringify({ ...raw, main: join(buildDir, 'dist/index.js'), no_bundle: true }, null, 2));
  return config;
}

/**
 * Bundles the lean floor (bench/floor.wrangler.jsonc) once, like the worker: `wrangler dev` then serves the
 * bundle as is, with no esbuild service and no file watching in its process tree. Returns the config path.
 */
export function buildFloorWorker(root, buildDir) {
  rmSync(buildDir, { recursive: true, force: true });
  mkdirSync(buildDir, { recursive: true });
  const source = join(root, 'bench/floor.wrangler.jsonc');
  wrangler(root, ['deploy', '--dry-run', '--outdir', join(buildDir, 'dist'), '-c', source], 'bundling the floor');
  const raw = JSON.parse(readFileSync(source, 'utf8').replace(/^\s*\/\/.*$/gm, ''));
  const config = join(buildDir, 'wrangler.json');
  writeFileSync(config, JSON.stringify({ ...raw, main: join(buildDir, 'dist/index.js'), no_bundle: true }, null, 2));
  return config;
}

/** Applies the D1 migrations to a fresh local state directory (deleted first). */
export function freshState(root, configPath, persistDir) {
  rmSync(persistDir, { recursive: true, force: true });
  mkdirSync(persistDir, { recursive: true });
  wrangler(root, ['d1', 'migrations', 'apply', 'custos', '--local', '--persist-to', persistDir, '-c', configPath], 'migrations');
}

/**
 * `wrangler dev` on 127.0.0.1:port with its own state and the given vars, in its own process group
 * so stop() ends it and every child (workerd) at once.
 */
export async function startWrangler({ root, configPath, port, persistDir, vars, logFile }) {
  const inspectorPort = await freePort();
  const args = [
    wranglerJs(root), 'dev', '-c', configPath, '--port', String(port), '--ip', '127.0.0.1', '--inspector-port', String(inspectorPort), '--inspector-ip', '127.0.0.1',
    '--persist-to', persistDir, '--show-interactive-dev-session=false', '--log-level', 'warn',
    ...Object.entries(vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
  ];
  mkdirSync(join(logFile, '..'), { recursive: true });
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, args, { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...WRANGLER_ENV } });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = () => {
    if (exited) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  for (let attempt = 0; attempt < 240; attempt++) {
    if (exited) throw new Error(`wrangler dev exited (${JSON.stringify(exited)}); see ${logFile}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return { url, pid: child.pid, stop, exited: () => exited };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  stop();
  throw new Error(`wrangler dev did not become healthy within 120 s; see ${logFile}`);
}

function readProc(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces: the fields after it start behind the last ')'.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return { pid, comm, ppid: Number(fields[1]), utime: Number(fields[11]), stime: Number(fields[12]), cmdline };
  } catch {
    return null;
  }
}

function allProcesses() {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number).map(readProc).filter(Boolean);
}

function descendants(rootPid) {
  const procs = allProcesses();
  const found = [];
  const queue = [rootPid];
  for (let i = 0; i < queue.length && i < 10_000; i++) {
    for (const p of procs) if (p.ppid === queue[i]) {
      found.push(p);
      queue.push(p.pid);
    }
  }
  return found;
}

/** LISTEN sockets on 127.0.0.1 (IPv4), as a map from socket inode to port. */
function loopbackListeners() {
  const byInode = new Map();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const [address, hexPort] = (cols[1] ?? '').split(':');
    if (address === '0100007F' && cols[3] === '0A') byInode.set(cols[9], parseInt(hexPort, 16));
  }
  return byInode;
}

/** The socket inodes among a process's open file descriptors. */
function socketInodes(pid) {
  const inodes = [];
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith('socket:[')) inodes.push(target.slice(8, -1));
    }
  } catch {
    // not ours to read, or the process (or that fd) is gone
  }
  return inodes;
}

/** The pid holding the LISTEN socket on 127.0.0.1:port (for --url runs), or null. */
function listenerPid(port) {
  const inode = [...loopbackListeners()].find(([, p]) => p === port)?.[0];
  if (!inode) return null;
  return allProcesses().find((p) => socketInodes(p.pid).includes(inode))?.pid ?? null;
}

/** The 127.0.0.1 ports a process listens on, ascending. */
function listeningPorts(pid) {
  const listeners = loopbackListeners();
  return socketInodes(pid).filter((inode) => listeners.has(inode)).map((inode) => listeners.get(inode)).sort((a, b) => a - b);
}

/** True when GET /healthz on 127.0.0.1:port answers 200 with JSON within a second (our worker, not the inspector or a control socket). */
async function answersHealthz(port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    if (res.status !== 200 || !(res.headers.get('content-type') ?? '').includes('json')) return false;
    await res.json();
    return true;
  } catch {
    // not HTTP, not ours, or no answer in time
    return false;
  }
}

/**
 * The runtime workerd's own HTTP entry, or null. wrangler dev's proxy workerd (on --port) forwards every
 * request to this random port; calling it directly skips that dev-only hop (~1.3 ms CPU per request in a
 * second process that competes with the client for the cores). The runtime also listens on its inspector
 * and control ports, so each port is asked for /healthz and the one that answers like Custos wins.
 */
export async function directEntry(processes) {
  const ports = processes.filter((p) => p.role === 'worker' && p.comm === 'workerd').flatMap((p) => listeningPorts(p.pid));
  const answers = await Promise.all(ports.map(answersHealthz));
  const port = ports.find((_, i) => answers[i]);
  return port === undefined ? null : `http://127.0.0.1:${port}`;
}

/**
 * The server's processes by role: `worker` (the workerd running Custos, its DOs and local D1),
 * `proxy` (wrangler's dev proxy workerd in front of it) and `wrangler` (the node supervisor).
 */
export function serverProcesses({ wranglerPid, port }) {
  let rootPid = wranglerPid;
  if (!rootPid) {
    const listener = listenerPid(port);
    if (!listener) return [];
    const parent = readProc(readProc(listener)?.ppid ?? -1);
    rootPid = parent && parent.comm === 'node' ? parent.pid : listener;
    if (rootPid === listener) return [{ ...readProc(listener), role: 'worker' }];
  }
  const root = readProc(rootPid);
  return [root, ...descendants(rootPid)].filter(Boolean).map((p) => ({
    ...p,
    role: p.comm === 'workerd' ? (p.cmdline.includes(`entry=127.0.0.1:${port}`) ? 'proxy' : 'worker') : p.comm === 'node' ? 'wrangler' : 'other',
  }));
}

/** CPU seconds (user + system) per role, summed over the processes of that role. */
export function cpuByRole(processes) {
  const totals = { worker: 0, proxy: 0, wrangler: 0, other: 0 };
  for (const p of processes) {
    const now = readProc(p.pid);
    if (now) totals[p.role] += (now.utime + now.stime) / CLOCK_TICKS;
  }
  return totals;
}

/** Nanosecond CPU time per role, summed over every thread's schedstat (finer than the 10 ms ticks of stat). */
export function cpuNsByRole(processes) {
  const totals = { worker: 0, proxy: 0, wrangler: 0, other: 0 };
  for (const p of processes) {
    try {
      for (const task of readdirSync(`/proc/${p.pid}/task`)) {
        totals[p.role] += Number(readFileSync(`/proc/${p.pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      }
    } catch {
      // the process or thread ended
    }
  }
  return totals;
}

/**
 * The Node peer (bench/peer/server.mjs) on 127.0.0.1:port, in its own process group; resolves once
 * GET /healthz answers. Same Node as the bench (22, for node:sqlite without a flag).
 */
export async function startPeer({ root, port, dbPath, origin, logFile }) {
  rmSync(dbPath, { force: true });
  for (const suffix of ['-wal', '-shm']) rmSync(dbPath + suffix, { force: true });
  mkdirSync(join(logFile, '..'), { recursive: true });
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(root, 'bench/peer/server.mjs')], {
    cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: String(port), DB_PATH: dbPath, ORIGIN: origin, RP_ID: 'localhost' },
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const stop = () => {
    if (exited) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 60; attempt++) {
    if (exited) throw new Error(`the Node peer exited (${JSON.stringify(exited)}); see ${logFile}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return { url, pid: child.pid, stop, exited: () => exited };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  stop();
  throw new Error(`the Node peer did not answer within 15 s; see ${logFile}`);
}

/** utime + stime (CPU seconds, from /proc/<pid>/stat) per role; the process list is read anew from the tree each time. */
export function treeCpuByRole(listProcesses) {
  return cpuByRole(listProcesses());
}

/**
 * Waits until the processes' CPU stops moving (schedstat, ns): work a server does after its last response
 * (logging, I/O completion, GC) is then inside the window. Polls every `stepMs`; done when a step adds less
 * than `quietNs`, or after `maxMs`.
 */
export async function settle(processes, { stepMs = 20, quietNs = 200_000, maxMs = 1500 } = {}) {
  const total = () => Object.values(cpuNsByRole(processes)).reduce((a, b) => a + b, 0);
  let last = total();
  const until = Date.now() + maxMs;
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, stepMs));
    const now = total();
    if (now - last < quietNs) return;
    last = now;
  }
}
