// Vitest on the Workers runtime: the worker under test runs in workerd with local D1 and DOs.
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';
import { generateVars } from './scripts/dev-vars.mjs';
import { randomBytes } from 'node:crypto';
import { webhookReceiver } from './test/webhooks/receiver-server.mjs';

export default defineConfig({
  plugins: [
    cloudflareTest(async () => {
      // Fresh signing and E2E keys per run, generated exactly as `npm run dev` does.
      const { SIGNING_KEYS, E2E_KEYS, VAPID_KEYS } = await generateVars();
      return {
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        bindings: {
          ADMIN_TOKEN: 'test-admin-token-0123456789abcdef',
          // A configured deployment: every URL the service hands out comes from here (tests call https://custos.test).
          PUBLIC_URL: 'https://custos.test',
          ALLOW_LOCAL_WEBHOOKS: 'false',
          // Webhook secrets sealed in D1 under a fresh key; a 2 s attempt timeout keeps the timeout test short.
          WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'),
          WEBHOOK_TIMEOUT_MS: '2000',
          // FCM and APNs go to the local receiver (test/webhooks/receiver-server.mjs), which checks and records them.
          FCM_ENDPOINT: 'https://fcm.receiver.example',
          FCM_TOKEN_URL: 'https://fcm.receiver.example/token',
          APNS_ENDPOINT: 'https://apns.receiver.example',
          SIGNING_KEYS,
          E2E_KEYS,
          VAPID_KEYS,
          TEST_MIGRATIONS: await readD1Migrations(fileURLToPath(new URL('./migrations', import.meta.url))),
        },
        // A D1 database no migration is ever applied to: what a fresh deployment looks like before `migrations apply`.
        d1Databases: { EMPTY_DB: 'custos-empty' },
        // Outbound fetch goes to an in-process receiver that records webhook requests byte for byte.
        outboundService: webhookReceiver,
      },
      };
    }),
  ],
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'test/packages/**', 'test/crash/**', 'test/ciba/**', 'node_modules/**'],
    setupFiles: ['./test/setup.ts'],
    testTimeout: 20_000,
  },
});
