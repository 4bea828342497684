// /v1/operations: relying parties start, watch (long-poll) and cancel device operations.
import { createRoute, z } from '@hono/zod-openapi';
import { auditActorOf, createRouter } from '../../env';
import { ApiError } from '../../errors';
import { isId } from '../../domain/ids';
import { requireScope } from '../../middleware/auth';
import { idempotent } from '../../middleware/idempotency';
import { commonErrors, conflict, decodeCursor, IdParam, idempotencyReused, notFound, pageAhead, PageQuery, readErrors, tooManyRequests } from '../../schemas/common';
import { OperationListSchema, OperationSchema, StartOperationSchema } from '../../schemas/operations';
import { OPERATION_STATUSES, OPERATION_TYPES } from '../../domain/operation-state';
import { listTenantHistory } from '../../storage/operations';
import type { OperationView } from '../../schemas/operations';
import type { DoResult } from '../../durable-objects/operation';
import { operationStub } from '../../durable-objects/operation';
import { publicOriginOf } from '../../middleware/origin';
import { startOperation } from '../../services/operation-start';
import { historyView, readOperation } from '../../services/operation-read';

export { historyView } from '../../services/operation-read';

export const operations = createRouter();
operations.use('*', requireScope('operations'));

const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const opPath = z.object({ operationId: IdParam('operationId', 'op_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h') });


/** Turns a Durable Object's refusal into the API error it stands for. */
export function unwrap<T>(result: DoResult<T>): T {
  if (result.ok) return result.value;
  throw new ApiError(result.code, result.detail, result.extras ?? {});
}


operations.openapi(
  createRoute({
    method: 'post', path: '/', tags: ['Operations'], operationId: 'startOperation', summary: 'Start an operation (registration, authentication, authorisation, signature)',
    description: 'The body is discriminated by `type` (docs/operations.md). Without `deviceId` any active device of the user may answer '
      + '(broadcast, first one wins). Returns the Operation with `sdk.token` and `sdk.url`, shown only here. Dynamic linking '
      + '(PSD2 RTS art. 5): for AUTHORISATION and SIGNATURE the WebAuthn challenge is random(32) ‖ SHA-256(JCS(bound)). '
      + 'Takes an `Idempotency-Key`. Abuse limits from the tenant policy (docs/operations.md#limits): beyond '
      + '`maxLiveOperationsPerUser` or `maxLiveOperationsPerDevice` live operations, 429 TOO_MANY_LIVE_OPERATIONS; beyond '
      + '`maxStartsPerUserPerMinute`, 429 RATE_LIMITED; both with `Retry-After`, and nothing is written.',
    security: [{ oauth2: ['operations'] }], middleware: [idempotent] as const,
    request: { body: { required: true, content: { 'application/json': { schema: StartOperationSchema } } }, headers: z.object({ 'idempotency-key': z.string().optional() }) },
    responses: {
      201: json(OperationSchema, 'Started'), ...commonErrors, ...notFound('USER_NOT_FOUND, DEVICE_NOT_FOUND'),
      ...conflict('USER_NOT_ACTIVE, DEVICE_LOCKED, DEVICE_NOT_ACTIVE, NO_ACTIVE_DEVICE, SCA_REQUIRED, IDEMPOTENCY_KEY_IN_USE'),
      ...idempotencyReused, ...tooManyRequests('TOO_MANY_LIVE_OPERATIONS, RATE_LIMITED'),
    },
  }),
  async (c) => {
    const { view, sdk } = await startOperation(c.env, c.get('auth'), c.req.valid('json'), publicOriginOf(c));
    c.header('location', `/v1/operations/${view.id}`);
    return c.json({ ...view, sdk }, 201);
  },
);

// A filter on an id that cannot be one is a mistake of the caller, said as such; a well-formed id of nobody (or of another
// tenant) simply matches nothing.
const idFilter = (prefix: 'usr' | 'dev', example: string) =>
  z.string().max(64).refine((v) => isId(v, prefix), `a ${prefix === 'usr' ? 'user' : 'device'} id (${prefix}_…)`).optional().openapi({ example });

