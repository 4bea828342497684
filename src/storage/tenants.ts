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
    branding: JSON.parse(row.branding) as Branding,
    policy: { ...DEFAULT_POLICY, ...(JSON.parse(row.policy) as Partial<TenantPolicy>) },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function insertTenantStatement(db: D1Database, tenant: Tenant): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO tenants (id, name, rp_id, rp_name, origins, branding, policy, created_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)`,
    )
    .bind(tenant.id, tenant.name, tenant.rpId, tenant.rpName, JSON.stringify(tenant.origins), JSON.stringify(tenant.branding), JSON.stringify(tenant.policy), tenant.createdAt, tenant.updatedAt);
}

export function updateTenantStatement(db: D1Database, tenant: Tenant): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE tenants SET name = ?2, rp_id = ?3, rp_name = ?4, origins = ?5, branding = ?6, policy = ?7, updated_at = ?8 WHERE id = ?1`,
    )
    .bind(tenant.id, tenant.name, tenant.rpId, tenant.rpName, JSON.stringify(tenant.origins), JSON.stringify(tenant.branding), JSON.stringify(tenant.policy), tenant.updatedAt);
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
