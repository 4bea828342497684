// Worker entry: the Hono app, the Durable Object classes, and the Cron Trigger that keeps the maintenance alarm armed.
import { app } from './app';
import type { Bindings } from './env';
import { maintenanceStub } from './durable-objects/maintenance';

export { OperationDO } from './durable-objects/operation';
export { WebhookDeliveryDO } from './durable-objects/webhook-delivery';
export { AuthThrottleDO } from './durable-objects/auth-throttle';
export { MaintenanceDO } from './durable-objects/maintenance';
export { AccessTokensDO } from './durable-objects/access-tokens';
export { CibaPingDO } from './durable-objects/ciba-ping';
export { PushDeliveryDO } from './durable-objects/push-delivery';

export default {
  fetch: app.fetch,
  // The maintenance object re-arms its own alarm; the cron only makes sure it was armed at least once (a fresh deploy).
  async scheduled(_controller: ScheduledController, env: Bindings): Promise<void> {
    await maintenanceStub(env).poke();
  },
} satisfies ExportedHandler<Bindings>;
