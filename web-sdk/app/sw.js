// Service worker of the authenticator PWA: keeps the app shell for offline starts (API calls always go to the network),
// shows the service's Web Push notifications for operations, and keeps the push channel registered.
const CACHE = 'custos-app-shell-v3';
const SHELL = [
  '/app/',
  '/app/app.js',
  '/app/db.js',
  '/app/app.css',
  '/app/manifest.webmanifest',
  '/app/icons/icon.svg',
  '/app/icons/icon-192.png',
  '/app/icons/icon-512.png',
  '/sdk/custos.js',
];
const SHELL_PATHS = new Set(SHELL);
const DEFAULT_TITLES = { AUTHENTICATION: 'Sign-in request', AUTHORISATION: 'Payment to approve', SIGNATURE: 'Document to sign', REGISTRATION: 'Device registration' };
/** How many withdrawn operations are remembered, so a late "pending" push for one of them is never shown. */
const CLOSED_LIMIT = 200;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

/** Network first, so a deployed update shows at once; the cached copy only when the network fails. */
async function shell(request, cacheKey) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(cacheKey, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(cacheKey);
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // Operation data (/sdk/v1) is never cached: it is live, per device and authorised per request.
  if (request.mode === 'navigate' && url.pathname.startsWith('/app')) {
    event.respondWith(shell(request, '/app/'));
    return;
  }
  if (SHELL_PATHS.has(url.pathname)) event.respondWith(shell(request, url.pathname));
});

// ── IndexedDB: the app's database (db.js) ─────────────────────────────────────────────────────────

importScripts('/app/db.js');

/** One store action; the worker closes its connection after each, so the page's upgrades are never blocked. */
async function idb(storeName, mode, action) {
  const db = await self.custosDb.open();
  try {
    return await self.custosDb.run(db, storeName, mode, action);
  } finally {
    db.close();
  }
}

async function rememberClosed(operationId) {
  await idb('closed', 'readwrite', (store) => store.put({ operationId, at: new Date().toISOString() }));
  const all = await idb('closed', 'readonly', (store) => store.getAll());
  const old = all.sort((a, b) => b.at.localeCompare(a.at)).slice(CLOSED_LIMIT);
  for (const entry of old) await idb('closed', 'readwrite', (store) => store.delete(entry.operationId));
}

const isClosed = async (operationId) => (await idb('closed', 'readonly', (store) => store.get(operationId))) !== undefined;

// ── links and messages to the open app ─────────────────────────────────────────────────────────

/**
 * An app link of this origin (…/app/#op=…&tenant=…, a relying party's QR link also with &token=…), or undefined:
 * nothing else is ever opened or used.
 */
function parseLink(text) {
  let url;
  try {
    url = new URL(text, self.location.origin);
  } catch {
    return undefined;
  }
  if (url.origin !== self.location.origin || !url.pathname.startsWith('/app')) return undefined;
  const params = new URLSearchParams(url.hash.slice(1));
  const id = params.get('op');
  if (!id) return undefined;
  return { id, token: params.get('token') || undefined, tenantId: params.get('tenant') || undefined, url: url.href };
}

async function appWindows() {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  return windows.filter((client) => new URL(client.url).pathname.startsWith('/app'));
}

async function tellApp(message) {
  for (const client of await appWindows()) client.postMessage(message);
}

// ── push: show the operation, withdraw it when it ends ─────────────────────────────────────────

async function onPush(data) {
  let message;
  try {
    message = data?.json();
  } catch {
    message = undefined;
  }
  if (typeof message !== 'object' || message === null || message.v !== 1 || typeof message.operationId !== 'string') return;
  const operationId = message.operationId;

  if (message.type === 'operation.closed') {
    await rememberClosed(operationId);
    for (const notification of await self.registration.getNotifications({ tag: operationId })) notification.close();
    await tellApp({ type: 'operation.closed', operationId });
    return;
  }
  if (message.type !== 'operation.pending') return;
  // Anti push-fatigue: nothing is shown for an operation that is over, or whose end overtook this push.
  if (!(Date.parse(message.expiresAt) > Date.now()) || (await isClosed(operationId))) return;
  const link = parseLink(message.url);
  // Title and body are the relying party's text: the Notifications API shows them as plain text.
  const title = typeof message.title === 'string' && message.title !== '' ? message.title : (DEFAULT_TITLES[message.operationType] ?? 'Request');
  await self.registration.showNotification(title, {
    body: typeof message.body === 'string' ? message.body : '',
    tag: operationId,
    requireInteraction: true,
    icon: '/app/icons/icon-192.png',
    badge: '/app/icons/icon-192.png',
    actions: [
      { action: 'approve', title: 'Approve' },
      { action: 'decline', title: 'Decline' },
    ],
    data: { operationId, tenantId: message.tenantId, operationType: message.operationType, expiresAt: message.expiresAt, url: link?.url ?? '/app/' },
  });
  await tellApp({ type: 'operation.pending', operationId });
}

/** Keeps the worker alive for `work`; a synthetic (untrusted) event cannot be extended, but the work runs all the same. */
function extend(event, work) {
  try {
    event.waitUntil(work);
  } catch {
    work.catch(() => undefined);
  }
}

self.addEventListener('push', (event) => {
  extend(event, onPush(event.data));
});

