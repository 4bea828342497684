// Packs @custos/web-sdk and @custos/node as `npm publish` would and installs the tarballs into a project: shared by scripts/pack-check.mjs and the e2e tests.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export const root = new URL('..', import.meta.url).pathname;

/**
 * Runs one bounded child process and answers its stdout; a non-zero exit or a timeout throws with both
 * streams. `quiet` leaves out the `ok <label>` line (test output stays readable).
 */
export function run(label, cmd, args, options) {
  const { quiet = false, ...spawnOptions } = options;
  const started = Date.now();
  const result = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' }, ...spawnOptions });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.error || result.status !== 0) {
    const why = result.error?.code === 'ETIMEDOUT' ? `timed out after ${spawnOptions.timeout / 1000} s` : `exit ${result.status}`;
    throw new Error(`${label} failed (${why}):\n${result.stdout ?? ''}\n${result.stderr ?? ''}`);
  }
  if (!quiet) console.log(`ok  ${label} (${seconds} s)`);
  return result.stdout;
}

/**
 * `npm pack` of both packages into `destination` (prepack builds each one). Answers the tarball paths and, per
 * package, the files it would publish.
 */
export function packPackages(destination, { timeout = 300_000, quiet = false } = {}) {
  const output = run('npm pack (web-sdk, packages/node)', 'npm', ['pack', '--json', '--pack-destination', destination, '-w', 'web-sdk', '-w', 'packages/node'], {
    cwd: root,
    timeout,
    quiet,
  });
  // The prepack builds print to the same stdout; npm's JSON report is the array at the end.
  const packed = JSON.parse(output.slice(output.search(/^\[\s*\{/m)));
  return {
    tarballs: readdirSync(destination).filter((f) => f.endsWith('.tgz')).map((f) => join(destination, f)),
    packages: packed.map((p) => ({ name: p.name, files: p.files.map((f) => f.path).sort() })),
  };
}

/** `npm install` of the tarballs into the project at `cwd`; their own dependencies come from the registry or the npm cache. */
export function installTarballs(cwd, tarballs, { timeout = 300_000, quiet = false, extraArgs = [] } = {}) {
  return run('npm install of the tarballs', 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...extraArgs, ...tarballs], { cwd, timeout, quiet });
}
