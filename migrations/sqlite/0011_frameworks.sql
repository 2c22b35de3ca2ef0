-- Issue 7: framework catalogues. A framework is a tree of requirements (groups, controls,
-- enhancements, a tenant's own requirements), imported from OSCAL or CSV or one of the
-- shipped NIST baselines. Re-importing a newer version updates requirements in place by their
-- source id, withdraws the ones it no longer holds (kept, so mappings to them stay visible)
-- and records what changed.

CREATE TABLE framework (
    id                BLOB    PRIMARY KEY,
    tenant_id         BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    title             TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    source            TEXT    NOT NULL CHECK (source IN ('oscal', 'csv', 'baseline')),
    oscal_uuid        TEXT,
    provenance        TEXT    NOT NULL,              -- JSON: the source's metadata and licence
    requirement_count INTEGER NOT NULL,
    created_by        BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
) STRICT;

CREATE INDEX framework_by_tenant ON framework (tenant_id, title);

CREATE TABLE requirement (
    id           BLOB    PRIMARY KEY,
    tenant_id    BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    framework_id BLOB    NOT NULL REFERENCES framework (id) ON DELETE CASCADE,
    ref          TEXT    NOT NULL,                   -- the id in the source (ac-2.1, A.5.1)
    parent_id    BLOB    REFERENCES requirement (id) ON DELETE SET NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('group', 'control', 'enhancement', 'requirement')),
    label        TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    statement    TEXT    NOT NULL,
    guidance     TEXT    NOT NULL,
    position     INTEGER NOT NULL,                   -- document order
    depth        INTEGER NOT NULL,
    withdrawn_at TEXT,                               -- no longer in the current version
    UNIQUE (framework_id, ref)
) STRICT;

CREATE INDEX requirement_by_framework ON requirement (tenant_id, framework_id, position);

CREATE TABLE framework_version (
    tenant_id    BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    framework_id BLOB    NOT NULL REFERENCES framework (id) ON DELETE CASCADE,
    number       INTEGER NOT NULL,
    version      TEXT    NOT NULL,
    changes      TEXT    NOT NULL,                   -- JSON: {"added": […], "changed": […], "removed": […]}
    imported_by  BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    imported_at  TEXT    NOT NULL,
    PRIMARY KEY (framework_id, number)
) STRICT;
