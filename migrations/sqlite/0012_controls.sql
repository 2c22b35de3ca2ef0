-- Issue 7: the organisation's own controls, each mapped to any number of requirements of any
-- framework, and the statement of applicability (per requirement: applicable or not, why).
-- Requirements without a row here are applicable.

CREATE TABLE control (
    id             BLOB    PRIMARY KEY,
    tenant_id      BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    ref            TEXT    NOT NULL,                 -- the organisation's reference, e.g. CTL-012
    title          TEXT    NOT NULL,
    description    BLOB    NOT NULL,                 -- sealed (tenant DEK of `classification`; AAD = control id)
    classification TEXT    NOT NULL CHECK (classification IN ('critical', 'high', 'moderate', 'low', 'public')),
    owner_id       BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    status         TEXT    NOT NULL CHECK (status IN ('draft', 'implemented', 'not_applicable')),
    justification  TEXT    NOT NULL,                 -- why not applicable
    created_by     BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    UNIQUE (tenant_id, ref)
) STRICT;

CREATE INDEX control_by_title ON control (tenant_id, lower(title), id);
CREATE INDEX control_by_updated ON control (tenant_id, updated_at DESC, id);
CREATE INDEX control_by_owner ON control (tenant_id, owner_id);

CREATE TABLE control_mapping (
    tenant_id      BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    control_id     BLOB NOT NULL REFERENCES control (id) ON DELETE CASCADE,
    requirement_id BLOB NOT NULL REFERENCES requirement (id) ON DELETE CASCADE,
    created_by     BLOB REFERENCES app_user (id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (control_id, requirement_id)
) STRICT;

CREATE INDEX control_mapping_by_requirement ON control_mapping (tenant_id, requirement_id);

CREATE TABLE applicability (
    tenant_id      BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    requirement_id BLOB    PRIMARY KEY REFERENCES requirement (id) ON DELETE CASCADE,
    applicable     INTEGER NOT NULL CHECK (applicable IN (0, 1)),
    reason         TEXT    NOT NULL,
    updated_by     BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    updated_at     TEXT    NOT NULL
) STRICT;
