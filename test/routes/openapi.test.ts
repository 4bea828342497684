// /openapi.json: the served document equals the committed docs/openapi.json, and every operation is named and described.
import { describe, expect, it } from 'vitest';
import snapshot from '../../docs/openapi.json';
import { workerFetch } from '../helpers/api';

type Operation = { operationId?: string; summary?: string; description?: string; tags?: string[]; responses?: Record<string, unknown> };
type Document = { paths: Record<string, Record<string, Operation>>; servers?: unknown; tags?: { name: string; description?: string }[] };

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']);

async function served(): Promise<Document> {
  const res = await workerFetch('/openapi.json');
  expect(res.status).toBe(200);
  return (await res.json()) as Document;
}

function operations(doc: Document): { key: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).filter(([method]) => METHODS.has(method)).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })),
  );
}

/** The document minus `servers`, which the live service derives from PUBLIC_URL and the snapshot replaces by a placeholder. */
function withoutServers(doc: Document): Omit<Document, 'servers'> {
  const { servers: _servers, ...rest } = doc;
  return rest;
}

describe('GET /openapi.json', () => {
  it('matches the committed docs/openapi.json (ignoring servers)', async () => {
    const live = withoutServers(await served());
    const committed = withoutServers(snapshot as unknown as Document);
    // A route, schema or description changed without a new snapshot: the published contract would lie.
    const changed = live.paths === undefined ? ['(no paths)'] : [
      ...Object.keys(live.paths).filter((p) => JSON.stringify(live.paths[p]) !== JSON.stringify(committed.paths[p])),
      ...Object.keys(committed.paths).filter((p) => !(p in live.paths)),
    ];
    expect(
      JSON.stringify(live) === JSON.stringify(committed),
      `docs/openapi.json is stale${changed.length ? ` (paths: ${changed.join(', ')})` : ' (components or info)'}: run \`npm run openapi:snapshot\` and commit the result`,
    ).toBe(true);
  });

  it('commits a placeholder server, never the host the snapshot was taken on', () => {
    expect((snapshot as unknown as Document).servers).toEqual([{ url: 'https://custos.example.com', description: 'your PUBLIC_URL' }]);
  });

  it('gives every path and method a unique camelCase operationId, a summary, a description and a described tag', async () => {
    const doc = await served();
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(30);
    const tags = new Map((doc.tags ?? []).map((t) => [t.name, t.description]));
    const problems: string[] = [];
    const seen = new Map<string, string>();
    for (const { key, op } of ops) {
      if (!op.operationId || !/^[a-z][a-zA-Z0-9]*$/.test(op.operationId)) problems.push(`${key}: operationId ${op.operationId ?? 'missing'}`);
      else if (seen.has(op.operationId)) problems.push(`${key}: operationId ${op.operationId} also used by ${seen.get(op.operationId)}`);
      else seen.set(op.operationId, key);
      if (!op.summary) problems.push(`${key}: no summary`);
      if (!op.description) problems.push(`${key}: no description`);
      if (!op.tags?.length || op.tags.some((t) => !tags.get(t))) problems.push(`${key}: tags ${JSON.stringify(op.tags)} not all declared with a description`);
      if (!Object.keys(op.responses ?? {}).some((status) => /^[45]/.test(status))) problems.push(`${key}: no error response documented`);
    }
    expect(problems).toEqual([]);
  });

  it('covers the relying-party, operator, OAuth, SDK and well-known routes', async () => {
    const keys = new Set(operations(await served()).map((o) => o.key));
    for (const key of [
      'POST /oauth/token', 'POST /v1/users', 'GET /v1/operations/{operationId}', 'POST /v1/operations/{operationId}/cancel',
      'GET /v1/audit-events/verify', 'POST /v1/webhooks/test', 'PATCH /admin/v1/tenants/{tenantId}', 'PUT /admin/v1/tenants/{tenantId}/webhook',
      'GET /sdk/v1/config', 'POST /sdk/v1/operations/{id}/start', 'POST /sdk/v1/operations/{id}/finish', 'POST /sdk/v1/operations/{id}/reject',
      'GET /sdk/v1/devices/me/operations', 'GET /.well-known/jwks.json', 'GET /healthz',
    ]) {
      expect(keys, key).toContain(key);
    }
  });
});
