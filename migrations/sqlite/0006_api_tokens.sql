-- API tokens (SEC-77): per user and tenant, named, scoped, expiring, stored as a hash only.

CREATE TABLE api_token (
    id           BLOB PRIMARY KEY,
    user_id      BLOB NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    tenant_id    BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    token_hash   BLOB NOT NULL UNIQUE,               -- SHA-256 of the token; the token is shown once
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,                      -- at most a year after creation
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;

CREATE INDEX api_token_by_user ON api_token (user_id);
