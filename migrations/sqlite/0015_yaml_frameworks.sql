-- Issue 7: a tenant's own framework may also come as YAML. SQLite cannot change a CHECK
-- constraint in place, and rebuilding `framework` would cascade into its requirements, so the
-- column is replaced: a new one with the wider check, filled from the old, which is dropped
-- (its check belongs to it alone), and the new one takes the old one's name. The default only
-- serves the existing rows while the column is added; every insert names the source.

ALTER TABLE framework ADD COLUMN source_format TEXT NOT NULL DEFAULT 'csv'
    CHECK (source_format IN ('oscal', 'csv', 'yaml', 'baseline'));
UPDATE framework SET source_format = source;
ALTER TABLE framework DROP COLUMN source;
ALTER TABLE framework RENAME COLUMN source_format TO source;
