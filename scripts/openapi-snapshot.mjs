// `npm run openapi:snapshot [-- --port N]`: serves the worker with `wrangler dev`, fetches /openapi.json and writes docs/openapi.json.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const wranglerBin = join(root, 'node_modules/.bin/wrangler');
const target = join(root, 'docs/openapi.json');
// The live document's servers come from PUBLIC_URL; the committed one names a placeholder instead.
const PLACEHOLDER_SERVERS = [{ url: 'https://custos.example.com', description: 'your PUBLIC_URL' }];
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 5_000;

function portArgument() {
  const index = process.argv.indexOf('--port');
  const raw = index >= 0 ? process.argv[index + 1] : process.env.OPENAPI_SNAPSHOT_PORT;
  if (raw === undefined) return { port: 8797, given: false };
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port must be a TCP port, not ${raw}`);
  return { port, given: true };
}

/** Resolves to `port` when it can be bound on 127.0.0.1, else to a port the OS picks (when `port` is 0 or taken). */
function bindable(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => (port === 0 ? resolve(null) : bindable(0).then(resolve)));
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address();
      server.close(() => resolve(bound));
    });
  });
}

function runOrExit(cmd, args) {
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`${cmd} ${args.join(' ')} failed`);
    process.exit(result.status ?? 1);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function fetchDocument(base, wrangler) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (wrangler.exitCode !== null) throw new Error(`wrangler dev exited with ${wrangler.exitCode} before serving /openapi.json`);
    try {
      const res = await fetch(`${base}/openapi.json`, { signal: AbortSignal.timeout(5_000) });
      if (res.ok) return await res.json();
      throw new Error(`GET /openapi.json → ${res.status} ${await res.text()}`);
    } catch (error) {
      // Refused connections mean "not up yet"; a real HTTP answer that is not 200 is a failure.
      if (error instanceof Error && error.message.startsWith('GET /openapi.json')) throw error;
    }
    await sleep(500);
  }
  throw new Error(`wrangler dev did not serve ${base}/openapi.json within ${READY_TIMEOUT_MS / 1000} s`);
}

/** Stops wrangler and its workerd children (its own process group): SIGTERM, then SIGKILL after a bounded wait. */
async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const done = await Promise.race([exited.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)]);
  if (!done) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const requested = portArgument();
const port = await bindable(requested.port);
if (port === null || (requested.given && port !== requested.port)) {
  console.error(`port ${requested.port} is taken`);
  process.exit(1);
}
if (!existsSync(join(root, 'public'))) runOrExit('npm', ['run', 'build']);

// A throwaway local state: the snapshot never touches the developer's .wrangler/state.
const persist = mkdtempSync(join(tmpdir(), 'custos-openapi-'));
const inspectorPort = await bindable(0);
let wrangler;
let status = 0;
try {
  runOrExit(wranglerBin, ['d1', 'migrations', 'apply', 'custos', '--local', '--persist-to', persist]);
  wrangler = spawn(
    wranglerBin,
    ['dev', '--port', String(port), '--ip', '127.0.0.1', '--inspector-port', String(inspectorPort), '--persist-to', persist, '--log-level', 'warn', '--show-interactive-dev-session=false'],
    // Its own process group, so stop() reaches workerd too; stdin ignored so wrangler never waits for keys.
    // CUSTOS_PREBUILT: built above; wrangler's [build] step must not migrate the default state or write .dev.vars.
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], detached: true, env: { ...process.env, CUSTOS_PREBUILT: '1' } },
  );
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, async () => {
      await stop(wrangler);
      rmSync(persist, { recursive: true, force: true });
      process.exit(1);
    });
  }
  const document = await fetchDocument(`http://127.0.0.1:${port}`, wrangler);
  document.servers = PLACEHOLDER_SERVERS;
  writeFileSync(target, `${JSON.stringify(document, null, 2)}\n`);
  const paths = Object.keys(document.paths ?? {}).length;
  console.log(`wrote docs/openapi.json (${paths} paths); check it with npm run lint:openapi`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  status = 1;
} finally {
  if (wrangler) await stop(wrangler);
  rmSync(persist, { recursive: true, force: true });
}
process.exit(status);
