// Worker entry: the Hono app and the Durable Object classes.
import { app } from './app';

export { OperationDO } from './durable-objects/operation';
export { WebhookDeliveryDO } from './durable-objects/webhook-delivery';
export { AuthThrottleDO } from './durable-objects/auth-throttle';
export default app;
