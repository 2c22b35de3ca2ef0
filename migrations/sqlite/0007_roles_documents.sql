-- Issue 5: the full role model, time-limited and scope-limited memberships, the first object
-- kind (documents, with versions) and shares with external accounts. SQLite cannot change a
-- CHECK constraint, so membership and sso_provider are rebuilt (nothing references them).

CREATE TABLE membership_v7 (
    tenant_id    BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    user_id      BLOB    NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    role         TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'contributor', 'auditor', 'external')),
    created_at   TEXT    NOT NULL,
    access_until TEXT,                                        -- the membership ends then (auditors, externals)
    shared_only  INTEGER NOT NULL DEFAULT 0 CHECK (shared_only IN (0, 1)), -- sees only what is shared with them
    CHECK (role <> 'external' OR shared_only = 1),
    PRIMARY KEY (tenant_id, user_id)
) STRICT;

INSERT INTO membership_v7 (tenant_id, user_id, role, created_at)
    SELECT tenant_id, user_id, CASE role WHEN 'member' THEN 'contributor' ELSE role END, created_at
    FROM membership;
DROP TABLE membership;
ALTER TABLE membership_v7 RENAME TO membership;
CREATE INDEX membership_user ON membership (user_id);

UPDATE one_time_token SET role = 'contributor' WHERE role = 'member';
ALTER TABLE one_time_token ADD COLUMN access_until TEXT;
ALTER TABLE one_time_token ADD COLUMN shared_only INTEGER NOT NULL DEFAULT 0;

CREATE TABLE sso_provider_v7 (
    tenant_id       BLOB    PRIMARY KEY REFERENCES tenant (id) ON DELETE CASCADE,
    display_name    TEXT    NOT NULL,
    issuer          TEXT    NOT NULL,
    client_id       TEXT    NOT NULL,
    client_secret   BLOB    NOT NULL,
    allowed_domains TEXT    NOT NULL,
    jit             INTEGER NOT NULL DEFAULT 0,
    jit_role        TEXT    NOT NULL CHECK (jit_role IN ('admin', 'manager', 'contributor', 'auditor', 'external')),
    enforce         INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
) STRICT;

INSERT INTO sso_provider_v7
    SELECT tenant_id, display_name, issuer, client_id, client_secret, allowed_domains, jit,
           CASE jit_role WHEN 'member' THEN 'contributor' ELSE jit_role END, enforce, created_at, updated_at
    FROM sso_provider;
DROP TABLE sso_provider;
ALTER TABLE sso_provider_v7 RENAME TO sso_provider;

CREATE TABLE document (
    id             BLOB    PRIMARY KEY,
    tenant_id      BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    title          TEXT    NOT NULL,
    classification TEXT    NOT NULL CHECK (classification IN ('critical', 'high', 'moderate', 'low', 'public')),
    owner_id       BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    version        INTEGER NOT NULL,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
) STRICT;

CREATE INDEX document_by_tenant ON document (tenant_id, updated_at DESC, id);

CREATE TABLE document_version (
    tenant_id      BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    document_id    BLOB    NOT NULL REFERENCES document (id) ON DELETE CASCADE,
    version        INTEGER NOT NULL,
    title          TEXT    NOT NULL,
    classification TEXT    NOT NULL,
    body           BLOB    NOT NULL,               -- sealed (tenant DEK of `classification`; AAD = document id and version)
    author_id      BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    created_at     TEXT    NOT NULL,
    PRIMARY KEY (document_id, version)
) STRICT;

CREATE TABLE object_share (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    object_kind TEXT NOT NULL CHECK (object_kind IN ('document')),
    object_id   BLOB NOT NULL,
    user_id     BLOB NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    until       TEXT NOT NULL,
    created_by  BLOB REFERENCES app_user (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;

CREATE INDEX object_share_by_user ON object_share (tenant_id, user_id, object_kind);
CREATE INDEX object_share_by_object ON object_share (object_kind, object_id);
