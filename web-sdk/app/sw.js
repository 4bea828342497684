// Service worker of the authenticator PWA: keeps the app shell for offline starts; API calls always go to the network.
const CACHE = 'custos-app-shell-v1';
const SHELL = [
  '/app/',
  '/app/app.js',
  '/app/app.css',
  '/app/manifest.webmanifest',
  '/app/icons/icon.svg',
  '/app/icons/icon-192.png',
  '/app/icons/icon-512.png',
  '/sdk/custos.js',
];
const SHELL_PATHS = new Set(SHELL);

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
