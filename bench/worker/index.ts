// The worker as `npm run bench` runs it: the production entry unchanged, plus round-trip counters and the /__bench tools.
// Nothing here is in the production bundle (src/index.ts does not import it); bench/lib/server.mjs bundles this entry.
import { Hono } from 'hono';
import { app } from '../../src/app';
import type { AppEnv } from '../../src/env';
import { ApiError, problemResponse } from '../../src/errors';
import { traceId } from '../../src/middleware/trace';
import production from '../../src/index';
import { OperationDO as ProductionOperationDO } from '../../src/durable-objects/operation';
import { bench, instrumentBindings } from './counters';
import type { Bindings } from './counters';

export { WebhookDeliveryDO, MaintenanceDO, AuthThrottleDO, AccessTokensDO, CibaPingDO, PushDeliveryDO } from '../../src/index';

/** The shards, counting their own D1 round trips (the finish batch runs here, not in the Worker). */
export class OperationDO extends ProductionOperationDO {
  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, instrumentBindings(env, 'do'));
  }
}

/** /__bench/*: counters, the crypto floor, bulk seeding; problems rendered like the API's. */
const tools = new Hono<{ Bindings: Bindings; Variables: AppEnv['Variables'] }>();
tools.use('*', traceId);
tools.route('/__bench', bench);
tools.onError((error, c) => (error instanceof ApiError ? problemResponse(c, error) : problemResponse(c, new ApiError('INTERNAL'))));
tools.notFound((c) => problemResponse(c, new ApiError('NOT_FOUND')));

export default {
  fetch(request: Request, env: Bindings, ctx: ExecutionContext): Response | Promise<Response> {
    const counted = instrumentBindings(env, 'worker');
    if (new URL(request.url).pathname.startsWith('/__bench/')) return tools.fetch(request, counted, ctx);
    return app.fetch(request, counted, ctx);
  },
  scheduled: production.scheduled,
} satisfies ExportedHandler<Bindings>;
