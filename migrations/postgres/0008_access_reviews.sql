-- Access recertification (SEC-38): an admin starts a review; every membership becomes an item
-- that a reviewer (by default the tenant's owners) confirms or revokes; unanswered items
-- escalate by mail after the due date.

CREATE TABLE access_review (
    id           UUID        PRIMARY KEY,
    tenant_id    UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    created_by   UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    due_at       TIMESTAMPTZ NOT NULL,
    escalated_at TIMESTAMPTZ,
    closed_at    TIMESTAMPTZ
);

CREATE INDEX access_review_by_tenant ON access_review (tenant_id, created_at DESC);

CREATE TABLE access_review_item (
    id          UUID        PRIMARY KEY,
    tenant_id   UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    review_id   UUID        NOT NULL REFERENCES access_review (id) ON DELETE CASCADE,
    user_id     UUID        NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    user_name   TEXT        NOT NULL,                -- as it was when the review started
    user_email  TEXT        NOT NULL,
    role        TEXT        NOT NULL,
    decision    TEXT        NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'confirmed', 'revoked')),
    decided_by  UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    decided_at  TIMESTAMPTZ
);

CREATE INDEX access_review_item_by_review ON access_review_item (review_id);

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['access_review', 'access_review_item'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid) '
            'WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON access_review, access_review_item TO attest_app;
    END IF;
END
$$;
