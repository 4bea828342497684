// House rules of the layout (docs/architecture.md) that a reviewer should not have to check by eye: SQL is written in
// src/storage/ only (routes, services, middleware and Durable Objects call named storage functions, so every query of
// a table is in one place), and no module imports itself back at run time (type-only imports aside).
import { describe, expect, it } from 'vitest';

const sources = import.meta.glob('../../src/**/*.{ts,tsx}', { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

/** A D1 statement, a Durable Object's SQLite call, or a string literal that starts like SQL. */
const SQL = /\.prepare\(|\bsql\.exec\b|['"`]\s*(?:SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|PRAGMA|REPLACE)\s/g;

function sqlIn(text: string): string[] {
  return [...text.matchAll(SQL)].map((m) => m[0]);
}

describe('SQL lives in src/storage/', () => {
  it('finds none outside src/storage/', () => {
    const outside = Object.entries(sources)
      .filter(([path]) => !path.includes('/src/storage/'))
      .flatMap(([path, text]) => sqlIn(text).map((hit) => `${path.replace(/^.*\/src\//, 'src/')}: ${hit}`));
    expect(outside).toEqual([]);
  });

  it('sees the whole tree, and the SQL where it belongs (the check can fail)', () => {
    const paths = Object.keys(sources).map((p) => p.replace(/^.*\/src\//, 'src/'));
    expect(paths).toContain('src/routes/v1/operations.ts');
    expect(paths).toContain('src/durable-objects/operation.ts');
    expect(sqlIn(sources[Object.keys(sources).find((p) => p.endsWith('/src/storage/operation-start.ts'))!]!)).not.toEqual([]);
    expect(sqlIn(sources[Object.keys(sources).find((p) => p.endsWith('/src/storage/shard-store.ts'))!]!)).toContain('sql.exec');
    // The pattern itself: a route that queried D1 inline would be caught.
    expect(sqlIn("await c.env.DB.prepare('SELECT * FROM users WHERE id = ?1')")).toEqual(['.prepare(', "'SELECT "]);
    expect(sqlIn('const re = /x/; re.exec(text); throw new ApiError("Selected")')).toEqual([]);
  });
});

/** The modules a file imports at run time (`import type` and `import('…')` in type positions do not count). */
function runtimeImports(path: string, text: string): string[] {
  const dir = path.slice(0, path.lastIndexOf('/'));
  const specs = [...text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'(\.{1,2}\/[^']+)'/gms)].map((m) => m[1]!);
  return specs.map((spec) => {
    const parts = `${dir}/${spec}`.split('/');
    const out: string[] = [];
    for (const part of parts) {
      if (part === '..') out.pop();
      else if (part !== '.') out.push(part);
    }
    const joined = out.join('/');
    return /\.m?[jt]s$/.test(joined) ? joined : `${joined}.ts`;
  });
}

/** One import cycle of the graph as a path a → … → a, or null. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

describe('src/ has no import cycle at run time', () => {
  // Keys as Vite gives them ('../../src/app.ts') become 'src/app.ts', so imports resolve against the same names.
  const graph = new Map(Object.entries(sources).map(([key, text]) => {
    const path = key.replace(/^.*?\/src\//, 'src/');
    return [path, runtimeImports(path, text)] as const;
  }).map(([path, imports]) => {
    // An extensionless import may name a .tsx module (the console's hono/jsx pages).
    const names = new Set(Object.keys(sources).map((k) => k.replace(/^.*?\/src\//, 'src/')));
    return [path, imports.map((p) => (!names.has(p) && names.has(`${p}x`) ? `${p}x` : p))] as const;
  }));

  it('finds none', () => {
    expect(findCycle(graph)).toBeNull();
  });

  it('resolves the imports it reads and would see a cycle (the check can fail)', () => {
    const app = graph.get('src/app.ts')!;
    expect(app).toContain('src/routes/v1/operations.ts');
    expect(app.every((p) => graph.has(p) || p.endsWith('.mjs'))).toBe(true);
    expect(runtimeImports('/r/src/a.ts', "import type { X } from './b';\nimport { Y } from '../c';\nexport { Z } from './d/e';")).toEqual(['/r/c.ts', '/r/src/d/e.ts']);
    expect(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(new Map([['a', ['b']], ['b', []]]))).toBeNull();
  });
});
