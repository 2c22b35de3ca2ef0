-- API tokens (SEC-77): per user and tenant, named, scoped, expiring, stored as a hash only.

CREATE TABLE api_token (
    id           UUID        PRIMARY KEY,
    user_id      UUID        NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    tenant_id    UUID        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    scope        TEXT        NOT NULL CHECK (scope IN ('read', 'write')),
    token_hash   BYTEA       NOT NULL UNIQUE,        -- SHA-256 of the token; the token is shown once
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,               -- at most a year after creation
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

CREATE INDEX api_token_by_user ON api_token (user_id);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON api_token TO attest_app;
    END IF;
END
$$;
