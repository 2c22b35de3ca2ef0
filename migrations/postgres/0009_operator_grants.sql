-- Operator access (SEC-39): the operator reads a tenant's records (through the CLI only)
-- while a grant that the tenant's owners or admins gave is live. Grants expire (at most
-- 24 hours), can be revoked, and every use is audited in the tenant's chain.

CREATE TABLE operator_grant (
    id          UUID        PRIMARY KEY,
    tenant_id   UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    granted_by  UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    reason      TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);

CREATE INDEX operator_grant_by_tenant ON operator_grant (tenant_id, expires_at);

ALTER TABLE operator_grant ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_grant FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON operator_grant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON operator_grant TO attest_app;
    END IF;
END
$$;
