-- Foundation: the tamper-evident audit trail and the wrapped data keys.
-- Classification (SEC-63) of every column is declared in docs/DATA-CLASSIFICATION.md.

CREATE TABLE audit_chain (
    chain_id    UUID   PRIMARY KEY,           -- the tenant id, or the nil UUID for the system chain
    last_seq    BIGINT NOT NULL,
    last_hash   BYTEA  NOT NULL
);

CREATE TABLE audit_event (
    id          UUID        PRIMARY KEY,
    chain_id    UUID        NOT NULL,
    seq         BIGINT      NOT NULL,
    tenant_id   UUID,                         -- NULL on the system chain
    occurred_at TIMESTAMPTZ NOT NULL,
    actor_kind  TEXT        NOT NULL,
    actor_id    UUID,
    action      TEXT        NOT NULL,
    object_kind TEXT,
    object_id   TEXT,
    outcome     TEXT        NOT NULL,
    source_ip   TEXT,
    request_id  UUID,
    details     TEXT        NOT NULL,
    prev_hash   BYTEA       NOT NULL,
    hash        BYTEA       NOT NULL,
    UNIQUE (chain_id, seq)
);

CREATE INDEX audit_event_tenant_time ON audit_event (tenant_id, occurred_at);

CREATE TABLE data_key (
    tenant_id      UUID        NOT NULL,
    classification TEXT        NOT NULL CHECK (classification IN ('critical', 'high', 'moderate', 'low', 'public')),
    kek_version    BIGINT      NOT NULL,
    wrapped        BYTEA       NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    rewrapped_at   TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, classification)
);

-- The app role (created with `attest admin db-roles`) may only read and append the audit
-- trail (SEC-73); it owns nothing and cannot run DDL (SEC-34). Installations that run
-- everything as one role (development) skip the grants.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT USAGE ON SCHEMA public TO attest_app;
        GRANT SELECT ON _sqlx_migrations TO attest_app;
        GRANT SELECT, INSERT ON audit_event TO attest_app;
        GRANT SELECT, INSERT, UPDATE ON audit_chain TO attest_app;
        GRANT SELECT, INSERT, UPDATE ON data_key TO attest_app;
    END IF;
END
$$;
