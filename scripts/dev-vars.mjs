// Creates .dev.vars for local runs (a random ADMIN_TOKEN and webhook sealing key, kept across restarts); key sets for tests and benches.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, webcrypto } from 'node:crypto';

function parse(text) {
  const vars = {};
  for (const line of text.split('\n')) {
    // Values are written single-quoted (dotenv keeps them literal: JSON needs no escaping); accept plain and double-quoted too.
    const m = line.match(/^([A-Z0-9_]+)\s*=\s*(?:'(.*)'|"(.*)"|(.*?))\s*$/);
    if (m) vars[m[1]] = m[2] ?? m[3] ?? m[4] ?? '';
  }
  return vars;
}

async function privateJwk(kid, usage) {
  const pair = await webcrypto.subtle.generateKey(
    usage === 'sign' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'ECDH', namedCurve: 'P-256' },
    true,
    usage === 'sign' ? ['sign', 'verify'] : ['deriveBits'],
  );
  const jwk = await webcrypto.subtle.exportKey('jwk', pair.privateKey);
  delete jwk.key_ops;
  delete jwk.ext;
  return { ...jwk, kid, alg: usage === 'sign' ? 'ES256' : 'ECDH-ES+A256KW', use: usage === 'sign' ? 'sig' : 'enc' };
}

export async function generateVars() {
  const stamp = new Date().toISOString().slice(0, 10);
  return {
    ADMIN_TOKEN: `adm_${randomBytes(24).toString('base64url')}`,
    SIGNING_KEYS: JSON.stringify([await privateJwk(`sig-${stamp}`, 'sign')]),
    E2E_KEYS: JSON.stringify([await privateJwk(`e2e-${stamp}`, 'enc')]),
    VAPID_KEYS: JSON.stringify([await privateJwk(`vapid-${stamp}`, 'sign')]),
    WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'),
  };
}

/** What local development keeps in .dev.vars. Signing and E2E keys are not among them: the service makes its own in local D1. */
const DEV_VARS = ['ADMIN_TOKEN', 'WEBHOOK_SECRET_KEY'];

export async function ensureDevVarsAsync(root) {
  const file = join(root, '.dev.vars');
  const existing = existsSync(file) ? parse(readFileSync(file, 'utf8')) : {};
  const missing = Object.entries(await generateVars()).filter(([k]) => DEV_VARS.includes(k) && !existing[k]);
  if (missing.length > 0) {
    const lines = missing.map(([k, v]) => `${k}='${v}'`);
    writeFileSync(file, (existsSync(file) ? readFileSync(file, 'utf8').trimEnd() + '\n' : '') + lines.join('\n') + '\n');
  }
  return parse(readFileSync(file, 'utf8'));
}
