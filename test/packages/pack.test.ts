// Runs scripts/pack-check.mjs and holds it to its findings: clean tarballs, a working install, Node use, a browser bundle, resolvable types.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

interface Findings {
  ok: boolean;
  tarballs?: { name: string; files: string[] }[];
  node?: { event: { id: string; type: string }; tampered: string };
  browserBundleBytes?: number;
  typecheck?: string;
}

it('the packed @custos/web-sdk and @custos/node install into a fresh project and work there', () => {
  const script = fileURLToPath(new URL('../../scripts/pack-check.mjs', import.meta.url));
  const run = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 840_000 });
  const last = run.stdout.trim().split('\n').at(-1) ?? '{}';
  const findings = JSON.parse(last) as Findings;
  expect(findings.ok, `${run.stdout}\n${run.stderr}`).toBe(true);
  expect(run.status).toBe(0);

  const files = new Map(findings.tarballs?.map((t) => [t.name, t.files]));
  expect(files.get('@custos/web-sdk')).toEqual(expect.arrayContaining(['README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/native.js', 'dist/confirm.js', 'dist/custos.browser.js']));
  expect(files.get('@custos/node')).toEqual(expect.arrayContaining(['README.md', 'dist/index.js', 'dist/index.d.ts']));
  for (const list of files.values()) expect(list.filter((f) => /(^|\/)(src|test)\//.test(f) || f.endsWith('.test.ts'))).toEqual([]);
  expect(findings.node).toMatchObject({ event: { id: 'evt_pack', type: 'user.locked' }, tampered: 'INVALID_SIGNATURE' });
  expect(findings.browserBundleBytes).toBeGreaterThan(1000);
  expect(findings.typecheck).toBe('ok');
});
