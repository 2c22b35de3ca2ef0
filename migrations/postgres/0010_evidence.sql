-- Issue 6: the evidence library. An evidence record has versions; each version is a file
-- (encrypted in object storage under a random key, the file key wrapped with the tenant DEK of
-- the version's classification) or an external link (sealed). Quota bookkeeping is one row per
-- tenant updated atomically; `pending_blob` names blobs that must not outlive a failed upload
-- or a deletion, for the sweeper (it holds random keys only and is read before any tenant is
-- known, so it stays outside row-level security). object_share learns the new object kind.

CREATE TABLE evidence (
    id             UUID        PRIMARY KEY,
    tenant_id      UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    title          TEXT        NOT NULL,
    description    BYTEA       NOT NULL,            -- sealed (tenant DEK of `classification`; AAD = evidence id)
    classification TEXT        NOT NULL CHECK (classification IN ('critical', 'high', 'moderate', 'low', 'public')),
    owner_id       UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    version        BIGINT      NOT NULL,            -- the newest version
    effective_from DATE        NOT NULL,            -- of the newest version (for lists and filters)
    effective_to   DATE,
    created_by     UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

CREATE INDEX evidence_by_tenant ON evidence (tenant_id, updated_at DESC, id);

CREATE TABLE evidence_version (
    tenant_id      UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    evidence_id    UUID        NOT NULL REFERENCES evidence (id) ON DELETE CASCADE,
    version        BIGINT      NOT NULL,
    kind           TEXT        NOT NULL CHECK (kind IN ('file', 'link')),
    blob_key       TEXT        UNIQUE,              -- random; files only
    file_name      TEXT,                            -- the user's name, made safe
    media_type     TEXT,
    size_bytes     BIGINT,
    sha256         BYTEA,                           -- of the plaintext
    link           BYTEA,                           -- sealed URL; links only
    classification TEXT        NOT NULL CHECK (classification IN ('critical', 'high', 'moderate', 'low', 'public')),
    effective_from DATE        NOT NULL,
    effective_to   DATE,
    status         TEXT        NOT NULL CHECK (status IN ('released', 'pending', 'quarantined')),
    scan_result    TEXT,                            -- the signature clamd named
    uploaded_by    UUID        REFERENCES app_user (id) ON DELETE SET NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    scanned_at     TIMESTAMPTZ,
    PRIMARY KEY (evidence_id, version),
    CHECK ((kind = 'file') = (blob_key IS NOT NULL)),
    CHECK ((kind = 'link') = (link IS NOT NULL))
);

CREATE INDEX evidence_version_pending ON evidence_version (status) WHERE status = 'pending';

CREATE TABLE evidence_tag (
    tenant_id   UUID NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    evidence_id UUID NOT NULL REFERENCES evidence (id) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    PRIMARY KEY (evidence_id, tag)
);

CREATE INDEX evidence_tag_by_tag ON evidence_tag (tenant_id, tag);

CREATE TABLE evidence_usage (
    tenant_id UUID   PRIMARY KEY REFERENCES tenant (id) ON DELETE CASCADE,
    bytes     BIGINT NOT NULL CHECK (bytes >= 0)
);

CREATE TABLE pending_blob (
    blob_key  TEXT        PRIMARY KEY,
    tenant_id UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    reason    TEXT        NOT NULL CHECK (reason IN ('upload', 'delete')),
    since     TIMESTAMPTZ NOT NULL
);

ALTER TABLE object_share DROP CONSTRAINT object_share_object_kind_check;
ALTER TABLE object_share ADD CONSTRAINT object_share_object_kind_check
    CHECK (object_kind IN ('document', 'evidence'));

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['evidence', 'evidence_version', 'evidence_tag', 'evidence_usage'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid) '
            'WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON evidence, evidence_version, evidence_tag, evidence_usage, pending_blob TO attest_app;
    END IF;
END
$$;
