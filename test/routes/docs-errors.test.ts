// docs/errors.md lists every code of the error registry (src/errors.ts) with the status the service really sends.
import { describe, expect, it } from 'vitest';
import errorsDoc from '../../docs/errors.md?raw';
import { ERROR_CODES } from '../../src/errors';
import type { ErrorCode } from '../../src/errors';
import { workerFetch } from '../helpers/api';

/** Rows of the markdown tables that start with a code: `| \`CODE\` | status | meaning |`. */
function documentedCodes(markdown: string): Map<string, number> {
  const rows = new Map<string, number>();
  for (const match of markdown.matchAll(/^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|\s*(\d{3})\s*\|\s*\S.*\|\s*$/gm)) {
    rows.set(match[1]!, Number(match[2]));
  }
  return rows;
}

describe('docs/errors.md', () => {
  const documented = documentedCodes(errorsDoc);

  it('has a row, with the right status and a meaning, for every code in ERROR_CODES', () => {
    const missing = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((code) => !documented.has(code));
    expect(missing, 'codes in src/errors.ts without a row in docs/errors.md').toEqual([]);
    const wrongStatus = (Object.keys(ERROR_CODES) as ErrorCode[])
      .filter((code) => documented.get(code) !== ERROR_CODES[code].status)
      .map((code) => `${code}: registry ${ERROR_CODES[code].status}, docs ${documented.get(code)}`);
    expect(wrongStatus).toEqual([]);
  });

  it('documents no code the service does not have (a renamed or removed code must leave the page too)', () => {
    const stale = [...documented.keys()].filter((code) => !(code in ERROR_CODES));
    expect(stale, 'codes in docs/errors.md that src/errors.ts does not define').toEqual([]);
  });

  it('parses the table at all (a reformatted table must not make the check above vacuous)', () => {
    expect(documented.size).toBeGreaterThanOrEqual(Object.keys(ERROR_CODES).length);
    expect(documented.get('USER_NOT_FOUND')).toBe(404);
  });

  it('describes the problem shape the service really sends', async () => {
    const res = await workerFetch('/v1/no-such-route');
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = (await res.json()) as Record<string, unknown>;
    // The members the page documents as always present.
    for (const member of ['type', 'title', 'status', 'detail', 'code', 'traceId']) {
      expect(body, member).toHaveProperty(member);
      expect(errorsDoc).toContain(`\`${member}\``);
    }
    expect(body.type).toBe('https://custos.dev/problems/not-found');
    expect(body.traceId).toBe(res.headers.get('x-trace-id'));
  });
});
