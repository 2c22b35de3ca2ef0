-- Issue 7: the dashboard counts controls by effectiveness and open runs past their due date.
-- Counted from the tables, that is a walk over 100,000 controls and tens of thousands of runs
-- on every view. Instead, triggers keep tallies in the same transaction as every change, so
-- no code path can forget them:
-- - control_tally: +1/-1 per (tenant, effectiveness, status) as controls are added, changed
--   or removed;
-- - open_run_tally: +1/-1 per (tenant, due date) as runs that are not approved appear,
--   change state or due date, or go.
-- The tallies are delta rows (insert-only, so concurrent writers never wait on one counter
-- row); a count is the sum of a tenant's rows, and the hourly sweep and `attest dev seed`
-- fold each tenant's rows into one per key (`db::tally::compact`).
-- No foreign key to tenant: a tally row written by a cascade while its tenant is deleted
-- must not fail the deletion.

CREATE TABLE control_tally (
    tenant_id     BLOB    NOT NULL,
    effectiveness TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    n             INTEGER NOT NULL
);
CREATE INDEX control_tally_by_tenant ON control_tally (tenant_id, effectiveness, status);

CREATE TABLE open_run_tally (
    tenant_id BLOB    NOT NULL,
    due_on    TEXT    NOT NULL,
    n         INTEGER NOT NULL
);
CREATE INDEX open_run_tally_by_due ON open_run_tally (tenant_id, due_on);

INSERT INTO control_tally (tenant_id, effectiveness, status, n)
    SELECT tenant_id, effectiveness, status, count(*) FROM control
    GROUP BY tenant_id, effectiveness, status;
INSERT INTO open_run_tally (tenant_id, due_on, n)
    SELECT tenant_id, due_on, count(*) FROM activity_run WHERE state <> 'approved'
    GROUP BY tenant_id, due_on;

CREATE TRIGGER control_tally_insert AFTER INSERT ON control
BEGIN
    INSERT INTO control_tally (tenant_id, effectiveness, status, n)
        VALUES (NEW.tenant_id, NEW.effectiveness, NEW.status, 1);
END;

CREATE TRIGGER control_tally_update AFTER UPDATE OF effectiveness, status ON control
WHEN OLD.effectiveness <> NEW.effectiveness OR OLD.status <> NEW.status
BEGIN
    INSERT INTO control_tally (tenant_id, effectiveness, status, n)
        VALUES (OLD.tenant_id, OLD.effectiveness, OLD.status, -1);
    INSERT INTO control_tally (tenant_id, effectiveness, status, n)
        VALUES (NEW.tenant_id, NEW.effectiveness, NEW.status, 1);
END;

CREATE TRIGGER control_tally_delete AFTER DELETE ON control
BEGIN
    INSERT INTO control_tally (tenant_id, effectiveness, status, n)
        VALUES (OLD.tenant_id, OLD.effectiveness, OLD.status, -1);
END;

CREATE TRIGGER open_run_tally_insert AFTER INSERT ON activity_run
WHEN NEW.state <> 'approved'
BEGIN
    INSERT INTO open_run_tally (tenant_id, due_on, n) VALUES (NEW.tenant_id, NEW.due_on, 1);
END;

CREATE TRIGGER open_run_tally_update AFTER UPDATE OF state, due_on ON activity_run
WHEN (OLD.state = 'approved') <> (NEW.state = 'approved') OR OLD.due_on <> NEW.due_on
BEGIN
    INSERT INTO open_run_tally (tenant_id, due_on, n)
        SELECT OLD.tenant_id, OLD.due_on, -1 WHERE OLD.state <> 'approved';
    INSERT INTO open_run_tally (tenant_id, due_on, n)
        SELECT NEW.tenant_id, NEW.due_on, 1 WHERE NEW.state <> 'approved';
END;

CREATE TRIGGER open_run_tally_delete AFTER DELETE ON activity_run
WHEN OLD.state <> 'approved'
BEGIN
    INSERT INTO open_run_tally (tenant_id, due_on, n) VALUES (OLD.tenant_id, OLD.due_on, -1);
END;
