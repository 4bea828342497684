// Wire schemas of the operator API: tenants, their policy and API clients.
import { z } from '@hono/zod-openapi';
import { wellFormedString } from './common';
import { DEFAULT_POLICY, NUMBER_MATCHING_POLICIES, POLICY_LIMITS } from '../domain/policy';

/** A URL zod's own check already refused still reaches refinements (zod 4): parse defensively, never throw. */
function parsedUrl(value: string): URL | null {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

/** 127.0.0.0/8, as WHATWG URL serialises every IPv4 spelling (0x7f.1, 2130706433) into a dotted quad. */
const LOOPBACK_IPV4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * branding.logoUrl, shown as an <img> by the authenticator app: https from any host; http only when
 * the host is exactly a loopback name or address (local development). Judged on the parsed host, so
 * `http://localhost.attacker.example` and `http://localhost@attacker.example` are not local. No
 * credentials: they would go to whoever serves the image, from every device that shows it.
 */
export function isLogoUrl(value: string): boolean {
  const u = parsedUrl(value);
  if (!u || u.username !== '' || u.password !== '') return false;
  if (u.protocol === 'https:') return true;
  return u.protocol === 'http:' && (u.hostname === 'localhost' || u.hostname === '[::1]' || LOOPBACK_IPV4.test(u.hostname));
}

const origin = wellFormedString().url().refine((o) => {
  const u = parsedUrl(o);
  if (!u) return false;
  return (u.protocol === 'https:' || u.hostname === 'localhost' || u.hostname === '127.0.0.1') && u.pathname === '/' && !u.search && !u.hash && !u.username;
}, 'an origin is https://host[:port] (http only for localhost)');

const webOrigins = z
  .array(origin)
  .min(1)
  .max(20)
  .openapi({ description: 'Web origins whose pages may call /sdk/v1 and load the SDK bundle (CORS). Defaults to `origins`.' });

const rpId = wellFormedString().min(1).max(253).regex(/^(localhost|([a-z0-9-]+\.)+[a-z0-9-]+)$/, 'a registrable domain such as bank.example');

const limit = (field: 'maxLiveOperationsPerUser' | 'maxLiveOperationsPerDevice' | 'maxStartsPerUserPerMinute', description: string) =>
  z.number().int().min(POLICY_LIMITS[field].min).max(POLICY_LIMITS[field].max).optional().openapi({
    description: `${description} (${POLICY_LIMITS[field].min}–${POLICY_LIMITS[field].max}, default ${DEFAULT_POLICY[field]}); beyond it a start answers 429`,
  });

// Abuse limits (docs/operations.md#limits): bounded so that no tenant can switch them off.
const limitFields = {
  maxLiveOperationsPerUser: limit('maxLiveOperationsPerUser', 'Live (PENDING or IN_PROGRESS, unexpired) operations one user may have at once'),
  maxLiveOperationsPerDevice: limit('maxLiveOperationsPerDevice', 'Live operations that may name one device at once'),
  maxStartsPerUserPerMinute: limit('maxStartsPerUserPerMinute', 'Operations started for one user in any 60 s'),
};

export const PolicySchema = z
  .strictObject({
    maxFailedAttempts: z.number().int().min(1).max(5).optional(),
    operationTtlSeconds: z.number().int().min(1).max(300).optional(),
    deviceBoundOnly: z.boolean().optional(),
    requireScaForNewDevice: z.boolean().optional(),
    ...limitFields,
    pushNotifications: z.boolean().optional().openapi({ description: 'Starts notify target devices that have a push channel (default true; a start may still say `push: false`)' }),
    numberMatching: z.enum(NUMBER_MATCHING_POLICIES).optional().openapi({
      description: 'Which AUTHENTICATIONs get number matching when the start does not say: PUSHED (default; the pushed ones), DECOUPLED (all but sameDevice), REQUESTED (only when asked)',
    }),
  })
  .openapi('TenantPolicyInput');

const brandingFields = {
  name: wellFormedString().min(1).max(64),
  logoUrl: wellFormedString().url().max(2048).refine(isLogoUrl, 'an https URL without credentials (http only for localhost or a loopback address)'),
  primaryColor: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'a #rrggbb colour'),
};

export const BrandingSchema = z
  .strictObject({ name: brandingFields.name.optional(), logoUrl: brandingFields.logoUrl.optional(), primaryColor: brandingFields.primaryColor.optional() })
  .openapi('Branding');

