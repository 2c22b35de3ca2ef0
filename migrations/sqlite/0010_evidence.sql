-- Issue 6: the evidence library. An evidence record has versions; each version is a file
-- (encrypted in object storage under a random key, the file key wrapped with the tenant DEK of
-- the version's classification) or an external link (sealed). Quota bookkeeping is one row per
-- tenant updated atomically; `pending_blob` names blobs that must not outlive a failed upload
-- or a deletion, for the sweeper. object_share learns the new object kind (SQLite cannot change
-- a CHECK constraint, so the table is rebuilt; nothing references it).

CREATE TABLE evidence (
    id             BLOB    PRIMARY KEY,
    tenant_id      BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    title          TEXT    NOT NULL,
    description    BLOB    NOT NULL,               -- sealed (tenant DEK of `classification`; AAD = evidence id)
    classification TEXT    NOT NULL CHECK (classification IN ('critical', 'high', 'moderate', 'low', 'public')),
    owner_id       BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    version        INTEGER NOT NULL,               -- the newest version
    effective_from TEXT    NOT NULL,               -- of the newest version (for lists and filters)
    effective_to   TEXT,
    created_by     BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
) STRICT;

CREATE INDEX evidence_by_tenant ON evidence (tenant_id, updated_at DESC, id);

CREATE TABLE evidence_version (
    tenant_id      BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    evidence_id    BLOB    NOT NULL REFERENCES evidence (id) ON DELETE CASCADE,
    version        INTEGER NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('file', 'link')),
    blob_key       TEXT    UNIQUE,                 -- random; files only
    file_name      TEXT,                           -- the user's name, made safe
    media_type     TEXT,
    size_bytes     INTEGER,
    sha256         BLOB,                           -- of the plaintext
    link           BLOB,                           -- sealed URL; links only
    classification TEXT    NOT NULL CHECK (classification IN ('critical', 'high', 'moderate', 'low', 'public')),
    effective_from TEXT    NOT NULL,
    effective_to   TEXT,
    status         TEXT    NOT NULL CHECK (status IN ('released', 'pending', 'quarantined')),
    scan_result    TEXT,                           -- the signature clamd named
    uploaded_by    BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    created_at     TEXT    NOT NULL,
    scanned_at     TEXT,
    PRIMARY KEY (evidence_id, version),
    CHECK ((kind = 'file') = (blob_key IS NOT NULL)),
    CHECK ((kind = 'link') = (link IS NOT NULL))
) STRICT;

CREATE INDEX evidence_version_pending ON evidence_version (status) WHERE status = 'pending';

CREATE TABLE evidence_tag (
    tenant_id   BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    evidence_id BLOB NOT NULL REFERENCES evidence (id) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    PRIMARY KEY (evidence_id, tag)
) STRICT;

CREATE INDEX evidence_tag_by_tag ON evidence_tag (tenant_id, tag);

CREATE TABLE evidence_usage (
    tenant_id BLOB    PRIMARY KEY REFERENCES tenant (id) ON DELETE CASCADE,
    bytes     INTEGER NOT NULL CHECK (bytes >= 0)
) STRICT;

CREATE TABLE pending_blob (
    blob_key  TEXT PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    reason    TEXT NOT NULL CHECK (reason IN ('upload', 'delete')),
    since     TEXT NOT NULL
) STRICT;

CREATE TABLE object_share_v10 (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    object_kind TEXT NOT NULL CHECK (object_kind IN ('document', 'evidence')),
    object_id   BLOB NOT NULL,
    user_id     BLOB NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    until       TEXT NOT NULL,
    created_by  BLOB REFERENCES app_user (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;

INSERT INTO object_share_v10 SELECT id, tenant_id, object_kind, object_id, user_id, until, created_by, created_at, revoked_at FROM object_share;
DROP TABLE object_share;
ALTER TABLE object_share_v10 RENAME TO object_share;
CREATE INDEX object_share_by_user ON object_share (tenant_id, user_id, object_kind);
CREATE INDEX object_share_by_object ON object_share (object_kind, object_id);
