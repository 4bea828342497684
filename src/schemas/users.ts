// Wire schemas of the identity store: users and their attributes.
import { z } from '@hono/zod-openapi';
import { wellFormedString } from './common';

export const ATTRIBUTE_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
export const MAX_ATTRIBUTES = 100;

const attributeKey = wellFormedString().regex(ATTRIBUTE_KEY, 'keys match ^[A-Za-z0-9_.-]{1,64}$');

/** `__proto__` matches the key pattern, but zod strips it from records silently (201 without it): refuse it instead. */
const refuseProtoKey = <T extends z.ZodTypeAny>(record: T) =>
  z.preprocess((value, ctx) => {
    if (value !== null && typeof value === 'object' && Object.prototype.hasOwnProperty.call(value, '__proto__')) {
      ctx.addIssue({ code: 'custom', message: '__proto__ is a reserved key', path: ['__proto__'], input: value });
    }
    return value;
  }, record);
const attributeValue = wellFormedString().max(1024, 'values are at most 1024 characters');
const externalRef = wellFormedString().min(1).max(256);

export const AttributesSchema = refuseProtoKey(
  z.record(attributeKey, attributeValue).refine((a) => Object.keys(a).length <= MAX_ATTRIBUTES, { message: `at most ${MAX_ATTRIBUTES} attributes` }),
).openapi({ example: { email: 'ada@example.com', tier: 'gold' } });

export const UserSchema = z
  .object({
    id: z.string().openapi({ example: 'usr_01jd5m3k6v8w9x0y1z2a3b4c5d6e7f8g9h' }),
    externalRef: z.string().optional(),
    status: z.enum(['ACTIVE', 'LOCKED', 'DEACTIVATED']),
    lockReason: z.string().optional(),
    attributes: z.record(z.string(), z.string()),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('User');

export const CreateUserSchema = z
  .strictObject({ externalRef: externalRef.optional(), attributes: AttributesSchema.optional() })
  .openapi('CreateUser');

export const PatchUserSchema = z
  .strictObject({
    externalRef: externalRef.nullable().optional(),
    attributes: refuseProtoKey(
      z.record(attributeKey, attributeValue.nullable()).refine((a) => Object.keys(a).length <= MAX_ATTRIBUTES * 2, { message: 'too many attribute changes' }),
    ).optional(),
  })
  .openapi('PatchUser', { description: 'JSON merge patch (RFC 7396): an attribute set to null is deleted.' });

/** Set only by the service when a device fails too often (API.md §1), never by a relying party. */
export const AUTOMATIC_LOCK_REASON = 'TOO_MANY_FAILED_ATTEMPTS';

export const LockSchema = z
  .strictObject({
    reason: wellFormedString().min(1).max(256).refine((r) => r !== AUTOMATIC_LOCK_REASON, `${AUTOMATIC_LOCK_REASON} is reserved for automatic locks`).optional(),
  })
  .openapi('LockRequest');
export const EmptyActionSchema = z.strictObject({}).openapi('ActionRequest');
