-- Issue 7, measured with 100,000 controls and 1,000,000 runs in one tenant:
-- - the runs list in due-date order for every filter, not only open runs (which use the
--   partial index activity_run_open), so a page never sorts a million runs;
-- - open runs and runs awaiting review (the reviewers' queue) in the list's own order, due
--   date then id, so a page of them is read straight from a small partial index;
-- - a control's runs from a date on (its effectiveness, its page): by control then due date,
--   so the new due-date index is never the better-looking choice for them;
-- - a control's mappings by control within its tenant, so the planner does not walk every
--   mapping of the tenant to find one control's;
-- - the dashboard's controls by effectiveness counted from the index alone (status included).

CREATE INDEX activity_run_by_due ON activity_run (tenant_id, due_on, id);
DROP INDEX activity_run_open;
CREATE INDEX activity_run_open ON activity_run (tenant_id, due_on, id) WHERE state <> 'approved';
CREATE INDEX activity_run_submitted ON activity_run (tenant_id, due_on, id) WHERE state = 'submitted';
DROP INDEX activity_run_by_control;
CREATE INDEX activity_run_by_control ON activity_run (tenant_id, control_id, due_on);
CREATE INDEX control_mapping_by_control ON control_mapping (tenant_id, control_id);
DROP INDEX control_by_effectiveness;
CREATE INDEX control_by_effectiveness ON control (tenant_id, effectiveness, status);
