-- Issue 7: the hourly sweep read every active activity of every tenant to create runs ahead
-- (at 100,000 activities, over a minute, its batches taking SQLite's write lock in turn).
-- Each activity now records the first day on which it can need a new run; the sweep visits
-- only those whose day has come (or that never were visited, or were edited since).
ALTER TABLE activity ADD COLUMN schedule_after TEXT;
CREATE INDEX activity_to_schedule ON activity (tenant_id, schedule_after) WHERE active;
