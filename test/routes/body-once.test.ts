// The body guard reads each request body once and every later reader (route validator, Idempotency-Key hash,
// SDK handlers, native envelopes) is served from that read: these tests pin what they must still see.
import { describe, expect, it } from 'vitest';
import { countRows, expectProblem, setupTenant, workerFetch } from '../helpers/api';
import { createUser, sdkStart, startOperation } from '../helpers/ceremony';

const BIG = JSON.stringify({ attributes: { a: 'x'.repeat(256 * 1024) } });

function streamed(text: string): ReadableStream<Uint8Array> {
  return new Blob([text]).stream();
}

describe('one read of the body serves every reader', () => {
  it('the validator sees the guard’s value: a streamed body, a BOM-prefixed body and a body in many chunks create the user', async () => {
    const { tenant, api } = await setupTenant();
    const one = await api('/v1/users', { method: 'POST', body: streamed(JSON.stringify({ externalRef: 'streamed-1' })) });
    expect(one.status, await one.clone().text()).toBe(201);
    expect(await one.json()).toMatchObject({ externalRef: 'streamed-1' });
    const bom = await api('/v1/users', { method: 'POST', body: `\uFEFF${JSON.stringify({ externalRef: 'bom-1' })}` });
    expect(bom.status, await bom.clone().text()).toBe(201);
    expect(await bom.json()).toMatchObject({ externalRef: 'bom-1' });
    // Many small chunks (no Content-Length): the guard joins them before decoding, so a multi-byte character split across chunks survives.
    const text = JSON.stringify({ externalRef: 'chunks-1', attributes: { name: 'Zoë Ærøskøbing €' } });
    const bytes = new TextEncoder().encode(text);
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 3) controller.enqueue(bytes.slice(i, i + 3));
        controller.close();
      },
    });
    const many = await api('/v1/users', { method: 'POST', body: chunked });
    expect(many.status, await many.clone().text()).toBe(201);
    expect(await many.json()).toMatchObject({ externalRef: 'chunks-1', attributes: { name: 'Zoë Ærøskøbing €' } });
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(3);
  });

  it('merge-patch on PATCH still reaches the handler (null deletes) through the cached value', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api, { attributes: { email: 'a@example.com', name: 'A' } });
    const res = await api(`/v1/users/${user.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: streamed(JSON.stringify({ attributes: { email: null, name: 'B' } })),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const body = await res.json<{ attributes: Record<string, unknown> }>();
    expect(body.attributes).toEqual({ name: 'B' });
  });

  it('Idempotency-Key hashes the exact bytes sent: a replay of a streamed body matches, the same JSON with other whitespace is another request', async () => {
    const { tenant, api } = await setupTenant();
    const text = JSON.stringify({ externalRef: 'idem-stream' });
    const first = await api('/v1/users', { method: 'POST', headers: { 'idempotency-key': 'once-1' }, body: streamed(text) });
    expect(first.status).toBe(201);
    const again = await api('/v1/users', { method: 'POST', headers: { 'idempotency-key': 'once-1' }, body: text });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const spaced = await api('/v1/users', { method: 'POST', headers: { 'idempotency-key': 'once-1' }, body: `${text} ` });
    await expectProblem(spaced, 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await countRows('users', 'tenant_id = ?1', tenant.id)).toBe(1);
  });

  it('SDK JSON calls: the guard refuses a malformed or oversized body, an empty body is {}, a non-object is VALIDATION_FAILED', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    const url = `/sdk/v1/operations/${op.id}/start`;
    const headers = { authorization: `Bearer ${op.sdk.token}`, 'content-type': 'application/json' };
    await expectProblem(await workerFetch(url, { method: 'POST', headers, body: '{"rpScope":' }), 400, 'MALFORMED_JSON');
    await expectProblem(await workerFetch(url, { method: 'POST', headers, body: new Uint8Array([0x7b, 0xff, 0x7d]) }), 400, 'MALFORMED_JSON');
    await expectProblem(await workerFetch(url, { method: 'POST', headers, body: streamed(BIG) }), 413, 'PAYLOAD_TOO_LARGE');
    await expectProblem(await workerFetch(url, { method: 'POST', headers: { authorization: headers.authorization, 'content-type': 'text/plain' }, body: '{}' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await expectProblem(await workerFetch(url, { method: 'POST', headers, body: '[]' }), 400, 'VALIDATION_FAILED');
    await expectProblem(await workerFetch(url, { method: 'POST', headers, body: '{"bogus":1}' }), 400, 'VALIDATION_FAILED');
    const empty = await workerFetch(url, { method: 'POST', headers });
    expect(empty.status, await empty.clone().text()).toBe(200);
    // The parsed value reaches the handler: a valid rpScope is accepted.
    const scoped = await workerFetch(url, { method: 'POST', headers, body: streamed('{"rpScope":"tenant"}') });
    expect(scoped.status, await scoped.clone().text()).toBe(200);
    expect((await sdkStart(op)).publicKey).toBeTruthy();
  });

  it('native envelopes: an application/jose body over 256 KiB → 413 PAYLOAD_TOO_LARGE, also streamed without Content-Length', async () => {
    const { api } = await setupTenant();
    const user = await createUser(api);
    const op = await startOperation(api, { type: 'REGISTRATION', userId: user.id });
    const url = `/sdk/v1/operations/${op.id}/start`;
    const big = 'e'.repeat(256 * 1024 + 1);
    await expectProblem(await workerFetch(url, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: big }), 413, 'PAYLOAD_TOO_LARGE');
    await expectProblem(await workerFetch(url, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: streamed(big) }), 413, 'PAYLOAD_TOO_LARGE');
    await expectProblem(await workerFetch(url, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: 'not-an-envelope' }), 400, 'ENVELOPE_MALFORMED');
  });
});
