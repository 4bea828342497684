// /v1/audit-events: the tenant's hash-chained audit log and a call that verifies the chain.
import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from '../../env';
import { isId } from '../../domain/ids';
import { requireScope } from '../../middleware/auth';
import { decodeCursor, listOf, pageAhead, PageQuery, readErrors } from '../../schemas/common';
import { listAuditEvents, verifyAuditChain } from '../../storage/audit';

export const audit = createRouter();
audit.use('*', requireScope('audit'));

const AuditEventSchema = z
  .object({
    id: z.string(), seq: z.number().int(), at: z.string(), actor: z.string(), action: z.string(),
    targetType: z.string(), targetId: z.string(), userId: z.string().nullable(), data: z.record(z.string(), z.unknown()),
    prevHash: z.string(), hash: z.string(),
  })
  .openapi('AuditEvent');

const json = (schema: z.ZodTypeAny, description: string) => ({ description, content: { 'application/json': { schema } } });

const instant = z.string().datetime({ offset: false }).optional();

audit.openapi(
  createRoute({
    method: 'get', path: '/', tags: ['Audit'], operationId: 'listAuditEvents', summary: 'List audit events, filtered', security: [{ oauth2: ['audit'] }],
    description: 'The tenant’s append-only log, in chain order (`seq` ascending) or with `order=desc` newest first. Entries hold ids '
      + 'and attribute keys, never attribute values; each carries `prevHash` and `hash` so a copy can be checked offline. Filters '
      + 'combine: `userId`, `action` (exact, or a family ending in a dot: `user.`), `actor` (`client:<id>`, `admin:<id>`, `admin`), '
      + '`targetId`, `since` and `until` (ISO 8601 UTC instants, inclusive). A filtered page is still in chain order; to verify the '
      + 'chain, read it unfiltered or call `/verify`.',
    request: {
      query: PageQuery.extend({
        userId: z.string().max(64).optional(),
        action: z.string().regex(/^[a-z_]+(\.[a-z_]+)*\.?$/, 'an action such as user.locked, or a family such as user.').max(64).optional(),
        actor: z.string().min(1).max(128).optional(),
        targetId: z.string().min(1).max(128).optional(),
        since: instant,
        until: instant,
        order: z.enum(['asc', 'desc']).default('asc'),
      }),
    },
    responses: { 200: json(listOf(AuditEventSchema, 'AuditEventList'), 'A page of audit events'), ...readErrors },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const cursor = decodeCursor(q.cursor, (k): k is number => typeof k === 'number' && Number.isSafeInteger(k) && k > 0);
    if (q.userId !== undefined && !isId(q.userId, 'usr')) return c.json({ items: [], nextCursor: null }, 200);
    const items = await listAuditEvents(c.env.DB, c.get('auth').tenantId, {
      userId: q.userId, action: q.action, actor: q.actor, targetId: q.targetId, since: q.since, until: q.until, order: q.order, cursor, limit: q.limit + 1,
    });
    return c.json(pageAhead(items, q.limit, (e) => e.seq), 200);
  },
);

audit.openapi(
  createRoute({
    method: 'get', path: '/verify', tags: ['Audit'], operationId: 'verifyAuditChain', summary: "Recompute the tenant's audit hash chain", security: [{ oauth2: ['audit'] }],
    description: 'Recomputes every hash of the chain and reports the first broken link (an edited or deleted entry). A truncated tail '
      + 'cannot be seen from inside: keep `headSeq` and `headHash` and compare them on the next call.',
    responses: {
      200: json(
        z.object({
          valid: z.boolean(), checked: z.number().int(), headSeq: z.number().int(), headHash: z.string(),
          brokenAtSeq: z.number().int().optional(), reason: z.enum(['HASH_MISMATCH', 'LINK_MISMATCH', 'SEQUENCE_GAP']).optional(),
        }).openapi('AuditChainVerification'),
        'The result; keep headSeq/headHash to detect a truncated tail later',
      ),
      ...readErrors,
    },
  }),
  async (c) => c.json(await verifyAuditChain(c.env.DB, c.get('auth').tenantId), 200),
);