/** Approve (or the body): the app at the operation, where approving still takes the passkey with user verification. */
async function openApp(url) {
  const target = parseLink(url)?.url ?? new URL('/app/', self.location.origin).href;
  const [open] = await appWindows();
  if (open) {
    open.postMessage({ type: 'open', url: target });
    try {
      await open.focus();
    } catch {
      // Focus needs the click's user activation; the message was delivered anyway.
    }
    return;
  }
  await self.clients.openWindow(target);
}

/**
 * Decline: rejects the operation (no passkey needed to say no) with the link's sdk token, or (a pushed link has none)
 * with a device proof of each device of that tenant until one is the operation's; records it and tells the app.
 */
async function decline(data) {
  const link = parseLink(data?.url);
  if (!link) return;
  const url = `${self.location.origin}/sdk/v1/operations/${encodeURIComponent(link.id)}/reject`;
  const devices = await idb('devices', 'readonly', (store) => store.getAll()).catch(() => []);
  const callers = link.token ? [{ token: link.token }] : devices.filter((device) => !link.tenantId || device.tenantId === link.tenantId).map((device) => ({ device }));
  let status;
  for (const caller of callers) {
    try {
      const authorization = caller.token ? `Bearer ${caller.token}` : `Device ${await deviceProof(caller.device, 'POST', url)}`;
      const response = await fetch(url, {
        method: 'POST',
        headers: { Authorization: authorization, 'Content-Type': 'application/json', Accept: 'application/json, application/problem+json' },
        body: '{}',
        credentials: 'omit',
      });
      const answer = await response.json().catch(() => ({}));
      // 404: not this device's operation, try the next one.
      if (response.status === 404) continue;
      status = response.ok ? answer.status : answer.operationStatus;
      break;
    } catch {
      status = undefined;
    }
  }
  if (status === undefined) {
    // Offline or refused: say so, and let the user open the request instead.
    await self.registration.showNotification('Could not decline', {
      body: 'Open the app to answer this request.',
      tag: `${link.id}:error`,
      icon: '/app/icons/icon-192.png',
      data: { operationId: link.id, url: link.url },
    });
    return;
  }
  await rememberClosed(link.id);
  const tenantName = devices.find((device) => device.tenantId === data.tenantId)?.tenantName;
  await idb('history', 'readwrite', (store) =>
    store.put({ id: link.id, type: data.operationType ?? 'UNKNOWN', title: DEFAULT_TITLES[data.operationType] ?? 'Request', status, tenantName, at: new Date().toISOString() }),
  ).catch(() => undefined);
  await tellApp({ type: 'operation.closed', operationId: link.id });
}

self.addEventListener('notificationclick', (event) => {
  const notification = event.notification;
  notification.close();
  extend(event, event.action === 'decline' ? decline(notification.data) : openApp(notification.data?.url));
});

// ── the push subscription changed: register the new one for every device ─────────────────────

function base64url(bytes) {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text) {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

const jsonPart = (value) => base64url(new TextEncoder().encode(JSON.stringify(value)));

/**
 * A device proof exactly like the SDK's (createDeviceProof): ES256 by the device key kept in IndexedDB, typ
 * device-proof+jwt, kid = device id, claims htm, htu without query, iat, a random jti. WebCrypto's ECDSA signature is
 * already the JWS form (r ‖ s). A classic service worker cannot import the SDK bundle (an ES module).
 */
async function deviceProof(device, method, url) {
  const target = new URL(url);
  const header = jsonPart({ alg: 'ES256', typ: 'device-proof+jwt', kid: device.deviceId });
  const claims = jsonPart({ htm: method, htu: `${target.origin}${target.pathname}`, iat: Math.floor(Date.now() / 1000), jti: base64url(crypto.getRandomValues(new Uint8Array(18))) });
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, device.keyPair.privateKey, new TextEncoder().encode(`${header}.${claims}`));
  return `${header}.${claims}.${base64url(new Uint8Array(signature))}`;
}

async function resubscribe(newSubscription) {
  const settings = await idb('settings', 'readonly', (store) => store.get('push'));
  if (!settings?.enabled) return;
  const save = (patch) => idb('settings', 'readwrite', (store) => store.put({ ...settings, ...patch, key: 'push', updatedAt: new Date().toISOString() }));
  try {
    const subscription =
      newSubscription ?? (await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64url(settings.vapidPublicKey) }));
    const { endpoint, keys } = subscription.toJSON();
    const url = `${self.location.origin}/sdk/v1/device/push-channel`;
    let failed = false;
    for (const device of await idb('devices', 'readonly', (store) => store.getAll())) {
      try {
        const response = await fetch(url, {
          method: 'PUT',
          headers: { Authorization: `Device ${await deviceProof(device, 'PUT', url)}`, 'Content-Type': 'application/json', Accept: 'application/json, application/problem+json' },
          body: JSON.stringify({ type: 'WEB_PUSH', endpoint, keys }),
          credentials: 'omit',
        });
        if (!response.ok) throw new Error(`push channel ${response.status}`);
        await idb('devices', 'readwrite', (store) => store.put({ ...device, pushEndpoint: endpoint }));
      } catch {
        failed = true;
      }
    }
    await save({ endpoint, needsRegistration: failed });
  } catch {
    // No subscription could be made here (no permission, push service down): the app re-registers on its next open.
    await save({ needsRegistration: true });
  }
  await tellApp({ type: 'push.channel' });
}

self.addEventListener('pushsubscriptionchange', (event) => {
  extend(event, resubscribe(event.newSubscription ?? undefined));
});
