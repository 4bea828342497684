// A webhook receiver for the tests, run in Node as the workers' outbound service: it records each request's exact bytes and answers from a script.
//
// Hosts (all reached by the worker's and the tests' own fetch):
//   https://hooks.receiver.example/<bin>/…          records the request, answers the bin's next scripted reply (default 200)
//   PUT  https://control.receiver.example/bins/<bin>/script   body: [{ status, headers?, body?, delayMs? }, …]
//   GET  https://control.receiver.example/bins/<bin>/requests  the recorded requests, oldest first
// Any other host is passed through to the network, as without an outbound service.

export const RECEIVER_HOST = 'hooks.receiver.example';
export const CONTROL_HOST = 'control.receiver.example';

/** @type {Map<string, { script: Array<{ status: number, headers?: Record<string, string>, body?: string, delayMs?: number }>, requests: unknown[] }>} */
const bins = new Map();

function bin(name) {
  let found = bins.get(name);
  if (!found) {
    found = { script: [], requests: [] };
    bins.set(name, found);
  }
  return found;
}

async function control(request, url) {
  const match = /^\/bins\/([A-Za-z0-9_-]{1,64})\/(script|requests)$/.exec(url.pathname);
  if (!match) return new Response('unknown control path', { status: 404 });
  const target = bin(match[1]);
  if (match[2] === 'script' && request.method === 'PUT') {
    target.script = JSON.parse(await request.text());
    return new Response(null, { status: 204 });
  }
  if (match[2] === 'requests' && request.method === 'GET') {
    return new Response(JSON.stringify(target.requests), { headers: { 'content-type': 'application/json' } });
  }
  return new Response('method not allowed', { status: 405 });
}

async function receive(request, url) {
  const name = url.pathname.split('/')[1] ?? '';
  const target = bin(name);
  const bytes = Buffer.from(await request.arrayBuffer());
  target.requests.push({
    method: request.method,
    url: request.url,
    headers: [...request.headers],
    bodyBase64: bytes.toString('base64'),
    receivedAt: Date.now(),
  });
  const reply = target.script.shift() ?? { status: 200 };
  if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
  return new Response(reply.body ?? null, { status: reply.status, headers: reply.headers ?? {} });
}

/** The miniflare `outboundService` handler. */
export async function webhookReceiver(request) {
  const url = new URL(request.url);
  if (url.hostname === CONTROL_HOST) return control(request, url);
  if (url.hostname === RECEIVER_HOST) return receive(request, url);
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  return fetch(request.url, {
    method: request.method,
    headers: request.headers,
    redirect: 'manual',
    ...(hasBody ? { body: await request.arrayBuffer() } : {}),
  });
}
