-- Issue 7: the organisation's own controls, each mapped to any number of requirements of any
-- framework, and the statement of applicability (per requirement: applicable or not, why).
-- Requirements without a row here are applicable.

CREATE TABLE control (
    id             UUID        PRIMARY KEY,
    tenant_id      UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    ref            TEXT        NOT NULL,             -- the organisation's reference, e.g. CTL-012
    title          TEXT        NOT NULL,
    description    BYTEA       NOT NULL,             -- sealed (tenant DEK of `classification`; AAD = control id)
    classification TEXT        NOT NULL CHECK (classification IN ('critical', 'high', 'moderate', 'low', 'public')),
    owner_id       UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    status         TEXT        NOT NULL CHECK (status IN ('draft', 'implemented', 'not_applicable')),
    justification  TEXT        NOT NULL,             -- why not applicable
    created_by     UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, ref)
);

CREATE INDEX control_by_title ON control (tenant_id, lower(title), id);
CREATE INDEX control_by_updated ON control (tenant_id, updated_at DESC, id);
CREATE INDEX control_by_owner ON control (tenant_id, owner_id);

CREATE TABLE control_mapping (
    tenant_id      UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    control_id     UUID        NOT NULL REFERENCES control (id) ON DELETE CASCADE,
    requirement_id UUID        NOT NULL REFERENCES requirement (id) ON DELETE CASCADE,
    created_by     UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (control_id, requirement_id)
);

CREATE INDEX control_mapping_by_requirement ON control_mapping (tenant_id, requirement_id);

CREATE TABLE applicability (
    tenant_id      UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    requirement_id UUID        PRIMARY KEY REFERENCES requirement (id) ON DELETE CASCADE,
    applicable     BOOLEAN     NOT NULL,
    reason         TEXT        NOT NULL,
    updated_by     UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['control', 'control_mapping', 'applicability'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid) '
            'WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON control, control_mapping, applicability TO attest_app;
    END IF;
END
$$;
