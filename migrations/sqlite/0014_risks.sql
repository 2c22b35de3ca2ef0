-- Issue 7: the risk register. Each tenant scores risks on its own likelihood and impact scales
-- (5 x 5 unless it sets others); a risk has an inherent and a residual score, a treatment with
-- a plan, due date and owner, linked controls, and a reassessment cycle. Accepting a risk needs
-- the approval of someone other than the requester (SEC-42: enforced here as well as in the
-- domain). Every change is kept in the risk's history.

CREATE TABLE risk_scale (
    tenant_id   BLOB    PRIMARY KEY REFERENCES tenant (id) ON DELETE CASCADE,
    likelihood  TEXT    NOT NULL,                    -- JSON array of level names, lowest first
    impact      TEXT    NOT NULL,                    -- JSON array of level names, lowest first
    updated_by  BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    updated_at  TEXT    NOT NULL
) STRICT;

CREATE TABLE risk (
    id                    BLOB    PRIMARY KEY,
    tenant_id             BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    title                 TEXT    NOT NULL,
    description           BLOB    NOT NULL,          -- sealed (tenant DEK of `classification`; AAD = risk id)
    category              TEXT    NOT NULL,
    classification        TEXT    NOT NULL CHECK (classification IN ('critical', 'high', 'moderate', 'low', 'public')),
    owner_id              BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    inherent_likelihood   INTEGER NOT NULL CHECK (inherent_likelihood BETWEEN 1 AND 10),
    inherent_impact       INTEGER NOT NULL CHECK (inherent_impact BETWEEN 1 AND 10),
    residual_likelihood   INTEGER NOT NULL CHECK (residual_likelihood BETWEEN 1 AND 10),
    residual_impact       INTEGER NOT NULL CHECK (residual_impact BETWEEN 1 AND 10),
    inherent_score        INTEGER NOT NULL,          -- likelihood x impact, for sorting
    residual_score        INTEGER NOT NULL,
    treatment             TEXT    NOT NULL CHECK (treatment IN ('reduce', 'accept', 'transfer', 'avoid')),
    treatment_plan        TEXT    NOT NULL,
    treatment_due         TEXT,                      -- a date
    treatment_owner_id    BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    acceptance            TEXT    NOT NULL CHECK (acceptance IN ('none', 'requested', 'approved', 'rejected')),
    acceptance_reason     TEXT    NOT NULL,
    acceptance_by         BLOB    REFERENCES app_user (id) ON DELETE SET NULL,  -- who asked
    acceptance_at         TEXT,
    decided_by            BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    decided_at            TEXT,
    decision_remarks      TEXT    NOT NULL,
    reassess_days         INTEGER NOT NULL CHECK (reassess_days BETWEEN 7 AND 730),
    next_review_on        TEXT    NOT NULL,          -- a date
    reminded_for          TEXT,                      -- the review date last reminded of
    version               INTEGER NOT NULL,
    created_by            BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL,
    CHECK (decided_by IS NULL OR acceptance_by IS NULL OR decided_by <> acceptance_by),
    CHECK (acceptance = 'none' OR treatment = 'accept' OR acceptance = 'rejected')
) STRICT;

CREATE INDEX risk_by_title ON risk (tenant_id, lower(title), id);
CREATE INDEX risk_by_residual ON risk (tenant_id, residual_score DESC, id);
CREATE INDEX risk_by_inherent ON risk (tenant_id, inherent_score DESC, id);
CREATE INDEX risk_by_review ON risk (tenant_id, next_review_on, id);
CREATE INDEX risk_by_owner ON risk (tenant_id, owner_id);

CREATE TABLE risk_control (
    tenant_id  BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    risk_id    BLOB NOT NULL REFERENCES risk (id) ON DELETE CASCADE,
    control_id BLOB NOT NULL REFERENCES control (id) ON DELETE CASCADE,
    PRIMARY KEY (risk_id, control_id)
) STRICT;

CREATE INDEX risk_control_by_control ON risk_control (tenant_id, control_id);

CREATE TABLE risk_history (
    seq        INTEGER PRIMARY KEY,
    tenant_id  BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    risk_id    BLOB    NOT NULL REFERENCES risk (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    action     TEXT    NOT NULL,                     -- created, updated, acceptance_requested, accepted, ...
    changes    TEXT    NOT NULL,                     -- JSON {field: [before, after]}; the description only as changed
    actor_id   BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    at         TEXT    NOT NULL
) STRICT;

CREATE INDEX risk_history_by_risk ON risk_history (tenant_id, risk_id, seq);
