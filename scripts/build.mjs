// `npm run build` and wrangler's own [build] step: the web SDK, the static assets; under `wrangler dev` also the local D1 schema and .dev.vars.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureDevVarsAsync } from './dev-vars.mjs';

const root = new URL('..', import.meta.url).pathname;
// Test and bench harnesses build first and bring their own state and vars: the wrangler dev they start skips this step.
if (process.env.CUSTOS_PREBUILT === '1') process.exit(0);
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

run('npm', ['run', '--silent', 'build', '-w', 'web-sdk']);
run(process.execPath, [join(root, 'scripts/build-assets.mjs')]);

// wrangler sets WRANGLER_COMMAND for the custom build it runs: only a local `wrangler dev` gets a local schema and
// an operator token, so a plain `npx wrangler dev` on a fresh clone serves the whole contract. Never on deploy.
if (process.env.WRANGLER_COMMAND === 'dev') {
  const vars = await ensureDevVarsAsync(root);
  console.log(`operator token: ADMIN_TOKEN in .dev.vars (${vars.ADMIN_TOKEN ? 'present' : 'missing'})`);
  run(process.execPath, [join(root, 'node_modules/wrangler/bin/wrangler.js'), 'd1', 'migrations', 'apply', 'custos', '--local']);
}
