// `npm test`: build, then every suite (workers runtime, web-sdk and @custos/node units, the pack check, the crash test, the CIBA interop test, real-browser e2e), and one closing tally line.
// `npm run test:unit` (`--unit`): the fast subset without packing or a browser: workers runtime, web-sdk and @custos/node units.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, 'test-artifacts');
mkdirSync(out, { recursive: true });
const vitest = join(root, 'node_modules/.bin/vitest');

const suites = [
  { name: 'workers', cwd: root, args: ['run'] },
  { name: 'web-sdk', cwd: join(root, 'web-sdk'), args: ['run'] },
  { name: 'node', cwd: join(root, 'packages/node'), args: ['run'] },
  // Packs both packages and uses them from a fresh project (scripts/pack-check.mjs).
  { name: 'packages', cwd: root, args: ['run', '-c', 'test/packages/vitest.packages.config.ts'] },
  // SIGKILLs a real `wrangler dev` (127.0.0.1:8792, receiver on 8795) mid-finish and checks D1, operations, audit and webhooks agree.
  { name: 'crash', cwd: root, args: ['run', '-c', 'test/crash/vitest.crash.config.ts'] },
  // openid-client (a third-party OIDC library) against a real `wrangler dev` on 127.0.0.1:8793: discovery, CIBA poll and ping, a payment.
  { name: 'ciba', cwd: root, args: ['run', '-c', 'test/ciba/vitest.ciba.config.ts'] },
  { name: 'e2e', cwd: root, args: ['run', '-c', 'test/e2e/vitest.e2e.config.ts'] },
];

const UNIT = new Set(['workers', 'web-sdk', 'node']);
const selected = process.argv.includes('--unit') ? suites.filter((suite) => UNIT.has(suite.name)) : suites;

function run(cmd, args, cwd) {
  return spawnSync(cmd, args, { cwd, stdio: 'inherit', env: process.env }).status ?? 1;
}

if (run('npm', ['run', 'build'], root) !== 0) {
  console.error('build failed');
  process.exit(1);
}

let passed = 0;
let failed = 0;
let skipped = 0;
const broken = [];
for (const suite of selected) {
  const report = join(out, `vitest-${suite.name}.json`);
  rmSync(report, { force: true });
  const status = run(vitest, [...suite.args, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`], suite.cwd);
  if (existsSync(report)) {
    const result = JSON.parse(readFileSync(report, 'utf8'));
    passed += result.numPassedTests;
    failed += result.numFailedTests;
    skipped += result.numPendingTests + (result.numTodoTests ?? 0);
  }
  if (status !== 0) broken.push(suite.name);
}

if (broken.length > 0) console.error(`suites that failed: ${broken.join(', ')}`);
console.log(`Tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(broken.length > 0 || failed > 0 || passed === 0 ? 1 : 0);
