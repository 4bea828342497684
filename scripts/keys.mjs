// `npm run keys`: prints fresh production secrets (ADMIN_TOKEN, SIGNING_KEYS, E2E_KEYS, VAPID_KEYS, WEBHOOK_SECRET_KEY) and the commands that store them.
import { generateVars } from './dev-vars.mjs';

// The same generator as .dev.vars, so local and production keys have one shape (kid, alg, use), but
// nothing is written to disk here: the values go straight into `wrangler secret put`.
const vars = await generateVars();
const json = process.argv.includes('--json');
if (json) {
  // For `wrangler secret bulk`: one JSON object of name → value.
  console.log(JSON.stringify(vars, null, 2));
} else {
  for (const [name, value] of Object.entries(vars)) console.log(`${name}=${value}\n`);
  console.error(
    [
      'Store each with `npx wrangler secret put NAME` (paste the value at the prompt), or all at once:',
      '  npm run --silent keys -- --json | npx wrangler secret bulk   (nothing touches the disk)',
      'Keep no copy: a leaked SIGNING_KEYS forges result tokens, a leaked E2E_KEYS reads native traffic.',
    ].join('\n'),
  );
}
