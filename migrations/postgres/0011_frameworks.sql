-- Issue 7: framework catalogues. A framework is a tree of requirements (groups, controls,
-- enhancements, a tenant's own requirements), imported from OSCAL or CSV or one of the
-- shipped NIST baselines. Re-importing a newer version updates requirements in place by their
-- source id, withdraws the ones it no longer holds (kept, so mappings to them stay visible)
-- and records what changed.

CREATE TABLE framework (
    id                UUID        PRIMARY KEY,
    tenant_id         UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    title             TEXT        NOT NULL,
    version           TEXT        NOT NULL,
    source            TEXT        NOT NULL CHECK (source IN ('oscal', 'csv', 'baseline')),
    oscal_uuid        TEXT,
    provenance        TEXT        NOT NULL,          -- JSON: the source's metadata and licence
    requirement_count BIGINT      NOT NULL,
    created_by        UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE INDEX framework_by_tenant ON framework (tenant_id, title);

CREATE TABLE requirement (
    id           UUID        PRIMARY KEY,
    tenant_id    UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    framework_id UUID        NOT NULL REFERENCES framework (id) ON DELETE CASCADE,
    ref          TEXT        NOT NULL,               -- the id in the source (ac-2.1, A.5.1)
    parent_id    UUID        REFERENCES requirement (id) ON DELETE SET NULL,
    kind         TEXT        NOT NULL CHECK (kind IN ('group', 'control', 'enhancement', 'requirement')),
    label        TEXT        NOT NULL,
    title        TEXT        NOT NULL,
    statement    TEXT        NOT NULL,
    guidance     TEXT        NOT NULL,
    position     BIGINT      NOT NULL,               -- document order
    depth        BIGINT      NOT NULL,
    withdrawn_at TIMESTAMPTZ,                        -- no longer in the current version
    UNIQUE (framework_id, ref)
);

CREATE INDEX requirement_by_framework ON requirement (tenant_id, framework_id, position);

CREATE TABLE framework_version (
    tenant_id    UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    framework_id UUID        NOT NULL REFERENCES framework (id) ON DELETE CASCADE,
    number       BIGINT      NOT NULL,
    version      TEXT        NOT NULL,
    changes      TEXT        NOT NULL,               -- JSON: {"added": […], "changed": […], "removed": […]}
    imported_by  UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    imported_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (framework_id, number)
);

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['framework', 'requirement', 'framework_version'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid) '
            'WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON framework, requirement, framework_version TO attest_app;
    END IF;
END
$$;
