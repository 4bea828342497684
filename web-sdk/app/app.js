// White-label authenticator PWA: registers this device from a relying party's link, then lists and answers its pending operations.
import '/app/db.js';
import { createCustos, confirmIn, formatAmount, CustosError, localhostUrlFor, subscribeWebPush } from '/sdk/custos.js';

const BASE = location.origin;
/** How often the pending list is fetched while the app is open and visible, unless push works. */
const POLL_MS = 3000;
/** Push needs a service worker, the Push API and notifications; without them the app polls while open. */
const PUSH_SUPPORTED = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
const HISTORY_LIMIT = 100;
const DEFAULT_COLOUR = '#1f3a8a';
const DEFAULT_ICON = '/app/icons/icon.svg';
const TYPE_LABELS = { REGISTRATION: 'Device registration', AUTHENTICATION: 'Sign-in', AUTHORISATION: 'Payment', SIGNATURE: 'Signature' };
const STATUS_LABELS = {
  COMPLETED: 'Approved',
  REJECTED: 'Declined',
  FAILED: 'Failed',
  EXPIRED: 'Expired',
  CANCELLED: 'Cancelled',
};

const $ = (id) => document.getElementById(id);
/** What the app is showing and doing: the view, a registration link being answered, the devices, the poll timer. */
const current = { view: undefined, link: undefined, devices: [], timer: undefined, polling: false, rendered: '' };
const deviceProblems = new Map();
const tokenClient = createCustos({ baseUrl: BASE });
const deviceClients = new Map();

// ── IndexedDB: devices (with their non-extractable keys), the local history, push settings ────────────

const dbReady = self.custosDb.open();
const idb = async (storeName, mode, action) => self.custosDb.run(await dbReady, storeName, mode, action);

const listDevices = async () => (await idb('devices', 'readonly', (store) => store.getAll())).sort((a, b) => b.registeredAt.localeCompare(a.registeredAt));
// The CryptoKeyPair is stored as is: IndexedDB keeps non-extractable keys usable but never readable.
const saveDevice = (device) => idb('devices', 'readwrite', (store) => store.put(device));

