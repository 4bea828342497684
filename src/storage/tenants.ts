// D1 queries for tenants: rows in, domain objects out.
import type { TenantPolicy } from '../domain/policy';
import { DEFAULT_POLICY } from '../domain/policy';

export interface Branding {
  name?: string;
  logoUrl?: string;
  primaryColor?: string;
}

export interface Tenant {
  id: string;
  name: string;
  rpId: string;
  rpName: string;
  origins: string[];
  /** Web origins whose pages may call /sdk/v1 (CORS); null: the passkey origins. */
  allowedOrigins: string[] | null;
  branding: Branding;
  policy: TenantPolicy;
  createdAt: string;
  updatedAt: string;
}

interface TenantRow {
  id: string;
  name: string;
  rp_id: string;
  rp_name: string;
  origins: string;
  allowed_origins: string | null;
  branding: string;
  policy: string;
  created_at: string;
  updated_at: string;
}

function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    name: row.name,
    rpId: row.rp_id,
    rpName: row.rp_name,
    origins: JSON.parse(row.origins) as string[],
    allowedOrigins: row.allowed_origins === null ? null : (JSON.parse(row.allowed_origins) as string[]),
    branding: JSON.parse(row.branding) as Branding,
    policy: { ...DEFAULT_POLICY, ...(JSON.parse(row.policy) as Partial<TenantPolicy>) },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function allowedOriginsColumn(tenant: Tenant): string | null {
  return tenant.allowedOrigins === null ? null : JSON.stringify(tenant.allowedOrigins);
}

/** The web origins a tenant's pages may call the SDK API from: its own list, else its passkey origins. */
export function webOriginsOf(tenant: Pick<Tenant, 'origins' | 'allowedOrigins'>): string[] {
  return tenant.allowedOrigins ?? tenant.origins;
}

/** Rewrites the origin → tenant index a preflight looks up; goes in the same batch as the tenant's insert or update. */
export function replaceWebOriginsStatements(db: D1Database, tenant: Tenant): D1PreparedStatement[] {
  return [
    db.prepare('DELETE FROM tenant_web_origins WHERE tenant_id = ?1').bind(tenant.id),
    ...webOriginsOf(tenant).map((origin) => db.prepare('INSERT OR IGNORE INTO tenant_web_origins (origin, tenant_id) VALUES (?1, ?2)').bind(origin, tenant.id)),
  ];
}

/** Whether any tenant allows this web origin (a preflight: it carries no credentials, so no tenant yet). */
export async function isWebOriginKnown(db: D1Database, origin: string): Promise<boolean> {
  return (await db.prepare('SELECT 1 AS ok FROM tenant_web_origins WHERE origin = ?1 LIMIT 1').bind(origin).first<{ ok: number }>()) !== null;
}

/** Whether this tenant allows this web origin. */
export async function isWebOriginOfTenant(db: D1Database, origin: string, tenantId: string): Promise<boolean> {
  return (await db.prepare('SELECT 1 AS ok FROM tenant_web_origins WHERE origin = ?1 AND tenant_id = ?2').bind(origin, tenantId).first<{ ok: number }>()) !== null;
}

/** Whether the tenant of this operation allows this web origin: one query, and the same answer for an unknown operation. */
export async function isWebOriginOfOperation(db: D1Database, origin: string, operationId: string): Promise<boolean> {
  const row = await db
    .prepare('SELECT 1 AS ok FROM operations AS o JOIN tenant_web_origins AS w ON w.tenant_id = o.tenant_id WHERE o.id = ?1 AND w.origin = ?2')
    .bind(operationId, origin)
    .first<{ ok: number }>();
  return row !== null;
}

export function insertTenantStatement(db: D1Database, tenant: Tenant): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO tenants (id, name, rp_id, rp_name, origins, branding, policy, created_at, updated_at, allowed_origins)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`,
    )
    .bind(tenant.id, tenant.name, tenant.rpId, tenant.rpName, JSON.stringify(tenant.origins), JSON.stringify(tenant.branding), JSON.stringify(tenant.policy), tenant.createdAt, tenant.updatedAt, allowedOriginsColumn(tenant));
}

export function updateTenantStatement(db: D1Database, tenant: Tenant): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE tenants SET name = ?2, rp_id = ?3, rp_name = ?4, origins = ?5, branding = ?6, policy = ?7, updated_at = ?8, allowed_origins = ?9 WHERE id = ?1`,
    )
    .bind(tenant.id, tenant.name, tenant.rpId, tenant.rpName, JSON.stringify(tenant.origins), JSON.stringify(tenant.branding), JSON.stringify(tenant.policy), tenant.updatedAt, allowedOriginsColumn(tenant));
}

export async function getTenant(db: D1Database, tenantId: string): Promise<Tenant | null> {
  const row = await db.prepare('SELECT * FROM tenants WHERE id = ?1').bind(tenantId).first<TenantRow>();
  return row ? toTenant(row) : null;
}

export async function listTenants(db: D1Database, options: { afterId?: string; limit: number }): Promise<Tenant[]> {
  const rows = await db
    .prepare('SELECT * FROM tenants WHERE id > ?1 ORDER BY id LIMIT ?2')
    .bind(options.afterId ?? '', options.limit)
    .all<TenantRow>();
  return rows.results.map(toTenant);
}
