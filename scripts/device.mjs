// A simulated phone for local testing: registers a native device from an sdk.url and approves operations with it (docs/native-protocol.md).
// Usage: npm run device -- register <sdk.url> | approve <operationId> | reject <operationId> | pending
//        options: --state <file> (default .wrangler/device.json), --url <base URL>, --uv face|fpt|pin, --yes, --number <NN>
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { stdin, stdout } from 'node:process';

const USAGE = `Usage: npm run device -- <command> [options]
  register <sdk.url>      bind a new simulated phone from a REGISTRATION's sdk.url (activation code)
  pending                 list the operations waiting for this phone
  approve <operationId>   show an operation, confirm, verify the user, sign and send
  reject <operationId>    decline an operation
Options:
  --state <file>   where the phone keeps its key and device id (default .wrangler/device.json)
  --url <base>     the Custos service (default: from the sdk.url or the state file, else http://localhost:8787)
  --uv <method>    the user verification to report: face, fpt or pin (default fpt)
  --yes            approve without asking
  --number <NN>    the number to pick when the operation uses number matching`;

function parseArgs(argv) {
  const options = { state: '.wrangler/device.json', uv: 'fpt', yes: false };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--yes' || arg === '-y') options.yes = true;
    else if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg.startsWith('--')) {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      options[arg.slice(2)] = value;
    } else positional.push(arg);
  }
  return { command: positional[0], argument: positional[1], options };
}

async function loadClient() {
  const entry = new URL('../web-sdk/dist/native.js', import.meta.url);
  try {
    return await import(entry.href);
  } catch (error) {
    throw new Error(`Cannot load ${entry.pathname} (${error.message}). Build the SDK first: npm run build -w web-sdk`);
  }
}

function readState(file) {
  if (!existsSync(file)) throw new Error(`No phone state in ${file}: register first (npm run device -- register <sdk.url>)`);
  return JSON.parse(readFileSync(file, 'utf8'));
}

async function deviceOf(state) {
  // The simulated phone keeps its private key in a file; a real one keeps it in the Secure Enclave or StrongBox.
  const privateKey = await crypto.subtle.importKey('jwk', state.privateJwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  return { deviceId: state.deviceId, tenantId: state.tenantId, privateKey };
}

async function ask(question) {
  if (!stdin.isTTY) return '';
  const rl = createInterface({ input: stdin, output: stdout });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

function describe(operation) {
  const lines = [`${operation.type} ${operation.id}`];
  if (operation.context) lines.push(`  ${operation.context.title}${operation.context.text ? ` — ${operation.context.text}` : ''}`);
  const show = (t) => `  ${t.amount} ${t.currency} to ${t.payee.name}${t.payee.account ? ` (${t.payee.account})` : ''}${t.reference ? `, ref ${t.reference}` : ''}`;
  if (operation.transaction) lines.push(show(operation.transaction));
  if (operation.transactions) {
    for (const t of operation.transactions) lines.push(show(t));
    if (operation.total) lines.push(`  total ${operation.total.amount} ${operation.total.currency}`);
  }
  if (operation.document) {
    lines.push(`  document ${operation.document.title ?? '(untitled)'} [${operation.document.mimeType}] sha256 ${operation.document.sha256}`);
    if (operation.document.content !== undefined) lines.push(operation.document.content.split('\n').map((l) => `  | ${l}`).join('\n'));
  }
  return lines.join('\n');
}

function checkUv(uv) {
  if (!['face', 'fpt', 'pin'].includes(uv)) throw new Error('--uv must be face, fpt or pin');
  return uv;
}

async function main() {
  const { command, argument, options } = parseArgs(process.argv.slice(2));
  if (options.help || !command) {
    console.log(USAGE);
    return;
  }
  const native = await loadClient();
  const stateFile = resolve(options.state);
  const uv = checkUv(options.uv);

  if (command === 'register') {
    if (!argument) throw new Error('register needs the sdk.url of a REGISTRATION');
    const activation = native.parseActivation(argument);
    const baseUrl = options.url ?? activation.baseUrl;
    const client = native.createNativeClient({ baseUrl });
    const config = await client.config(activation.tenantId);
    console.log(`Registering with ${config.branding.name} at ${baseUrl}`);
    // Extractable only because this phone is simulated and must keep its key in a file.
    const keyPair = await native.generateDeviceKey({ extractable: true });
    const result = await client.register(activation, {
      keyPair,
      chooseNumber: async (choices) => options.number ?? (await ask(`Pick the number shown by the relying party (${choices.join(' / ')}): `)),
      verifyUser: () => {
        console.log(`(simulated user verification: ${uv})`);
        return uv;
      },
    });
    const { key_ops: _ops, ext: _ext, ...privateJwk } = await crypto.subtle.exportKey('jwk', keyPair.privateKey);
    mkdirSync(dirname(stateFile), { recursive: true });
    writeFileSync(
      stateFile,
      `${JSON.stringify({ baseUrl, tenantId: activation.tenantId, deviceId: result.deviceId, publicJwk: await native.publicJwkOf(keyPair.publicKey), privateJwk, registeredAt: new Date().toISOString() }, null, 2)}\n`,
      { mode: 0o600 },
    );
    console.log(`${result.status}: device ${result.deviceId} (state in ${stateFile})`);
    return;
  }

  const state = readState(stateFile);
  const client = native.createNativeClient({ baseUrl: options.url ?? state.baseUrl ?? 'http://localhost:8787' });
  const device = await deviceOf(state);

  if (command === 'pending') {
    const items = await client.pending(device);
    if (items.length === 0) console.log('No pending operations.');
    for (const item of items) console.log(`${describe(item)}\n  expires ${item.expiresAt}\n`);
    return;
  }
  if (command === 'reject') {
    if (!argument) throw new Error('reject needs an operation id');
    console.log((await client.reject(device, argument)).status);
    return;
  }
  if (command === 'approve') {
    if (!argument) throw new Error('approve needs an operation id');
    const result = await client.approve(device, argument, {
      confirm: async (details) => {
        // The SDK has already checked that these details are what the challenge binds (dynamic linking).
        console.log(describe({ ...details, id: argument }));
        if (options.yes) return true;
        return /^y(es)?$/i.test(await ask('Approve? [y/N] '));
      },
      chooseNumber: async (choices) => options.number ?? (await ask(`Pick the number shown by the relying party (${choices.join(' / ')}): `)),
      verifyUser: () => {
        console.log(`(simulated user verification: ${uv})`);
        return uv;
      },
    });
    console.log(result.status);
    return;
  }
  throw new Error(`Unknown command ${command}\n${USAGE}`);
}

main().catch((error) => {
  const code = error?.problem?.code ? ` [${error.problem.code}]` : '';
  console.error(`device: ${error?.message ?? error}${code}`);
  process.exitCode = 1;
});
