// The tenant's webhook endpoint as shown on the tenant resource (configured under /admin/v1/tenants/{id}/webhook).
export interface WebhookView {
  url: string;
  disabled?: boolean;
}

export async function getWebhookView(db: D1Database, tenantId: string): Promise<WebhookView | null> {
  void db;
  void tenantId;
  return null;
}
