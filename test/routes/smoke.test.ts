import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';

describe('smoke', () => {
  it('GET /healthz answers ok with a trace id', async () => {
    const res = await SELF.fetch('https://custos.test/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-trace-id')).toBeTruthy();
    expect(await res.json()).toMatchObject({ status: 'ok' });
  });
});
