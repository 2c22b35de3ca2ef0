-- Issue 7: recurring control activities. An activity belongs to a control and recurs on a
-- schedule; its runs (one per period, created ahead of time) are performed by its performer,
-- with a result, a comment and linked evidence, and reviewed by someone else (four eyes,
-- SEC-42: enforced here as well as in the domain). Each control keeps its effectiveness as last
-- computed from the runs, and the day on which time alone could change it.

ALTER TABLE control ADD COLUMN effectiveness TEXT NOT NULL DEFAULT 'not_tested'
    CHECK (effectiveness IN ('not_tested', 'effective', 'overdue', 'deficient'));
ALTER TABLE control ADD COLUMN effectiveness_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE control ADD COLUMN recheck_on TEXT;    -- a date; NULL: only a change can alter it

CREATE INDEX control_by_effectiveness ON control (tenant_id, effectiveness);
CREATE INDEX control_to_recheck ON control (recheck_on) WHERE recheck_on IS NOT NULL;

CREATE TABLE activity (
    id            BLOB    PRIMARY KEY,
    tenant_id     BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    control_id    BLOB    NOT NULL REFERENCES control (id) ON DELETE CASCADE,
    title         TEXT    NOT NULL,
    instructions  TEXT    NOT NULL,                  -- what to do
    frequency     TEXT    NOT NULL CHECK (frequency IN ('weekly', 'monthly', 'quarterly', 'yearly', 'custom')),
    interval_days INTEGER CHECK (interval_days BETWEEN 1 AND 366),
    starts_on     TEXT    NOT NULL,                  -- the first period's first day
    weekend_rule  TEXT    NOT NULL CHECK (weekend_rule IN ('keep', 'before', 'after')),
    performer_id  BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    reviewer_id   BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    remind_days   INTEGER NOT NULL CHECK (remind_days BETWEEN 0 AND 60),
    active        INTEGER NOT NULL CHECK (active IN (0, 1)),
    created_by    BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    CHECK ((frequency = 'custom') = (interval_days IS NOT NULL)),
    CHECK (performer_id IS NULL OR reviewer_id IS NULL OR performer_id <> reviewer_id)
) STRICT;

CREATE INDEX activity_by_control ON activity (tenant_id, control_id);
CREATE INDEX activity_by_performer ON activity (tenant_id, performer_id);
CREATE INDEX activity_by_reviewer ON activity (tenant_id, reviewer_id);

CREATE TABLE activity_run (
    id                  BLOB PRIMARY KEY,
    tenant_id           BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    activity_id         BLOB NOT NULL REFERENCES activity (id) ON DELETE CASCADE,
    control_id          BLOB NOT NULL REFERENCES control (id) ON DELETE CASCADE,
    period_start        TEXT NOT NULL,
    period_end          TEXT NOT NULL,
    due_on              TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('scheduled', 'submitted', 'returned', 'approved')),
    result              TEXT CHECK (result IN ('effective', 'deficient', 'not_performed')),
    comment             TEXT NOT NULL,
    performed_by        BLOB REFERENCES app_user (id) ON DELETE SET NULL,
    performed_at        TEXT,
    reviewed_by         BLOB REFERENCES app_user (id) ON DELETE SET NULL,
    reviewed_at         TEXT,
    remarks             TEXT NOT NULL,               -- the reviewer's, on return or approval
    reminded_before_at  TEXT,
    reminded_overdue_at TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (activity_id, period_start),
    CHECK (period_start <= period_end),
    CHECK ((state = 'scheduled') OR (result IS NOT NULL AND performed_at IS NOT NULL)),
    CHECK (reviewed_by IS NULL OR performed_by IS NULL OR reviewed_by <> performed_by)
) STRICT;

CREATE INDEX activity_run_by_control ON activity_run (tenant_id, control_id, period_start);
CREATE INDEX activity_run_open ON activity_run (tenant_id, due_on) WHERE state <> 'approved';

CREATE TABLE run_evidence (
    tenant_id      BLOB    NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    run_id         BLOB    NOT NULL REFERENCES activity_run (id) ON DELETE CASCADE,
    evidence_id    BLOB    NOT NULL REFERENCES evidence (id) ON DELETE CASCADE,
    version        INTEGER NOT NULL,                 -- the version linked
    effective_from TEXT    NOT NULL,                 -- that version's date or period
    effective_to   TEXT,
    linked_by      BLOB    REFERENCES app_user (id) ON DELETE SET NULL,
    linked_at      TEXT    NOT NULL,
    PRIMARY KEY (run_id, evidence_id)
) STRICT;

CREATE INDEX run_evidence_by_evidence ON run_evidence (tenant_id, evidence_id);

CREATE TABLE run_event (
    seq       INTEGER PRIMARY KEY,                  -- the order of the steps
    tenant_id BLOB NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    run_id    BLOB NOT NULL REFERENCES activity_run (id) ON DELETE CASCADE,
    actor_id  BLOB REFERENCES app_user (id) ON DELETE SET NULL,
    action    TEXT NOT NULL CHECK (action IN ('submitted', 'approved', 'returned', 'evidence_linked', 'evidence_unlinked')),
    note      TEXT NOT NULL,
    at        TEXT NOT NULL
) STRICT;

CREATE INDEX run_event_by_run ON run_event (tenant_id, run_id, seq);