/** In a PATCH (JSON merge patch, RFC 7396): a field given replaces the stored one, `null` removes it (the app's default returns). */
export const BrandingPatchSchema = z
  .strictObject({
    name: brandingFields.name.nullable().optional(),
    logoUrl: brandingFields.logoUrl.nullable().optional(),
    primaryColor: brandingFields.primaryColor.nullable().optional(),
  })
  .openapi('BrandingPatch');

export const TenantSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    rpId: z.string(),
    rpName: z.string(),
    origins: z.array(z.string()),
    allowedOrigins: z.array(z.string()).openapi({ description: 'Web origins allowed to call /sdk/v1 (CORS): the configured list, else `origins`.' }),
    branding: z.object({ name: z.string().optional(), logoUrl: z.string().optional(), primaryColor: z.string().optional() }),
    webhook: z.object({ url: z.string(), disabled: z.boolean().optional() }).optional(),
    policy: z.object({
      maxFailedAttempts: z.number(), operationTtlSeconds: z.number(), deviceBoundOnly: z.boolean(), requireScaForNewDevice: z.boolean(),
      maxLiveOperationsPerUser: z.number(), maxLiveOperationsPerDevice: z.number(), maxStartsPerUserPerMinute: z.number(),
      pushNotifications: z.boolean(), numberMatching: z.enum(NUMBER_MATCHING_POLICIES),
    }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Tenant');

export const CreateTenantSchema = z
  .strictObject({
    name: wellFormedString().min(1).max(128),
    rpId,
    rpName: wellFormedString().min(1).max(128).optional(),
    origins: z.array(origin).min(1).max(20),
    allowedOrigins: webOrigins.optional(),
    branding: BrandingSchema.optional(),
    policy: PolicySchema.optional(),
  })
  .openapi('CreateTenant');

export const PatchTenantSchema = z
  .strictObject({
    name: wellFormedString().min(1).max(128).optional(),
    rpId: rpId.optional(),
    rpName: wellFormedString().min(1).max(128).optional(),
    origins: z.array(origin).min(1).max(20).optional(),
    allowedOrigins: webOrigins.nullable().optional(),
    branding: BrandingPatchSchema.optional(),
    policy: PolicySchema.optional(),
  })
  .openapi('PatchTenant');

export const ScopeSchema = z.enum(['users', 'devices', 'operations', 'audit']);

/** A public P-256 key for private_key_jwt (RFC 7523): ES256 is the one client assertion algorithm accepted. */
const ClientPublicJwk = z
  .object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: z.string().min(43).max(43), y: z.string().min(43).max(43), kid: z.string().min(1).max(128).optional() })
  .refine((k) => !('d' in k), 'a public key: no private part')
  .openapi('ClientPublicJwk');

/** How the client takes part in OpenID Connect CIBA (docs/ciba.md); the names are those of OIDC client metadata. */
export const CibaClientSchema = z
  .strictObject({
    backchannelTokenDeliveryMode: z.enum(['poll', 'ping']).default('poll').openapi({ description: 'poll (default) or ping; push is not offered (FAPI-CIBA deprecates it)' }),
    backchannelClientNotificationEndpoint: wellFormedString().min(1).max(2048).optional()
      .openapi({ description: 'ping only, required there: where Custos POSTs `{auth_req_id}`; the webhook URL rules apply (https, no private hosts)' }),
    jwks: z.strictObject({ keys: z.array(ClientPublicJwk).min(1).max(5) }).optional()
      .openapi({ description: 'Public keys verifying the client’s private_key_jwt assertions and login_hint_tokens (ES256)' }),
  })
  .openapi('CibaClient');

export const CreateClientSchema = z
  .strictObject({ name: wellFormedString().min(1).max(128), scopes: z.array(ScopeSchema).min(1).max(4).optional(), ciba: CibaClientSchema.optional() })
  .openapi('CreateClient');

export const ClientSchema = z
  .object({
    clientId: z.string(), name: z.string(), scopes: z.array(ScopeSchema), createdAt: z.string(), revokedAt: z.string().optional(),
    ciba: z.object({
      backchannelTokenDeliveryMode: z.enum(['poll', 'ping']),
      backchannelClientNotificationEndpoint: z.string().optional(),
      jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
    }),
  })
  .openapi('ApiClient');

export const ClientWithSecretSchema = ClientSchema.extend({ clientSecret: z.string() }).openapi('ApiClientWithSecret');
