-- Issue 5: the full role model, time-limited and scope-limited memberships, the first object
-- kind (documents, with versions) and shares with external accounts. Tenant data tables get
-- row-level security as the second wall behind the tenant filter of every query (SEC-34).

-- Roles (SEC-35). 'member' becomes 'contributor'.
ALTER TABLE membership DROP CONSTRAINT IF EXISTS membership_role_check;
UPDATE membership SET role = 'contributor' WHERE role = 'member';
ALTER TABLE membership ADD COLUMN access_until TIMESTAMPTZ;              -- the membership ends then (auditors, externals)
ALTER TABLE membership ADD COLUMN shared_only BOOLEAN NOT NULL DEFAULT FALSE; -- sees only what is shared with them
ALTER TABLE membership ADD CONSTRAINT membership_role_check
    CHECK (role IN ('owner', 'admin', 'manager', 'contributor', 'auditor', 'external'));
ALTER TABLE membership ADD CONSTRAINT membership_external_shared_only
    CHECK (role <> 'external' OR shared_only);

UPDATE one_time_token SET role = 'contributor' WHERE role = 'member';
ALTER TABLE one_time_token ADD COLUMN access_until TIMESTAMPTZ;
ALTER TABLE one_time_token ADD COLUMN shared_only BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE sso_provider DROP CONSTRAINT IF EXISTS sso_provider_jit_role_check;
UPDATE sso_provider SET jit_role = 'contributor' WHERE jit_role = 'member';
ALTER TABLE sso_provider ADD CONSTRAINT sso_provider_jit_role_check
    CHECK (jit_role IN ('admin', 'manager', 'contributor', 'auditor', 'external'));

-- Documents: the title is shown in lists; the body (sanitised rich text) is sealed with the
-- tenant's key for the document's classification.
CREATE TABLE document (
    id             UUID        PRIMARY KEY,
    tenant_id      UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    title          TEXT        NOT NULL,
    classification TEXT        NOT NULL CHECK (classification IN ('critical', 'high', 'moderate', 'low', 'public')),
    owner_id       UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    version        BIGINT      NOT NULL,         -- the current version
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

CREATE INDEX document_by_tenant ON document (tenant_id, updated_at DESC, id);

CREATE TABLE document_version (
    tenant_id      UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    document_id    UUID        NOT NULL REFERENCES document (id) ON DELETE CASCADE,
    version        BIGINT      NOT NULL,
    title          TEXT        NOT NULL,
    classification TEXT        NOT NULL,
    body           BYTEA       NOT NULL,         -- sealed (tenant DEK of `classification`; AAD = document id and version)
    author_id      UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (document_id, version)
);

-- Any object shared with one member (externals, scope-limited auditors) until a date (SEC-36).
CREATE TABLE object_share (
    id          UUID        PRIMARY KEY,
    tenant_id   UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    object_kind TEXT        NOT NULL CHECK (object_kind IN ('document')),
    object_id   UUID        NOT NULL,
    user_id     UUID        NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    until       TIMESTAMPTZ NOT NULL,
    created_by  UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);

CREATE INDEX object_share_by_user ON object_share (tenant_id, user_id, object_kind);
CREATE INDEX object_share_by_object ON object_share (object_kind, object_id);

-- Row-level security (SEC-34): a row is visible and writable only inside a transaction that
-- set app.tenant_id to its tenant (Db::begin_for). No setting, no rows. FORCE applies the
-- policies to the owner too; the app role has no BYPASSRLS.
DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['document', 'document_version', 'object_share'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid) '
            'WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON document, document_version, object_share TO attest_app;
    END IF;
END
$$;