const ListQuery = PageQuery.extend({
  type: z.enum(OPERATION_TYPES).optional().openapi({ description: 'Only operations of this type' }),
  status: z.enum(OPERATION_STATUSES).optional().openapi({ description: 'Only operations in this status' }),
  userId: idFilter('usr', 'usr_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h'),
  deviceId: idFilter('dev', 'dev_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h'),
});

operations.openapi(
  createRoute({
    method: 'get', path: '/', tags: ['Operations'], operationId: 'listOperations', summary: "The tenant's operation history, newest first",
    description: 'Every operation of the tenant from the history kept in D1 (no sdk tokens, no result tokens: read one operation '
      + 'for its `result`), newest first, cursor-paged. Filters `type`, `status`, `userId` and `deviceId` combine with AND; the '
      + 'cursor belongs to the filters it was issued with.',
    security: [{ oauth2: ['operations'] }],
    request: { query: ListQuery },
    responses: { 200: json(OperationListSchema, 'Operations'), ...readErrors },
  }),
  async (c) => {
    const { tenantId } = c.get('auth');
    const { limit, cursor, ...filter } = c.req.valid('query');
    const before = decodeCursor(cursor, (k): k is string => typeof k === 'string' && isId(k, 'op'));
    // One row more than the page: it only proves a next page exists, so the last page says nextCursor null.
    const rows = await listTenantHistory(c.env.DB, { tenantId, filter, before: before ?? null, limit: limit + 1 });
    return c.json(pageAhead(rows.map(historyView), limit, (o) => o.id), 200);
  },
);

operations.openapi(
  createRoute({
    method: 'get', path: '/{operationId}', tags: ['Operations'], operationId: 'getOperation', summary: 'Operation status; ?wait=N (≤ 30 s) long-polls until it is final',
    description: 'The Operation without its sdk token; once COMPLETED it holds `result.token`, the signed result token '
      + '(docs/verifying-tokens.md). `wait` (0–30 s) holds the answer until the operation is final or the time is up, '
      + 'then answers with whatever the status is.',
    security: [{ oauth2: ['operations'] }],
    request: { params: opPath, query: z.object({ wait: z.coerce.number().int().min(0).max(30).optional().openapi({ description: 'Seconds to wait for a final status (0–30)' }) }) },
    responses: { 200: json(OperationSchema, 'The operation (without the sdk token)'), ...readErrors, ...notFound('OPERATION_NOT_FOUND') },
  }),
  async (c) => {
    const { operationId } = c.req.valid('param');
    const { tenantId } = c.get('auth');
    const view = await readOperation(c.env, tenantId, operationId, { waitSeconds: c.req.valid('query').wait });
    if (!view) throw new ApiError('OPERATION_NOT_FOUND', `No operation ${operationId}.`);
    return c.json(view, 200);
  },
);

operations.openapi(
  createRoute({
    method: 'post', path: '/{operationId}/cancel', tags: ['Operations'], operationId: 'cancelOperation', summary: 'Cancel an operation',
    description: 'A live (PENDING or IN_PROGRESS) operation becomes CANCELLED and an `operation.cancelled` event is sent. '
      + 'A final one answers 409 OPERATION_FINAL with its `operationStatus`; one a device is finishing right now, 409 OPERATION_CONFLICT.',
    security: [{ oauth2: ['operations'] }],
    request: { params: opPath, body: { required: false, content: { 'application/json': { schema: z.strictObject({}).openapi('CancelRequest') } } } },
    responses: { 200: json(OperationSchema, 'CANCELLED'), ...commonErrors, ...notFound('OPERATION_NOT_FOUND'), ...conflict('OPERATION_FINAL, OPERATION_CONFLICT') },
  }),
  async (c) => {
    const { operationId } = c.req.valid('param');
    const { tenantId, clientId } = c.get('auth');
    if (!isId(operationId, 'op')) throw new ApiError('OPERATION_NOT_FOUND', `No operation ${operationId}.`);
    const view = unwrap((await operationStub(c.env, operationId).cancel({ tenantId, reason: 'CANCELLED', actor: auditActorOf(c.get('auth')) })) as DoResult<OperationView>);
    return c.json(view, 200);
  },
);
