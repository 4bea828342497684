// The authenticator's IndexedDB, shared by app.js (imported for its effect) and sw.js (importScripts): one schema and
// one upgrade, so the page and the service worker can never open the database at different versions.
// Version 2 added `settings` (the push subscription state) and `closed` (operations whose notification was withdrawn).
self.custosDb = {
  open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open('custos-authenticator', 2);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains('devices')) db.createObjectStore('devices', { keyPath: 'deviceId' });
        if (!db.objectStoreNames.contains('history')) db.createObjectStore('history', { keyPath: 'id' }).createIndex('at', 'at');
        if (!db.objectStoreNames.contains('settings')) db.createObjectStore('settings', { keyPath: 'key' });
        if (!db.objectStoreNames.contains('closed')) db.createObjectStore('closed', { keyPath: 'operationId' });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  },
  /** Runs `action` on one store in its own transaction; resolves with the request's result once it committed. */
  run(db, storeName, mode, action) {
    return new Promise((resolve, reject) => {
      const transaction = db.transaction(storeName, mode);
      const request = action(transaction.objectStore(storeName));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  },
};
