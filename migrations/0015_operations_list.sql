-- GET /v1/operations lists a tenant's whole history newest first (docs/operations.md#listing-operations). The
-- indexes of 0001 lead with (tenant_id, user_id) and (tenant_id, device_id), so without a user or device filter
-- SQLite would read every row of the tenant and sort them; with this one it walks the newest ids and stops at the page.
CREATE INDEX operations_tenant ON operations (tenant_id, id);