/** Read-modify-write in one transaction, so a branding refresh and a push registration cannot undo each other. */
async function updateDevice(deviceId, patch) {
  const db = await dbReady;
  return new Promise((resolve, reject) => {
    const transaction = db.transaction('devices', 'readwrite');
    const store = transaction.objectStore('devices');
    const read = store.get(deviceId);
    read.onsuccess = () => {
      if (read.result) store.put({ ...read.result, ...patch });
    };
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}
const deleteDevice = (deviceId) => idb('devices', 'readwrite', (store) => store.delete(deviceId));
/** `{ key: 'push', enabled, vapidPublicKey, endpoint, needsRegistration }`: what the user chose and what is registered. */
const readPushSettings = async () => (await idb('settings', 'readonly', (store) => store.get('push'))) ?? { key: 'push', enabled: false };
const savePushSettings = (settings) => idb('settings', 'readwrite', (store) => store.put({ ...settings, key: 'push', updatedAt: new Date().toISOString() }));
const listHistory = async () => (await idb('history', 'readonly', (store) => store.getAll())).sort((a, b) => b.at.localeCompare(a.at));

async function record(entry) {
  await idb('history', 'readwrite', (store) => store.put({ ...entry, at: new Date().toISOString() }));
  const all = await listHistory();
  for (const old of all.slice(HISTORY_LIMIT)) await idb('history', 'readwrite', (store) => store.delete(old.id));
}

function deviceClient(device) {
  let client = deviceClients.get(device.deviceId);
  if (client === undefined) {
    // Every call of this client carries a fresh device proof signed by the key bound at registration.
    client = createCustos({ baseUrl: BASE, device: { id: device.deviceId, privateKey: device.keyPair.privateKey } });
    deviceClients.set(device.deviceId, client);
  }
  return client;
}

// ── branding ───────────────────────────────────────────────────────────────────────────────────

const configs = new Map();

async function tenantConfig(tenantId) {
  if (!configs.has(tenantId)) {
    configs.set(
      tenantId,
      fetch(`/sdk/v1/config?tenant=${encodeURIComponent(tenantId)}`, { credentials: 'omit' }).then((response) => {
        if (!response.ok) throw new Error(`config ${response.status}`);
        return response.json();
      }),
    );
  }
  return configs.get(tenantId).catch((error) => {
    configs.delete(tenantId);
    throw error;
  });
}

function safeLogo(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === 'https:' || parsed.origin === location.origin ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

function applyBranding(branding) {
  const name = branding?.name || 'Authenticator';
  $('brand-name').textContent = name;
  document.title = branding?.name ? `${name} · Authenticator` : 'Authenticator';
  const colour = /^#[0-9a-fA-F]{6}$/.test(branding?.primaryColor ?? '') ? branding.primaryColor : DEFAULT_COLOUR;
  document.documentElement.style.setProperty('--brand', colour);
  document.querySelector('meta[name="theme-color"]').setAttribute('content', colour);
  const logo = $('brand-logo');
  const logoUrl = branding?.logoUrl ? safeLogo(branding.logoUrl) : undefined;
  logo.onerror = () => {
    logo.onerror = null;
    logo.src = DEFAULT_ICON;
  };
  logo.src = logoUrl ?? DEFAULT_ICON;
}

// ── small view helpers ─────────────────────────────────────────────────────────────────────────

function show(viewId) {
  for (const view of document.querySelectorAll('.view')) view.hidden = view.id !== viewId;
  current.view = viewId;
}

function setText(id, text) {
  const element = $(id);
  element.textContent = text;
  element.hidden = text === '';
}

function showError(text) {
  setText('error', text);
}

function describe(error) {
  if (error instanceof CustosError) {
    switch (error.code) {
      case 'USER_CANCELLED':
        return 'The passkey prompt was closed. You can try again.';
      case 'EXPIRED':
        return 'This request has expired. Ask for a new one.';
      case 'OPERATION_FINAL':
        return `This request is already ${(STATUS_LABELS[error.problem?.operationStatus] ?? 'finished').toLowerCase()}.`;
      case 'VERIFICATION_FAILED':
        return 'The passkey could not be verified. The request has failed.';
      case 'ALREADY_REGISTERED':
        return 'This device already holds a passkey of this customer for this site.';
      case 'RP_ID_MISMATCH':
        return localhostUrlFor(location.href)
          ? `Passkeys need a domain name, not an IP address. Open ${localhostUrlFor(location.href)} instead.`
          : 'This page may not use passkeys of this service (its address does not match). Open the link you were given.';
      case 'NOT_SUPPORTED':
        return 'This browser cannot use passkeys.';
      case 'NETWORK':
        return 'No connection to the service. Check your network and try again.';
      case 'PUSH_DENIED':
        return 'Notifications are blocked for this app. Allow them in the browser’s site settings.';
      case 'PUSH_FAILED':
        return 'The browser could not reach its push service. Try again later.';
      default:
        return `Something went wrong (${error.problem?.code ?? error.code}${error.traceId ? `, trace ${error.traceId}` : ''}).`;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

function finalStatusOf(error) {
  if (!(error instanceof CustosError)) return undefined;
  if (error.code === 'VERIFICATION_FAILED') return 'FAILED';
  if (error.code === 'EXPIRED') return 'EXPIRED';
  if (error.code === 'OPERATION_FINAL') return error.problem?.operationStatus;
  return undefined;
}

/** One line on what an operation is about, for lists: the amount and payee, the document, or the title. */
function summaryOf(operation) {
  if (operation.transaction) {
    const { amount, currency, payee } = operation.transaction;
    return `${formatAmount(amount, currency)} to ${payee.name}`;
  }
  if (operation.transactions) {
    const total = operation.total ? ` · total ${formatAmount(operation.total.amount, operation.total.currency)}` : '';
    return `${operation.transactions.length} payments${total}`;
  }
  if (operation.document) return operation.document.title ?? 'Document';
  return operation.context?.title ?? TYPE_LABELS[operation.type] ?? operation.type;
}

/** A BCP 47 tag for a `lang` attribute, or '' for anything that is not one. */
function languageTag(locale) {
  try {
    return typeof locale === 'string' && locale !== '' ? (Intl.getCanonicalLocales(locale)[0] ?? '') : '';
  } catch {
    return '';
  }
}

function timeOf(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** Number matching: the user picks the number the relying party's other screen shows. */
function numberChooser(container) {
  return (choices) =>
    new Promise((resolve) => {
      const box = document.createElement('div');
      box.className = 'number-match';
      const heading = document.createElement('h2');
      heading.textContent = 'Which number does the other screen show?';
      heading.tabIndex = -1;
      const group = document.createElement('div');
      group.className = 'number-match__choices';
      group.setAttribute('role', 'group');
      group.setAttribute('aria-label', heading.textContent);
      for (const choice of choices) {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = choice;
        button.addEventListener('click', () => {
          box.remove();
          resolve(choice);
        });
        group.append(button);
      }
      box.append(heading, group);
      container.replaceChildren(box);
      heading.focus();
    });
}

/**
 * Shows the request, lets the user approve it with the passkey or decline, and records the outcome.
 * `retry` re-runs it after a closed prompt: the SDK reuses the operation's start and challenge.
 */
async function answer({ client, ref, container, statusId, tenantName, onDone }) {
  setText(statusId, '');
  let details;
  try {
    // Starts the operation (or reuses the start after a closed prompt) so the outcome can be recorded with its details.
    details = await client.getOperation(ref);
    container.lang = languageTag(details.context?.locale);
    const result = await client.approve(ref, {
      confirm: confirmIn(container, { labels: { reject: 'Decline', approve: 'Approve' } }),
      chooseNumber: numberChooser(container),
    });
    container.replaceChildren();
    setText(statusId, result.status === 'COMPLETED' ? `Approved: ${summaryOf(result.operation)}.` : result.status === 'REJECTED' ? 'Declined.' : `Finished: ${result.status}.`);
    // The relying party's message for after the approval (context.completedText): untrusted, so text only.
    const completedText = result.operation.context?.completedText;
    if (result.status === 'COMPLETED' && completedText) {
      const message = document.createElement('p');
      message.className = 'completed-text';
      message.textContent = completedText;
      container.replaceChildren(message);
    }
    await record({ id: ref.id, type: result.operation.type, title: summaryOf(result.operation), status: result.status, tenantName });
  } catch (error) {
    container.replaceChildren();
    setText(statusId, describe(error));
    const status = finalStatusOf(error);
    if (status) await record({ id: ref.id, type: details?.type ?? 'UNKNOWN', title: details ? summaryOf(details) : 'Request', status, tenantName });
    if (error instanceof CustosError && (error.code === 'USER_CANCELLED' || error.code === 'NETWORK')) {
      const retry = document.createElement('button');
      retry.type = 'button';
      retry.textContent = 'Try again';
      retry.addEventListener('click', () => answer({ client, ref, container, statusId, tenantName, onDone }));
      container.replaceChildren(retry);
    }
  }
  onDone?.();
}

// ── a link from the relying party (sdk.url) ────────────────────────────────────────────────────

function parseLink(text) {
  let url;
  try {
    url = new URL(text, location.href);
  } catch {
    return undefined;
  }
  // Links of another Custos deployment name operations this service does not have.
  if (url.origin !== location.origin || !url.pathname.startsWith('/app')) return undefined;
  const params = new URLSearchParams(url.hash.slice(1));
  const id = params.get('op');
  const token = params.get('token');
  if (!id) return undefined;
  // A pushed link (from a notification) has no sdk token: a device bound here opens it with its own proof.
  return { id, token: token || undefined, tenantId: params.get('tenant') ?? undefined };
}

async function openLink(link) {
  stopPolling();
  show('view-link');
  showError('');
  $('link-heading').textContent = 'Opening request…';
  setText('link-text', '');
  setText('link-status', '');
  $('link-register').hidden = true;
  $('link-confirm').replaceChildren();
  $('link-done').hidden = true;
  $('push-offer').hidden = true;
  setText('push-status', '');

  let tenantName;
  if (link.tenantId) {
    try {
      const config = await tenantConfig(link.tenantId);
      applyBranding(config.branding);
      tenantName = config.branding?.name;
    } catch {
      // Branding is cosmetic: the operation itself is what matters.
    }
  }

  const unusable = (text) => {
    $('link-heading').textContent = 'This link cannot be used';
    setText('link-status', text);
    $('link-done').hidden = false;
    $('link-heading').focus();
  };

  let operation;
  if (link.token) {
    try {
      // rpScope service: the passkey belongs to this app's origin, not to the relying party's site.
      operation = await tokenClient.getOperation({ id: link.id, token: link.token }, { rpScope: 'service' });
    } catch (error) {
      unusable(describe(error));
      return;
    }
  }

  if (operation?.type === 'REGISTRATION') {
    $('link-heading').textContent = tenantName ? `Register this device with ${tenantName}` : 'Register this device';
    setText('link-text', operation.context?.text ?? '');
    $('link-register').hidden = false;
    current.link = { ...link, tenantName };
    $('link-heading').focus();
    return;
  }

  // Approving from a link: a device bound here for this operation's user answers with its own proof and
  // passkey; otherwise (another customer, or no device) the link's token does.
  let client = link.token ? tokenClient : undefined;
  let ref = link.token ? { id: link.id, token: link.token } : undefined;
  let refusal;
  for (const device of (await listDevices()).filter((candidate) => !link.tenantId || candidate.tenantId === link.tenantId)) {
    try {
      operation = await deviceClient(device).getOperation({ id: link.id });
      client = deviceClient(device);
      ref = { id: link.id };
      break;
    } catch (error) {
      // Not an operation of this device's user (404), or over already: the reason is kept for a link without a token.
      if (!(error instanceof CustosError && error.status === 404)) refusal = error;
    }
  }
  if (client === undefined || operation === undefined) {
    unusable(refusal ? describe(refusal) : 'This request is not for a device registered in this app.');
    return;
  }
  $('link-heading').textContent = TYPE_LABELS[operation.type] ?? 'Request';
  await answer({
    client,
    ref,
    container: $('link-confirm'),
    statusId: 'link-status',
    tenantName,
    onDone: () => {
      $('link-done').hidden = false;
    },
  });
}

async function registerFromLink() {
  const link = current.link;
  if (!link) return;
  const button = $('register-button');
  button.disabled = true;
  $('register-cancel').disabled = true;
  setText('link-status', 'Follow your device’s prompt to create the passkey…');
  try {
    const result = await tokenClient.register({ id: link.id, token: link.token }, { rpScope: 'service', bindDeviceKey: true });
    if (result.status !== 'COMPLETED' || !result.deviceId || !result.deviceKeyPair) throw new Error(`The registration ended ${result.status}.`);
    let branding;
    try {
      branding = link.tenantId ? (await tenantConfig(link.tenantId)).branding : undefined;
    } catch {
      branding = undefined;
    }
    await saveDevice({
      deviceId: result.deviceId,
      tenantId: link.tenantId ?? null,
      tenantName: link.tenantName ?? branding?.name ?? 'Your bank',
      branding: branding ?? null,
      rpScope: 'service',
      keyPair: result.deviceKeyPair,
      registeredAt: new Date().toISOString(),
    });
    await record({ id: link.id, type: 'REGISTRATION', title: 'This device was registered', status: 'COMPLETED', tenantName: link.tenantName });
    current.link = undefined;
    $('link-register').hidden = true;
    $('link-heading').textContent = 'This device is ready';
    setText('link-text', '');
    setText('link-status', 'Requests from your bank will appear in this app.');
    $('link-done').hidden = false;
    $('link-done').focus();
    await afterRegistration();
  } catch (error) {
    setText('link-status', describe(error));
    const status = finalStatusOf(error);
    if (status) {
      await record({ id: link.id, type: 'REGISTRATION', title: 'Device registration', status, tenantName: link.tenantName });
      $('link-register').hidden = true;
      $('link-done').hidden = false;
    }
  } finally {
    button.disabled = false;
    $('register-cancel').disabled = false;
  }
}

// ── home: pending operations, history, devices ───────────────────────────────────────────────

function renderPending(entries) {
  // Re-render only on change, so focus and screen-reader position survive the refresh.
  const signature = JSON.stringify(entries.map(({ operation }) => [operation.id, operation.status]));
  if (signature === current.rendered) return;
  current.rendered = signature;
  const list = $('pending');
  list.replaceChildren();
  for (const { operation, device } of entries) {
    const item = $('pending-template').content.firstElementChild.cloneNode(true);
    item.dataset.operationId = operation.id;
    const fill = (selector, text) => {
      const element = item.querySelector(selector);
      element.textContent = text ?? '';
      element.hidden = !text;
    };
    fill('.pending__type', TYPE_LABELS[operation.type] ?? operation.type);
    fill('.pending__title', operation.context?.title);
    fill('.pending__text', operation.context?.text);
    const transaction = operation.transaction;
    fill('.pending__amount', transaction ? formatAmount(transaction.amount, transaction.currency) : operation.total ? formatAmount(operation.total.amount, operation.total.currency) : undefined);
    fill(
      '.pending__payee',
      transaction
        ? `To ${transaction.payee.name}${transaction.payee.account ? ` · ${transaction.payee.account}` : ''}`
        : operation.transactions
          ? `${operation.transactions.length} payments`
          : undefined,
    );
    fill('.pending__doc', operation.document ? `${operation.document.title ?? 'Document'} (${operation.document.mimeType})` : undefined);
    fill('.pending__meta', `${device.tenantName} · until ${timeOf(operation.expiresAt)}`);
    item.querySelector('.pending__open').addEventListener('click', () => openPending(operation, device));
    list.append(item);
  }
  $('pending-empty').hidden = entries.length > 0 || current.devices.length === 0;
}

async function refreshPending() {
  if (current.polling || current.view !== 'view-home' || document.visibilityState !== 'visible') return;
  current.polling = true;
  $('pending').setAttribute('aria-busy', 'true');
  try {
    const entries = [];
    let offline = false;
    for (const device of current.devices) {
      try {
        const items = await deviceClient(device).pending();
        deviceProblems.delete(device.deviceId);
        for (const operation of items) entries.push({ operation, device });
      } catch (error) {
        if (error instanceof CustosError && error.code === 'NETWORK') offline = true;
        else deviceProblems.set(device.deviceId, error);
      }
    }
    $('offline').hidden = !offline && navigator.onLine;
    entries.sort((a, b) => b.operation.createdAt.localeCompare(a.operation.createdAt));
    if (current.view === 'view-home') {
      renderPending(entries);
      renderDevices();
      $('pending-refresh').textContent = `Updated ${timeOf(new Date().toISOString())}`;
    }
  } finally {
    current.polling = false;
    $('pending').setAttribute('aria-busy', 'false');
  }
}

function startPolling() {
  stopPolling();
  refreshPending();
  current.timer = setInterval(refreshPending, POLL_MS);
}

function stopPolling() {
  if (current.timer !== undefined) clearInterval(current.timer);
  current.timer = undefined;
}

function deviceProblemText(error) {
  if (!(error instanceof CustosError)) return 'Could not check this device.';
  const code = error.problem?.code;
  if (code === 'DEVICE_LOCKED') return 'Locked by your bank. Contact them to unlock it.';
  if (code === 'DEVICE_NOT_ACTIVE' || code === 'DEVICE_DEACTIVATED') return 'Removed by your bank.';
  if (error.code === 'UNAUTHORIZED') return 'Not recognised by the service any more.';
  return describe(error);
}

function renderDevices() {
  const list = $('devices');
  list.replaceChildren();
  for (const device of current.devices) {
    const item = document.createElement('li');
    const name = document.createElement('strong');
    name.textContent = device.tenantName;
    const meta = document.createElement('span');
    meta.className = 'muted';
    meta.textContent = `Registered ${new Date(device.registeredAt).toLocaleDateString()} · ${device.deviceId}`;
    item.append(name, meta);
    const problem = deviceProblems.get(device.deviceId);
    if (problem) {
      const warning = document.createElement('span');
      warning.className = 'devices__problem';
      warning.textContent = deviceProblemText(problem);
      item.append(warning);
    }
    const forget = document.createElement('button');
    forget.type = 'button';
    forget.className = 'link-button';
    forget.textContent = 'Remove from this app';
    forget.setAttribute('aria-label', `Remove ${device.tenantName} from this app`);
    forget.addEventListener('click', async () => {
      if (!window.confirm(`Remove ${device.tenantName} from this app? Its key is deleted; ask your bank to remove the device too.`)) return;
      await deleteDevice(device.deviceId);
      deviceClients.delete(device.deviceId);
      await goHome();
    });
    item.append(forget);
    list.append(item);
  }
  if (current.devices.length === 0) {
    const empty = document.createElement('li');
    empty.className = 'muted';
    empty.textContent = 'Not registered with any bank yet.';
    list.append(empty);
  }
}

async function renderHistory() {
  const entries = await listHistory();
  const list = $('history');
  list.replaceChildren();
  for (const entry of entries) {
    const item = document.createElement('li');
    item.dataset.status = entry.status;
    const title = document.createElement('span');
    title.className = 'history__title';
    title.textContent = entry.title;
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.dataset.status = entry.status;
    badge.textContent = entry.type === 'REGISTRATION' && entry.status === 'COMPLETED' ? 'Registered' : (STATUS_LABELS[entry.status] ?? entry.status);
    const meta = document.createElement('span');
    meta.className = 'muted history__meta';
    meta.textContent = `${entry.tenantName ? `${entry.tenantName} · ` : ''}${new Date(entry.at).toLocaleString()}`;
    item.append(title, badge, meta);
    list.append(item);
  }
  $('history-empty').hidden = entries.length > 0;
}

async function goHome() {
  current.link = undefined;
  current.rendered = '';
  current.devices = await listDevices();
  const latest = current.devices[0];
  applyBranding(latest?.branding ?? (latest ? { name: latest.tenantName } : undefined));
  if (latest?.tenantId) {
    // Refresh the stored branding when online; the stored copy keeps the app branded offline.
    tenantConfig(latest.tenantId)
      .then((config) => {
        applyBranding(config.branding);
        return updateDevice(latest.deviceId, { branding: config.branding, tenantName: config.branding?.name ?? latest.tenantName });
      })
      .catch(() => undefined);
  }
  show('view-home');
  $('no-device').hidden = current.devices.length > 0;
  $('pending').replaceChildren();
  $('pending-empty').hidden = true;
  renderDevices();
  await renderHistory();
  if (current.devices.length > 0) {
    // Once on every open; whether it keeps polling depends on push (settlePush).
    refreshPending();
    await settlePush();
  } else {
    stopPolling();
    $('push-setting').hidden = true;
  }
}

async function openPending(operation, device) {
  stopPolling();
  show('view-approve');
  setText('approve-status', '');
  await answer({ client: deviceClient(device), ref: { id: operation.id }, container: $('approve-confirm'), statusId: 'approve-status', tenantName: device.tenantName });
}

// ── push: notifications instead of polling ─────────────────────────────────────────────────────

/** The service's VAPID key (`webPush.vapidPublicKey` of the config) for these devices' tenants, if it sends Web Push. */
async function vapidKeyFor(devices) {
  for (const tenantId of new Set(devices.map((device) => device.tenantId).filter(Boolean))) {
    try {
      const key = (await tenantConfig(tenantId)).webPush?.vapidPublicKey;
      if (typeof key === 'string' && key !== '') return key;
    } catch {
      // Try the next tenant; without any, push is not offered.
    }
  }
  return undefined;
}

/**
 * Subscribes this browser (no prompt: permission is granted already) and registers the subscription as the push
 * channel of every bound device. Devices that could not be updated leave `needsRegistration` set, so the next open retries.
 */
async function registerPush(devices) {
  const vapidPublicKey = await vapidKeyFor(devices);
  if (!vapidPublicKey) throw new Error('This service does not send notifications.');
  const channel = await subscribeWebPush(await navigator.serviceWorker.ready, vapidPublicKey);
  const failed = [];
  for (const device of devices) {
    try {
      await deviceClient(device).setPushChannel(channel);
      await updateDevice(device.deviceId, { pushEndpoint: channel.endpoint });
    } catch (error) {
      failed.push({ device, error });
    }
  }
  await savePushSettings({ enabled: true, vapidPublicKey, endpoint: channel.endpoint, needsRegistration: failed.length > 0 });
  return { channel, failed };
}

/** Push works when notifications are allowed and this browser's current subscription is every device's channel. */
async function pushWorks() {
  if (!PUSH_SUPPORTED || Notification.permission !== 'granted') return false;
  const settings = await readPushSettings();
  if (!settings.enabled || settings.needsRegistration || !settings.endpoint) return false;
  const registration = await navigator.serviceWorker.getRegistration('/app/');
  const subscription = await registration?.pushManager.getSubscription();
  const devices = await listDevices();
  return subscription?.endpoint === settings.endpoint && devices.length > 0 && devices.every((device) => device.pushEndpoint === settings.endpoint);
}

/** The user's tap: asks for permission (first thing, still inside the gesture), subscribes, registers every device. */
async function enablePush(statusId) {
  if (!PUSH_SUPPORTED) return false;
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    setText(
      statusId,
      permission === 'denied'
        ? 'Notifications are blocked for this app. Allow them in the browser’s site settings to be asked on this phone; until then the app checks for requests while it is open.'
        : 'Notifications stay off. The app checks for requests while it is open.',
    );
    return false;
  }
  setText(statusId, 'Turning on notifications…');
  try {
    const { failed } = await registerPush(await listDevices());
    setText(statusId, failed.length === 0 ? 'Notifications are on: requests come to this phone.' : `Notifications are on, but not for every bank yet (${describe(failed[0].error)}). The app tries again when it opens.`);
    return true;
  } catch (error) {
    setText(statusId, `Notifications could not be turned on: ${describe(error)}`);
    return false;
  }
}

/** The setting's off switch: every device's channel is removed (DELETE) and the subscription dropped. */
async function disablePush() {
  await savePushSettings({ ...(await readPushSettings()), enabled: false, needsRegistration: false });
  await removeChannels(await listDevices());
  try {
    const registration = await navigator.serviceWorker.getRegistration('/app/');
    await (await registration?.pushManager.getSubscription())?.unsubscribe();
  } catch {
    // A dead subscription is removed by the service when its push service answers 404/410.
  }
}

/** DELETEs the channels still registered; one that fails (offline) keeps its mark and is retried on the next open. */
async function removeChannels(devices) {
  for (const device of devices.filter((candidate) => candidate.pushEndpoint)) {
    try {
      await deviceClient(device).removePushChannel();
      await updateDevice(device.deviceId, { pushEndpoint: null });
    } catch {
      // Retried by syncPush.
    }
  }
}

/**
 * On every open, without prompting: finishes a turn-off that could not reach the service, or (push on, permission
 * granted) re-registers when the service worker marked a lost subscription, a device lacks the channel, or the browser's
 * subscription changed.
 */
async function syncPush() {
  if (!PUSH_SUPPORTED) return;
  const settings = await readPushSettings();
  const devices = await listDevices();
  if (!settings.enabled) {
    await removeChannels(devices);
    return;
  }
  if (Notification.permission !== 'granted' || devices.length === 0) return;
  const registration = await navigator.serviceWorker.getRegistration('/app/');
  const subscription = await registration?.pushManager.getSubscription();
  const stale = settings.needsRegistration || !subscription || subscription.endpoint !== settings.endpoint || devices.some((device) => device.pushEndpoint !== subscription.endpoint);
  if (stale) await registerPush(devices);
}

/** Polling stops while push works and stays the fallback otherwise; the app still refreshes when it becomes visible. */
async function settlePush() {
  await syncPush().catch(() => undefined);
  if (current.view !== 'view-home') return;
  current.devices = await listDevices();
  const works = await pushWorks();
  await renderPushSetting(works);
  if (current.view !== 'view-home') return;
  if (works) stopPolling();
  else if (current.timer === undefined) startPolling();
}

async function renderPushSetting(works) {
  const box = $('push-setting');
  box.hidden = !PUSH_SUPPORTED || current.devices.length === 0 || !(await vapidKeyFor(current.devices).catch(() => undefined));
  if (box.hidden) return;
  const settings = await readPushSettings();
  const toggle = $('push-toggle');
  toggle.hidden = false;
  if (Notification.permission === 'denied') {
    $('push-setting-text').textContent = 'Notifications are blocked in the browser’s site settings. The app checks for requests while it is open.';
    toggle.hidden = true;
  } else if (settings.enabled) {
    $('push-setting-text').textContent = works
      ? 'Notifications are on: requests come to this phone, even when the app is closed.'
      : 'Notifications are on but not working right now. The app checks for requests while it is open.';
    toggle.textContent = 'Turn off notifications';
  } else {
    $('push-setting-text').textContent = 'Notifications are off. The app checks for requests while it is open.';
    toggle.textContent = 'Turn on notifications';
  }
  box.dataset.state = works ? 'on' : settings.enabled ? 'broken' : 'off';
}

/** After a registration: a device joins an existing push setup silently; otherwise the offer (never on page load). */
async function afterRegistration() {
  if (!PUSH_SUPPORTED || Notification.permission === 'denied') return;
  const devices = await listDevices();
  if (!(await vapidKeyFor(devices))) return;
  const settings = await readPushSettings();
  if (settings.enabled && Notification.permission === 'granted') {
    try {
      const { failed } = await registerPush(devices);
      setText('push-status', failed.length === 0 ? 'Notifications are on: requests come to this phone.' : `Notifications could not be set up for this bank (${describe(failed[0].error)}). The app tries again when it opens.`);
    } catch (error) {
      setText('push-status', `Notifications could not be set up: ${describe(error)}`);
    }
    return;
  }
  $('push-offer').hidden = false;
}

$('push-enable').addEventListener('click', async () => {
  $('push-enable').disabled = true;
  try {
    await enablePush('push-status');
    $('push-offer').hidden = true;
  } finally {
    $('push-enable').disabled = false;
  }
});
$('push-later').addEventListener('click', () => {
  $('push-offer').hidden = true;
  setText('push-status', 'You can turn on notifications later under “This device”.');
});
$('push-toggle').addEventListener('click', async () => {
  const toggle = $('push-toggle');
  toggle.disabled = true;
  try {
    if ((await readPushSettings()).enabled) await disablePush();
    else await enablePush('push-setting-text');
  } finally {
    toggle.disabled = false;
  }
  await settlePush();
});

if (PUSH_SUPPORTED) {
  // From sw.js: a notification was followed (open that operation here), or a push came (refresh the list).
  navigator.serviceWorker.addEventListener('message', (event) => {
    const message = event.data;
    if (typeof message !== 'object' || message === null) return;
    if (message.type === 'open') {
      const link = parseLink(String(message.url ?? ''));
      if (link) openLink(link);
      else goHome();
      return;
    }
    if (message.type === 'operation.pending' || message.type === 'operation.closed') refreshPending();
  });
}

// ── start-up ───────────────────────────────────────────────────────────────────────────────────

$('register-button').addEventListener('click', registerFromLink);
$('register-cancel').addEventListener('click', () => goHome());
$('link-done').addEventListener('click', () => goHome());
$('approve-back').addEventListener('click', () => goHome());
$('paste-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const link = parseLink($('paste-input').value.trim());
  if (!link) {
    showError('That is not a link of this authenticator. It looks like …/app/#op=…&token=…');
    return;
  }
  showError('');
  $('paste-input').value = '';
  openLink(link);
});
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') refreshPending();
});
window.addEventListener('online', () => {
  $('offline').hidden = true;
  refreshPending();
});
window.addEventListener('offline', () => {
  $('offline').hidden = false;
});
window.addEventListener('hashchange', () => takeLinkFromUrl());

/** Opens the link in the address bar, then drops it from the URL and history: the sdk token is a secret. */
function takeLinkFromUrl() {
  const link = parseLink(location.href);
  if (location.hash) history.replaceState(null, '', `${location.pathname}${location.search}`);
  if (link) openLink(link);
  return link !== undefined;
}

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' }).catch(() => undefined);
}
$('offline').hidden = navigator.onLine;
// wrangler prints http://127.0.0.1:…: say at once that passkeys need a domain, before any prompt fails obscurely.
if (localhostUrlFor(location.href)) {
  showError(`Passkeys need a domain name, not an IP address. Open ${localhostUrlFor(location.origin + location.pathname)} instead.`);
}
if (!takeLinkFromUrl()) goHome();
