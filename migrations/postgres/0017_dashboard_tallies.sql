-- Issue 7: the dashboard counts controls by effectiveness and open runs past their due date.
-- Counted from the tables, that is a walk over 100,000 controls and tens of thousands of runs
-- on every view. Instead, triggers keep tallies in the same transaction as every change, so
-- no code path can forget them:
-- - control_tally: +n/-n per (tenant, effectiveness, status) as controls are added, changed
--   or removed;
-- - open_run_tally: +n/-n per (tenant, due date) as runs that are not approved appear,
--   change state or due date, or go.
-- The tallies are delta rows (insert-only, so concurrent writers never wait on one counter
-- row), one per key and statement (statement triggers over transition tables, so a bulk
-- insert writes a handful of rows); a count is the sum of a tenant's rows, and the hourly
-- sweep and `attest dev seed` fold each tenant's rows into one per key in a single statement
-- (`db::tally::compact`), so deltas committed meanwhile are kept.
-- No foreign key to tenant: a tally row written by a cascade while its tenant is deleted
-- must not fail the deletion.

CREATE TABLE control_tally (
    tenant_id     UUID   NOT NULL,
    effectiveness TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    n             BIGINT NOT NULL
);
CREATE INDEX control_tally_by_tenant ON control_tally (tenant_id, effectiveness, status);

CREATE TABLE open_run_tally (
    tenant_id UUID   NOT NULL,
    due_on    DATE   NOT NULL,
    n         BIGINT NOT NULL
);
CREATE INDEX open_run_tally_by_due ON open_run_tally (tenant_id, due_on);

-- The counts so far, read past row-level security (FORCE applies it to the owner too) for
-- the length of this migration's transaction only.
ALTER TABLE control NO FORCE ROW LEVEL SECURITY;
ALTER TABLE activity_run NO FORCE ROW LEVEL SECURITY;
INSERT INTO control_tally (tenant_id, effectiveness, status, n)
    SELECT tenant_id, effectiveness, status, count(*) FROM control
    GROUP BY tenant_id, effectiveness, status;
INSERT INTO open_run_tally (tenant_id, due_on, n)
    SELECT tenant_id, due_on, count(*) FROM activity_run WHERE state <> 'approved'
    GROUP BY tenant_id, due_on;
ALTER TABLE control FORCE ROW LEVEL SECURITY;
ALTER TABLE activity_run FORCE ROW LEVEL SECURITY;

CREATE FUNCTION control_tally_delta() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO control_tally (tenant_id, effectiveness, status, n)
            SELECT tenant_id, effectiveness, status, count(*) FROM new_rows
            GROUP BY tenant_id, effectiveness, status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO control_tally (tenant_id, effectiveness, status, n)
            SELECT tenant_id, effectiveness, status, -count(*) FROM old_rows
            GROUP BY tenant_id, effectiveness, status;
    ELSE
        INSERT INTO control_tally (tenant_id, effectiveness, status, n)
            SELECT tenant_id, effectiveness, status, sum(d) FROM (
                SELECT tenant_id, effectiveness, status, -1 AS d FROM old_rows
                UNION ALL
                SELECT tenant_id, effectiveness, status, 1 AS d FROM new_rows
            ) AS c
            GROUP BY tenant_id, effectiveness, status HAVING sum(d) <> 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER control_tally_insert AFTER INSERT ON control
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION control_tally_delta();
CREATE TRIGGER control_tally_update AFTER UPDATE ON control
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION control_tally_delta();
CREATE TRIGGER control_tally_delete AFTER DELETE ON control
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION control_tally_delta();

CREATE FUNCTION open_run_tally_delta() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO open_run_tally (tenant_id, due_on, n)
            SELECT tenant_id, due_on, count(*) FROM new_rows WHERE state <> 'approved'
            GROUP BY tenant_id, due_on;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO open_run_tally (tenant_id, due_on, n)
            SELECT tenant_id, due_on, -count(*) FROM old_rows WHERE state <> 'approved'
            GROUP BY tenant_id, due_on;
    ELSE
        INSERT INTO open_run_tally (tenant_id, due_on, n)
            SELECT tenant_id, due_on, sum(d) FROM (
                SELECT tenant_id, due_on, -1 AS d FROM old_rows WHERE state <> 'approved'
                UNION ALL
                SELECT tenant_id, due_on, 1 AS d FROM new_rows WHERE state <> 'approved'
            ) AS c
            GROUP BY tenant_id, due_on HAVING sum(d) <> 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER open_run_tally_insert AFTER INSERT ON activity_run
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION open_run_tally_delta();
CREATE TRIGGER open_run_tally_update AFTER UPDATE ON activity_run
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION open_run_tally_delta();
CREATE TRIGGER open_run_tally_delete AFTER DELETE ON activity_run
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION open_run_tally_delta();

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['control_tally', 'open_run_tally'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid) '
            'WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_app') THEN
        GRANT SELECT, INSERT, DELETE ON control_tally, open_run_tally TO attest_app;
    END IF;
END
$$;
