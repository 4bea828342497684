// A small keep-alive HTTP/1.1 client for the bench (node:http costs the client less CPU than fetch).
import { Agent, request as httpRequest } from 'node:http';

export function createClient(baseUrl, { sockets = 64 } = {}) {
  const base = new URL(baseUrl);
  if (base.hostname !== '127.0.0.1') throw new Error('the bench only talks to 127.0.0.1');
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });

  const stats = { staleSocketRetries: 0 };

  /**
   * One request; resolves { status, body (parsed JSON or text) } and never rejects on an HTTP status.
   * A request sent on a kept-alive socket the server had just closed (ECONNRESET / hang-up before any
   * answer, on a reused socket) never reached it: it is sent once more on a fresh socket, and counted.
   */
  async function call(method, path, options = {}) {
    try {
      return await once(method, path, options);
    } catch (error) {
      if (!error.reusedSocket || !['ECONNRESET', 'EPIPE'].includes(error.code) && error.message !== 'socket hang up') throw error;
      stats.staleSocketRetries++;
      return once(method, path, options);
    }
  }

  function once(method, path, { headers = {}, json, form } = {}) {
    const payload = json !== undefined ? JSON.stringify(json) : form !== undefined ? new URLSearchParams(form).toString() : undefined;
    const allHeaders = { ...headers };
    if (payload !== undefined) {
      allHeaders['content-type'] ??= json !== undefined ? 'application/json' : 'application/x-www-form-urlencoded';
      allHeaders['content-length'] = Buffer.byteLength(payload);
    }
    return new Promise((resolve, reject) => {
      let answered = false;
      const req = httpRequest(
        { host: base.hostname, port: base.port, method, path, headers: allHeaders, agent, timeout: 60_000 },
        (res) => {
          answered = true;
          const chunks = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body = text;
            if ((res.headers['content-type'] ?? '').includes('json') && text.length > 0) {
              try {
                body = JSON.parse(text);
              } catch {
                // keep the text
              }
            }
            resolve({ status: res.statusCode ?? 0, body });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', (error) => {
        error.reusedSocket = req.reusedSocket && !answered;
        reject(error);
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  return { call, stats, close: () => agent.destroy() };
}
