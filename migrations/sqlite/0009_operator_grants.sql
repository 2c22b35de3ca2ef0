-- Operator access (SEC-39): the operator reads a tenant's records (through the CLI only)
-- while a grant that the tenant's owners or admins gave is live. Grants expire (at most
-- 24 hours), can be revoked, and every use is audited in the tenant's chain.

CREATE TABLE operator_grant (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    granted_by  BLOB REFERENCES app_user (id) ON DELETE SET NULL,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;

CREATE INDEX operator_grant_by_tenant ON operator_grant (tenant_id, expires_at);
